//! Flow modifiers: `*.modifier.yaml` files that change other flows' steps without editing
//! them (`inject_before`, `inject_after`, `append`, `replace`, `remove`).
//!
//! Sources: `user_data/shared/flows/modifiers/` (the operator's; may target any flow) and
//! `<pack>/(backend/)flows/modifiers/` of approved packs (may only target that pack's own
//! flows, `<pack_id>.*`). `target_flow_id` may be a glob (`*`, `pack.*`). Order is deterministic:
//! modifiers sort by (phase, priority, modifier_id); `replace` and `remove` apply first, then
//! the inserts. A `remove` and a `replace`/inject on the same step is a severe conflict: the
//! later one is skipped and reported. `resolve_target: true` resolves `target_flow_id`
//! through the shared dictionary (namespace
//! `resolve_namespace`, default `flow_id`) before matching. `requires: {interfaces: [..],
//! capabilities: [..]}` names kernel handlers (`kernel:ctx.get` or `ctx.get`) and capability
//! permission ids (built-in or an approved capability handler's) that must exist when flows
//! load; a modifier whose requirement is not met is skipped with a diagnostic naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rumi_common::ids::PackId;
use serde::Serialize;
use serde_json::{Value, json};

use super::loader::Diagnostic;
use super::model::{Flow, Step};

const ACTIONS: &[&str] = &["inject_before", "inject_after", "append", "replace", "remove"];

#[derive(Debug, Clone)]
pub struct Modifier {
    pub modifier_id: String,
    pub path: PathBuf,
    pub target: glob::Pattern,
    pub phase: String,
    pub priority: i64,
    pub action: String,
    pub target_step_id: Option<String>,
    pub step: Option<Value>,
    /// Resolve `target_flow_id` through the shared dictionary in this namespace first.
    pub resolve_namespace: Option<String>,
    raw_target: String,
    /// The pack that shipped it (`None` for shared modifiers): a pack may only modify its own
    /// flows (`<pack_id>.*`).
    pub owner: Option<PackId>,
    /// Kernel handlers that must exist (normalised to `kernel:` names).
    pub requires_interfaces: Vec<String>,
    /// Capability permission ids that must be available.
    pub requires_capabilities: Vec<String>,
}

/// What exists when flows load, for `requires`.
#[derive(Debug, Default)]
pub struct Available {
    pub interfaces: BTreeSet<String>,
    pub capabilities: BTreeSet<String>,
}

/// Reads `requires.<key>` as a list of strings.
fn string_list(requires: Option<&Value>, key: &str) -> Result<Vec<String>, String> {
    match requires.and_then(|r| r.get(key)) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| format!("requires.{key} must list non-empty strings"))
            })
            .collect(),
        Some(_) => Err(format!("requires.{key} must be a list")),
    }
}

/// One modifier applied to one flow.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub modifier_id: String,
    pub flow_id: String,
    pub action: String,
    /// The step the modifier put into the flow (`None` for `remove`).
    pub step_id: Option<String>,
}

/// Which modifier put each step into its flow: `(flow_id, step_id)` → `modifier_id` (the
/// last one, when a later modifier replaced an inserted step).
pub fn added_steps(applied: &[Applied]) -> BTreeMap<(String, String), String> {
    applied
        .iter()
        .filter_map(|a| {
            let step = a.step_id.clone()?;
            Some(((a.flow_id.clone(), step), a.modifier_id.clone()))
        })
        .collect()
}

fn find(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".modifier.yaml"))
        .collect();
    files.sort();
    out.extend(files);
}

fn parse(path: &Path) -> Result<Modifier, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() || meta.len() > super::loader::MAX_FLOW_FILE_BYTES {
        return Err("must be a regular file of at most 1 MiB".into());
    }
    parse_text(&std::fs::read_to_string(path).map_err(|e| e.to_string())?, path)
}

/// Parses the text of a modifier file (the entry point the fuzzer drives).
///
/// # Errors
/// The reason the modifier is refused.
pub fn parse_text(text: &str, path: &Path) -> Result<Modifier, String> {
    let doc = super::loader::parse_yaml(text)?;
    if super::vars::uses_env(&doc) {
        return Err("uses $env references, which Rumi does not resolve".into());
    }
    let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
    let modifier_id = text("modifier_id").ok_or("modifier_id is required")?;
    let raw_target = text("target_flow_id").ok_or("target_flow_id is required")?;
    let target = glob::Pattern::new(&raw_target).map_err(|e| format!("target_flow_id: {e}"))?;
    let action = text("action").ok_or("action is required")?;
    if !ACTIONS.contains(&action.as_str()) {
        return Err(format!("action must be one of {}", ACTIONS.join(", ")));
    }
    let requires = doc.get("requires").filter(|r| !r.is_null());
    if requires.is_some_and(|r| !r.is_object()) {
        return Err("requires must be a mapping with interfaces and/or capabilities".into());
    }
    let requires_interfaces = string_list(requires, "interfaces")?
        .into_iter()
        .map(|i| {
            if i.starts_with("kernel:") {
                i
            } else {
                format!("kernel:{i}")
            }
        })
        .collect();
    let requires_capabilities = string_list(requires, "capabilities")?;
    let resolve_namespace = (doc.get("resolve_target").and_then(Value::as_bool) == Some(true))
        .then(|| text("resolve_namespace").unwrap_or_else(|| "flow_id".into()));
    let target_step_id = text("target_step_id");
    if matches!(action.as_str(), "inject_before" | "inject_after" | "replace" | "remove") && target_step_id.is_none() {
        return Err(format!("{action} needs target_step_id"));
    }
    let step = doc.get("step").cloned();
    if action != "remove" && step.is_none() {
        return Err(format!("{action} needs a step"));
    }
    Ok(Modifier {
        modifier_id,
        path: path.to_path_buf(),
        target,
        phase: text("phase").unwrap_or_else(|| "main".into()),
        priority: doc.get("priority").and_then(Value::as_i64).unwrap_or(100),
        action,
        target_step_id,
        step,
        resolve_namespace,
        raw_target,
        owner: None,
        requires_interfaces,
        requires_capabilities,
    })
}

/// Loads every modifier: the operator's shared ones, then those of approved packs (read
/// from their approved snapshots).
pub fn load(
    home: &Path,
    approved: &[std::sync::Arc<crate::approval::snapshot::PackSnapshot>],
) -> (Vec<Modifier>, Vec<Diagnostic>) {
    let mut found = Vec::new();
    find(&home.join("user_data/shared/flows/modifiers"), &mut found);
    let mut parsed: Vec<(PathBuf, Option<PackId>, Result<Modifier, String>)> = found
        .into_iter()
        .map(|f| {
            let m = parse(&f);
            (f, None, m)
        })
        .collect();
    for snap in approved {
        for base in ["flows/modifiers", "backend/flows/modifiers"] {
            // Directly in the directory, as for the shared ones.
            for rel in snap
                .files_under(base)
                .filter(|r| r.ends_with(".modifier.yaml") && !r[base.len() + 1..].contains('/'))
            {
                let path = snap.dir().join(rel);
                let m = snap
                    .read_text(rel, super::loader::MAX_FLOW_FILE_BYTES)
                    .map_err(|e| e.to_string())
                    .and_then(|text| parse_text(&text, &path));
                parsed.push((path, Some(snap.pack().clone()), m));
            }
        }
    }
    let mut mods = Vec::new();
    let mut diags = Vec::new();
    for (f, owner, m) in parsed {
        let shown = f.strip_prefix(home).unwrap_or(&f).display().to_string();
        match m {
            Ok(mut m) => {
                m.owner = owner;
                mods.push(m);
            }
            Err(message) => diags.push(Diagnostic {
                path: shown,
                level: "error",
                message,
            }),
        }
    }
    mods.sort_by(|a, b| (&a.phase, a.priority, &a.modifier_id).cmp(&(&b.phase, b.priority, &b.modifier_id)));
    (mods, diags)
}

/// Parses a modifier's step in the context of the target flow: its phases, and its source
/// (a `function` step naming no `owner_pack` runs as the pack whose flow it joins).
fn build_step(m: &Modifier, flow: &Flow) -> Result<Step, String> {
    let mut step = m.step.clone().unwrap_or_default();
    if let Value::Object(s) = &mut step {
        s.entry("phase").or_insert_with(|| json!(m.phase));
    }
    let doc = json!({"flow_id": "modifier", "phases": flow.phases, "steps": [step]});
    let parsed = Flow::parse(&doc, flow.source.clone(), m.path.clone()).map_err(|e| e.to_string())?;
    parsed.steps.into_iter().next().ok_or_else(|| "empty step".into())
}

/// Applies the modifiers to every matching flow; returns what was applied.
pub fn apply(
    flows: &mut BTreeMap<String, Flow>,
    mods: &[Modifier],
    dict: Option<&crate::shared_dict::SharedDict>,
    available: &Available,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Applied> {
    // A modifier whose requirements are missing applies nowhere; say which one is missing.
    let mods: Vec<Modifier> = mods
        .iter()
        .filter(|m| {
            let missing: Vec<&str> = m
                .requires_interfaces
                .iter()
                .filter(|i| !available.interfaces.contains(*i))
                .chain(
                    m.requires_capabilities
                        .iter()
                        .filter(|c| !available.capabilities.contains(*c)),
                )
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                diags.push(Diagnostic {
                    path: m.path.display().to_string(),
                    level: "warning",
                    message: format!("{}: requires not met ({}); skipped", m.modifier_id, missing.join(", ")),
                });
            }
            missing.is_empty()
        })
        .cloned()
        .collect();
    let mods = mods.as_slice();
    // Targets named through the shared dictionary resolve to concrete flow ids first.
    let targets: Vec<Option<String>> = mods
        .iter()
        .map(|m| {
            let ns = m.resolve_namespace.as_deref()?;
            match dict.map(|d| d.resolve(ns, &m.raw_target)) {
                Some(Ok(id)) => Some(id),
                Some(Err(e)) => {
                    diags.push(Diagnostic {
                        path: m.path.display().to_string(),
                        level: "warning",
                        message: format!("{}: resolve_target failed: {e}", m.modifier_id),
                    });
                    Some(String::new())
                }
                None => Some(String::new()),
            }
        })
        .collect();
    let mut applied = Vec::new();
    for flow in flows.values_mut() {
        let matching: Vec<&Modifier> = mods
            .iter()
            .zip(&targets)
            .filter(|(m, resolved)| match resolved {
                Some(id) => id == &flow.flow_id,
                None => m.target.matches(&flow.flow_id),
            })
            .map(|(m, _)| m)
            .collect();
        let (first, then): (Vec<&Modifier>, Vec<&Modifier>) = matching
            .into_iter()
            .partition(|m| matches!(m.action.as_str(), "replace" | "remove"));
        let mut removed: Vec<String> = Vec::new();
        for m in first.into_iter().chain(then) {
            let report = |diags: &mut Vec<Diagnostic>, message: String| {
                diags.push(Diagnostic {
                    path: m.path.display().to_string(),
                    level: "warning",
                    message,
                });
            };
            if let Some(owner) = &m.owner
                && flow.flow_id != owner.as_str()
                && !flow.flow_id.starts_with(&format!("{owner}."))
            {
                report(
                    diags,
                    format!(
                        "{}: pack {owner} may only modify its own flows, not {:?}; skipped",
                        m.modifier_id, flow.flow_id
                    ),
                );
                continue;
            }
            if !flow.phases.contains(&m.phase) {
                report(
                    diags,
                    format!(
                        "{}: phase {:?} is not in flow {:?}; skipped",
                        m.modifier_id, m.phase, flow.flow_id
                    ),
                );
                continue;
            }
            let target = m.target_step_id.clone();
            if let Some(t) = &target
                && removed.contains(t)
            {
                report(
                    diags,
                    format!(
                        "severe conflict: {} targets step {t:?} which another modifier removed",
                        m.modifier_id
                    ),
                );
                continue;
            }
            let position = |flow: &Flow, t: &str| -> Option<usize> {
                let in_phase: Vec<usize> = flow
                    .steps
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.phase == m.phase)
                    .map(|(i, _)| i)
                    .collect();
                match t {
                    "__first__" => in_phase.first().copied(),
                    "__last__" => in_phase.last().copied(),
                    id => flow.steps.iter().position(|s| s.id == id),
                }
            };
            let result: Result<Option<String>, String> = (|| match m.action.as_str() {
                "remove" => {
                    let t = target.clone().unwrap_or_default();
                    let i = position(flow, &t).ok_or(format!("step {t:?} not found"))?;
                    flow.steps.remove(i);
                    removed.push(t);
                    Ok(None)
                }
                "replace" => {
                    let t = target.clone().unwrap_or_default();
                    let i = position(flow, &t).ok_or(format!("step {t:?} not found"))?;
                    flow.steps[i] = build_step(m, flow)?;
                    Ok(Some(flow.steps[i].id.clone()))
                }
                action => {
                    let step = build_step(m, flow)?;
                    if flow.steps.iter().any(|s| s.id == step.id) {
                        return Err(format!("step id {:?} already exists", step.id));
                    }
                    let at = match action {
                        "append" => flow
                            .steps
                            .iter()
                            .rposition(|s| s.phase == m.phase)
                            .map_or(flow.steps.len(), |i| i + 1),
                        _ => {
                            let t = target.clone().unwrap_or_default();
                            let i = position(flow, &t).ok_or(format!("step {t:?} not found"))?;
                            if action == "inject_before" { i } else { i + 1 }
                        }
                    };
                    let id = step.id.clone();
                    flow.steps.insert(at, step);
                    Ok(Some(id))
                }
            })();
            match result {
                Ok(step_id) => applied.push(Applied {
                    modifier_id: m.modifier_id.clone(),
                    flow_id: flow.flow_id.clone(),
                    action: m.action.clone(),
                    step_id,
                }),
                Err(e) => report(diags, format!("{}: {e}; skipped", m.modifier_id)),
            }
        }
    }
    applied
}

#[cfg(test)]
mod tests;
