//! The policy snapshot pushed to the helpers.
//!
//! rumid is the single source of truth. Every change of approvals or grants rebuilds the
//! snapshot with a new, strictly increasing version and publishes it on a watch channel;
//! each helper's supervisor pushes the latest snapshot after every change and every
//! reconnect. Helpers replace their policy whole.
//!
//! # Versions
//! A version is `(epoch << 32) + sequence`. The epoch is a counter of rumid starts, kept in
//! `user_data/settings/policy_epoch.json` and raised (written atomically, fsynced) before the
//! first snapshot of a run; the sequence counts the snapshots of the run from 1. So a
//! restarted rumid always outranks the previous one, whatever the clock says: versions
//! used to be wall-clock milliseconds, and a rumid restarted with its clock ten minutes
//! behind had every push refused by external helpers, which kept serving the old policy.
//! The first epoch is taken past any wall-clock version (`now_ms / 2^32 + 1`), the only
//! use of the clock, so helpers still holding one from an older rumid accept the new ones.
//!
//! A snapshot holds only what the helpers can use: the network and capability grants of
//! approved packs (a helper refuses every other pack anyway, and gives it no socket). Grants
//! are kept by id, already in their wire form, so a grant write costs one map update and a
//! snapshot of the approved packs' grants, whatever the number of grants stored.

use std::path::Path;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rumi_proto::control::{
    CapabilityGrant, CapabilityLimits, EgressLimits, NetworkGrant, PermissionGrant, PolicySnapshot, StoreShare,
    TrustedHandler,
};
use tokio::sync::watch;

use crate::grants::{capability, network, stores};

#[derive(Default)]
struct Parts {
    approved: Vec<String>,
    /// By pack id.
    grants: BTreeMap<String, NetworkGrant>,
    /// By principal id (`pack`, `pack__child`, …).
    capability: BTreeMap<String, CapabilityGrant>,
    shares: Vec<stores::Share>,
    handlers: Vec<TrustedHandler>,
    pack_uids: std::collections::HashMap<String, u32>,
    /// Snapshots published in this run.
    seq: u64,
}

/// File of the policy epoch inside `user_data/settings/`.
pub const EPOCH_FILE: &str = "policy_epoch.json";

/// Raises the persisted policy epoch and returns the new one.
///
/// # Errors
/// The file is unreadable or not `{"epoch": N}` (rumid refuses to start rather than guess
/// an epoch that might go backwards), or the write failed.
pub fn advance_epoch(settings: &Path) -> std::io::Result<u64> {
    let path = settings.join(EPOCH_FILE);
    let epoch = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["epoch"].as_u64())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not {{\"epoch\": N}}", path.display()),
                )
            })?
            .checked_add(1)
            .filter(|e| *e < u64::from(u32::MAX))
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "policy epoch exhausted"))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            (chrono::Utc::now().timestamp_millis().max(0) as u64 >> 32) + 1
        }
        Err(e) => return Err(e),
    };
    rumi_common::fs::write_atomic(&path, format!("{{\"epoch\":{epoch}}}\n").as_bytes(), 0o600)?;
    Ok(epoch)
}

/// Builds and publishes policy snapshots.
pub struct PolicyHub {
    parts: Mutex<Parts>,
    limits: EgressLimits,
    capability_limits: CapabilityLimits,
    /// This run's epoch ([`advance_epoch`]).
    epoch: u64,
    tx: watch::Sender<Arc<PolicySnapshot>>,
}

impl PolicyHub {
    /// A hub with the given egress limits; the receiver sees every published snapshot.
    pub fn new(
        epoch: u64,
        rate_limit_per_minute: u32,
        max_response_bytes: u64,
        secret_get_rate_per_minute: u32,
    ) -> (Arc<Self>, watch::Receiver<Arc<PolicySnapshot>>) {
        let (tx, rx) = watch::channel(Arc::new(PolicySnapshot::default()));
        let hub = Arc::new(Self {
            parts: Mutex::default(),
            limits: EgressLimits {
                rate_limit_per_minute,
                max_response_bytes,
            },
            capability_limits: CapabilityLimits {
                secret_get_rate_per_minute,
            },
            epoch,
            tx,
        });
        (hub, rx)
    }

    /// Replaces the list of approved (and verified) packs.
    pub fn set_approved(&self, approved: Vec<String>) {
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        if parts.approved == approved && parts.seq != 0 {
            return;
        }
        parts.approved = approved;
        self.publish(&mut parts);
    }

    /// Adds or replaces network grants (by pack id); publishes when one of an approved pack
    /// changed.
    pub fn put_grants(&self, grants: &[network::NetworkGrant]) {
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        let mut visible = parts.seq == 0;
        for g in grants {
            visible |= parts.approved.contains(&g.pack_id);
            parts.grants.insert(
                g.pack_id.clone(),
                NetworkGrant {
                    pack_id: g.pack_id.clone(),
                    enabled: g.enabled,
                    allowed_domains: g.allowed_domains.clone(),
                    allowed_ports: g.allowed_ports.clone(),
                },
            );
        }
        if visible {
            self.publish(&mut parts);
        }
    }

    /// Adds or replaces capability grants (by principal id); publishes when one of an
    /// approved pack's principals changed.
    pub fn put_capability_grants(&self, grants: &[capability::PrincipalGrants]) {
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        let mut visible = parts.seq == 0;
        for g in grants {
            let root = g.principal_id.split("__").next().unwrap_or_default();
            visible |= parts.approved.iter().any(|p| p == root);
            parts.capability.insert(
                g.principal_id.clone(),
                CapabilityGrant {
                    principal_id: g.principal_id.clone(),
                    enabled: g.enabled,
                    permissions: g
                        .permissions
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                PermissionGrant {
                                    enabled: v.enabled,
                                    config_json: v.config.to_string(),
                                },
                            )
                        })
                        .collect(),
                },
            );
        }
        if visible {
            self.publish(&mut parts);
        }
    }

    /// Replaces the store shares (only approved ones reach the helper).
    pub fn set_shares(&self, shares: Vec<stores::Share>) {
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        parts.shares = shares;
        self.publish(&mut parts);
    }

    /// Replaces the trusted handlers.
    pub fn set_handlers(&self, handlers: Vec<TrustedHandler>) {
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        parts.handlers = handlers;
        self.publish(&mut parts);
    }

    /// Replaces the per-pack container uids (empty: one shared uid, no peer check).
    pub fn set_pack_uids(&self, uids: std::collections::HashMap<String, u32>) {
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        if parts.pack_uids == uids && parts.seq != 0 {
            return;
        }
        parts.pack_uids = uids;
        self.publish(&mut parts);
    }

    /// The latest snapshot.
    pub fn current(&self) -> Arc<PolicySnapshot> {
        self.tx.borrow().clone()
    }

    fn publish(&self, parts: &mut Parts) {
        parts.seq += 1;
        let snapshot = PolicySnapshot {
            pack_uids: parts.pack_uids.clone(),
            version: (self.epoch << 32) + parts.seq,
            approved_packs: parts.approved.clone(),
            network_grants: parts
                .approved
                .iter()
                .filter_map(|p| parts.grants.get(p).cloned())
                .collect(),
            egress: Some(self.limits),
            capability_grants: parts
                .approved
                .iter()
                .flat_map(|p| principals_of(&parts.capability, p))
                .collect(),
            handlers: parts.handlers.clone(),
            store_shares: parts
                .shares
                .iter()
                .filter(|s| s.status == "approved")
                .map(|s| StoreShare {
                    store_id: s.store_id.clone(),
                    owner_pack: s.owner_pack.clone(),
                    target_pack: s.target_pack.clone(),
                })
                .collect(),
            capability: Some(self.capability_limits),
        };
        tracing::debug!(
            policy_version = snapshot.version,
            approved = snapshot.approved_packs.len(),
            "policy published"
        );
        self.tx.send_replace(Arc::new(snapshot));
    }
}

/// The grants of pack `pack`'s principals: `pack` itself and every `pack__…`.
fn principals_of<'a>(
    grants: &'a BTreeMap<String, CapabilityGrant>,
    pack: &'a str,
) -> impl Iterator<Item = CapabilityGrant> + 'a {
    grants
        .range::<str, _>((std::ops::Bound::Included(pack), std::ops::Bound::Unbounded))
        .take_while(move |(id, _)| id.starts_with(pack))
        .filter(move |(id, _)| id.len() == pack.len() || id[pack.len()..].starts_with("__"))
        .map(|(_, g)| g.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_outrank_the_previous_run_whatever_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let first = advance_epoch(dir.path()).unwrap();
        // Past any wall-clock millisecond version of an older rumid.
        assert!(first << 32 > chrono::Utc::now().timestamp_millis() as u64);
        let second = advance_epoch(dir.path()).unwrap();
        assert_eq!(second, first + 1);
        let (a, _) = PolicyHub::new(first, 60, 1, 60);
        a.set_approved(vec!["x".into()]);
        a.set_approved(vec!["y".into()]);
        let (b, _) = PolicyHub::new(second, 60, 1, 60);
        b.set_approved(vec!["x".into()]);
        assert!(a.current().version > (first << 32));
        assert!(
            b.current().version > a.current().version,
            "a restart outranks many pushes"
        );
        std::fs::write(dir.path().join(EPOCH_FILE), "garbage").unwrap();
        assert!(advance_epoch(dir.path()).is_err(), "never guesses an epoch");
    }

    fn net(pack: &str) -> network::NetworkGrant {
        network::NetworkGrant {
            pack_id: pack.into(),
            enabled: true,
            allowed_domains: vec!["api.example.com".into()],
            allowed_ports: vec![443],
            granted_at: String::new(),
            updated_at: String::new(),
            granted_by: "user".into(),
            notes: None,
        }
    }

    fn cap(principal: &str) -> capability::PrincipalGrants {
        capability::PrincipalGrants {
            principal_id: principal.into(),
            enabled: true,
            granted_at: String::new(),
            updated_at: String::new(),
            permissions: std::collections::BTreeMap::new(),
        }
    }

    #[test]
    fn snapshots_carry_only_the_grants_of_approved_packs() {
        let (hub, _rx) = PolicyHub::new(1, 60, 1 << 20, 60);
        hub.put_grants(&[net("a"), net("b"), net("a-b")]);
        hub.put_capability_grants(&[cap("a"), cap("a__x"), cap("a-b"), cap("ab"), cap("b")]);
        assert!(hub.current().network_grants.is_empty());
        let before = hub.current().version;
        // A grant of a pack that is not approved changes nothing the helpers hold.
        hub.put_grants(&[net("c")]);
        assert_eq!(hub.current().version, before);
        hub.set_approved(vec!["a".into()]);
        let s = hub.current();
        let ids: Vec<&str> = s.network_grants.iter().map(|g| g.pack_id.as_str()).collect();
        assert_eq!(ids, ["a"]);
        let principals: Vec<&str> = s.capability_grants.iter().map(|g| g.principal_id.as_str()).collect();
        assert_eq!(principals, ["a", "a__x"]);
        hub.put_grants(&[net("a")]);
        assert!(hub.current().version > s.version);
    }
}
