//! The flow engine: loads flows, runs their steps in order, and runs pack code through the
//! sandbox ([`crate::sandbox`]).
//!
//! Before any pack code runs, the owner pack must be approved **and** its files must still
//! hash as approved (re-checked on every call), the block file must resolve inside the
//! pack's directory (symlinks resolved), and the principal is always the owner pack: a
//! different `principal_id` in a step is overridden and audited.

pub mod loader;
pub mod model;
pub mod modifier;
pub mod schedule;
pub mod vars;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use rumi_common::ids::PackId;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use self::loader::Diagnostic;
use self::model::{Flow, OnError, Step};
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
    #[error("step {step} failed ({error_type}): {message}")]
    Step {
        step: String,
        error_type: String,
        message: String,
    },
    #[error("Recursive flow detected: {0}")]
    Recursion(String),
    /// A step could not run because something it needs is down for now (Docker in strict
    /// mode, a component still starting): the flow stopped, and a retry may succeed.
    #[error("step {step} cannot run now ({error_type}): {message}")]
    Unavailable {
        step: String,
        error_type: String,
        message: String,
    },
}

/// Step error types that mean "temporarily unavailable" rather than "the step is broken".
const UNAVAILABLE_ERROR_TYPES: &[&str] = &["docker_required", "not_ready"];

/// The final context of a flow and whether it was aborted.
type FlowOutcome = Result<(Map<String, Value>, bool), FlowError>;
/// A boxed flow execution (sub-flows recurse).
type FlowFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = FlowOutcome> + Send + 'a>>;

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
    slots: Arc<Semaphore>,
    max_response_bytes: usize,
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
        max_concurrent: usize,
        max_response_bytes: usize,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        Self {
            home,
            set: ArcSwap::from_pointee(FlowSet::default()),
            packs,
            audit,
            sandbox,
            slots: Arc::new(Semaphore::new(max_concurrent)),
            max_response_bytes,
            metrics,
            lib_records: std::sync::OnceLock::new(),
            routes: ArcSwap::from_pointee(crate::routes::RouteTable::default()),
            shared_dict: std::sync::OnceLock::new(),
            capability_handlers: std::sync::OnceLock::new(),
        }
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
    ) -> Result<Value, SandboxError> {
        let block = BlockRun {
            pack: principal.clone(),
            pack_dir: dir.to_path_buf(),
            snapshot: None,
            file_rel: PathBuf::from(entrypoint),
            context: json!({"unit": true, "owner_pack": principal, "ts": rumi_common::time::now_rfc3339(), "inputs": args}),
            input: args,
            timeout,
        };
        self.sandbox.run_block(&block).await
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
        for a in modifier::apply(
            &mut flows,
            &mods,
            self.shared_dict.get().map(|d| d.as_ref()),
            &available,
            &mut diagnostics,
        ) {
            let mut ev = AuditEvent::new(Category::ModifierApplication, "modifier_applied").detail("action", a.action);
            ev.modifier_id = Some(a.modifier_id);
            ev.flow_id = Some(a.flow_id);
            self.audit.record_blocking(ev);
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
        match self.sandbox.run_block(&block).await {
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
        let _slot = self.slots.clone().try_acquire_owned().map_err(|_| FlowError::Busy)?;
        let flow = self
            .flows()
            .flows
            .get(flow_id)
            .cloned()
            .ok_or_else(|| FlowError::NotFound(flow_id.to_owned()))?;
        let started = Instant::now();
        let mut ctx = Map::new();
        if let Value::Object(m) = &inputs {
            ctx.extend(m.clone());
        }
        ctx.insert("inputs".into(), inputs);
        let deadline = started + timeout;
        let outcome = match tokio::time::timeout(timeout, self.execute(flow.clone(), ctx, Vec::new(), deadline)).await {
            Ok(r) => r,
            Err(_) => Err(FlowError::Timeout(timeout)),
        };
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
        let (ctx, aborted) = outcome?;
        self.metrics
            .flow_complete
            .get_or_create(&crate::metrics::FlowLabels {
                flow_id: flow_id.to_owned(),
            })
            .inc();
        let result = if flow.outputs.is_empty() {
            Value::Object(
                ctx.into_iter()
                    .filter(|(k, _)| !k.starts_with('_') && k != "inputs")
                    .collect(),
            )
        } else {
            let resolved = vars::resolve(&Value::Object(flow.outputs.clone()), &ctx);
            match resolved {
                Value::Object(m) => Value::Object(m.into_iter().filter(|(k, _)| !k.starts_with('_')).collect()),
                other => other,
            }
        };
        let (result, truncated) = self.bounded(result);
        Ok(RunResult {
            flow_id: flow_id.to_owned(),
            result,
            execution_time: (elapsed * 1e6).round() / 1e6,
            truncated,
            aborted,
        })
    }

    /// Keeps top-level keys while the result fits `RUMI_MAX_RESPONSE_BYTES`.
    fn bounded(&self, result: Value) -> (Value, bool) {
        if serde_json::to_vec(&result).map_or(0, |v| v.len()) <= self.max_response_bytes {
            return (result, false);
        }
        let Value::Object(m) = result else {
            return (Value::Null, true);
        };
        let mut out = Map::new();
        let mut size = 2;
        for (k, v) in m {
            let n = k.len() + 4 + serde_json::to_vec(&v).map_or(0, |x| x.len());
            if size + n > self.max_response_bytes {
                break;
            }
            size += n;
            out.insert(k, v);
        }
        (Value::Object(out), true)
    }

    /// Runs the steps of one flow; returns the final context and whether it was aborted.
    fn execute(
        &self,
        flow: Arc<Flow>,
        mut ctx: Map<String, Value>,
        mut stack: Vec<String>,
        deadline: Instant,
    ) -> FlowFuture<'_> {
        Box::pin(async move {
            if stack.contains(&flow.flow_id) {
                stack.push(flow.flow_id.clone());
                return Err(FlowError::Recursion(stack.join(" -> ")));
            }
            if stack.len() >= MAX_FLOW_DEPTH {
                return Err(FlowError::Recursion(format!(
                    "deeper than {MAX_FLOW_DEPTH}: {}",
                    stack.join(" -> ")
                )));
            }
            stack.push(flow.flow_id.clone());
            let mut disabled: Vec<String> = Vec::new();
            for step in &flow.steps {
                if disabled.contains(&step.id) {
                    continue;
                }
                if let Some(cond) = &step.when
                    && !vars::condition(cond, &ctx)
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
                let result = self.step(&flow, step, &ctx, &stack, deadline).await;
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
                        if abort {
                            ctx.insert("_flow_control_abort".into(), Value::Bool(true));
                            ctx.insert(
                                "_flow_control_abort_reason".into(),
                                out.get("reason").cloned().unwrap_or(Value::Null),
                            );
                        }
                        match store_key(step, &ctx) {
                            Some(key) => {
                                ctx.insert(key, out);
                            }
                            None if !out.is_null() => {
                                nested_insert(&mut ctx, "_step_out", &step.id, out);
                            }
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
                        nested_insert(
                            &mut ctx,
                            "_step_error",
                            &step.id,
                            json!({"error_type": error_type, "error": message}),
                        );
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

    async fn step(
        &self,
        flow: &Flow,
        step: &Step,
        ctx: &Map<String, Value>,
        stack: &[String],
        deadline: Instant,
    ) -> Result<Value, FlowError> {
        let fail = |e: StepError| FlowError::Step {
            step: step.id.clone(),
            error_type: e.error_type,
            message: e.message,
        };
        match step.kind.as_str() {
            "set" => {
                if step.input.get("key").and_then(Value::as_str).is_none() && step.output.is_none() {
                    return Err(fail(StepError::new(
                        "validation_error",
                        "set needs input.key or output",
                    )));
                }
                Ok(vars::resolve(step.input.get("value").unwrap_or(&Value::Null), ctx))
            }
            "if" => {
                let cond = step.input.get("condition").and_then(Value::as_str).unwrap_or("false");
                Ok(Value::Bool(vars::condition(cond, ctx)))
            }
            "handler" => {
                // A pack flow anywhere up the call chain makes this a pack's call, even when
                // the step sits in an official flow it called as a sub-flow.
                let set = self.flows();
                let pack_context = stack.iter().any(|id| {
                    set.flows
                        .get(id)
                        .is_some_and(|f| matches!(f.source, model::Source::Pack(_)))
                });
                self.kernel(step, ctx, pack_context).map_err(fail)
            }
            "flow" => {
                let id = step.flow.clone().unwrap_or_default();
                let child = self.flows().flows.get(&id).cloned().ok_or_else(|| {
                    fail(StepError::new(
                        "flow_not_found",
                        format!("sub-flow {id:?} does not exist"),
                    ))
                })?;
                let mut child_ctx = ctx.clone();
                if let Value::Object(args) = vars::resolve(&step.args, ctx) {
                    child_ctx.extend(args);
                }
                let (out, _) = self.execute(child, child_ctx, stack.to_vec(), deadline).await?;
                Ok(Value::Object(
                    out.into_iter().filter(|(k, _)| !k.starts_with('_')).collect(),
                ))
            }
            "python_file_call" => self.python_file_call(flow, step, ctx, deadline).await.map_err(fail),
            "function" => self.function_call(flow, step, ctx, deadline).await.map_err(fail),
            other => Err(fail(StepError::new(
                "unknown_step_type",
                format!("unknown step type {other}"),
            ))),
        }
    }

    fn kernel(&self, step: &Step, ctx: &Map<String, Value>, pack_context: bool) -> Result<Value, StepError> {
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
        let args = vars::resolve(step.input.get("args").unwrap_or(&Value::Null), ctx);
        match handler {
            "kernel:noop" => Ok(Value::Null),
            "kernel:ctx.get" => {
                let key = args.get("key").and_then(Value::as_str).unwrap_or_default();
                Ok(vars::lookup(ctx, key).cloned().unwrap_or(Value::Null))
            }
            "kernel:ctx.set" => Ok(args.get("value").cloned().unwrap_or(Value::Null)),
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

    async fn python_file_call(
        &self,
        flow: &Flow,
        step: &Step,
        ctx: &Map<String, Value>,
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
        let result = self.run_block(&flow.flow_id, &owner, step, ctx, deadline).await;
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
        ctx: &Map<String, Value>,
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
        let args = match step.input.get("args").map(|a| vars::resolve(a, ctx)) {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(a @ Value::Object(_)) => a,
            Some(_) => return Err(StepError::new("validation_error", "input.args must be an object")),
        };
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
        ctx: &Map<String, Value>,
        deadline: Instant,
    ) -> Result<Value, StepError> {
        let snap = self.verify_owner(owner)?;
        let file_rel = Self::resolve_block(&snap, step.file.as_deref().unwrap_or_default())?;
        let input = vars::resolve(&step.input, ctx);
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
        self.sandbox
            .run_block(&block)
            .await
            .map_err(|e| StepError::new(e.error_type(), e.to_string()))
    }
}

/// Inserts `value` at `ctx[group][key]`, so `$ctx._step_out.<id>` reads it.
fn nested_insert(ctx: &mut Map<String, Value>, group: &str, key: &str, value: Value) {
    let slot = ctx.entry(group.to_owned()).or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(m) = slot {
        m.insert(key.to_owned(), value);
    }
}

/// Where a step's result goes: `output`, else the key a `set` / `kernel:ctx.set` names.
fn store_key(step: &Step, ctx: &Map<String, Value>) -> Option<String> {
    if let Some(o) = &step.output {
        return Some(o.clone());
    }
    let named = match step.kind.as_str() {
        "set" => step.input.get("key").cloned(),
        "handler" if step.input.get("handler").and_then(Value::as_str) == Some("kernel:ctx.set") => step
            .input
            .get("args")
            .map(|a| vars::resolve(a, ctx))
            .and_then(|a| a.get("key").cloned()),
        _ => None,
    };
    named.and_then(|k| k.as_str().map(str::to_owned))
}
