//! Which policy snapshot a helper installs when rumid pushes one.
//!
//! A snapshot at least as new as the held one is installed whole. An older one is refused:
//! a late push from a stale rumid of this instance must never roll a helper back. But the
//! held snapshot may be the wrong one (the newer rumid is gone, or the operator restored
//! the instance's version counter from a backup), so a refusal must not keep serving what
//! the refused snapshot takes away: the helper then installs only what **both** snapshots
//! allow (an approval, a grant, a handler, a share present and identical in each) under
//! the held version, and reports the refusal. Whatever either rumid revoked is closed; a
//! pack both agree on keeps working. This fails closed for the packs in dispute and never
//! open.

use std::collections::HashSet;
use std::sync::Mutex;

use rumi_proto::control::PolicySnapshot;
use serde_json::{Map, Value, json};
use tonic::Status;

use super::AuditBus;

/// What to install for an offered snapshot.
#[derive(Debug)]
pub enum Admit {
    /// Not older than the held one: install it.
    Install(PolicySnapshot),
    /// Older: install this restriction, then answer the status (the push is refused).
    Restrict(PolicySnapshot, Status),
}

/// The raw snapshot a helper holds, for deciding about the next one.
#[derive(Default)]
pub struct PolicyGate {
    held: Mutex<Option<PolicySnapshot>>,
}

// === impl PolicyGate ===

impl PolicyGate {
    /// Decides about `offered` and records what is to be installed (audited when refused).
    pub fn admit(&self, offered: PolicySnapshot, audit: &AuditBus) -> Admit {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        match held.as_ref() {
            Some(h) if offered.version < h.version => {
                let (kept, closed) = restrict(h, &offered);
                let status = Status::failed_precondition(format!(
                    "RUMI-INST-003: policy version {} is older than the held {}; only what both allow is served (closed: {})",
                    offered.version,
                    h.version,
                    if closed.is_empty() {
                        "none".to_owned()
                    } else {
                        closed.join(", ")
                    }
                ));
                let mut details = Map::new();
                details.insert("offered_version".into(), json!(offered.version));
                details.insert("held_version".into(), json!(h.version));
                details.insert(
                    "closed_packs".into(),
                    Value::Array(closed.iter().take(100).map(|p| json!(p)).collect()),
                );
                audit.security("policy_push_refused", "critical", "", details);
                tracing::error!(
                    offered = offered.version,
                    held = h.version,
                    closed = closed.len(),
                    "older policy refused; serving only what both snapshots allow"
                );
                *held = Some(kept.clone());
                Admit::Restrict(kept, status)
            }
            _ => {
                *held = Some(offered.clone());
                Admit::Install(offered)
            }
        }
    }
}

/// What both `held` and `offered` allow, under the held version, and the packs of `held`
/// that lost anything (sorted).
pub fn restrict(held: &PolicySnapshot, offered: &PolicySnapshot) -> (PolicySnapshot, Vec<String>) {
    let mut closed: HashSet<String> = HashSet::new();
    let approved: Vec<String> = held
        .approved_packs
        .iter()
        .filter(|p| {
            let keep = offered.approved_packs.contains(p) && held.pack_uids.get(*p) == offered.pack_uids.get(*p);
            if !keep {
                closed.insert((*p).clone());
            }
            keep
        })
        .cloned()
        .collect();
    let network_grants = held
        .network_grants
        .iter()
        .filter(|g| {
            let keep = offered.network_grants.contains(g);
            if !keep {
                closed.insert(g.pack_id.clone());
            }
            keep
        })
        .cloned()
        .collect();
    let capability_grants = held
        .capability_grants
        .iter()
        .filter(|g| {
            let keep = offered.capability_grants.contains(g);
            if !keep {
                closed.insert(root_pack(&g.principal_id).to_owned());
            }
            keep
        })
        .cloned()
        .collect();
    let handlers = held
        .handlers
        .iter()
        .filter(|h| offered.handlers.contains(h))
        .cloned()
        .collect();
    let store_shares = held
        .store_shares
        .iter()
        .filter(|s| {
            let keep = offered.store_shares.contains(s);
            if !keep {
                closed.insert(s.target_pack.clone());
            }
            keep
        })
        .cloned()
        .collect();
    let pack_uids = held
        .pack_uids
        .iter()
        .filter(|(p, u)| offered.pack_uids.get(*p) == Some(u))
        .map(|(p, u)| (p.clone(), *u))
        .collect();
    let mut closed: Vec<String> = closed.into_iter().collect();
    closed.sort();
    (
        PolicySnapshot {
            version: held.version,
            approved_packs: approved,
            network_grants,
            egress: held.egress,
            capability_grants,
            handlers,
            store_shares,
            capability: held.capability,
            pack_uids,
        },
        closed,
    )
}

/// The pack a principal id belongs to (`pack` or `pack__component`).
fn root_pack(principal: &str) -> &str {
    principal.split("__").next().unwrap_or(principal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumi_proto::control::NetworkGrant;

    fn snapshot(version: u64, approved: &[&str], granted: &[&str]) -> PolicySnapshot {
        PolicySnapshot {
            version,
            approved_packs: approved.iter().map(|p| (*p).to_owned()).collect(),
            network_grants: granted
                .iter()
                .map(|p| NetworkGrant {
                    pack_id: (*p).to_owned(),
                    enabled: true,
                    allowed_domains: vec!["example.com".into()],
                    allowed_ports: vec![443],
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn an_older_snapshot_is_refused_and_only_what_both_allow_is_kept() {
        let gate = PolicyGate::default();
        let audit = AuditBus::new(16);
        assert!(matches!(
            gate.admit(snapshot(10, &["a", "b"], &["a", "b"]), &audit),
            Admit::Install(_)
        ));
        // The older one rejected b and approved c: b closes, c does not open, a stays.
        match gate.admit(snapshot(5, &["a", "c"], &["a", "c"]), &audit) {
            Admit::Restrict(kept, status) => {
                assert_eq!(kept.version, 10);
                assert_eq!(kept.approved_packs, vec!["a".to_owned()]);
                assert_eq!(kept.network_grants.len(), 1);
                assert_eq!(kept.network_grants[0].pack_id, "a");
                assert!(status.message().starts_with("RUMI-INST-003"), "{}", status.message());
                assert!(status.message().contains("closed: b"), "{}", status.message());
            }
            other => panic!("{other:?}"),
        }
        // A changed grant of a closes it too; a newer snapshot is installed whole again.
        let mut changed = snapshot(6, &["a"], &["a"]);
        changed.network_grants[0].allowed_ports = vec![80];
        assert!(matches!(gate.admit(changed, &audit), Admit::Restrict(k, _) if k.network_grants.is_empty()));
        assert!(
            matches!(gate.admit(snapshot(11, &["c"], &["c"]), &audit), Admit::Install(s) if s.approved_packs == ["c"])
        );
    }
}
