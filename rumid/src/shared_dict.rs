//! The shared dictionary: per-namespace token → value mappings that flows and modifiers use
//! to refer to things indirectly (for example a modifier targeting "the chat flow" whatever
//! its id is today).
//!
//! State lives in `user_data/settings/shared_dict/snapshot.json` (signed, written atomically);
//! every operation, accepted or not, is a line of `journal.jsonl` with its `result`
//! (`added`, `unchanged`, `conflict`, `cycle_detected`, `removed`, `not_found`, `invalid`).
//! Resolution follows value → token chains for at most [`MAX_HOPS`] hops; a proposal that
//! would close a cycle or overwrite a different value is refused.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::signed;

/// Longest resolution chain.
pub const MAX_HOPS: usize = 10;
/// Longest namespace, token or value.
const MAX_LEN: usize = 256;

type Entries = BTreeMap<String, BTreeMap<String, String>>;

pub struct SharedDict {
    dir: PathBuf,
    signer: signed::Signer,
    entries: Mutex<Entries>,
}

fn valid(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_LEN && !s.chars().any(char::is_control)
}

impl SharedDict {
    /// Loads the snapshot (a tampered one starts empty and is audited). Blocking.
    pub fn load(home: &std::path::Path, signer: signed::Signer, audit: &crate::audit::Audit) -> Self {
        let dir = home.join("user_data/settings/shared_dict");
        let _ = rumi_common::fs::ensure_dir(&dir, 0o700);
        let entries: Entries = signer.load_field(&dir.join("snapshot.json"), "entries", audit, "shared_dict_tampered");
        Self {
            dir,
            signer,
            entries: Mutex::new(entries),
        }
    }

    fn journal(&self, op: &str, ns: &str, token: &str, value: Option<&str>, result: &str) {
        let line = json!({"ts": rumi_common::time::now_rfc3339(), "op": op, "namespace": ns, "token": token, "value": value, "result": result});
        let res = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(self.dir.join("journal.jsonl"))
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()).and_then(|()| f.sync_data()));
        if let Err(e) = res {
            tracing::error!(%e, "cannot append to the shared dictionary journal");
        }
    }

    fn save(&self, entries: &Entries) {
        if let Err(e) = self
            .signer
            .store_field(&self.dir.join("snapshot.json"), "entries", json!(entries), 0o600)
        {
            tracing::error!(%e, "cannot write the shared dictionary");
        }
    }

    fn chain(entries: &Entries, ns: &str, token: &str) -> Result<Vec<String>, &'static str> {
        let mut chain = vec![token.to_owned()];
        let mut cur = token.to_owned();
        while let Some(next) = entries.get(ns).and_then(|m| m.get(&cur)) {
            if chain.contains(next) {
                return Err("cycle_detected");
            }
            chain.push(next.clone());
            if chain.len() > MAX_HOPS + 1 {
                return Err("hop_limit");
            }
            cur = next.clone();
        }
        Ok(chain)
    }

    /// Follows `token` to its final value (itself when unmapped).
    pub fn resolve(&self, ns: &str, token: &str) -> Result<String, &'static str> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        Self::chain(&entries, ns, token).map(|c| c.last().cloned().unwrap_or_default())
    }

    /// The resolution chain of `token`.
    pub fn explain(&self, ns: &str, token: &str) -> Value {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match Self::chain(&entries, ns, token) {
            Ok(c) => json!({"chain": c, "resolved": c.last()}),
            Err(e) => json!({"error": e}),
        }
    }

    /// Proposes `token → value`; returns the journalled result.
    pub fn propose(&self, ns: &str, token: &str, value: &str) -> &'static str {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let result = if !valid(ns) || !valid(token) || !valid(value) || token == value {
            "invalid"
        } else {
            match entries.get(ns).and_then(|m| m.get(token)) {
                Some(v) if v == value => "unchanged",
                Some(_) => "conflict",
                None => {
                    let mut trial = entries.clone();
                    trial
                        .entry(ns.to_owned())
                        .or_default()
                        .insert(token.to_owned(), value.to_owned());
                    match Self::chain(&trial, ns, token) {
                        Err(e) => e,
                        Ok(_) => {
                            *entries = trial;
                            self.save(&entries);
                            "added"
                        }
                    }
                }
            }
        };
        self.journal("propose", ns, token, Some(value), result);
        result
    }

    /// Removes a mapping.
    pub fn remove(&self, ns: &str, token: &str) -> &'static str {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let removed = entries.get_mut(ns).and_then(|m| m.remove(token)).is_some();
        if removed {
            self.save(&entries);
        }
        let result = if removed { "removed" } else { "not_found" };
        self.journal("remove", ns, token, None, result);
        result
    }

    /// Every mapping of a namespace (or all).
    pub fn list(&self, ns: Option<&str>) -> Value {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match ns {
            Some(n) => json!(entries.get(n).cloned().unwrap_or_default()),
            None => json!(*entries),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_resolve_and_cycles_and_conflicts_are_refused() {
        let home = tempfile::tempdir().unwrap();
        let audit = crate::audit::Audit::spawn(&home.path().join("audit"), None).unwrap();
        let signer = signed::Signer::open(home.path(), [1; 32], &audit).unwrap();
        let d = SharedDict::load(home.path(), signer.clone(), &audit);
        assert_eq!(d.propose("flow_id", "chat", "chat.v2"), "added");
        assert_eq!(d.propose("flow_id", "chat.v2", "chat.v3"), "added");
        assert_eq!(d.resolve("flow_id", "chat"), Ok("chat.v3".into()));
        assert_eq!(d.propose("flow_id", "chat.v3", "chat"), "cycle_detected");
        assert_eq!(d.propose("flow_id", "chat", "other"), "conflict");
        assert_eq!(d.propose("flow_id", "chat", "chat.v2"), "unchanged");
        for i in 0..12 {
            d.propose("deep", &format!("t{i}"), &format!("t{}", i + 1));
        }
        assert_eq!(d.resolve("deep", "t0"), Err("hop_limit"));
        assert_eq!(d.remove("flow_id", "chat"), "removed");
        assert_eq!(d.resolve("flow_id", "chat"), Ok("chat".into()));
        let journal =
            std::fs::read_to_string(home.path().join("user_data/settings/shared_dict/journal.jsonl")).unwrap();
        assert!(journal.lines().any(|l| l.contains("\"result\":\"cycle_detected\"")));
        // Reloads from the signed snapshot.
        let again = SharedDict::load(home.path(), signer, &audit);
        assert_eq!(again.resolve("flow_id", "chat.v2"), Ok("chat.v3".into()));
    }
}
