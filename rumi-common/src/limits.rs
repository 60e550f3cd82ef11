//! The limits the helpers hold hostile packs to, as configuration: rumid validates them and
//! hands them to the helpers it spawns; a helper run by systemd reads them itself. Each
//! binary parses them from its own `config.rs` through [`HelperLimits::parse`].

use crate::env::{self, Collector};

/// Refusals per second per pack audited in full; the excess is summarised
/// (`security/audit_refusals_suppressed`). Default [`DEFAULT_AUDIT_REFUSALS_PER_SECOND`].
pub const ENV_AUDIT_REFUSALS_PER_SECOND: &str = "RUMI_AUDIT_REFUSALS_PER_SECOND";
/// Ten a second per pack: a pack refused for a real reason leaves a full trail for minutes,
/// and a flood of refusals costs at most a few KiB of audit per second.
pub const DEFAULT_AUDIT_REFUSALS_PER_SECOND: u32 = 10;
/// Bytes one pack may have buffered in a helper's frame readers at once.
pub const ENV_FRAME_BUFFER_PER_PACK_BYTES: &str = "RUMI_FRAME_BUFFER_PER_PACK_BYTES";
/// Two of rumi-capd's largest frames (4 MiB).
pub const DEFAULT_FRAME_BUFFER_PER_PACK_BYTES: usize = 8 * 1024 * 1024;
/// Bytes all packs together may have buffered in one helper's frame readers at once.
pub const ENV_FRAME_BUFFER_TOTAL_BYTES: &str = "RUMI_FRAME_BUFFER_TOTAL_BYTES";
/// Keeps a helper within its RSS budget (tens of MiB) whatever the packs send.
pub const DEFAULT_FRAME_BUFFER_TOTAL_BYTES: usize = 32 * 1024 * 1024;
/// The smallest frame buffer bound: one frame of the largest kind (rumi-capd's 4 MiB) must fit.
pub const MIN_FRAME_BUFFER_BYTES: u64 = 4 * 1024 * 1024;

/// Bytes (keys plus JSON values) all the stores a pack owns may hold together.
pub const ENV_STORE_QUOTA_BYTES: &str = "RUMI_STORE_QUOTA_BYTES";
/// 64 MiB: 64 values of the largest size; a pack needing more is given more by the operator.
pub const DEFAULT_STORE_QUOTA_BYTES: u64 = 64 * 1024 * 1024;
/// Keys all the stores a pack owns may hold together.
pub const ENV_STORE_QUOTA_KEYS: &str = "RUMI_STORE_QUOTA_KEYS";
/// 100,000 keys per pack.
pub const DEFAULT_STORE_QUOTA_KEYS: u64 = 100_000;

/// Connections one pack may hold open on one helper at once, all its sockets together (for
/// rumi-capd a principal counts as its pack). One more is accepted and closed at once.
pub const ENV_CONNECTIONS_PER_PACK: &str = "RUMI_HELPER_CONNECTIONS_PER_PACK";
/// 64: three times the egress helper's 20 requests in flight per pack.
pub const DEFAULT_CONNECTIONS_PER_PACK: usize = 64;
/// Connections all packs together may hold open on one helper at once. A helper lowers it at
/// start so that every connection, with the descriptors its request may open, fits in its
/// open-file limit (`RLIMIT_NOFILE`) next to a reserve for the control channel and its files.
pub const ENV_CONNECTIONS_TOTAL: &str = "RUMI_HELPER_CONNECTIONS_TOTAL";
/// 1024 connections per helper.
pub const DEFAULT_CONNECTIONS_TOTAL: usize = 1024;
/// Seconds a pack connection may make no progress while the helper waits for its request or
/// for it to read the answer; it is closed then (the time the helper itself takes to answer
/// does not count).
pub const ENV_IDLE_TIMEOUT_SECS: &str = "RUMI_HELPER_IDLE_TIMEOUT_SECS";
/// 10 s: a pack's SDK sends its request at once.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 10;

/// The hostile-pack limits of a helper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelperLimits {
    pub audit_refusals_per_second: u32,
    pub frame_buffer_per_pack: usize,
    pub frame_buffer_total: usize,
    /// Per-pack store quota, bytes (rumi-capd).
    pub store_quota_bytes: u64,
    /// Per-pack store quota, keys (rumi-capd).
    pub store_quota_keys: u64,
    /// Connections one pack may hold open on one helper.
    pub connections_per_pack: usize,
    /// Connections all packs may hold open on one helper (before fitting the open-file limit).
    pub connections_total: usize,
    /// How long a pack connection may make no progress.
    pub idle_timeout: std::time::Duration,
}

impl Default for HelperLimits {
    fn default() -> Self {
        Self {
            audit_refusals_per_second: DEFAULT_AUDIT_REFUSALS_PER_SECOND,
            frame_buffer_per_pack: DEFAULT_FRAME_BUFFER_PER_PACK_BYTES,
            frame_buffer_total: DEFAULT_FRAME_BUFFER_TOTAL_BYTES,
            store_quota_bytes: DEFAULT_STORE_QUOTA_BYTES,
            store_quota_keys: DEFAULT_STORE_QUOTA_KEYS,
            connections_per_pack: DEFAULT_CONNECTIONS_PER_PACK,
            connections_total: DEFAULT_CONNECTIONS_TOTAL,
            idle_timeout: std::time::Duration::from_secs(DEFAULT_IDLE_TIMEOUT_SECS),
        }
    }
}

// === impl HelperLimits ===

impl HelperLimits {
    /// Parses the variables (unset: the defaults), recording errors in `c`.
    pub fn parse(c: &mut Collector<'_>) -> Self {
        let d = Self::default();
        let bytes = |s: &str| env::parse_bounded(s, MIN_FRAME_BUFFER_BYTES, 1 << 32).map(|n| n as usize);
        let connections_per_pack = c
            .opt(ENV_CONNECTIONS_PER_PACK, |s| {
                env::parse_bounded(s, 1, 100_000).map(|n| n as usize)
            })
            .unwrap_or(d.connections_per_pack);
        let connections_total = c
            .opt(ENV_CONNECTIONS_TOTAL, |s| {
                env::parse_bounded(s, 2, 1_000_000).map(|n| n as usize)
            })
            .unwrap_or(d.connections_total);
        // A pack's share never reaches half of the helper: the others keep the rest.
        if connections_per_pack > connections_total / 2 {
            c.error(
                ENV_CONNECTIONS_PER_PACK,
                &connections_per_pack.to_string(),
                format!("at most half of {ENV_CONNECTIONS_TOTAL} ({connections_total})"),
            );
        }
        Self {
            connections_per_pack,
            connections_total,
            idle_timeout: std::time::Duration::from_secs(
                c.opt(ENV_IDLE_TIMEOUT_SECS, |s| env::parse_bounded(s, 1, 3600))
                    .unwrap_or(DEFAULT_IDLE_TIMEOUT_SECS),
            ),
            audit_refusals_per_second: c
                .opt(ENV_AUDIT_REFUSALS_PER_SECOND, |s| {
                    env::parse_bounded(s, 1, 10_000).map(|n| n as u32)
                })
                .unwrap_or(d.audit_refusals_per_second),
            frame_buffer_per_pack: c
                .opt(ENV_FRAME_BUFFER_PER_PACK_BYTES, bytes)
                .unwrap_or(d.frame_buffer_per_pack),
            frame_buffer_total: c
                .opt(ENV_FRAME_BUFFER_TOTAL_BYTES, bytes)
                .unwrap_or(d.frame_buffer_total),
            store_quota_bytes: c
                .opt(ENV_STORE_QUOTA_BYTES, |s| env::parse_bounded(s, 1024 * 1024, 1 << 40))
                .unwrap_or(d.store_quota_bytes),
            store_quota_keys: c
                .opt(ENV_STORE_QUOTA_KEYS, |s| env::parse_bounded(s, 1, 100_000_000))
                .unwrap_or(d.store_quota_keys),
        }
    }

    /// The variables that give a spawned helper these limits.
    pub fn to_env(&self) -> Vec<(String, String)> {
        vec![
            (
                ENV_AUDIT_REFUSALS_PER_SECOND.into(),
                self.audit_refusals_per_second.to_string(),
            ),
            (
                ENV_FRAME_BUFFER_PER_PACK_BYTES.into(),
                self.frame_buffer_per_pack.to_string(),
            ),
            (ENV_FRAME_BUFFER_TOTAL_BYTES.into(), self.frame_buffer_total.to_string()),
            (ENV_STORE_QUOTA_BYTES.into(), self.store_quota_bytes.to_string()),
            (ENV_STORE_QUOTA_KEYS.into(), self.store_quota_keys.to_string()),
            (ENV_CONNECTIONS_PER_PACK.into(), self.connections_per_pack.to_string()),
            (ENV_CONNECTIONS_TOTAL.into(), self.connections_total.to_string()),
            (ENV_IDLE_TIMEOUT_SECS.into(), self.idle_timeout.as_secs().to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MapEnv;

    #[test]
    fn limits_parse_with_defaults_bounds_and_a_round_trip() {
        let empty = MapEnv::from_pairs([]);
        let mut c = Collector::new(&empty);
        assert_eq!(HelperLimits::parse(&mut c), HelperLimits::default());
        assert!(c.finish().is_ok());

        let bad = MapEnv::from_pairs([
            (ENV_AUDIT_REFUSALS_PER_SECOND, "0"),
            (ENV_FRAME_BUFFER_PER_PACK_BYTES, "1024"),
            (ENV_FRAME_BUFFER_TOTAL_BYTES, "lots"),
            (ENV_STORE_QUOTA_BYTES, "10"),
            (ENV_STORE_QUOTA_KEYS, "0"),
            (ENV_CONNECTIONS_TOTAL, "1"),
            (ENV_IDLE_TIMEOUT_SECS, "0"),
        ]);
        let mut c = Collector::new(&bad);
        let _ = HelperLimits::parse(&mut c);
        assert_eq!(c.finish().unwrap_err().len(), 7);

        // One pack's share is at most half of the helper's connections.
        let greedy = MapEnv::from_pairs([(ENV_CONNECTIONS_PER_PACK, "600"), (ENV_CONNECTIONS_TOTAL, "1000")]);
        let mut c = Collector::new(&greedy);
        let _ = HelperLimits::parse(&mut c);
        let errs = c.finish().unwrap_err();
        assert_eq!(errs[0].var, ENV_CONNECTIONS_PER_PACK);
        assert!(errs[0].reason.contains("at most half"), "{}", errs[0].reason);

        let set = HelperLimits {
            audit_refusals_per_second: 3,
            frame_buffer_per_pack: 5 << 20,
            frame_buffer_total: 9 << 20,
            store_quota_bytes: 2 << 20,
            store_quota_keys: 7,
            connections_per_pack: 5,
            connections_total: 11,
            idle_timeout: std::time::Duration::from_secs(3),
        };
        let env = set.to_env();
        let src = MapEnv::from_pairs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let mut c = Collector::new(&src);
        assert_eq!(HelperLimits::parse(&mut c), set);
    }
}
