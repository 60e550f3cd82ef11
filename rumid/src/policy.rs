//! The policy snapshot pushed to the helpers.
//!
//! rumid is the single source of truth. Every change of approvals or grants rebuilds the
//! whole snapshot with a new, strictly increasing version and publishes it on a watch
//! channel; each helper's supervisor pushes the latest snapshot after every change and every
//! reconnect. Helpers replace their policy whole.

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
    version: u64,
}

/// Builds and publishes policy snapshots.
pub struct PolicyHub {
    parts: Mutex<Parts>,
    limits: EgressLimits,
    capability_limits: CapabilityLimits,
    tx: watch::Sender<Arc<PolicySnapshot>>,
}

impl PolicyHub {
    /// A hub with the given egress limits; the receiver sees every published snapshot.
    pub fn new(
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
            tx,
        });
        (hub, rx)
    }

    /// Replaces the list of approved (and verified) packs.
    pub fn set_approved(&self, approved: Vec<String>) {
        let mut parts = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        if parts.approved == approved && parts.version != 0 {
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
        if parts.pack_uids == uids && parts.version != 0 {
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
        let millis = chrono::Utc::now().timestamp_millis().max(0) as u64;
        parts.version = millis.max(parts.version + 1);
        let snapshot = PolicySnapshot {
            pack_uids: parts.pack_uids.clone(),
            version: parts.version,
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
