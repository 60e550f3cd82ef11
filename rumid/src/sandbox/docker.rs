//! Strict mode: each block runs in a container of its own, created through the Docker API
//! (bollard) and removed after its one job. The job (`{file, input, context}`) goes to the
//! runner on stdin, so a container can be started before its job is known: a pristine spare
//! ([`super::spares`]).
//!
//! Flags: `--network=none`, read-only root, tmpfs `/tmp` (64 MiB, noexec, nosuid),
//! `cap-drop ALL`, `no-new-privileges`, the pack's own uid (or 65534), `--group-add` of the socket
//! groups, memory and swap limit, pids limit, one CPU, a capped log file (output is read
//! from the attach stream, never from the log). Mounts, all read-only except the
//! sockets: the pack at `/pack`, the SDK at `/rumi/sdk`, the pack's data dir at `/data`, pip packages at `/pip-packages`
//! when present, and only this pack's egress socket and this principal's capability socket.
//! Containers carry `rumi.managed=true`, `rumi.pack_id` and `rumi.instance` (one per home)
//! labels; this instance's leftovers from a crash
//! are removed at start ([`DockerRunner::remove_leftovers`]).
//!
//! Docker 20.10 speaks API 1.41; bollard 0.21 sends unversioned paths, so the engine answers
//! at its own version. rumid logs the engine version at start and refuses below 1.41.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, WaitContainerOptions,
};
use futures_util::StreamExt;

use std::sync::Arc;

use rumi_common::ids::PackId;

use super::spares::Spares;
use super::{BlockRun, MAX_STDERR_BYTES, MAX_STDOUT_BYTES, SandboxError};

/// Label on every container Rumi creates.
pub const LABEL_MANAGED: &str = "rumi.managed";
pub const LABEL_PACK: &str = "rumi.pack_id";
pub const LABEL_TYPE: &str = "rumi.type";
/// Which Rumi home a container belongs to (several homes may share one engine; each cleans
/// up only its own containers).
pub const LABEL_INSTANCE: &str = "rumi.instance";
/// Memory limit of a block container (and its swap limit: no swap).
pub const MEMORY_BYTES: i64 = 256 * 1024 * 1024;
/// Processes a block may have (a fork bomb hits this).
pub const PIDS_LIMIT: i64 = 100;
/// How long availability answers are reused.
const AVAILABILITY_TTL: Duration = Duration::from_secs(10);
/// Docker API timeout.
const API_TIMEOUT_SECS: u64 = 120;

/// The confinement every Rumi container shares: the given network, a read-only root with a
/// tmpfs `/tmp` (`tmp_opts`), every capability dropped, `no-new-privileges`, `memory` with no
/// swap, the pids limit, one CPU, and a capped log (output is read from the attach stream; the
/// log file is capped so a chatty container cannot fill the disk, and the "none" driver cannot
/// be attached to with logs).
fn locked_down(network: &str, tmp_opts: &str, memory: i64, binds: Vec<String>) -> HostConfig {
    HostConfig {
        network_mode: Some(network.to_owned()),
        readonly_rootfs: Some(true),
        tmpfs: Some([("/tmp".to_owned(), tmp_opts.to_owned())].into_iter().collect()),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        memory: Some(memory),
        memory_swap: Some(memory),
        pids_limit: Some(PIDS_LIMIT),
        nano_cpus: Some(1_000_000_000),
        binds: Some(binds),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(
                [
                    ("max-size".to_owned(), "1m".to_owned()),
                    ("max-file".to_owned(), "1".to_owned()),
                ]
                .into_iter()
                .collect(),
            ),
        }),
        ..Default::default()
    }
}

/// Force-removes a container when dropped (from a spawned task: `Drop` cannot await).
struct RemoveOnDrop {
    docker: Docker,
    id: String,
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let docker = self.docker.clone();
        let id = std::mem::take(&mut self.id);
        if id.is_empty() {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                force_remove(&docker, &id).await;
            });
        }
    }
}

/// What a container run needs besides the block.
pub struct Mounts<'a> {
    pub sdk_dir: &'a Path,
    pub data_dir: Option<&'a Path>,
    /// Mount the data directory read-write (lib scripts only).
    pub data_writable: bool,
    pub pip_dir: Option<&'a Path>,
    pub egress_socket: Option<&'a Path>,
    pub capability_socket: Option<&'a Path>,
    pub group_add: &'a [u32],
}

pub struct DockerRunner {
    docker: Option<Docker>,
    socket: PathBuf,
    pub image: String,
    /// Value of the `rumi.instance` label: derived from the home's path.
    instance: String,
    checked: std::sync::Mutex<Option<(Instant, Result<String, String>)>>,
    /// Pristine spare containers.
    pub spares: Arc<Spares>,
}

impl DockerRunner {
    /// A runner talking to the engine at `socket` (an explicit path: the environment cannot
    /// redirect it).
    pub fn new(socket: &Path, image: String, home: &Path, spares: Arc<Spares>) -> Self {
        use sha2::Digest;
        let instance = hex::encode(&sha2::Sha256::digest(home.as_os_str().as_encoded_bytes())[..8]);
        let docker = Docker::connect_with_socket(
            &socket.display().to_string(),
            API_TIMEOUT_SECS,
            bollard::API_DEFAULT_VERSION,
        )
        .ok();
        Self {
            docker,
            socket: socket.to_path_buf(),
            image,
            instance,
            checked: std::sync::Mutex::new(None),
            spares,
        }
    }

    /// Whether the engine answers, with its version (cached briefly).
    pub async fn available(&self) -> Result<String, String> {
        if let Some((at, r)) = self.checked.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
            && at.elapsed() < AVAILABILITY_TTL
        {
            return r.clone();
        }
        let r = match &self.docker {
            None => Err(format!("cannot use the Docker socket {}", self.socket.display())),
            Some(d) => match d.version().await {
                Ok(v) => {
                    let api = v.api_version.unwrap_or_default();
                    let ok = api
                        .split('.')
                        .nth(1)
                        .and_then(|m| m.parse::<u32>().ok())
                        .is_some_and(|m| m >= 41);
                    if ok {
                        Ok(format!("Docker {} (API {api})", v.version.unwrap_or_default()))
                    } else {
                        Err(format!("Docker API {api} is older than 1.41"))
                    }
                }
                Err(e) => Err(format!("Docker at {} does not answer: {e}", self.socket.display())),
            },
        };
        *self.checked.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), r.clone()));
        r
    }

    fn client(&self) -> Result<&Docker, SandboxError> {
        self.docker
            .as_ref()
            .ok_or_else(|| SandboxError::DockerRequired("no Docker client".into()))
    }

    /// Removes every container of this instance (leftovers of a crash).
    pub async fn remove_leftovers(&self) -> usize {
        let Ok(d) = self.client() else { return 0 };
        let mine = format!("{LABEL_INSTANCE}={}", self.instance);
        let filters: HashMap<&str, Vec<&str>> = [("label", vec!["rumi.managed=true", mine.as_str()])]
            .into_iter()
            .collect();
        let opts = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let Ok(list) = d.list_containers(Some(opts)).await else {
            return 0;
        };
        force_remove_all(d, list.into_iter().filter_map(|c| c.id)).await
    }

    /// Containers Rumi manages right now: `(id, name, pack, state)`.
    pub async fn list(&self) -> Vec<serde_json::Value> {
        let Ok(d) = self.client() else { return Vec::new() };
        let mine = format!("{LABEL_INSTANCE}={}", self.instance);
        let filters: HashMap<&str, Vec<&str>> = [("label", vec!["rumi.managed=true", mine.as_str()])]
            .into_iter()
            .collect();
        let opts = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let spares = self.spares.ids();
        d.list_containers(Some(opts))
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                let labels = c.labels.unwrap_or_default();
                let spare = c.id.as_ref().is_some_and(|id| spares.contains(id));
                serde_json::json!({
                    "spare": spare,
                    "id": c.id,
                    "name": c.names.and_then(|n| n.first().cloned()).map(|n| n.trim_start_matches('/').to_owned()),
                    "pack_id": labels.get(LABEL_PACK),
                    "type": labels.get(LABEL_TYPE),
                    "state": c.state.map(|s| s.to_string()),
                })
            })
            .collect()
    }

    /// Removes every spare container now (rumid is stopping: nothing is left running).
    pub async fn remove_spares(&self) -> usize {
        let spares = self.spares.take_all();
        let Ok(d) = self.client() else { return 0 };
        force_remove_all(d, spares.into_iter().map(Started::disarm)).await
    }

    /// Removes every container of one pack.
    pub async fn remove_pack(&self, pack: &str) -> usize {
        let spares = self.spares.take_pack(pack);
        let Ok(d) = self.client() else { return 0 };
        let mut n = force_remove_all(d, spares.into_iter().map(Started::disarm)).await;
        let label = format!("{LABEL_PACK}={pack}");
        let mine = format!("{LABEL_INSTANCE}={}", self.instance);
        let filters: HashMap<&str, Vec<&str>> = [("label", vec!["rumi.managed=true", label.as_str(), mine.as_str()])]
            .into_iter()
            .collect();
        let opts = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let listed = d.list_containers(Some(opts)).await.unwrap_or_default();
        n += force_remove_all(d, listed.into_iter().filter_map(|c| c.id)).await;
        n
    }

    /// The container a block of `pack` runs in: everything but the job itself, identical
    /// for a cold run and a spare (the job arrives on stdin).
    pub fn spec(&self, pack: &PackId, pack_dir: &Path, m: &Mounts<'_>, uid: u32) -> ContainerSpec {
        let mut binds = vec![
            format!("{}:/pack:ro", pack_dir.display()),
            format!("{}:/rumi/sdk:ro", m.sdk_dir.display()),
        ];
        let mut pythonpath = "/rumi/sdk".to_owned();
        if let Some(data) = m.data_dir {
            binds.push(format!(
                "{}:/data:{}",
                data.display(),
                if m.data_writable { "rw" } else { "ro" }
            ));
        }
        if let Some(pip) = m.pip_dir {
            binds.push(format!("{}:/pip-packages:ro", pip.display()));
            pythonpath.push_str(":/pip-packages");
        }
        let mut env = vec![
            format!("PYTHONPATH={pythonpath}"),
            "PYTHONDONTWRITEBYTECODE=1".to_owned(),
            format!("RUMI_PACK_ID={pack}"),
        ];
        if let Some(s) = m.egress_socket.filter(|s| s.exists()) {
            binds.push(format!("{}:/run/rumi/egress.sock", s.display()));
            env.push("RUMI_EGRESS_SOCKET=/run/rumi/egress.sock".into());
        }
        if let Some(s) = m.capability_socket.filter(|s| s.exists()) {
            binds.push(format!("{}:/run/rumi/capability.sock", s.display()));
            env.push("RUMI_CAPABILITY_SOCKET=/run/rumi/capability.sock".into());
        }
        let labels: HashMap<String, String> = [
            (LABEL_MANAGED.to_owned(), "true".to_owned()),
            (LABEL_PACK.to_owned(), pack.to_string()),
            (LABEL_TYPE.to_owned(), "python_file_call".to_owned()),
            (LABEL_INSTANCE.to_owned(), self.instance.clone()),
        ]
        .into_iter()
        .collect();
        let host = HostConfig {
            group_add: Some(m.group_add.iter().map(ToString::to_string).collect()),
            ..locked_down("none", "rw,size=64m,noexec,nosuid,nodev", MEMORY_BYTES, binds)
        };
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(vec!["python3".into(), "-B".into(), "/rumi/sdk/_rumi_runner.py".into()]),
            env: Some(env),
            user: Some(format!("{uid}:{uid}")),
            working_dir: Some("/pack".into()),
            labels: Some(labels),
            network_disabled: Some(true),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            open_stdin: Some(true),
            stdin_once: Some(true),
            host_config: Some(host),
            ..Default::default()
        };
        ContainerSpec::new(pack.clone(), body)
    }

    /// Runs one block: in a pristine spare of the same spec when one is waiting (and
    /// `use_spares`), otherwise in a container started now. Either way the container is
    /// destroyed after this one job; a spare for the next call is started in the background.
    ///
    /// # Errors
    /// [`SandboxError`] for a missing engine, timeouts, oversize output or a failing block.
    pub async fn run(
        &self,
        block: &BlockRun,
        spec: &ContainerSpec,
        use_spares: bool,
    ) -> Result<serde_json::Value, SandboxError> {
        self.available().await.map_err(SandboxError::DockerRequired)?;
        let d = self.client()?;
        let file_in = Path::new("/pack").join(&block.file_rel);
        let job = super::job_line(&file_in.display().to_string(), block)?;
        let t0 = Instant::now();
        let claimed = if use_spares { self.spares.claim(spec) } else { None };
        let spare = claimed.is_some();
        let started = match claimed {
            Some(s) => s,
            None => start(d, spec).await?,
        };
        let t1 = t0.elapsed();
        let result = execute(d, started, &job, block.timeout).await;
        tracing::debug!(
            pack = %block.pack,
            spare,
            start_ms = t1.as_secs_f64() * 1e3,
            total_ms = t0.elapsed().as_secs_f64() * 1e3,
            "block ran in a container"
        );
        // Replacements start after the call, not competing with it for the CPU.
        if use_spares {
            self.spares.refill(d, spec);
        }
        result
    }
}

/// A pip builder container: one command of the pack's dependency install.
pub struct Builder<'a> {
    pub pack: &'a PackId,
    /// `download` or `install`.
    pub stage: &'static str,
    pub cmd: Vec<String>,
    pub binds: Vec<String>,
    pub env: Vec<String>,
    /// `bridge` (download) or `none` (install).
    pub network: &'static str,
    pub timeout: Duration,
}

impl DockerRunner {
    /// Runs a pip builder container to completion: read-only root, tmpfs `/tmp`, user
    /// 65534, every capability dropped, `no-new-privileges`, 512 MiB, 100 pids; removed
    /// afterwards.
    ///
    /// # Errors
    /// The last lines of its stderr when it fails, times out or cannot start.
    pub async fn run_builder(&self, b: &Builder<'_>) -> Result<(), String> {
        let d = self.client().map_err(|e| e.to_string())?;
        let labels: HashMap<String, String> = [
            (LABEL_MANAGED.to_owned(), "true".to_owned()),
            (LABEL_PACK.to_owned(), b.pack.to_string()),
            (LABEL_TYPE.to_owned(), "pip_builder".to_owned()),
            (LABEL_INSTANCE.to_owned(), self.instance.clone()),
        ]
        .into_iter()
        .collect();
        let memory = 512 * 1024 * 1024;
        let host = locked_down(b.network, "rw,size=256m,nosuid,nodev", memory, b.binds.clone());
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(b.cmd.clone()),
            env: Some(b.env.clone()),
            user: Some("65534:65534".into()),
            working_dir: Some("/tmp".into()),
            labels: Some(labels),
            network_disabled: Some(b.network == "none"),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            host_config: Some(host),
            ..Default::default()
        };
        let name = format!("rumi-pip-{}-{}-{:08x}", b.pack, b.stage, rand::random::<u32>());
        let created = d
            .create_container(Some(CreateContainerOptionsBuilder::new().name(&name).build()), body)
            .await
            .map_err(|e| format!("{}: cannot create the builder container: {e}", b.stage))?;
        let mut guard = RemoveOnDrop {
            docker: d.clone(),
            id: created.id.clone(),
        };
        let attach = AttachContainerOptionsBuilder::new()
            .stream(true)
            .stdout(true)
            .stderr(true)
            .logs(true)
            .build();
        let output = d
            .attach_container(&created.id, Some(attach))
            .await
            .map_err(|e| format!("{}: cannot attach: {e}", b.stage))?
            .output;
        d.start_container(&created.id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
            .map_err(|e| format!("{}: cannot start: {e}", b.stage))?;
        let id = created.id.clone();
        let run = async move {
            let mut output = output;
            let mut log = Vec::new();
            while let Some(chunk) = output.next().await {
                match chunk {
                    Ok(LogOutput::StdOut { message } | LogOutput::StdErr { message }) => {
                        if log.len() < MAX_STDERR_BYTES {
                            log.extend_from_slice(&message);
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            let mut wait = d.wait_container(&id, None::<WaitContainerOptions>);
            let code = match wait.next().await {
                Some(Ok(r)) => r.status_code,
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
                Some(Err(e)) => return Err(format!("wait failed: {e}")),
                None => 0,
            };
            if code == 0 {
                Ok(())
            } else {
                Err(format!(
                    "{} step exited with {code}: {}",
                    b.stage,
                    super::stderr_tail(&log)
                ))
            }
        };
        let result = match tokio::time::timeout(b.timeout, run).await {
            Ok(r) => r,
            Err(_) => {
                kill(d, &created.id).await;
                Err(format!("{} step timed out after {:?}", b.stage, b.timeout))
            }
        };
        guard.id.clear();
        force_remove(d, &created.id).await;
        result
    }
}

/// What a container is created from, and a digest of it: a spare serves only a call whose
/// spec is byte-for-byte the same (image, flags, mounts, sockets, groups, environment).
#[derive(Clone)]
pub struct ContainerSpec {
    pub pack: PackId,
    body: ContainerCreateBody,
    pub digest: String,
}

impl ContainerSpec {
    fn new(pack: PackId, body: ContainerCreateBody) -> Self {
        use sha2::Digest;
        // Through a `Value`, whose maps are sorted: the body's HashMaps (labels, tmpfs, log
        // options) serialize in a random order.
        let bytes = serde_json::to_value(&body)
            .and_then(|v| serde_json::to_vec(&v))
            .unwrap_or_default();
        let digest = hex::encode(sha2::Sha256::digest(&bytes));
        Self { pack, body, digest }
    }
}

/// A created and started container whose runner waits for its one job on stdin.
pub struct Started {
    pub id: String,
    output: std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>,
    input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    guard: RemoveOnDrop,
}

impl Started {
    /// The container id, no longer removed on drop (the caller removes it).
    pub fn disarm(self) -> String {
        let Self { id, mut guard, .. } = self;
        guard.id.clear();
        id
    }
}

/// Creates, attaches to and starts a container of `spec`.
///
/// # Errors
/// [`SandboxError::Internal`] when the engine refuses.
pub async fn start(d: &Docker, spec: &ContainerSpec) -> Result<Started, SandboxError> {
    let name = format!(
        "rumi-pfc-{}-{:012x}",
        spec.pack,
        rand::random::<u64>() & 0xffff_ffff_ffff
    );
    let created = d
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(&name).build()),
            spec.body.clone(),
        )
        .await
        .map_err(|e| SandboxError::Internal(format!("cannot create container: {e}")))?;
    let id = created.id;
    // Removed however this ends: normally, on error, or dropped mid-run because the whole
    // flow timed out.
    let guard = RemoveOnDrop {
        docker: d.clone(),
        id: id.clone(),
    };
    let attach = AttachContainerOptionsBuilder::new()
        .stream(true)
        .stdin(true)
        .stdout(true)
        .stderr(true)
        .logs(true)
        .build();
    let attached = d
        .attach_container(&id, Some(attach))
        .await
        .map_err(|e| SandboxError::Internal(format!("cannot attach: {e}")))?;
    d.start_container(&id, None::<bollard::query_parameters::StartContainerOptions>)
        .await
        .map_err(|e| SandboxError::Internal(format!("cannot start container: {e}")))?;
    Ok(Started {
        id,
        output: attached.output,
        input: attached.input,
        guard,
    })
}

/// Sends the job to a started container, reads its result and removes it.
async fn execute(
    d: &Docker,
    started: Started,
    job: &[u8],
    timeout: Duration,
) -> Result<serde_json::Value, SandboxError> {
    use tokio::io::AsyncWriteExt;
    let Started {
        id,
        output,
        mut input,
        mut guard,
    } = started;
    let send = async {
        input.write_all(job).await?;
        input.flush().await
    };
    let sent = send.await;
    // The write half shares the attach connection with the output stream: it must not keep
    // that connection open once reading stops (Docker cannot finish killing a container
    // while a connection it writes to is left unread).
    drop(input);
    if let Err(e) = sent {
        return Err(SandboxError::Internal(format!(
            "cannot send the job to the container: {e}"
        )));
    }
    let (result, early) = read_result(d, &id, output, timeout).await;
    if early {
        // The result frame is complete: the call returns now, and the container (whose
        // runner is exiting anyway) is killed and removed in the background.
        drop(guard);
    } else {
        guard.id.clear();
        force_remove(d, &id).await;
    }
    result
}

type Output = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// Reads the container's output until its result frame is complete (`true`: the container
/// may still be exiting) or it exits.
async fn read_result(
    d: &Docker,
    id: &str,
    output: Output,
    timeout: Duration,
) -> (Result<serde_json::Value, SandboxError>, bool) {
    // The stream moves into the reader, so it is closed as soon as reading stops: Docker
    // cannot finish killing a container while an attach connection it writes to is left
    // unread.
    let read = async move {
        let mut output = output;
        let mut out = Vec::new();
        let mut err = Vec::new();
        while let Some(chunk) = output.next().await {
            match chunk {
                Ok(LogOutput::StdOut { message }) => {
                    if out.len() + message.len() > MAX_STDOUT_BYTES {
                        return (Err(SandboxError::TooLarge), false);
                    }
                    out.extend_from_slice(&message);
                    if let Some(v) = super::framed_result(&out) {
                        return (Ok(v), true);
                    }
                }
                Ok(LogOutput::StdErr { message }) if err.len() < MAX_STDERR_BYTES => err.extend_from_slice(&message),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let mut wait = d.wait_container(id, None::<WaitContainerOptions>);
        let code = match wait.next().await {
            Some(Ok(r)) => r.status_code,
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => return (Err(SandboxError::Internal(format!("wait failed: {e}"))), false),
            None => 0,
        };
        if code != 0 {
            return (
                Err(SandboxError::Failed {
                    code,
                    stderr: super::stderr_tail(&err),
                }),
                false,
            );
        }
        (Ok(super::parse_output(&out)), false)
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(r) => {
            if matches!(r.0, Err(SandboxError::TooLarge)) {
                kill(d, id).await;
            }
            r
        }
        Err(_) => {
            kill(d, id).await;
            (Err(SandboxError::Timeout(timeout)), false)
        }
    }
}

/// Removes a container, running or not. Returns whether Docker removed it.
async fn force_remove(d: &Docker, id: &str) -> bool {
    d.remove_container(id, Some(RemoveContainerOptionsBuilder::new().force(true).build()))
        .await
        .is_ok()
}

/// Removes every container of `ids`; returns how many Docker removed.
async fn force_remove_all(d: &Docker, ids: impl IntoIterator<Item = String>) -> usize {
    let mut n = 0;
    for id in ids {
        if force_remove(d, &id).await {
            n += 1;
        }
    }
    n
}

async fn kill(d: &Docker, id: &str) {
    let _ = d
        .kill_container(id, Some(KillContainerOptionsBuilder::new().signal("SIGKILL").build()))
        .await;
}
