//! What the two review queues (capability handler candidates and pip candidates) share: the
//! review state of a candidate with its rejection rule (cooldown, blocked at the third) and the
//! end of a cooldown, and the append-only journal of decisions.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Cooldown after a rejection.
pub const COOLDOWN_SECS: i64 = 3600;
/// Rejections that block a candidate.
pub const REJECT_THRESHOLD: u32 = 3;

/// The review state every candidate of both queues carries (flattened into each queue's item,
/// so the stored and served JSON keeps these fields at the top level).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Review {
    pub candidate_key: String,
    pub status: String,
    pub reject_count: u32,
    pub cooldown_until: Option<String>,
    pub last_event_ts: String,
}

impl Review {
    /// A candidate seen for the first time: `pending`.
    pub fn pending(candidate_key: String, now: DateTime<Utc>) -> Self {
        Self {
            candidate_key,
            status: "pending".into(),
            reject_count: 0,
            cooldown_until: None,
            last_event_ts: rumi_common::time::rfc3339(now),
        }
    }

    /// A scan found this candidate again: a `rejected` one whose cooldown is over (no or an
    /// unreadable deadline counts as over) is `pending` again. Returns whether it was reopened.
    pub fn reopen_if_cooled_down(&mut self, now: DateTime<Utc>) -> bool {
        let over = self
            .cooldown_until
            .as_deref()
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .is_none_or(|c| c < now);
        if self.status != "rejected" || !over {
            return false;
        }
        self.status = "pending".into();
        self.last_event_ts = rumi_common::time::rfc3339(now);
        true
    }

    /// Counts one more rejection: `blocked` at [`REJECT_THRESHOLD`] (no cooldown), otherwise
    /// `rejected` with a fresh cooldown. Returns whether the candidate is now blocked.
    pub fn reject(&mut self) -> bool {
        self.reject_count += 1;
        let blocked = self.reject_count >= REJECT_THRESHOLD;
        if blocked {
            self.status = "blocked".into();
            self.cooldown_until = None;
        } else {
            self.status = "rejected".into();
            self.cooldown_until = Some(rumi_common::time::rfc3339(
                Utc::now() + chrono::Duration::seconds(COOLDOWN_SECS),
            ));
        }
        blocked
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_cool_down_then_block_at_the_third_and_only_cooled_rejections_reopen() {
        let t0 = Utc::now();
        let mut r = Review::pending("p:x:1".into(), t0);
        assert!(!r.reopen_if_cooled_down(t0), "a pending candidate is not reopened");
        assert!(!r.reject());
        assert_eq!((r.status.as_str(), r.reject_count), ("rejected", 1));
        assert!(!r.reopen_if_cooled_down(t0), "still cooling down");
        let later = t0 + chrono::Duration::seconds(COOLDOWN_SECS + 1);
        assert!(r.reopen_if_cooled_down(later));
        assert_eq!(r.status, "pending");
        assert_eq!(r.last_event_ts, rumi_common::time::rfc3339(later));
        assert!(!r.reject());
        assert!(r.reject(), "the third rejection blocks");
        assert_eq!((r.status.as_str(), r.cooldown_until.as_deref()), ("blocked", None));
        assert!(
            !r.reopen_if_cooled_down(later + chrono::Duration::days(1)),
            "a blocked one stays blocked"
        );
    }

    #[test]
    fn the_review_fields_stay_at_the_top_level_of_an_item() {
        #[derive(Serialize, Deserialize)]
        struct Item {
            #[serde(flatten)]
            review: Review,
            other: u8,
        }
        let v = serde_json::to_value(Item {
            review: Review::pending("k".into(), Utc::now()),
            other: 1,
        })
        .unwrap();
        assert_eq!(v["candidate_key"], "k");
        assert_eq!(v["reject_count"], 0);
        let back: Item = serde_json::from_value(v).unwrap();
        assert_eq!(back.review.status, "pending");
    }
}
