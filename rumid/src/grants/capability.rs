//! Capability grants: which permissions a principal holds, with each grant's config.
//!
//! Files: `user_data/settings/grants/capability/<principal>.json` (signed), shaped
//! `{principal_id, enabled, granted_at, updated_at, permissions: {perm: {enabled, config}}}`.
//! A principal is a pack id or a hierarchy `parent__child` of pack ids. A file that fails
//! verification grants nothing (and is audited); the next grant to that principal replaces it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::MutexGuard;

use rumi_common::ids::PackId;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::audit::{Audit, AuditEvent, Category};
use crate::error::{Error, Result};
use crate::signed;

/// Most grants in one batch.
pub const MAX_BATCH: usize = 50;
/// Longest principal id (its grant file name must fit in 255 bytes).
pub const MAX_PRINCIPAL_LEN: usize = 200;
/// Largest grant config (serialised).
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PermissionEntry {
    pub enabled: bool,
    pub config: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PrincipalGrants {
    pub principal_id: String,
    pub enabled: bool,
    pub granted_at: String,
    pub updated_at: String,
    pub permissions: BTreeMap<String, PermissionEntry>,
}

/// One item of `POST /api/capability/grants/grant` and `/batch`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantItem {
    pub principal_id: String,
    pub permission_id: String,
    #[serde(default)]
    pub config: Option<Value>,
}

/// Validates a principal id: pack ids joined by `__`.
///
/// # Errors
/// [`Error::Invalid`] naming the problem.
pub fn validate_principal(p: &str) -> Result<()> {
    let bad = |reason: &str| Error::Invalid {
        field: "principal_id",
        reason: reason.to_owned(),
    };
    if p.is_empty() || p.len() > MAX_PRINCIPAL_LEN {
        return Err(bad("must be 1-200 characters"));
    }
    for part in p.split("__") {
        PackId::parse(part).map_err(|e| bad(&format!("each '__'-separated part must be a pack id: {e}")))?;
    }
    Ok(())
}

/// Validates a permission id such as `store.get` or `fs.read`.
///
/// # Errors
/// [`Error::Invalid`].
pub fn validate_permission(p: &str) -> Result<()> {
    let ok = (1..=128).contains(&p.len())
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && !p.starts_with('.')
        && !p.ends_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid {
            field: "permission_id",
            reason: "must match ^[a-z0-9_.-]{1,128}$".into(),
        })
    }
}

/// Called with every valid principal's grants at load, then with each principal's grants
/// written.
pub type OnChange = signed::OnPut<PrincipalGrants>;

pub struct CapabilityGrants {
    audit: Audit,
    grants: signed::SignedDir<PrincipalGrants>,
}

impl CapabilityGrants {
    /// Loads every grant file; files failing verification are skipped and audited.
    ///
    /// # Errors
    /// When the directory cannot be created or read.
    pub fn load(dir: PathBuf, signer: signed::Signer, audit: Audit, on_change: OnChange) -> Result<Self> {
        let (grants, refused) =
            signed::SignedDir::load(dir.clone(), signer, |g: &PrincipalGrants| &g.principal_id, on_change)
                .map_err(Error::io("cannot load", &dir))?;
        for (stem, why) in refused {
            tracing::warn!(principal = %stem, reason = %why, "capability grant failed verification; ignored");
            // Same action and error_type as every other tampered signed file.
            audit.record_blocking(
                why.event("capability_grant_tampered")
                    .owner_pack(stem.split("__").next().unwrap_or_default())
                    .detail("principal_id", stem.as_str())
                    .detail("permission_type", "capability_grant"),
            );
        }
        Ok(Self { audit, grants })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, PrincipalGrants>> {
        self.grants.lock()
    }

    /// Grants of one principal, or of all.
    pub fn list(&self, principal: Option<&str>) -> Vec<PrincipalGrants> {
        self.lock()
            .values()
            .filter(|g| principal.is_none_or(|p| g.principal_id == p))
            .cloned()
            .collect()
    }

    fn validate(item: &GrantItem) -> Result<Value> {
        validate_principal(&item.principal_id)?;
        validate_permission(&item.permission_id)?;
        let config = item.config.clone().unwrap_or_else(|| Value::Object(Map::new()));
        if !config.is_object() {
            return Err(Error::Invalid {
                field: "config",
                reason: "must be a JSON object".into(),
            });
        }
        if config.to_string().len() > MAX_CONFIG_BYTES {
            return Err(Error::Invalid {
                field: "config",
                reason: format!("larger than {MAX_CONFIG_BYTES} bytes"),
            });
        }
        Ok(config)
    }

    /// Grants one permission (replacing its config).
    ///
    /// # Errors
    /// Invalid ids or config, or a failed write.
    pub fn grant(&self, item: &GrantItem) -> Result<PrincipalGrants> {
        let config = Self::validate(item)?;
        let mut grants = self.lock();
        let ts = rumi_common::time::now_rfc3339();
        let mut g = grants
            .get(&item.principal_id)
            .cloned()
            .unwrap_or_else(|| PrincipalGrants {
                principal_id: item.principal_id.clone(),
                enabled: true,
                granted_at: ts.clone(),
                updated_at: ts.clone(),
                permissions: BTreeMap::new(),
            });
        g.enabled = true;
        g.updated_at = ts;
        g.permissions.insert(
            item.permission_id.clone(),
            PermissionEntry {
                enabled: true,
                config: config.clone(),
            },
        );
        self.grants.put(&mut grants, &g.principal_id.clone(), g.clone())?;
        drop(grants);
        self.audit.record_blocking(
            AuditEvent::new(Category::Permission, "permission_grant")
                .in_request()
                .owner_pack(item.principal_id.split("__").next().unwrap_or_default())
                .detail("permission_type", "capability_grant")
                .detail("principal_id", item.principal_id.clone())
                .detail("permission_id", item.permission_id.clone())
                .detail(
                    "config_keys",
                    config
                        .as_object()
                        .map(|m| m.keys().cloned().collect::<Vec<_>>())
                        .unwrap_or_default(),
                ),
        );
        Ok(g)
    }

    /// Revokes one permission of a principal.
    ///
    /// # Errors
    /// Invalid ids, nothing to revoke, or a failed write.
    pub fn revoke(&self, principal: &str, permission: &str) -> Result<PrincipalGrants> {
        validate_principal(principal)?;
        validate_permission(permission)?;
        let mut grants = self.lock();
        let not_granted = |message: String| Error::Coded {
            code: rumi_common::code::CAP_GRANT_NOT_FOUND,
            status: axum::http::StatusCode::NOT_FOUND,
            message,
            suggestion: "`GET /api/capability/grants?principal_id=<id>` lists what the principal holds",
        };
        let mut g = grants
            .get(principal)
            .cloned()
            .ok_or_else(|| not_granted(format!("principal {principal} has no capability grants")))?;
        let entry = g
            .permissions
            .get_mut(permission)
            .ok_or_else(|| not_granted(format!("{permission} is not granted to {principal}")))?;
        entry.enabled = false;
        g.updated_at = rumi_common::time::now_rfc3339();
        self.grants.put(&mut grants, &g.principal_id.clone(), g.clone())?;
        drop(grants);
        self.audit.record_blocking(
            AuditEvent::new(Category::Permission, "permission_revoke")
                .in_request()
                .owner_pack(principal.split("__").next().unwrap_or_default())
                .detail("permission_type", "capability_grant")
                .detail("principal_id", principal)
                .detail("permission_id", permission),
        );
        Ok(g)
    }

    /// Grants up to [`MAX_BATCH`] items, best effort; one result per item.
    ///
    /// # Errors
    /// More than [`MAX_BATCH`] items (nothing is granted then).
    pub fn batch(&self, items: &[GrantItem]) -> Result<Value> {
        if items.len() > MAX_BATCH {
            return Err(Error::Invalid {
                field: "grants",
                reason: format!("at most {MAX_BATCH} items"),
            });
        }
        let results: Vec<Value> = items
            .iter()
            .map(|item| match self.grant(item) {
                Ok(_) => {
                    json!({"principal_id": item.principal_id, "permission_id": item.permission_id, "success": true})
                }
                Err(e) => json!({
                    "principal_id": item.principal_id,
                    "permission_id": item.permission_id,
                    "success": false,
                    "error": e.to_string(),
                    "error_code": e.code(),
                }),
            })
            .collect();
        let succeeded = results.iter().filter(|r| r["success"] == true).count();
        Ok(json!({
            "total": items.len(),
            "succeeded": succeeded,
            "failed": items.len() - succeeded,
            "results": results,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated() {
        assert!(validate_principal("a").is_ok());
        assert!(validate_principal("a__b-c__d_e").is_ok());
        for bad in ["", "a/b", "a..b", "__a", "a__", "a____b", &"x".repeat(201)] {
            assert!(validate_principal(bad).is_err(), "{bad}");
        }
        assert!(validate_permission("store.get").is_ok());
        for bad in ["", "Store.get", ".x", "x.", "a b", "a/b"] {
            assert!(validate_permission(bad).is_err(), "{bad}");
        }
    }
}
