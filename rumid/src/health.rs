//! Health probes and their aggregation.
//!
//! Aggregation (DECISIONS.md #8): every probe UP → UP; every probe DOWN → DOWN; anything
//! else (some DOWN, or any DEGRADED) → DEGRADED. `rumid --health` exits 0 only on UP.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value, json};

/// Status of one probe or of the whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Up,
    Degraded,
    Down,
}

/// The result of one probe.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub status: Status,
    pub message: String,
    pub duration_ms: f64,
}

/// Combines probe statuses.
pub fn aggregate<'a>(statuses: impl IntoIterator<Item = &'a Status>) -> Status {
    let (mut up, mut down, mut total) = (0, 0, 0);
    for s in statuses {
        total += 1;
        match s {
            Status::Up => up += 1,
            Status::Down => down += 1,
            Status::Degraded => {}
        }
    }
    if up == total {
        Status::Up
    } else if down == total {
        Status::Down
    } else {
        Status::Degraded
    }
}

fn timed(f: impl FnOnce() -> (Status, String)) -> Probe {
    let start = Instant::now();
    let (status, message) = f();
    Probe {
        status,
        message,
        duration_ms: (start.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
    }
}

/// Free space of the file system holding `path`: DEGRADED at `degraded_percent` used or more.
///
/// "Used" is what `df` shows as `Use%`: blocks in use over blocks in use plus blocks available
/// to unprivileged users, rounded up. (Blocks reserved for root count as neither; counting
/// them as used made a 68 % full disk look 89 % full.)
pub fn probe_disk(path: &Path, degraded_percent: u64) -> Probe {
    timed(|| match nix::sys::statvfs::statvfs(path) {
        Ok(st) => {
            let used = u128::from(st.blocks().saturating_sub(st.blocks_free()));
            let avail = u128::from(st.blocks_available());
            let Some(pct) = used_percent(used, avail) else {
                return (Status::Up, "no block accounting".into());
            };
            let status = if pct >= degraded_percent {
                Status::Degraded
            } else {
                Status::Up
            };
            (status, format!("{pct}% used (DEGRADED at {degraded_percent}%)"))
        }
        Err(e) => (Status::Down, format!("statvfs failed: {e}")),
    })
}

/// `df`'s `Use%`: `used / (used + avail)`, rounded up; `None` without block accounting.
fn used_percent(used: u128, avail: u128) -> Option<u64> {
    let total = used + avail;
    (total > 0).then(|| u64::try_from((used * 100).div_ceil(total)).unwrap_or(100))
}

/// Free space below which the `audit` probe is `DEGRADED`: about a thousand operator actions'
/// lines, so the operator hears of it before actions are refused.
pub const AUDIT_LOW_SPACE: u64 = 1024 * 1024;

/// Free space for audit lines on the file system of `dir` (the audit directory): `DEGRADED`
/// under [`AUDIT_LOW_SPACE`], `DOWN` if it cannot be queried. [`with_audit_status`] adds the
/// writer's own state.
pub fn probe_audit_space(dir: &Path) -> Probe {
    timed(|| match crate::audit::free_bytes(dir) {
        Some(free) => {
            if free < AUDIT_LOW_SPACE {
                (
                    Status::Degraded,
                    format!("only {} KiB free for audit lines", free / 1024),
                )
            } else {
                (Status::Up, format!("{} MiB free", free / (1024 * 1024)))
            }
        }
        None => (Status::Down, "statvfs failed".into()),
    })
}

/// The `audit` probe: the free-space probe, `DOWN` while the writer cannot write every line
/// (operator actions are then refused with `RUMI-SYS-008`).
pub fn with_audit_status(mut probe: Probe, s: &crate::audit::AuditStatus) -> Probe {
    if !s.writable {
        probe.status = Status::Down;
        probe.message = format!(
            "audit lines cannot be written since {}: {}; operator actions are refused (RUMI-SYS-008); {} events lost since start",
            s.since.as_deref().unwrap_or("start"),
            s.reason.as_deref().unwrap_or("the reserve is not held"),
            s.lost
        );
    } else if s.lost > 0 {
        probe.message = format!("{}; {} events lost since start", probe.message, s.lost);
    }
    probe
}

/// Whether a file can be created and written in `dir`.
pub fn probe_writable(dir: &Path) -> Probe {
    timed(|| match tempfile::NamedTempFile::new_in(dir) {
        Ok(mut f) => match std::io::Write::write_all(&mut f, b"ok") {
            Ok(()) => (Status::Up, "writable".into()),
            Err(e) => (Status::Down, format!("write failed: {e}")),
        },
        Err(e) => (Status::Down, format!("cannot create a file: {e}")),
    })
}

/// A health report: `{status, timestamp, probes{name:{status,message,duration_ms}}}`.
pub fn report(probes: Vec<(&str, Probe)>, verbose: bool) -> Value {
    let status = aggregate(probes.iter().map(|(_, p)| &p.status));
    let mut map = Map::new();
    for (name, p) in probes {
        let mut v = json!({"status": p.status, "duration_ms": p.duration_ms});
        if verbose || p.status != Status::Up {
            v["message"] = Value::String(p.message);
        }
        map.insert(name.to_owned(), v);
    }
    json!({
        "status": status,
        "timestamp": rumi_common::time::now_rfc3339(),
        "probes": map,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    #[test]
    fn aggregation_follows_decision_8() {
        assert_eq!(aggregate(&[Up, Up]), Up);
        assert_eq!(aggregate(&[Up, Down]), Degraded);
        assert_eq!(aggregate(&[Up, Degraded]), Degraded);
        assert_eq!(aggregate(&[Down, Down]), Down);
        assert_eq!(aggregate(&[Down, Degraded]), Degraded);
        assert_eq!(aggregate(&[]), Up);
    }

    #[test]
    fn disk_usage_is_counted_like_df() {
        // The figures of a real file system whose root reserve is large: df says 68 %.
        let (blocks, free, avail) = (66_053_021u128, 49_999_685u128, 7_768_136u128);
        assert_eq!(used_percent(blocks - free, avail), Some(68));
        assert_eq!(used_percent(0, 10), Some(0));
        assert_eq!(used_percent(1, 1000), Some(1), "rounded up, as df does");
        assert_eq!(used_percent(10, 0), Some(100));
        assert_eq!(used_percent(0, 0), None);
    }

    #[test]
    fn probes_report_unwritable_directories() {
        assert_eq!(probe_writable(Path::new("/nonexistent/dir")).status, Down);
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(probe_writable(tmp.path()).status, Up);
        assert_ne!(probe_disk(tmp.path(), 100).status, Down);
        // Any file system in use is at least 1 % used… unless it has no block accounting.
        let low = probe_disk(tmp.path(), 1);
        assert!(
            low.status == Degraded || low.message == "no block accounting",
            "{low:?}"
        );
    }
}
