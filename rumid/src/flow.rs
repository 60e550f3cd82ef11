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
use self::model::{Flow, OnError, Step};
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
pub const MAX_STEP_TIMEOUT: f64 = 600.0;
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

/// Step error types that mean "temporarily unavailable" rather than "the step is broken".
const UNAVAILABLE_ERROR_TYPES: &[&str] = &["docker_required", "not_ready"];

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

/// A step failure.
#[derive(Debug)]
struct StepError {
    error_type: String,
    message: String,
}

impl StepError {
    fn new(error_type: &str, message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.to_owned(),
            message: message.into(),
        }
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
        let _slot = tokio::time::timeout(block.timeout, self.container_slots.take(Some(&block.pack)))
            .await
            .map_err(|_| BlockError::Busy {
                pack: block.pack.clone(),
                waited: block.timeout,
            })?;
        block.timeout = block.timeout.saturating_sub(started.elapsed());
        let _running = Running::new(
            self.metrics
                .containers_running
                .get_or_create(&crate::metrics::PackLabels {
                    pack_id: block.pack.to_string(),
                })
                .clone(),
        );
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
            tracing::warn!(path = %d.path, message = %d.message, "route refused");
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
            tracing::warn!(path = %d.path, level = d.level, message = %d.message, "flow load problem");
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

    /// A run's result: its `outputs` resolved against the final context or, without
    /// `outputs`, that context minus `inputs`; keys starting with `_` are left out.
    fn result_of(flow: &Flow, ctx: Context) -> Result<Value, FlowError> {
        if flow.outputs.is_empty() {
            return Ok(Value::Object(
                ctx.into_map()
                    .into_iter()
                    .filter(|(k, _)| !k.starts_with('_') && k != "inputs")
                    .collect(),
            ));
        }
        let resolved = vars::resolve(&Value::Object(flow.outputs.clone()), ctx.map(), &mut ctx.budget())
            .map_err(too_large("the flow's outputs"))?;
        Ok(match resolved {
            Value::Object(m) => Value::Object(m.into_iter().filter(|(k, _)| !k.starts_with('_')).collect()),
            other => other,
        })
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
                    .or_else(|| {
                        (step.kind == "flow")
                            .then(|| step.flow.clone().unwrap_or_default())
                            .filter(|id| !self.flows().flows.contains_key(id))
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
                    handler: step
                        .input
                        .get("handler")
                        .and_then(Value::as_str)
                        .unwrap_or(&step.kind)
                        .to_owned(),
                };
                match &result {
                    Ok(_) => self.metrics.step_success.get_or_create(&label).inc(),
                    Err(_) => self.metrics.step_error.get_or_create(&label).inc(),
                };
                match result {
                    Ok(out) => {
                        let out = match out {
                            Value::Object(mut m) if m.len() == 1 && m.contains_key("output") => {
                                m.remove("output").unwrap_or(Value::Null)
                            }
                            other => other,
                        };
                        let abort = out.get("__flow_control").and_then(Value::as_str) == Some("abort");
                        let at = || too_large(format!("step {}", step.id));
                        if abort {
                            ctx.insert("_flow_control_abort".into(), Value::Bool(true))
                                .map_err(at())?;
                            ctx.insert(
                                "_flow_control_abort_reason".into(),
                                out.get("reason").cloned().unwrap_or(Value::Null),
                            )
                            .map_err(at())?;
                        }
                        match store_key(step, ctx.map(), &mut ctx.budget()).map_err(at())? {
                            Some(key) => ctx.insert(key, out).map_err(at())?,
                            None if !out.is_null() => ctx.insert_in("_step_out", &step.id, out).map_err(at())?,
                            None => {}
                        }
                        if abort {
                            return Ok((ctx, true));
                        }
                    }
                    Err(
                        FlowError::Step {
                            step: s,
                            error_type,
                            message,
                        }
                        | FlowError::Unavailable {
                            step: s,
                            error_type,
                            message,
                        },
                    ) => {
                        let action = step.on_error.unwrap_or(if flow.fail_soft {
                            OnError::Continue
                        } else {
                            OnError::Abort
                        });
                        tracing::warn!(flow_id = %flow.flow_id, step = %s, %error_type, %message, "step failed");
                        ctx.insert_in(
                            "_step_error",
                            &step.id,
                            json!({"error_type": error_type, "error": message}),
                        )
                        .map_err(too_large(format!("step {}", step.id)))?;
                        match action {
                            OnError::Continue => {}
                            OnError::DisableTarget => disabled.extend(
                                flow.steps
                                    .iter()
                                    .filter(|x| x.depends_on.contains(&step.id))
                                    .map(|x| x.id.clone()),
                            ),
                            OnError::Abort if UNAVAILABLE_ERROR_TYPES.contains(&error_type.as_str()) => {
                                return Err(FlowError::Unavailable {
                                    step: s,
                                    error_type,
                                    message,
                                });
                            }
                            OnError::Abort => {
                                return Err(FlowError::Step {
                                    step: s,
                                    error_type,
                                    message,
                                });
                            }
                        }
                    }
                    Err(other) => return Err(other),
                }
            }
            Ok((ctx, false))
        })
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
    ) -> Result<Value, FlowError> {
        let fail = |e: StepError| FlowError::Step {
            step: step.id.clone(),
            error_type: e.error_type,
            message: e.message,
        };
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
            return Err(fail(StepError::new(
                "owner_refused",
                format!(
                    "step runs as {owner:?}, but pack {pack}'s flow is on the call chain: a pack's steps run only as that pack"
                ),
            )));
        }
        match step.kind.as_str() {
            "set" => {
                if step.input.get("key").and_then(Value::as_str).is_none() && step.output.is_none() {
                    return Err(fail(StepError::new(
                        "validation_error",
                        "set needs input.key or output",
                    )));
                }
                resolve(step.input.get("value").unwrap_or(&Value::Null))
            }
            "if" => {
                let cond = step.input.get("condition").and_then(Value::as_str).unwrap_or("false");
                vars::condition(cond, ctx.map(), &mut ctx.budget())
                    .map(Value::Bool)
                    .map_err(bound())
            }
            "handler" => {
                // A pack flow anywhere up the call chain makes this a pack's call, even when
                // the step sits in an official flow it called as a sub-flow.
                let pack_context = stack.iter().any(|f| f.pack.is_some());
                let args = resolve(step.input.get("args").unwrap_or(&Value::Null))?;
                if step.input.get("handler").and_then(Value::as_str) == Some("kernel:ctx.get") {
                    let key = args.get("key").and_then(Value::as_str).unwrap_or_default();
                    // A copy, charged before it is made.
                    return match vars::lookup(ctx.map(), key) {
                        Some(v) => budget.copy(v, 1).map_err(bound()),
                        None => Ok(Value::Null),
                    };
                }
                self.kernel(step, args, pack_context).map_err(fail)
            }
            "flow" => {
                let id = step.flow.clone().unwrap_or_default();
                let child = self.flows().flows.get(&id).cloned().ok_or_else(|| {
                    fail(StepError::new(
                        "flow_not_found",
                        format!("sub-flow {id:?} does not exist"),
                    ))
                })?;
                // The sub-flow gets a copy of the context: it counts against the same run.
                let args = match resolve(&step.args)? {
                    Value::Object(args) => args,
                    _ => Map::new(),
                };
                let child_ctx = ctx.child(args).map_err(bound())?;
                let (out, _) = self.execute(child, child_ctx, stack.to_vec(), run).await?;
                Ok(Value::Object(
                    out.into_map()
                        .into_iter()
                        .filter(|(k, _)| !k.starts_with('_'))
                        .collect(),
                ))
            }
            "python_file_call" => {
                let input = resolve(&step.input)?;
                self.python_file_call(flow, step, input, run.deadline)
                    .await
                    .map_err(fail)
            }
            "function" => {
                let args = match step.input.get("args").map(&mut resolve).transpose()? {
                    None | Some(Value::Null) => Value::Object(Map::new()),
                    Some(a @ Value::Object(_)) => a,
                    Some(_) => return Err(fail(StepError::new("validation_error", "input.args must be an object"))),
                };
                self.function_call(flow, step, args, run.deadline).await.map_err(fail)
            }
            other => Err(fail(StepError::new(
                "unknown_step_type",
                format!("unknown step type {other}"),
            ))),
        }
    }

    /// A `handler` step with its resolved `args` (`kernel:ctx.get`, which copies from the
    /// context, is answered in [`FlowEngine::step`]).
    fn kernel(&self, step: &Step, mut args: Value, pack_context: bool) -> Result<Value, StepError> {
        let handler = step.input.get("handler").and_then(Value::as_str).unwrap_or_default();
        // Handlers that change shared state or read other packs' records serve the
        // operator's flows only: a pack flow could otherwise redirect shared modifiers or
        // re-run another pack's install script.
        let operator_only = matches!(
            handler,
            "kernel:shared_dict.propose"
                | "kernel:shared_dict.remove"
                | "kernel:lib.list_records"
                | "kernel:lib.clear_record"
        );
        if operator_only && pack_context {
            return Err(StepError::new(
                "handler_not_allowed",
                format!("{handler} is only available to official and shared flows"),
            ));
        }
        match handler {
            "kernel:noop" => Ok(Value::Null),
            "kernel:ctx.set" => Ok(args.get_mut("value").map(Value::take).unwrap_or(Value::Null)),
            h if h.starts_with("kernel:shared_dict.") => {
                let dict = self
                    .shared_dict
                    .get()
                    .ok_or_else(|| StepError::new("not_ready", "shared dictionary not loaded"))?;
                let arg = |k: &str| args.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                let ns = args
                    .get("namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("flow_id")
                    .to_owned();
                match &h["kernel:shared_dict.".len()..] {
                    "resolve" => dict
                        .resolve(&ns, &arg("token"))
                        .map(Value::String)
                        .map_err(|e| StepError::new(e, format!("cannot resolve: {e}"))),
                    "propose" => Ok(json!({"result": dict.propose(&ns, &arg("token"), &arg("value"))})),
                    "remove" => Ok(json!({"result": dict.remove(&ns, &arg("token"))})),
                    "explain" => Ok(dict.explain(&ns, &arg("token"))),
                    "list" => Ok(dict.list(args.get("namespace").and_then(Value::as_str))),
                    other => Err(StepError::new(
                        "handler_not_found",
                        format!("unknown shared_dict handler {other:?}"),
                    )),
                }
            }
            "kernel:lib.list_records" => Ok(self.lib_records.get().map_or(Value::Null, |l| l.list())),
            "kernel:lib.clear_record" => {
                let pack = args.get("pack_id").and_then(Value::as_str).unwrap_or_default();
                Ok(Value::Bool(self.lib_records.get().is_some_and(|l| l.clear(pack))))
            }
            "kernel:flow.abort" => {
                Ok(json!({"__flow_control": "abort", "reason": args.get("reason").cloned().unwrap_or(Value::Null)}))
            }
            other => Err(StepError::new(
                "handler_not_found",
                format!("unknown handler {other:?}"),
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
                "path_rejected",
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
                    "path_rejected",
                    format!("{candidate} is a symlink; blocks must be regular files of the pack"),
                ));
            }
        }
        Err(StepError::new(
            "file_not_found",
            format!("{file} not found in the pack"),
        ))
    }

    /// A `python_file_call` step with its resolved `input`.
    async fn python_file_call(
        &self,
        flow: &Flow,
        step: &Step,
        input: Value,
        deadline: Instant,
    ) -> Result<Value, StepError> {
        let owner_raw = step.owner_pack.clone().unwrap_or_default();
        let owner =
            PackId::parse(&owner_raw).map_err(|e| StepError::new("path_rejected", format!("owner_pack: {e}")))?;
        let mut base = AuditEvent::new(Category::PythonFileCall, "python_file_call").owner_pack(owner.as_str());
        base.flow_id = Some(flow.flow_id.clone());
        base.step_id = Some(step.id.clone());
        base.phase = Some(step.phase.clone());
        if let Some(p) = &step.principal_id
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
        let result = self.run_block(&flow.flow_id, &owner, step, input, deadline).await;
        self.metrics
            .python_file_call_seconds
            .observe(started.elapsed().as_secs_f64());
        if self.sandbox.mode() == SecurityMode::Strict {
            match &result {
                Ok(_) => self.metrics.container_start_success.inc(),
                Err(e) if e.error_type == "sandbox_error" || e.error_type == "docker_required" => {
                    self.metrics.container_start_failed.inc()
                }
                Err(_) => 0,
            };
        }
        base.execution_mode = Some(self.sandbox.execution_mode().to_owned());
        match &result {
            Ok(_) => self.audit.record(base).await,
            Err(e) => {
                let sev = if matches!(
                    e.error_type.as_str(),
                    "approval_rejected" | "hash_verification_failed" | "path_rejected"
                ) {
                    Severity::Warning
                } else {
                    Severity::Info
                };
                self.audit
                    .record(base.failed(sev, &e.error_type, e.message.clone()))
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
                crate::error::Error::PackNotApproved { state: "modified", .. } => "hash_verification_failed",
                _ => "approval_rejected",
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
        args: Value,
        deadline: Instant,
    ) -> Result<Value, StepError> {
        let owner = PackId::parse(step.owner_pack.as_deref().unwrap_or_default())
            .map_err(|e| StepError::new("validation_error", format!("owner_pack: {e}")))?;
        let function = step
            .input
            .get("function")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.verify_owner(&owner)?;
        let socket = self.sandbox.capability_socket(&owner);
        let request = json!({
            "permission_id": function,
            "args": args,
            "request_id": format!("flow:{}:{}", flow.flow_id, step.id),
        });
        let call = async {
            let mut conn = tokio::net::UnixStream::connect(&socket).await?;
            rumi_common::framing::write_frame(&mut conn, &request).await?;
            rumi_common::framing::read_frame(&mut conn, crate::sandbox::MAX_STDOUT_BYTES)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let requested = step
            .timeout_seconds
            .filter(|t| *t > 0.0)
            .map_or(FUNCTION_TIMEOUT, |t| Duration::from_secs_f64(t.min(MAX_STEP_TIMEOUT)));
        let timeout = requested.min(remaining);
        let response = match tokio::time::timeout(timeout, call).await {
            Err(_) => {
                return Err(StepError::new(
                    "timeout",
                    format!("{function} timed out after {timeout:?}"),
                ));
            }
            Ok(Err(e)) => {
                return Err(StepError::new(
                    "capability_unavailable",
                    format!("cannot reach the capability helper for {owner}: {e}"),
                ));
            }
            Ok(Ok(r)) => r,
        };
        if response.get("success") == Some(&Value::Bool(true)) {
            Ok(response.get("output").cloned().unwrap_or(Value::Null))
        } else {
            let error_type = response
                .get("error_type")
                .and_then(Value::as_str)
                .unwrap_or("function_execution_error");
            let message = response
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("the function failed");
            Err(StepError::new(error_type, format!("{function}: {message}")))
        }
    }

    async fn run_block(
        &self,
        flow_id: &str,
        owner: &PackId,
        step: &Step,
        input: Value,
        deadline: Instant,
    ) -> Result<Value, StepError> {
        let snap = self.verify_owner(owner)?;
        let file_rel = Self::resolve_block(&snap, step.file.as_deref().unwrap_or_default())?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let requested = step
            .timeout_seconds
            .filter(|t| *t > 0.0)
            .map_or(DEFAULT_TIMEOUT, |t| Duration::from_secs_f64(t.min(MAX_STEP_TIMEOUT)));
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
        };
        self.sandboxed(block, false)
            .await
            .map_err(|e| StepError::new(e.error_type(), e.to_string()))
    }
}

/// Where a step's result goes: `output`, else the key a `set` / `kernel:ctx.set` names.
///
/// # Errors
/// [`TooLarge`] when resolving the key of `kernel:ctx.set` would not fit.
fn store_key(step: &Step, ctx: &Map<String, Value>, budget: &mut context::Budget) -> Result<Option<String>, TooLarge> {
    if let Some(o) = &step.output {
        return Ok(Some(o.clone()));
    }
    let named = match step.kind.as_str() {
        "set" => step.input.get("key").cloned(),
        "handler" if step.input.get("handler").and_then(Value::as_str) == Some("kernel:ctx.set") => {
            match step.input.get("args") {
                // Only the key is resolved again, not the value.
                Some(Value::Object(a)) => a.get("key").map(|k| vars::resolve(k, ctx, budget)).transpose()?,
                Some(other) => vars::resolve(other, ctx, budget)?.get("key").cloned(),
                None => None,
            }
        }
        _ => None,
    };
    Ok(named.and_then(|k| k.as_str().map(str::to_owned)))
}
