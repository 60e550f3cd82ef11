//! Strict mode: each block runs in a fresh container, created through the Docker API
//! (bollard) and removed after the run.
//!
//! Flags: `--network=none`, read-only root, tmpfs `/tmp` (64 MiB, noexec, nosuid),
//! `cap-drop ALL`, `no-new-privileges`, user 65534:65534, `--group-add` of the socket
//! groups, memory and swap limit, pids limit, one CPU, a capped log file (output is read
//! from the attach stream, never from the log). Mounts, all read-only except the
//! sockets: the pack at `/pack`, the SDK at `/rumi/sdk`, the input file at
//! `/rumi/input.json`, the pack's data dir at `/data`, pip packages at `/pip-packages`
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
                let _ = docker
                    .remove_container(&id, Some(RemoveContainerOptionsBuilder::new().force(true).build()))
                    .await;
            });
        }
    }
}

/// What a container run needs besides the block.
pub struct Mounts<'a> {
    pub sdk_dir: &'a Path,
    pub work_dir: &'a Path,
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
}

impl DockerRunner {
    /// A runner talking to the engine at `socket` (an explicit path: the environment cannot
    /// redirect it).
    pub fn new(socket: &Path, image: String, home: &Path) -> Self {
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
        let mut n = 0;
        for c in list {
            if let Some(id) = c.id {
                let rm = RemoveContainerOptionsBuilder::new().force(true).build();
                if d.remove_container(&id, Some(rm)).await.is_ok() {
                    n += 1;
                }
            }
        }
        n
    }

    /// Containers Rumi manages right now: `(id, name, pack, state)`.
    pub async fn list(&self) -> Vec<serde_json::Value> {
        let Ok(d) = self.client() else { return Vec::new() };
        let mine = format!("{LABEL_INSTANCE}={}", self.instance);
        let filters: HashMap<&str, Vec<&str>> = [("label", vec!["rumi.managed=true", mine.as_str()])]
            .into_iter()
            .collect();
        let opts = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        d.list_containers(Some(opts))
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                let labels = c.labels.unwrap_or_default();
                serde_json::json!({
                    "id": c.id,
                    "name": c.names.and_then(|n| n.first().cloned()).map(|n| n.trim_start_matches('/').to_owned()),
                    "pack_id": labels.get(LABEL_PACK),
                    "type": labels.get(LABEL_TYPE),
                    "state": c.state.map(|s| s.to_string()),
                })
            })
            .collect()
    }

    /// Removes every container of one pack.
    pub async fn remove_pack(&self, pack: &str) -> usize {
        let Ok(d) = self.client() else { return 0 };
        let label = format!("{LABEL_PACK}={pack}");
        let mine = format!("{LABEL_INSTANCE}={}", self.instance);
        let filters: HashMap<&str, Vec<&str>> = [("label", vec!["rumi.managed=true", label.as_str(), mine.as_str()])]
            .into_iter()
            .collect();
        let opts = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        let mut n = 0;
        for c in d.list_containers(Some(opts)).await.unwrap_or_default() {
            if let Some(id) = c.id
                && d.remove_container(&id, Some(RemoveContainerOptionsBuilder::new().force(true).build()))
                    .await
                    .is_ok()
            {
                n += 1;
            }
        }
        n
    }

    /// Runs one block in a fresh container.
    ///
    /// # Errors
    /// [`SandboxError`] for a missing engine, timeouts, oversize output or a failing block.
    pub async fn run(&self, block: &BlockRun, m: &Mounts<'_>) -> Result<serde_json::Value, SandboxError> {
        self.available().await.map_err(SandboxError::DockerRequired)?;
        let d = self.client()?;
        let file_in = Path::new("/pack").join(&block.file_rel);
        let (_dir, input) = super::write_input(m.work_dir, &file_in.display().to_string(), block)
            .map_err(|e| SandboxError::Internal(format!("cannot write input: {e}")))?;
        let name = format!(
            "rumi-pfc-{}-{:012x}",
            block.pack,
            rand::random::<u64>() & 0xffff_ffff_ffff
        );
        let mut binds = vec![
            format!("{}:/pack:ro", block.pack_dir.display()),
            format!("{}:/rumi/sdk:ro", m.sdk_dir.display()),
            format!("{}:/rumi/input.json:ro", input.display()),
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
            "RUMI_RUNNER_INPUT=/rumi/input.json".to_owned(),
            format!("RUMI_PACK_ID={}", block.pack),
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
            (LABEL_PACK.to_owned(), block.pack.to_string()),
            (LABEL_TYPE.to_owned(), "python_file_call".to_owned()),
            (LABEL_INSTANCE.to_owned(), self.instance.clone()),
        ]
        .into_iter()
        .collect();
        let host = HostConfig {
            network_mode: Some("none".into()),
            readonly_rootfs: Some(true),
            tmpfs: Some(
                [("/tmp".to_owned(), "rw,size=64m,noexec,nosuid,nodev".to_owned())]
                    .into_iter()
                    .collect(),
            ),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            memory: Some(MEMORY_BYTES),
            memory_swap: Some(MEMORY_BYTES),
            pids_limit: Some(PIDS_LIMIT),
            nano_cpus: Some(1_000_000_000),
            binds: Some(binds),
            group_add: Some(m.group_add.iter().map(ToString::to_string).collect()),
            // Output is read from the attach stream; the log file is capped so a chatty block
            // cannot fill the disk (the "none" driver cannot be attached to with logs).
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
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(vec!["python3".into(), "-B".into(), "/rumi/sdk/_rumi_runner.py".into()]),
            env: Some(env),
            user: Some("65534:65534".into()),
            working_dir: Some("/pack".into()),
            labels: Some(labels),
            network_disabled: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            host_config: Some(host),
            ..Default::default()
        };
        let created = d
            .create_container(Some(CreateContainerOptionsBuilder::new().name(&name).build()), body)
            .await
            .map_err(|e| SandboxError::Internal(format!("cannot create container: {e}")))?;
        let id = created.id;
        // Removed however this future ends: normally, on error, or dropped mid-run because
        // the whole flow timed out.
        let mut guard = RemoveOnDrop {
            docker: d.clone(),
            id: id.clone(),
        };
        let result = self.attach_and_run(d, &id, block.timeout).await;
        // Normal path: remove now, so the container is gone when the call returns.
        guard.id.clear();
        let _ = d
            .remove_container(&id, Some(RemoveContainerOptionsBuilder::new().force(true).build()))
            .await;
        result
    }

    async fn attach_and_run(&self, d: &Docker, id: &str, timeout: Duration) -> Result<serde_json::Value, SandboxError> {
        let attach = AttachContainerOptionsBuilder::new()
            .stream(true)
            .stdout(true)
            .stderr(true)
            .logs(true)
            .build();
        let output = d
            .attach_container(id, Some(attach))
            .await
            .map_err(|e| SandboxError::Internal(format!("cannot attach: {e}")))?
            .output;
        d.start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
            .map_err(|e| SandboxError::Internal(format!("cannot start container: {e}")))?;
        // The stream moves into the reader, so it is closed as soon as reading stops: Docker
        // cannot finish killing a container while an attach connection it writes to is
        // left unread.
        let read = async move {
            let mut output = output;
            let mut out = Vec::new();
            let mut err = Vec::new();
            while let Some(chunk) = output.next().await {
                match chunk {
                    Ok(LogOutput::StdOut { message }) => {
                        if out.len() + message.len() > MAX_STDOUT_BYTES {
                            return Err(SandboxError::TooLarge);
                        }
                        out.extend_from_slice(&message);
                    }
                    Ok(LogOutput::StdErr { message }) if err.len() < MAX_STDERR_BYTES => {
                        err.extend_from_slice(&message)
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            let mut wait = d.wait_container(id, None::<WaitContainerOptions>);
            let code = match wait.next().await {
                Some(Ok(r)) => r.status_code,
                // bollard reports a non-zero exit as an error carrying the code.
                Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
                Some(Err(e)) => return Err(SandboxError::Internal(format!("wait failed: {e}"))),
                None => 0,
            };
            if code != 0 {
                return Err(SandboxError::Failed {
                    code,
                    stderr: super::stderr_tail(&err),
                });
            }
            Ok(super::parse_output(&out))
        };
        match tokio::time::timeout(timeout, read).await {
            Ok(r) => {
                if matches!(r, Err(SandboxError::TooLarge)) {
                    let _ = d
                        .kill_container(id, Some(KillContainerOptionsBuilder::new().signal("SIGKILL").build()))
                        .await;
                }
                r
            }
            Err(_) => {
                let _ = d
                    .kill_container(id, Some(KillContainerOptionsBuilder::new().signal("SIGKILL").build()))
                    .await;
                Err(SandboxError::Timeout(timeout))
            }
        }
    }
}
