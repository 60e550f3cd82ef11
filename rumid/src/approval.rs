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
//! Only `approved` lets anything of a pack be used, and what is used is the pack's approved
//! snapshot ([`snapshot`]): the files copied, and hashed as they were copied, at approval.
//! [`Packs::verify_for_use`] therefore hashes nothing: it hands out the snapshot of an
//! approved pack. `ecosystem/` is still re-checked (on status requests, scans and a
//! periodic check, cheaply through a stat cache) so that an edited pack is shown `modified`
//! and disabled until re-approved; its edits never run.
//!
//! Every change is persisted atomically before it is acknowledged and audited; readers get
//! an immutable [`Snapshot`] swapped whole. Hashing and copying happen under the pack's own
//! lock, never under the registry lock: approving a 600 MB pack does not slow down the status
//! of another pack, and no block call waits for either.

pub mod discovery;
pub mod hashing;
pub mod record;
pub mod snapshot;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use chrono::Utc;
use rumi_common::ids::PackId;
use serde::Serialize;
use serde_json::json;

use self::discovery::{Found, Invalid, Problem};
use self::hashing::{Diff, FileHashes, StatCache};
use self::record::{ApprovalRecord, Decision, Loaded};
use self::snapshot::{PackSnapshot, SnapshotStore};
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
    Pending,
    Approved,
    Modified,
    Blocked,
    Error,
}

impl PackState {
    /// All states, for metrics.
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Approved,
        Self::Modified,
        Self::Blocked,
        Self::Error,
    ];

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Modified => "modified",
            Self::Blocked => "blocked",
            Self::Error => "error",
        }
    }

    /// Whether the pack waits for an operator decision.
    pub fn is_pending(self) -> bool {
        matches!(self, Self::Pending | Self::Modified)
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
    /// The approved snapshot, exactly while the state is `approved`.
    approved: Option<Arc<PackSnapshot>>,
}

/// What `GET /api/packs` shows per pack.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PackSummary {
    #[schema(value_type = String)]
    pub pack_id: PackId,
    /// `pending`, `approved`, `modified`, `blocked` or `error`.
    #[schema(value_type = String)]
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
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    /// The approved snapshot of every approved pack.
    pub approved: BTreeMap<PackId, Arc<PackSnapshot>>,
}

impl Snapshot {
    /// Approved packs with their snapshots' digests, sorted by id.
    pub fn approved_digests(&self) -> Vec<(PackId, String)> {
        self.approved
            .iter()
            .map(|(id, s)| (id.clone(), s.digest().to_owned()))
            .collect()
    }

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
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScanReport {
    pub discovered: usize,
    #[schema(value_type = Vec<String>)]
    pub new: Vec<PackId>,
    #[schema(value_type = Vec<String>)]
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
    pub snapshots: PathBuf,
}

impl Paths {
    /// The layout under a Rumi home.
    pub fn under(home: &Path) -> Self {
        Self {
            home: home.to_path_buf(),
            ecosystem: home.join("ecosystem"),
            records: home.join("user_data/settings/approvals"),
            backups: home.join("user_data/backups/packs"),
            snapshots: home.join("user_data/snapshots"),
        }
    }
}

struct Inner {
    entries: BTreeMap<PackId, Entry>,
    invalid: Vec<Invalid>,
}

/// Callback run (under the registry lock) after every published change.
pub type OnChange = Box<dyn Fn(&Snapshot) + Send + Sync>;

/// The pack registry. All methods but [`Packs::snapshot`] and [`Packs::verify_for_use`]
/// block (file I/O, hashing): call them from `spawn_blocking` in async code.
///
/// Locks, always taken in this order: `scan` (one whole rescan at a time), a pack's own
/// lock (every decision about that pack, and the hashing or copying it needs), then
/// `inner` (held only to update entries in memory and publish).
pub struct Packs {
    paths: Paths,
    signer: crate::signed::Signer,
    deprecation: DeprecationLevel,
    audit: Audit,
    inner: Mutex<Inner>,
    snapshot: ArcSwap<Snapshot>,
    on_change: OnChange,
    /// Packs whose tampered record has been audited since it was last written.
    tamper_reported: Mutex<std::collections::HashSet<PackId>>,
    snapshots: SnapshotStore,
    pack_locks: Mutex<std::collections::HashMap<PackId, Arc<Mutex<()>>>>,
    scan_lock: Mutex<()>,
    /// Stamps of the files of `ecosystem/`, per pack, for the cheap re-check.
    stat_caches: Mutex<std::collections::HashMap<PackId, StatCache>>,
}

/// Locks a mutex, taking over the data of a holder that panicked (entries stay valid data).
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
        signer: crate::signed::Signer,
        deprecation: DeprecationLevel,
        audit: Audit,
        on_change: OnChange,
    ) -> Result<Self> {
        rumi_common::fs::ensure_dir(&paths.records, 0o700).map_err(Error::io("cannot create", &paths.records))?;
        // A crash between creating a temp file and renaming it leaves the temp file behind;
        // the record itself is intact (old or new), so the leftover is only clutter.
        rumi_common::fs::remove_stale_temps(&paths.records);
        let snapshots =
            SnapshotStore::open(paths.snapshots.clone()).map_err(Error::io("cannot create", &paths.snapshots))?;
        let packs = Self {
            paths,
            signer,
            deprecation,
            audit,
            inner: Mutex::new(Inner {
                entries: BTreeMap::new(),
                invalid: Vec::new(),
            }),
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            on_change,
            tamper_reported: Mutex::default(),
            snapshots,
            pack_locks: Mutex::default(),
            scan_lock: Mutex::default(),
            stat_caches: Mutex::default(),
        };
        packs.rescan();
        packs.collect_garbage();
        Ok(packs)
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        locked(&self.inner)
    }

    /// The lock of one pack: held for every decision about it and the I/O it needs.
    fn pack_lock(&self, id: &PackId) -> Arc<Mutex<()>> {
        locked(&self.pack_locks).entry(id.clone()).or_default().clone()
    }

    /// Removes snapshots that no approved pack names and no run holds.
    fn collect_garbage(&self) {
        let keep = self.snapshot().approved_digests();
        let n = self.snapshots.retain(&keep);
        if n > 0 {
            tracing::debug!(removed = n, "old pack snapshots removed");
        }
    }

    fn record_path(&self, id: &PackId) -> PathBuf {
        self.paths.records.join(format!("{id}.json"))
    }

    /// Rediscovers every pack and re-verifies approved ones.
    pub fn scan(&self) -> ScanReport {
        let _scan = locked(&self.scan_lock);
        let (before, modified_before): (Vec<PackId>, Vec<PackId>) = {
            let inner = self.lock();
            (
                inner.entries.keys().cloned().collect(),
                inner
                    .entries
                    .iter()
                    .filter(|(_, e)| e.state == PackState::Modified)
                    .map(|(id, _)| id.clone())
                    .collect(),
            )
        };
        self.rescan_locked();
        self.collect_garbage();
        let inner = self.lock();
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
        drop(inner);
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

    fn rescan(&self) {
        let _scan = locked(&self.scan_lock);
        self.rescan_locked();
    }

    /// Rebuilds every entry from disk, each under its pack's lock (so a concurrent approval
    /// is never overwritten by an entry built before it), then publishes once.
    fn rescan_locked(&self) {
        let found = discovery::discover(&self.paths.ecosystem);
        // A listing that failed for lack of descriptors says nothing about which packs exist:
        // dropping the packs it missed would unapprove them.
        if let Some(why) = &found.incomplete {
            tracing::error!(reason = %why, "cannot list the installed packs now; the registry stays as it was");
            return;
        }
        let ids: std::collections::HashSet<PackId> = found.packs.iter().map(|f| f.id.clone()).collect();
        for f in found.packs {
            let lock = self.pack_lock(&f.id);
            let _pack = locked(&lock);
            // None: nothing could be decided now; the entry stays as it was.
            if let Some(entry) = self.build_entry(f) {
                self.lock().entries.insert(entry.found.id.clone(), entry);
            }
        }
        let mut inner = self.lock();
        inner.entries.retain(|id, _| ids.contains(id));
        inner.invalid = found.invalid;
        self.publish(&inner);
    }

    /// Builds an entry from what is on disk, verifying the record and the files. `None` when
    /// the manifest or the record cannot be read now for a reason that says nothing about them
    /// (out of descriptors or memory): an error, never a verdict on the pack, so the caller
    /// keeps the entry it has.
    fn build_entry(&self, found: Found) -> Option<Entry> {
        let id = found.id.clone();
        if let Err(p) = &found.manifest
            && p.transient
        {
            tracing::error!(pack_id = %id, reason = %p.message, "cannot read the pack's manifest now; its state is unchanged");
            return None;
        }
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
        let (record, tampered) = match record::load(&self.record_path(&id), &self.signer, id.as_str()) {
            Loaded::Absent => (None, None),
            Loaded::Valid(r) => (Some(*r), None),
            Loaded::Unavailable(why) => {
                tracing::error!(pack_id = %id, reason = %why, "cannot read the approval record now; the pack's state is unchanged");
                return None;
            }
            Loaded::Tampered(refused) => {
                tracing::warn!(pack_id = %id, reason = %refused, "approval record failed verification; pack treated as not approved");
                // One critical audit line per tampered record, not one per read of it.
                let first = self
                    .tamper_reported
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.clone());
                if first {
                    self.audit
                        .record_blocking(refused.event("approval_record_tampered").owner_pack(id.as_str()));
                }
                (None, Some(refused.reason))
            }
        };
        let mut entry = Entry {
            found,
            record,
            tampered,
            legacy_refused,
            state: PackState::Pending,
            approved: None,
        };
        entry.state = Self::state_of(&entry);
        if entry.state == PackState::Approved {
            self.attach_snapshot(&mut entry);
        }
        if entry.state == PackState::Approved {
            self.reverify(&mut entry);
        }
        Some(entry)
    }

    /// Finds the approved snapshot an approved entry's record names. A record without one
    /// (approved by an older Rumi, or the snapshot was deleted) gets a new copy when the
    /// pack's files still hash as approved; otherwise the pack is `modified`.
    fn attach_snapshot(&self, entry: &mut Entry) {
        let Some(record) = entry.record.as_ref() else { return };
        let id = entry.found.id.clone();
        if let Some(snap) = self.snapshots.existing(&id, &record.file_hashes) {
            entry.approved = Some(snap);
            return;
        }
        match self.snapshots.take(&id, &entry.found.dir) {
            Ok(snap) if snap.hashes() == &record.file_hashes => {
                tracing::info!(pack_id = %id, digest = %snap.digest(), "approved snapshot created from unchanged files");
                entry.approved = Some(snap);
            }
            // Changed files (the re-check marks the pack `modified` with the diff), or a
            // copy that failed: nothing of the pack runs.
            Ok(_) => {}
            Err(e) if e.is_transient() => {
                tracing::error!(pack_id = %id, error = %e, "cannot copy the approved snapshot; the pack stays unusable until the next check");
                entry.state = PackState::Error;
            }
            Err(e) => tracing::warn!(pack_id = %id, error = %e, "cannot copy the approved snapshot"),
        }
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
            None => PackState::Pending,
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
        let id = entry.found.id.clone();
        let current = {
            let mut caches = locked(&self.stat_caches);
            let cache = caches.entry(id.clone()).or_default();
            hashing::hash_pack_cached(&entry.found.dir, cache)
        };
        let diff = match current {
            Ok(current) => Diff::between(&record.file_hashes, &current),
            // Out of descriptors or memory, a failing disk: the check failed, not the pack.
            // It keeps its state and is checked again next time.
            Err(e) if e.is_transient() => {
                tracing::error!(pack_id = %id, error = %e, "cannot re-check the pack's files; state unchanged");
                return;
            }
            Err(e) => Diff {
                changed: vec![format!("(unhashable: {e})")],
                ..Diff::default()
            },
        };
        if diff.is_empty() && entry.approved.is_some() {
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
        if let Err(e) = record::save(&self.record_path(id), &self.signer, record) {
            // The in-memory state is `modified` regardless: fail closed.
            tracing::error!(pack_id = %id, %e, "cannot persist modified state");
        }
        entry.state = PackState::Modified;
        entry.approved = None;
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

    /// Re-checks every approved pack; changed ones become `modified` (and lose their
    /// sockets through the next policy). Returns how many changed.
    pub fn reverify_approved(&self) -> usize {
        let approved: Vec<PackId> = self.snapshot().approved.keys().cloned().collect();
        let mut changed = 0;
        for id in approved {
            let lock = self.pack_lock(&id);
            let _pack = locked(&lock);
            let Some(mut entry) = self.lock().entries.get(&id).cloned() else {
                continue;
            };
            if entry.state != PackState::Approved {
                continue;
            }
            self.reverify(&mut entry);
            if entry.state != PackState::Approved {
                changed += 1;
                let mut inner = self.lock();
                inner.entries.insert(id, entry);
                self.publish(&inner);
            }
        }
        changed
    }

    /// Re-reads one pack from disk into the registry (or drops it if gone) and publishes
    /// when its state changed. The caller holds the pack's lock.
    fn refresh(&self, id: &PackId) -> Option<()> {
        let entry = match discovery::find(&self.paths.ecosystem, id) {
            Some(found) => match self.build_entry(found) {
                Some(e) => Some(e),
                // Unreadable now: the entry stays as it was.
                None => return self.lock().entries.contains_key(id).then_some(()),
            },
            None => None,
        };
        let mut inner = self.lock();
        let before = inner
            .entries
            .get(id)
            .map(|e| (e.state, e.approved.as_ref().map(|s| s.digest().to_owned())));
        let after = entry
            .as_ref()
            .map(|e| (e.state, e.approved.as_ref().map(|s| s.digest().to_owned())));
        let found = entry.is_some();
        match entry {
            Some(e) => {
                inner.entries.insert(id.clone(), e);
            }
            None => {
                inner.entries.remove(id);
            }
        }
        if before != after {
            self.publish(&inner);
        }
        found.then_some(())
    }

    fn publish(&self, inner: &Inner) {
        let packs: Vec<PackSummary> = inner.entries.values().map(summary).collect();
        let list_json =
            serde_json::to_vec(&json!({ "packs": &packs, "count": packs.len(), "invalid": &inner.invalid }))
                .unwrap_or_default();
        let approved = inner
            .entries
            .iter()
            .filter(|(_, e)| e.state == PackState::Approved)
            .filter_map(|(id, e)| Some((id.clone(), e.approved.clone()?)))
            .collect();
        let snap = Snapshot {
            packs,
            invalid: inner.invalid.clone(),
            list_json,
            rendered: std::sync::OnceLock::new(),
            approved,
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
        let lock = self.pack_lock(id);
        let _pack = locked(&lock);
        let Some(found) = discovery::find(&self.paths.ecosystem, id) else {
            self.refresh(id);
            return Err(Error::PackNotFound { pack_id: id.clone() });
        };
        if found.legacy && self.deprecation == DeprecationLevel::Error {
            return Err(self.refuse(id, "pack is in the legacy location and RUMI_DEPRECATION_LEVEL=error"));
        }
        let manifest = match &found.manifest {
            Ok(m) => m.clone(),
            Err(p) if p.transient => return Err(self.transient(id, "pack_approve", "its manifest", &p.message)),
            Err(p) => return Err(self.refuse(id, &format!("{}: {}", p.code, p.message))),
        };
        // The copy is what will run; its hashes are what the record approves.
        let snap = self.snapshots.take(id, &found.dir).map_err(|e| {
            if e.is_transient() {
                return self.transient(id, "pack_approve", "its files", &e.to_string());
            }
            let err = Error::HashFailed {
                pack_id: id.clone(),
                reason: e.to_string(),
            };
            self.audit_refusal(id, "pack_approve", &err);
            err
        })?;
        let hashes = snap.hashes().clone();
        let ts = rumi_common::time::now_rfc3339();
        let previous = match record::load(&self.record_path(id), &self.signer, id.as_str()) {
            Loaded::Valid(r) => Some(*r),
            Loaded::Absent | Loaded::Tampered(_) => None,
            // Writing a new record over one that could not be read would lose its history.
            Loaded::Unavailable(why) => return Err(self.transient(id, "pack_approve", "its approval record", &why)),
        };
        let mut rec = previous.unwrap_or_else(|| new_record(id, &ts));
        rec.status = Decision::Approved;
        rec.updated_at.clone_from(&ts);
        rec.approved_at = Some(ts.clone());
        rec.pack_identity = Some(manifest.pack_identity.clone());
        rec.rejection_reason = None;
        rec.modified_changes = None;
        rec.push_history(&ts, "approve", hashes.len(), snap.digest().to_owned());
        rec.file_hashes = hashes;
        let path = self.record_path(id);
        record::save(&path, &self.signer, &rec).map_err(Error::io("cannot write approval record", &path))?;
        locked(&self.tamper_reported).remove(id);
        self.refresh(id);
        self.collect_garbage();
        let files = rec.file_hashes.len();
        tracing::info!(pack_id = %id, files, digest = %snap.digest(), "pack approved");
        self.audit.record_blocking(
            AuditEvent::new(Category::Approval, "pack_approved")
                .in_request()
                .owner_pack(id.as_str())
                .detail("files", files)
                .detail("pack_identity", manifest.pack_identity)
                .detail("digest", snap.digest()),
        );
        self.status_of(id)
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
        let lock = self.pack_lock(id);
        let _pack = locked(&lock);
        if discovery::find(&self.paths.ecosystem, id).is_none() {
            self.refresh(id);
            return Err(Error::PackNotFound { pack_id: id.clone() });
        }
        let ts = rumi_common::time::now_rfc3339();
        let mut rec = match record::load(&self.record_path(id), &self.signer, id.as_str()) {
            Loaded::Valid(r) => *r,
            Loaded::Absent | Loaded::Tampered(_) => new_record(id, &ts),
            Loaded::Unavailable(why) => return Err(self.transient(id, "pack_reject", "its approval record", &why)),
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
        record::save(&path, &self.signer, &rec).map_err(Error::io("cannot write approval record", &path))?;
        locked(&self.tamper_reported).remove(id);
        self.refresh(id);
        self.collect_garbage();
        tracing::info!(pack_id = %id, "pack rejected");
        self.audit.record_blocking(
            AuditEvent::new(Category::Approval, "pack_rejected")
                .in_request()
                .owner_pack(id.as_str())
                .rejection_reason(reason),
        );
        self.status_of(id)
    }

    /// Uninstalls a pack: moves its directory to `user_data/backups/packs/<id>-<time>/` and
    /// removes its approval record. Returns the backup path.
    ///
    /// # Errors
    /// Not found, or a failed move (the pack stays installed then).
    pub fn uninstall(&self, id: &PackId) -> Result<PathBuf> {
        let lock = self.pack_lock(id);
        let _pack = locked(&lock);
        let Some(found) = discovery::find(&self.paths.ecosystem, id) else {
            self.refresh(id);
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
        // Recorded as a deletion: a copy of the record put back later is refused.
        self.signer
            .remove(&path)
            .map_err(Error::io("cannot remove approval record", &path))?;
        {
            let mut inner = self.lock();
            inner.entries.remove(id);
            self.publish(&inner);
        }
        locked(&self.stat_caches).remove(id);
        self.collect_garbage();
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

    /// The detailed status of a pack, re-read from disk and re-checked (cheaply: only
    /// files whose stamp changed are read).
    ///
    /// # Errors
    /// [`Error::PackNotFound`].
    pub fn status(&self, id: &PackId) -> Result<PackStatus> {
        let lock = self.pack_lock(id);
        let _pack = locked(&lock);
        self.refresh(id);
        self.status_of(id)
    }

    /// The approved snapshot of a pack that may be used now. Hashes nothing and takes no
    /// lock: the snapshot is what was approved, and an edit of `ecosystem/` cannot change
    /// it.
    ///
    /// # Errors
    /// [`Error::PackNotFound`] or [`Error::PackNotApproved`].
    pub fn verify_for_use(&self, id: &PackId) -> Result<Arc<PackSnapshot>> {
        let snap = self.snapshot();
        if let Some(s) = snap.approved.get(id)
            && s.dir().is_dir()
        {
            return Ok(s.clone());
        }
        match snap.packs.iter().find(|p| &p.pack_id == id) {
            None => Err(Error::PackNotFound { pack_id: id.clone() }),
            Some(p) => Err(Error::PackNotApproved {
                pack_id: id.clone(),
                state: if p.status == PackState::Approved {
                    // Approved, but its snapshot is gone: fail closed until re-approved.
                    PackState::Error.as_str()
                } else {
                    p.status.as_str()
                },
            }),
        }
    }

    /// Approved packs with their snapshots.
    pub fn approved(&self) -> Vec<Arc<PackSnapshot>> {
        self.snapshot().approved.values().cloned().collect()
    }

    fn status_of(&self, id: &PackId) -> Result<PackStatus> {
        self.status_locked(&self.lock(), id)
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

    /// A decision that could not be made because something of the pack could not be read now
    /// (out of descriptors or memory): audited as a failure of `action`, nothing changed.
    fn transient(&self, id: &PackId, action: &str, what: &str, reason: &str) -> Error {
        let err = Error::Transient {
            what: format!("{what} (pack {id})"),
            reason: reason.to_owned(),
        };
        self.audit_refusal(id, action, &err);
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
            transient: false,
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
