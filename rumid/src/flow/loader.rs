//! Loading flows from their sources, fail-soft: a broken file is reported and skipped.
//!
//! Priority (a lower source can never override a higher one): `flows/*.flow.yaml`
//! (official) → `user_data/shared/flows/**/*.flow.yaml` (shared) → `<pack>/flows/**` and
//! `<pack>/backend/flows/**` of **approved** packs → the legacy `ecosystem/flows/**`, only
//! with `RUMI_LOCAL_PACK_MODE=require_approval` and while the virtual pack `local_pack`
//! (that directory) is approved and unchanged; always with a deprecation warning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::model::{Flow, ParseError, Source};
use crate::approval::discovery::LOCAL_PACK;
use crate::approval::snapshot::PackSnapshot;

/// Largest flow file read.
pub const MAX_FLOW_FILE_BYTES: u64 = 1024 * 1024;
/// Deepest directory walk.
const MAX_DEPTH: usize = 8;

/// A problem found while loading.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Diagnostic {
    pub path: String,
    /// `error` or `warning`.
    #[schema(value_type = String)]
    pub level: &'static str,
    pub message: String,
}

fn find(dir: &Path, recursive: bool, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let Ok(kind) = e.file_type() else { continue };
        let name = e.file_name().to_string_lossy().into_owned();
        if kind.is_dir() && recursive && depth < MAX_DEPTH && name != "modifiers" && !name.starts_with('.') {
            find(&e.path(), recursive, depth + 1, out);
        } else if kind.is_file() && name.ends_with(".flow.yaml") {
            out.push(e.path());
        }
    }
}

/// The files of a pack's approved snapshot below `base` whose name ends with `suffix`, at
/// most [`MAX_DEPTH`] directories down, skipping hidden directories and, when `skip_dir` is
/// given, directories of that name (the modifiers inside `flows/`). Listed from the record:
/// no directory of the pack is read, and no symlink is ever followed.
pub fn pack_files<'a>(
    snap: &'a PackSnapshot,
    base: &'a str,
    suffix: &'a str,
    skip_dir: Option<&'a str>,
) -> impl Iterator<Item = &'a str> + 'a {
    snap.files_under(base).filter(move |rel| {
        let inner = if base.is_empty() { *rel } else { &rel[base.len() + 1..] };
        let mut parts: Vec<&str> = inner.split('/').collect();
        let name = parts.pop().unwrap_or_default();
        name.ends_with(suffix)
            && parts.len() <= MAX_DEPTH
            && !parts.iter().any(|d| d.starts_with('.') || Some(*d) == skip_dir)
    })
}

/// Why a flow file is not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Read(String),
    #[error("not a regular file")]
    NotAFile,
    #[error("larger than {MAX_FLOW_FILE_BYTES} bytes")]
    TooLarge,
    /// Not YAML, or past [`MAX_YAML_DEPTH`] / [`MAX_YAML_NODES`].
    #[error("{0}")]
    Yaml(String),
    #[error("uses $env references, which Rumi does not resolve (they would leak the daemon's environment)")]
    UsesEnv,
    #[error(transparent)]
    Schema(#[from] ParseError),
}

/// Where a flow file comes from.
enum Origin {
    /// A file of the operator's (official or shared).
    Host(PathBuf),
    /// A file of an approved pack's snapshot.
    Pack(Arc<PackSnapshot>, String),
}

fn parse_origin(origin: &Origin, source: Source) -> Result<Flow, LoadError> {
    match origin {
        Origin::Host(path) => parse_file(path, source),
        Origin::Pack(snap, rel) => {
            let text = snap
                .read_text(rel, MAX_FLOW_FILE_BYTES)
                .map_err(|e| LoadError::Read(e.to_string()))?;
            parse_flow_text(&text, source, snap.dir().join(rel))
        }
    }
}

fn parse_file(path: &Path, source: Source) -> Result<Flow, LoadError> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| LoadError::Read(e.to_string()))?;
    if !meta.is_file() {
        return Err(LoadError::NotAFile);
    }
    if meta.len() > MAX_FLOW_FILE_BYTES {
        return Err(LoadError::TooLarge);
    }
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::Read(e.to_string()))?;
    parse_flow_text(&text, source, path.to_path_buf())
}

/// Deepest nesting of a flow or modifier document.
pub const MAX_YAML_DEPTH: usize = 20;
/// Most nodes (values) in a flow or modifier document, aliases expanded.
pub const MAX_YAML_NODES: usize = 10_000;

/// Parses YAML text into a value no deeper than [`MAX_YAML_DEPTH`] and with at most
/// [`MAX_YAML_NODES`] nodes.
///
/// # Errors
/// Invalid YAML, or a document past the limits.
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    if text.len() as u64 > MAX_FLOW_FILE_BYTES {
        return Err(format!("larger than {MAX_FLOW_FILE_BYTES} bytes"));
    }
    let doc: Value = yaml_serde::from_str(text).map_err(|e| format!("invalid YAML: {e}"))?;
    fn walk(v: &Value, depth: usize, nodes: &mut usize) -> Result<(), String> {
        *nodes += 1;
        if depth > MAX_YAML_DEPTH {
            return Err(format!("nested deeper than {MAX_YAML_DEPTH}"));
        }
        if *nodes > MAX_YAML_NODES {
            return Err(format!("more than {MAX_YAML_NODES} nodes"));
        }
        match v {
            Value::Array(a) => a.iter().try_for_each(|x| walk(x, depth + 1, nodes)),
            Value::Object(m) => m.values().try_for_each(|x| walk(x, depth + 1, nodes)),
            _ => Ok(()),
        }
    }
    walk(&doc, 0, &mut 0)?;
    Ok(doc)
}

/// Parses the text of a flow file (the entry point the fuzzer drives).
///
/// # Errors
/// [`LoadError`]: the reason the flow is refused.
pub fn parse_flow_text(text: &str, source: Source, path: PathBuf) -> Result<Flow, LoadError> {
    let doc = parse_yaml(text).map_err(LoadError::Yaml)?;
    if super::vars::uses_env(&doc) {
        return Err(LoadError::UsesEnv);
    }
    Ok(Flow::parse(&doc, source, path)?)
}

/// Loads every flow. `approved` lists the approved snapshots of approved packs.
pub fn load(home: &Path, approved: &[Arc<PackSnapshot>]) -> (BTreeMap<String, Flow>, Vec<Diagnostic>) {
    let mut flows: BTreeMap<String, Flow> = BTreeMap::new();
    let mut diags = Vec::new();
    let mut sources: Vec<(Origin, Source)> = Vec::new();
    let mut files = Vec::new();
    find(&home.join("flows"), false, 0, &mut files);
    sources.extend(files.drain(..).map(|p| (Origin::Host(p), Source::Official)));
    find(&home.join("user_data/shared/flows"), true, 0, &mut files);
    sources.extend(files.drain(..).map(|p| (Origin::Host(p), Source::Shared)));
    let mut local = None;
    let pack_origins = |snap: &Arc<PackSnapshot>, base: &str| -> Vec<(Origin, Source)> {
        pack_files(snap, base, ".flow.yaml", Some("modifiers"))
            .map(|rel| {
                (
                    Origin::Pack(snap.clone(), rel.to_owned()),
                    Source::Pack(snap.pack().clone()),
                )
            })
            .collect()
    };
    for snap in approved {
        if snap.pack().as_str() == LOCAL_PACK {
            local = Some(snap);
            continue;
        }
        for base in ["flows", "backend/flows"] {
            sources.extend(pack_origins(snap, base));
        }
    }
    // Lowest priority: the legacy directory never overrides anything.
    if let Some(snap) = local {
        sources.extend(pack_origins(snap, ""));
    }
    if home.join("ecosystem/flows").is_dir() {
        let state = if local.is_some() {
            "its flows are loaded (virtual pack local_pack, approved)"
        } else if crate::approval::discovery::local_pack_enabled() {
            "its flows load only while the virtual pack local_pack is approved"
        } else {
            "it is not loaded (RUMI_LOCAL_PACK_MODE=off)"
        };
        diags.push(Diagnostic {
            path: "ecosystem/flows".into(),
            level: "warning",
            message: format!(
                "WARNING: Using legacy flow path. This is DEPRECATED and will be removed; move flows to flows/, user_data/shared/flows/ or a pack's flows/; {state}"
            ),
        });
    }
    for (origin, source) in sources {
        let path = match &origin {
            Origin::Host(p) => p.clone(),
            Origin::Pack(snap, rel) => snap.dir().join(rel),
        };
        let shown = path.strip_prefix(home).unwrap_or(&path).display().to_string();
        match parse_origin(&origin, source) {
            Ok(flow) => {
                // A pack's flows are named after it, so no pack can take another's flow ids
                // (which routes and modifiers of that pack act on).
                // The legacy directory keeps its old ids; it loads last, so it can take no
                // id another source has, and it may not use a pack's namespace.
                if let Source::Pack(p) = &flow.source
                    && p.as_str() == LOCAL_PACK
                    && let Some((prefix, _)) = flow.flow_id.split_once('.')
                    && approved.iter().any(|other| other.pack().as_str() == prefix)
                {
                    diags.push(Diagnostic {
                        path: shown,
                        level: "error",
                        message: format!(
                            "legacy flow {:?} uses the namespace of pack {prefix}; skipped",
                            flow.flow_id
                        ),
                    });
                    continue;
                }
                if let Source::Pack(p) = &flow.source
                    && p.as_str() != LOCAL_PACK
                    && flow.flow_id != p.as_str()
                    && !flow.flow_id.starts_with(&format!("{p}."))
                {
                    diags.push(Diagnostic {
                        path: shown,
                        level: "error",
                        message: format!("pack flow {:?} must be named {p} or {p}.<name>; skipped", flow.flow_id),
                    });
                    continue;
                }

                // What its `outputs` declare and its steps cannot give: warnings only.
                for message in flow.output_warnings() {
                    diags.push(Diagnostic {
                        path: shown.clone(),
                        level: "warning",
                        message: format!("flow {:?}: {message}", flow.flow_id),
                    });
                }
                if let Some(existing) = flows.get(&flow.flow_id) {
                    diags.push(Diagnostic {
                        path: shown,
                        level: "warning",
                        message: format!(
                            "flow {:?} is already defined by {} and cannot be overridden",
                            flow.flow_id,
                            existing.path.strip_prefix(home).unwrap_or(&existing.path).display()
                        ),
                    });
                    continue;
                }
                flows.insert(flow.flow_id.clone(), flow);
            }
            Err(e) => diags.push(Diagnostic {
                path: shown,
                level: "error",
                message: e.to_string(),
            }),
        }
    }
    (flows, diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_limits_refuse_deep_and_exploding_documents() {
        let deep = format!("{}1{}", "[".repeat(25), "]".repeat(25));
        assert!(parse_yaml(&deep).unwrap_err().contains("deeper"));
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (name, prev) in [("b", "a"), ("c", "b"), ("d", "c"), ("e", "d")] {
            let items = vec![format!("*{prev}"); 10].join(", ");
            bomb.push_str(&format!("{name}: &{name} [{items}]\n"));
        }
        assert!(parse_yaml(&bomb).is_err(), "100,000 nodes through aliases");
        assert!(parse_yaml("flow_id: ok\nsteps: []\n").is_ok());
    }
}
