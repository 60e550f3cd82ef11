//! The container backend: each run in a container of its own, created through the Docker
//! API (bollard) from a [`RunSpec`] and removed after its one job. The engine is Docker (with
//! runc, or gVisor's `runsc` as `RUMI_DOCKER_RUNTIME`) or Podman's Docker-compatible API
//! (`podman system service`, which needs no root-equivalent `docker` group). The job goes to
//! the runner on stdin, so a container can be started before its job is known: a pristine
//! spare ([`spares`]).
//!
//! Flags: `--network=none` (bridge only for the pip download builder), read-only root, tmpfs
//! `/tmp` (`noexec` for blocks) and a small `/dev/shm`, `cap-drop ALL`, `no-new-privileges`,
//! the pack's own uid, `--group-add` of the socket groups, memory and swap limit, pids limit,
//! nofile limit, one CPU, a capped log file (output is read from the attach stream, never from
//! the log). Mounts are the spec's, read-only unless the spec says otherwise, plus only this
//! pack's two sockets. Containers carry `rumi.managed=true`, `rumi.pack_id`, `rumi.type` and
//! `rumi.instance` (one per home) labels; this instance's leftovers from a crash are removed
//! at start.
//!
//! Docker 20.10 speaks API 1.41; bollard 0.21 sends unversioned paths, so the engine answers
//! at its own version. rumid logs the engine version at start and refuses below 1.41.

pub mod spares;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig, ResourcesUlimits};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, WaitContainerOptions,
};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use rumi_common::ids::PackId;
use serde_json::Value;

use self::spares::Spares;
use super::{Backend, Collector, Network, RunOutput, RunSpec, SandboxError};

/// Label on every container Rumi creates.
pub const LABEL_MANAGED: &str = "rumi.managed";
pub const LABEL_PACK: &str = "rumi.pack_id";
pub const LABEL_TYPE: &str = "rumi.type";
/// Which Rumi home a container belongs to (several homes may share one engine; each cleans
/// up only its own containers).
pub const LABEL_INSTANCE: &str = "rumi.instance";
/// Size of `/dev/shm` (writable, so bounded; Docker's default is 64 MiB).
const SHM_BYTES: i64 = 8 * 1024 * 1024;
/// How long availability answers are reused.
const AVAILABILITY_TTL: Duration = Duration::from_secs(10);
/// Docker API timeout.
const API_TIMEOUT_SECS: u64 = 120;

/// Which engine answers on the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Docker,
    Podman,
}

/// The engine that answered, with its description, or why none did.
type EngineCheck = Result<(Engine, String), String>;

/// A client of the engine at `socket`, if the socket exists.
fn connect(socket: &Path) -> Option<Docker> {
    Docker::connect_with_socket(
        &socket.display().to_string(),
        API_TIMEOUT_SECS,
        bollard::API_DEFAULT_VERSION,
    )
    .ok()
}

/// Force-removes a container when dropped (from a spawned task: `Drop` cannot await).
struct RemoveOnDrop {
    docker: Docker,
    id: String,
}

/// How long a block's container whose result frame is complete may take to exit by itself
/// (its runner ends the process right after the frame; a block that wrote a frame itself and
/// goes on is killed after this).
pub const RETIRE_GRACE: Duration = Duration::from_millis(500);

impl RemoveOnDrop {
    /// Removes the container in the background once it has exited by itself, or kills it
    /// after [`RETIRE_GRACE`]: letting a finished runner exit and then removing its container
    /// costs the engine about 20 ms less CPU than killing it while it exits (measured in
    /// docs/performance.md).
    /// `hold` (the pack's container slot) is kept until the container has exited (or is gone,
    /// when it had to be killed): a block that sends its result and goes on running still
    /// counts against the pack's share.
    fn retire(mut self, hold: Option<super::Hold>) {
        let docker = self.docker.clone();
        let id = std::mem::take(&mut self.id);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let mut wait = docker.wait_container(&id, None::<WaitContainerOptions>);
                // Only the engine saying the container has stopped counts (bollard reports a
                // non-zero exit as an error carrying the code); a failed or cut wait does not.
                let exited = matches!(
                    tokio::time::timeout(RETIRE_GRACE, wait.next()).await,
                    Ok(Some(
                        Ok(_) | Err(bollard::errors::Error::DockerContainerWaitError { .. })
                    ))
                );
                drop(wait);
                let mut hold = hold;
                if exited {
                    // Nothing of the pack runs any more: its slot is free before the removal.
                    hold = None;
                }
                force_remove(&docker, &id).await;
                drop(hold);
            });
        }
    }
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

/// The container backend.
pub struct DockerBackend {
    /// The client, made once the socket exists: bollard refuses a socket path that does not
    /// exist yet, and an engine started after rumid must still be found.
    docker: std::sync::OnceLock<Docker>,
    socket: PathBuf,
    image: String,
    /// The OCI runtime (`runsc`), or the engine's default.
    runtime: Option<String>,
    /// Value of the `rumi.instance` label: derived from the home's path.
    instance: String,
    checked: std::sync::Mutex<Option<(Instant, EngineCheck)>>,
    /// Pristine spare containers.
    spares: Arc<Spares>,
    /// Rumi's seccomp profile as a file (for Podman).
    profile: PathBuf,
}

// === impl DockerBackend ===

impl DockerBackend {
    /// A backend talking to the engine at `socket` (an explicit path: the environment cannot
    /// redirect it).
    pub fn new(socket: &Path, image: String, runtime: Option<String>, home: &Path, spares: Arc<Spares>) -> Self {
        use sha2::Digest;
        let instance = hex::encode(&sha2::Sha256::digest(home.as_os_str().as_encoded_bytes())[..8]);
        let docker = std::sync::OnceLock::new();
        if let Some(d) = connect(socket) {
            let _ = docker.set(d);
        }
        Self {
            docker,
            socket: socket.to_path_buf(),
            image,
            runtime,
            instance,
            checked: std::sync::Mutex::new(None),
            spares,
            profile: home.join("user_data/run/seccomp-profile.json"),
        }
    }

    /// The image containers are created from.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// Whether the engine answers, which engine it is, with its version (cached briefly).
    async fn engine(&self) -> EngineCheck {
        if let Some((at, r)) = self.checked.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
            && at.elapsed() < AVAILABILITY_TTL
        {
            return r.clone();
        }
        if self.docker.get().is_none()
            && let Some(d) = connect(&self.socket)
        {
            let _ = self.docker.set(d);
        }
        let r = match self.docker.get() {
            None => Err(format!("cannot use the Docker socket {}", self.socket.display())),
            Some(d) => match d.version().await {
                Ok(v) => {
                    let api = v.api_version.clone().unwrap_or_default();
                    let ok = api
                        .split('.')
                        .nth(1)
                        .and_then(|m| m.parse::<u32>().ok())
                        .is_some_and(|m| m >= 41);
                    let podman = v
                        .components
                        .iter()
                        .flatten()
                        .any(|c| c.name.to_ascii_lowercase().contains("podman"));
                    let (engine, name) = if podman {
                        (Engine::Podman, "Podman")
                    } else {
                        (Engine::Docker, "Docker")
                    };
                    if podman {
                        let bytes = super::seccomp::engine_profile().to_string();
                        if let Err(e) = rumi_common::fs::write_atomic(&self.profile, bytes.as_bytes(), 0o644) {
                            return Err(format!(
                                "cannot write the seccomp profile {}: {e}",
                                self.profile.display()
                            ));
                        }
                    }
                    if ok {
                        Ok((engine, format!("{name} {} (API {api})", v.version.unwrap_or_default())))
                    } else {
                        Err(format!("{name} API {api} is older than 1.41"))
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
            .get()
            .ok_or_else(|| SandboxError::DockerRequired("no Docker client".into()))
    }

    fn labels(&self, spec: &RunSpec) -> HashMap<String, String> {
        [
            (LABEL_MANAGED.to_owned(), "true".to_owned()),
            (LABEL_PACK.to_owned(), spec.pack.to_string()),
            (LABEL_TYPE.to_owned(), spec.purpose.label().to_owned()),
            (LABEL_INSTANCE.to_owned(), self.instance.clone()),
        ]
        .into_iter()
        .collect()
    }

    /// The create request of a run: everything but the job (which arrives on stdin), so a
    /// cold run and a spare of the same spec are the same container.
    fn container_spec(&self, spec: &RunSpec, engine: Engine) -> ContainerSpec {
        let mut binds: Vec<String> = spec
            .mounts
            .iter()
            .map(|m| {
                format!(
                    "{}:{}:{}",
                    m.host.display(),
                    m.target,
                    if m.writable { "rw" } else { "ro" }
                )
            })
            .collect();
        binds.extend(
            spec.sockets
                .iter()
                .map(|(host, inside)| format!("{}:{inside}", host.display())),
        );
        let mut tmp = format!("rw,size={},nosuid,nodev", spec.limits.tmp_bytes);
        if !spec.limits.tmp_exec {
            tmp.push_str(",noexec");
        }
        let memory = i64::try_from(spec.limits.memory_bytes).unwrap_or(i64::MAX);
        let nofile = i64::try_from(spec.limits.nofile).unwrap_or(1024);
        let mut ulimits = vec![ResourcesUlimits {
            name: Some("nofile".into()),
            soft: Some(nofile),
            hard: Some(nofile),
        }];
        if engine == Engine::Podman {
            // Podman's default nproc limit can exceed the host's hard limit (setrlimit then
            // fails with EPERM and nothing starts); the pids limit is what bounds a run.
            let nproc = i64::try_from(spec.limits.pids * 16).unwrap_or(4096);
            ulimits.push(ResourcesUlimits {
                name: Some("nproc".into()),
                soft: Some(nproc),
                hard: Some(nproc),
            });
        }
        let mut security = vec!["no-new-privileges".to_owned()];
        if engine == Engine::Podman {
            // Podman's default seccomp profile lets a container create user namespaces (a
            // large kernel attack surface); Rumi's own profile refuses them, as Docker's does.
            // Podman takes it as a file.
            security.push(format!("seccomp={}", self.profile.display()));
        }
        let network = match spec.network {
            Network::None => "none",
            Network::Download => "bridge",
        };
        let host = HostConfig {
            network_mode: Some(network.to_owned()),
            readonly_rootfs: Some(true),
            tmpfs: Some([("/tmp".to_owned(), tmp)].into_iter().collect()),
            shm_size: Some(SHM_BYTES),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(security),
            memory: Some(memory),
            memory_swap: Some(memory),
            pids_limit: Some(i64::try_from(spec.limits.pids).unwrap_or(100)),
            nano_cpus: Some(i64::try_from(spec.limits.cpu_millis).unwrap_or(1000) * 1_000_000),
            ulimits: Some(ulimits),
            binds: Some(binds),
            group_add: Some(spec.groups.iter().map(ToString::to_string).collect()),
            runtime: self.runtime.clone(),
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
        };
        let stdin = spec.purpose != super::Purpose::PipBuilder;
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(spec.argv.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            user: Some(format!("{0}:{0}", spec.uid)),
            working_dir: Some(spec.workdir.clone()),
            labels: Some(self.labels(spec)),
            network_disabled: Some(spec.network == Network::None),
            attach_stdin: Some(stdin),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            open_stdin: Some(stdin),
            stdin_once: Some(stdin),
            host_config: Some(host),
            ..Default::default()
        };
        ContainerSpec::new(spec.pack.clone(), spec.purpose.label(), body)
    }

    async fn list_mine(&self, extra: Option<String>) -> Vec<bollard::models::ContainerSummary> {
        let Ok(d) = self.client() else { return Vec::new() };
        let mine = format!("{LABEL_INSTANCE}={}", self.instance);
        let mut labels = vec!["rumi.managed=true".to_owned(), mine];
        labels.extend(extra);
        let label_refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        let filters: HashMap<&str, Vec<&str>> = [("label", label_refs)].into_iter().collect();
        let opts = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        d.list_containers(Some(opts)).await.unwrap_or_default()
    }
}

impl Backend for DockerBackend {
    fn name(&self) -> String {
        let engine = self
            .checked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|(_, r)| r.as_ref().ok().map(|(e, _)| *e));
        let base = if engine == Some(Engine::Podman) {
            "podman"
        } else {
            "docker"
        };
        match &self.runtime {
            Some(rt) => format!("{base}/{rt}"),
            None => base.to_owned(),
        }
    }

    fn execution_mode(&self) -> &'static str {
        if self.runtime.as_deref() == Some("runsc") {
            "container_gvisor"
        } else {
            "container"
        }
    }

    fn maps_paths(&self) -> bool {
        true
    }

    fn runs_as_pack_uid(&self) -> bool {
        true
    }

    fn check(&self) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            let (_, v) = self.engine().await?;
            Ok(match &self.runtime {
                Some(rt) => format!("{v}, runtime {rt}"),
                None => v,
            })
        })
    }

    fn run<'a>(
        &'a self,
        spec: &'a RunSpec,
        stdin: Vec<u8>,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<RunOutput, SandboxError>> {
        Box::pin(async move {
            let (engine, _) = self.engine().await.map_err(SandboxError::DockerRequired)?;
            let d = self.client()?;
            let cspec = self.container_spec(spec, engine);
            let mut active = self.spares.enter();
            let t0 = Instant::now();
            let claimed = if spec.warm {
                self.spares.claim(&cspec).await
            } else {
                None
            };
            let spare = claimed.is_some();
            if spare {
                self.spares.replace_claimed(&mut active, d, &cspec);
            }
            let started = match claimed {
                Some(s) => s,
                None => start(d, &cspec).await?,
            };
            let t1 = t0.elapsed();
            // Only a block's container may finish exiting after its result: a lib script's
            // must be gone before its data directory is cleaned up.
            let retire = spec.purpose == super::Purpose::Block;
            let result = execute(d, started, &stdin, timeout, spec.hold.clone(), retire).await;
            tracing::debug!(
                pack = %spec.pack,
                spare,
                start_ms = t1.as_secs_f64() * 1e3,
                total_ms = t0.elapsed().as_secs_f64() * 1e3,
                "ran in a container"
            );
            // Replacements not started beside the call start after it (no longer counted as
            // running), when the CPU has room for them.
            drop(active);
            if spec.warm {
                self.spares.refill(d, &cspec);
            }
            result
        })
    }

    fn warm(&self, spec: &RunSpec) {
        let Ok(d) = self.client() else { return };
        let engine = self
            .checked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|(_, r)| r.as_ref().ok().map(|(e, _)| *e))
            .unwrap_or(Engine::Docker);
        self.spares.refill(d, &self.container_spec(spec, engine));
    }

    fn list(&self) -> BoxFuture<'_, Vec<Value>> {
        Box::pin(async move {
            let spares = self.spares.ids();
            self.list_mine(None)
                .await
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
        })
    }

    fn stop_pack<'a>(&'a self, pack: &'a str) -> BoxFuture<'a, usize> {
        Box::pin(async move {
            let spares = self.spares.take_pack(pack);
            let Ok(d) = self.client() else { return 0 };
            let mut n = force_remove_all(d, spares.into_iter().map(Started::disarm)).await;
            let listed = self.list_mine(Some(format!("{LABEL_PACK}={pack}"))).await;
            n += force_remove_all(d, listed.into_iter().filter_map(|c| c.id)).await;
            n
        })
    }

    fn flush(&self) -> usize {
        self.spares.flush_all()
    }

    fn remove_leftovers(&self) -> BoxFuture<'_, usize> {
        Box::pin(async move {
            let Ok(d) = self.client() else { return 0 };
            let list = self.list_mine(None).await;
            force_remove_all(d, list.into_iter().filter_map(|c| c.id)).await
        })
    }

    fn shutdown(&self) -> BoxFuture<'_, usize> {
        Box::pin(async move {
            let Ok(d) = self.client() else { return 0 };
            // No spare starts any more; those still being created are given up: when they
            // come up, they are removed.
            self.spares.close();
            let mut n = force_remove_all(d, self.spares.take_all().into_iter().map(Started::disarm)).await;
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.spares.starting() > 0 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Whatever is left of this instance (containers of runs cut short, spares whose
            // creation raced the stop, removals still running in background tasks, which the
            // runtime will cancel once rumid returns): removed until none is listed.
            loop {
                let list = self.list_mine(None).await;
                if list.is_empty() || Instant::now() >= deadline {
                    break;
                }
                n += force_remove_all(d, list.into_iter().filter_map(|c| c.id)).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            n
        })
    }

    fn spares(&self) -> Option<Value> {
        Some(self.spares.summary())
    }
}

/// What a container is created from, and a digest of it: a spare serves only a call whose
/// spec is byte-for-byte the same (image, flags, mounts, sockets, groups, environment).
#[derive(Clone)]
pub struct ContainerSpec {
    pub pack: PackId,
    kind: &'static str,
    body: ContainerCreateBody,
    pub digest: String,
}

impl ContainerSpec {
    fn new(pack: PackId, kind: &'static str, body: ContainerCreateBody) -> Self {
        use sha2::Digest;
        // Through a `Value`, whose maps are sorted: the body's HashMaps (labels, tmpfs, log
        // options) serialize in a random order.
        let bytes = serde_json::to_value(&body)
            .and_then(|v| serde_json::to_vec(&v))
            .unwrap_or_default();
        let digest = hex::encode(sha2::Sha256::digest(&bytes));
        Self {
            pack,
            kind,
            body,
            digest,
        }
    }
}

/// A created and started container whose runner waits for its one job on stdin.
pub struct Started {
    pub id: String,
    output: Output,
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
    let short = match spec.kind {
        "python_file_call" => "pfc",
        "lib_script" => "lib",
        _ => "pip",
    };
    let name = format!(
        "rumi-{short}-{}-{:012x}",
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
    let stdin = spec.body.open_stdin == Some(true);
    let attach = AttachContainerOptionsBuilder::new()
        .stream(true)
        .stdin(stdin)
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

/// Sends the job to a started container, reads its output and removes it.
async fn execute(
    d: &Docker,
    started: Started,
    job: &[u8],
    timeout: Duration,
    hold: Option<super::Hold>,
    retire: bool,
) -> Result<RunOutput, SandboxError> {
    use tokio::io::AsyncWriteExt;
    let Started {
        id,
        output,
        mut input,
        mut guard,
    } = started;
    let sent = if job.is_empty() {
        Ok(())
    } else {
        async {
            input.write_all(job).await?;
            input.flush().await
        }
        .await
    };
    // The write half shares the attach connection with the output stream: it must not keep
    // that connection open once reading stops (Docker cannot finish killing a container
    // while a connection it writes to is left unread).
    drop(input);
    if let Err(e) = sent {
        return Err(SandboxError::Internal(format!(
            "cannot send the job to the container: {e}"
        )));
    }
    let (result, early) = read_output(d, &id, output, timeout).await;
    if early && retire {
        // The result frame is complete: the call returns now, and the container (whose
        // runner is exiting) is removed in the background once it has exited.
        guard.retire(hold);
    } else {
        // Ended, or a lib script's or builder's result: removed (killed if need be) before the
        // call returns, since what follows (the data directory's clean-up) needs it gone.
        guard.id.clear();
        force_remove(d, &id).await;
    }
    result
}

type Output = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// Reads the container's output until its result frame is complete (`true`: the container
/// may still be exiting) or it exits.
async fn read_output(
    d: &Docker,
    id: &str,
    output: Output,
    timeout: Duration,
) -> (Result<RunOutput, SandboxError>, bool) {
    // The stream moves into the reader, so it is closed as soon as reading stops: Docker
    // cannot finish killing a container while an attach connection it writes to is left
    // unread.
    let read = async move {
        let mut output = output;
        let mut c = Collector::default();
        while let Some(chunk) = output.next().await {
            match chunk {
                Ok(LogOutput::StdOut { message }) => match c.stdout(&message) {
                    Ok(Some(v)) => return (Ok(c.finish(Some(v), None)), true),
                    Ok(None) => {}
                    Err(e) => return (Err(e), false),
                },
                Ok(LogOutput::StdErr { message }) => c.stderr(&message),
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
        (Ok(c.finish(None, Some(code))), false)
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
/// Kills and removes a container; `true` when it is gone. An engine that refuses for a moment
/// (Podman answers 500 while the container is still being stopped or cleaned up under load) is
/// asked again with back-off for about 15 s, so that no container of a run is left behind.
async fn force_remove(d: &Docker, id: &str) -> bool {
    let mut pause = Duration::from_millis(100);
    for attempt in 0..8 {
        match d
            .remove_container(id, Some(RemoveContainerOptionsBuilder::new().force(true).build()))
            .await
        {
            Ok(()) => return true,
            // Gone already (removed by the engine's auto-remove or an earlier attempt).
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => return attempt > 0,
            Err(e) => {
                tracing::debug!(container = id, attempt, error = %e, "container removal refused; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(4));
            }
        }
    }
    tracing::warn!(
        container = id,
        "could not remove a container; it is removed at the next start"
    );
    false
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
