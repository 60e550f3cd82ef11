//! Running pack code: the one seam between Rumi and whatever isolates it.
//!
//! Callers (the flow engine, units, lib scripts, pip builders, the containers API and
//! shutdown) ask the [`Sandbox`] service; only start-up chooses and builds the backends.
//! A backend takes a backend-neutral [`RunSpec`] — code and SDK mounts, the pack's two
//! sockets, uid, limits, network none or "download", the job on stdin, timeout, output cap —
//! and answers a [`RunOutput`] or a typed [`SandboxError`]. No backend type (a Docker client's, a
//! process handle) crosses this module's boundary.
//!
//! | backend | module | isolation |
//! |---|---|---|
//! | Docker engine (runc or gVisor's `runsc`), or Podman's Docker-compatible API | [`docker`] | a fresh locked-down container per run; pristine spares |
//! | host runner | [`host`] | bubblewrap namespaces, read-only binds, seccomp, rlimits (`RUMI_HOST_ISOLATION=bwrap`), or none at all (`none`, loudly) |
//!
//! Strict mode runs blocks only in containers (no engine: `docker_required`, never the
//! host); permissive mode runs them on the host runner. Pip builders always run in
//! containers.
//!
//! The runner (`_rumi_runner.py`, from the SDK) reads `{file, input, context}` on stdin,
//! calls `run()` and writes its result as one frame on stdout ([`RESULT_HEADER`]); anything
//! the block prints goes to stderr. Limits: stdout [`MAX_STDOUT_BYTES`], stderr kept up to
//! [`MAX_STDERR_BYTES`], and a timeout that kills the run.
//!
//! # Security
//! - rumid reads nothing a sandbox wrote to a file system: only its stdout/stderr streams.
//!   A symlink planted by pack code therefore cannot make rumid read or write a host path
//!   (the judge0 / compiler-explorer class of escape).
//! - The code mount is the pack's approved snapshot, read-only.

pub mod docker;
pub mod host;
pub mod seccomp;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use rumi_common::ids::PackId;
use serde_json::{Value, json};

use crate::config::SecurityMode;

/// Largest stdout (the result) accepted: 4 MiB; more kills the run.
pub const MAX_STDOUT_BYTES: usize = 4 * 1024 * 1024;
/// stderr kept for error messages.
pub const MAX_STDERR_BYTES: usize = 64 * 1024;
/// Default block timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Memory of a block (and its swap limit: no swap).
pub const BLOCK_MEMORY_BYTES: u64 = 256 * 1024 * 1024;
/// Memory of a pip builder.
pub const BUILDER_MEMORY_BYTES: u64 = 512 * 1024 * 1024;
/// Processes a run may have (a fork bomb hits this).
pub const PIDS_LIMIT: u64 = 100;
/// Size of a block's `/tmp`.
pub const TMP_BYTES: u64 = 64 * 1024 * 1024;
/// Size of a pip builder's `/tmp` (wheels are unpacked there).
pub const BUILDER_TMP_BYTES: u64 = 256 * 1024 * 1024;
/// Open files a run may have.
pub const NOFILE_LIMIT: u64 = 1024;

/// Where the fixed paths of a run point inside the sandbox.
pub mod paths {
    /// The pack's code (its approved snapshot), read-only.
    pub const CODE: &str = "/pack";
    /// The Python SDK, read-only.
    pub const SDK: &str = "/rumi/sdk";
    /// The pack's data directory (read-only for blocks, read-write for lib scripts).
    pub const DATA: &str = "/data";
    /// The pack's installed pip packages, read-only.
    pub const PIP: &str = "/pip-packages";
    /// The pack's egress socket.
    pub const EGRESS_SOCKET: &str = "/run/rumi/egress.sock";
    /// The pack's capability socket.
    pub const CAPABILITY_SOCKET: &str = "/run/rumi/capability.sock";
}

/// What a run is for (its container label, its limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A `python_file_call` step (or a unit, or the operator's probe).
    Block,
    /// A pack's `install.py` / `update.py`, with its data directory writable.
    LibScript,
    /// A pip builder: `download` (network) or `install` (none).
    PipBuilder,
}

impl Purpose {
    pub fn label(self) -> &'static str {
        match self {
            Self::Block => "python_file_call",
            Self::LibScript => "lib_script",
            Self::PipBuilder => "pip_builder",
        }
    }
}

/// The network a run gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// None at all: the pack reaches the outside only through its egress socket.
    None,
    /// Outbound access to download packages (pip's download builder only).
    Download,
}

/// One host path made visible inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host: PathBuf,
    pub target: String,
    pub writable: bool,
}

impl Mount {
    pub fn ro(host: impl Into<PathBuf>, target: &str) -> Self {
        Self {
            host: host.into(),
            target: target.to_owned(),
            writable: false,
        }
    }

    pub fn rw(host: impl Into<PathBuf>, target: &str) -> Self {
        Self {
            writable: true,
            ..Self::ro(host, target)
        }
    }
}

/// Resource limits of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: u64,
    pub pids: u64,
    /// CPUs, in thousandths.
    pub cpu_millis: u64,
    pub tmp_bytes: u64,
    /// Whether programs may be executed from `/tmp` (pip builders unpack and run build
    /// tools there; blocks never may).
    pub tmp_exec: bool,
    pub nofile: u64,
}

impl Limits {
    pub const BLOCK: Self = Self {
        memory_bytes: BLOCK_MEMORY_BYTES,
        pids: PIDS_LIMIT,
        cpu_millis: 1000,
        tmp_bytes: TMP_BYTES,
        tmp_exec: false,
        nofile: NOFILE_LIMIT,
    };
    pub const BUILDER: Self = Self {
        memory_bytes: BUILDER_MEMORY_BYTES,
        pids: PIDS_LIMIT,
        cpu_millis: 1000,
        tmp_bytes: BUILDER_TMP_BYTES,
        tmp_exec: true,
        nofile: NOFILE_LIMIT,
    };
}

/// Everything a backend needs to run one program for a pack, in backend-neutral terms.
/// Two runs with equal specs are interchangeable (a pristine spare serves only a call with
/// an equal spec).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    pub pack: PackId,
    pub purpose: Purpose,
    /// Read-only and read-write mounts (code, SDK, data, pip packages, builder dirs).
    pub mounts: Vec<Mount>,
    /// The pack's sockets: (host path, path inside). Only these two ever.
    pub sockets: Vec<(PathBuf, String)>,
    /// The uid (and gid) the program runs as.
    pub uid: u32,
    /// Extra groups (the socket groups).
    pub groups: Vec<u32>,
    pub network: Network,
    /// The program, with paths as seen inside the sandbox.
    pub argv: Vec<String>,
    /// Its whole environment (nothing of rumid's is passed).
    pub env: Vec<(String, String)>,
    pub workdir: String,
    pub limits: Limits,
    /// Whether a pristine spare may serve this run (blocks only).
    pub warm: bool,
    /// Kept alive until nothing of the run is running any more, not only until its result: a
    /// container still exiting after its result holds the pack's container slot (see [`BlockRun::hold`]).
    pub hold: Option<Hold>,
}

/// Something a run keeps until its sandbox is gone (the pack's container slot). Not part of
/// what the run is: two specs that differ only in their holds are equal.
#[derive(Clone)]
pub struct Hold(pub Arc<dyn std::any::Any + Send + Sync>);

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hold")
    }
}

impl PartialEq for Hold {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Hold {}

impl RunSpec {
    /// The host path behind a path inside the sandbox, through the mounts and sockets (for
    /// a backend that runs programs without a mount namespace).
    pub fn host_path(&self, inside: &str) -> Option<PathBuf> {
        for (host, target) in &self.sockets {
            if inside == target {
                return Some(host.clone());
            }
        }
        self.mounts
            .iter()
            .filter_map(|m| {
                let rest = inside.strip_prefix(m.target.as_str())?;
                (rest.is_empty() || rest.starts_with('/')).then(|| (m, rest.trim_start_matches('/')))
            })
            .max_by_key(|(m, _)| m.target.len())
            .map(|(m, rest)| {
                if rest.is_empty() {
                    m.host.clone()
                } else {
                    m.host.join(rest)
                }
            })
    }
}

/// What came out of a run.
#[derive(Debug, Default)]
pub struct RunOutput {
    /// The runner's result, when its frame was complete (possibly before the exit).
    pub result: Option<Value>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The exit status, when the program exited (a negative number: killed by a signal).
    pub exit_code: Option<i64>,
}

/// Why a run did not produce a result; each maps to an `error_type`.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("strict mode requires Docker and it is not available: {0}")]
    DockerRequired(String),
    #[error("block timed out after {0:?}")]
    Timeout(Duration),
    #[error("block output is larger than {MAX_STDOUT_BYTES} bytes")]
    TooLarge,
    #[error("block failed (exit {code}): {stderr}")]
    Failed { code: i64, stderr: String },
    /// The backend cannot take this spec at all (as youki's `ExecutorError::CantHandle`).
    #[error("the {backend} sandbox cannot run this: {reason}")]
    CantHandle { backend: &'static str, reason: String },
    #[error("sandbox error: {0}")]
    Internal(String),
}

impl SandboxError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::DockerRequired(_) => "docker_required",
            Self::Timeout(_) => "timeout",
            Self::TooLarge => "response_too_large",
            Self::Failed { .. } => "container_execution_error",
            Self::CantHandle { .. } | Self::Internal(_) => "sandbox_error",
        }
    }
}

/// One way of running a [`RunSpec`]. Implementations live in their own modules and keep
/// their types to themselves.
pub trait Backend: Send + Sync {
    /// Short name for logs and the API (`docker`, `docker/runsc`, `podman`, `bwrap`, `host`).
    fn name(&self) -> String;

    /// What `python_file_call` audit lines say about where code ran (`execution_mode`).
    fn execution_mode(&self) -> &'static str;

    /// Whether programs see the fixed paths of [`paths`] (true) or host paths (a backend
    /// without a mount namespace).
    fn maps_paths(&self) -> bool;

    /// Whether programs run as the spec's uid on the host (false: as rumid's own uid).
    fn runs_as_pack_uid(&self) -> bool;

    /// Whether the backend can run now, with a description of what it is.
    fn check(&self) -> BoxFuture<'_, Result<String, String>>;

    /// Runs `spec` with `stdin` as its standard input until it exits, its runner's result
    /// frame is complete, or `timeout` passes.
    fn run<'a>(
        &'a self,
        spec: &'a RunSpec,
        stdin: Vec<u8>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<RunOutput, SandboxError>>;

    /// Prepares runs of `spec` ahead of time (pristine spares), if the backend can.
    fn warm(&self, _spec: &RunSpec) {}

    /// The sandboxes of this instance that exist now.
    fn list(&self) -> BoxFuture<'_, Vec<Value>> {
        Box::pin(async { Vec::new() })
    }

    /// Stops and removes everything of one pack; returns how many sandboxes went.
    fn stop_pack<'a>(&'a self, pack: &'a str) -> BoxFuture<'a, usize>;

    /// Destroys every prepared spare (the policy changed); returns how many.
    fn flush(&self) -> usize {
        0
    }

    /// Removes what this instance left behind before it started (a crash).
    fn remove_leftovers(&self) -> BoxFuture<'_, usize> {
        Box::pin(async { 0 })
    }

    /// Stops: removes spares (also those still starting) and whatever else is left.
    fn shutdown(&self) -> BoxFuture<'_, usize>;

    /// The spare pool's counts, if the backend keeps one.
    fn spares(&self) -> Option<Value> {
        None
    }
}

/// A backend that cannot run anything (its isolation is required but unusable here):
/// every run fails with the reason, nothing runs unisolated instead.
pub struct Refusing {
    name: &'static str,
    reason: String,
}

impl Refusing {
    pub fn new(name: &'static str, reason: String) -> Self {
        Self { name, reason }
    }
}

impl Backend for Refusing {
    fn name(&self) -> String {
        self.name.to_owned()
    }

    fn execution_mode(&self) -> &'static str {
        "refused"
    }

    fn maps_paths(&self) -> bool {
        true
    }

    fn runs_as_pack_uid(&self) -> bool {
        true
    }

    fn check(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move { Err(self.reason.clone()) })
    }

    fn run<'a>(&'a self, _: &'a RunSpec, _: Vec<u8>, _: Duration) -> BoxFuture<'a, Result<RunOutput, SandboxError>> {
        Box::pin(async move {
            Err(SandboxError::CantHandle {
                backend: self.name,
                reason: self.reason.clone(),
            })
        })
    }

    fn stop_pack<'a>(&'a self, _: &'a str) -> BoxFuture<'a, usize> {
        Box::pin(async { 0 })
    }

    fn shutdown(&self) -> BoxFuture<'_, usize> {
        Box::pin(async { 0 })
    }
}

/// Accumulates a run's stdout (capped: more is [`SandboxError::TooLarge`]) and stderr
/// (kept up to [`MAX_STDERR_BYTES`]); shared by every backend.
#[derive(Debug, Default)]
pub struct Collector {
    out: Vec<u8>,
    err: Vec<u8>,
}

impl Collector {
    /// Adds stdout; returns the result once the runner's frame is complete.
    ///
    /// # Errors
    /// [`SandboxError::TooLarge`] past [`MAX_STDOUT_BYTES`].
    pub fn stdout(&mut self, chunk: &[u8]) -> Result<Option<Value>, SandboxError> {
        if self.out.len() + chunk.len() > MAX_STDOUT_BYTES {
            return Err(SandboxError::TooLarge);
        }
        self.out.extend_from_slice(chunk);
        Ok(framed_result(&self.out))
    }

    pub fn stderr(&mut self, chunk: &[u8]) {
        let room = MAX_STDERR_BYTES.saturating_sub(self.err.len());
        self.err.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    pub fn finish(self, result: Option<Value>, exit_code: Option<i64>) -> RunOutput {
        RunOutput {
            result,
            stdout: self.out,
            stderr: self.err,
            exit_code,
        }
    }
}

/// Start of the runner's result frame on stdout: `\x1eRUMI-RESULT <len>\n<len bytes of JSON>`.
/// With the frame complete, the result is known before the container has exited.
pub const RESULT_HEADER: &[u8] = b"\x1eRUMI-RESULT ";

/// The result, once a complete frame is at the start of `stdout`.
pub fn framed_result(stdout: &[u8]) -> Option<Value> {
    let rest = stdout.strip_prefix(RESULT_HEADER)?;
    let nl = rest.iter().take(24).position(|&b| b == b'\n')?;
    let len: usize = std::str::from_utf8(&rest[..nl]).ok()?.parse().ok()?;
    let body = rest.get(nl + 1..nl + 1 + len)?;
    Some(serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned())))
}

/// Parses the runner's stdout after it exited: the result frame, else JSON, else the raw
/// text; empty is `null`.
pub fn parse_output(stdout: &[u8]) -> Value {
    if let Some(v) = framed_result(stdout) {
        return v;
    }
    let text = String::from_utf8_lossy(stdout);
    let text = text.trim();
    if text.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Keeps the last part of stderr (where tracebacks end).
pub fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().rev().take(20).collect();
    let mut out: Vec<&str> = lines.into_iter().rev().collect();
    if out.is_empty() {
        out.push("(no output)");
    }
    out.join("\n")
        .chars()
        .rev()
        .take(2000)
        .collect::<String>()
        .chars()
        .rev()
        .collect()
}

/// One block to run.
#[derive(Debug, Clone)]
pub struct BlockRun {
    pub pack: PackId,
    /// The pack's code on the host: its approved snapshot (or a unit's directory).
    pub pack_dir: PathBuf,
    /// The snapshot `pack_dir` belongs to, held for the run so it is not removed meanwhile.
    pub snapshot: Option<Arc<crate::approval::snapshot::PackSnapshot>>,
    /// The block file, relative to the pack directory (already checked to stay inside it).
    pub file_rel: PathBuf,
    pub input: Value,
    pub context: Value,
    pub timeout: Duration,
    /// The pack's container slot, held until nothing of the run is running: a block that sends its
    /// result and goes on running still counts against the pack's share of containers.
    pub hold: Option<Hold>,
}

/// A pip builder run: one command of a pack's dependency install.
pub struct BuilderRun {
    pub pack: PackId,
    /// `download` or `install`.
    pub stage: &'static str,
    pub argv: Vec<String>,
    pub mounts: Vec<Mount>,
    pub env: Vec<(String, String)>,
    pub network: Network,
    pub timeout: Duration,
}

/// Where the pieces a run needs are on the host.
pub struct Layout {
    pub sdk_dir: Option<PathBuf>,
    pub egress_dir: PathBuf,
    pub capability_dir: PathBuf,
    /// Extra groups every run gets (the socket groups).
    pub group_add: Vec<u32>,
    pub data_root: PathBuf,
    pub pip_root: PathBuf,
    pub uids: Arc<crate::pack_uids::PackUids>,
}

/// The sandbox service: builds run specs for every kind of run and hands them to the
/// backend of the security mode.
pub struct Sandbox {
    mode: SecurityMode,
    /// Runs blocks, units and lib scripts.
    blocks: Arc<dyn Backend>,
    /// Runs pip builders (containers in both modes).
    builders: Arc<dyn Backend>,
    layout: Layout,
}

// === impl Sandbox ===

impl Sandbox {
    pub fn new(mode: SecurityMode, blocks: Arc<dyn Backend>, builders: Arc<dyn Backend>, layout: Layout) -> Self {
        Self {
            mode,
            blocks,
            builders,
            layout,
        }
    }

    pub fn mode(&self) -> SecurityMode {
        self.mode
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The backend running blocks.
    pub fn backend(&self) -> &dyn Backend {
        self.blocks.as_ref()
    }

    /// The backend running pip builders.
    pub fn builder_backend(&self) -> &dyn Backend {
        self.builders.as_ref()
    }

    /// `execution_mode` of `python_file_call` audit lines.
    pub fn execution_mode(&self) -> &'static str {
        self.blocks.execution_mode()
    }

    /// The pack's egress socket on the host.
    pub fn egress_socket(&self, pack: &PackId) -> PathBuf {
        self.layout.egress_dir.join(format!("{pack}.sock"))
    }

    /// The pack's capability socket on the host.
    pub fn capability_socket(&self, pack: &PackId) -> PathBuf {
        use sha2::Digest;
        let digest = hex::encode(sha2::Sha256::digest(pack.as_str().as_bytes()));
        self.layout.capability_dir.join(format!("{}.sock", &digest[..32]))
    }

    /// The pack's data directory on the host.
    pub fn data_dir(&self, pack: &PackId) -> PathBuf {
        self.layout.data_root.join(pack.as_str())
    }

    /// The uid a pack's runs use (allocated at most once per pack: a file write).
    fn uid(&self, pack: &PackId) -> Result<u32, SandboxError> {
        tokio::task::block_in_place(|| self.layout.uids.uid(pack.as_str()))
            .ok_or_else(|| SandboxError::Internal("no sandbox uid for this pack (RUMI_PACK_UID_RANGE)".into()))
    }

    /// The spec of a block (or lib script) of `pack` with `code` at `/pack`: everything
    /// but the job, identical for a cold run and a spare.
    fn block_spec(&self, pack: &PackId, code: &Path, purpose: Purpose) -> Result<RunSpec, SandboxError> {
        let sdk = self
            .layout
            .sdk_dir
            .as_deref()
            .ok_or_else(|| SandboxError::Internal("the pack SDK was not found (set RUMI_SDK_DIR)".into()))?;
        let mut mounts = vec![Mount::ro(code, paths::CODE), Mount::ro(sdk, paths::SDK)];
        let mut pythonpath = paths::SDK.to_owned();
        let data = self.data_dir(pack);
        if data.is_dir() {
            mounts.push(Mount {
                writable: purpose == Purpose::LibScript,
                ..Mount::ro(data, paths::DATA)
            });
        }
        let pip = self.layout.pip_root.join(pack.as_str()).join("site-packages");
        if pip.is_dir() {
            mounts.push(Mount::ro(pip, paths::PIP));
            pythonpath.push(':');
            pythonpath.push_str(paths::PIP);
        }
        let mut env = vec![
            ("PYTHONPATH".to_owned(), pythonpath),
            ("PYTHONDONTWRITEBYTECODE".to_owned(), "1".to_owned()),
            ("RUMI_PACK_ID".to_owned(), pack.to_string()),
        ];
        let mut sockets = Vec::new();
        for (host, inside, var) in [
            (self.egress_socket(pack), paths::EGRESS_SOCKET, "RUMI_EGRESS_SOCKET"),
            (
                self.capability_socket(pack),
                paths::CAPABILITY_SOCKET,
                "RUMI_CAPABILITY_SOCKET",
            ),
        ] {
            // A socket the helper has not opened (yet) is not mounted: the SDK then says
            // the helper is unavailable, as it would for a closed socket.
            if host.exists() {
                sockets.push((host, inside.to_owned()));
                env.push((var.to_owned(), inside.to_owned()));
            }
        }
        Ok(RunSpec {
            pack: pack.clone(),
            purpose,
            mounts,
            sockets,
            uid: self.uid(pack)?,
            groups: self.layout.group_add.clone(),
            network: Network::None,
            argv: vec!["python3".into(), "-B".into(), format!("{}/_rumi_runner.py", paths::SDK)],
            env,
            workdir: paths::CODE.to_owned(),
            limits: Limits::BLOCK,
            // Lib scripts (writable data) always run cold: spares are for blocks.
            warm: purpose == Purpose::Block,
            hold: None,
        })
    }

    /// Runs one block (a `python_file_call`, a unit or the probe).
    ///
    /// # Errors
    /// [`SandboxError`]; strict mode without an engine is `docker_required`, never a host run.
    pub async fn run_block(&self, block: &BlockRun) -> Result<Value, SandboxError> {
        self.run(block, Purpose::Block).await
    }

    /// Runs a pack's lib script: its data directory is mounted read-write.
    ///
    /// # Errors
    /// [`SandboxError`].
    pub async fn run_lib_script(&self, block: &BlockRun) -> Result<Value, SandboxError> {
        self.run(block, Purpose::LibScript).await
    }

    async fn run(&self, block: &BlockRun, purpose: Purpose) -> Result<Value, SandboxError> {
        let mut spec = self.block_spec(&block.pack, &block.pack_dir, purpose)?;
        spec.hold.clone_from(&block.hold);
        let inside = format!("{}/{}", paths::CODE, block.file_rel.display());
        let file = if self.blocks.maps_paths() {
            inside
        } else {
            spec.host_path(&inside)
                .map(|p| p.display().to_string())
                .unwrap_or(inside)
        };
        let mut job = serde_json::to_vec(&json!({
            "file": file,
            "input": block.input,
            "context": block.context,
        }))
        .map_err(|e| SandboxError::Internal(format!("cannot encode the job: {e}")))?;
        job.push(b'\n');
        let out = self.blocks.run(&spec, job, block.timeout).await?;
        if let Some(v) = out.result {
            return Ok(v);
        }
        match out.exit_code {
            Some(0) => Ok(parse_output(&out.stdout)),
            Some(code) => Err(SandboxError::Failed {
                code,
                stderr: stderr_tail(&out.stderr),
            }),
            None => Err(SandboxError::Internal("the run ended without an exit status".into())),
        }
    }

    /// Starts pristine spares of a pack's block sandbox (the operator's warm-up).
    ///
    /// # Errors
    /// When the spec cannot be built (no SDK, no uid).
    pub fn warm_block(&self, pack: &PackId, code: &Path) -> Result<(), SandboxError> {
        let spec = self.block_spec(pack, code, Purpose::Block)?;
        self.blocks.warm(&spec);
        Ok(())
    }

    /// Runs a pip builder to completion.
    ///
    /// # Errors
    /// The last lines of its output when it fails, times out or cannot start.
    pub async fn run_builder(&self, b: &BuilderRun) -> Result<(), String> {
        self.builders
            .check()
            .await
            .map_err(|e| format!("docker_required: {e}"))?;
        let spec = RunSpec {
            pack: b.pack.clone(),
            purpose: Purpose::PipBuilder,
            mounts: b.mounts.clone(),
            sockets: Vec::new(),
            // Builders never run as a pack: they only unpack wheels.
            uid: crate::pack_uids::SHARED_UID,
            groups: Vec::new(),
            network: b.network,
            argv: b.argv.clone(),
            env: b.env.clone(),
            workdir: "/tmp".into(),
            limits: Limits::BUILDER,
            warm: false,
            hold: None,
        };
        let out = self
            .builders
            .run(&spec, Vec::new(), b.timeout)
            .await
            .map_err(|e| match e {
                SandboxError::Timeout(t) => format!("{} step timed out after {t:?}", b.stage),
                other => format!("{}: {other}", b.stage),
            })?;
        match out.exit_code {
            Some(0) => Ok(()),
            code => {
                let mut log = out.stdout;
                log.extend_from_slice(&out.stderr);
                Err(format!(
                    "{} step exited with {}: {}",
                    b.stage,
                    code.unwrap_or(-1),
                    stderr_tail(&log)
                ))
            }
        }
    }

    /// Whether the block backend can run now.
    pub async fn check(&self) -> Result<String, String> {
        self.blocks.check().await
    }

    /// The sandboxes of this instance, and the spare pool's counts.
    pub async fn list(&self) -> (Vec<Value>, Option<Value>) {
        let mut all = self.blocks.list().await;
        if !Arc::ptr_eq(&self.blocks, &self.builders) {
            all.extend(self.builders.list().await);
        }
        (all, self.blocks.spares())
    }

    /// Removes everything of one pack.
    pub async fn stop_pack(&self, pack: &PackId) -> usize {
        let mut n = self.blocks.stop_pack(pack.as_str()).await;
        if !Arc::ptr_eq(&self.blocks, &self.builders) {
            n += self.builders.stop_pack(pack.as_str()).await;
        }
        n
    }

    /// Destroys every spare (approvals or grants changed).
    pub fn flush(&self) -> usize {
        self.blocks.flush()
    }

    /// Removes what an earlier run of this instance left behind.
    pub async fn remove_leftovers(&self) -> usize {
        let mut n = self.blocks.remove_leftovers().await;
        if !Arc::ptr_eq(&self.blocks, &self.builders) {
            n += self.builders.remove_leftovers().await;
        }
        n
    }

    /// rumid is stopping: nothing is left running.
    pub async fn shutdown(&self) -> usize {
        let mut n = self.blocks.shutdown().await;
        if !Arc::ptr_eq(&self.blocks, &self.builders) {
            n += self.builders.shutdown().await;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_follow_the_longest_mount() {
        let spec = RunSpec {
            pack: PackId::parse("p").unwrap(),
            purpose: Purpose::Block,
            mounts: vec![
                Mount::ro("/snap/p/abc", paths::CODE),
                Mount::ro("/sdk", paths::SDK),
                Mount::rw("/home/user_data/packs/p", paths::DATA),
            ],
            sockets: vec![("/run/rumi/egress/p.sock".into(), paths::EGRESS_SOCKET.into())],
            uid: 1,
            groups: vec![],
            network: Network::None,
            argv: vec![],
            env: vec![],
            workdir: "/pack".into(),
            limits: Limits::BLOCK,
            warm: true,
            hold: None,
        };
        assert_eq!(
            spec.host_path("/pack/backend/b.py").unwrap(),
            Path::new("/snap/p/abc/backend/b.py")
        );
        assert_eq!(spec.host_path("/pack").unwrap(), Path::new("/snap/p/abc"));
        assert_eq!(spec.host_path("/data").unwrap(), Path::new("/home/user_data/packs/p"));
        assert_eq!(
            spec.host_path(paths::EGRESS_SOCKET).unwrap(),
            Path::new("/run/rumi/egress/p.sock")
        );
        assert!(
            spec.host_path("/package").is_none(),
            "a prefix of a name is not a mount"
        );
        assert!(spec.host_path("/etc/passwd").is_none());
    }

    #[test]
    fn the_collector_caps_stdout_and_stderr_and_sees_the_frame() {
        let mut c = Collector::default();
        let body = br#"{"a":1}"#;
        let frame = [RESULT_HEADER, format!("{}\n", body.len()).as_bytes(), body].concat();
        assert_eq!(c.stdout(&frame[..5]).unwrap(), None);
        assert_eq!(c.stdout(&frame[5..]).unwrap(), Some(json!({"a": 1})));
        let mut big = Collector::default();
        assert!(matches!(
            big.stdout(&vec![b'x'; MAX_STDOUT_BYTES + 1]),
            Err(SandboxError::TooLarge)
        ));
        big.stderr(&vec![b'e'; MAX_STDERR_BYTES * 2]);
        assert_eq!(big.finish(None, Some(1)).stderr.len(), MAX_STDERR_BYTES);
    }
}
