//! The policy rumi-capd enforces: the last snapshot pushed by rumid, swapped whole.
//!
//! A principal is a pack id, or a hierarchy `parent__child` (levels `parent`,
//! `parent__child`). A call needs an enabled grant of the permission at **every** level;
//! the effective `grant_config` is the intersection of the levels' configs (lists: common
//! scalars; booleans: AND; numbers: minimum; strings: the top-most; objects: recursively;
//! a key missing at any level is dropped). Missing or empty lists in a config deny
//! (each built-in checks its own keys, fail closed).

use std::collections::{HashMap, HashSet};

use rumi_proto::control::{PolicySnapshot, TrustedHandler};
use serde_json::{Map, Value};

/// Default `secrets.get` rate when a snapshot carries none.
pub const DEFAULT_SECRET_RATE: u32 = 60;

/// One principal's grants: whether they are enabled, and permission → (enabled, config).
type Principal = (bool, HashMap<String, (bool, Value)>);

#[derive(Debug, Default)]
pub struct Policy {
    pub version: u64,
    pub approved: HashSet<String>,
    grants: HashMap<String, Principal>,
    /// permission_id → trusted handler.
    pub handlers: HashMap<String, TrustedHandler>,
    /// (store_id, owner_pack, target_pack) shares that are approved.
    pub shares: HashSet<(String, String, String)>,
    pub secret_rate: u32,
}

/// The levels of a principal: `a__b__c` → `a`, `a__b`, `a__b__c`.
pub fn levels(principal: &str) -> Vec<String> {
    let parts: Vec<&str> = principal.split("__").collect();
    (1..=parts.len()).map(|n| parts[..n].join("__")).collect()
}

/// The pack a principal belongs to (its top level).
pub fn root_pack(principal: &str) -> &str {
    principal.split("__").next().unwrap_or(principal)
}

impl Policy {
    pub fn from_snapshot(s: PolicySnapshot) -> Self {
        let grants = s
            .capability_grants
            .into_iter()
            .map(|g| {
                let perms = g
                    .permissions
                    .into_iter()
                    .map(|(perm, pg)| {
                        let config = serde_json::from_str::<Value>(&pg.config_json)
                            .ok()
                            .filter(Value::is_object)
                            .unwrap_or_else(|| Value::Object(Map::new()));
                        (perm, (pg.enabled, config))
                    })
                    .collect();
                (g.principal_id, (g.enabled, perms))
            })
            .collect();
        let limits = s.capability.unwrap_or_default();
        Self {
            version: s.version,
            approved: s.approved_packs.into_iter().collect(),
            grants,
            handlers: s.handlers.into_iter().map(|h| (h.permission_id.clone(), h)).collect(),
            shares: s
                .store_shares
                .into_iter()
                .map(|x| (x.store_id, x.owner_pack, x.target_pack))
                .collect(),
            secret_rate: if limits.secret_get_rate_per_minute == 0 {
                DEFAULT_SECRET_RATE
            } else {
                limits.secret_get_rate_per_minute
            },
        }
    }

    /// Principals that get a socket: every approved pack, and every granted principal whose
    /// top level is an approved pack.
    pub fn principals(&self) -> HashSet<String> {
        let mut out: HashSet<String> = self.approved.clone();
        out.extend(
            self.grants
                .keys()
                .filter(|p| self.approved.contains(root_pack(p)))
                .cloned(),
        );
        out
    }

    /// The effective grant config of `permission` for `principal`.
    ///
    /// # Errors
    /// The (audit-only) reason when any level lacks an enabled grant.
    pub fn effective_config(&self, principal: &str, permission: &str) -> Result<Value, String> {
        let mut effective: Option<Value> = None;
        for level in levels(principal) {
            let (enabled, perms) = self.grants.get(&level).ok_or_else(|| format!("no grant for {level}"))?;
            if !enabled {
                return Err(format!("grants of {level} are disabled"));
            }
            let (perm_enabled, config) = perms
                .get(permission)
                .ok_or_else(|| format!("{level} lacks {permission}"))?;
            if !perm_enabled {
                return Err(format!("{permission} is revoked for {level}"));
            }
            effective = Some(match effective {
                None => config.clone(),
                Some(top) => intersect(&top, config).unwrap_or(Value::Object(Map::new())),
            });
        }
        effective.ok_or_else(|| "empty principal".to_owned())
    }

    /// Whether `pack` may use `store_id` owned by `owner` through an approved share.
    pub fn shared(&self, store_id: &str, owner: &str, pack: &str) -> bool {
        self.shares
            .contains(&(store_id.to_owned(), owner.to_owned(), pack.to_owned()))
    }
}

/// Intersects two config values; `None` when they cannot be combined.
pub fn intersect(a: &Value, b: &Value) -> Option<Value> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => Some(Value::Object(
            x.iter()
                .filter_map(|(k, va)| y.get(k).and_then(|vb| intersect(va, vb)).map(|v| (k.clone(), v)))
                .collect(),
        )),
        (Value::Array(x), Value::Array(y)) => Some(Value::Array(
            x.iter()
                .filter(|v| !v.is_object() && !v.is_array() && y.contains(v))
                .cloned()
                .collect(),
        )),
        (Value::Bool(x), Value::Bool(y)) => Some(Value::Bool(*x && *y)),
        (Value::Number(x), Value::Number(y)) => {
            let (fx, fy) = (x.as_f64()?, y.as_f64()?);
            Some(Value::Number(if fx <= fy { x.clone() } else { y.clone() }))
        }
        (Value::String(_), Value::String(_)) => Some(a.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumi_proto::control::{CapabilityGrant, PermissionGrant};
    use serde_json::json;

    fn grant(principal: &str, perm: &str, config: Value) -> CapabilityGrant {
        CapabilityGrant {
            principal_id: principal.into(),
            enabled: true,
            permissions: [(
                perm.to_owned(),
                PermissionGrant {
                    enabled: true,
                    config_json: config.to_string(),
                },
            )]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn hierarchical_principals_get_the_intersection() {
        let p = Policy::from_snapshot(PolicySnapshot {
            approved_packs: vec!["a".into()],
            capability_grants: vec![
                grant(
                    "a",
                    "store.get",
                    json!({"allowed_store_ids": ["s1", "s2"], "max_value_bytes": 100, "x": "top"}),
                ),
                grant(
                    "a__b",
                    "store.get",
                    json!({"allowed_store_ids": ["s2", "s3"], "max_value_bytes": 50, "x": "low"}),
                ),
                grant("c", "store.get", json!({})),
            ],
            ..Default::default()
        });
        assert_eq!(levels("a__b__c"), ["a", "a__b", "a__b__c"]);
        assert_eq!(
            p.effective_config("a__b", "store.get").unwrap(),
            json!({"allowed_store_ids": ["s2"], "max_value_bytes": 50, "x": "top"})
        );
        assert!(p.effective_config("a__b", "secrets.get").is_err());
        assert!(
            p.effective_config("a__b__c", "store.get").is_err(),
            "every level needs a grant"
        );
        assert!(p.effective_config("x", "store.get").is_err());
        let principals = p.principals();
        assert!(principals.contains("a") && principals.contains("a__b"));
        assert!(!principals.contains("c"), "c is not approved");
    }
}
