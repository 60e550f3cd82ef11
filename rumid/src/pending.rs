//! The pending-approval export, `user_data/pending/summary.json`.
//!
//! External tools read this one file to see what waits for an operator. It is written
//! atomically at start and whenever approval state changes. Capability and pip candidates
//! do not exist yet in this version; their sections report zero counts.

use std::path::Path;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::approval::{PackState, Snapshot};

/// Builds the summary document.
pub fn summary(snapshot: &Snapshot) -> Value {
    let ids = |state| -> Vec<String> { snapshot.ids_in(state).into_iter().map(|id| id.to_string()).collect() };
    let mut pending = ids(PackState::Installed);
    pending.extend(ids(PackState::Pending));
    pending.sort();
    let modified = ids(PackState::Modified);
    let blocked = ids(PackState::Blocked);
    let empty =
        json!({"pending_count": 0, "rejected_count": 0, "blocked_count": 0, "failed_count": 0, "installed_count": 0});
    json!({
        "ts": Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
        "version": "1.0",
        "packs": {
            "pending_count": pending.len(),
            "pending_ids": pending,
            "modified_count": modified.len(),
            "modified_ids": modified,
            "blocked_count": blocked.len(),
            "blocked_ids": blocked,
        },
        "capability": empty.clone(),
        "pip": empty,
    })
}

/// Writes the summary atomically to `path`.
pub fn write(path: &Path, snapshot: &Snapshot) {
    let mut bytes = serde_json::to_vec_pretty(&summary(snapshot)).unwrap_or_default();
    bytes.push(b'\n');
    if let Err(e) = rumi_common::fs::write_atomic(path, &bytes, 0o640) {
        tracing::error!(path = %path.display(), %e, "cannot write pending summary");
    }
}
