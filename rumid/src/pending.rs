//! The pending-approval export, `user_data/pending/summary.json`.
//!
//! External tools read this one file to see what waits for an operator. It is written
//! atomically at start and whenever approval state of packs or capability handlers changes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::approval::{PackState, Snapshot};
use crate::handlers::Item;

fn empty_counts() -> Value {
    json!({"pending_count": 0, "rejected_count": 0, "blocked_count": 0, "failed_count": 0, "installed_count": 0})
}

/// The packs section of the summary.
pub fn packs_section(snapshot: &Snapshot) -> Value {
    let ids = |state| -> Vec<String> { snapshot.ids_in(state).into_iter().map(|id| id.to_string()).collect() };
    let mut pending = ids(PackState::Pending);
    pending.sort();
    let modified = ids(PackState::Modified);
    let blocked = ids(PackState::Blocked);
    json!({
        "pending_count": pending.len(),
        "pending_ids": pending,
        "modified_count": modified.len(),
        "modified_ids": modified,
        "blocked_count": blocked.len(),
        "blocked_ids": blocked,
    })
}

/// The capability section: candidates per state.
pub fn capability_section(items: &BTreeMap<String, Item>) -> Value {
    let count = |s: &str| items.values().filter(|i| i.review.status == s).count();
    json!({
        "pending_count": count("pending"),
        "rejected_count": count("rejected"),
        "blocked_count": count("blocked"),
        "failed_count": count("failed"),
        "installed_count": count("installed"),
    })
}

/// Keeps the latest sections and rewrites the file when one changes.
pub struct Export {
    path: PathBuf,
    parts: Mutex<(Value, Value, Value)>,
}

impl Export {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            parts: Mutex::new((json!({}), empty_counts(), empty_counts())),
        }
    }

    pub fn set_packs(&self, snapshot: &Snapshot) {
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        parts.0 = packs_section(snapshot);
        self.write(&parts);
    }

    pub fn set_capability(&self, items: &BTreeMap<String, Item>) {
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        parts.1 = capability_section(items);
        self.write(&parts);
    }

    pub fn set_pip(&self, items: &BTreeMap<String, crate::pip::Item>) {
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        let count = |s: &str| items.values().filter(|i| i.review.status == s).count();
        parts.2 = json!({
            "pending_count": count("pending"),
            "rejected_count": count("rejected"),
            "blocked_count": count("blocked"),
            "failed_count": count("failed"),
            "installed_count": count("installed"),
        });
        self.write(&parts);
    }

    fn write(&self, parts: &(Value, Value, Value)) {
        let doc = json!({
            "ts": rumi_common::time::now_rfc3339(),
            "version": "1.0",
            "packs": parts.0,
            "capability": parts.1,
            "pip": parts.2,
        });
        let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
        bytes.push(b'\n');
        if let Err(e) = rumi_common::fs::write_atomic(&self.path, &bytes, 0o640) {
            tracing::error!(path = %self.path.display(), %e, "cannot write pending summary");
        }
    }
}
