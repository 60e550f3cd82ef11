//! Harness for Rumi's end-to-end tests and benchmarks.
//!
//! [`TestHome`] is a short temp directory (Unix socket paths must fit in 108 bytes) with
//! fixture packs copied in; fixtures are never edited in place. [`Rumid`] starts the real
//! `rumid` binary on it with a port picked by the kernel, waits until it serves, and kills
//! it on drop, printing its log if the test failed. Binaries come from `RUMI_BIN_DIR` or the
//! target directory next to the test executable; the README's test command builds them.
#![forbid(unsafe_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The `disk` probe's threshold in tests: 100 %, so that a nearly full disk on the test host
/// does not turn every instance DEGRADED. `config::the_disk_probe_degrades_at_the_configured_usage`
/// checks the threshold itself.
pub const HOST_DISK_PERCENT: &str = "100";

/// How long a daemon may take to start (tunable with `RUMI_TEST_PATIENCE_SECS`).
pub fn patience() -> Duration {
    #[allow(clippy::disallowed_methods)] // the harness's one knob, read like a config module
    let secs = std::env::var("RUMI_TEST_PATIENCE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// Path of one of the project's binaries.
pub fn bin(name: &str) -> PathBuf {
    #[allow(clippy::disallowed_methods)]
    let dir = match std::env::var_os("RUMI_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let exe = std::env::current_exe().expect("test executable path");
            // target/<profile>/deps/e2e-… → target/<profile>
            let mut dir = exe.parent().expect("deps dir").to_path_buf();
            if dir.ends_with("deps") {
                dir.pop();
            }
            dir
        }
    };
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`) or set RUMI_BIN_DIR",
        path.display()
    );
    path
}

/// The Python pack SDK of this checkout (`packaging/sdk/python`), handed to every rumid the
/// harness starts as `RUMI_SDK_DIR`: rumid's own fallback looks next to its binary
/// (`<target>/<profile>/../../packaging`), which is not this checkout when `CARGO_TARGET_DIR`
/// points elsewhere.
pub fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging/sdk/python")
        .canonicalize()
        .expect("the checkout's packaging/sdk/python")
}

/// Polls `f` until it returns `Some`, or fails after `deadline`.
pub fn eventually<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if start.elapsed() > deadline {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else {
            fs::copy(entry.path(), dest)?;
        }
    }
    Ok(())
}

/// A temporary Rumi home.
pub struct TestHome {
    dir: tempfile::TempDir,
}

impl TestHome {
    /// An empty home under `/tmp`.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rumi-")
            .tempdir_in("/tmp")
            .expect("temp home");
        Self { dir }
    }

    /// A home with the named fixture packs from `tests/fixtures/packs/` in `ecosystem/`.
    pub fn with_packs(ids: &[&str]) -> Self {
        let home = Self::new();
        for id in ids {
            home.add_fixture(id, &format!("ecosystem/{id}"));
        }
        home
    }

    /// A home holding a copy of the repository's example home (`examples/home`: the pack
    /// `hello` with its block and its flow `hello`). Only what the repository ships is
    /// copied, never a `user_data/` a local run left there.
    pub fn example() -> Self {
        let home = Self::new();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/home");
        for dir in ["ecosystem", "flows"] {
            copy_tree(&src.join(dir), &home.path().join(dir)).expect("copy the example home");
        }
        home
    }

    /// Copies fixture pack `id` to `rel` under the home.
    pub fn add_fixture(&self, id: &str, rel: &str) {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/packs").join(id);
        copy_tree(&src, &self.path().join(rel)).expect("copy fixture");
    }

    /// Writes a file under the home (parents created).
    pub fn write(&self, rel: &str, contents: &str) {
        let path = self.path().join(rel);
        fs::create_dir_all(path.parent().expect("parent")).unwrap();
        fs::write(path, contents).unwrap();
    }

    /// Writes a minimal valid pack `id`.
    pub fn add_pack(&self, id: &str) {
        let dir = self.path().join("ecosystem").join(id);
        fs::create_dir_all(dir.join("backend/blocks")).unwrap();
        fs::write(
            dir.join("ecosystem.json"),
            format!(r#"{{"pack_id":"{id}","pack_identity":"tests/{id}","version":"1.0.0"}}"#),
        )
        .unwrap();
        fs::write(
            dir.join("backend/blocks/main.py"),
            format!("def run(i, c):\n    return {{'pack': '{id}'}}\n"),
        )
        .unwrap();
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Gives the whole home to `uid` (for a rumid started with [`RumidBuilder::as_user`]).
    pub fn chown(&self, uid: u32) {
        fn walk(p: &Path, uid: u32) {
            std::os::unix::fs::lchown(p, Some(uid), Some(uid)).expect("chown");
            if p.is_dir() && !p.is_symlink() {
                for e in fs::read_dir(p).expect("read_dir").flatten() {
                    walk(&e.path(), uid);
                }
            }
        }
        walk(self.path(), uid);
    }

    /// The API token derived from the home's key file.
    pub fn token(&self) -> String {
        let key =
            rumi_common::token::InstanceKey::read(&self.path().join("user_data/settings/.hmac_key")).expect("key file");
        key.api_token().expose().to_owned()
    }

    /// All audit lines of a category, parsed.
    pub fn audit(&self, category: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(self.path().join("user_data/audit")) else {
            return out;
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{category}_")) && n.ends_with(".jsonl"))
            })
            .collect();
        paths.sort();
        for p in paths {
            for line in fs::read_to_string(p).unwrap_or_default().lines() {
                out.push(serde_json::from_str(line).unwrap_or_else(|e| panic!("bad audit line {line:?}: {e}")));
            }
        }
        out
    }

    /// Audit lines of a category with a given action.
    pub fn audit_actions(&self, category: &str, action: &str) -> Vec<Value> {
        self.audit(category)
            .into_iter()
            .filter(|v| v["action"] == action)
            .collect()
    }

    /// Runs `rumid` with extra arguments to completion (for `--validate`, `--health`).
    pub fn rumid_once(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let mut cmd = Command::new(bin("rumid"));
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("RUMI_LOG_FORMAT", "text")
            .env("RUMI_DISK_DEGRADED_PERCENT", HOST_DISK_PERCENT)
            .env("RUMI_SDK_DIR", sdk_dir())
            .arg("--home")
            .arg(self.path())
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run rumid")
    }

    /// Runs `rumi-ctl` with `input` on its stdin.
    pub fn ctl_stdin(&self, args: &[&str], input: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = Command::new(bin("rumi-ctl"))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .arg("--home")
            .arg(self.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run rumi-ctl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("rumi-ctl output")
    }

    /// Runs `rumi-ctl` against this home.
    pub fn ctl(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let mut cmd = Command::new(bin("rumi-ctl"));
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .arg("--home")
            .arg(self.path())
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run rumi-ctl")
    }
}

impl Default for TestHome {
    fn default() -> Self {
        Self::new()
    }
}

/// Sends one request frame on a pack socket and reads the response frame.
pub fn frame_call(socket: &Path, request: &Value) -> std::io::Result<Value> {
    exchange(socket, request, Duration::from_secs(60))
}

/// One request frame out, one response frame in, each read and write bounded by `timeout`.
fn exchange(socket: &Path, request: &Value, timeout: Duration) -> std::io::Result<Value> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let payload = serde_json::to_vec(request)?;
    s.write_all(&(payload.len() as u32).to_be_bytes())?;
    s.write_all(&payload)?;
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf)?;
    Ok(serde_json::from_slice(&buf)?)
}

/// Like [`frame_call`], but the whole exchange must finish within `limit` (each read and
/// write is bounded by it), so a stalled helper fails the call instead of hanging it.
pub fn frame_call_within(socket: &Path, request: &Value, limit: Duration) -> std::io::Result<Value> {
    let started = Instant::now();
    let answer = exchange(socket, request, limit)?;
    if started.elapsed() > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("answered after {:?}", started.elapsed()),
        ));
    }
    Ok(answer)
}

/// A `/proc/<pid>/status` figure in KiB (`VmRSS`, `VmHWM`, …).
pub fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Waits until a pack socket exists and answers (a policy push may still be in flight).
pub fn wait_socket(socket: &Path) -> Result<()> {
    eventually("pack socket", patience(), || {
        std::os::unix::net::UnixStream::connect(socket).ok().map(|_| ())
    })
}

pub mod upstream;

/// Whether a Docker engine answers. Without one, a Docker test skips loudly — unless
/// `RUMI_TEST_REQUIRE_DOCKER=1` (set by CI), which makes it fail.
pub fn docker_or_skip(test: &str) -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    #[allow(clippy::disallowed_methods)] // the harness's CI switch
    let required = std::env::var("RUMI_TEST_REQUIRE_DOCKER").is_ok_and(|v| v == "1");
    if !ok {
        assert!(
            !required,
            "{test}: Docker is required (RUMI_TEST_REQUIRE_DOCKER=1) but no engine answers"
        );
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "\n!!! SKIPPING {test}: no Docker engine (set RUMI_TEST_REQUIRE_DOCKER=1 to make this a failure) !!!\n"
            );
        }
    }
    ok
}

/// A helper daemon started by the test, as systemd would (`--helpers external`). Killed on
/// drop; its stderr goes to `<run>/<name>.log`.
pub struct ExternalHelper {
    child: Child,
    pub name: String,
}

impl ExternalHelper {
    /// Starts `name` (`rumi-egressd` or `rumi-capd`) with its sockets under `run` (the
    /// layout `RumidBuilder::helper_paths` gives rumid), trusting `control_uid` and reading
    /// the control key from `key_file`.
    pub fn start(home: &TestHome, run: &Path, name: &str, control_uid: u32, key_file: &Path) -> Self {
        fs::create_dir_all(run).expect("run dir");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(run.join(format!("{name}.log")))
            .expect("helper log");
        let child = Command::new(bin(name))
            .env_clear()
            .env("RUMI_LOG_FORMAT", "text")
            .env("RUMI_CONTROL_UID", control_uid.to_string())
            .env("RUMI_CONTROL_KEY_FILE", key_file)
            .env("RUMI_EGRESSD_SOCKET", run.join("egressd.sock"))
            .env("RUMI_EGRESS_SOCK_DIR", run.join("egress"))
            .env("RUMI_CAPD_SOCKET", run.join("capd.sock"))
            .env("RUMI_CAPABILITY_SOCK_DIR", run.join("cap"))
            .env("RUMI_EGRESS_ALLOW_CIDRS", "127.0.0.1/32")
            .env("RUMI_HOME", home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start helper");
        Self {
            child,
            name: name.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ExternalHelper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Group given to the helper sockets in strict-mode tests, so containers can open them.
pub const SOCKET_GID: &str = "4242";

/// A tmpfs mounted for a test (the e2e tests run as root), unmounted on drop. Used to give
/// a directory a tiny file system that a test can fill (ENOSPC for real, no fault injection).
/// Drop it after every process using it is gone (declare it before the [`Rumid`]).
pub struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `bytes` (mode 0700) on `path`, creating the directory.
    pub fn mount(path: &Path, bytes: u64) -> Result<Self> {
        fs::create_dir_all(path)?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes},mode=0700"), "tmpfs"])
            .arg(path)
            .output()
            .context("run mount")?;
        if !out.status.success() {
            bail!(
                "mount tmpfs on {}: {} (the e2e tests need root)",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fills the file system with `name` until a write fails (ENOSPC); returns the bytes
    /// written. Remove the file to free the space again.
    pub fn fill(&self, name: &str) -> Result<u64> {
        use std::io::Write;
        let mut f = fs::File::create(self.path.join(name))?;
        let chunk = vec![0u8; 4096];
        let mut written = 0u64;
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break,
                Err(e) => return Err(e.into()),
            }
        }
        // Whatever is left is smaller than a page: take it too, byte by byte.
        while f.write(&[0u8]).is_ok_and(|n| n == 1) {
            written += 1;
        }
        Ok(written)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Builder for a [`Rumid`].
pub struct RumidBuilder<'a> {
    home: &'a TestHome,
    env: Vec<(String, String)>,
    args: Vec<String>,
    strict: bool,
    open_files: Option<u64>,
    paths: Option<PathBuf>,
    socket_groups: bool,
    bin_dir: Option<PathBuf>,
    user: Option<(u32, Vec<u32>)>,
    stdio: Option<(Stdio, Stdio)>,
}

impl RumidBuilder<'_> {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_owned());
        self
    }

    /// Runs rumid (and so its helpers) with this open-file limit, soft and hard (through
    /// util-linux's `prlimit`, which execs rumid: the pid stays rumid's).
    pub fn open_files(mut self, n: u64) -> Self {
        self.open_files = Some(n);
        self
    }

    /// Puts the helpers' control sockets and socket directories under `dir` instead of the
    /// home's `run/` (to start two instances on one set of paths).
    pub fn helper_paths(mut self, dir: &Path) -> Self {
        self.paths = Some(dir.to_path_buf());
        self
    }

    /// Starts the `rumid` found in `dir` (whose helpers are then looked for next to it)
    /// instead of the one [`bin`] names.
    pub fn bin_dir(mut self, dir: &Path) -> Self {
        self.bin_dir = Some(dir.to_path_buf());
        self
    }

    /// Sends rumid's stdout and stderr here instead of the home's `rumid.log` (which then
    /// stays empty): a closed pipe, a pipe nobody reads, a file on a full disk.
    pub fn stdio(mut self, stdout: Stdio, stderr: Stdio) -> Self {
        self.stdio = Some((stdout, stderr));
        self
    }

    /// Strict mode (Docker), with socket groups set so containers can reach the helpers.
    pub fn strict(mut self) -> Self {
        self.strict = true;
        self.socket_groups = true;
        self
    }

    /// Strict mode with no socket group: the helpers alone must let each pack's uid open
    /// its sockets.
    pub fn strict_without_socket_groups(mut self) -> Self {
        self.strict = true;
        self.socket_groups = false;
        self
    }

    /// Runs rumid (and so its helpers) as `uid` with only the groups `groups` (through
    /// `setpriv`, which drops every capability), instead of the test's user. The home must
    /// belong to that uid ([`TestHome::chown`]).
    pub fn as_user(mut self, uid: u32, groups: &[u32]) -> Self {
        self.user = Some((uid, groups.to_vec()));
        self
    }

    /// Starts rumid and waits until it serves and every helper is up.
    pub fn spawn(self) -> Result<Rumid> {
        let rumid = self.spawn_unchecked()?;
        rumid.wait_helpers_up()?;
        Ok(rumid)
    }

    /// Starts rumid and waits until it serves, without waiting for the helpers.
    pub fn spawn_unchecked(self) -> Result<Rumid> {
        let home = self.home.path().to_path_buf();
        let addr_file = home.join("user_data/run/api.addr");
        let _ = fs::remove_file(&addr_file);
        let log = home.join("rumid.log");
        let log_file = fs::OpenOptions::new().create(true).append(true).open(&log)?;
        let rumid = match &self.bin_dir {
            Some(dir) => dir.join("rumid"),
            None => bin("rumid"),
        };
        // Wrappers exec what follows them, so the pid stays rumid's.
        let mut argv: Vec<std::ffi::OsString> = vec![rumid.into()];
        if let Some((uid, groups)) = &self.user {
            let mut w: Vec<std::ffi::OsString> = vec![
                "/usr/bin/setpriv".into(),
                format!("--reuid={uid}").into(),
                format!("--regid={uid}").into(),
            ];
            if groups.is_empty() {
                w.push("--clear-groups".into());
            } else {
                let list: Vec<String> = groups.iter().map(u32::to_string).collect();
                w.push(format!("--groups={}", list.join(",")).into());
            }
            w.push("--".into());
            w.append(&mut argv);
            argv = w;
        }
        if let Some(n) = self.open_files {
            let mut w: Vec<std::ffi::OsString> =
                vec!["prlimit".into(), format!("--nofile={n}:{n}").into(), "--".into()];
            w.append(&mut argv);
            argv = w;
        }
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        let run = self.paths.clone().unwrap_or_else(|| home.join("run"));
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("RUST_BACKTRACE", "1")
            .env("RUMI_LOG_FORMAT", "text")
            .env("RUMI_LOG_LEVEL", "DEBUG")
            .env("RUMI_DISK_DEGRADED_PERCENT", HOST_DISK_PERCENT)
            .env("RUMI_SDK_DIR", sdk_dir())
            .arg("--home")
            .arg(&home)
            .arg("--port")
            .arg("0")
            .env("RUMI_EGRESS_SOCK_DIR", run.join("egress"))
            .env("RUMI_EGRESSD_SOCKET", run.join("egressd.sock"))
            .env("RUMI_CAPABILITY_SOCK_DIR", run.join("cap"))
            .env("RUMI_CAPD_SOCKET", run.join("capd.sock"))
            .args(if self.strict { &[][..] } else { &["--permissive"][..] })
            .args(&self.args)
            .stdin(Stdio::null());
        match self.stdio {
            Some((out, err)) => cmd.stdout(out).stderr(err),
            None => cmd
                .stdout(Stdio::from(log_file.try_clone()?))
                .stderr(Stdio::from(log_file)),
        };
        if self.socket_groups {
            cmd.env("RUMI_EGRESS_SOCKET_GID", SOCKET_GID)
                .env("RUMI_CAPABILITY_SOCKET_GID", SOCKET_GID);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().context("spawn rumid")?;
        let engine = self.strict.then(|| {
            let socket = self
                .env
                .iter()
                .rev()
                .find(|(k, _)| k == "RUMI_DOCKER_SOCKET")
                .map_or_else(|| "/var/run/docker.sock".to_owned(), |(_, v)| v.clone());
            (socket, instance_label(&home))
        });
        let mut rumid = Rumid {
            child,
            engine,
            base: String::new(),
            token: String::new(),
            run,
            log,
            agent: agent(),
        };
        let addr = eventually("rumid to bind", patience(), || {
            if let Ok(Some(status)) = rumid.child.try_wait() {
                return Some(Err(anyhow::anyhow!("rumid exited with {status}")));
            }
            fs::read_to_string(&addr_file)
                .ok()
                .filter(|s| s.ends_with('\n'))
                .map(|s| Ok(s.trim().to_owned()))
        })
        .and_then(|r| r)
        .with_context(|| format!("rumid log:\n{}", rumid.log_text()))?;
        rumid.base = format!("http://{addr}");
        rumid.token = self.home.token();
        Ok(rumid)
    }
}

/// The `rumi.instance` label rumid gives the containers of `home` (the first 8 bytes of the
/// SHA-256 of its canonical path, in hex).
pub fn instance_label(home: &Path) -> String {
    use sha2::Digest;
    let canonical = home.canonicalize().unwrap_or_else(|_| home.to_path_buf());
    hex::encode(&sha2::Sha256::digest(canonical.as_os_str().as_encoded_bytes())[..8])
}

/// Force-removes every container of `instance` on the engine at `socket`. A create request the killed rumid had in flight
/// may still land after a listing: listed again until a listing a moment later is empty.
fn remove_instance_containers(socket: &str, instance: &str) {
    for _ in 0..5 {
        if remove_listed_containers(socket, instance) == 0 {
            std::thread::sleep(Duration::from_millis(300));
            if remove_listed_containers(socket, instance) == 0 {
                return;
            }
        }
    }
}

/// Ids of the containers of `instance` on the engine at `socket` (Docker's CLI, which speaks to
/// Podman's Docker API too).
pub fn instance_containers(socket: &str, instance: &str) -> std::io::Result<Vec<String>> {
    let listed = engine_cli(
        socket,
        &["ps", "-aq", "--filter", &format!("label=rumi.instance={instance}")],
    )?;
    if !listed.status.success() {
        return Err(std::io::Error::other(format!("docker ps failed: {}", listed.status)));
    }
    Ok(String::from_utf8_lossy(&listed.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

fn engine_cli(socket: &str, args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{socket}"))
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
}

/// Force-removes the containers of `instance` listed now; how many were listed.
fn remove_listed_containers(socket: &str, instance: &str) -> usize {
    let ids = instance_containers(socket, instance).unwrap_or_default();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids.iter().map(String::as_str));
        let _ = engine_cli(socket, &args);
    }
    ids.len()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A running `rumid`. Killed (SIGKILL) on drop; its log is printed if the thread panicked.
/// A strict one's containers (its engine socket and `rumi.instance` label) are then removed:
/// a killed rumid cannot, and the engine is shared by every test. (A clean stop's own
/// removal is what `Rumid::stop` and the sandbox tests judge.)
pub struct Rumid {
    child: Child,
    engine: Option<(String, String)>,
    pub base: String,
    pub token: String,
    /// Where the helpers' sockets are (the home's `run/` unless set otherwise).
    pub run: PathBuf,
    log: PathBuf,
    agent: ureq::Agent,
}

/// A response: status, headers of interest, parsed JSON body (or `Null`).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub request_id: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl Resp {
    /// The RUMI error code of an error envelope.
    pub fn code(&self) -> &str {
        self.body["error_code"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Rumid {
    pub fn builder(home: &TestHome) -> RumidBuilder<'_> {
        RumidBuilder {
            home,
            env: Vec::new(),
            args: Vec::new(),
            strict: false,
            open_files: None,
            paths: None,
            socket_groups: false,
            bin_dir: None,
            user: None,
            stdio: None,
        }
    }

    /// Starts rumid with defaults on `home`.
    pub fn start(home: &TestHome) -> Self {
        Self::builder(home).spawn().expect("start rumid")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lowers rumid's open-file limit (soft and hard) to `n`, as systemd's default of 1024
    /// does for a unit without `LimitNOFILE` (the helpers, already running, keep theirs).
    pub fn limit_descriptors(&self, n: u64) {
        let out = Command::new("prlimit")
            .arg(format!("--pid={}", self.pid()))
            .arg(format!("--nofile={n}:{n}"))
            .output()
            .expect("run prlimit");
        assert!(
            out.status.success(),
            "prlimit: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A request with the instance token.
    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, Some(&self.token.clone()), None, None)
    }

    pub fn post(&self, path: &str, body: Option<&Value>) -> Resp {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
        self.request(
            "POST",
            path,
            Some(&self.token.clone()),
            bytes.as_deref(),
            Some("application/json"),
        )
    }

    /// The Prometheus text of `GET /metrics` (not JSON, so not a [`Resp`] body).
    pub fn metrics_text(&self) -> String {
        ureq::get(&format!("{}/metrics", self.base))
            .header("Authorization", &format!("Bearer {}", self.token))
            .call()
            .expect("GET /metrics")
            .into_body()
            .read_to_string()
            .expect("metrics text")
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.request("DELETE", path, Some(&self.token.clone()), None, None)
    }

    /// A raw request: any method, token, body and content type.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
        content_type: Option<&str>,
    ) -> Resp {
        self.request_with(method, path, token, body, content_type, &[])
    }

    /// Like [`Rumid::request`] with extra headers.
    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let url = format!("{}{}", self.base, path);
        let send = || {
            let mut req = ureq::http::Request::builder().method(method).uri(&url);
            if let Some(t) = token {
                req = req.header("Authorization", format!("Bearer {t}"));
            }
            if let Some(ct) = content_type {
                req = req.header("Content-Type", ct);
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            match body {
                Some(b) => self.agent.run(req.body(b.to_vec()).expect("request")),
                None => self.agent.run(req.body(()).expect("request")),
            }
        };
        let mut result = send();
        // rumid says `Connection: close` whenever it will close (see rumid's `keep_alive`
        // layer), so a pooled connection should never be stale. Like ordinary HTTP clients, a
        // GET that fails before any byte of an answer is still sent once more (idempotent);
        // anything else fails the test.
        if let Err(ureq::Error::Io(e)) = &result
            && method == "GET"
            && matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::BrokenPipe
            )
        {
            result = send();
        }
        let mut resp = result.unwrap_or_else(|e| panic!("{method} {path}: {e}\nrumid log:\n{}", self.log_text()));
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect::<Vec<_>>();
        let request_id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            body,
            request_id,
            headers,
        }
    }

    /// The `result` of a flow run's answer (at the top, as the operations guide shows it).
    pub fn flow_result(body: &Value) -> &Value {
        &body["result"]
    }

    /// Runs a flow through the API.
    pub fn run_flow(&self, flow_id: &str, inputs: Value, timeout: f64) -> Resp {
        self.post(
            &format!("/api/flows/{flow_id}/run"),
            Some(&serde_json::json!({"inputs": inputs, "timeout": timeout})),
        )
    }

    /// The `status` of a pack as the API reports it.
    pub fn pack_state(&self, id: &str) -> String {
        let r = self.get(&format!("/api/packs/{id}/status"));
        assert_eq!(r.status, 200, "status of {id}: {:?}", r.body);
        r.body["data"]["status"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits until every helper is up and holds a policy; returns their status objects.
    pub fn wait_helpers_up(&self) -> Result<Value> {
        eventually("helpers to be up", patience(), || {
            let h = self.get("/api/health");
            let helpers = h.body["data"]["helpers"].clone();
            let all_up = helpers
                .as_object()
                .is_some_and(|m| !m.is_empty() && m.values().all(|s| s["state"] == "up"));
            all_up.then_some(helpers)
        })
        .with_context(|| format!("rumid log:\n{}", self.log_text()))
    }

    /// Waits until every helper holds the newest policy rumid has published.
    pub fn wait_policy_applied(&self) {
        eventually("helpers to hold the latest policy", patience(), || {
            let h = self.get("/api/health").body["data"].clone();
            let want = h["policy_version"].as_u64()?;
            let helpers = h["helpers"].as_object()?;
            helpers
                .values()
                .all(|s| s["state"] == "up" && s["policy_version"].as_u64() >= Some(want))
                .then_some(())
        })
        .unwrap_or_else(|e| panic!("{e:#}\nrumid log:\n{}", self.log_text()));
    }

    /// The egress socket of a pack.
    pub fn egress_socket(&self, _home: &TestHome, pack: &str) -> PathBuf {
        self.run.join("egress").join(format!("{pack}.sock"))
    }

    /// The capability socket of a principal (`sha256(principal)[:32].sock`).
    pub fn capability_socket(&self, _home: &TestHome, principal: &str) -> PathBuf {
        use sha2::Digest;
        let digest = hex::encode(sha2::Sha256::digest(principal.as_bytes()));
        self.run.join("cap").join(format!("{}.sock", &digest[..32]))
    }

    /// Grants a capability permission with a config.
    pub fn grant_capability(&self, principal: &str, permission: &str, config: Value) {
        let r = self.post(
            "/api/capability/grants/grant",
            Some(&serde_json::json!({"principal_id": principal, "permission_id": permission, "config": config})),
        );
        assert_eq!(r.status, 200, "grant {permission} to {principal}: {:?}", r.body);
        self.wait_policy_applied();
    }

    /// Approves a pack and grants it network access.
    pub fn approve_and_grant(&self, pack: &str, domains: &[&str], ports: &[u16]) {
        let r = self.post(&format!("/api/packs/{pack}/approve"), None);
        assert_eq!(r.status, 200, "approve {pack}: {:?}", r.body);
        let r = self.post(
            "/api/network/grant",
            Some(&serde_json::json!({"pack_id": pack, "allowed_domains": domains, "allowed_ports": ports})),
        );
        assert_eq!(r.status, 200, "grant {pack}: {:?}", r.body);
        self.wait_policy_applied();
    }

    /// Sends SIGKILL and waits (a crash: its containers are left for the next start to remove).
    pub fn kill(mut self) {
        self.engine = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        // What a clean stop leaves behind is the test's to judge: not removed on drop.
        self.engine = None;
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + patience();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Rumid {
    #[allow(clippy::print_stderr)]
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some((socket, instance)) = &self.engine {
            remove_instance_containers(socket, instance);
        }
        if std::thread::panicking() {
            eprintln!("---- rumid log ----\n{}\n-------------------", self.log_text());
        }
    }
}
