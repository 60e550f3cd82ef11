//! `rumi-ctl setup`: read-only checks of a home and this machine, each with its fix
//! (`check`, `doctor`), creating a home (`init`) and repairing one (`recover`).
//!
//! The other ways in are submodules: [`menu`] (no command), [`run`] (check, init, doctor,
//! then rumid in the foreground) and [`web`] (the same in a browser page, `--web`).

pub mod menu;
pub mod run;
pub mod web;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// One finding.
#[derive(Clone)]
pub struct Finding {
    pub check: &'static str,
    /// `ok`, `warning` or `error`.
    pub level: &'static str,
    pub message: String,
    pub fix: String,
}

impl Finding {
    fn new(check: &'static str, level: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check,
            level,
            message: message.into(),
            fix: fix.into(),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({"check": self.check, "level": self.level, "message": self.message, "fix": self.fix})
    }
}

/// A key file must be a regular file (not a symlink) readable by its owner only.
fn key_file(check: &'static str, path: &Path, required: bool) -> Finding {
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Err(_) if required => Finding::new(
            check,
            "warning",
            format!("{shown} does not exist yet"),
            "start rumid once with this home; it creates the key (mode 0600)",
        ),
        Err(_) => Finding::new(
            check,
            "ok",
            format!("{shown} not created yet (created when first needed)"),
            "",
        ),
        Ok(m) if !m.file_type().is_file() => Finding::new(
            check,
            "error",
            format!("{shown} is not a regular file"),
            format!("replace it with the real key file (a symlink or special file is refused): {shown}"),
        ),
        Ok(m) if m.permissions().mode() & 0o077 != 0 => Finding::new(
            check,
            "error",
            format!(
                "{shown} has mode {:o}; others can read the key",
                m.permissions().mode() & 0o777
            ),
            format!("chmod 600 {shown}"),
        ),
        Ok(m) => Finding::new(check, "ok", format!("{shown} is mode 0600, owner uid {}", m.uid()), ""),
    }
}

/// Whether `program --version` runs (found on PATH and executable).
fn on_path(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn docker(socket: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{socket}"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs every check against `home`, with the engine at `socket` and the runtime image `image`.
pub fn check(home: &Path, socket: &str, image: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if home.is_dir() {
        out.push(Finding::new("home", "ok", format!("{} exists", home.display()), ""));
    } else {
        out.push(Finding::new(
            "home",
            "error",
            format!("{} is not a directory", home.display()),
            format!(
                "mkdir -p {0} (or start `rumid --home {0}`, which creates it)",
                home.display()
            ),
        ));
        return out;
    }
    let missing: Vec<&str> = ["flows", "ecosystem", "user_data"]
        .into_iter()
        .filter(|d| !home.join(d).is_dir())
        .collect();
    out.push(if missing.is_empty() {
        Finding::new("layout", "ok", "flows/, ecosystem/ and user_data/ exist", "")
    } else {
        Finding::new(
            "layout",
            "warning",
            format!("missing: {}", missing.join(", ")),
            "start rumid once with this home; it creates the layout",
        )
    });
    let settings = home.join("user_data/settings");
    out.push(key_file("hmac_key", &settings.join(".hmac_key"), true));
    out.push(key_file("secrets_key", &settings.join(".secrets_key"), false));
    out.push(if on_path("python3") {
        Finding::new(
            "python",
            "ok",
            "python3 is on PATH (permissive mode and capability handlers)",
            "",
        )
    } else {
        Finding::new(
            "python",
            "error",
            "python3 is not on PATH",
            "install python3 (apt-get install -y python3); rumi-capd runs capability handlers with it",
        )
    });
    let mut engine = EngineState::NoEngine;
    if !on_path("docker") {
        out.push(Finding::new(
            "docker",
            "warning",
            "the docker client is not installed; the engine was not checked",
            "apt-get install -y docker.io (strict mode needs the engine)",
        ));
    } else if let Some(version) = docker(socket, &["version", "--format", "{{.Server.Version}}"]) {
        out.push(Finding::new(
            "docker",
            "ok",
            format!("engine {version} at {socket}"),
            "",
        ));
        out.push(
            if docker(socket, &["image", "inspect", "--format", "{{.Id}}", image]).is_some() {
                Finding::new("runtime_image", "ok", format!("{image} is present"), "")
            } else {
                Finding::new(
                    "runtime_image",
                    "error",
                    format!("{image} is not in the engine"),
                    "rumi-ctl image build (or set RUMI_RUNTIME_IMAGE to an image the engine has)",
                )
            },
        );
        out.extend(engine_runtimes(socket));
        // `name=rootless` among the security options: a rootless engine (Podman's or
        // Docker's). Options that cannot be read leave it unknown, as no engine.
        let security = docker(socket, &["info", "--format", "{{json .SecurityOptions}}"])
            .and_then(|s| serde_json::from_str::<Vec<String>>(&s).ok());
        engine = match security {
            Some(options) if options.iter().any(|o| o == "name=rootless") => EngineState::Rootless,
            Some(_) => EngineState::Rootful,
            None => EngineState::NoEngine,
        };
    } else {
        out.push(Finding::new(
            "docker",
            "warning",
            format!("no Docker engine answers at {socket}; strict mode will refuse to run pack code"),
            "systemctl start docker (or set RUMI_DOCKER_SOCKET); use --permissive only for development",
        ));
    }
    out.push(host_isolation());
    out.push(rootless(home, engine));
    out
}

/// What answers at the engine socket, for the rootless check.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EngineState {
    /// No engine answers (or no client to ask it).
    NoEngine,
    /// An engine runs as root.
    Rootful,
    /// A rootless engine answers (Podman's or Docker's, `name=rootless` in its security options).
    Rootless,
}

/// What a rootless engine needs of this host for a user, read from files (so the rules can be
/// checked without changing the host).
struct RootlessHost<'a> {
    user: &'a str,
    uid: u32,
    /// `/etc/subuid` and `/etc/subgid` (empty when missing).
    subuid: &'a str,
    subgid: &'a str,
    /// Whether `newuidmap` and `newgidmap` exist (Debian's `uidmap`).
    newuidmap: bool,
    newgidmap: bool,
    /// `/proc/sys/user/max_user_namespaces`.
    max_user_namespaces: Option<u64>,
    /// `/proc/sys/kernel/unprivileged_userns_clone` (Debian kernels; absent elsewhere).
    unprivileged_userns_clone: Option<u64>,
}

/// Subordinate ids a rootless engine needs for `RUMI_PACK_UID_RANGE=shared`: container uid
/// 65534 maps to the 65534th subordinate id (container uid 0 is the user itself).
const ROOTLESS_SUBIDS: u64 = 65534;

/// The ranges of a `/etc/subuid`-style file: owner, first id, one past the last.
fn subordinate_ranges(file: &str) -> impl Iterator<Item = (&str, u64, u64)> {
    file.lines().filter_map(|l| {
        let mut f = l.trim().split(':');
        let (owner, start, count) = (f.next()?, f.next()?, f.next()?);
        let (start, count) = (start.trim().parse::<u32>().ok()?, count.trim().parse::<u32>().ok()?);
        Some((owner, u64::from(start), u64::from(start) + u64::from(count)))
    })
}

/// Subordinate ids granted to `user` (by name or uid) in a `/etc/subuid`-style file, each id
/// counted once however many lines name it.
fn subordinate_ids(file: &str, user: &str, uid: u32) -> u64 {
    let mut ranges: Vec<(u64, u64)> = subordinate_ranges(file)
        .filter(|(owner, ..)| *owner == user || owner.parse::<u32>().ok() == Some(uid))
        .map(|(_, start, end)| (start, end))
        .collect();
    ranges.sort_unstable();
    let (mut total, mut covered) = (0u64, 0u64);
    for (start, end) in ranges {
        let start = start.max(covered);
        if end > start {
            total += end - start;
            covered = end;
        }
    }
    total
}

/// A free range of 65536 ids for `usermod`: above every range the file grants (and at least
/// 100000), so no two users share subordinate ids.
fn free_range(file: &str) -> String {
    let start = subordinate_ranges(file)
        .map(|(_, _, end)| end)
        .max()
        .unwrap_or(0)
        .max(100_000);
    format!("{start}-{}", start + 65_535)
}

impl RootlessHost<'_> {
    /// Why a rootless engine cannot run as the user here, each with its fix; empty when it can.
    fn gaps(&self) -> Vec<(String, String)> {
        let mut gaps = Vec::new();
        if !(self.newuidmap && self.newgidmap) {
            gaps.push((
                "newuidmap/newgidmap are missing".to_owned(),
                "apt-get install -y uidmap".to_owned(),
            ));
        }
        for (file, text, flag) in [
            ("/etc/subuid", self.subuid, "--add-subuids"),
            ("/etc/subgid", self.subgid, "--add-subgids"),
        ] {
            let have = subordinate_ids(text, self.user, self.uid);
            if have < ROOTLESS_SUBIDS {
                gaps.push((
                    format!(
                        "{file} grants {} {have} subordinate ids (at least {ROOTLESS_SUBIDS} are needed)",
                        self.user
                    ),
                    format!("usermod {flag} {} {}", free_range(text), self.user),
                ));
            }
        }
        if self.max_user_namespaces == Some(0) {
            gaps.push((
                "user namespaces are disabled (user.max_user_namespaces = 0)".to_owned(),
                "sysctl -w user.max_user_namespaces=15000 (and set it in /etc/sysctl.d)".to_owned(),
            ));
        }
        if self.unprivileged_userns_clone == Some(0) {
            gaps.push((
                "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)".to_owned(),
                "sysctl -w kernel.unprivileged_userns_clone=1 (and set it in /etc/sysctl.d)".to_owned(),
            ));
        }
        gaps
    }
}

/// Whether a rootless engine (rootless Podman's Docker API, or rootless Docker) can run as the
/// user rumid runs as, the owner of the home, and when it cannot, why. A gap is a warning only
/// when no engine answers (a rootless engine that cannot start is one reason why); beside an
/// engine that answers it is said for information.
fn rootless(home: &Path, engine: EngineState) -> Finding {
    let Ok(meta) = std::fs::metadata(home) else {
        return Finding::new("rootless", "ok", "not checked: the home is missing", "");
    };
    let uid = meta.uid();
    if engine == EngineState::Rootless {
        return Finding::new("rootless", "ok", "a rootless engine answers at the socket", "");
    }
    if uid == 0 {
        return Finding::new(
            "rootless",
            "ok",
            "not checked: the home belongs to root, so rumid runs as root (a rootless engine runs as rumid's own user)",
            "",
        );
    }
    // A gap is a warning only while no engine answers.
    let gap = |message: String, fix: String| {
        if engine == EngineState::NoEngine {
            Finding::new("rootless", "warning", message, fix)
        } else {
            Finding::new(
                "rootless",
                "ok",
                format!("{message} (a rootful engine answers, so this is not in use)"),
                fix,
            )
        }
    };
    let Some(user) = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
    else {
        return gap(
            format!(
                "the home's owner, uid {uid}, has no passwd entry: a rootless engine needs a user with subordinate ids"
            ),
            "run rumid as a user with a login name (useradd --system rumi) and give it the home".to_owned(),
        );
    };
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let number = |p: &str| read(p).trim().parse::<u64>().ok();
    let (subuid, subgid) = (read("/etc/subuid"), read("/etc/subgid"));
    let host = RootlessHost {
        user: &user,
        uid,
        subuid: &subuid,
        subgid: &subgid,
        newuidmap: on_path("newuidmap"),
        newgidmap: on_path("newgidmap"),
        max_user_namespaces: number("/proc/sys/user/max_user_namespaces"),
        unprivileged_userns_clone: number("/proc/sys/kernel/unprivileged_userns_clone"),
    };
    let gaps = host.gaps();
    if gaps.is_empty() {
        return Finding::new(
            "rootless",
            "ok",
            format!(
                "no gap found for a rootless engine as {user} (the home's owner): newuidmap and newgidmap present, subordinate uids and gids granted, user namespaces enabled"
            ),
            "",
        );
    }
    let why: Vec<&str> = gaps.iter().map(|(w, _)| w.as_str()).collect();
    let fix: Vec<&str> = gaps.iter().map(|(_, f)| f.as_str()).collect();
    gap(
        format!(
            "rootless Podman (or Docker) cannot run as {user} here: {}",
            why.join("; ")
        ),
        fix.join("; "),
    )
}

/// What the engine is (Docker or Podman) and how gVisor's runsc is registered with it.
fn engine_runtimes(socket: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let components = docker(
        socket,
        &["version", "--format", "{{range .Server.Components}}{{.Name}};{{end}}"],
    )
    .unwrap_or_default();
    if components.to_ascii_lowercase().contains("podman") {
        let runtime = docker(socket, &["info", "--format", "{{.DefaultRuntime}}"]).unwrap_or_default();
        out.push(if runtime == "crun" {
            Finding::new(
                "podman",
                "warning",
                "Podman's default runtime is crun, which fails on hybrid cgroup layouts",
                "set runtime = \"runc\" under [engine] in /etc/containers/containers.conf (or ~/.config/containers/containers.conf when rootless)",
            )
        } else {
            Finding::new(
                "podman",
                "ok",
                format!("Podman's Docker API at {socket}, runtime {runtime}; Rumi sends its own seccomp profile and nofile/nproc limits"),
                "",
            )
        });
        // Podman lists runtimes of its own; Rumi's gVisor set-up is Docker's.
        return out;
    }
    let runtimes = docker(socket, &["info", "--format", "{{json .Runtimes}}"]).unwrap_or_default();
    let parsed: serde_json::Value = serde_json::from_str(&runtimes).unwrap_or_default();
    match parsed.get("runsc") {
        None => out.push(Finding::new(
            "gvisor",
            "ok",
            "runsc is not registered with the engine (optional: RUMI_DOCKER_RUNTIME=runsc needs it)",
            "",
        )),
        Some(rt) => {
            let args: Vec<String> = rt
                .get("runtimeArgs")
                .or_else(|| rt.get("RuntimeArgs"))
                .and_then(serde_json::Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            let missing: Vec<&str> = ["--host-uds=open", "--network=none", "--oci-seccomp"]
                .into_iter()
                .filter(|want| !args.iter().any(|a| a == want))
                .collect();
            out.push(if missing.is_empty() {
                Finding::new(
                    "gvisor",
                    "ok",
                    format!("runsc is registered ({}); RUMI_DOCKER_RUNTIME=runsc can use it", args.join(" ")),
                    "",
                )
            } else {
                Finding::new(
                    "gvisor",
                    "warning",
                    format!(
                        "runsc is registered without {}: blocks cannot reach their sockets, or run with a network or without the engine's seccomp profile",
                        missing.join(", ")
                    ),
                    "add them to runtimeArgs of runsc in /etc/docker/daemon.json and reload dockerd (scripts/setup-backends does it)",
                )
            });
        }
    }
    out
}

/// Whether bubblewrap can isolate permissive (host) runs here.
fn host_isolation() -> Finding {
    let works = Command::new("bwrap")
        .args([
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",
            "--ro-bind",
            "/usr",
            "/usr",
        ])
        .args([
            "--symlink",
            "usr/bin",
            "/bin",
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
        ])
        .args(["--proc", "/proc", "--dev", "/dev", "/usr/bin/true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if works {
        Finding::new(
            "host_isolation",
            "ok",
            "bubblewrap works: permissive mode runs pack code in bubblewrap sandboxes",
            "",
        )
    } else {
        Finding::new(
            "host_isolation",
            "warning",
            "bubblewrap is missing or cannot create namespaces here: permissive mode would run pack code WITHOUT ANY ISOLATION",
            "apt-get install -y bubblewrap (and allow unprivileged user namespaces), or use strict mode",
        )
    }
}

/// What `setup init` did.
pub struct Init {
    pub created_dirs: Vec<String>,
    pub key_created: bool,
    pub example: Option<std::path::PathBuf>,
}

/// Creates a home: the layout, the instance key (mode 0600) and, unless `example` is false
/// or it exists, the example pack `hello`. Never overwrites anything.
///
/// # Errors
/// A directory or the key cannot be written.
pub fn init(home: &Path, example: bool) -> anyhow::Result<Init> {
    let created_dirs: Vec<String> = rumi_common::fs::HOME_LAYOUT
        .iter()
        .filter(|(rel, _)| !home.join(rel).is_dir())
        .map(|(rel, _)| (*rel).to_owned())
        .collect();
    rumi_common::fs::prepare_home(home)
        .map_err(|(path, e)| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    let key_path = home.join("user_data/settings/.hmac_key");
    let key_created = !key_path.exists();
    if key_created {
        let key = rumi_common::token::InstanceKey::generate();
        rumi_common::fs::write_atomic(
            &key_path,
            key.to_file_contents().as_bytes(),
            rumi_common::token::KEY_FILE_MODE,
        )
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", key_path.display()))?;
    }
    let example = if example && !home.join("ecosystem/hello").exists() {
        Some(super::scaffold::scaffold(
            "hello",
            crate::cli::Template::Flow,
            &home.join("ecosystem"),
        )?)
    } else {
        None
    };
    Ok(Init {
        created_dirs,
        key_created,
        example,
    })
}

/// `setup doctor`: every `check` finding, then what the running instance and the home's
/// state say, each problem with its fix.
pub fn doctor(home: &Path, socket: &str, image: &str, instance: Option<&Value>) -> Vec<Finding> {
    let mut out = check(home, socket, image);
    if !home.is_dir() {
        return out;
    }
    match instance {
        None => out.push(Finding::new(
            "instance",
            "warning",
            "no rumid answers for this home (user_data/run/api.addr missing or stale)",
            format!("start it: rumid --home {}", home.display()),
        )),
        Some(h) => {
            let status = h["status"].as_str().unwrap_or("UNKNOWN");
            out.push(Finding::new(
                "instance",
                if status == "UP" { "ok" } else { "error" },
                format!("rumid {} is {status}", h["version"].as_str().unwrap_or("?")),
                if status == "UP" {
                    String::new()
                } else {
                    "see `rumi-ctl health` for the probes that are down, and rumid's log".into()
                },
            ));
            for (name, helper) in h["helpers"].as_object().into_iter().flatten() {
                let state = helper["state"].as_str().unwrap_or("unknown");
                out.push(if state == "up" {
                    Finding::new("helper", "ok", format!("{name} is up (pid {})", helper["pid"]), "")
                } else {
                    Finding::new(
                        "helper",
                        "error",
                        format!(
                            "{name} is {state}: {}",
                            helper["last_error"].as_str().unwrap_or("no error recorded")
                        ),
                        "rumid restarts helpers by itself; if this persists check the helper binaries next to rumid and the socket directories (RUMI_*_SOCK_DIR)",
                    )
                });
                out.extend(audit_stream_finding(name, &helper["audit"]));
            }
            let sandbox = &h["sandbox"];
            if let Some(mode) = sandbox["execution_mode"].as_str() {
                out.push(if sandbox["isolated"] == false {
                    Finding::new(
                        "sandbox",
                        "error",
                        "the running rumid runs pack code on the host WITHOUT ANY ISOLATION",
                        "install bubblewrap and restart rumid (RUMI_HOST_ISOLATION=auto), or run in strict mode with a container engine",
                    )
                } else {
                    Finding::new(
                        "sandbox",
                        "ok",
                        format!(
                            "pack code runs in {} ({mode}){}",
                            sandbox["backend"].as_str().unwrap_or("?"),
                            if sandbox["pack_uid_on_host"] == true {
                                ", each pack as its own uid"
                            } else {
                                ", as rumid's uid on the host (rumid is not root)"
                            }
                        ),
                        "",
                    )
                });
            }
            // Whether each approved pack's sandbox can open its helper sockets (rumid's
            // `sockets` probe judges owner, group, mode and ACL against the sandbox's uid).
            let sockets = &h["probes"]["sockets"];
            if let Some(status) = sockets["status"].as_str() {
                out.push(if status == "UP" {
                    Finding::new(
                        "sockets",
                        "ok",
                        "every approved pack's sandbox can open its helper sockets",
                        "",
                    )
                } else {
                    Finding::new(
                        "sockets",
                        "error",
                        sockets["message"].as_str().unwrap_or("a pack's sandbox cannot open its helper sockets"),
                        "blocks of that pack get permission_denied from the SDK: run the helpers as root, or keep the socket directories on a file system with POSIX ACLs (tmpfs, ext4, xfs) and the socket modes 0660, or set RUMI_EGRESS_SOCKET_GID and RUMI_CAPABILITY_SOCKET_GID to the sockets' group (needed with gVisor and with RUMI_PACK_UID_RANGE=shared when the helpers are not root)",
                    )
                });
            }
            let pending = h["packs"]["pending"].as_u64().unwrap_or(0);
            if pending > 0 {
                out.push(Finding::new(
                    "packs",
                    "warning",
                    format!("{pending} pack(s) wait for a decision (pending or modified)"),
                    "rumi-ctl packs pending; review each, then approve or reject it",
                ));
            }
        }
    }
    match std::fs::read(home.join("user_data/pending/summary.json")) {
        Err(_) => out.push(Finding::new(
            "pending_export",
            "warning",
            "user_data/pending/summary.json does not exist",
            "start rumid (it writes the export), or `rumi-ctl setup recover` with rumid running",
        )),
        Ok(bytes) if serde_json::from_slice::<Value>(&bytes).is_err() => out.push(Finding::new(
            "pending_export",
            "error",
            "user_data/pending/summary.json is not valid JSON",
            "rumi-ctl setup recover (rebuilds it)",
        )),
        Ok(_) => out.push(Finding::new("pending_export", "ok", "the pending export is valid", "")),
    }
    let mut loose = Vec::new();
    for dir in ["user_data/settings", "user_data/audit"] {
        if let Ok(m) = std::fs::metadata(home.join(dir))
            && m.permissions().mode() & 0o077 != 0
        {
            loose.push(format!("{dir} ({:o})", m.permissions().mode() & 0o777));
        }
    }
    out.push(if loose.is_empty() {
        Finding::new("modes", "ok", "settings and audit directories are owner-only", "")
    } else {
        Finding::new(
            "modes",
            "error",
            format!("readable by others: {}", loose.join(", ")),
            "rumi-ctl setup recover (sets 0700)",
        )
    });
    let leftovers = temp_leftovers(home);
    if !leftovers.is_empty() {
        out.push(Finding::new(
            "leftovers",
            "warning",
            format!(
                "{} temporary file(s) from interrupted writes or imports",
                leftovers.len()
            ),
            "rumi-ctl setup recover (removes them; they never held acknowledged state)",
        ));
    }
    out
}

/// What a helper's audit stream status says: nothing when it was never reported (an older
/// rumid), an error while it is broken, a warning when it broke or lost events since rumid
/// started, ok otherwise.
fn audit_stream_finding(name: &str, audit: &Value) -> Option<Finding> {
    let state = audit["state"].as_str()?;
    let breaks = audit["breaks"].as_u64().unwrap_or(0);
    let dropped = audit["dropped"].as_u64().unwrap_or(0);
    let last = audit["last_error"].as_str().unwrap_or("no error recorded");
    let fix = "rumid reconnects the stream by itself; lines written while it was broken are lost. Look for system/helper_audit_stream_broken and system/helper_audit_dropped in the audit log and rumid's log around `last_break_at`";
    Some(if state == "broken" {
        Finding::new(
            "helper_audit",
            "error",
            format!("{name}'s audit stream is broken: {last}"),
            fix,
        )
    } else if breaks > 0 || dropped > 0 {
        Finding::new(
            "helper_audit",
            "warning",
            format!(
                "{name}'s audit stream broke {breaks} time(s) (last: {last}, at {}) and the helper dropped {dropped} event(s)",
                audit["last_break_at"].as_str().unwrap_or("never")
            ),
            fix,
        )
    } else {
        Finding::new("helper_audit", "ok", format!("{name}'s audit stream is {state}"), "")
    })
}

/// Temporary files of interrupted atomic writes and imports.
fn temp_leftovers(home: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for dir in [
        "user_data/settings",
        "user_data/pending",
        "user_data/run",
        "user_data/pack_staging",
        "user_data/pip/requests",
    ] {
        for e in std::fs::read_dir(home.join(dir)).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let temp = name.starts_with(".tmp") || (name.starts_with('.') && name.ends_with(".tmp"));
            if temp && name != ".hmac_key" && name != ".secrets_key" {
                out.push(e.path());
            }
        }
    }
    out
}

/// One repair `setup recover` made (or could not make).
pub struct Repair {
    pub what: String,
    pub ok: bool,
}

/// Repairs what can be repaired without losing data: owner-only modes on the settings and
/// audit directories and key files, leftovers of interrupted writes, a missing or broken
/// pending export (rebuilt by the running instance), and, when `restore_pack` is given, the
/// pack's latest backup moved back into `ecosystem/` (the current copy, if any, is backed up
/// first).
pub fn recover(home: &Path, restore_pack: Option<&str>, scan: &dyn Fn() -> anyhow::Result<()>) -> Vec<Repair> {
    let mut out = Vec::new();
    let mut note = |what: String, ok: bool| out.push(Repair { what, ok });
    for (dir, mode) in [("user_data/settings", 0o700), ("user_data/audit", 0o700)] {
        let p = home.join(dir);
        if let Ok(m) = std::fs::metadata(&p)
            && m.permissions().mode() & 0o777 != mode
        {
            let r = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode));
            note(format!("chmod {mode:o} {dir}"), r.is_ok());
        }
    }
    for key in [".hmac_key", ".secrets_key"] {
        let p = home.join("user_data/settings").join(key);
        if let Ok(m) = std::fs::symlink_metadata(&p)
            && m.file_type().is_file()
            && m.permissions().mode() & 0o777 != 0o600
        {
            let r = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
            note(format!("chmod 600 user_data/settings/{key}"), r.is_ok());
        }
    }
    for p in temp_leftovers(home) {
        let r = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        let shown = p.strip_prefix(home).unwrap_or(&p).display().to_string();
        note(format!("removed leftover {shown}"), r.is_ok());
    }
    let export = home.join("user_data/pending/summary.json");
    let broken = std::fs::read(&export)
        .ok()
        .is_none_or(|b| serde_json::from_slice::<Value>(&b).is_err());
    if broken {
        match scan() {
            Ok(()) => note(
                "pending export rebuilt by the running instance".into(),
                export_valid(&export),
            ),
            Err(e) => {
                let _ = std::fs::remove_file(&export);
                note(
                    format!("pending export removed; rumid writes it again at its next start ({e})"),
                    true,
                );
            }
        }
    }
    if let Some(pack) = restore_pack {
        let (what, ok) = restore(home, pack);
        note(what, ok);
    }
    out
}

fn export_valid(path: &Path) -> bool {
    std::fs::read(path)
        .ok()
        .is_some_and(|b| serde_json::from_slice::<Value>(&b).is_ok())
}

/// Moves the latest backup of `pack` back into `ecosystem/<pack>`.
fn restore(home: &Path, pack: &str) -> (String, bool) {
    if rumi_common::ids::PackId::parse(pack).is_err() {
        return (format!("{pack:?} is not a pack id"), false);
    }
    let backups = home.join("user_data/backups/packs");
    // Backups of this pack: `<pack>-<UTC stamp>` (uninstall), `…-apply`, `…-before-restore`.
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir(&backups)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix(pack)
                .is_some_and(|rest| rest.starts_with('-') && rest[1..].starts_with(|c: char| c.is_ascii_digit()))
                && e.file_type().is_ok_and(|t| t.is_dir())
        })
        .map(|e| e.path())
        .collect();
    // Names carry a UTC timestamp: the last in order is the newest.
    found.sort();
    let Some(latest) = found.pop() else {
        return (format!("no backup of {pack} in user_data/backups/packs/"), false);
    };
    let target = home.join("ecosystem").join(pack);
    let stamp = chrono_stamp();
    if target.exists() {
        let aside = backups.join(format!("{pack}-{stamp}-before-restore"));
        if let Err(e) = std::fs::rename(&target, &aside) {
            return (format!("cannot move the current {pack} aside: {e}"), false);
        }
    }
    match std::fs::rename(&latest, &target) {
        Ok(()) => (
            format!(
                "restored {pack} from {}; review it and approve it again",
                latest.strip_prefix(home).unwrap_or(&latest).display()
            ),
            true,
        ),
        Err(e) => (format!("cannot restore {pack}: {e}"), false),
    }
}

/// The timestamp format of pack backups (`<pack>-<stamp>…`), so names sort by time.
fn chrono_stamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host<'a>(subuid: &'a str, subgid: &'a str) -> RootlessHost<'a> {
        RootlessHost {
            user: "rumi",
            uid: 990,
            subuid,
            subgid,
            newuidmap: true,
            newgidmap: true,
            max_user_namespaces: Some(15000),
            unprivileged_userns_clone: None,
        }
    }

    #[test]
    fn subordinate_ids_count_the_users_lines_by_name_or_uid() {
        let file = "other:100000:65536\nrumi:165536:30000\n990:200000:40000\n# comment\nbroken\nrumi:x:notanumber\n";
        assert_eq!(subordinate_ids(file, "rumi", 990), 70000);
        assert_eq!(subordinate_ids(file, "nobody", 65534), 0);
        assert_eq!(subordinate_ids("", "rumi", 990), 0);
        // The same range by name and by uid, and an overlapping one, count once.
        let twice = "rumi:100000:65536\n990:100000:65536\nrumi:160000:10000\n";
        assert_eq!(subordinate_ids(twice, "rumi", 990), 70000);
        // Counts beyond u32 are not lines a kernel takes: ignored, never an overflow.
        assert_eq!(subordinate_ids("rumi:1:99999999999\n", "rumi", 990), 0);
    }

    #[test]
    fn the_suggested_range_overlaps_no_other_users() {
        assert_eq!(free_range(""), "100000-165535");
        assert_eq!(free_range("alice:100000:65536\n"), "165536-231071");
        assert_eq!(free_range("alice:100000:65536\nbob:300000:65536\n"), "365536-431071");
        assert_eq!(free_range("small:1000:10\n"), "100000-165535");
    }

    #[test]
    fn a_host_with_everything_has_no_gap_and_each_missing_piece_is_named_with_its_fix() {
        let full = "rumi:100000:65536\n";
        assert!(host(full, full).gaps().is_empty());

        let gaps = host("rumi:100000:1000\n", full).gaps();
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert!(gaps[0].0.contains("/etc/subuid grants rumi 1000"), "{gaps:?}");
        assert_eq!(gaps[0].1, "usermod --add-subuids 101000-166535 rumi");

        let mut h = host(full, "");
        h.newgidmap = false;
        h.max_user_namespaces = Some(0);
        h.unprivileged_userns_clone = Some(0);
        let why: Vec<String> = h.gaps().into_iter().map(|g| g.0).collect();
        assert_eq!(why.len(), 4, "{why:?}");
        assert!(why[0].contains("newuidmap"));
        assert!(why[1].contains("/etc/subgid"));
        assert!(why[2].contains("max_user_namespaces"));
        assert!(why[3].contains("unprivileged_userns_clone"));
    }
}
