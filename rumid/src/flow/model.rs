//! The flow schema, parsed from YAML into checked types.

use std::path::PathBuf;

use rumi_common::ids::PackId;
use serde::Serialize;
use serde_json::{Map, Value};

/// Step types this engine runs.
pub const STEP_TYPES: &[&str] = &["handler", "python_file_call", "set", "if", "flow", "function"];
/// Default step priority.
pub const DEFAULT_PRIORITY: i64 = 100;

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

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub id: String,
    pub phase: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub priority: i64,
    pub when: Option<String>,
    pub input: Value,
    pub output: Option<String>,
    pub depends_on: Vec<String>,
    pub owner_pack: Option<String>,
    pub file: Option<String>,
    pub timeout_seconds: Option<f64>,
    pub principal_id: Option<String>,
    pub flow: Option<String>,
    pub args: Value,
    pub on_error: Option<OnError>,
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
    pub outputs: Map<String, Value>,
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

impl Flow {
    /// Parses and validates one flow document; steps come out in execution order
    /// (phase, then priority ascending, then id; `depends_on` within a phase).
    ///
    /// # Errors
    /// A message naming the first problem.
    pub fn parse(doc: &Value, source: Source, path: PathBuf) -> Result<Self, String> {
        let m = doc.as_object().ok_or("a flow file must be a mapping")?;
        let flow_id = str_field(m, "flow_id").ok_or("flow_id is required")?;
        if flow_id.is_empty()
            || flow_id.len() > 128
            || !flow_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(format!("flow_id {flow_id:?} must match ^[A-Za-z0-9._-]{{1,128}}$"));
        }
        let phases: Vec<String> = match m.get("phases") {
            Some(Value::Array(a)) if !a.is_empty() => a.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect(),
            None => vec!["main".to_owned()],
            _ => return Err("phases must be a non-empty list".into()),
        };
        let defaults = m.get("defaults").and_then(Value::as_object);
        let fail_soft = defaults
            .and_then(|d| d.get("fail_soft"))
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let skip_missing = match defaults.and_then(|d| d.get("on_missing_step")).and_then(Value::as_str) {
            None | Some("skip") => true,
            Some("error") => false,
            Some(other) => return Err(format!("defaults.on_missing_step must be skip or error, not {other:?}")),
        };
        let outputs = m.get("outputs").and_then(Value::as_object).cloned().unwrap_or_default();
        let raw_steps = match m.get("steps") {
            Some(Value::Array(a)) => a.clone(),
            None | Some(Value::Null) => Vec::new(),
            _ => return Err("steps must be a list".into()),
        };
        let mut steps = Vec::with_capacity(raw_steps.len());
        for (i, s) in raw_steps.iter().enumerate() {
            let s = s.as_object().ok_or_else(|| format!("step {i} must be a mapping"))?;
            let id = str_field(s, "id").ok_or_else(|| format!("step {i} has no id"))?;
            if steps.iter().any(|x: &Step| x.id == id) {
                return Err(format!("duplicate step id {id:?}"));
            }
            let phase = str_field(s, "phase").unwrap_or_else(|| phases[0].clone());
            if !phases.contains(&phase) {
                return Err(format!("step {id:?} uses phase {phase:?} which is not in phases"));
            }
            let kind = str_field(s, "type").ok_or_else(|| format!("step {id:?} has no type"))?;
            if !STEP_TYPES.contains(&kind.as_str()) {
                return Err(format!(
                    "step {id:?} has unknown type {kind:?} (known: {})",
                    STEP_TYPES.join(", ")
                ));
            }
            let on_error = match s.get("on_error").and_then(|o| o.get("action")).and_then(Value::as_str) {
                None => None,
                Some("abort") => Some(OnError::Abort),
                Some("continue") => Some(OnError::Continue),
                Some("disable_target") => Some(OnError::DisableTarget),
                Some(other) => return Err(format!("step {id:?}: unknown on_error.action {other:?}")),
            };
            let step = Step {
                phase,
                kind: kind.clone(),
                priority: s.get("priority").and_then(Value::as_i64).unwrap_or(DEFAULT_PRIORITY),
                when: str_field(s, "when"),
                input: s.get("input").cloned().unwrap_or(Value::Null),
                output: str_field(s, "output"),
                depends_on: s
                    .get("depends_on")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|d| d.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default(),
                owner_pack: str_field(s, "owner_pack"),
                file: str_field(s, "file"),
                timeout_seconds: s.get("timeout_seconds").and_then(Value::as_f64),
                principal_id: str_field(s, "principal_id"),
                flow: str_field(s, "flow"),
                args: s.get("args").cloned().unwrap_or(Value::Null),
                on_error,
                id,
            };
            if step.kind == "python_file_call" && (step.owner_pack.is_none() || step.file.is_none()) {
                return Err(format!("python_file_call step {:?} needs owner_pack and file", step.id));
            }
            // Whether the owner is the flow's pack is checked on the final flows, after
            // modifiers (`flow::owner`).
            if step.kind == "function"
                && (step.owner_pack.is_none() || step.input.get("function").and_then(Value::as_str).is_none())
            {
                return Err(format!(
                    "function step {:?} needs owner_pack and input.function",
                    step.id
                ));
            }
            if step.kind == "flow" && step.flow.is_none() {
                return Err(format!("flow step {:?} needs `flow: <flow_id>`", step.id));
            }
            if step.kind == "handler" && step.input.get("handler").and_then(Value::as_str).is_none() {
                return Err(format!("handler step {:?} needs input.handler", step.id));
            }
            steps.push(step);
        }
        order(&mut steps, &phases);
        let schedule = match m.get("schedule") {
            None | Some(Value::Null) => None,
            Some(v) => Some(parse_schedule(v)?),
        };
        Ok(Self {
            flow_id,
            source,
            path,
            phases,
            fail_soft,
            skip_missing,
            outputs,
            steps,
            schedule,
        })
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
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cron_patterns_that_never_match_are_refused() {
        for never in [
            "0 0 30 2 *",
            "0 0 31 4,6,9,11 *",
            "*/5 * 30-31 2 *",
            "0 0 31W 4 *",
            "0 0 30W 2 *",
        ] {
            let err = parse_schedule(&json!({"cron": never})).unwrap_err();
            assert!(err.contains("no day that exists"), "{never}: {err}");
        }
        for ok in [
            "* * * * *",
            "0 0 29 2 *",
            "0 0 31 * *",
            "0 0 30 2 1",
            "0 0 L 2 *",
            "5 20 * * *",
        ] {
            assert_eq!(
                parse_schedule(&json!({"cron": ok})).unwrap(),
                Schedule::Cron(ok.into()),
                "{ok}"
            );
        }
        assert!(parse_schedule(&json!({"cron": "0 0 * * * *"})).is_err(), "six fields");
        assert!(parse_schedule(&json!({"interval": 9})).is_err());
    }
}
