//! `rumi-ctl scaffold`: writes a new pack skeleton that validates and, once approved, runs.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rumi_common::ids::PackId;

use crate::cli::Template;

const MANIFEST: &str = r#"{
  "pack_id": "{PACK}",
  "pack_identity": "local/{PACK}",
  "name": "{PACK}",
  "version": "0.1.0",
  "description": "Describe what this pack does and what it needs"
}
"#;

const BLOCK: &str = r#""""A block: python_file_call steps run `run(input_data, context)` and use its return value."""


def run(input_data, context):
    name = (input_data or {}).get("name") or "World"
    return {"message": f"Hello, {name}!", "pack": "{PACK}"}
"#;

const FLOW: &str = r#"# Run it with: rumi-ctl flows run {PACK}.hello --inputs '{"name": "Rumi"}'
flow_id: {PACK}.hello
inputs:
  name: string
steps:
  - id: greet
    type: python_file_call
    owner_pack: {PACK}
    file: run.py
    input: {name: "${ctx.name}"}
    output: greeting
    timeout_seconds: 30
outputs:
  greeting: object
"#;

const HANDLER_JSON: &str = r#"{
  "handler_id": "{PACK}.echo",
  "permission_id": "{PERMISSION}.echo",
  "entrypoint": "handler.py:execute",
  "description": "Returns the caller's text, at most max_length characters (from the grant)",
  "risk": "no file or network access"
}
"#;

const HANDLER_PY: &str = r#""""A capability handler: runs in rumi-capd after the operator approves it (standard library only)."""


def execute(context, args):
    limit = context["grant_config"].get("max_length")  # fail closed without a limit
    if not isinstance(limit, int):
        raise ValueError("the grant sets no max_length")
    text = str(args.get("text", ""))
    return {"text": text[:limit], "caller": context["principal_id"]}
"#;

const LIB_INSTALL: &str = r#""""Runs once after each approval, with the pack's data directory writable."""

import os


def run(context):
    with open(os.path.join(context["data_dir"], "installed.txt"), "w") as f:
        f.write(context["lib_type"])
"#;

/// The files of a template, as (relative path, content).
fn files(template: Template) -> Vec<(&'static str, &'static str)> {
    let mut out = vec![("ecosystem.json", MANIFEST), ("backend/blocks/run.py", BLOCK)];
    if matches!(template, Template::Flow | Template::Full) {
        out.push(("backend/flows/hello.flow.yaml", FLOW));
    }
    if matches!(template, Template::Capability | Template::Full) {
        out.push(("share/capability_handlers/{SLUG}/handler.json", HANDLER_JSON));
        out.push(("share/capability_handlers/{SLUG}/handler.py", HANDLER_PY));
    }
    if matches!(template, Template::Full) {
        out.push(("backend/lib/install.py", LIB_INSTALL));
    }
    out
}

/// Writes the skeleton to `<output_dir>/<pack_id>/`; refuses to touch an existing directory.
pub fn scaffold(pack_id: &str, template: Template, output_dir: &Path) -> Result<PathBuf> {
    let id = PackId::parse(pack_id).map_err(|e| anyhow::anyhow!("invalid pack id {pack_id:?}: {e}"))?;
    let dir = output_dir.join(id.as_str());
    if fs::symlink_metadata(&dir).is_ok() {
        bail!(
            "{} already exists; choose another pack id or output directory",
            dir.display()
        );
    }
    // Permission ids are lower-case letters, digits, '_', '.' and '-'.
    let permission = id.as_str().to_ascii_lowercase();
    // Approved handlers are installed by slug, so each pack's must be its own: two scaffolded
    // packs can both be approved. A pack id is at most 64 characters, as is a slug.
    let slug = Some(format!("{id}_echo"))
        .filter(|s| s.len() <= 64)
        .unwrap_or_else(|| id.as_str().to_owned());
    fs::create_dir_all(output_dir).with_context(|| format!("create {}", output_dir.display()))?;
    fs::create_dir(&dir).with_context(|| format!("create {}", dir.display()))?;
    for (rel, text) in files(template) {
        let path = dir.join(rel.replace("{SLUG}", &slug));
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
        }
        let body = text.replace("{PACK}", id.as_str()).replace("{PERMISSION}", &permission);
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| f.write_all(body.as_bytes()))
            .with_context(|| format!("write {}", path.display()))?;
    }
    Ok(dir)
}
