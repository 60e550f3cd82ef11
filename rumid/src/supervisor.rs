//! Supervision of the helper daemons and the control connection to each.
//!
//! In spawn mode (standalone rumid) each helper is a child process started with a clean
//! environment (an explicit allowlist of variables), restarted with jittered exponential
//! backoff when it dies, and health-checked every second. In external mode (systemd runs
//! the helpers) the same loop only connects and reconnects. After every (re)connect the
//! latest policy is pushed before anything else, and the helper's audit stream is consumed
//! into rumid's audit log. A helper holds no policy until the push, so a restarted helper
//! serves nothing in between (fail closed).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use rumi_proto::control::helper_client::HelperClient;
use rumi_proto::control::{AuditRecord, AuditStreamRequest, HealthRequest, PolicySnapshot};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tonic::transport::{Channel, Endpoint};
use tracing::Instrument;

use crate::audit::{Audit, AuditEvent, Category, Severity};
use crate::config::HelperMode;

/// First restart delay; doubles per failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// A helper up this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How long a freshly started helper may take to open its control socket, and then to
/// install its first policy (a loaded machine starting many processes at once can take
/// seconds; a restart for that would only add to the load).
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);
/// Health-check period and per-call timeout.
const HEALTH_PERIOD: Duration = Duration::from_secs(1);
const RPC_TIMEOUT: Duration = Duration::from_secs(2);

/// How to run and reach one helper.
#[derive(Debug, Clone)]
pub struct HelperSpec {
    pub name: &'static str,
    pub binary: PathBuf,
    pub control_socket: PathBuf,
    /// The child's whole environment (spawn mode).
    pub env: Vec<(String, String)>,
    pub mode: HelperMode,
}

/// What `/api/health` reports per helper.
#[derive(Debug, Clone, Serialize)]
pub struct HelperStatus {
    pub state: &'static str,
    pub pid: Option<u32>,
    pub policy_version: u64,
    pub restarts: u32,
    pub last_error: Option<String>,
}

impl HelperStatus {
    /// Whether the helper is connected and holds the policy.
    pub fn is_up(&self) -> bool {
        self.state == "up"
    }
}

/// Handle to a running supervisor.
#[derive(Clone)]
pub struct SupervisorHandle {
    pub name: &'static str,
    pub status: Arc<ArcSwap<HelperStatus>>,
    /// The control channel while the helper is up (for admin calls such as secrets).
    pub channel: Arc<arc_swap::ArcSwapOption<Channel>>,
}

impl SupervisorHandle {
    /// The channel to the helper, if it is up.
    ///
    /// # Errors
    /// [`crate::error::Error::HelperUnavailable`] while it is down or restarting.
    pub fn channel(&self) -> Result<Channel, crate::error::Error> {
        self.channel
            .load_full()
            .map(|c| (*c).clone())
            .ok_or(crate::error::Error::HelperUnavailable { helper: self.name })
    }
}

/// Starts supervising `spec`; the task runs until the runtime shuts down.
pub fn spawn(spec: HelperSpec, policy: watch::Receiver<Arc<PolicySnapshot>>, audit: Audit) -> SupervisorHandle {
    let status = Arc::new(ArcSwap::from_pointee(HelperStatus {
        state: "starting",
        pid: None,
        policy_version: 0,
        restarts: 0,
        last_error: None,
    }));
    let channel = Arc::new(arc_swap::ArcSwapOption::empty());
    let handle = SupervisorHandle {
        name: spec.name,
        status: status.clone(),
        channel: channel.clone(),
    };
    let span = tracing::info_span!("helper", helper = spec.name);
    tokio::spawn(supervise(spec, policy, audit, status, channel).instrument(span));
    handle
}

async fn supervise(
    spec: HelperSpec,
    mut policy: watch::Receiver<Arc<PolicySnapshot>>,
    audit: Audit,
    status: Arc<ArcSwap<HelperStatus>>,
    channel: Arc<arc_swap::ArcSwapOption<Channel>>,
) {
    let mut backoff = MIN_BACKOFF;
    let mut restarts = 0u32;
    loop {
        let started = Instant::now();
        let mut child = match spec.mode {
            HelperMode::Spawn => match start_child(&spec) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::error!(error = %e, binary = %spec.binary.display(), "cannot start helper");
                    set_down(&status, restarts, None, format!("cannot start: {e}"));
                    tokio::time::sleep(MAX_BACKOFF).await;
                    continue;
                }
            },
            HelperMode::External => None,
        };
        let pid = child.as_ref().and_then(Child::id);
        let outcome = run_connected(&spec, &mut child, &mut policy, &audit, &status, &channel, restarts).await;
        channel.store(None);
        if let Some(mut c) = child.take() {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
        tracing::warn!(reason = %outcome, ?pid, "helper down");
        set_down(&status, restarts, None, outcome.clone());
        if restarts > 0 || spec.mode == HelperMode::Spawn {
            audit
                .record(
                    AuditEvent::new(Category::System, "helper_down")
                        .failed(Severity::Error, "helper_down", outcome)
                        .detail("helper", spec.name),
                )
                .await;
        }
        if started.elapsed() > STABLE_AFTER {
            backoff = MIN_BACKOFF;
        }
        let jitter = Duration::from_millis(rand::random::<u64>() % (backoff.as_millis() as u64 / 2 + 1));
        tokio::time::sleep(backoff + jitter).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        restarts += 1;
    }
}

fn set_down(status: &ArcSwap<HelperStatus>, restarts: u32, pid: Option<u32>, error: String) {
    status.store(Arc::new(HelperStatus {
        state: "down",
        pid,
        policy_version: 0,
        restarts,
        last_error: Some(error),
    }));
}

fn start_child(spec: &HelperSpec) -> std::io::Result<Child> {
    let mut cmd = Command::new(&spec.binary);
    cmd.env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let child = cmd.spawn()?;
    tracing::info!(pid = child.id(), "helper started");
    Ok(child)
}

/// Connects, pushes policy, and serves until something fails. Returns why it stopped.
async fn run_connected(
    spec: &HelperSpec,
    child: &mut Option<Child>,
    policy: &mut watch::Receiver<Arc<PolicySnapshot>>,
    audit: &Audit,
    status: &ArcSwap<HelperStatus>,
    shared: &arc_swap::ArcSwapOption<Channel>,
    restarts: u32,
) -> String {
    let channel = match connect(spec, child).await {
        Ok(c) => c,
        Err(e) => return e,
    };
    let mut client = HelperClient::new(channel.clone());
    let snapshot = policy.borrow_and_update().clone();
    if let Err(e) = push(&mut client, &snapshot, CONNECT_DEADLINE).await {
        return e;
    }
    let audit_task = tokio::spawn(consume_audit(client.clone(), audit.clone(), spec.name));
    shared.store(Some(Arc::new(channel)));
    let pid = child.as_ref().and_then(Child::id);
    status.store(Arc::new(HelperStatus {
        state: "up",
        pid,
        policy_version: snapshot.version,
        restarts,
        last_error: None,
    }));
    tracing::info!(?pid, policy_version = snapshot.version, "helper up; policy pushed");
    let mut misses = 0;
    let reason = loop {
        tokio::select! {
            exit = wait_child(child) => break format!("process exited: {exit}"),
            changed = policy.changed() => {
                if changed.is_err() {
                    break "policy channel closed".to_owned();
                }
                let snapshot = policy.borrow_and_update().clone();
                if let Err(e) = push(&mut client, &snapshot, RPC_TIMEOUT).await {
                    break e;
                }
                let mut s = (**status.load()).clone();
                s.policy_version = snapshot.version;
                status.store(Arc::new(s));
            }
            () = tokio::time::sleep(HEALTH_PERIOD) => {
                match tokio::time::timeout(RPC_TIMEOUT, client.health(HealthRequest {})).await {
                    Ok(Ok(reply)) if reply.get_ref().has_policy => misses = 0,
                    Ok(Ok(_)) => break "helper lost its policy".to_owned(),
                    _ => {
                        misses += 1;
                        if misses >= 2 {
                            break "health check failed twice".to_owned();
                        }
                    }
                }
            }
        }
    };
    audit_task.abort();
    reason
}

async fn wait_child(child: &mut Option<Child>) -> String {
    match child {
        Some(c) => match c.wait().await {
            Ok(s) => s.to_string(),
            Err(e) => e.to_string(),
        },
        None => std::future::pending().await,
    }
}

async fn connect(spec: &HelperSpec, child: &mut Option<Child>) -> Result<Channel, String> {
    let uri = format!("unix://{}", spec.control_socket.display());
    let endpoint = Endpoint::from_shared(uri).map_err(|e| format!("bad control socket path: {e}"))?;
    let deadline = Instant::now() + CONNECT_DEADLINE;
    loop {
        if let Some(c) = child.as_mut()
            && let Ok(Some(exit)) = c.try_wait()
        {
            return Err(format!("process exited during start: {exit}"));
        }
        match endpoint.connect().await {
            Ok(ch) => return Ok(ch),
            Err(e) if Instant::now() > deadline => return Err(format!("cannot connect: {e}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn push(client: &mut HelperClient<Channel>, snapshot: &PolicySnapshot, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, client.push_policy(snapshot.clone())).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(status)) => Err(format!("policy push refused: {}", status.message())),
        Err(_) => Err("policy push timed out".to_owned()),
    }
}

async fn consume_audit(mut client: HelperClient<Channel>, audit: Audit, helper: &'static str) {
    let Ok(resp) = client.audit_stream(AuditStreamRequest {}).await else {
        return;
    };
    let mut stream = resp.into_inner();
    while let Ok(Some(record)) = stream.message().await {
        audit.record(to_event(record, helper)).await;
    }
}

/// Turns a helper's record into an audit event; unknown categories are recorded as security.
fn to_event(r: AuditRecord, helper: &str) -> AuditEvent {
    let category = Category::parse(&r.category).unwrap_or(Category::Security);
    let mut ev = AuditEvent::new(category, r.action);
    ev.severity = Severity::parse(&r.severity);
    ev.success = r.success;
    if !r.owner_pack.is_empty() {
        ev.owner_pack = Some(r.owner_pack);
    }
    if let Ok(Value::Object(details)) = serde_json::from_str::<Value>(&r.details_json) {
        ev.details = details;
    } else {
        ev.details = Map::new();
    }
    ev.details.insert("helper".into(), Value::String(helper.to_owned()));
    // The helper's own clock goes in the details; the file name always comes from rumid's.
    ev.details.insert("helper_ts".into(), Value::String(r.ts));
    let nonempty = |s: String| (!s.is_empty()).then_some(s);
    ev.error = nonempty(r.error);
    ev.error_type = nonempty(r.error_type);
    ev.rejection_reason = nonempty(r.rejection_reason);
    ev
}
