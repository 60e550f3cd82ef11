//! Supervision of the helper daemons and the control connection to each.
//!
//! In spawn mode (standalone rumid) each helper is a child process started with a clean
//! environment (an explicit allowlist of variables), restarted with jittered exponential
//! backoff when it dies, and health-checked every second. In external mode (systemd runs
//! the helpers) the same loop only connects and reconnects. After every (re)connect the
//! latest policy is pushed before anything else, and the helper's audit stream is consumed
//! into rumid's audit log. A helper holds no policy until the push, so a restarted helper
//! serves nothing in between (fail closed).
//!
//! Every connection starts with `Hello`: the helper proves it holds this instance's control
//! key ([`rumi_common::control_key`]) and rumid then sends the derived token with every
//! call ([`ControlChannel`]). A helper that cannot prove it belongs to another instance:
//! nothing is pushed or sent to it, the helper is reported down with `RUMI-INST-002`, and
//! the connect is retried with backoff (the rightful helper may come back).
//!
//! A push the helper refuses as older than what it holds (`RUMI-INST-003`, a stale rumid or
//! a version counter restored from a backup) is not a reason to restart it: the helper has
//! already closed what the two snapshots disagree on (fail closed), so the supervisor keeps
//! the connection, reports the helper `policy_refused` (health DEGRADED, audited
//! `security/helper_policy_refused`) and pushes again at the next change.
//!
//! The supervision loop itself is watched: if it ever panics (a bug, or once a log line on a
//! closed stderr), its task is started again, so a helper is never left unsupervised, and
//! health never trusts a stale record: an `up` helper whose process is gone, or that has not
//! answered a health check for [`STALE_AFTER`], is reported down ([`SupervisorHandle::observed`]).
//!
//! The audit stream is watched on its own: when it breaks (a message over
//! `RUMI_HELPER_AUDIT_MAX_MESSAGE_BYTES`, a transport error) the break is logged, audited
//! (`system/helper_audit_stream_broken`) and shown in health, and the stream is opened
//! again with backoff while the helper stays up. Helpers bound their records so that size
//! alone never breaks it; this is the guard for everything else.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use rumi_common::control_key::{ControlKey, NONCE_LEN, TOKEN_METADATA};
use rumi_proto::control::helper_client::HelperClient;
use rumi_proto::control::{AuditRecord, AuditStreamRequest, HealthRequest, HelloRequest, PolicySnapshot};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tonic::service::interceptor::InterceptedService;
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
/// How long an `up` record is believed without a health reply. The supervisor itself marks a
/// helper down after two failed checks (at most about 6 s: two periods plus two timeouts); a
/// record older than this means the supervisor is not running, and health says so.
pub const STALE_AFTER: Duration = Duration::from_secs(10);
/// How long a panicked supervision loop waits before it starts again.
const RESUPERVISE_AFTER: Duration = MAX_BACKOFF;
/// How long a gap in a helper's audit (a broken stream, events dropped by the helper) keeps
/// its health probe `DEGRADED` after it was seen, so that the operator notices a gap even
/// when the stream came back at once.
pub const AUDIT_GAP_VISIBLE: Duration = Duration::from_secs(60);

/// A control channel that sends this instance's control token with every call.
pub type ControlChannel = InterceptedService<Channel, ControlToken>;

/// Adds the per-call control token (made for one helper process) to every request.
#[derive(Clone)]
pub struct ControlToken(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for ControlToken {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert(TOKEN_METADATA, self.0.clone());
        Ok(req)
    }
}

/// How to run and reach one helper.
#[derive(Debug, Clone)]
pub struct HelperSpec {
    pub name: &'static str,
    pub binary: PathBuf,
    pub control_socket: PathBuf,
    /// The child's whole environment (spawn mode).
    pub env: Vec<(String, String)>,
    pub mode: HelperMode,
    /// Largest audit message accepted from the helper (`RUMI_HELPER_AUDIT_MAX_MESSAGE_BYTES`).
    pub audit_max_message_bytes: usize,
    /// This instance's control key (the helper must prove it holds it).
    pub control_key: ControlKey,
}

/// What `/api/health` reports per helper.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HelperStatus {
    /// `starting`, `up`, `down`, `unresponsive` or `policy_refused`.
    #[schema(value_type = String)]
    pub state: &'static str,
    pub pid: Option<u32>,
    pub policy_version: u64,
    pub restarts: u32,
    pub last_error: Option<String>,
    /// Bytes the helper holds from pack sockets right now (last health check).
    pub frame_bytes_buffered: u64,
    /// Pack connections open right now (last health check).
    pub connections: u32,
    /// Pack connections the helper refused since it started (over a pack's share or its total).
    pub connections_refused: u64,
}

impl HelperStatus {
    /// Whether the helper is connected and holds the policy.
    pub fn is_up(&self) -> bool {
        self.state == "up"
    }

    /// Whether the helper refused rumid's latest policy as older than its own (it serves
    /// only what both allow).
    pub fn is_policy_refused(&self) -> bool {
        self.state == "policy_refused"
    }
}

/// What `/api/health` reports about a helper's audit stream (`helpers.<name>.audit`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditStreamStatus {
    /// `connecting`, `connected` or `broken`.
    #[schema(value_type = String)]
    pub state: &'static str,
    /// How often the stream broke while rumid runs.
    pub breaks: u32,
    /// Why it last broke.
    pub last_error: Option<String>,
    /// When it last broke (RFC 3339).
    pub last_break_at: Option<String>,
    /// Events the helper dropped because its queue was full (since the helper started).
    pub dropped: u64,
    /// Refusals the helper counted instead of auditing (since the helper started).
    pub suppressed: u64,
    /// The helper's events rumid received but could not write (the audit file system full or
    /// failing), since rumid started.
    pub unwritten: u64,
    /// When a gap was last seen (a break, or a rise of `dropped`).
    #[serde(skip)]
    pub last_gap: Option<Instant>,
}

impl Default for AuditStreamStatus {
    fn default() -> Self {
        Self {
            state: "connecting",
            breaks: 0,
            last_error: None,
            last_break_at: None,
            dropped: 0,
            suppressed: 0,
            unwritten: 0,
            last_gap: None,
        }
    }
}

impl AuditStreamStatus {
    /// Why the helper's audit may have a gap right now (broken, or broken or dropping events
    /// within [`AUDIT_GAP_VISIBLE`]); `None` when it is whole.
    pub fn gap(&self) -> Option<String> {
        if self.state == "broken" {
            return Some(format!(
                "audit stream broken: {}",
                self.last_error.as_deref().unwrap_or("unknown error")
            ));
        }
        let ago = self.last_gap.filter(|t| t.elapsed() < AUDIT_GAP_VISIBLE)?.elapsed();
        Some(format!(
            "audit gap {}s ago ({} stream breaks, last: {}; {} events dropped by the helper, {} not written by rumid); audit lines may be missing",
            ago.as_secs(),
            self.breaks,
            self.last_error.as_deref().unwrap_or("none"),
            self.dropped,
            self.unwritten
        ))
    }
}

/// Handle to a running supervisor.
#[derive(Clone)]
pub struct SupervisorHandle {
    pub name: &'static str,
    pub status: Arc<ArcSwap<HelperStatus>>,
    /// The control channel while the helper is up (for admin calls such as secrets).
    pub channel: Arc<arc_swap::ArcSwapOption<ControlChannel>>,
    /// The helper's audit stream.
    pub audit: Arc<std::sync::Mutex<AuditStreamStatus>>,
    /// When the helper last answered a health check (or came up).
    seen: Arc<std::sync::Mutex<Option<Instant>>>,
}

impl SupervisorHandle {
    /// The channel to the helper, if it is up.
    ///
    /// # Errors
    /// [`crate::error::Error::HelperUnavailable`] while it is down or restarting.
    pub fn channel(&self) -> Result<ControlChannel, crate::error::Error> {
        self.channel
            .load_full()
            .map(|c| (*c).clone())
            .ok_or(crate::error::Error::HelperUnavailable { helper: self.name })
    }

    /// A copy of the audit stream's status.
    pub fn audit_status(&self) -> AuditStreamStatus {
        lock(&self.audit).clone()
    }

    /// The helper's status as health reports it: the supervisor's record, corrected by what
    /// can be checked now. A supervisor that stopped (or stalls) cannot correct its own
    /// record, so `up` is believed only while the spawned process still exists and the helper
    /// answered a health check within [`STALE_AFTER`].
    pub fn observed(&self) -> HelperStatus {
        let mut s = (**self.status.load()).clone();
        // A helper that refused our policy is still connected and health-checked.
        if !s.is_up() && !s.is_policy_refused() {
            return s;
        }
        if let Some(pid) = s.pid
            && !process_alive(pid)
        {
            s.state = "down";
            s.last_error = Some(format!("process {pid} is gone"));
            return s;
        }
        let seen = *self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = seen.filter(|t| t.elapsed() > STALE_AFTER) {
            s.state = "unresponsive";
            s.last_error = Some(format!("no health reply for {} s", t.elapsed().as_secs()));
        }
        s
    }

    fn saw(&self) {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }
}

/// Whether process `pid` exists and is not a zombie. Only a certain "gone" counts: when
/// `/proc` cannot be read for another reason (out of descriptors, say), the process is taken
/// to be alive and the supervisor's own checks decide.
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may hold anything.
        Ok(stat) => !matches!(
            stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().chars().next()),
            Some(Some('Z' | 'X'))
        ),
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}

/// Starts supervising `spec`; the task runs until the runtime shuts down. A supervision loop
/// that panics is started again after [`RESUPERVISE_AFTER`] (its child, owned by the loop, is
/// killed as the loop unwinds; the new loop starts a fresh one).
pub fn spawn(spec: HelperSpec, policy: watch::Receiver<Arc<PolicySnapshot>>, audit: Audit) -> SupervisorHandle {
    let status = Arc::new(ArcSwap::from_pointee(HelperStatus {
        state: "starting",
        pid: None,
        policy_version: 0,
        restarts: 0,
        last_error: None,
        frame_bytes_buffered: 0,
        connections: 0,
        connections_refused: 0,
    }));
    let channel = Arc::new(arc_swap::ArcSwapOption::empty());
    let handle = SupervisorHandle {
        name: spec.name,
        status: status.clone(),
        channel: channel.clone(),
        audit: Arc::default(),
        seen: Arc::default(),
    };
    let span = tracing::info_span!("helper", helper = spec.name);
    let watched = handle.clone();
    tokio::spawn(async move {
        loop {
            let restarts = watched.status.load().restarts;
            let run = tokio::spawn(
                supervise(spec.clone(), policy.clone(), audit.clone(), watched.clone(), restarts)
                    .instrument(span.clone()),
            );
            match run.await {
                Err(e) if e.is_panic() => {
                    watched.channel.store(None);
                    set_down(
                        &watched.status,
                        restarts + 1,
                        None,
                        "the supervision loop failed; it starts again".into(),
                    );
                    tracing::error!(parent: &span, "helper supervision loop panicked; starting it again");
                    tokio::time::sleep(RESUPERVISE_AFTER).await;
                }
                // Ended or cancelled: the runtime is shutting down.
                _ => return,
            }
        }
    });
    handle
}

async fn supervise(
    spec: HelperSpec,
    mut policy: watch::Receiver<Arc<PolicySnapshot>>,
    audit: Audit,
    handle: SupervisorHandle,
    restarts: u32,
) {
    let mut backoff = MIN_BACKOFF;
    let mut restarts = restarts;
    loop {
        let started = Instant::now();
        let mut child = match spec.mode {
            HelperMode::Spawn => match start_child(&spec) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::error!(error = %e, binary = %spec.binary.display(), "cannot start helper");
                    set_down(&handle.status, restarts, None, format!("cannot start: {e}"));
                    tokio::time::sleep(MAX_BACKOFF).await;
                    continue;
                }
            },
            HelperMode::External => None,
        };
        let pid = child.as_ref().and_then(Child::id);
        let outcome = run_connected(&spec, &mut child, &mut policy, &audit, &handle, restarts).await;
        let status = &handle.status;
        handle.channel.store(None);
        if let Some(mut c) = child.take() {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
        tracing::warn!(reason = %outcome, ?pid, "helper down");
        set_down(status, restarts, None, outcome.clone());
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
        frame_bytes_buffered: 0,
        connections: 0,
        connections_refused: 0,
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
    handle: &SupervisorHandle,
    restarts: u32,
) -> String {
    let (status, shared, stream_status) = (&handle.status, &handle.channel, &handle.audit);
    let channel = match connect(spec, child).await {
        Ok(c) => c,
        Err(e) => return e,
    };
    let mut client = HelperClient::new(channel.clone());
    let snapshot = policy.borrow_and_update().clone();
    let mut refused = match push(&mut client, &snapshot, CONNECT_DEADLINE).await {
        Pushed::Accepted => None,
        Pushed::Refused(why) => Some(why),
        Pushed::Failed(e) => return e,
    };
    {
        // A new helper process starts its counters from zero. A break seen while the old
        // process went down belongs to that down episode, which health and the audit already
        // report as `helper_down` and a restart; the gap is only what a live helper's stream lost.
        let mut s = lock(stream_status);
        s.state = "connecting";
        s.dropped = 0;
        s.suppressed = 0;
        s.last_gap = None;
    }
    let audit_client = HelperClient::new(channel.clone()).max_decoding_message_size(spec.audit_max_message_bytes);
    let audit_task =
        tokio::spawn(consume_audit(audit_client, audit.clone(), spec.name, stream_status.clone()).in_current_span());
    shared.store(Some(Arc::new(channel)));
    let pid = child.as_ref().and_then(Child::id);
    status.store(Arc::new(HelperStatus {
        state: "up",
        pid,
        policy_version: snapshot.version,
        restarts,
        last_error: None,
        frame_bytes_buffered: 0,
        connections: 0,
        connections_refused: 0,
    }));
    handle.saw();
    tracing::info!(?pid, policy_version = snapshot.version, "helper up; policy pushed");
    if let Some(why) = refused.take() {
        report_refused(status, audit, spec.name, &snapshot, why).await;
    }
    let mut misses = 0;
    let reason = loop {
        tokio::select! {
            exit = wait_child(child) => break format!("process exited: {exit}"),
            changed = policy.changed() => {
                if changed.is_err() {
                    break "policy channel closed".to_owned();
                }
                let snapshot = policy.borrow_and_update().clone();
                match push(&mut client, &snapshot, RPC_TIMEOUT).await {
                    Pushed::Accepted => {
                        let mut s = (**status.load()).clone();
                        if s.is_policy_refused() {
                            tracing::info!(policy_version = snapshot.version, "helper accepts the policy again");
                        }
                        s.state = "up";
                        s.last_error = None;
                        s.policy_version = snapshot.version;
                        status.store(Arc::new(s));
                    }
                    Pushed::Refused(why) => report_refused(status, audit, spec.name, &snapshot, why).await,
                    Pushed::Failed(e) => break e,
                }
            }
            () = tokio::time::sleep(HEALTH_PERIOD) => {
                match tokio::time::timeout(RPC_TIMEOUT, client.health(HealthRequest {})).await {
                    Ok(Ok(reply)) if reply.get_ref().has_policy => {
                        misses = 0;
                        handle.saw();
                        observe_health(reply.get_ref(), status, stream_status, spec.name, audit).await;
                    }
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

async fn connect(spec: &HelperSpec, child: &mut Option<Child>) -> Result<ControlChannel, String> {
    let uri = format!("unix://{}", spec.control_socket.display());
    let endpoint = Endpoint::from_shared(uri).map_err(|e| format!("bad control socket path: {e}"))?;
    let deadline = Instant::now() + CONNECT_DEADLINE;
    loop {
        if let Some(c) = child.as_mut()
            && let Ok(Some(exit)) = c.try_wait()
        {
            return Err(format!("process exited during start: {exit}"));
        }
        let attempt = match endpoint.connect().await {
            Ok(ch) => match hello(ch, &spec.control_key, &spec.control_socket).await {
                Ok(ch) => return Ok(ch),
                Err(Hello::Foreign(e) | Hello::WrongKey(e)) => return Err(e),
                Err(Hello::NotYet(e)) => e,
            },
            Err(e) => format!("cannot connect: {e}"),
        };
        if Instant::now() > deadline {
            return Err(attempt);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Why a `Hello` did not authenticate the helper.
enum Hello {
    /// The helper proved another key: it belongs to another instance. Stop.
    WrongKey(String),
    /// The helper refuses us or cannot authenticate at all: stop.
    Foreign(String),
    /// Not ready yet (no key file yet, a transport error): try again.
    NotYet(String),
}

/// Authenticates the helper on `channel` (it must prove it holds `key`) and returns the
/// channel that sends the token made for it.
///
/// # Security
/// Nothing but `Hello` goes to a helper before its proof verified: a helper of another
/// instance on our control socket path gets no policy, no secret and no token.
async fn hello(channel: Channel, key: &ControlKey, path: &std::path::Path) -> Result<ControlChannel, Hello> {
    let nonce: [u8; NONCE_LEN] = rand::random();
    let mut client = HelperClient::new(channel.clone());
    let reply = match tokio::time::timeout(
        RPC_TIMEOUT,
        client.hello(HelloRequest {
            client_nonce: nonce.to_vec(),
        }),
    )
    .await
    {
        Ok(Ok(r)) => r.into_inner(),
        Ok(Err(s)) if s.code() == tonic::Code::Unimplemented => {
            return Err(Hello::Foreign(format!(
                "RUMI-INST-002: the helper at {} does not authenticate (an older version?); refusing to use it",
                path.display()
            )));
        }
        Ok(Err(s)) if s.code() == tonic::Code::PermissionDenied => {
            return Err(Hello::Foreign(format!("policy push refused: {}", s.message())));
        }
        Ok(Err(s)) => return Err(Hello::NotYet(format!("hello failed: {}", s.message()))),
        Err(_) => return Err(Hello::NotYet("hello timed out".to_owned())),
    };
    if !key.verifies(&nonce, &reply.helper_nonce, &reply.proof) {
        return Err(Hello::WrongKey(format!(
            "RUMI-INST-002: the helper at {} (pid {}) does not hold this instance's control key: it belongs to another Rumi instance; give each instance its own control socket paths",
            path.display(),
            reply.pid
        )));
    }
    let token = key.call_token(&reply.helper_nonce);
    let value = token
        .expose()
        .parse()
        .map_err(|_| Hello::Foreign("control token is not ASCII".to_owned()))?;
    Ok(InterceptedService::new(channel, ControlToken(value)))
}

/// Why the helper listening at `path` is not this instance's, if it answers and proves
/// another key; `None` when it proves ours, refuses us (the supervisor reports that), or
/// nobody answers (yet).
pub async fn foreign_helper(path: &std::path::Path, key: &ControlKey) -> Option<String> {
    let endpoint = Endpoint::from_shared(format!("unix://{}", path.display())).ok()?;
    let channel = tokio::time::timeout(RPC_TIMEOUT, endpoint.connect()).await.ok()?.ok()?;
    match hello(channel, key, path).await {
        Err(Hello::WrongKey(why)) => Some(why),
        Ok(_) | Err(Hello::NotYet(_) | Hello::Foreign(_)) => None,
    }
}

/// How a push ended.
enum Pushed {
    Accepted,
    /// The helper holds a newer version (`RUMI-INST-003`): it serves only what both allow.
    Refused(String),
    /// Anything else: reconnect.
    Failed(String),
}

async fn push(client: &mut HelperClient<ControlChannel>, snapshot: &PolicySnapshot, timeout: Duration) -> Pushed {
    match tokio::time::timeout(timeout, client.push_policy(snapshot.clone())).await {
        Ok(Ok(_)) => Pushed::Accepted,
        Ok(Err(status)) if status.code() == tonic::Code::FailedPrecondition => {
            Pushed::Refused(status.message().to_owned())
        }
        Ok(Err(status)) => Pushed::Failed(format!("policy push refused: {}", status.message())),
        Err(_) => Pushed::Failed("policy push timed out".to_owned()),
    }
}

/// Records a refused push: state `policy_refused` (health DEGRADED), logged and audited
/// once per push. The connection stays: restarting the helper would not change its mind
/// and the loop would only hide the cause.
async fn report_refused(
    status: &ArcSwap<HelperStatus>,
    audit: &Audit,
    helper: &'static str,
    snapshot: &PolicySnapshot,
    why: String,
) {
    tracing::error!(policy_version = snapshot.version, reason = %why, "helper refused the policy as older than its own; it serves only what both allow");
    let mut s = (**status.load()).clone();
    s.state = "policy_refused";
    s.last_error = Some(format!(
        "{why}; another rumid of this instance pushed a newer policy, or policy_epoch.json was restored: stop the other rumid, or restart the helper"
    ));
    status.store(Arc::new(s));
    audit
        .record(
            AuditEvent::new(Category::Security, "helper_policy_refused")
                .failed(Severity::Critical, "policy_refused", why)
                .detail("helper", helper)
                .detail("policy_version", snapshot.version),
        )
        .await;
}

fn lock(s: &std::sync::Mutex<AuditStreamStatus>) -> std::sync::MutexGuard<'_, AuditStreamStatus> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// Records what a health reply says about the helper's audit queue and buffers; a rise in
/// dropped events is a gap in the audit, logged and audited once per rise.
async fn observe_health(
    reply: &rumi_proto::control::HealthReply,
    status: &ArcSwap<HelperStatus>,
    stream_status: &std::sync::Mutex<AuditStreamStatus>,
    helper: &'static str,
    audit: &Audit,
) {
    let seen = status.load();
    if seen.frame_bytes_buffered != reply.frame_bytes_buffered
        || seen.connections != reply.connections
        || seen.connections_refused != reply.connections_refused
    {
        let mut s = (**seen).clone();
        s.frame_bytes_buffered = reply.frame_bytes_buffered;
        s.connections = reply.connections;
        s.connections_refused = reply.connections_refused;
        status.store(Arc::new(s));
    }
    let newly_dropped = {
        let mut s = lock(stream_status);
        let newly = reply.audit_dropped.saturating_sub(s.dropped);
        s.dropped = reply.audit_dropped;
        s.suppressed = reply.audit_suppressed;
        if newly > 0 {
            s.last_gap = Some(Instant::now());
        }
        newly
    };
    if newly_dropped > 0 {
        tracing::error!(dropped = newly_dropped, "helper dropped audit events (queue full)");
        audit
            .record(
                AuditEvent::new(Category::System, "helper_audit_dropped")
                    .failed(
                        Severity::Error,
                        "audit_dropped",
                        format!("{newly_dropped} audit events dropped by the helper"),
                    )
                    .detail("helper", helper)
                    .detail("dropped", reply.audit_dropped),
            )
            .await;
    }
}

/// Consumes the helper's audit stream into the audit log, opening it again with backoff
/// whenever it breaks; runs until the supervisor aborts it (the helper went down).
async fn consume_audit(
    mut client: HelperClient<ControlChannel>,
    audit: Audit,
    helper: &'static str,
    status: Arc<std::sync::Mutex<AuditStreamStatus>>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let why = match client.audit_stream(AuditStreamRequest {}).await {
            Ok(resp) => {
                lock(&status).state = "connected";
                let mut stream = resp.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(record)) => {
                            if let Err(e) = audit.try_record(to_event(record, helper)).await {
                                // Counted and shown (health, the next recovery line): a full
                                // audit disk must not stall the stream, nor hide the loss.
                                let mut s = lock(&status);
                                s.unwritten += 1;
                                s.last_gap = Some(Instant::now());
                                if s.unwritten.is_power_of_two() {
                                    tracing::error!(error = %e, unwritten = s.unwritten, "helper audit event not written");
                                }
                            }
                            backoff = MIN_BACKOFF;
                        }
                        Ok(None) => break "the helper ended the stream".to_owned(),
                        Err(e) => break e.message().to_owned(),
                    }
                }
            }
            Err(e) => e.message().to_owned(),
        };
        let breaks = {
            let mut s = lock(&status);
            s.state = "broken";
            s.breaks += 1;
            s.last_error = Some(why.clone());
            s.last_break_at = Some(rumi_common::time::now_rfc3339());
            s.last_gap = Some(Instant::now());
            s.breaks
        };
        tracing::error!(error = %why, breaks, "helper audit stream broken; reconnecting");
        audit
            .record(
                AuditEvent::new(Category::System, "helper_audit_stream_broken")
                    .failed(Severity::Error, "audit_stream_broken", why)
                    .detail("helper", helper)
                    .detail("breaks", breaks),
            )
            .await;
        let jitter = Duration::from_millis(rand::random::<u64>() % (backoff.as_millis() as u64 / 2 + 1));
        tokio::time::sleep(backoff + jitter).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zombie_or_reaped_process_is_not_alive() {
        assert!(process_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Exited but not reaped: a zombie, which health must not count as a running helper.
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!process_alive(pid), "an exited, unreaped child is a zombie");
        child.wait().unwrap();
        assert!(!process_alive(pid), "a reaped child is gone");
    }

    #[test]
    fn an_audit_gap_is_reported_while_broken_and_for_a_while_after() {
        let mut s = AuditStreamStatus::default();
        assert_eq!(s.gap(), None, "connecting is not a gap");
        s.state = "connected";
        assert_eq!(s.gap(), None);
        s.state = "broken";
        s.breaks = 1;
        s.last_error = Some("decoded message length too large".into());
        s.last_gap = Some(Instant::now());
        assert_eq!(
            s.gap().as_deref(),
            Some("audit stream broken: decoded message length too large")
        );
        s.state = "connected";
        let gap = s.gap().expect("a recent break is still a gap");
        assert!(gap.starts_with("audit gap 0s ago (1 stream breaks"), "{gap}");
        s.unwritten = 3;
        assert!(s.gap().unwrap().contains("3 not written by rumid"));
        s.last_gap = Instant::now().checked_sub(AUDIT_GAP_VISIBLE + Duration::from_secs(1));
        assert_eq!(s.gap(), None, "an old gap is history");
    }
}
