//! The policy snapshot pushed to the helpers.
//!
//! rumid is the single source of truth. Every change of approvals or grants rebuilds the
//! whole snapshot with a new, strictly increasing version and publishes it on a watch
//! channel; each helper's supervisor pushes the latest snapshot after every change and every
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

use std::path::Path;

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
    grants: Vec<network::NetworkGrant>,
    capability: Vec<capability::PrincipalGrants>,
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

    /// Replaces the network grants.
    pub fn set_grants(&self, grants: Vec<network::NetworkGrant>) {
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        parts.grants = grants;
        self.publish(&mut parts);
    }

    /// Replaces the capability grants.
    pub fn set_capability_grants(&self, grants: Vec<capability::PrincipalGrants>) {
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        parts.capability = grants;
        self.publish(&mut parts);
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
                .grants
                .iter()
                .map(|g| NetworkGrant {
                    pack_id: g.pack_id.clone(),
                    enabled: g.enabled,
                    allowed_domains: g.allowed_domains.clone(),
                    allowed_ports: g.allowed_ports.clone(),
                })
                .collect(),
            egress: Some(self.limits),
            capability_grants: parts
                .capability
                .iter()
                .map(|g| CapabilityGrant {
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
                })
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
}
