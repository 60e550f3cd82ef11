//! One uid per pack (defence in depth): each pack's containers run as a uid of its own,
//! allocated from `RUMI_PACK_UID_RANGE` when the pack is first approved and recorded in the
//! signed `user_data/settings/pack_uids.json`. A uid is never given to another pack, even
//! after an uninstall. The helpers receive the table with the policy and serve a pack's
//! socket only to that uid (or rumid's).
//!
//! With `RUMI_PACK_UID_RANGE=shared` every pack runs as 65534 and nothing is checked, as in
//! the original.
//!
//! # Security
//! A table that fails verification is not used: rumid keeps it aside untouched, audits a
//! critical `hmac_verification_failed` and allocates afresh above every uid it held (so no
//! uid is ever handed out twice).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;

use serde_json::json;

use crate::audit::{Audit, AuditEvent, Category};
use crate::config::PackUids as Mode;
use crate::signed;

/// The shared uid (and gid) of the original design.
pub const SHARED_UID: u32 = 65534;

pub struct PackUids {
    path: PathBuf,
    signer: signed::Signer,
    mode: Mode,
    audit: Audit,
    table: Mutex<BTreeMap<String, u32>>,
    /// Lowest uid not yet handed out.
    next: Mutex<u32>,
}

impl PackUids {
    /// Loads the table.
    pub fn load(path: PathBuf, signer: signed::Signer, mode: Mode, audit: Audit) -> Self {
        let first = match mode {
            Mode::Range(a, _) => a,
            Mode::Shared => SHARED_UID,
        };
        let mut floor = first;
        let table: BTreeMap<String, u32> = if path.exists() {
            match signer.read(&path).and_then(|o| {
                serde_json::from_value(o.get("uids").cloned().unwrap_or_else(|| json!({})))
                    .map_err(|e| signer.refused(&path, format!("signed but malformed: {e}")))
            }) {
                Ok(t) => t,
                Err(why) => {
                    // Never reuse a uid the tampered table may have held.
                    if let Ok(bytes) = std::fs::read(&path)
                        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
                        && let Some(m) = v.get("uids").and_then(|u| u.as_object())
                    {
                        floor = m
                            .values()
                            .filter_map(serde_json::Value::as_u64)
                            .map(|u| u as u32 + 1)
                            .fold(floor, u32::max);
                    }
                    audit.record_blocking(why.event("pack_uids_tampered"));
                    BTreeMap::new()
                }
            }
        } else {
            BTreeMap::new()
        };
        let next = table.values().map(|u| u + 1).fold(floor, u32::max);
        Self {
            path,
            signer,
            mode,
            audit,
            table: Mutex::new(table),
            next: Mutex::new(next),
        }
    }

    /// Whether packs have uids of their own.
    pub fn per_pack(&self) -> bool {
        matches!(self.mode, Mode::Range(..))
    }

    /// The uid `pack`'s containers run as (allocated on first use). `None` when the range is
    /// exhausted or the table cannot be written: the caller refuses to run the pack.
    pub fn uid(&self, pack: &str) -> Option<u32> {
        let Mode::Range(_, last) = self.mode else {
            return Some(SHARED_UID);
        };
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(u) = table.get(pack) {
            return Some(*u);
        }
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        if *next > last {
            tracing::error!(pack, "RUMI_PACK_UID_RANGE is exhausted; widen it");
            return None;
        }
        let uid = *next;
        let mut updated = table.clone();
        updated.insert(pack.to_owned(), uid);
        if let Err(e) = self.signer.store_field(&self.path, "uids", json!(updated), 0o600) {
            tracing::error!(path = %self.path.display(), %e, "cannot record a pack uid");
            return None;
        }
        *table = updated;
        *next = uid + 1;
        drop(next);
        drop(table);
        self.audit.record_blocking(
            AuditEvent::new(Category::System, "pack_uid_allocated")
                .owner_pack(pack)
                .detail("uid", uid),
        );
        Some(uid)
    }

    /// The uid `pack`'s runs use, if it has one already (never allocates).
    pub fn get(&self, pack: &str) -> Option<u32> {
        match self.mode {
            Mode::Shared => Some(SHARED_UID),
            Mode::Range(..) => self.table.lock().unwrap_or_else(|p| p.into_inner()).get(pack).copied(),
        }
    }

    /// The uids of `packs` (allocated as needed), for the policy; empty in shared mode.
    pub fn for_packs(&self, packs: &[String]) -> HashMap<String, u32> {
        if !self.per_pack() {
            return HashMap::new();
        }
        packs
            .iter()
            .filter_map(|p| self.uid(p).map(|u| (p.clone(), u)))
            .collect()
    }
}
