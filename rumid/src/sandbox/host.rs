//! The host runner (permissive mode): the runner as a host `python3` process, isolated by
//! bubblewrap, or — only when bubblewrap cannot work here, or the operator says
//! `RUMI_HOST_ISOLATION=none` — not isolated at all.
//!
//! With bubblewrap a run gets new mount, pid, ipc, uts, network and cgroup namespaces (and a
//! user namespace when rumid is not root); a root that holds read-only binds of `/usr` and
//! the few files Python needs, the pack's approved snapshot at `/pack`, the SDK, the pack's
//! data and pip directories, and only the pack's own two sockets; private `/tmp` and
//! `/dev/shm` tmpfs of bounded size; a minimal `/dev` and a new `/proc`; no view of the home,
//! `user_data`, other packs or the host's `/run`; the seccomp filters of [`super::seccomp`];
//! rlimits for address space, open files, CPU time and cores; and no capability. When rumid
//! is root the program runs as the pack's own uid on the host (bubblewrap sets up the
//! sandbox as root with only `CAP_SETUID`/`CAP_SETGID`, which `setpriv` uses to drop to the
//! pack's uid, its socket groups, no capability and `no_new_privs`), so an escape lands as
//! an unprivileged uid of its own and the helpers can check it on the pack's sockets. When
//! rumid is not root the pack's uid exists only inside a user namespace: on the host the
//! program runs as rumid's uid (documented as the weaker outcome).
//!
//! Without bubblewrap the process gets an empty environment (plus the SDK path and this
//! pack's socket paths), a timeout and the output limits, and nothing else: it runs as
//! rumid's own user and can read whatever rumid can. Every such run says so in its audit
//! line (`execution_mode: host_unisolated`).

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use command_fds::{CommandFdExt, FdMapping};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Backend, Collector, Limits, RunOutput, RunSpec, SandboxError, paths};

/// Descriptors the two seccomp programs are handed to bubblewrap on.
const SECCOMP_FDS: [i32; 2] = [10, 11];
/// Address space beyond the memory limit that Python's own mappings need.
const ADDRESS_SPACE_HEADROOM: u64 = 128 * 1024 * 1024;
/// Host directories of the interpreter: bound read-only, or recreated as the symlinks they
/// are on a merged-/usr system.
const SYSTEM_DIRS: &[&str] = &["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/// Files of `/etc` the interpreter uses; the rest of the host's `/etc` stays invisible.
const ETC_FILES: &[&str] = &["/etc/ld.so.cache", "/etc/localtime"];
const PRLIMIT: &str = "/usr/bin/prlimit";
const SETPRIV: &str = "/usr/bin/setpriv";

/// How the host runner isolates.
#[derive(Debug, Clone)]
pub enum Isolation {
    /// bubblewrap, with the compiled seccomp programs.
    Bwrap { bwrap: PathBuf, filters: [Vec<u8>; 2] },
    /// Nothing at all.
    None,
}

/// The host backend.
pub struct HostBackend {
    python: PathBuf,
    isolation: Isolation,
    /// rumid runs as root: programs drop to the pack's uid on the host.
    as_root: bool,
    /// Runs in progress: id → (pack, process group).
    running: Mutex<HashMap<u64, (String, i32)>>,
    next: AtomicU64,
}

/// Forgets a run when it ends, however it ends.
struct Registered<'a> {
    backend: &'a HostBackend,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.backend.lock().remove(&self.id);
    }
}

// === impl HostBackend ===

impl HostBackend {
    pub fn new(python: PathBuf, isolation: Isolation) -> Self {
        Self {
            python,
            isolation,
            as_root: nix::unistd::geteuid().is_root(),
            running: Mutex::default(),
            next: AtomicU64::new(1),
        }
    }

    /// The bubblewrap isolation, with its seccomp programs compiled.
    ///
    /// # Errors
    /// When the programs cannot be compiled for this architecture.
    pub fn bwrap(bwrap: PathBuf) -> Result<Isolation, String> {
        let filters = [
            super::seccomp::to_bytes(&super::seccomp::deny_list()?),
            super::seccomp::to_bytes(&super::seccomp::no_clone3()?),
        ];
        Ok(Isolation::Bwrap { bwrap, filters })
    }

    pub fn is_isolated(&self) -> bool {
        matches!(self.isolation, Isolation::Bwrap { .. })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (String, i32)>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The interpreter as a path that exists inside the sandbox (it is bound as it is on
    /// the host).
    fn python(&self) -> PathBuf {
        self.python.canonicalize().unwrap_or_else(|_| self.python.clone())
    }

    /// The command line of a bubblewrap run of `spec`.
    fn bwrap_args(&self, spec: &RunSpec, timeout: Duration) -> Vec<String> {
        let mut a: Vec<String> = [
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            "--hostname",
            "rumi",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let uid = spec.uid.to_string();
        if self.as_root {
            // No user namespace: bubblewrap sets up as root, keeps only what setpriv needs
            // to become the pack's uid, and the pack runs as that uid on the host.
            for cap in ["CAP_SETUID", "CAP_SETGID"] {
                a.extend(["--cap-add".into(), cap.into()]);
            }
        } else {
            a.extend(
                ["--unshare-user", "--disable-userns", "--uid", &uid, "--gid", &uid]
                    .iter()
                    .map(|s| (*s).to_owned()),
            );
        }
        let ro = |a: &mut Vec<String>, host: &Path, inside: &str| {
            a.extend(["--ro-bind".into(), host.display().to_string(), inside.to_owned()]);
        };
        ro(&mut a, Path::new("/usr"), "/usr");
        for dir in SYSTEM_DIRS {
            match std::fs::symlink_metadata(dir) {
                Ok(m) if m.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(dir) {
                        a.extend(["--symlink".into(), target.display().to_string(), (*dir).to_owned()]);
                    }
                }
                Ok(m) if m.is_dir() => ro(&mut a, Path::new(dir), dir),
                _ => {}
            }
        }
        for f in ETC_FILES {
            a.extend(["--ro-bind-try".into(), (*f).to_owned(), (*f).to_owned()]);
        }
        // An interpreter outside /usr (a pyenv or venv install): its prefix, read-only.
        let python = self.python();
        if !python.starts_with("/usr")
            && let Some(prefix) = python.parent().and_then(Path::parent)
        {
            ro(&mut a, prefix, &prefix.display().to_string());
        }
        a.extend(["--proc".into(), "/proc".into(), "--dev".into(), "/dev".into()]);
        for (dir, size) in [("/tmp", spec.limits.tmp_bytes), ("/dev/shm", spec.limits.tmp_bytes / 8)] {
            a.extend([
                "--size".into(),
                size.max(1024 * 1024).to_string(),
                "--perms".into(),
                "1777".into(),
                "--tmpfs".into(),
                dir.into(),
            ]);
        }
        // Parents of the mount points, readable by the pack's uid (bubblewrap creates
        // missing ones with rumid's umask, which keeps everyone else out).
        let mut parents: Vec<String> = spec
            .mounts
            .iter()
            .map(|m| m.target.as_str())
            .chain(spec.sockets.iter().map(|(_, t)| t.as_str()))
            .flat_map(|t| {
                Path::new(t)
                    .ancestors()
                    .skip(1)
                    .filter(|p| p.as_os_str().len() > 1)
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        parents.sort_by_key(|p| (p.matches('/').count(), p.clone()));
        parents.dedup();
        for dir in parents {
            a.extend(["--perms".into(), "0755".into(), "--dir".into(), dir]);
        }
        for m in &spec.mounts {
            let flag = if m.writable { "--bind" } else { "--ro-bind" };
            a.extend([flag.into(), m.host.display().to_string(), m.target.clone()]);
        }
        for (host, inside) in &spec.sockets {
            a.extend(["--ro-bind".into(), host.display().to_string(), inside.clone()]);
        }
        for fd in SECCOMP_FDS {
            a.extend(["--add-seccomp-fd".into(), fd.to_string()]);
        }
        a.extend(["--chdir".into(), spec.workdir.clone()]);
        a.extend(["--setenv".into(), "PATH".into(), "/usr/bin:/bin".into()]);
        a.extend(["--setenv".into(), "HOME".into(), "/tmp".into()]);
        for (k, v) in &spec.env {
            a.extend(["--setenv".into(), k.clone(), v.clone()]);
        }
        a.push("--".into());
        a.extend(rlimits(&spec.limits, timeout, self.as_root));
        if self.as_root {
            a.extend([SETPRIV.to_owned(), format!("--reuid={uid}"), format!("--regid={uid}")]);
            if spec.groups.is_empty() {
                a.push("--clear-groups".into());
            } else {
                let groups: Vec<String> = spec.groups.iter().map(ToString::to_string).collect();
                a.push(format!("--groups={}", groups.join(",")));
            }
            a.extend([
                "--inh-caps=-all".into(),
                "--bounding-set=-all".into(),
                "--no-new-privs".into(),
                "--".into(),
            ]);
        }
        a.extend(self.inside_argv(spec));
        a
    }

    /// The spec's program with the interpreter resolved.
    fn inside_argv(&self, spec: &RunSpec) -> Vec<String> {
        spec.argv
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if i == 0 && s == "python3" {
                    self.python().display().to_string()
                } else {
                    s.clone()
                }
            })
            .collect()
    }

    /// A command of `spec` with host paths for everything (no isolation).
    fn unisolated(&self, spec: &RunSpec) -> tokio::process::Command {
        let host = |s: &str| {
            spec.host_path(s)
                .map_or_else(|| s.to_owned(), |p| p.display().to_string())
        };
        let argv: Vec<String> = self
            .inside_argv(spec)
            .iter()
            .map(|s| if s.starts_with('/') { host(s) } else { s.clone() })
            .collect();
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .current_dir(host(&spec.workdir));
        for (k, v) in &spec.env {
            // Paths inside become host paths (PYTHONPATH lists several).
            let v = v.split(':').map(host).collect::<Vec<_>>().join(":");
            cmd.env(k, v);
        }
        cmd
    }

    async fn run_one(&self, spec: &RunSpec, stdin: Vec<u8>, timeout: Duration) -> Result<RunOutput, SandboxError> {
        if spec.network != super::Network::None {
            return Err(SandboxError::CantHandle {
                backend: "host",
                reason: "runs with network access need a container engine".into(),
            });
        }
        let mut cmd = match &self.isolation {
            Isolation::Bwrap { bwrap, filters } => {
                let mut cmd = tokio::process::Command::new(bwrap);
                cmd.args(self.bwrap_args(spec, timeout)).env_clear();
                let mut mappings = Vec::new();
                for (program, child_fd) in filters.iter().zip(SECCOMP_FDS) {
                    mappings.push(FdMapping {
                        parent_fd: program_fd(program)?,
                        child_fd,
                    });
                }
                cmd.fd_mappings(mappings)
                    .map_err(|e| SandboxError::Internal(format!("cannot pass the seccomp filters: {e}")))?;
                cmd
            }
            Isolation::None => self.unisolated(spec),
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .map_err(|e| SandboxError::Internal(format!("cannot start the host runner: {e}")))?;
        let pgid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, (spec.pack.to_string(), pgid));
        let _registered = Registered { backend: self, id };
        let (Some(mut input), Some(mut out), Some(mut err)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(SandboxError::Internal("the runner's pipes are missing".into()));
        };
        let work = async {
            // The job is one line; the runner reads it before touching the pack. A runner
            // that died early makes this fail, and its exit status tells why.
            let _ = input.write_all(&stdin).await;
            drop(input);
            let mut c = Collector::default();
            let (mut obuf, mut ebuf) = (vec![0u8; 64 * 1024], vec![0u8; 8192]);
            let (mut out_open, mut err_open) = (true, true);
            while out_open || err_open {
                tokio::select! {
                    r = out.read(&mut obuf), if out_open => match r {
                        Ok(0) | Err(_) => out_open = false,
                        Ok(n) => {
                            if let Some(v) = c.stdout(&obuf[..n])? {
                                return Ok(c.finish(Some(v), None));
                            }
                        }
                    },
                    r = err.read(&mut ebuf), if err_open => match r {
                        Ok(0) | Err(_) => err_open = false,
                        Ok(n) => c.stderr(&ebuf[..n]),
                    },
                }
            }
            let status = child.wait().await.map_err(|e| SandboxError::Internal(e.to_string()))?;
            let code = status.code().map_or_else(
                || {
                    use std::os::unix::process::ExitStatusExt;
                    -i64::from(status.signal().unwrap_or(9))
                },
                i64::from,
            );
            Ok(c.finish(None, Some(code)))
        };
        let result = match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(SandboxError::Timeout(timeout)),
        };
        // Whatever the outcome, nothing of the run outlives it: the whole process group
        // goes (bubblewrap's sandbox dies with it).
        kill_group(pgid);
        result
    }
}

/// The rlimits wrapper: address space, open files, CPU seconds, no core files; processes
/// only when the run has a uid of its own on the host (RLIMIT_NPROC counts every process of
/// the host uid, which without root is rumid's own).
fn rlimits(l: &Limits, timeout: Duration, own_uid: bool) -> Vec<String> {
    let mut v = vec![
        PRLIMIT.to_owned(),
        format!("--as={}", l.memory_bytes + ADDRESS_SPACE_HEADROOM),
        format!("--nofile={}", l.nofile),
        format!("--cpu={}", timeout.as_secs() + 2),
        "--core=0".to_owned(),
    ];
    if own_uid {
        v.push(format!("--nproc={}", l.pids));
    }
    v.push("--".to_owned());
    v
}

/// A sealed in-memory file holding a seccomp program, for bubblewrap to read.
fn program_fd(program: &[u8]) -> Result<OwnedFd, SandboxError> {
    use nix::sys::memfd::{MFdFlags, memfd_create};
    let fd = memfd_create(c"rumi-seccomp", MFdFlags::MFD_CLOEXEC)
        .map_err(|e| SandboxError::Internal(format!("memfd_create: {e}")))?;
    let mut file = std::fs::File::from(fd);
    std::io::Write::write_all(&mut file, program).map_err(|e| SandboxError::Internal(e.to_string()))?;
    std::io::Seek::rewind(&mut file).map_err(|e| SandboxError::Internal(e.to_string()))?;
    Ok(OwnedFd::from(file))
}

fn kill_group(pgid: i32) {
    if pgid > 1 {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
    }
}

impl Backend for HostBackend {
    fn name(&self) -> String {
        match self.isolation {
            Isolation::Bwrap { .. } => "bwrap".into(),
            Isolation::None => "host".into(),
        }
    }

    fn execution_mode(&self) -> &'static str {
        match self.isolation {
            Isolation::Bwrap { .. } => "host_bwrap",
            Isolation::None => "host_unisolated",
        }
    }

    fn maps_paths(&self) -> bool {
        self.is_isolated()
    }

    fn runs_as_pack_uid(&self) -> bool {
        self.is_isolated() && self.as_root
    }

    fn check(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            match &self.isolation {
                Isolation::None => Ok("host processes without isolation".into()),
                Isolation::Bwrap { bwrap, .. } => Ok(format!(
                    "bubblewrap ({}), {}",
                    bwrap.display(),
                    if self.as_root {
                        "each pack as its own uid"
                    } else {
                        "as rumid's uid (not root)"
                    }
                )),
            }
        })
    }

    fn run<'a>(
        &'a self,
        spec: &'a RunSpec,
        stdin: Vec<u8>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<RunOutput, SandboxError>> {
        Box::pin(self.run_one(spec, stdin, timeout))
    }

    fn list(&self) -> BoxFuture<'_, Vec<Value>> {
        Box::pin(async move {
            self.lock()
                .values()
                .map(|(pack, pgid)| json!({"pack_id": pack, "pid": pgid, "type": "host", "spare": false, "state": "running"}))
                .collect()
        })
    }

    fn stop_pack<'a>(&'a self, pack: &'a str) -> BoxFuture<'a, usize> {
        Box::pin(async move {
            let groups: Vec<i32> = self
                .lock()
                .values()
                .filter(|(p, _)| p == pack)
                .map(|(_, g)| *g)
                .collect();
            for g in &groups {
                kill_group(*g);
            }
            groups.len()
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, usize> {
        Box::pin(async move {
            let groups: Vec<i32> = self.lock().values().map(|(_, g)| *g).collect();
            for g in &groups {
                kill_group(*g);
            }
            groups.len()
        })
    }
}

/// Whether bubblewrap can start a sandbox here with this interpreter: runs `python3 -c pass`
/// in exactly the sandbox a block gets (namespaces, binds, seccomp, rlimits, uid).
///
/// # Errors
/// What failed, for the start-up warning.
pub async fn probe_bwrap(bwrap: &Path, python: &Path, sdk: Option<&Path>) -> Result<String, String> {
    for tool in [PRLIMIT, SETPRIV] {
        if !Path::new(tool).is_file() {
            return Err(format!("{tool} is missing (util-linux)"));
        }
    }
    if !bwrap.is_file() {
        return Err(format!(
            "{} is not installed (Debian package bubblewrap)",
            bwrap.display()
        ));
    }
    let backend = HostBackend::new(python.to_path_buf(), HostBackend::bwrap(bwrap.to_path_buf())?);
    let mut mounts = Vec::new();
    if let Some(sdk) = sdk {
        mounts.push(super::Mount::ro(sdk, paths::SDK));
    }
    let spec = RunSpec {
        pack: rumi_common::ids::PackId::parse("probe").map_err(|e| e.to_string())?,
        purpose: super::Purpose::Block,
        mounts,
        sockets: Vec::new(),
        uid: crate::pack_uids::SHARED_UID,
        groups: Vec::new(),
        network: super::Network::None,
        argv: vec!["python3".into(), "-I".into(), "-c".into(), "print('ok')".into()],
        env: Vec::new(),
        workdir: "/tmp".into(),
        limits: Limits::BLOCK,
        warm: false,
        hold: None,
    };
    let out = backend
        .run(&spec, Vec::new(), Duration::from_secs(20))
        .await
        .map_err(|e| e.to_string())?;
    if out.exit_code == Some(0) && out.stdout.starts_with(b"ok") {
        Ok(backend.check().await.unwrap_or_default())
    } else {
        Err(format!(
            "a test sandbox failed (exit {:?}): {}",
            out.exit_code,
            super::stderr_tail(&out.stderr)
        ))
    }
}
