//! The flow schema, parsed from YAML into checked types.

use std::path::PathBuf;
use std::time::Duration;

use rumi_common::ids::PackId;
use serde::Serialize;
use serde_json::{Map, Value};

/// Step types this engine runs.
pub const STEP_TYPES: &[&str] = &["handler", "python_file_call", "set", "if", "flow", "function"];
/// Default step priority.
pub const DEFAULT_PRIORITY: i64 = 100;
/// Longest time a step may ask for (`timeout_seconds` above it is cut to it).
pub const MAX_STEP_TIMEOUT_SECS: f64 = 600.0;

/// Where a flow came from (higher sources win; lower ones cannot override them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "pack_id", rename_all = "lowercase")]
pub enum Source {
    Official,
    Shared,
    Pack(PackId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    Abort,
    Continue,
    DisableTarget,
}

/// Why a flow document (or a modifier's step) is refused. Each variant is one rule of the
/// schema; the text is what the operator reads in the diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("a flow file must be a mapping")]
    NotAMapping,
    #[error("flow_id is required")]
    NoFlowId,
    #[error("flow_id {0:?} must match ^[A-Za-z0-9._-]{{1,128}}$")]
    BadFlowId(String),
    #[error("phases must be a non-empty list")]
    BadPhases,
    #[error("defaults.on_missing_step must be skip or error, not {0:?}")]
    BadOnMissingStep(String),
    #[error("{0} must be a mapping of name: type")]
    NotADeclaration(&'static str),
    #[error("steps must be a list")]
    StepsNotAList,
    #[error("step {0} must be a mapping")]
    StepNotAMapping(usize),
    #[error("step {0} has no id")]
    NoStepId(usize),
    #[error("duplicate step id {0:?}")]
    DuplicateStep(String),
    #[error("step {step:?} uses phase {phase:?} which is not in phases")]
    UnknownPhase { step: String, phase: String },
    #[error("step {0:?} has no type")]
    NoStepType(String),
    #[error("step {step:?} has unknown type {kind:?} (known: {known})", known = STEP_TYPES.join(", "))]
    UnknownStepType { step: String, kind: String },
    #[error("step {step:?}: unknown on_error.action {action:?}")]
    BadOnError { step: String, action: String },
    /// A field the step's type requires is missing or of the wrong type.
    #[error("{kind} step {step:?} needs {needs}")]
    MissingField {
        kind: &'static str,
        step: String,
        needs: &'static str,
    },
    #[error("{0}")]
    Schedule(String),
}

/// A kernel handler a `handler` step names, parsed once at load. A name the engine does not
/// know still loads (the step fails with `handler_not_found` when it runs, as documented).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum Handler {
    Noop,
    CtxGet,
    CtxSet,
    FlowAbort,
    SharedDict(DictOp),
    LibListRecords,
    LibClearRecord,
    Unknown(String),
}

/// The shared dictionary's operations (`kernel:shared_dict.<op>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DictOp {
    Resolve,
    Propose,
    Remove,
    Explain,
    List,
}

impl Handler {
    /// Parses a handler name (`kernel:ctx.set`).
    pub fn parse(name: &str) -> Self {
        match name {
            "kernel:noop" => Self::Noop,
            "kernel:ctx.get" => Self::CtxGet,
            "kernel:ctx.set" => Self::CtxSet,
            "kernel:flow.abort" => Self::FlowAbort,
            "kernel:shared_dict.resolve" => Self::SharedDict(DictOp::Resolve),
            "kernel:shared_dict.propose" => Self::SharedDict(DictOp::Propose),
            "kernel:shared_dict.remove" => Self::SharedDict(DictOp::Remove),
            "kernel:shared_dict.explain" => Self::SharedDict(DictOp::Explain),
            "kernel:shared_dict.list" => Self::SharedDict(DictOp::List),
            "kernel:lib.list_records" => Self::LibListRecords,
            "kernel:lib.clear_record" => Self::LibClearRecord,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The handler's name, as a flow writes it.
    pub fn name(&self) -> &str {
        match self {
            Self::Noop => "kernel:noop",
            Self::CtxGet => "kernel:ctx.get",
            Self::CtxSet => "kernel:ctx.set",
            Self::FlowAbort => "kernel:flow.abort",
            Self::SharedDict(DictOp::Resolve) => "kernel:shared_dict.resolve",
            Self::SharedDict(DictOp::Propose) => "kernel:shared_dict.propose",
            Self::SharedDict(DictOp::Remove) => "kernel:shared_dict.remove",
            Self::SharedDict(DictOp::Explain) => "kernel:shared_dict.explain",
            Self::SharedDict(DictOp::List) => "kernel:shared_dict.list",
            Self::LibListRecords => "kernel:lib.list_records",
            Self::LibClearRecord => "kernel:lib.clear_record",
            Self::Unknown(name) => name,
        }
    }

    /// Handlers that change shared state or read other packs' records: they serve the
    /// operator's flows only.
    ///
    /// # Security
    /// A pack flow could otherwise redirect shared modifiers or re-run another pack's install
    /// script.
    pub fn is_operator_only(&self) -> bool {
        matches!(
            self,
            Self::SharedDict(DictOp::Propose | DictOp::Remove) | Self::LibListRecords | Self::LibClearRecord
        )
    }
}

impl From<Handler> for String {
    fn from(h: Handler) -> Self {
        h.name().to_owned()
    }
}

/// A `python_file_call`: a block of `owner_pack`, run in its sandbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockCall {
    pub owner_pack: String,
    pub file: String,
    /// Resolved when the step runs.
    pub input: Value,
    /// `timeout_seconds`, cut to [`MAX_STEP_TIMEOUT_SECS`]; `None`: the default.
    pub timeout: Option<Duration>,
    /// What the step asked to run as; ignored (the owner is the principal) and audited.
    pub principal_id: Option<String>,
}

/// A `function` step: a registered function (a built-in capability or a trusted handler's
/// permission) called as `owner_pack` through that pack's capability socket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionCall {
    /// The step's `owner_pack`; in a pack's flow it defaults to that pack.
    pub owner_pack: String,
    /// The permission id (`store.get`).
    pub function: String,
    /// The arguments, resolved when the step runs: the documented form's `input`, or
    /// `input.args` of Rumi's older form (`input: {function, args}`).
    pub args: Value,
    /// `timeout_seconds`, cut to [`MAX_STEP_TIMEOUT_SECS`]; `None`: the default.
    pub timeout: Option<Duration>,
}

/// What a step does: one variant per step type, with the fields that type uses, each read
/// and checked once when the flow loads.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Stores `value` (resolved) under `output`, else under `key`.
    Set {
        key: Option<String>,
        value: Value,
    },
    /// Evaluates `condition` to `true` or `false`.
    If {
        condition: String,
    },
    /// A kernel handler with its `args` (resolved).
    Handler {
        handler: Handler,
        args: Value,
    },
    /// Runs the flow `flow` with a copy of the context plus `args` (resolved).
    Flow {
        flow: String,
        args: Value,
    },
    PythonFileCall(BlockCall),
    Function(FunctionCall),
}

impl Action {
    /// The step type, as a flow writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Set { .. } => "set",
            Self::If { .. } => "if",
            Self::Handler { .. } => "handler",
            Self::Flow { .. } => "flow",
            Self::PythonFileCall(_) => "python_file_call",
            Self::Function(_) => "function",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub id: String,
    pub phase: String,
    pub priority: i64,
    pub when: Option<String>,
    pub output: Option<String>,
    pub depends_on: Vec<String>,
    pub on_error: Option<OnError>,
    #[serde(flatten)]
    pub action: Action,
}

impl Step {
    /// The step type, as a flow writes it.
    pub fn kind(&self) -> &'static str {
        self.action.kind()
    }

    /// The pack the step runs as, for the steps that run as someone (`python_file_call`,
    /// `function`).
    pub fn owner(&self) -> Option<&str> {
        match &self.action {
            Action::PythonFileCall(b) => Some(&b.owner_pack),
            Action::Function(f) => Some(&f.owner_pack),
            Action::Set { .. } | Action::If { .. } | Action::Handler { .. } | Action::Flow { .. } => None,
        }
    }
}

/// The type an `outputs` (or `inputs`) entry declares: the guides' words, plus `any`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
    Any,
    /// A word the engine does not know: reported at load, checked as `any`.
    Unknown(String),
}

impl ValueType {
    /// Parses a type word; an empty declaration (`greeting:`) is `any`.
    pub fn parse(word: Option<&str>) -> Self {
        match word.map(str::trim) {
            None | Some("" | "any") => Self::Any,
            Some("string") => Self::String,
            Some("number") => Self::Number,
            Some("integer") => Self::Integer,
            Some("boolean") => Self::Boolean,
            Some("object") => Self::Object,
            Some("array") => Self::Array,
            Some(other) => Self::Unknown(other.to_owned()),
        }
    }

    /// Whether `v` is of this type (`null` is of none but `any`).
    pub fn admits(&self, v: &Value) -> bool {
        match self {
            Self::Any | Self::Unknown(_) => true,
            Self::String => v.is_string(),
            Self::Number => v.is_number(),
            Self::Integer => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
            Self::Boolean => v.is_boolean(),
            Self::Object => v.is_object(),
            Self::Array => v.is_array(),
        }
    }

    /// The type word.
    pub fn word(&self) -> &str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::Object => "object",
            Self::Array => "array",
            Self::Any => "any",
            Self::Unknown(w) => w,
        }
    }
}

/// The JSON type name of a value, as a warning shows it.
pub fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One entry of `outputs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// `name: type` (the guides' form): the context key `name` is returned, and its value
    /// checked against the type.
    Declared(ValueType),
    /// A value holding a variable reference (`name: "${ctx.x}"`, Rumi's extension), resolved
    /// against the final context.
    Expression(Value),
}

impl Output {
    fn parse(v: &Value) -> Self {
        match v {
            Value::Null => Self::Declared(ValueType::Any),
            Value::String(s) if !super::vars::has_reference(v) => Self::Declared(ValueType::parse(Some(s))),
            other => Self::Expression(other.clone()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Flow {
    pub flow_id: String,
    pub source: Source,
    pub path: PathBuf,
    pub phases: Vec<String>,
    pub fail_soft: bool,
    /// `defaults.on_missing_step`: `skip` (default) or `error` — what a step that depends on a
    /// step this flow does not have, or calls a flow that does not exist, does.
    pub skip_missing: bool,
    /// `inputs` declarations (`name: type`): documentation, and what `--validate` knows of
    /// the keys the caller gives.
    pub inputs: Vec<(String, ValueType)>,
    /// `outputs`, by name; empty: the whole final context is the result.
    pub outputs: Vec<(String, Output)>,
    pub steps: Vec<Step>,
    pub schedule: Option<Schedule>,
}

/// Shortest schedule interval.
pub const MIN_INTERVAL_SECS: u64 = 10;

/// When a flow runs by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Every N seconds (at least [`MIN_INTERVAL_SECS`]); the first run one interval after loading.
    Interval(u64),
    /// A 5-field cron pattern, evaluated in UTC, fired at most once per minute.
    Cron(String),
}

/// Whether a parsed 5-field pattern can ever match: a day of the month that no month it
/// names has (`0 0 30 2 *`, `0 0 31W 4 *`) never does, and croner would search decades
/// ahead for it each time the next run is computed.
fn can_match(cron: &croner::Cron, expr: &str) -> bool {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let any = |f: &str| f == "*" || f == "?";
    let dom = fields[2];
    // A restricted day of the week matches in every month (croner ORs the two day fields),
    // and `L` (the last day, or weekday) exists in every month.
    if any(dom) || !any(fields[4]) || dom.contains('L') {
        return true;
    }
    // `15W` (the weekday closest to the 15th) needs the 15th to exist.
    let days = if dom.contains('W') {
        match format!("0 0 {} * *", dom.replace('W', "")).parse::<croner::Cron>() {
            Ok(plain) => plain.pattern.days.values(),
            Err(_) => return false,
        }
    } else {
        cron.pattern.days.values()
    };
    let longest = |month: u16| match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    cron.pattern
        .months
        .values()
        .into_iter()
        .any(|m| days.iter().any(|d| *d <= longest(m)))
}

fn parse_schedule(v: &Value) -> Result<Schedule, String> {
    if let Some(expr) = v.get("cron").and_then(Value::as_str) {
        if expr.split_whitespace().count() != 5 {
            return Err(format!(
                "schedule.cron {expr:?} must have 5 fields (minute hour day-of-month month day-of-week)"
            ));
        }
        let cron = expr
            .parse::<croner::Cron>()
            .map_err(|e| format!("schedule.cron {expr:?}: {e}"))?;
        if !can_match(&cron, expr) {
            return Err(format!("schedule.cron {expr:?} names no day that exists in its months"));
        }
        return Ok(Schedule::Cron(expr.to_owned()));
    }
    let secs = v
        .get("interval")
        .or_else(|| v.get("interval_seconds"))
        .and_then(Value::as_f64);
    match secs {
        Some(n) if n >= MIN_INTERVAL_SECS as f64 => Ok(Schedule::Interval(n as u64)),
        Some(n) => Err(format!(
            "schedule.interval {n} is below the minimum of {MIN_INTERVAL_SECS} seconds"
        )),
        None => Err("schedule needs cron or interval".into()),
    }
}

fn str_field(m: &Map<String, Value>, k: &str) -> Option<String> {
    match m.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    }
}

/// `timeout_seconds`: a positive number, cut to [`MAX_STEP_TIMEOUT_SECS`]; anything else
/// leaves the type's default.
fn timeout_field(m: &Map<String, Value>) -> Option<Duration> {
    m.get("timeout_seconds")
        .and_then(Value::as_f64)
        .filter(|t| t.is_finite() && *t > 0.0)
        .map(|t| Duration::from_secs_f64(t.min(MAX_STEP_TIMEOUT_SECS)))
}

/// `inputs` / `outputs`: absent, or a mapping.
fn declarations<'a>(
    m: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a Map<String, Value>>, ParseError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(d)) => Ok(Some(d)),
        Some(_) => Err(ParseError::NotADeclaration(field)),
    }
}

/// Parses what a step of type `kind` does from its mapping `s`.
fn parse_action(kind: &str, id: &str, s: &Map<String, Value>, source: &Source) -> Result<Action, ParseError> {
    let input = s.get("input").cloned().unwrap_or(Value::Null);
    let missing = |kind: &'static str, needs: &'static str| ParseError::MissingField {
        kind,
        step: id.to_owned(),
        needs,
    };
    let input_str = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_owned);
    Ok(match kind {
        "set" => {
            let key = input_str("key");
            if key.is_none() && str_field(s, "output").is_none() {
                return Err(missing("set", "input.key or output"));
            }
            Action::Set {
                key,
                value: input.get("value").cloned().unwrap_or(Value::Null),
            }
        }
        "if" => Action::If {
            condition: input_str("condition").ok_or_else(|| missing("if", "input.condition (a string)"))?,
        },
        "handler" => Action::Handler {
            handler: Handler::parse(&input_str("handler").ok_or_else(|| missing("handler", "input.handler"))?),
            args: input.get("args").cloned().unwrap_or(Value::Null),
        },
        "flow" => Action::Flow {
            flow: str_field(s, "flow").ok_or_else(|| missing("flow", "`flow: <flow_id>`"))?,
            args: s.get("args").cloned().unwrap_or(Value::Null),
        },
        "python_file_call" => match (str_field(s, "owner_pack"), str_field(s, "file")) {
            (Some(owner_pack), Some(file)) => Action::PythonFileCall(BlockCall {
                owner_pack,
                file,
                input,
                timeout: timeout_field(s),
                principal_id: str_field(s, "principal_id"),
            }),
            _ => return Err(missing("python_file_call", "owner_pack and file")),
        },
        "function" => {
            // The guides' form names the function on the step and passes `input` as its
            // arguments; Rumi's first form put both in `input` (`{function, args}`).
            let (function, args) = match s.get("function").and_then(Value::as_str) {
                Some(f) => (f.to_owned(), input),
                None => (
                    input_str("function").ok_or_else(|| missing("function", "function (or input.function)"))?,
                    input.get("args").cloned().unwrap_or(Value::Null),
                ),
            };
            // Whether the owner is the flow's pack is checked on the final flows, after
            // modifiers (`flow::owner`).
            let owner_pack = match (str_field(s, "owner_pack"), source) {
                (Some(o), _) => o,
                (None, Source::Pack(p)) => p.to_string(),
                (None, Source::Official | Source::Shared) => {
                    return Err(missing(
                        "function",
                        "owner_pack (the pack it is called as) in an operator's flow",
                    ));
                }
            };
            Action::Function(FunctionCall {
                owner_pack,
                function,
                args,
                timeout: timeout_field(s),
            })
        }
        other => {
            return Err(ParseError::UnknownStepType {
                step: id.to_owned(),
                kind: other.to_owned(),
            });
        }
    })
}

impl Flow {
    /// Parses and validates one flow document; steps come out in execution order
    /// (phase, then priority ascending, then id; `depends_on` within a phase).
    ///
    /// # Errors
    /// [`ParseError`]: the first problem.
    pub fn parse(doc: &Value, source: Source, path: PathBuf) -> Result<Self, ParseError> {
        let m = doc.as_object().ok_or(ParseError::NotAMapping)?;
        let flow_id = str_field(m, "flow_id").ok_or(ParseError::NoFlowId)?;
        if flow_id.is_empty()
            || flow_id.len() > 128
            || !flow_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(ParseError::BadFlowId(flow_id));
        }
        let phases: Vec<String> = match m.get("phases") {
            Some(Value::Array(a)) if !a.is_empty() => a.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect(),
            None => vec!["main".to_owned()],
            _ => return Err(ParseError::BadPhases),
        };
        if phases.is_empty() {
            return Err(ParseError::BadPhases);
        }
        let defaults = m.get("defaults").and_then(Value::as_object);
        let fail_soft = defaults
            .and_then(|d| d.get("fail_soft"))
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let skip_missing = match defaults.and_then(|d| d.get("on_missing_step")).and_then(Value::as_str) {
            None | Some("skip") => true,
            Some("error") => false,
            Some(other) => return Err(ParseError::BadOnMissingStep(other.to_owned())),
        };
        let inputs = declarations(m, "inputs")?
            .map(|d| {
                d.iter()
                    .map(|(k, v)| (k.clone(), ValueType::parse(v.as_str())))
                    .collect()
            })
            .unwrap_or_default();
        let outputs = declarations(m, "outputs")?
            .map(|d| d.iter().map(|(k, v)| (k.clone(), Output::parse(v))).collect())
            .unwrap_or_default();
        let raw_steps = match m.get("steps") {
            Some(Value::Array(a)) => a.as_slice(),
            None | Some(Value::Null) => &[],
            _ => return Err(ParseError::StepsNotAList),
        };
        let mut steps: Vec<Step> = Vec::with_capacity(raw_steps.len());
        for (i, s) in raw_steps.iter().enumerate() {
            let s = s.as_object().ok_or(ParseError::StepNotAMapping(i))?;
            let id = str_field(s, "id").ok_or(ParseError::NoStepId(i))?;
            if steps.iter().any(|x| x.id == id) {
                return Err(ParseError::DuplicateStep(id));
            }
            let phase = str_field(s, "phase").unwrap_or_else(|| phases[0].clone());
            if !phases.contains(&phase) {
                return Err(ParseError::UnknownPhase { step: id, phase });
            }
            let kind = str_field(s, "type").ok_or_else(|| ParseError::NoStepType(id.clone()))?;
            let on_error = match s.get("on_error").and_then(|o| o.get("action")).and_then(Value::as_str) {
                None => None,
                Some("abort") => Some(OnError::Abort),
                Some("continue") => Some(OnError::Continue),
                Some("disable_target") => Some(OnError::DisableTarget),
                Some(other) => {
                    return Err(ParseError::BadOnError {
                        step: id,
                        action: other.to_owned(),
                    });
                }
            };
            let action = parse_action(&kind, &id, s, &source)?;
            steps.push(Step {
                phase,
                priority: s.get("priority").and_then(Value::as_i64).unwrap_or(DEFAULT_PRIORITY),
                when: str_field(s, "when"),
                output: str_field(s, "output"),
                depends_on: s
                    .get("depends_on")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|d| d.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default(),
                on_error,
                action,
                id,
            });
        }
        order(&mut steps, &phases);
        let schedule = match m.get("schedule") {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_schedule(v).map_err(ParseError::Schedule)?),
        };
        Ok(Self {
            flow_id,
            source,
            path,
            phases,
            fail_soft,
            skip_missing,
            inputs,
            outputs,
            steps,
            schedule,
        })
    }

    /// What the flow's `outputs` declare that its steps cannot give, found without running
    /// it: a word that is not a type, and a step whose result's type is known (a `set`
    /// literal, an `if`, a sub-flow, …) that stores a value of another type under a declared
    /// key. Each is one warning line; nothing is refused.
    pub fn output_warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, decl) in &self.outputs {
            let Output::Declared(ty) = decl else { continue };
            if let ValueType::Unknown(word) = ty {
                out.push(format!(
                    "outputs.{name}: {word:?} is not a type (string, number, integer, boolean, object, array, any); not checked"
                ));
                continue;
            }
            let producers: Vec<&Step> = self.steps.iter().filter(|s| stored_key(s) == Some(name)).collect();
            for step in &producers {
                if let Some(got) = static_type(step)
                    && !ty.admits(&got)
                {
                    out.push(format!(
                        "outputs.{name} is declared {} but step {:?} stores {} there",
                        ty.word(),
                        step.id,
                        type_of(&got)
                    ));
                }
            }
            if producers.is_empty()
                && let Some((_, input_ty)) = self.inputs.iter().find(|(k, _)| k == name)
                && !matches!(input_ty, ValueType::Any | ValueType::Unknown(_))
                && !matches!(ty, ValueType::Any)
                && input_ty != ty
            {
                out.push(format!(
                    "outputs.{name} is declared {} but inputs.{name} is declared {}",
                    ty.word(),
                    input_ty.word()
                ));
            }
        }
        out
    }
}

/// The context key a step stores its result under when that key is written literally in
/// the flow (`output`, a `set`'s `input.key`, a `kernel:ctx.set`'s literal `args.key`).
fn stored_key(step: &Step) -> Option<&str> {
    if let Some(o) = &step.output {
        return Some(o);
    }
    match &step.action {
        Action::Set { key, .. } => key.as_deref(),
        Action::Handler {
            handler: Handler::CtxSet,
            args,
        } => args
            .get("key")
            .and_then(Value::as_str)
            .filter(|k| !super::vars::has_reference(&Value::String((*k).to_owned()))),
        _ => None,
    }
}

/// A sample of the value a step stores, when its type is known before it runs.
fn static_type(step: &Step) -> Option<Value> {
    let literal = |v: &Value| -> Option<Value> {
        match v {
            Value::String(s) if super::vars::is_exact_reference(s) => None,
            // References inside longer text still give text.
            Value::String(_) => Some(Value::String(String::new())),
            v if super::vars::has_reference(v) => match v {
                Value::Object(_) => Some(Value::Object(Map::new())),
                Value::Array(_) => Some(Value::Array(Vec::new())),
                _ => None,
            },
            v => Some(v.clone()),
        }
    };
    match &step.action {
        Action::Set { value, .. } => literal(value),
        Action::If { .. } => Some(Value::Bool(false)),
        Action::Flow { .. } => Some(Value::Object(Map::new())),
        Action::Handler { handler, args } => match handler {
            Handler::CtxSet => literal(args.get("value").unwrap_or(&Value::Null)),
            Handler::FlowAbort => Some(Value::Object(Map::new())),
            _ => None,
        },
        Action::PythonFileCall(_) | Action::Function(_) => None,
    }
}

/// Sorts by (phase index, priority, id), then applies `depends_on` within each phase
/// (a cycle keeps the default order).
fn order(steps: &mut [Step], phases: &[String]) {
    let idx = |p: &str| phases.iter().position(|x| x == p).unwrap_or(usize::MAX);
    steps.sort_by(|a, b| (idx(&a.phase), a.priority, &a.id).cmp(&(idx(&b.phase), b.priority, &b.id)));
    let mut start = 0;
    while start < steps.len() {
        let phase = steps[start].phase.clone();
        let end = steps[start..]
            .iter()
            .position(|s| s.phase != phase)
            .map_or(steps.len(), |n| start + n);
        let group = &mut steps[start..end];
        let mut sorted: Vec<Step> = Vec::with_capacity(group.len());
        let mut remaining: Vec<Step> = group.to_vec();
        while !remaining.is_empty() {
            let ready = remaining.iter().position(|s| {
                s.depends_on
                    .iter()
                    .all(|d| sorted.iter().any(|x| &x.id == d) || !remaining.iter().any(|x| &x.id == d))
            });
            match ready {
                Some(i) => sorted.push(remaining.remove(i)),
                None => {
                    tracing::warn!("depends_on cycle; keeping the default order");
                    sorted.append(&mut remaining);
                }
            }
        }
        group.clone_from_slice(&sorted);
        start = end;
    }
}

#[cfg(test)]
mod tests;
