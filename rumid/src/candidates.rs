//! What the two review queues (capability handler candidates and pip candidates) share: the
//! rejection rule (cooldown, blocked at the third), the end of a cooldown, and the append-only
//! journal of decisions.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Cooldown after a rejection.
pub const COOLDOWN_SECS: i64 = 3600;
/// Rejections that block a candidate.
pub const REJECT_THRESHOLD: u32 = 3;

/// Whether a rejected candidate's cooldown is over at `now` (no or an unreadable deadline
/// counts as over).
pub fn cooled_down(cooldown_until: Option<&str>, now: DateTime<Utc>) -> bool {
    cooldown_until
        .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
        .is_none_or(|c| c < now)
}

/// Counts one more rejection: `blocked` at [`REJECT_THRESHOLD`] (no cooldown), otherwise
/// `rejected` with a fresh cooldown. Returns whether the candidate is now blocked.
pub fn reject(status: &mut String, reject_count: &mut u32, cooldown_until: &mut Option<String>) -> bool {
    *reject_count += 1;
    let blocked = *reject_count >= REJECT_THRESHOLD;
    if blocked {
        *status = "blocked".into();
        *cooldown_until = None;
    } else {
        *status = "rejected".into();
        *cooldown_until = Some(rumi_common::time::rfc3339(
            Utc::now() + chrono::Duration::seconds(COOLDOWN_SECS),
        ));
    }
    blocked
}

/// Appends one line to a queue's `requests.jsonl` (mode 0600, synced); a failure is logged.
pub fn append_journal(path: &Path, line: &Value) {
    let res = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| {
            f.write_all(format!("{line}\n").as_bytes())?;
            f.sync_data()
        });
    if let Err(e) = res {
        tracing::error!(path = %path.display(), %e, "cannot append to the requests journal");
    }
}
