//! Units: versioned artifacts a pack declares (`unit.json` plus files), published by the
//! operator into a store and executed for a principal through the same sandbox as blocks.
//!
//! A unit is published from a directory of an approved pack
//! (`ecosystem/<pack>/…/<dir>/unit.json`) to
//! `user_data/units/<store_id>/<namespace>/<name>/<version>/`, with the sha256 of every file
//! recorded in the signed trust list `user_data/units/trust/trusted_units.json`: publishing
//! is the operator's approval of exactly those bytes. A version is never overwritten.
//!
//! Execution checks, in order: the principal pack is approved and unchanged; the unit
//! resolves; the mode is one the unit allows; the principal holds the unit's
//! `permission_id` as an enabled capability grant; the kind is `python` (data units do not
//! run, binaries are refused); the rate limit (30 per minute per principal); every file
//! still has its trusted sha256 and none has a setuid/setgid bit. The unit then runs as a
//! block of the principal: its directory is the read-only `/pack` of a fresh container in
//! strict mode (the principal's sockets, grants and limits), a host process in permissive
//! mode. Output is at most 1 MiB; stderr never reaches the caller.

use std::collections::BTreeMap;
use std::fs;
use std::num::NonZeroU32;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rumi_common::ids::PackId;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::{Audit, AuditEvent, Category, Severity};
use crate::error::{Error, Result};
use crate::signed;

/// Executions per principal per minute.
pub const RATE_PER_MINUTE: u32 = 30;
/// Largest unit result.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// Most files in a unit.
const MAX_FILES: usize = 200;
/// Largest unit in total.
const MAX_BYTES: u64 = 64 * 1024 * 1024;
const TRUST: &str = "user_data/units/trust/trusted_units.json";

/// Where a unit is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitRef {
    pub store_id: String,
    pub namespace: String,
    pub name: String,
    pub version: String,
}

impl UnitRef {
    fn key(&self) -> String {
        format!("{}/{}/{}/{}", self.store_id, self.namespace, self.name, self.version)
    }

    fn validate(&self) -> Result<()> {
        for (field, v) in [
            ("store_id", &self.store_id),
            ("namespace", &self.namespace),
            ("name", &self.name),
            ("version", &self.version),
        ] {
            let ok = (1..=64).contains(&v.len())
                && v != "."
                && v != ".."
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !ok {
                return Err(Error::Invalid {
                    field: match field {
                        "store_id" => "store_id",
                        "namespace" => "namespace",
                        "name" => "name",
                        _ => "version",
                    },
                    reason: "1-64 characters of letters, digits, '.', '_' and '-'".into(),
                });
            }
        }
        Ok(())
    }
}

/// A published unit, as listed and trusted.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Unit {
    #[serde(flatten)]
    pub unit_ref: UnitRef,
    pub unit_id: String,
    pub kind: String,
    pub entrypoint: Option<String>,
    pub permission_id: String,
    pub exec_modes_allowed: Vec<String>,
    pub declared_by_pack_id: String,
    pub published_at: String,
    /// Relative path → sha256.
    pub artifacts: BTreeMap<String, String>,
}

/// What `unit.json` declares.
#[derive(Debug, Deserialize)]
struct Manifest {
    unit_id: String,
    kind: String,
    #[serde(default)]
    entrypoint: Option<String>,
    permission_id: String,
    #[serde(default = "default_modes")]
    exec_modes_allowed: Vec<String>,
}

fn default_modes() -> Vec<String> {
    vec!["pack_container".into()]
}

/// Execution modes Rumi knows; both run in the block sandbox.
pub const MODES: &[&str] = &["pack_container", "sandbox"];

pub struct Units {
    home: PathBuf,
    signer: signed::Signer,
    audit: Audit,
    trusted: Mutex<BTreeMap<String, Unit>>,
    limiter: DefaultKeyedRateLimiter<String>,
}

fn hash_tree(root: &Path) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut total = 0u64;
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        for e in fs::read_dir(&dir).map_err(|e| e.to_string())?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let relpath = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let meta = fs::symlink_metadata(e.path()).map_err(|e| e.to_string())?;
            if meta.file_type().is_symlink() {
                return Err(format!("{relpath} is a symlink"));
            }
            if meta.is_dir() {
                stack.push((e.path(), relpath));
            } else if meta.is_file() {
                if meta.permissions().mode() & 0o6000 != 0 {
                    return Err(format!("{relpath} has a setuid or setgid bit"));
                }
                total += meta.len();
                if out.len() >= MAX_FILES || total > MAX_BYTES {
                    return Err(format!(
                        "a unit may hold at most {MAX_FILES} files and {MAX_BYTES} bytes"
                    ));
                }
                let bytes = fs::read(e.path()).map_err(|e| e.to_string())?;
                out.insert(relpath, hex::encode(Sha256::digest(&bytes)));
            } else {
                return Err(format!("{relpath} is not a regular file or directory"));
            }
        }
    }
    Ok(out)
}

fn copy_tree(src: &Path, dest: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dest)?;
    for e in fs::read_dir(src)?.flatten() {
        let to = dest.join(e.file_name());
        let kind = e.file_type()?;
        if kind.is_dir() {
            copy_tree(&e.path(), &to)?;
        } else if kind.is_file() {
            fs::copy(e.path(), &to)?;
            fs::set_permissions(&to, fs::Permissions::from_mode(0o644))?;
        }
    }
    Ok(())
}

/// A unit refusal or failure: its RUMI code and status by `error_type`.
pub fn unit_error(error_type: &str, message: impl Into<String>) -> Error {
    use axum::http::StatusCode;
    use rumi_common::code;
    let (code, status) = match error_type {
        "unit_not_found" => (code::UNIT_NOT_FOUND, StatusCode::NOT_FOUND),
        "mode_not_allowed" | "kind_not_executable" => (code::UNIT_REFUSED, StatusCode::BAD_REQUEST),
        "trust_denied" | "version_exists" | "source_changed" => (code::UNIT_CONFLICT, StatusCode::CONFLICT),
        "rate_limited" => (code::UNIT_RATE_LIMITED, StatusCode::TOO_MANY_REQUESTS),
        _ => (code::UNIT_FAILED, StatusCode::UNPROCESSABLE_ENTITY),
    };
    Error::Helper {
        code,
        status,
        message: format!("{error_type}: {}", message.into()),
    }
}

impl Units {
    /// Loads the trust list; a tampered one trusts nothing (and is audited).
    pub fn load(home: &Path, signer: signed::Signer, audit: Audit) -> Self {
        let path = home.join(TRUST);
        let trusted = signer.load_field(&path, "units", &audit, "units_trust_tampered");
        Self {
            home: home.to_path_buf(),
            signer,
            audit,
            trusted: Mutex::new(trusted),
            limiter: RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(RATE_PER_MINUTE).unwrap_or(NonZeroU32::MIN),
            )),
        }
    }

    fn dir(&self, r: &UnitRef) -> PathBuf {
        self.home
            .join("user_data/units")
            .join(&r.store_id)
            .join(&r.namespace)
            .join(&r.name)
            .join(&r.version)
    }

    /// Published units, optionally of one store.
    pub fn list(&self, store_id: Option<&str>) -> Vec<Unit> {
        self.trusted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|u| store_id.is_none_or(|s| u.unit_ref.store_id == s))
            .cloned()
            .collect()
    }

    /// Publishes `source_dir` (inside the approved pack `pack` at `pack_dir`) as `r`.
    ///
    /// # Errors
    /// A source outside the pack, an invalid `unit.json`, a version already published, or a
    /// file that is a symlink, special or setuid.
    pub fn publish(&self, r: &UnitRef, pack: &PackId, pack_dir: &Path, source_dir: &Path) -> Result<Unit> {
        r.validate()?;
        let source = source_dir.canonicalize().map_err(|_| Error::Invalid {
            field: "source_dir",
            reason: "does not exist".into(),
        })?;
        let pack_root = pack_dir.canonicalize().map_err(Error::io("cannot read", pack_dir))?;
        if !source.starts_with(&pack_root) {
            return Err(Error::Invalid {
                field: "source_dir",
                reason: format!("must be inside the pack directory of {pack}"),
            });
        }
        let manifest_bytes = fs::read(source.join("unit.json")).map_err(|_| Error::Invalid {
            field: "source_dir",
            reason: "has no unit.json".into(),
        })?;
        let m: Manifest = serde_json::from_slice(&manifest_bytes).map_err(|e| Error::Invalid {
            field: "unit.json",
            reason: e.to_string(),
        })?;
        if !matches!(m.kind.as_str(), "data" | "python" | "binary") {
            return Err(Error::Invalid {
                field: "unit.json",
                reason: "kind must be data, python or binary".into(),
            });
        }
        crate::grants::capability::validate_permission(&m.permission_id)?;
        if let Some(bad) = m
            .exec_modes_allowed
            .iter()
            .find(|x| !MODES.contains(&x.as_str()) && *x != "host_capability")
        {
            return Err(Error::Invalid {
                field: "unit.json",
                reason: format!("unknown exec mode {bad:?}"),
            });
        }
        if m.kind == "python" {
            let entry = m.entrypoint.as_deref().unwrap_or_default();
            let ok = !entry.is_empty()
                && !entry.starts_with('/')
                && !entry.split('/').any(|s| s == ".." || s.is_empty())
                && source.join(entry).is_file();
            if !ok {
                return Err(Error::Invalid {
                    field: "unit.json",
                    reason: "a python unit needs an entrypoint file inside the unit".into(),
                });
            }
        }
        let artifacts = hash_tree(&source).map_err(|reason| Error::Invalid {
            field: "source_dir",
            reason,
        })?;
        let dest = self.dir(r);
        let mut trusted = self.trusted.lock().unwrap_or_else(|p| p.into_inner());
        if trusted.contains_key(&r.key()) || dest.exists() {
            return Err(unit_error(
                "version_exists",
                format!("{} is already published; publish a new version", r.key()),
            ));
        }
        let tmp = dest.with_extension("publishing");
        let _ = fs::remove_dir_all(&tmp);
        copy_tree(&source, &tmp).map_err(Error::io("cannot copy the unit to", &tmp))?;
        // The copy must be exactly what was hashed (the source could change meanwhile).
        if hash_tree(&tmp).ok().as_ref() != Some(&artifacts) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(unit_error(
                "source_changed",
                "the unit changed while it was published; try again",
            ));
        }
        fs::rename(&tmp, &dest).map_err(Error::io("cannot move the unit to", &dest))?;
        let unit = Unit {
            unit_ref: r.clone(),
            unit_id: m.unit_id,
            kind: m.kind,
            entrypoint: m.entrypoint,
            permission_id: m.permission_id,
            exec_modes_allowed: m.exec_modes_allowed,
            declared_by_pack_id: pack.to_string(),
            published_at: rumi_common::time::now_rfc3339(),
            artifacts,
        };
        let mut next = trusted.clone();
        next.insert(r.key(), unit.clone());
        let path = self.home.join(TRUST);
        if let Some(parent) = path.parent() {
            rumi_common::fs::ensure_dir(parent, 0o700).map_err(Error::io("cannot create", parent))?;
        }
        self.signer
            .store_field(&path, "units", json!(next), 0o600)
            .map_err(Error::io("cannot write", &path))?;
        *trusted = next;
        drop(trusted);
        self.audit.record_blocking(
            AuditEvent::new(Category::Permission, "unit_published")
                .in_request()
                .owner_pack(pack.as_str())
                .detail("unit", r.key())
                .detail("kind", unit.kind.clone())
                .detail("files", unit.artifacts.len()),
        );
        Ok(unit)
    }

    /// Every check before a run (the pack's approval is checked by the caller; `granted`
    /// answers whether the principal holds a permission); returns the unit and its directory.
    ///
    /// # Errors
    /// The first check that fails, with its `error_type` in the message.
    pub fn prepare(
        &self,
        principal: &PackId,
        r: &UnitRef,
        mode: &str,
        granted: impl Fn(&str) -> bool,
    ) -> Result<(Unit, PathBuf)> {
        r.validate()?;
        let unit = self
            .trusted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&r.key())
            .cloned()
            .ok_or_else(|| unit_error("unit_not_found", format!("{} is not published", r.key())))?;
        if !MODES.contains(&mode) {
            return Err(unit_error(
                "mode_not_allowed",
                format!("Rumi runs units in the block sandbox: mode is pack_container or sandbox, not {mode:?}"),
            ));
        }
        if !unit.exec_modes_allowed.iter().any(|m| m == mode) {
            return Err(unit_error(
                "mode_not_allowed",
                format!("the unit does not allow mode {mode}"),
            ));
        }
        if !granted(&unit.permission_id) {
            return Err(Error::Forbidden(format!(
                "grant_denied: {principal} does not hold {}",
                unit.permission_id
            )));
        }
        if unit.kind != "python" {
            return Err(unit_error(
                "kind_not_executable",
                format!("a {} unit cannot be executed", unit.kind),
            ));
        }
        if self.limiter.check_key(&principal.to_string()).is_err() {
            return Err(unit_error(
                "rate_limited",
                format!("more than {RATE_PER_MINUTE} executions per minute"),
            ));
        }
        let dir = self.dir(r);
        match hash_tree(&dir) {
            Ok(now) if now == unit.artifacts => Ok((unit, dir)),
            Ok(_) => {
                self.audit.record_blocking(
                    AuditEvent::new(Category::Security, "unit_tampered")
                        .severity(Severity::Critical)
                        .detail("unit", r.key()),
                );
                Err(unit_error(
                    "trust_denied",
                    "the unit's files changed since it was published",
                ))
            }
            Err(why) => Err(unit_error("trust_denied", why)),
        }
    }
}
