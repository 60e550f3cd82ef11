//! The policy snapshot pushed to the helpers.
//!
//! rumid is the single source of truth. Every change of approvals or grants rebuilds the
//! whole snapshot with a new, strictly increasing version and publishes it on a watch
//! channel; each helper's supervisor pushes the latest snapshot after every change and every
//! reconnect. Helpers replace their policy whole.

use std::sync::{Arc, Mutex};

use rumi_proto::control::{EgressLimits, NetworkGrant, PolicySnapshot};
use tokio::sync::watch;

use crate::grants::network;

#[derive(Default)]
struct Parts {
    approved: Vec<String>,
    grants: Vec<network::NetworkGrant>,
    version: u64,
}

/// Builds and publishes policy snapshots.
pub struct PolicyHub {
    parts: Mutex<Parts>,
    limits: EgressLimits,
    tx: watch::Sender<Arc<PolicySnapshot>>,
}

impl PolicyHub {
    /// A hub with the given egress limits; the receiver sees every published snapshot.
    pub fn new(
        rate_limit_per_minute: u32,
        max_response_bytes: u64,
    ) -> (Arc<Self>, watch::Receiver<Arc<PolicySnapshot>>) {
        let (tx, rx) = watch::channel(Arc::new(PolicySnapshot::default()));
        let hub = Arc::new(Self {
            parts: Mutex::default(),
            limits: EgressLimits {
                rate_limit_per_minute,
                max_response_bytes,
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

    /// The latest snapshot.
    pub fn current(&self) -> Arc<PolicySnapshot> {
        self.tx.borrow().clone()
    }

    fn publish(&self, parts: &mut Parts) {
        let millis = chrono::Utc::now().timestamp_millis().max(0) as u64;
        parts.version = millis.max(parts.version + 1);
        let snapshot = PolicySnapshot {
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
        };
        tracing::debug!(
            policy_version = snapshot.version,
            approved = snapshot.approved_packs.len(),
            "policy published"
        );
        self.tx.send_replace(Arc::new(snapshot));
    }
}
