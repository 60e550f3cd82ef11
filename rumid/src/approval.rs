//! Pack approval: the registry of installed packs and their approval state.
//!
//! Owns `user_data/settings/approvals/`. No pack code runs here: discovery reads only
//! `ecosystem.json`, and approval hashes files without interpreting them.
//!
//! State of a pack:
//!
//! | state | meaning |
//! |---|---|
//! | `installed` | found, never decided on |
//! | `pending` | waiting for a decision after an update (set by import/apply) |
//! | `approved` | approved and its files still match the approved hashes |
//! | `modified` | a file changed, appeared or disappeared since approval, or the record failed verification; disabled until re-approved |
//! | `blocked` | rejected by the operator (with a reason) |
//! | `error` | its `ecosystem.json` is missing or invalid |
//!
//! Only `approved` lets anything of a pack be used, and [`Packs::verify_for_use`] re-hashes
//! before saying so. Every change is persisted atomically before it is acknowledged and
//! audited; readers get an immutable [`Snapshot`] swapped whole.

pub mod discovery;
pub mod hashing;
pub mod record;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use chrono::Utc;
use rumi_common::ids::PackId;
use serde::Serialize;
use serde_json::json;

use self::discovery::{Found, Invalid, Manifest, Problem};
use self::hashing::{Diff, FileHashes};
use self::record::{ApprovalRecord, Decision, Loaded};
use crate::audit::{Audit, AuditEvent, Category, Severity};
use crate::config::DeprecationLevel;
use crate::error::{Error, Result};

/// Most changed paths kept in a record or an audit line.
const MAX_DIFF_PATHS: usize = 50;
/// Longest rejection reason accepted.
pub const MAX_REASON_LEN: usize = 1024;

/// The state of a pack, as reported by the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PackState {
    Installed,
    Pending,
    Approved,
    Modified,
    Blocked,
    Error,
}

impl PackState {
    /// All states, for metrics.
    pub const ALL: [Self; 6] = [
        Self::Installed,
        Self::Pending,
        Self::Approved,
        Self::Modified,
        Self::Blocked,
        Self::Error,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Installed => "installed",
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Modified => "modified",
            Self::Blocked => "blocked",
            Self::Error => "error",
        }
    }

    /// Whether the pack waits for an operator decision.
    pub fn is_pending(self) -> bool {
        matches!(self, Self::Installed | Self::Pending | Self::Modified)
    }
}

/// One pack as the registry knows it.
#[derive(Debug, Clone)]
struct Entry {
    found: Found,
    record: Option<ApprovalRecord>,
    tampered: Option<String>,
    legacy_refused: bool,
    state: PackState,
}

/// What `GET /api/packs` shows per pack.
#[derive(Debug, Clone, Serialize)]
pub struct PackSummary {
    pub pack_id: PackId,
    pub status: PackState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub legacy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}

/// What `GET /api/packs/{id}/status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct PackStatus {
    #[serde(flatten)]
    pub summary: PackSummary,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pack_identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub approved_files: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Diff>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_problem: Option<String>,
    pub history: Vec<record::HistoryEntry>,
}

/// An immutable view of all packs, swapped whole on every change.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub packs: Vec<PackSummary>,
    pub invalid: Vec<Invalid>,
    /// The JSON `data` of `GET /api/packs`, rendered once per change.
    pub list_json: Vec<u8>,
    /// Slot where the API layer caches its full rendered response for this snapshot, so
    /// the hot list endpoint copies nothing per request.
    pub rendered: std::sync::OnceLock<bytes::Bytes>,
}

impl Snapshot {
    /// Packs in a given state.
    pub fn ids_in(&self, state: PackState) -> Vec<&PackId> {
        self.packs
            .iter()
            .filter(|p| p.status == state)
            .map(|p| &p.pack_id)
            .collect()
    }
}

/// Result of a scan.
#[derive(Debug, Serialize)]
pub struct ScanReport {
    pub discovered: usize,
    pub new: Vec<PackId>,
    pub modified: Vec<PackId>,
    pub invalid: Vec<Invalid>,
}

/// Paths the registry works with.
#[derive(Debug, Clone)]
pub struct Paths {
    pub home: PathBuf,
    pub ecosystem: PathBuf,
    pub records: PathBuf,
    pub backups: PathBuf,
}

impl Paths {
    /// The layout under a Rumi home.
    pub fn under(home: &Path) -> Self {
        Self {
            home: home.to_path_buf(),
            ecosystem: home.join("ecosystem"),
            records: home.join("user_data/settings/approvals"),
            backups: home.join("user_data/backups/packs"),
        }
    }
}

struct Inner {
    entries: BTreeMap<PackId, Entry>,
    invalid: Vec<Invalid>,
}

/// Callback run (under the registry lock) after every published change.
pub type OnChange = Box<dyn Fn(&Snapshot) + Send + Sync>;

/// The pack registry. All methods block (file I/O, hashing): call them from
/// `spawn_blocking` in async code.
pub struct Packs {
    paths: Paths,
    signing_key: [u8; 32],
    deprecation: DeprecationLevel,
    audit: Audit,
    inner: Mutex<Inner>,
    snapshot: ArcSwap<Snapshot>,
    on_change: OnChange,
    /// Packs whose tampered record has been audited since it was last written.
    tamper_reported: Mutex<std::collections::HashSet<PackId>>,
}

// === impl Packs ===

impl Packs {
    /// Discovers packs, loads and verifies their records, re-hashes every approved pack
    /// (marking changed ones `modified`), and publishes the first snapshot.
    ///
    /// # Errors
    /// When the records directory cannot be created.
    pub fn load(
        paths: Paths,
        signing_key: [u8; 32],
        deprecation: DeprecationLevel,
        audit: Audit,
        on_change: OnChange,
    ) -> Result<Self> {
        rumi_common::fs::ensure_dir(&paths.records, 0o700).map_err(Error::io("cannot create", &paths.records))?;
        // A crash between creating a temp file and renaming it leaves the temp file behind;
        // the record itself is intact (old or new), so the leftover is only clutter.
        rumi_common::fs::remove_stale_temps(&paths.records);
        let packs = Self {
            paths,
            signing_key,
            deprecation,
            audit,
            inner: Mutex::new(Inner {
                entries: BTreeMap::new(),
                invalid: Vec::new(),
            }),
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            on_change,
            tamper_reported: Mutex::default(),
        };
        {
            let mut inner = packs.lock();
            packs.rescan(&mut inner);
            packs.publish(&inner);
        }
        Ok(packs)
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves entries that are still valid data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record_path(&self, id: &PackId) -> PathBuf {
        self.paths.records.join(format!("{id}.json"))
    }

    /// Rediscovers every pack and re-verifies approved ones.
    pub fn scan(&self) -> ScanReport {
        let mut inner = self.lock();
        let before: Vec<PackId> = inner.entries.keys().cloned().collect();
        let modified_before: Vec<PackId> = inner
            .entries
            .iter()
            .filter(|(_, e)| e.state == PackState::Modified)
            .map(|(id, _)| id.clone())
            .collect();
        self.rescan(&mut inner);
        let report = ScanReport {
            discovered: inner.entries.len(),
            new: inner
                .entries
                .keys()
                .filter(|id| !before.contains(id))
                .cloned()
                .collect(),
            modified: inner
                .entries
                .iter()
                .filter(|(id, e)| e.state == PackState::Modified && !modified_before.contains(id))
                .map(|(id, _)| id.clone())
                .collect(),
            invalid: inner.invalid.clone(),
        };
        self.publish(&inner);
        self.audit.record_blocking(
            AuditEvent::new(Category::Approval, "packs_scanned")
                .in_request()
                .detail("discovered", report.discovered)
                .detail("new", report.new.len())
                .detail("modified", report.modified.len())
                .detail("invalid", report.invalid.len()),
        );
        report
    }

    fn rescan(&self, inner: &mut Inner) {
        let found = discovery::discover(&self.paths.ecosystem);
        let mut entries = BTreeMap::new();
        for f in found.packs {
            let entry = self.build_entry(f);
            entries.insert(entry.found.id.clone(), entry);
        }
        inner.entries = entries;
        inner.invalid = found.invalid;
    }

    /// Builds an entry from what is on disk, verifying the record and the files.
    fn build_entry(&self, found: Found) -> Entry {
        let id = found.id.clone();
        let legacy_refused = found.legacy && self.deprecation == DeprecationLevel::Error;
        if found.legacy {
            match self.deprecation {
                DeprecationLevel::Warn | DeprecationLevel::Log | DeprecationLevel::Error => {
                    tracing::warn!(
                        pack_id = %id,
                        path = %found.dir.display(),
                        "pack uses a deprecated location; move it to ecosystem/<pack_id>/ (flows of ecosystem/flows/ to flows/ or user_data/shared/flows/)"
                    )
                }
                DeprecationLevel::Silent => {}
            }
        }
        let (record, tampered) = match record::load(&self.record_path(&id), &self.signing_key, id.as_str()) {
            Loaded::Absent => (None, None),
            Loaded::Valid(r) => (Some(*r), None),
            Loaded::Tampered(why) => {
                tracing::warn!(pack_id = %id, reason = %why, "approval record failed verification; pack treated as not approved");
                // One critical audit line per tampered record, not one per read of it.
                let first = self
                    .tamper_reported
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.clone());
                if first {
                    self.audit.record_blocking(
                        AuditEvent::new(Category::Security, "hmac_verification_failed")
                            .failed(Severity::Critical, "approval_record_tampered", why.clone())
                            .owner_pack(id.as_str()),
                    );
                }
                (None, Some(why))
            }
        };
        let mut entry = Entry {
            found,
            record,
            tampered,
            legacy_refused,
            state: PackState::Installed,
        };
        entry.state = Self::state_of(&entry);
        if entry.state == PackState::Approved {
            self.reverify(&mut entry);
        }
        entry
    }

    /// The state implied by an entry's record and manifest (before re-hashing).
    fn state_of(e: &Entry) -> PackState {
        if e.tampered.is_some() {
            return PackState::Modified;
        }
        let decision = e.record.as_ref().map(|r| r.status);
        if e.legacy_refused {
            // Refused by configuration, not changed: the pack is unusable until moved.
            return if decision == Some(Decision::Blocked) {
                PackState::Blocked
            } else {
                PackState::Error
            };
        }
        if e.found.manifest.is_err() {
            // A broken manifest on an approved pack is a file change: `modified`.
            return match decision {
                Some(Decision::Blocked) => PackState::Blocked,
                Some(Decision::Approved | Decision::Modified) => PackState::Modified,
                Some(Decision::Pending) | None => PackState::Error,
            };
        }
        match e.record.as_ref().map(|r| r.status) {
            None => PackState::Installed,
            Some(Decision::Approved) => PackState::Approved,
            Some(Decision::Pending) => PackState::Pending,
            Some(Decision::Modified) => PackState::Modified,
            Some(Decision::Blocked) => PackState::Blocked,
        }
    }

    /// Re-hashes an approved pack; on any difference, persists `modified` and audits it.
    fn reverify(&self, entry: &mut Entry) {
        let Some(record) = entry.record.as_mut() else {
            return;
        };
        let diff = match hashing::hash_pack(&entry.found.dir) {
            Ok(current) => Diff::between(&record.file_hashes, &current),
            Err(e) => Diff {
                changed: vec![format!("(unhashable: {e})")],
                ..Diff::default()
            },
        };
        if diff.is_empty() {
            return;
        }
        let ts = rumi_common::time::now_rfc3339();
        let diff = diff.truncated(MAX_DIFF_PATHS);
        record.status = Decision::Modified;
        record.updated_at.clone_from(&ts);
        record.modified_changes = Some(diff.clone());
        record.push_history(
            &ts,
            "modified",
            record.file_hashes.len(),
            hashing::tree_digest(&record.file_hashes),
        );
        let id = &entry.found.id;
        if let Err(e) = record::save(&self.record_path(id), &self.signing_key, record) {
            // The in-memory state is `modified` regardless: fail closed.
            tracing::error!(pack_id = %id, %e, "cannot persist modified state");
        }
        entry.state = PackState::Modified;
        tracing::warn!(pack_id = %id, added = diff.added.len(), changed = diff.changed.len(), removed = diff.removed.len(), "pack files changed since approval; pack disabled");
        self.audit.record_blocking(
            AuditEvent::new(Category::Security, "pack_modified")
                .failed(Severity::Warning, "hash_mismatch", "pack files changed since approval")
                .owner_pack(id.as_str())
                .detail("added", diff.added)
                .detail("changed", diff.changed)
                .detail("removed", diff.removed),
        );
    }

    /// Re-hashes every approved pack; changed ones become `modified` (and lose their
    /// sockets through the next policy). Returns how many changed.
    pub fn reverify_approved(&self) -> usize {
        let mut inner = self.lock();
        let mut changed = 0;
        for entry in inner.entries.values_mut() {
            if entry.state == PackState::Approved {
                self.reverify(entry);
                if entry.state != PackState::Approved {
                    changed += 1;
                }
            }
        }
        if changed > 0 {
            self.publish(&inner);
        }
        changed
    }

    /// Re-reads one pack from disk into the registry (or drops it if gone).
    fn refresh(&self, inner: &mut Inner, id: &PackId) -> Option<()> {
        match discovery::find(&self.paths.ecosystem, id) {
            Some(found) => {
                let entry = self.build_entry(found);
                inner.entries.insert(id.clone(), entry);
                Some(())
            }
            None => {
                inner.entries.remove(id);
                None
            }
        }
    }

    fn publish(&self, inner: &Inner) {
        let packs: Vec<PackSummary> = inner.entries.values().map(summary).collect();
        let list_json =
            serde_json::to_vec(&json!({ "packs": &packs, "count": packs.len(), "invalid": &inner.invalid }))
                .unwrap_or_default();
        let snap = Snapshot {
            packs,
            invalid: inner.invalid.clone(),
            list_json,
            rendered: std::sync::OnceLock::new(),
        };
        // Store first: on_change wakes readers (the flow reload) that read this snapshot.
        let snap = Arc::new(snap);
        self.snapshot.store(snap.clone());
        (self.on_change)(&snap);
    }

    /// Approves a pack: re-reads its manifest, hashes every file, persists the record.
    ///
    /// # Errors
    /// Not found, a broken manifest ([`Error::PackNotApprovable`]), a file that cannot be
    /// hashed, or a failed write (nothing is changed then).
    pub fn approve(&self, id: &PackId) -> Result<PackStatus> {
        let mut inner = self.lock();
        let Some(found) = discovery::find(&self.paths.ecosystem, id) else {
            inner.entries.remove(id);
            self.publish(&inner);
            return Err(Error::PackNotFound { pack_id: id.clone() });
        };
        if found.legacy && self.deprecation == DeprecationLevel::Error {
            return Err(self.refuse(id, "pack is in the legacy location and RUMI_DEPRECATION_LEVEL=error"));
        }
        let manifest = match &found.manifest {
            Ok(m) => m.clone(),
            Err(p) => return Err(self.refuse(id, &format!("{}: {}", p.code, p.message))),
        };
        let hashes = hashing::hash_pack(&found.dir).map_err(|e| {
            let err = Error::HashFailed {
                pack_id: id.clone(),
                reason: e.to_string(),
            };
            self.audit_refusal(id, "pack_approve", &err);
            err
        })?;
        let ts = rumi_common::time::now_rfc3339();
        let previous = match record::load(&self.record_path(id), &self.signing_key, id.as_str()) {
            Loaded::Valid(r) => Some(*r),
            Loaded::Absent | Loaded::Tampered(_) => None,
        };
        let mut rec = previous.unwrap_or_else(|| new_record(id, &ts));
        rec.status = Decision::Approved;
        rec.updated_at.clone_from(&ts);
        rec.approved_at = Some(ts.clone());
        rec.pack_identity = Some(manifest.pack_identity.clone());
        rec.rejection_reason = None;
        rec.modified_changes = None;
        rec.push_history(&ts, "approve", hashes.len(), hashing::tree_digest(&hashes));
        rec.file_hashes = hashes;
        let path = self.record_path(id);
        record::save(&path, &self.signing_key, &rec).map_err(Error::io("cannot write approval record", &path))?;
        self.tamper_reported
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        self.refresh(&mut inner, id);
        self.publish(&inner);
        let files = rec.file_hashes.len();
        tracing::info!(pack_id = %id, files, "pack approved");
        self.audit.record_blocking(
            AuditEvent::new(Category::Approval, "pack_approved")
                .in_request()
                .owner_pack(id.as_str())
                .detail("files", files)
                .detail("pack_identity", manifest.pack_identity)
                .detail("digest", hashing::tree_digest(&rec.file_hashes)),
        );
        self.status_locked(&inner, id)
    }

    /// Rejects (blocks) a pack with a reason.
    ///
    /// # Errors
    /// Not found, an empty or too long reason, or a failed write.
    pub fn reject(&self, id: &PackId, reason: &str) -> Result<PackStatus> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Error::EmptyValue { field: "reason" });
        }
        if reason.chars().count() > MAX_REASON_LEN {
            return Err(Error::TooLong {
                field: "reason",
                max: MAX_REASON_LEN,
            });
        }
        let mut inner = self.lock();
        if discovery::find(&self.paths.ecosystem, id).is_none() {
            inner.entries.remove(id);
            self.publish(&inner);
            return Err(Error::PackNotFound { pack_id: id.clone() });
        }
        let ts = rumi_common::time::now_rfc3339();
        let mut rec = match record::load(&self.record_path(id), &self.signing_key, id.as_str()) {
            Loaded::Valid(r) => *r,
            Loaded::Absent | Loaded::Tampered(_) => new_record(id, &ts),
        };
        rec.status = Decision::Blocked;
        rec.updated_at.clone_from(&ts);
        rec.rejection_reason = Some(reason.to_owned());
        rec.push_history(
            &ts,
            "reject",
            rec.file_hashes.len(),
            hashing::tree_digest(&rec.file_hashes),
        );
        let path = self.record_path(id);
        record::save(&path, &self.signing_key, &rec).map_err(Error::io("cannot write approval record", &path))?;
        self.tamper_reported
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        self.refresh(&mut inner, id);
        self.publish(&inner);
        tracing::info!(pack_id = %id, "pack rejected");
        self.audit.record_blocking(
            AuditEvent::new(Category::Approval, "pack_rejected")
                .in_request()
                .owner_pack(id.as_str())
                .rejection_reason(reason),
        );
        self.status_locked(&inner, id)
    }

    /// Uninstalls a pack: moves its directory to `user_data/backups/packs/<id>-<time>/` and
    /// removes its approval record. Returns the backup path.
    ///
    /// # Errors
    /// Not found, or a failed move (the pack stays installed then).
    pub fn uninstall(&self, id: &PackId) -> Result<PathBuf> {
        let mut inner = self.lock();
        let Some(found) = discovery::find(&self.paths.ecosystem, id) else {
            inner.entries.remove(id);
            self.publish(&inner);
            return Err(Error::PackNotFound { pack_id: id.clone() });
        };
        rumi_common::fs::ensure_dir(&self.paths.backups, 0o700)
            .map_err(Error::io("cannot create", &self.paths.backups))?;
        let backup = self
            .paths
            .backups
            .join(format!("{id}-{}", Utc::now().format("%Y%m%dT%H%M%S%.6fZ")));
        std::fs::rename(&found.dir, &backup).map_err(Error::io("cannot move pack to", &backup))?;
        let _ = rumi_common::fs::sync_dir(found.dir.parent().unwrap_or(&self.paths.ecosystem));
        let path = self.record_path(id);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                let _ = rumi_common::fs::sync_dir(&self.paths.records);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot remove approval record", &path)(e)),
        }
        inner.entries.remove(id);
        self.publish(&inner);
        let shown = backup
            .strip_prefix(&self.paths.home)
            .unwrap_or(&backup)
            .display()
            .to_string();
        tracing::info!(pack_id = %id, backup = %shown, "pack uninstalled");
        self.audit.record_blocking(
            AuditEvent::new(Category::Approval, "pack_uninstalled")
                .in_request()
                .owner_pack(id.as_str())
                .detail("backup", shown),
        );
        Ok(backup)
    }

    /// The detailed status of a pack, re-read from disk and re-verified.
    ///
    /// # Errors
    /// [`Error::PackNotFound`].
    pub fn status(&self, id: &PackId) -> Result<PackStatus> {
        let mut inner = self.lock();
        let before = inner.entries.get(id).map(|e| e.state);
        let exists = self.refresh(&mut inner, id).is_some();
        let after = inner.entries.get(id).map(|e| e.state);
        if before != after || !exists {
            self.publish(&inner);
        }
        self.status_locked(&inner, id)
    }

    /// Checks, without any cache, that a pack may be used now: approved and its files
    /// identical to the approved ones. A mismatch marks it `modified` on the spot.
    ///
    /// # Errors
    /// [`Error::PackNotFound`] or [`Error::PackNotApproved`].
    pub fn verify_for_use(&self, id: &PackId) -> Result<Manifest> {
        let status = self.status(id)?;
        if status.summary.status != PackState::Approved {
            return Err(Error::PackNotApproved {
                pack_id: id.clone(),
                state: status.summary.status.as_str(),
            });
        }
        let inner = self.lock();
        inner
            .entries
            .get(id)
            .and_then(|e| e.found.manifest.clone().ok())
            .ok_or_else(|| Error::PackNotFound { pack_id: id.clone() })
    }

    /// Approved packs with their directories and the digest of their approved files.
    pub fn approved_digests(&self) -> Vec<(PackId, PathBuf, String)> {
        let inner = self.lock();
        inner
            .entries
            .values()
            .filter(|e| e.state == PackState::Approved)
            .filter_map(|e| {
                let r = e.record.as_ref()?;
                Some((
                    e.found.id.clone(),
                    e.found.dir.clone(),
                    hashing::tree_digest(&r.file_hashes),
                ))
            })
            .collect()
    }

    fn status_locked(&self, inner: &Inner, id: &PackId) -> Result<PackStatus> {
        let e = inner
            .entries
            .get(id)
            .ok_or_else(|| Error::PackNotFound { pack_id: id.clone() })?;
        let manifest = e.found.manifest.as_ref().ok();
        let rec = e.record.as_ref();
        Ok(PackStatus {
            summary: summary(e),
            path: e
                .found
                .dir
                .strip_prefix(&self.paths.home)
                .unwrap_or(&e.found.dir)
                .display()
                .to_string(),
            pack_identity: manifest.map(|m| m.pack_identity.clone()),
            description: manifest.and_then(|m| m.description.clone()),
            approved_files: rec.map_or(0, |r| r.file_hashes.len()),
            rejection_reason: rec.and_then(|r| r.rejection_reason.clone()),
            changes: rec
                .and_then(|r| r.modified_changes.clone())
                .filter(|_| e.state == PackState::Modified),
            record_problem: e.tampered.clone(),
            history: rec.map(|r| r.version_history.clone()).unwrap_or_default(),
        })
    }

    fn refuse(&self, id: &PackId, reason: &str) -> Error {
        let err = Error::PackNotApprovable {
            pack_id: id.clone(),
            reason: reason.to_owned(),
        };
        self.audit_refusal(id, "pack_approve", &err);
        err
    }

    fn audit_refusal(&self, id: &PackId, action: &str, err: &Error) {
        self.audit.record_blocking(
            AuditEvent::new(Category::Approval, action)
                .in_request()
                .failed(Severity::Warning, err.code().as_str(), err.to_string())
                .owner_pack(id.as_str()),
        );
    }
}

fn new_record(id: &PackId, ts: &str) -> ApprovalRecord {
    ApprovalRecord {
        pack_id: id.to_string(),
        status: Decision::Pending,
        created_at: ts.to_owned(),
        updated_at: ts.to_owned(),
        approved_at: None,
        pack_identity: None,
        file_hashes: FileHashes::new(),
        rejection_reason: None,
        modified_changes: None,
        version_history: Vec::new(),
    }
}

fn summary(e: &Entry) -> PackSummary {
    let manifest = e.found.manifest.as_ref().ok();
    let error = match (&e.found.manifest, e.legacy_refused) {
        (Err(p), _) => Some(p.clone()),
        (Ok(_), true) => Some(Problem {
            code: rumi_common::code::PACK_LEGACY_REFUSED,
            message:
                "pack is in a legacy location (ecosystem/packs/ or ecosystem/flows/) and RUMI_DEPRECATION_LEVEL=error"
                    .into(),
        }),
        (Ok(_), false) => None,
    };
    PackSummary {
        pack_id: e.found.id.clone(),
        status: e.state,
        name: manifest.and_then(|m| m.name.clone()),
        version: manifest.and_then(|m| m.version.clone()),
        legacy: e.found.legacy,
        approved_at: e
            .record
            .as_ref()
            .filter(|_| e.state == PackState::Approved)
            .and_then(|r| r.approved_at.clone()),
        error,
    }
}
