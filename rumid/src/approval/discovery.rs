//! Finding installed packs and reading their metadata.
//!
//! Only `ecosystem.json` is read here: no pack code runs and nothing inside a pack is
//! executed or imported. Packs live in `ecosystem/<pack_id>/`; the legacy location
//! `ecosystem/packs/<pack_id>/` is still read, and when both hold the same id the preferred
//! location wins.
//!
//! With `RUMI_LOCAL_PACK_MODE=require_approval` ([`enable_local_pack`]) the legacy flow
//! directory `ecosystem/flows/` is the virtual pack [`LOCAL_PACK`]: it is hashed, approved
//! and re-verified like any pack (it has no `ecosystem.json`; its metadata is fixed), and
//! counts as a legacy location. The id is reserved either way: a directory of that name is
//! not a pack.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use rumi_common::code::{self, Code};
use rumi_common::ids::PackId;
use serde_json::Value;

/// Largest `ecosystem.json` read (the original's JSON config guard is 2 MB).
pub const MAX_MANIFEST_BYTES: u64 = 2 * 1024 * 1024;
/// Longest `pack_identity` accepted.
const MAX_IDENTITY_LEN: usize = 256;
/// Directory names under `ecosystem/` that are not packs: the legacy pack container and
/// the legacy flow directory.
const RESERVED: &[&str] = &["packs", "flows"];

/// Id of the virtual pack made of the legacy flow directory `ecosystem/flows/`.
pub const LOCAL_PACK: &str = "local_pack";
/// `RUMI_LOCAL_PACK_MODE=require_approval`: one switch per process, set at start.
static LOCAL_PACK_ENABLED: AtomicBool = AtomicBool::new(false);

/// Makes `ecosystem/flows/` the virtual pack [`LOCAL_PACK`] (or not).
pub fn enable_local_pack(on: bool) {
    LOCAL_PACK_ENABLED.store(on, Ordering::Relaxed);
}

/// Whether the virtual pack is enabled.
pub fn local_pack_enabled() -> bool {
    LOCAL_PACK_ENABLED.load(Ordering::Relaxed)
}

/// The virtual pack, when enabled and `ecosystem/flows/` is a real directory.
fn local_pack(ecosystem: &Path) -> Option<Found> {
    if !local_pack_enabled() {
        return None;
    }
    let dir = ecosystem.join("flows");
    if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
        return None;
    }
    let id = PackId::parse(LOCAL_PACK).ok()?;
    Some(Found {
        manifest: Ok(Manifest {
            pack_id: id.clone(),
            pack_identity: "rumi/local_pack".into(),
            name: Some("Legacy local flows (ecosystem/flows/, deprecated)".into()),
            version: None,
            description: None,
        }),
        id,
        dir,
        legacy: true,
    })
}

/// The metadata of a pack, from its `ecosystem.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Manifest {
    pub pack_id: PackId,
    pub pack_identity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A problem with a pack's metadata, with its RUMI code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[schema(value_type = String)]
    pub code: Code,
    pub message: String,
    /// The manifest could not be read for a reason that says nothing about it (out of
    /// descriptors or memory, an I/O error): no verdict on the pack may be drawn from it.
    #[serde(skip)]
    pub transient: bool,
}

impl Problem {
    fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            transient: false,
        }
    }

    /// A read of `ecosystem.json` that failed with `e`: transient (see
    /// [`crate::error::is_transient_io`]) or a problem of the pack.
    fn unreadable(e: &std::io::Error) -> Self {
        if crate::error::is_transient_io(e) {
            Self {
                code: code::SYS_RESOURCES_EXHAUSTED,
                message: format!("ecosystem.json cannot be read now: {e}"),
                transient: true,
            }
        } else {
            Self::new(code::PACK_MANIFEST_INVALID, format!("cannot read ecosystem.json: {e}"))
        }
    }
}

/// A pack directory with a valid name.
#[derive(Debug, Clone)]
pub struct Found {
    pub id: PackId,
    pub dir: PathBuf,
    pub legacy: bool,
    pub manifest: Result<Manifest, Problem>,
}

/// A directory under `ecosystem/` that cannot be a pack.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Invalid {
    pub dir: String,
    pub problem: Problem,
}

/// Everything found under `ecosystem/`.
#[derive(Debug, Default)]
pub struct Discovery {
    pub packs: Vec<Found>,
    pub invalid: Vec<Invalid>,
    /// A pack directory could not be listed for a transient reason: packs missing from
    /// `packs` may still be there (a caller must not drop them).
    pub incomplete: Option<String>,
}

/// Lists the packs under `ecosystem`. Missing directories yield nothing.
pub fn discover(ecosystem: &Path) -> Discovery {
    let mut out = Discovery::default();
    scan_dir(ecosystem, false, &mut out);
    scan_dir(&ecosystem.join("packs"), true, &mut out);
    out.packs.extend(local_pack(ecosystem));
    out.packs.sort_by(|a, b| a.id.cmp(&b.id).then(a.legacy.cmp(&b.legacy)));
    // The preferred location wins over the legacy one.
    out.packs.dedup_by(|later, earlier| later.id == earlier.id);
    out
}

/// Finds one pack by id (preferred location first). A symlinked directory is not a pack.
pub fn find(ecosystem: &Path, id: &PackId) -> Option<Found> {
    if id.as_str() == LOCAL_PACK {
        return local_pack(ecosystem);
    }
    [
        (ecosystem.join(id.as_str()), false),
        (ecosystem.join("packs").join(id.as_str()), true),
    ]
    .into_iter()
    .filter(|(_, legacy)| *legacy || !RESERVED.contains(&id.as_str()))
    .find(|(dir, _)| fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()))
    .map(|(dir, legacy)| Found {
        manifest: read_manifest(&dir, id),
        id: id.clone(),
        dir,
        legacy,
    })
}

fn scan_dir(base: &Path, legacy: bool, out: &mut Discovery) {
    let entries = match fs::read_dir(base) {
        Ok(entries) => entries,
        Err(e) if crate::error::is_transient_io(&e) => {
            out.incomplete = Some(format!("{}: {e}", base.display()));
            return;
        }
        Err(_) => return,
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || (!legacy && RESERVED.contains(&name.as_ref())) {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let shown = entry.path().display().to_string();
        if kind.is_symlink() {
            // A symlinked pack directory could point anywhere on the host.
            out.invalid.push(Invalid {
                dir: shown,
                problem: Problem::new(code::VAL_SYMLINK, "pack directory is a symlink"),
            });
            continue;
        }
        if !kind.is_dir() {
            continue;
        }
        if name == LOCAL_PACK {
            out.invalid.push(Invalid {
                dir: shown,
                problem: Problem::new(
                    code::PACK_ID_INVALID,
                    "local_pack is reserved for the legacy flow directory ecosystem/flows/",
                ),
            });
            continue;
        }
        match PackId::parse(&name) {
            Ok(id) => {
                let dir = entry.path();
                out.packs.push(Found {
                    manifest: read_manifest(&dir, &id),
                    id,
                    dir,
                    legacy,
                });
            }
            Err(e) => out.invalid.push(Invalid {
                dir: shown,
                problem: Problem::new(code::PACK_ID_INVALID, format!("directory name is not a pack id: {e}")),
            }),
        }
    }
}

/// Reads and validates `<dir>/ecosystem.json` (or `<dir>/backend/ecosystem.json`).
///
/// # Errors
/// A [`Problem`] naming what is wrong: missing, too large, not JSON, a missing or invalid
/// `pack_id` or `pack_identity`, or a `pack_id` that differs from the directory name.
pub fn read_manifest(dir: &Path, dir_id: &PackId) -> Result<Manifest, Problem> {
    let mut path = None;
    for p in [dir.join("ecosystem.json"), dir.join("backend").join("ecosystem.json")] {
        // `Path::exists` reads every error as "missing": out of memory, that would make an
        // approved pack's manifest vanish.
        match fs::metadata(&p) {
            Ok(_) => {
                path = Some(p);
                break;
            }
            Err(e) if crate::error::is_transient_io(&e) => return Err(Problem::unreadable(&e)),
            Err(_) => {}
        }
    }
    let path = path.ok_or_else(|| Problem::new(code::PACK_MANIFEST_INVALID, "ecosystem.json not found"))?;
    let meta = fs::symlink_metadata(&path).map_err(|e| Problem::unreadable(&e))?;
    if !meta.is_file() {
        return Err(Problem::new(code::VAL_SYMLINK, "ecosystem.json must be a regular file"));
    }
    let mut bytes = Vec::new();
    fs::File::open(&path)
        .and_then(|f| f.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| Problem::unreadable(&e))?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(Problem::new(
            code::PACK_MANIFEST_INVALID,
            format!("ecosystem.json is larger than {MAX_MANIFEST_BYTES} bytes"),
        ));
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        Problem::new(
            code::PACK_MANIFEST_INVALID,
            format!("ecosystem.json is not valid JSON: {e}"),
        )
    })?;
    let Value::Object(obj) = value else {
        return Err(Problem::new(
            code::PACK_MANIFEST_INVALID,
            "ecosystem.json must be a JSON object",
        ));
    };
    let pack_id = match obj.get("pack_id") {
        Some(Value::String(s)) => PackId::parse(s)
            .map_err(|e| Problem::new(code::PACK_ID_INVALID, format!("pack_id in ecosystem.json: {e}")))?,
        Some(_) => {
            return Err(Problem::new(code::PACK_MANIFEST_INVALID, "pack_id must be a string"));
        }
        None => {
            return Err(Problem::new(
                code::PACK_MANIFEST_INVALID,
                "required field pack_id is missing",
            ));
        }
    };
    if &pack_id != dir_id {
        return Err(Problem::new(
            code::PACK_ID_MISMATCH,
            format!("ecosystem.json says pack_id {pack_id:?} but the directory is {dir_id:?}"),
        ));
    }
    let pack_identity = match obj.get("pack_identity") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= MAX_IDENTITY_LEN => s.clone(),
        Some(Value::String(s)) if s.len() > MAX_IDENTITY_LEN => {
            return Err(Problem::new(
                code::PACK_MANIFEST_INVALID,
                format!("pack_identity is longer than {MAX_IDENTITY_LEN} characters"),
            ));
        }
        Some(_) => {
            return Err(Problem::new(
                code::PACK_MANIFEST_INVALID,
                "pack_identity must be a non-empty string",
            ));
        }
        None => {
            return Err(Problem::new(
                code::PACK_MANIFEST_INVALID,
                "required field pack_identity is missing",
            ));
        }
    };
    let text = |key: &str| {
        obj.get(key)
            .and_then(Value::as_str)
            .map(|s| s.chars().take(1024).collect::<String>())
    };
    Ok(Manifest {
        pack_id,
        pack_identity,
        name: text("name"),
        version: text("version"),
        description: text("description"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(root: &Path, rel: &str, manifest: &str) {
        let dir = root.join(rel);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("ecosystem.json"), manifest).unwrap();
    }

    #[test]
    fn discovery_prefers_the_new_location_and_reports_bad_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let eco = tmp.path();
        pack(eco, "a", r#"{"pack_id":"a","pack_identity":"org/a"}"#);
        pack(eco, "packs/a", r#"{"pack_id":"a","pack_identity":"org/legacy"}"#);
        pack(eco, "packs/old", r#"{"pack_id":"old","pack_identity":"org/old"}"#);
        pack(eco, "bad name", r#"{}"#);
        fs::create_dir_all(eco.join("flows")).unwrap();
        std::os::unix::fs::symlink("/etc", eco.join("linked")).unwrap();
        let d = discover(eco);
        let ids: Vec<(&str, bool)> = d.packs.iter().map(|p| (p.id.as_str(), p.legacy)).collect();
        assert_eq!(ids, [("a", false), ("old", true)]);
        assert_eq!(d.packs[0].manifest.as_ref().unwrap().pack_identity, "org/a");
        let mut codes: Vec<Code> = d.invalid.iter().map(|i| i.problem.code).collect();
        codes.sort_by_key(|c| c.as_str());
        assert_eq!(codes, [code::PACK_ID_INVALID, code::VAL_SYMLINK]);
    }

    #[test]
    fn manifests_are_validated() {
        let tmp = tempfile::tempdir().unwrap();
        let id = PackId::parse("p").unwrap();
        let cases: &[(&str, Code)] = &[
            ("not json", code::PACK_MANIFEST_INVALID),
            ("[]", code::PACK_MANIFEST_INVALID),
            (r#"{"pack_identity":"x"}"#, code::PACK_MANIFEST_INVALID),
            (r#"{"pack_id":"p"}"#, code::PACK_MANIFEST_INVALID),
            (r#"{"pack_id":"p","pack_identity":""}"#, code::PACK_MANIFEST_INVALID),
            (r#"{"pack_id":"p","pack_identity":7}"#, code::PACK_MANIFEST_INVALID),
            (r#"{"pack_id":"../p","pack_identity":"x"}"#, code::PACK_ID_INVALID),
            (r#"{"pack_id":"q","pack_identity":"x"}"#, code::PACK_ID_MISMATCH),
        ];
        for (text, want) in cases {
            fs::write(tmp.path().join("ecosystem.json"), text).unwrap();
            let got = read_manifest(tmp.path(), &id).unwrap_err();
            assert_eq!(got.code, *want, "{text}");
        }
        fs::write(
            tmp.path().join("ecosystem.json"),
            r#"{"pack_id":"p","pack_identity":"org/p","version":"1.0"}"#,
        )
        .unwrap();
        let m = read_manifest(tmp.path(), &id).unwrap();
        assert_eq!(m.version.as_deref(), Some("1.0"));
        fs::remove_file(tmp.path().join("ecosystem.json")).unwrap();
        assert_eq!(
            read_manifest(tmp.path(), &id).unwrap_err().code,
            code::PACK_MANIFEST_INVALID
        );
    }
}
