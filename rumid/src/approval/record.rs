//! The persisted approval record of one pack: `user_data/settings/approvals/<pack_id>.json`,
//! HMAC-signed (see `crate::signed`), written atomically.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::hashing::{Diff, FileHashes};
use crate::signed::{Refused, Signer};

/// Most history entries kept per pack.
const MAX_HISTORY: usize = 100;

/// The decision recorded for a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approved,
    Pending,
    Modified,
    Blocked,
}

/// One step in a pack's approval history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub version: u32,
    pub timestamp: String,
    pub action: String,
    pub files: usize,
    pub digest: String,
}

/// The record of one pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    pub pack_id: String,
    pub status: Decision,
    pub created_at: String,
    pub updated_at: String,
    pub approved_at: Option<String>,
    pub pack_identity: Option<String>,
    /// The hashes approved last (kept while modified or blocked, to show the diff).
    pub file_hashes: FileHashes,
    pub rejection_reason: Option<String>,
    pub modified_changes: Option<Diff>,
    pub version_history: Vec<HistoryEntry>,
}

impl ApprovalRecord {
    /// Appends a history entry, keeping the newest [`MAX_HISTORY`].
    pub fn push_history(&mut self, timestamp: &str, action: &str, files: usize, digest: String) {
        let version = self.version_history.last().map_or(1, |h| h.version + 1);
        self.version_history.push(HistoryEntry {
            version,
            timestamp: timestamp.to_owned(),
            action: action.to_owned(),
            files,
            digest,
        });
        if self.version_history.len() > MAX_HISTORY {
            let excess = self.version_history.len() - MAX_HISTORY;
            self.version_history.drain(..excess);
        }
    }
}

/// What was found on disk for a pack.
#[derive(Debug)]
pub enum Loaded {
    Absent,
    Valid(Box<ApprovalRecord>),
    /// Present but unsigned, mis-signed, an old copy put back, unparsable or for another
    /// pack: never trusted.
    Tampered(Refused),
    /// Could not be read for a reason that says nothing about it (out of descriptors or
    /// memory, an I/O error): neither absent nor tampered; nothing may be decided from it.
    Unavailable(String),
}

/// Reads and verifies a record (its signature and its generation).
pub fn load(path: &Path, signer: &Signer, pack_id: &str) -> Loaded {
    match std::fs::symlink_metadata(path) {
        Ok(_) => {}
        Err(e) if crate::error::is_transient_io(&e) => return Loaded::Unavailable(e.to_string()),
        Err(_) => return Loaded::Absent,
    }
    let object = match signer.read(path) {
        Ok(o) => o,
        Err(refused) if refused.unavailable => return Loaded::Unavailable(refused.reason),
        Err(refused) => return Loaded::Tampered(refused),
    };
    match serde_json::from_value::<ApprovalRecord>(Value::Object(object)) {
        Ok(r) if r.pack_id == pack_id => Loaded::Valid(Box::new(r)),
        Ok(r) => Loaded::Tampered(signer.refused(path, format!("record names pack {:?}", r.pack_id))),
        Err(e) => Loaded::Tampered(signer.refused(path, format!("signed but malformed: {e}"))),
    }
}

/// Signs and atomically writes a record.
///
/// # Errors
/// I/O errors; the previous record is then untouched.
pub fn save(path: &Path, signer: &Signer, record: &ApprovalRecord) -> std::io::Result<()> {
    signer.store(path, record)
}
