//! Capability handler candidates, their approval, and the trust list.
//!
//! Packs may ship handlers in `share/capability_handlers/<slug>/` or
//! `backend/share/capability_handlers/<slug>/` (`handler.json` + an entry file). A scan turns
//! each into a candidate keyed `{pack_id}:{slug}:{handler_id}:{sha256(entry file)}`, so an
//! edited handler is a new candidate. States: `pending` → `installed` (approved) |
//! `rejected` (1 h cooldown, back to `pending` on a later scan) → `blocked` at the third
//! rejection; `failed` when approval found a problem. Unblocking returns to `rejected` with
//! a fresh cooldown (DECISIONS.md #11).
//!
//! Approval re-reads and re-hashes the source (TOCTOU), copies only `handler.json` and the
//! entry file to `user_data/capabilities/handlers/<slug>/` (never overwriting a different
//! handler), and adds `{handler_id, permission_id, sha256}` to the signed trust list, which
//! is pushed to rumi-capd. rumi-capd re-hashes the installed copy before every run.
//!
//! Files (signed): `user_data/capabilities/requests/index.json`,
//! `user_data/capabilities/trust/trusted_handlers.json`; events go to
//! `user_data/capabilities/requests/requests.jsonl`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use rumi_common::code;
use rumi_common::ids::PackId;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::audit::{Audit, AuditEvent, Category, Severity};
use crate::candidates::Review;
use crate::error::{Error, Result};
use crate::signed;

mod source;
pub use source::{MAX_SOURCE_BYTES, Source};

pub use crate::candidates::{COOLDOWN_SECS, REJECT_THRESHOLD};
/// Largest `handler.json` read.
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
use rumi_common::ids::BUILTIN_PERMISSIONS;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = HandlerCandidate)]
pub struct Candidate {
    pub pack_id: String,
    pub slug: String,
    pub handler_id: String,
    pub permission_id: String,
    pub entrypoint: String,
    pub source_dir: String,
    pub sha256: String,
    pub description: Option<String>,
    pub risk: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = CandidateItem)]
pub struct Item {
    #[serde(flatten)]
    pub review: Review,
    pub candidate: Candidate,
    pub installed_to: Option<String>,
    pub last_error: Option<String>,
}

/// A candidate whose state does not allow the action.
fn state_error(message: String) -> Error {
    Error::Coded {
        code: code::CAP_STATE,
        status: StatusCode::CONFLICT,
        message,
        suggestion: "`GET /api/capability/requests` shows the candidate's status; blocked candidates need `unblock` first",
    }
}

impl Item {
    /// The candidate as the operations guide lists it after a scan: one flat object
    /// (`candidate_key`, `pack_id`, `slug`, `handler_id`, `permission_id`, `sha256`, `status`,
    /// `description`, `risk`).
    pub fn flat(&self) -> Value {
        let c = &self.candidate;
        json!({
            "candidate_key": self.review.candidate_key,
            "pack_id": c.pack_id,
            "slug": c.slug,
            "handler_id": c.handler_id,
            "permission_id": c.permission_id,
            "sha256": c.sha256,
            "status": self.review.status,
            "description": c.description,
            "risk": c.risk,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trusted {
    pub handler_id: String,
    pub permission_id: String,
    pub sha256: String,
    pub slug: String,
    pub entrypoint: String,
}

/// Called with the trust list after every change.
pub type OnChange = Box<dyn Fn(&[Trusted], &BTreeMap<String, Item>) + Send + Sync>;

pub struct Handlers {
    home: PathBuf,
    signer: signed::Signer,
    audit: Audit,
    state: Mutex<(BTreeMap<String, Item>, Vec<Trusted>)>,
    on_change: OnChange,
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn ts(t: DateTime<Utc>) -> String {
    rumi_common::time::rfc3339(t)
}

fn valid_slug(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn valid_handler_id(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
}

/// Reads and validates one handler directory; returns the candidate.
///
/// # Errors
/// What is wrong, for the scan report.
pub fn read_candidate(pack: &str, slug: &str, dir: &Path) -> std::result::Result<Candidate, String> {
    if !valid_slug(slug) {
        return Err("slug must match ^[a-zA-Z0-9_-]{1,64}$".into());
    }
    let manifest = dir.join("handler.json");
    let meta = fs::symlink_metadata(&manifest).map_err(|_| "handler.json not found".to_owned())?;
    if !meta.is_file() || meta.len() > MAX_MANIFEST_BYTES {
        return Err("handler.json must be a regular file of at most 64 KiB".into());
    }
    let v: Value = serde_json::from_slice(&fs::read(&manifest).map_err(|e| e.to_string())?)
        .map_err(|e| format!("handler.json is not JSON: {e}"))?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let handler_id = text("handler_id").ok_or("handler_id is required")?;
    if !valid_handler_id(&handler_id) {
        return Err("handler_id must match ^[a-zA-Z0-9_.:-]{1,128}$".into());
    }
    let permission_id = text("permission_id").ok_or("permission_id is required")?;
    crate::grants::capability::validate_permission(&permission_id).map_err(|e| e.to_string())?;
    if BUILTIN_PERMISSIONS.contains(&permission_id.as_str()) {
        return Err(format!(
            "{permission_id} is a built-in capability and cannot be provided by a handler"
        ));
    }
    let entrypoint = text("entrypoint").unwrap_or_else(|| "handler.py:execute".into());
    let (file, func) = entrypoint
        .split_once(':')
        .ok_or("entrypoint must be file:function (RUMI-VAL-005)")?;
    if file.is_empty() || func.is_empty() || !func.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("entrypoint must be file:function (RUMI-VAL-005)".into());
    }
    if file.starts_with('/') || file.split('/').any(|s| s == ".." || s.is_empty()) {
        return Err("entrypoint file escapes the handler directory (RUMI-VAL-003)".into());
    }
    let entry = dir.join(file);
    let meta = fs::symlink_metadata(&entry).map_err(|_| "entrypoint file not found (RUMI-VAL-006)".to_owned())?;
    if !meta.is_file() {
        return Err("entrypoint must be a regular file, not a symlink (RUMI-VAL-004)".into());
    }
    let sha256 = hex::encode(Sha256::digest(fs::read(&entry).map_err(|e| e.to_string())?));
    let short = |k: &str| text(k).map(|s| s.chars().take(1024).collect());
    Ok(Candidate {
        pack_id: pack.to_owned(),
        slug: slug.to_owned(),
        handler_id,
        permission_id,
        entrypoint,
        source_dir: dir.display().to_string(),
        sha256,
        description: short("description"),
        risk: short("risk"),
    })
}

impl Candidate {
    pub fn key(&self) -> String {
        format!("{}:{}:{}:{}", self.pack_id, self.slug, self.handler_id, self.sha256)
    }
}

impl Handlers {
    /// Loads the index and trust list; tampered files count as empty (and are audited).
    pub fn load(home: &Path, signer: signed::Signer, audit: Audit, on_change: OnChange) -> Result<Self> {
        for d in [
            "user_data/capabilities/requests",
            "user_data/capabilities/trust",
            "user_data/capabilities/handlers",
        ] {
            let p = home.join(d);
            rumi_common::fs::ensure_dir(&p, 0o700).map_err(Error::io("cannot create", &p))?;
        }
        let this = Self {
            home: home.to_path_buf(),
            signer,
            audit,
            state: Mutex::default(),
            on_change,
        };
        let items = this.read_signed::<BTreeMap<String, Item>>("user_data/capabilities/requests/index.json", "items");
        let trusted = this.read_signed::<Vec<Trusted>>("user_data/capabilities/trust/trusted_handlers.json", "trusted");
        {
            let mut st = this.lock();
            *st = (items, trusted);
            (this.on_change)(&st.1, &st.0);
        }
        Ok(this)
    }

    fn read_signed<T: serde::de::DeserializeOwned + Default>(&self, rel: &str, field: &str) -> T {
        let path = self.home.join(rel);
        if !path.exists() {
            return T::default();
        }
        match self.signer.read(&path).and_then(|o| {
            serde_json::from_value::<T>(o.get(field).cloned().unwrap_or_default())
                .map_err(|e| self.signer.refused(&path, format!("signed but malformed: {e}")))
        }) {
            Ok(v) => v,
            Err(why) => {
                tracing::warn!(file = rel, reason = %why, "signed file failed verification; treated as empty");
                self.audit.record_blocking(why.event("capability_file_tampered"));
                T::default()
            }
        }
    }

    fn write_signed(&self, rel: &str, field: &str, value: Value) -> Result<()> {
        let mut obj = Map::new();
        obj.insert("version".into(), json!("1.0"));
        obj.insert("updated_at".into(), json!(ts(now())));
        obj.insert(field.into(), value);
        let path = self.home.join(rel);
        self.signer
            .store_object(&path, obj, 0o600)
            .map_err(Error::io("cannot write", &path))
    }

    fn lock(&self) -> MutexGuard<'_, (BTreeMap<String, Item>, Vec<Trusted>)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn persist(&self, st: &(BTreeMap<String, Item>, Vec<Trusted>)) -> Result<()> {
        self.write_signed("user_data/capabilities/requests/index.json", "items", json!(st.0))?;
        self.write_signed(
            "user_data/capabilities/trust/trusted_handlers.json",
            "trusted",
            json!(st.1),
        )?;
        (self.on_change)(&st.1, &st.0);
        Ok(())
    }

    fn event(&self, event: &str, key: &str, reason: Option<&str>) {
        let line = json!({"ts": ts(now()), "event": format!("capability_handler.{event}"), "candidate_key": key, "actor": "api", "reason": reason});
        crate::candidates::append_journal(&self.home.join("user_data/capabilities/requests/requests.jsonl"), &line);
        let mut ev = AuditEvent::new(Category::Security, format!("capability_handler_{event}"))
            .in_request()
            .detail("candidate_key", key);
        if let Some(r) = reason {
            ev = ev.rejection_reason(r);
        }
        self.audit.record_blocking(ev);
    }

    /// The trusted handlers, for the policy.
    pub fn trusted(&self) -> Vec<Trusted> {
        self.lock().1.clone()
    }

    /// Items, optionally filtered by status.
    pub fn list(&self, status: Option<&str>) -> Vec<Item> {
        self.lock()
            .0
            .values()
            .filter(|i| status.is_none_or(|s| i.review.status == s))
            .cloned()
            .collect()
    }

    /// Scans every installed pack for handler candidates.
    ///
    /// # Errors
    /// A failed write of the index.
    pub fn scan(&self, packs: &[(PackId, PathBuf)]) -> Result<Value> {
        let mut st = self.lock();
        let mut scanned = 0;
        let mut new = Vec::new();
        let mut invalid = Vec::new();
        let t = now();
        for (pack, dir) in packs {
            for base in [
                dir.join("share/capability_handlers"),
                dir.join("backend/share/capability_handlers"),
            ] {
                let Ok(entries) = fs::read_dir(&base) else { continue };
                for entry in entries.flatten() {
                    let slug = entry.file_name().to_string_lossy().into_owned();
                    if slug.starts_with('.') || !entry.file_type().is_ok_and(|k| k.is_dir()) {
                        continue;
                    }
                    scanned += 1;
                    match read_candidate(pack.as_str(), &slug, &entry.path()) {
                        Ok(c) => {
                            let key = c.key();
                            match st.0.get_mut(&key) {
                                Some(item) => {
                                    if item.review.reopen_if_cooled_down(t) {
                                        new.push(key);
                                    }
                                }
                                None => {
                                    st.0.insert(
                                        key.clone(),
                                        Item {
                                            review: Review::pending(key.clone(), t),
                                            candidate: c,
                                            installed_to: None,
                                            last_error: None,
                                        },
                                    );
                                    new.push(key);
                                }
                            }
                        }
                        Err(problem) => invalid.push(json!({"pack_id": pack, "slug": slug, "error": problem})),
                    }
                }
            }
        }
        self.persist(&st)?;
        let candidates: Vec<Value> = new.iter().filter_map(|k| st.0.get(k)).map(Item::flat).collect();
        let report =
            json!({"scanned": scanned, "new_candidates": new.len(), "candidates": candidates, "invalid": invalid});
        drop(st);
        for k in &new {
            self.event("requested", k, None);
        }
        Ok(report)
    }

    fn item(st: &(BTreeMap<String, Item>, Vec<Trusted>), key: &str) -> Result<Item> {
        st.0.get(key).cloned().ok_or_else(|| Error::Coded {
            code: code::CAP_NOT_FOUND,
            status: StatusCode::NOT_FOUND,
            message: format!("no capability candidate {key:?}"),
            suggestion: "`rumi-ctl capability scan` finds candidates; `GET /api/capability/requests` lists them (URL-encode the key's ':')",
        })
    }

    /// Approves a candidate: re-validates, copies, trusts.
    ///
    /// # Errors
    /// Unknown key, a blocked candidate, or any verification failure (the candidate is then
    /// `failed` with `last_error`).
    pub fn approve(&self, key: &str, notes: Option<&str>) -> Result<Item> {
        let mut st = self.lock();
        let item = Self::item(&st, key)?;
        match item.review.status.as_str() {
            "installed" => return Ok(item),
            "blocked" => {
                return Err(state_error("candidate is blocked; unblock it first".into()));
            }
            _ => {}
        }
        let result = self.install(&st.1, &item.candidate);
        let entry = st.0.get_mut(key).expect("present: read above");
        entry.review.last_event_ts = ts(now());
        match result {
            Ok(dest) => {
                entry.review.status = "installed".into();
                entry.installed_to = Some(dest);
                entry.last_error = None;
                let c = entry.candidate.clone();
                st.1.retain(|t| t.handler_id != c.handler_id);
                st.1.push(Trusted {
                    handler_id: c.handler_id,
                    permission_id: c.permission_id,
                    sha256: c.sha256,
                    slug: c.slug,
                    entrypoint: c.entrypoint,
                });
                self.persist(&st)?;
                let out = st.0[key].clone();
                drop(st);
                self.event("approved_and_installed", key, notes);
                Ok(out)
            }
            Err(why) => {
                entry.review.status = "failed".into();
                entry.last_error = Some(why.clone());
                self.persist(&st)?;
                drop(st);
                self.event("install_failed", key, Some(&why));
                Err(Error::Coded {
                    code: code::CAP_INSTALL_FAILED,
                    status: StatusCode::CONFLICT,
                    message: format!("approval failed: {why}"),
                    suggestion: "scan again (`rumi-ctl capability scan`) and review the new candidate_key; the candidate is now `failed` with last_error",
                })
            }
        }
    }

    /// Re-checks the source and copies it; returns the destination.
    fn install(&self, trusted: &[Trusted], c: &Candidate) -> std::result::Result<String, String> {
        let fresh = read_candidate(&c.pack_id, &c.slug, Path::new(&c.source_dir))?;
        if fresh.handler_id != c.handler_id
            || fresh.permission_id != c.permission_id
            || fresh.entrypoint != c.entrypoint
        {
            return Err("handler.json changed since the scan; scan again".into());
        }
        if fresh.sha256 != c.sha256 {
            return Err(
                "SHA-256 mismatch: the handler changed since the scan; scan again and review the new candidate".into(),
            );
        }
        if let Some(other) = trusted
            .iter()
            .find(|t| t.permission_id == c.permission_id && t.handler_id != c.handler_id)
        {
            return Err(format!(
                "permission {} is already served by trusted handler {}",
                c.permission_id, other.handler_id
            ));
        }
        let dest = self.home.join("user_data/capabilities/handlers").join(&c.slug);
        let file = c.entrypoint.split_once(':').map_or("handler.py", |(f, _)| f);
        if dest.exists() {
            let same = fs::read(dest.join(file))
                .map(|b| hex::encode(Sha256::digest(b)) == c.sha256)
                .unwrap_or(false);
            let manifest_same = fs::read(dest.join("handler.json")).ok()
                == fs::read(Path::new(&c.source_dir).join("handler.json")).ok();
            if same && manifest_same {
                return Ok(dest.display().to_string());
            }
            return Err("a different handler is already installed under this slug; nothing was overwritten".into());
        }
        // Copy into a fresh directory, verify the copy, then rename into place.
        let tmp = self
            .home
            .join("user_data/capabilities/handlers")
            .join(format!(".tmp-{}", c.slug));
        let _ = fs::remove_dir_all(&tmp);
        let copy = || -> std::io::Result<()> {
            fs::create_dir_all(tmp.join(file).parent().unwrap_or(&tmp))?;
            fs::write(
                tmp.join("handler.json"),
                fs::read(Path::new(&c.source_dir).join("handler.json"))?,
            )?;
            fs::write(tmp.join(file), fs::read(Path::new(&c.source_dir).join(file))?)?;
            Ok(())
        };
        copy().map_err(|e| format!("copy failed: {e}"))?;
        let copied = fs::read(tmp.join(file))
            .map(|b| hex::encode(Sha256::digest(b)))
            .unwrap_or_default();
        if copied != c.sha256 {
            let _ = fs::remove_dir_all(&tmp);
            return Err("SHA-256 mismatch while copying; the source is changing".into());
        }
        fs::rename(&tmp, &dest).map_err(|e| format!("cannot install: {e}"))?;
        Ok(dest.display().to_string())
    }

    /// Rejects a candidate (cooldown; blocked at the third rejection).
    ///
    /// # Errors
    /// Unknown key, an empty reason, an installed or blocked candidate, or a failed write.
    pub fn reject(&self, key: &str, reason: &str) -> Result<Item> {
        if reason.trim().is_empty() {
            return Err(Error::EmptyValue { field: "reason" });
        }
        let mut st = self.lock();
        let item = Self::item(&st, key)?;
        if matches!(item.review.status.as_str(), "installed" | "blocked") {
            return Err(state_error(format!(
                "cannot reject a candidate that is {}",
                item.review.status
            )));
        }
        let entry = st.0.get_mut(key).expect("present");
        entry.review.last_event_ts = ts(now());
        let blocked = entry.review.reject();
        self.persist(&st)?;
        let out = st.0[key].clone();
        drop(st);
        self.event(if blocked { "blocked" } else { "rejected" }, key, Some(reason));
        Ok(out)
    }

    /// Unblocks a blocked candidate: back to `rejected` with a fresh cooldown.
    ///
    /// # Errors
    /// Unknown key, a candidate that is not blocked, or a failed write.
    pub fn unblock(&self, key: &str, reason: &str) -> Result<Item> {
        let mut st = self.lock();
        let item = Self::item(&st, key)?;
        if item.review.status != "blocked" {
            return Err(state_error("candidate is not blocked".into()));
        }
        let entry = st.0.get_mut(key).expect("present");
        entry.review.status = "rejected".into();
        entry.review.cooldown_until = Some(ts(now() + chrono::Duration::seconds(COOLDOWN_SECS)));
        entry.review.last_event_ts = ts(now());
        self.persist(&st)?;
        let out = st.0[key].clone();
        drop(st);
        self.event("unblocked", key, Some(reason));
        Ok(out)
    }

    /// The entry file of a candidate, for review: read now from the pack (whatever its
    /// state), at most [`MAX_SOURCE_BYTES`], with whether it is still the scanned file.
    ///
    /// # Errors
    /// Unknown key (`RUMI-CAP-001`); the pack is gone; the file is missing, a symlink, not a regular file, or
    /// resolves outside the handler directory or the pack ([`Error::SourceRefused`]; the
    /// last three are audited as `security/capability_handler_source_refused`).
    pub fn source(&self, key: &str, ecosystem: &Path) -> Result<Source> {
        let item = Self::item(&self.lock(), key)?;
        let c = &item.candidate;
        let pack_dir = PackId::parse(&c.pack_id)
            .ok()
            .and_then(|id| crate::approval::discovery::find(ecosystem, &id))
            .map(|f| f.dir)
            .ok_or_else(|| Error::SourceRefused {
                code: rumi_common::code::VAL_FILE_NOT_FOUND,
                reason: format!("pack {} is no longer installed", c.pack_id),
            })?;
        source::read(key, c, &pack_dir).map_err(|(code, reason)| {
            if code == rumi_common::code::VAL_PATH_TRAVERSAL || code == rumi_common::code::VAL_SYMLINK {
                tracing::warn!(candidate_key = key, reason = %reason, "handler source refused");
                self.audit.record_blocking(
                    AuditEvent::new(Category::Security, "capability_handler_source_refused")
                        .in_request()
                        .failed(Severity::Warning, code.as_str(), reason.clone())
                        .detail("candidate_key", key),
                );
            }
            Error::SourceRefused { code, reason }
        })
    }
}
