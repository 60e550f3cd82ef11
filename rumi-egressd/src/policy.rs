//! The policy rumi-egressd enforces: the last snapshot pushed by rumid, swapped whole.

use std::collections::{HashMap, HashSet};

use rumi_common::domain;
use rumi_proto::control::{NetworkGrant, PolicySnapshot};

/// Default per-pack rate when a snapshot carries none.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 60;
/// Default response limit when a snapshot carries none: 4 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;

/// An immutable policy.
#[derive(Debug, Default)]
pub struct Policy {
    pub version: u64,
    pub approved: HashSet<String>,
    pub grants: HashMap<String, NetworkGrant>,
    pub rate_per_minute: u32,
    pub max_response_bytes: u64,
}

/// Why a grant check failed (shown to the pack as "Network access denied: <reason>").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    NotApproved,
    NoGrant,
    Disabled,
    Domain,
    Port,
}

impl Denial {
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotApproved => "pack is not approved",
            Self::NoGrant => "no network grant for this pack",
            Self::Disabled => "network grant is disabled",
            Self::Domain => "domain not granted",
            Self::Port => "port not granted",
        }
    }
}

impl Policy {
    pub fn from_snapshot(s: PolicySnapshot) -> Self {
        let limits = s.egress.unwrap_or_default();
        Self {
            version: s.version,
            approved: s.approved_packs.into_iter().collect(),
            grants: s.network_grants.into_iter().map(|g| (g.pack_id.clone(), g)).collect(),
            rate_per_minute: if limits.rate_limit_per_minute == 0 {
                DEFAULT_RATE_PER_MINUTE
            } else {
                limits.rate_limit_per_minute
            },
            max_response_bytes: if limits.max_response_bytes == 0 {
                DEFAULT_MAX_RESPONSE_BYTES
            } else {
                limits.max_response_bytes
            },
        }
    }

    /// Whether `pack` may reach `host:port`. Empty domain or port lists deny everything
    /// (fail closed); `*` is any domain and `0` any port.
    pub fn check(&self, pack: &str, host: &str, port: u16) -> Result<(), Denial> {
        if !self.approved.contains(pack) {
            return Err(Denial::NotApproved);
        }
        let grant = self.grants.get(pack).ok_or(Denial::NoGrant)?;
        if !grant.enabled {
            return Err(Denial::Disabled);
        }
        domain::grant_covers(&grant.allowed_domains, &grant.allowed_ports, host, port).map_err(|m| match m {
            domain::GrantMiss::Domain => Denial::Domain,
            domain::GrantMiss::Port => Denial::Port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(domains: &[&str], ports: &[u32], enabled: bool) -> Policy {
        Policy::from_snapshot(PolicySnapshot {
            version: 1,
            approved_packs: vec!["p".into()],
            network_grants: vec![NetworkGrant {
                pack_id: "p".into(),
                enabled,
                allowed_domains: domains.iter().map(|s| (*s).to_owned()).collect(),
                allowed_ports: ports.to_vec(),
            }],
            egress: None,
            ..Default::default()
        })
    }

    #[test]
    fn grants_fail_closed() {
        let p = policy(&["api.example.com", "*.cdn.net"], &[443], true);
        assert_eq!(p.check("p", "api.example.com", 443), Ok(()));
        assert_eq!(p.check("p", "x.cdn.net", 443), Ok(()));
        assert_eq!(p.check("p", "api.example.com", 80), Err(Denial::Port));
        assert_eq!(p.check("p", "evil.com", 443), Err(Denial::Domain));
        assert_eq!(p.check("q", "api.example.com", 443), Err(Denial::NotApproved));
        assert_eq!(policy(&[], &[443], true).check("p", "a.com", 443), Err(Denial::Domain));
        assert_eq!(policy(&["*"], &[], true).check("p", "a.com", 443), Err(Denial::Port));
        assert_eq!(policy(&["*"], &[0], true).check("p", "a.com", 8443), Ok(()));
        assert_eq!(
            policy(&["*"], &[0], false).check("p", "a.com", 1),
            Err(Denial::Disabled)
        );
    }
}
