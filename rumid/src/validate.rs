//! `rumid --validate`: checks every pack's metadata without starting anything.
//!
//! Reads only `ecosystem.json` files; writes nothing. Each finding is one line
//! (`ok`, `warning` or `error`, then the pack and the reason with its RUMI code).

use std::path::Path;

use crate::approval::discovery;
use crate::config::DeprecationLevel;

/// Counts of what `--validate` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Findings {
    pub lines: Vec<String>,
    pub errors: usize,
    pub warnings: usize,
}

/// Validates the packs under `home`.
pub fn validate(home: &Path, deprecation: DeprecationLevel) -> Findings {
    let mut f = Findings::default();
    let ecosystem = home.join("ecosystem");
    if !ecosystem.is_dir() {
        f.warnings += 1;
        f.lines.push(format!(
            "warning  {}: no ecosystem/ directory; no packs installed",
            home.display()
        ));
    }
    let found = discovery::discover(&ecosystem);
    for pack in &found.packs {
        match &pack.manifest {
            Ok(m) => {
                if pack.legacy {
                    let refused = deprecation == DeprecationLevel::Error;
                    let (level, code) = if refused {
                        f.errors += 1;
                        ("error   ", rumi_common::code::PACK_LEGACY_REFUSED.as_str())
                    } else {
                        f.warnings += 1;
                        ("warning ", "deprecated")
                    };
                    f.lines.push(format!(
                        "{level} {}: {code} legacy location ecosystem/packs/; move it to ecosystem/{}/",
                        pack.id, pack.id
                    ));
                }
                f.lines.push(format!(
                    "ok       {} ({}{})",
                    pack.id,
                    m.pack_identity,
                    m.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default()
                ));
            }
            Err(p) => {
                f.errors += 1;
                f.lines.push(format!("error    {}: {} {}", pack.id, p.code, p.message));
            }
        }
    }
    for bad in &found.invalid {
        f.errors += 1;
        f.lines.push(format!(
            "error    {}: {} {}",
            bad.dir, bad.problem.code, bad.problem.message
        ));
    }
    // Flows and modifiers (pack ones too: --validate checks files before approval).
    let mut pack_dirs = Vec::new();
    for p in found.packs.iter().filter(|p| p.manifest.is_ok()) {
        match crate::approval::snapshot::PackSnapshot::installed(&p.id, &p.dir) {
            Ok(view) => pack_dirs.push(std::sync::Arc::new(view)),
            Err(e) => {
                f.errors += 1;
                f.lines
                    .push(format!("error    {}: cannot read the pack's files: {e}", p.id));
            }
        }
    }
    let (mut flows, diags) = crate::flow::loader::load(home, &pack_dirs);
    let (_, mod_diags) = crate::flow::modifier::load(home, &pack_dirs);
    for r in crate::flow::owner::refuse_foreign_steps(&mut flows, &std::collections::BTreeMap::new()) {
        f.errors += 1;
        let shown = r.path.strip_prefix(home).unwrap_or(&r.path).display().to_string();
        f.lines.push(format!("error    {shown}: {}", r.message()));
    }
    for d in diags.iter().chain(&mod_diags) {
        if d.level == "error" {
            f.errors += 1;
            f.lines.push(format!("error    {}: {}", d.path, d.message));
        } else {
            f.warnings += 1;
            f.lines.push(format!("warning  {}: {}", d.path, d.message));
        }
    }
    f.lines.push(format!("{} flow(s) valid", flows.len()));
    f.lines.push(format!(
        "{} pack(s), {} error(s), {} warning(s)",
        found.packs.len(),
        f.errors,
        f.warnings
    ));
    f
}
