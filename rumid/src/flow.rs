//! The flow engine: loads flows, runs their steps in order, and runs pack code through the
//! sandbox ([`crate::sandbox`]).
//!
//! Before any pack code runs, the owner pack must be approved (its approved snapshot is what
//! runs), the block file must be a regular file of that snapshot, and the principal is always
//! the owner pack: a different `principal_id` in a step is overridden and audited. A step of a
//! pack's flow runs only as that pack ([`owner`]): checked on the loaded flows after
//! modifiers, and on the call chain of every run.

pub mod context;
pub mod loader;
pub mod model;
pub mod modifier;
pub mod owner;
pub mod schedule;
pub mod shares;
pub mod vars;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use rumi_common::ids::PackId;
use serde::Serialize;
use serde_json::{Map, Value, json};

use self::context::{Context, TooLarge};
use self::loader::Diagnostic;
use self::model::{Action, BlockCall, DictOp, Flow, FunctionCall, Handler, OnError, Output, Step};
use self::shares::{Full, Held, Shares};
use crate::approval::Packs;
use crate::approval::snapshot::PackSnapshot;
use crate::audit::{Audit, AuditEvent, Category, Severity};
use crate::config::SecurityMode;
use crate::sandbox::{BlockRun, DEFAULT_TIMEOUT, Sandbox, SandboxError};

/// Default time a `function` step waits for its answer.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Deepest sub-flow nesting.
pub const MAX_FLOW_DEPTH: usize = 10;
/// Longest block timeout a step may ask for.
pub const MAX_STEP_TIMEOUT: f64 = model::MAX_STEP_TIMEOUT_SECS;
/// Most steps one run takes, its sub-flows' included. A flow file holds at most a few
/// thousand steps, but sub-flow calls multiply them (a flow calling a flow a thousand times
/// over): without a bound one run of data-only steps keeps a core busy until its timeout.
pub const MAX_STEPS_PER_RUN: usize = 10_000;

/// The engine's bounds, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `RUMI_MAX_CONCURRENT_FLOWS`.
    pub max_concurrent_flows: usize,
    /// `RUMI_MAX_RESPONSE_BYTES`: the largest flow result.
    pub max_response_bytes: usize,
    /// `RUMI_MAX_CONTEXT_BYTES`: what one run's contexts and the values built for them hold.
    pub max_context_bytes: usize,
    /// `RUMI_MAX_FLOWS_PER_PACK`: one pack's share of the flow slots.
    pub max_flows_per_pack: usize,
    /// `RUMI_MAX_RUNNING_CONTAINERS`: blocks running at once (flow steps, units, lib
    /// scripts, sandbox probes).
    pub max_running_containers: usize,
    /// `RUMI_MAX_CONTAINERS_PER_PACK`: one pack's share of them.
    pub max_containers_per_pack: usize,
}

/// Loaded flows and what went wrong loading them.
#[derive(Default)]
pub struct FlowSet {
    pub flows: BTreeMap<String, Arc<Flow>>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Why a run failed (maps to the API's status codes).
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("Flow not found: {0}")]
    NotFound(String),
    #[error("flow timed out after {0:?}")]
    Timeout(Duration),
    #[error("too many flows running (RUMI_MAX_CONCURRENT_FLOWS)")]
    Busy,
    /// The flow's pack already runs as many flows as its share allows; others still run.
    #[error("pack {pack} already runs {share} flows, its share of the flow slots (RUMI_MAX_FLOWS_PER_PACK)")]
    PackBusy { pack: PackId, share: usize },
    #[error("step {step} failed ({error_type}): {message}")]
    Step {
        step: String,
        error_type: String,
        message: String,
    },
    #[error("Recursive flow detected: {0}")]
    Recursion(String),
    /// A value the flow built, or was given, would pass `RUMI_MAX_CONTEXT_BYTES` or the
    /// nesting bound: the run stops, whatever `fail_soft` and `on_error` say.
    #[error("{at}: {reason}")]
    ContextTooLarge { at: String, reason: TooLarge },
    #[error("the run took more than {MAX_STEPS_PER_RUN} steps, sub-flows included")]
    TooManySteps,
    /// A step could not run because something it needs is down for now (Docker in strict
    /// mode, a component still starting): the flow stopped, and a retry may succeed.
    #[error("step {step} cannot run now ({error_type}): {message}")]
    Unavailable {
        step: String,
        error_type: String,
        message: String,
    },
}

/// Why a block did not give a result.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// No container came free, of the pack's share or of all, within the block's time.
    #[error(
        "no container came free for pack {pack} within {waited:?} (RUMI_MAX_CONTAINERS_PER_PACK, RUMI_MAX_RUNNING_CONTAINERS)"
    )]
    Busy { pack: PackId, waited: Duration },
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

impl BlockError {
    /// The step `error_type`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Busy { .. } => "containers_busy",
            Self::Sandbox(e) => e.error_type(),
        }
    }
}

/// The final context of a flow and whether it was aborted.
type FlowOutcome = Result<(Context, bool), FlowError>;
/// A boxed flow execution (sub-flows recurse).
type FlowFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = FlowOutcome> + Send + 'a>>;

/// One flow of a run's call chain (outermost first). The pack is recorded when the run
/// enters the flow, so a reload during the run cannot change who the chain belongs to.
#[derive(Debug, Clone)]
struct Frame {
    flow_id: String,
    /// `Some` for a pack's flow.
    pack: Option<PackId>,
}

impl Frame {
    fn of(flow: &Flow) -> Self {
        Self {
            flow_id: flow.flow_id.clone(),
            pack: match &flow.source {
                model::Source::Pack(p) => Some(p.clone()),
                model::Source::Official | model::Source::Shared => None,
            },
        }
    }
}

/// The audit line of a step refused because it would run as another pack.
fn owner_refused_event(
    flow_id: &str,
    step_id: &str,
    pack: &PackId,
    owner: &str,
    stage: &'static str,
    modifier_id: Option<String>,
) -> AuditEvent {
    let mut ev = AuditEvent::new(Category::Security, "step_owner_refused")
        .failed(
            Severity::Warning,
            "owner_refused",
            format!("a step of pack {pack} may not run as {owner:?}"),
        )
        .owner_pack(pack.as_str())
        .detail("requested_owner", owner)
        .detail("stage", stage);
    ev.flow_id = Some(flow_id.to_owned());
    ev.step_id = Some(step_id.to_owned());
    ev.modifier_id = modifier_id;
    ev
}

/// Counts a running block in its gauge until dropped (also when the run is cancelled).
struct Running(prometheus_client::metrics::gauge::Gauge);

impl Running {
    fn new(gauge: prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What one run carries down its sub-flows.
struct Run {
    deadline: Instant,
    steps: std::sync::atomic::AtomicUsize,
}

impl Run {
    /// Counts one step.
    fn step(&self) -> Result<(), FlowError> {
        let n = self.steps.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n >= MAX_STEPS_PER_RUN {
            return Err(FlowError::TooManySteps);
        }
        Ok(())
    }
}

/// A context bound reached at `at` (a step, the inputs, the outputs).
fn too_large(at: impl Into<String>) -> impl FnOnce(TooLarge) -> FlowError {
    let at = at.into();
    move |reason| FlowError::ContextTooLarge { at, reason }
}

/// What went wrong in a step: its `error_type`, as a type. Errors rumid makes have a
/// variant each; those a helper or the sandbox reports keep theirs.
#[derive(Debug)]
enum StepErrorKind {
    Validation,
    FlowNotFound,
    HandlerNotAllowed,
    HandlerNotFound,
    /// A component the step needs is still starting (the shared dictionary).
    NotReady,
    OwnerRefused,
    PathRejected,
    FileNotFound,
    ApprovalRejected,
    HashVerificationFailed,
    Timeout,
    CapabilityUnavailable,
    /// The shared dictionary refused (`not_found`, …).
    SharedDict(&'static str),
    /// The block did not give a result.
    Block(BlockError),
    /// The error type rumi-capd answered a `function` step with (`grant_denied`, …).
    Capability(String),
}

impl StepErrorKind {
    /// The step `error_type`.
    fn error_type(&self) -> &str {
        match self {
            Self::Validation => "validation_error",
            Self::FlowNotFound => "flow_not_found",
            Self::HandlerNotAllowed => "handler_not_allowed",
            Self::HandlerNotFound => "handler_not_found",
            Self::NotReady => "not_ready",
            Self::OwnerRefused => "owner_refused",
            Self::PathRejected => "path_rejected",
            Self::FileNotFound => "file_not_found",
            Self::ApprovalRejected => "approval_rejected",
            Self::HashVerificationFailed => "hash_verification_failed",
            Self::Timeout => "timeout",
            Self::CapabilityUnavailable => "capability_unavailable",
            Self::SharedDict(e) => e,
            Self::Block(e) => e.error_type(),
            Self::Capability(e) => e,
        }
    }

    /// Whether the step could not run because something it needs is down for now (Docker
    /// in strict mode, a component still starting), rather than being broken: a flow it
    /// stops answers 503, and a retry may succeed.
    fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::NotReady | Self::Block(BlockError::Sandbox(SandboxError::DockerRequired(_)))
        )
    }

    /// Whether a container could not be started (counted in the strict-mode metrics).
    fn is_start_failure(&self) -> bool {
        matches!(
            self,
            Self::Block(BlockError::Sandbox(
                SandboxError::DockerRequired(_) | SandboxError::CantHandle { .. } | SandboxError::Internal(_)
            ))
        )
    }

    /// Refusals the operator should look at (a block that may not run as asked).
    fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::ApprovalRejected | Self::HashVerificationFailed | Self::PathRejected
        )
    }
}

/// A step failure.
#[derive(Debug)]
struct StepError {
    kind: StepErrorKind,
    message: String,
}

impl StepError {
    fn new(kind: StepErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl From<BlockError> for StepError {
    fn from(e: BlockError) -> Self {
        let message = e.to_string();
        Self::new(StepErrorKind::Block(e), message)
    }
}

/// How a step ended without a result.
#[derive(Debug)]
enum StepFail {
    /// The step itself failed: its `on_error` (or the flow's `fail_soft`) decides.
    Own(StepError),
    /// A sub-flow stopped on a failed step ([`FlowError::Step`] or
    /// [`FlowError::Unavailable`]): a failure of the `flow` step, decided like [`StepFail::Own`].
    SubFlow(FlowError),
    /// The run stops, whatever the step says (a bound, recursion).
    Run(FlowError),
}

impl From<StepError> for StepFail {
    fn from(e: StepError) -> Self {
        Self::Own(e)
    }
}

impl From<FlowError> for StepFail {
    fn from(e: FlowError) -> Self {
        Self::Run(e)
    }
}

/// A flow found and its slot taken ([`FlowEngine::admit`]); the slot is given back when
/// this is dropped, at the end of the run.
#[derive(Debug)]
pub struct Admitted {
    flow: Arc<Flow>,
    _slot: Held,
}

/// A successful run.
#[derive(Debug, Serialize)]
pub struct RunResult {
    pub flow_id: String,
    pub result: Value,
    pub execution_time: f64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub aborted: bool,
}

pub struct FlowEngine {
    home: PathBuf,
    set: ArcSwap<FlowSet>,
    packs: Arc<Packs>,
    audit: Audit,
    sandbox: Arc<Sandbox>,
    /// Flow runs at once, with each pack's share.
    flow_slots: Shares,
    /// Blocks running at once, with each pack's share.
    container_slots: Shares,
    limits: Limits,
    metrics: Arc<crate::metrics::Metrics>,
    /// Lib script records, for the `kernel:lib.*` handlers (set once at start).
    pub lib_records: std::sync::OnceLock<Arc<crate::lib_scripts::LibScripts>>,
    routes: ArcSwap<crate::routes::RouteTable>,
    /// The shared dictionary, for the `kernel:shared_dict.*` handlers and modifiers.
    pub shared_dict: std::sync::OnceLock<Arc<crate::shared_dict::SharedDict>>,
    /// Approved capability handlers, for modifiers' `requires.capabilities` (set once at start).
    pub capability_handlers: std::sync::OnceLock<Arc<crate::handlers::Handlers>>,
}

/// The kernel handlers flows may call: what modifiers' `requires.interfaces` is checked against.
pub const KERNEL_HANDLERS: &[&str] = &[
    "kernel:noop",
    "kernel:ctx.get",
    "kernel:ctx.set",
    "kernel:shared_dict.resolve",
    "kernel:shared_dict.propose",
    "kernel:shared_dict.remove",
    "kernel:shared_dict.explain",
    "kernel:shared_dict.list",
    "kernel:lib.list_records",
    "kernel:lib.clear_record",
    "kernel:flow.abort",
];

impl FlowEngine {
    pub fn new(
        home: PathBuf,
        packs: Arc<Packs>,
        audit: Audit,
        sandbox: Arc<Sandbox>,
        limits: Limits,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        Self {
            home,
            set: ArcSwap::from_pointee(FlowSet::default()),
            packs,
            audit,
            sandbox,
            flow_slots: Shares::new(limits.max_concurrent_flows, limits.max_flows_per_pack),
            container_slots: Shares::new(limits.max_running_containers, limits.max_containers_per_pack),
            limits,
            metrics,
            lib_records: std::sync::OnceLock::new(),
            routes: ArcSwap::from_pointee(crate::routes::RouteTable::default()),
            shared_dict: std::sync::OnceLock::new(),
            capability_handlers: std::sync::OnceLock::new(),
        }
    }

    /// The metrics the engine reports to.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// The sandbox service blocks run in.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    /// Runs a published unit as a block of `principal`: `dir` is its read-only `/pack`.
    ///
    /// # Errors
    /// [`SandboxError`], as for blocks.
    pub async fn run_unit(
        &self,
        principal: &PackId,
        dir: &Path,
        entrypoint: &str,
        args: Value,
        timeout: Duration,
    ) -> Result<Value, BlockError> {
        let block = BlockRun {
            pack: principal.clone(),
            pack_dir: dir.to_path_buf(),
            snapshot: None,
            file_rel: PathBuf::from(entrypoint),
            context: json!({"unit": true, "owner_pack": principal, "ts": rumi_common::time::now_rfc3339(), "inputs": args}),
            input: args,
            timeout,
            hold: None,
        };
        self.sandboxed(block, false).await
    }

    /// Runs a pack's lib script (its data directory writable), within the container shares.
    ///
    /// # Errors
    /// [`BlockError`].
    pub async fn run_lib_script(&self, block: BlockRun) -> Result<Value, BlockError> {
        self.sandboxed(block, true).await
    }

    /// Runs a block within the container shares: it waits, for at most its own timeout (the
    /// wait counts against it), for a slot of its pack's share and of the total, so one
    /// pack's long blocks never hold every container.
    async fn sandboxed(&self, mut block: BlockRun, lib_script: bool) -> Result<Value, BlockError> {
        let started = Instant::now();
        let slot = tokio::time::timeout(block.timeout, self.container_slots.take(Some(&block.pack)))
            .await
            .map_err(|_| BlockError::Busy {
                pack: block.pack.clone(),
                waited: block.timeout,
            })?;
        block.timeout = block.timeout.saturating_sub(started.elapsed());
        let running = Running::new(
            self.metrics
                .containers_running
                .get_or_create(&crate::metrics::PackLabels {
                    pack_id: block.pack.to_string(),
                })
                .clone(),
        );
        // The slot and the gauge are held by the run until nothing of it runs any more, which
        // may be after this returns (a container still exiting after its result).
        block.hold = Some(crate::sandbox::Hold(Arc::new((slot, running))));
        let result = if lib_script {
            self.sandbox.run_lib_script(&block).await
        } else {
            self.sandbox.run_block(&block).await
        };
        Ok(result?)
    }

    /// Reloads every flow (blocking file I/O): the operator's, and those of approved packs
    /// from their approved snapshots.
    pub fn reload(&self) -> usize {
        let approved = self.packs.approved();
        let (mut flows, mut diagnostics) = loader::load(&self.home, &approved);
        let routes = crate::routes::RouteTable::load(&self.home, &approved);
        for d in &routes.diagnostics {
            tracing::warn!(path = %d.path, detail = %d.message, "route refused");
        }
        self.routes.store(Arc::new(routes));
        let (mods, mod_diags) = modifier::load(&self.home, &approved);
        diagnostics.extend(mod_diags);
        let mut capabilities: std::collections::BTreeSet<String> = rumi_common::ids::BUILTIN_PERMISSIONS
            .iter()
            .map(|p| (*p).to_owned())
            .collect();
        if let Some(h) = self.capability_handlers.get() {
            capabilities.extend(h.trusted().into_iter().map(|t| t.permission_id));
        }
        let available = modifier::Available {
            interfaces: KERNEL_HANDLERS.iter().map(|h| (*h).to_owned()).collect(),
            capabilities,
        };
        let applied = modifier::apply(
            &mut flows,
            &mods,
            self.shared_dict.get().map(|d| d.as_ref()),
            &available,
            &mut diagnostics,
        );
        // On the final flows, whatever put each step there.
        let refused = owner::refuse_foreign_steps(&mut flows, &modifier::added_steps(&applied));
        for a in applied {
            let mut ev = AuditEvent::new(Category::ModifierApplication, "modifier_applied").detail("action", a.action);
            ev.modifier_id = Some(a.modifier_id);
            ev.flow_id = Some(a.flow_id);
            self.audit.record_blocking(ev);
        }
        for r in refused {
            diagnostics.push(Diagnostic {
                path: r.path.strip_prefix(&self.home).unwrap_or(&r.path).display().to_string(),
                level: "error",
                message: r.message(),
            });
            self.audit.record_blocking(owner_refused_event(
                &r.flow_id,
                &r.step_id,
                &r.pack,
                &r.owner,
                "load",
                r.added_by.clone(),
            ));
        }
        for d in &diagnostics {
            tracing::warn!(path = %d.path, level = d.level, detail = %d.message, "flow load problem");
        }
        let n = flows.len();
        self.metrics.flows_registered.set(n as i64);
        self.set.store(Arc::new(FlowSet {
            flows: flows.into_iter().map(|(k, v)| (k, Arc::new(v))).collect(),
            diagnostics,
        }));
        n
    }

    /// Runs an empty block in the pack's sandbox (an operator's "can it start?" check).
    ///
    /// # Errors
    /// The sandbox error, as text.
    pub async fn probe_sandbox(&self, pack: &PackId) -> Result<(), String> {
        let snap = self.packs.verify_for_use(pack).map_err(|e| e.to_string())?;
        // The runner answers a probe file name itself, after Python, the SDK and every mount
        // of the pack's real sandbox are in place; no pack code runs.
        let block = BlockRun {
            pack: pack.clone(),
            pack_dir: snap.dir().to_path_buf(),
            snapshot: Some(snap),
            file_rel: PathBuf::from("__rumi_probe__"),
            input: Value::Null,
            context: json!({}),
            timeout: Duration::from_secs(60),
            hold: None,
        };
        match self.sandboxed(block, false).await {
            Ok(v) if v["probe"] == "ok" => Ok(()),
            Ok(v) => Err(format!("unexpected probe answer: {v}")),
            Err(e) => Err(format!("{}: {e}", e.error_type())),
        }
    }

    /// The pack routes loaded with the flows.
    pub fn routes(&self) -> Arc<crate::routes::RouteTable> {
        self.routes.load_full()
    }

    pub fn flows(&self) -> Arc<FlowSet> {
        self.set.load_full()
    }

    /// Runs a flow with a total time budget.
    ///
    /// # Errors
    /// [`FlowError`]: not found, busy, timeout, a failed step, recursion.
    pub async fn run(&self, flow_id: &str, inputs: Value, timeout: Duration) -> Result<RunResult, FlowError> {
        self.run_triggered(flow_id, inputs, timeout, "api").await
    }

    /// Like [`FlowEngine::run`], recording what started the run (`api`, `schedule`).
    ///
    /// # Errors
    /// [`FlowError`].
    pub async fn run_triggered(
        &self,
        flow_id: &str,
        inputs: Value,
        timeout: Duration,
        trigger: &str,
    ) -> Result<RunResult, FlowError> {
        let admitted = self.admit(flow_id)?;
        self.run_admitted(admitted, inputs, timeout, trigger).await
    }

    /// Finds a flow and takes a flow slot for it: one of the total and, for a pack's flow,
    /// one of that pack's share, held until the run ends.
    ///
    /// # Errors
    /// [`FlowError::NotFound`], [`FlowError::PackBusy`] (the pack's share is in use),
    /// [`FlowError::Busy`] (every slot is).
    pub fn admit(&self, flow_id: &str) -> Result<Admitted, FlowError> {
        let flow = self
            .flows()
            .flows
            .get(flow_id)
            .cloned()
            .ok_or_else(|| FlowError::NotFound(flow_id.to_owned()))?;
        let pack = Frame::of(&flow).pack;
        let slot = self
            .flow_slots
            .try_take(pack.as_ref())
            .map_err(|full| match (full, pack) {
                (Full::Pack, Some(pack)) => FlowError::PackBusy {
                    pack,
                    share: self.flow_slots.per_pack(),
                },
                _ => FlowError::Busy,
            })?;
        Ok(Admitted { flow, _slot: slot })
    }

    /// Runs an admitted flow, auditing the run.
    ///
    /// # Errors
    /// [`FlowError`]: timeout, a failed step, recursion, a bound passed.
    pub async fn run_admitted(
        &self,
        admitted: Admitted,
        inputs: Value,
        timeout: Duration,
        trigger: &str,
    ) -> Result<RunResult, FlowError> {
        let flow = admitted.flow.clone();
        let flow_id = flow.flow_id.as_str();
        let started = Instant::now();
        let run = Run {
            deadline: started + timeout,
            steps: std::sync::atomic::AtomicUsize::new(0),
        };
        let outcome = match Context::for_inputs(inputs, self.limits.max_context_bytes) {
            Err(e) => Err(too_large("the run's inputs")(e)),
            Ok(ctx) => match tokio::time::timeout(timeout, self.execute(flow.clone(), ctx, Vec::new(), &run)).await {
                Ok(r) => r,
                Err(_) => Err(FlowError::Timeout(timeout)),
            },
        };
        let outcome = outcome.and_then(|(ctx, aborted)| Ok((Self::result_of(&flow, ctx)?, aborted)));
        let elapsed = started.elapsed().as_secs_f64();
        let mut ev = AuditEvent::new(Category::FlowExecution, "flow_run")
            .in_request()
            .detail("duration_ms", (elapsed * 1e6).round() / 1e3)
            .detail("trigger", trigger);
        ev.flow_id = Some(flow_id.to_owned());
        match &outcome {
            Ok(_) => self.audit.record(ev).await,
            Err(e) => {
                self.audit
                    .record(ev.failed(Severity::Warning, "flow_failed", e.to_string()))
                    .await
            }
        }
        let (result, aborted) = outcome?;
        self.metrics
            .flow_complete
            .get_or_create(&crate::metrics::FlowLabels {
                flow_id: flow_id.to_owned(),
            })
            .inc();
        let (result, truncated) = self.bounded(result);
        Ok(RunResult {
            flow_id: flow_id.to_owned(),
            result,
            execution_time: (elapsed * 1e6).round() / 1e6,
            truncated,
            aborted,
        })
    }

    /// A run's result: the keys its `outputs` declare (`name: type`), each checked against
    /// its type, and the values of its `outputs` expressions resolved against the final
    /// context; without `outputs`, that context minus `inputs`. Keys starting with `_` are
    /// left out. A declared key the context lacks is `null`; a value of another type than
    /// declared is kept and logged (a warning, not a failure).
    fn result_of(flow: &Flow, ctx: Context) -> Result<Value, FlowError> {
        if flow.outputs.is_empty() {
            return Ok(Value::Object(
                ctx.into_map()
                    .into_iter()
                    .filter(|(k, _)| !k.starts_with('_') && k != "inputs")
                    .collect(),
            ));
        }
        let (result, mismatches) = outputs_of(flow, &ctx)?;
        for m in mismatches {
            tracing::warn!(
                flow_id = %flow.flow_id,
                output = %m.name,
                declared = %m.declared,
                got = m.got,
                "flow output does not match its declared type"
            );
        }
        Ok(result)
    }

    /// Keeps top-level keys while the result fits `RUMI_MAX_RESPONSE_BYTES`.
    fn bounded(&self, result: Value) -> (Value, bool) {
        if serde_json::to_vec(&result).map_or(0, |v| v.len()) <= self.limits.max_response_bytes {
            return (result, false);
        }
        let Value::Object(m) = result else {
            return (Value::Null, true);
        };
        let mut out = Map::new();
        let mut size = 2;
        for (k, v) in m {
            let n = k.len() + 4 + serde_json::to_vec(&v).map_or(0, |x| x.len());
            if size + n > self.limits.max_response_bytes {
                break;
            }
            size += n;
            out.insert(k, v);
        }
        (Value::Object(out), true)
    }

    /// Runs the steps of one flow; returns the final context and whether it was aborted.
    fn execute<'a>(&'a self, flow: Arc<Flow>, mut ctx: Context, mut stack: Vec<Frame>, run: &'a Run) -> FlowFuture<'a> {
        Box::pin(async move {
            let chain = |stack: &[Frame]| {
                stack
                    .iter()
                    .map(|f| f.flow_id.as_str())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            };
            if stack.iter().any(|f| f.flow_id == flow.flow_id) {
                stack.push(Frame::of(&flow));
                return Err(FlowError::Recursion(chain(&stack)));
            }
            if stack.len() >= MAX_FLOW_DEPTH {
                return Err(FlowError::Recursion(format!(
                    "deeper than {MAX_FLOW_DEPTH}: {}",
                    chain(&stack)
                )));
            }
            stack.push(Frame::of(&flow));
            let mut disabled: Vec<String> = Vec::new();
            for step in &flow.steps {
                // A flow of data steps never waits on anything, and the run's timeout fires
                // only while it waits: give the scheduler a turn at every step.
                tokio::task::yield_now().await;
                run.step()?;
                if disabled.contains(&step.id) {
                    continue;
                }
                if let Some(cond) = &step.when
                    && !vars::condition(cond, ctx.map(), &mut ctx.budget())
                        .map_err(too_large(format!("step {}", step.id)))?
                {
                    continue;
                }
                let missing = step
                    .depends_on
                    .iter()
                    .find(|d| !flow.steps.iter().any(|s| &s.id == *d))
                    .cloned()
                    .or_else(|| match &step.action {
                        Action::Flow { flow: id, .. } if !self.flows().flows.contains_key(id) => Some(id.clone()),
                        _ => None,
                    });
                if let Some(m) = missing {
                    if flow.skip_missing {
                        tracing::warn!(flow_id = %flow.flow_id, step = %step.id, missing = %m, "step skipped: missing step or flow");
                        continue;
                    }
                    return Err(FlowError::Step {
                        step: step.id.clone(),
                        error_type: "missing_step".into(),
                        message: format!("{m:?} does not exist (defaults.on_missing_step: error)"),
                    });
                }
                let result = self.step(&flow, step, &ctx, &stack, run).await;
                let label = crate::metrics::StepLabels {
                    handler: match &step.action {
                        Action::Handler { handler, .. } => handler.name().to_owned(),
                        other => other.kind().to_owned(),
                    },
                };
                match &result {
                    Ok(_) => self.metrics.step_success.get_or_create(&label).inc(),
                    Err(_) => self.metrics.step_error.get_or_create(&label).inc(),
                };
                let at = || too_large(format!("step {}", step.id));
                let (failed_step, error_type, message, unavailable) = match result {
                    Ok(out) => {
                        let out = match out {
                            Value::Object(mut m) if m.len() == 1 && m.contains_key("output") => {
                                m.remove("output").unwrap_or(Value::Null)
                            }
                            other => other,
                        };
                        let abort = out.get("__flow_control").and_then(Value::as_str) == Some("abort");
                        if abort {
                            ctx.insert("_flow_control_abort".into(), Value::Bool(true))
                                .map_err(at())?;
                            ctx.insert(
                                "_flow_control_abort_reason".into(),
                                out.get("reason").cloned().unwrap_or(Value::Null),
                            )
                            .map_err(at())?;
                        }
                        self.store(step, &mut ctx, out).map_err(at())?;
                        if abort {
                            return Ok((ctx, true));
                        }
                        continue;
                    }
                    Err(StepFail::Own(e)) => {
                        let unavailable = e.kind.is_unavailable();
                        (step.id.clone(), e.kind.error_type().to_owned(), e.message, unavailable)
                    }
                    Err(StepFail::SubFlow(FlowError::Step {
                        step,
                        error_type,
                        message,
                    })) => (step, error_type, message, false),
                    Err(StepFail::SubFlow(FlowError::Unavailable {
                        step,
                        error_type,
                        message,
                    })) => (step, error_type, message, true),
                    Err(StepFail::SubFlow(other) | StepFail::Run(other)) => return Err(other),
                };
                let action = step.on_error.unwrap_or(if flow.fail_soft {
                    OnError::Continue
                } else {
                    OnError::Abort
                });
                tracing::warn!(flow_id = %flow.flow_id, step = %failed_step, %error_type, %message, "step failed");
                ctx.insert_in(
                    "_step_error",
                    &step.id,
                    json!({"error_type": error_type, "error": message}),
                )
                .map_err(at())?;
                // As the original kernel does: the step's output holds the failure, so a
                // later `when: "$ctx.<output>._kernel_step_status == failed"` sees it.
                let mut meta = json!({"error": message, "error_type": error_type});
                if let Action::PythonFileCall(_) = step.action {
                    meta["execution_mode"] = json!(self.sandbox.execution_mode());
                }
                self.store(
                    step,
                    &mut ctx,
                    json!({"_kernel_step_status": "failed", "_kernel_step_meta": meta}),
                )
                .map_err(at())?;
                match action {
                    OnError::Continue => {}
                    OnError::DisableTarget => disabled.extend(
                        flow.steps
                            .iter()
                            .filter(|x| x.depends_on.contains(&step.id))
                            .map(|x| x.id.clone()),
                    ),
                    OnError::Abort if unavailable => {
                        return Err(FlowError::Unavailable {
                            step: failed_step,
                            error_type,
                            message,
                        });
                    }
                    OnError::Abort => {
                        return Err(FlowError::Step {
                            step: failed_step,
                            error_type,
                            message,
                        });
                    }
                }
            }
            Ok((ctx, false))
        })
    }

    /// Stores a step's result (or its failure record) where it goes: under `output` (or
    /// the key a `set` / `kernel:ctx.set` names), else, when not `null`, under
    /// `_step_out.<step_id>`.
    fn store(&self, step: &Step, ctx: &mut Context, out: Value) -> Result<(), TooLarge> {
        match store_key(step, ctx.map(), &mut ctx.budget())? {
            Some(key) => ctx.insert(key, out),
            None if !out.is_null() => ctx.insert_in("_step_out", &step.id, out),
            None => Ok(()),
        }
    }

    /// Runs one step. Every value it builds (its input, a sub-flow's context) is resolved
    /// here, within what the run's contexts leave ([`Context::budget`]).
    async fn step(
        &self,
        flow: &Flow,
        step: &Step,
        ctx: &Context,
        stack: &[Frame],
        run: &Run,
    ) -> Result<Value, StepFail> {
        let bound = || too_large(format!("step {}", step.id));
        let mut budget = ctx.budget();
        let mut resolve = |v: &Value| vars::resolve(v, ctx.map(), &mut budget).map_err(bound());
        // A pack's run reaches steps it did not write through sub-flows: an official flow, or
        // another pack's, whose steps run as someone else. None of them runs for the pack.
        let packs = || stack.iter().filter_map(|f| f.pack.as_ref());
        if let Some(owner) = owner::step_owner(step)
            && !owner::allows(packs(), owner)
        {
            let pack = packs()
                .find(|p| p.as_str() != owner)
                .expect("the rule fails only for a pack on the chain other than the owner")
                .clone();
            let mut ev = owner_refused_event(&flow.flow_id, &step.id, &pack, owner, "run", None);
            ev = ev.detail(
                "call_chain",
                stack
                    .iter()
                    .map(|f| Value::String(f.flow_id.clone()))
                    .collect::<Vec<_>>(),
            );
            self.audit.record(ev).await;
            return Err(StepError::new(
                StepErrorKind::OwnerRefused,
                format!(
                    "step runs as {owner:?}, but pack {pack}'s flow is on the call chain: a pack's steps run only as that pack"
                ),
            )
            .into());
        }
        match &step.action {
            Action::Set { value, .. } => Ok(resolve(value)?),
            Action::If { condition } => Ok(vars::condition(condition, ctx.map(), &mut ctx.budget())
                .map(Value::Bool)
                .map_err(bound())?),
            Action::Handler { handler, args } => {
                // A pack flow anywhere up the call chain makes this a pack's call, even when
                // the step sits in an official flow it called as a sub-flow.
                let pack_context = stack.iter().any(|f| f.pack.is_some());
                let args = resolve(args)?;
                if *handler == Handler::CtxGet {
                    let key = args.get("key").and_then(Value::as_str).unwrap_or_default();
                    // A copy, charged before it is made.
                    return match vars::lookup(ctx.map(), key) {
                        Some(v) => Ok(budget.copy(v, 1).map_err(bound())?),
                        None => Ok(Value::Null),
                    };
                }
                Ok(self.kernel(handler, args, pack_context)?)
            }
            Action::Flow { flow: id, args } => {
                let child = self.flows().flows.get(id).cloned().ok_or_else(|| {
                    StepError::new(StepErrorKind::FlowNotFound, format!("sub-flow {id:?} does not exist"))
                })?;
                // The sub-flow gets a copy of the context: it counts against the same run.
                let args = match resolve(args)? {
                    Value::Object(args) => args,
                    _ => Map::new(),
                };
                let child_ctx = ctx.child(args).map_err(bound())?;
                let (out, _) = self
                    .execute(child, child_ctx, stack.to_vec(), run)
                    .await
                    .map_err(|e| match e {
                        FlowError::Step { .. } | FlowError::Unavailable { .. } => StepFail::SubFlow(e),
                        other => StepFail::Run(other),
                    })?;
                Ok(Value::Object(
                    out.into_map()
                        .into_iter()
                        .filter(|(k, _)| !k.starts_with('_'))
                        .collect(),
                ))
            }
            Action::PythonFileCall(call) => {
                let input = resolve(&call.input)?;
                Ok(self.python_file_call(flow, step, call, input, run.deadline).await?)
            }
            Action::Function(call) => {
                let args = match resolve(&call.args)? {
                    Value::Null => Value::Object(Map::new()),
                    a @ Value::Object(_) => a,
                    _ => {
                        return Err(StepError::new(
                            StepErrorKind::Validation,
                            "the function's arguments (input) must be a mapping",
                        )
                        .into());
                    }
                };
                Ok(self.function_call(flow, step, call, args, run.deadline).await?)
            }
        }
    }

    /// A `handler` step with its resolved `args` (`kernel:ctx.get`, which copies from the
    /// context, is answered in [`FlowEngine::step`]).
    fn kernel(&self, handler: &Handler, mut args: Value, pack_context: bool) -> Result<Value, StepError> {
        if handler.is_operator_only() && pack_context {
            return Err(StepError::new(
                StepErrorKind::HandlerNotAllowed,
                format!("{} is only available to official and shared flows", handler.name()),
            ));
        }
        match handler {
            Handler::Noop => Ok(Value::Null),
            Handler::CtxSet => Ok(args.get_mut("value").map(Value::take).unwrap_or(Value::Null)),
            Handler::SharedDict(op) => {
                let dict = self
                    .shared_dict
                    .get()
                    .ok_or_else(|| StepError::new(StepErrorKind::NotReady, "shared dictionary not loaded"))?;
                let arg = |k: &str| args.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                let ns = args
                    .get("namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("flow_id")
                    .to_owned();
                match op {
                    DictOp::Resolve => dict
                        .resolve(&ns, &arg("token"))
                        .map(Value::String)
                        .map_err(|e| StepError::new(StepErrorKind::SharedDict(e), format!("cannot resolve: {e}"))),
                    DictOp::Propose => Ok(json!({"result": dict.propose(&ns, &arg("token"), &arg("value"))})),
                    DictOp::Remove => Ok(json!({"result": dict.remove(&ns, &arg("token"))})),
                    DictOp::Explain => Ok(dict.explain(&ns, &arg("token"))),
                    DictOp::List => Ok(dict.list(args.get("namespace").and_then(Value::as_str))),
                }
            }
            Handler::LibListRecords => Ok(self.lib_records.get().map_or(Value::Null, |l| l.list())),
            Handler::LibClearRecord => {
                let pack = args.get("pack_id").and_then(Value::as_str).unwrap_or_default();
                Ok(Value::Bool(self.lib_records.get().is_some_and(|l| l.clear(pack))))
            }
            Handler::FlowAbort => {
                Ok(json!({"__flow_control": "abort", "reason": args.get("reason").cloned().unwrap_or(Value::Null)}))
            }
            // `kernel:ctx.get` never gets here ([`FlowEngine::step`] answers it).
            Handler::CtxGet | Handler::Unknown(_) => Err(StepError::new(
                StepErrorKind::HandlerNotFound,
                format!("unknown handler {:?}", handler.name()),
            )),
        }
    }

    /// Resolves a block file inside the pack's approved snapshot: it must be one of its
    /// regular files (never a symlink, never below one), under the usual block directories.
    fn resolve_block(snap: &PackSnapshot, file: &str) -> Result<PathBuf, StepError> {
        let rel = Path::new(file);
        if file.is_empty()
            || file.contains('\0')
            || rel.is_absolute()
            || rel.components().any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(StepError::new(
                StepErrorKind::PathRejected,
                "file must be a relative path inside the pack",
            ));
        }
        let file = file.trim_end_matches('/');
        for base in ["blocks", "backend/blocks", "backend/components", "backend", ""] {
            let candidate = if base.is_empty() {
                file.to_owned()
            } else {
                format!("{base}/{file}")
            };
            if snap.is_file(&candidate) {
                return Ok(PathBuf::from(candidate));
            }
            if snap.hashes().contains_key(&candidate) {
                return Err(StepError::new(
                    StepErrorKind::PathRejected,
                    format!("{candidate} is a symlink; blocks must be regular files of the pack"),
                ));
            }
        }
        Err(StepError::new(
            StepErrorKind::FileNotFound,
            format!("{file} not found in the pack"),
        ))
    }

    /// A `python_file_call` step with its resolved `input`.
    async fn python_file_call(
        &self,
        flow: &Flow,
        step: &Step,
        call: &BlockCall,
        input: Value,
        deadline: Instant,
    ) -> Result<Value, StepError> {
        let owner = PackId::parse(&call.owner_pack)
            .map_err(|e| StepError::new(StepErrorKind::PathRejected, format!("owner_pack: {e}")))?;
        let mut base = AuditEvent::new(Category::PythonFileCall, "python_file_call").owner_pack(owner.as_str());
        base.flow_id = Some(flow.flow_id.clone());
        base.step_id = Some(step.id.clone());
        base.phase = Some(step.phase.clone());
        if let Some(p) = &call.principal_id
            && p != owner.as_str()
        {
            let mut ev = AuditEvent::new(Category::Security, "principal_id_overridden")
                .severity(Severity::Warning)
                .owner_pack(owner.as_str())
                .detail("requested_principal", p.clone())
                .detail("effective_principal", owner.as_str());
            ev.flow_id = Some(flow.flow_id.clone());
            ev.step_id = Some(step.id.clone());
            self.audit.record(ev).await;
        }
        let started = Instant::now();
        let result = self.run_block(&flow.flow_id, &owner, step, call, input, deadline).await;
        self.metrics
            .python_file_call_seconds
            .observe(started.elapsed().as_secs_f64());
        if self.sandbox.mode() == SecurityMode::Strict {
            match &result {
                Ok(_) => self.metrics.container_start_success.inc(),
                Err(e) if e.kind.is_start_failure() => self.metrics.container_start_failed.inc(),
                Err(_) => 0,
            };
        }
        base.execution_mode = Some(self.sandbox.execution_mode().to_owned());
        match &result {
            Ok(_) => self.audit.record(base).await,
            Err(e) => {
                let sev = if e.kind.is_refusal() {
                    Severity::Warning
                } else {
                    Severity::Info
                };
                self.audit
                    .record(base.failed(sev, e.kind.error_type(), e.message.clone()))
                    .await;
            }
        }
        result
    }

    /// The owner pack's approved snapshot, if the pack is approved now. Nothing is hashed:
    /// what runs is the snapshot taken at approval, whatever happened in `ecosystem/` since.
    fn verify_owner(&self, owner: &PackId) -> Result<Arc<PackSnapshot>, StepError> {
        self.packs.verify_for_use(owner).map_err(|e| {
            let kind = match &e {
                crate::error::Error::PackNotApproved { state: "modified", .. } => StepErrorKind::HashVerificationFailed,
                _ => StepErrorKind::ApprovalRejected,
            };
            StepError::new(kind, e.to_string())
        })
    }

    /// A `function` step: calls a registered function (a built-in capability or a trusted
    /// handler, by its permission id) as the owner pack, through that pack's capability
    /// socket, so rumi-capd applies exactly the trust, grant, rate-limit and audit rules the
    /// pack's own code meets.
    async fn function_call(
        &self,
        flow: &Flow,
        step: &Step,
        call: &FunctionCall,
        args: Value,
        deadline: Instant,
    ) -> Result<Value, StepError> {
        let owner = PackId::parse(&call.owner_pack)
            .map_err(|e| StepError::new(StepErrorKind::Validation, format!("owner_pack: {e}")))?;
        let function = &call.function;
        self.verify_owner(&owner)?;
        let socket = self.sandbox.capability_socket(&owner);
        let request = json!({
            "permission_id": function,
            "args": args,
            "request_id": format!("flow:{}:{}", flow.flow_id, step.id),
        });
        let exchange = async {
            let mut conn = tokio::net::UnixStream::connect(&socket).await?;
            rumi_common::framing::write_frame(&mut conn, &request).await?;
            rumi_common::framing::read_frame(&mut conn, crate::sandbox::MAX_STDOUT_BYTES)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let requested = call.timeout.unwrap_or(FUNCTION_TIMEOUT);
        let timeout = requested.min(remaining);
        let response = match tokio::time::timeout(timeout, exchange).await {
            Err(_) => {
                return Err(StepError::new(
                    StepErrorKind::Timeout,
                    format!("{function} timed out after {timeout:?}"),
                ));
            }
            Ok(Err(e)) => {
                return Err(StepError::new(
                    StepErrorKind::CapabilityUnavailable,
                    format!("cannot reach the capability helper for {owner}: {e}"),
                ));
            }
            Ok(Ok(r)) => r,
        };
        let output = response.get("output").cloned().unwrap_or(Value::Null);
        // A handler may answer the call and still report a failure in its output (the
        // built-ins' `{"success": false, "error", "error_type"}`): the step failed too.
        let reported_failure = output.get("success") == Some(&Value::Bool(false));
        if response.get("success") == Some(&Value::Bool(true)) && !reported_failure {
            return Ok(output);
        }
        // The failure is the output's when the handler reported it there, else the call's.
        let failed = |key: &str| {
            if reported_failure {
                output.get(key)
            } else {
                response.get(key)
            }
            .and_then(Value::as_str)
        };
        let error_type = failed("error_type").unwrap_or("function_execution_error");
        let message = failed("error").unwrap_or("the function failed");
        Err(StepError::new(
            StepErrorKind::Capability(error_type.to_owned()),
            format!("{function}: {message}"),
        ))
    }

    async fn run_block(
        &self,
        flow_id: &str,
        owner: &PackId,
        step: &Step,
        call: &BlockCall,
        input: Value,
        deadline: Instant,
    ) -> Result<Value, StepError> {
        let snap = self.verify_owner(owner)?;
        let file_rel = Self::resolve_block(&snap, &call.file)?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let requested = call.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let block = BlockRun {
            pack: owner.clone(),
            pack_dir: snap.dir().to_path_buf(),
            snapshot: Some(snap),
            file_rel,
            context: json!({
                "flow_id": flow_id,
                "step_id": step.id,
                "phase": step.phase,
                "ts": rumi_common::time::now_rfc3339(),
                "owner_pack": owner,
                "inputs": input,
            }),
            input,
            timeout: requested.min(remaining),
            hold: None,
        };
        Ok(self.sandboxed(block, false).await?)
    }
}

/// A declared output whose value is not of its type.
#[derive(Debug, PartialEq, Eq)]
struct OutputMismatch {
    name: String,
    declared: String,
    got: &'static str,
}

/// The result `outputs` make of the final context, and the declared outputs whose values
/// do not match their type (see [`FlowEngine::result_of`]).
fn outputs_of(flow: &Flow, ctx: &Context) -> Result<(Value, Vec<OutputMismatch>), FlowError> {
    let mut budget = ctx.budget();
    let mut result = Map::new();
    let mut mismatches = Vec::new();
    for (name, out) in &flow.outputs {
        if name.starts_with('_') {
            continue;
        }
        let value = match out {
            Output::Declared(ty) => {
                let value = ctx.map().get(name).cloned().unwrap_or(Value::Null);
                if !ty.admits(&value) {
                    mismatches.push(OutputMismatch {
                        name: name.clone(),
                        declared: ty.word().to_owned(),
                        got: if ctx.map().contains_key(name) {
                            model::type_of(&value)
                        } else {
                            "nothing (the key is not in the final context)"
                        },
                    });
                }
                value
            }
            Output::Expression(expr) => {
                vars::resolve(expr, ctx.map(), &mut budget).map_err(too_large("the flow's outputs"))?
            }
        };
        result.insert(name.clone(), value);
    }
    Ok((Value::Object(result), mismatches))
}

/// Where a step's result goes: `output`, else the key a `set` / `kernel:ctx.set` names.
///
/// # Errors
/// [`TooLarge`] when resolving the key of `kernel:ctx.set` would not fit.
fn store_key(step: &Step, ctx: &Map<String, Value>, budget: &mut context::Budget) -> Result<Option<String>, TooLarge> {
    if let Some(o) = &step.output {
        return Ok(Some(o.clone()));
    }
    let named = match &step.action {
        Action::Set { key, .. } => return Ok(key.clone()),
        Action::Handler {
            handler: Handler::CtxSet,
            args,
        } => match args {
            // Only the key is resolved again, not the value.
            Value::Object(a) => a.get("key").map(|k| vars::resolve(k, ctx, budget)).transpose()?,
            Value::Null => None,
            other => vars::resolve(other, ctx, budget)?.get("key").cloned(),
        },
        _ => None,
    };
    Ok(named.and_then(|k| k.as_str().map(str::to_owned)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(text: &str) -> Flow {
        loader::parse_flow_text(text, model::Source::Official, PathBuf::from("t.flow.yaml")).unwrap()
    }

    #[test]
    fn declared_outputs_return_their_context_keys_and_report_other_types() {
        let flow = flow(
            "flow_id: f\noutputs:\n  greeting: object\n  name: string\n  count: integer\n  missing: string\n  _hidden: any\n  city: '${ctx.place.city}'\n",
        );
        let ctx = Context::for_inputs(
            json!({"greeting": {"message": "hi"}, "name": 7, "count": 2, "place": {"city": "Oslo"}, "_hidden": 1, "extra": true}),
            1 << 20,
        )
        .unwrap();
        let (result, mismatches) = outputs_of(&flow, &ctx).unwrap();
        assert_eq!(
            result,
            json!({"greeting": {"message": "hi"}, "name": 7, "count": 2, "missing": null, "city": "Oslo"}),
            "the declared keys, not the type words; no other key of the context"
        );
        assert_eq!(
            mismatches,
            [
                OutputMismatch {
                    name: "missing".into(),
                    declared: "string".into(),
                    got: "nothing (the key is not in the final context)",
                },
                OutputMismatch {
                    name: "name".into(),
                    declared: "string".into(),
                    got: "integer",
                },
            ]
        );
    }

    #[test]
    fn without_outputs_the_result_is_the_context_minus_inputs_and_internal_keys() {
        let flow = flow("flow_id: f\nsteps: []\n");
        let ctx = Context::for_inputs(json!({"a": 1, "_b": 2}), 1 << 20).unwrap();
        assert_eq!(FlowEngine::result_of(&flow, ctx).unwrap(), json!({"a": 1}));
    }

    #[test]
    fn step_error_kinds_classify_without_reading_text() {
        let docker = StepErrorKind::Block(BlockError::Sandbox(SandboxError::DockerRequired("down".into())));
        assert!(docker.is_unavailable() && docker.is_start_failure());
        assert_eq!(docker.error_type(), "docker_required");
        assert!(StepErrorKind::NotReady.is_unavailable());
        let failed = StepErrorKind::Block(BlockError::Sandbox(SandboxError::Failed {
            code: 1,
            stderr: "docker_required".into(),
        }));
        assert!(!failed.is_unavailable() && !failed.is_start_failure());
        // A helper's error type is passed on, never taken for one of rumid's own.
        let helper = StepErrorKind::Capability("not_ready".into());
        assert!(!helper.is_unavailable());
        assert_eq!(helper.error_type(), "not_ready");
        assert!(StepErrorKind::PathRejected.is_refusal() && !StepErrorKind::Timeout.is_refusal());
    }
}
