//! Network grants: which domains and ports a pack may reach through rumi-egressd.
//!
//! Files: `user_data/settings/grants/network/<pack_id>.json` (signed). Empty domain or port
//! lists deny everything; `*` is any domain, port `0` any port. A grant only takes effect
//! while its pack is approved and unmodified: the policy pushed to rumi-egressd lists the
//! approved packs, and a pack outside that list has no socket at all.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::MutexGuard;

use rumi_common::domain;
use rumi_common::ids::PackId;
use serde::{Deserialize, Serialize};

use crate::audit::{Audit, AuditEvent, Category, Severity};
use crate::error::{Error, Result};
use crate::signed;

/// Most domains or ports in one grant.
pub const MAX_ENTRIES: usize = 100;
/// Longest note or reason.
pub const MAX_NOTES: usize = 1024;

/// A network grant as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NetworkGrant {
    pub pack_id: String,
    pub enabled: bool,
    pub allowed_domains: Vec<String>,
    pub allowed_ports: Vec<u32>,
    pub granted_at: String,
    pub updated_at: String,
    pub granted_by: String,
    pub notes: Option<String>,
}

/// Body of `POST /api/network/grant`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub pack_id: String,
    pub allowed_domains: Vec<String>,
    pub allowed_ports: Vec<u32>,
    #[serde(default)]
    pub notes: Option<String>,
}

/// Result of `POST /api/network/check`.
#[derive(Debug, Serialize)]
pub struct CheckResult {
    pub allowed: bool,
    pub reason: String,
}

/// Called with every valid grant at load, then with each grant written (feeds the policy
/// snapshot).
pub type OnChange = signed::OnPut<NetworkGrant>;

pub struct NetworkGrants {
    audit: Audit,
    grants: signed::SignedDir<NetworkGrant>,
    /// Packs whose grant file was refused at load (file, reason), until granted again.
    refused: std::sync::Mutex<BTreeMap<String, (String, String)>>,
}

impl NetworkGrants {
    /// Loads every grant file; files failing verification are skipped and audited.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn load(dir: PathBuf, signer: signed::Signer, audit: Audit, on_change: OnChange) -> Result<Self> {
        let (grants, refused) = signed::SignedDir::load(dir.clone(), signer, |g: &NetworkGrant| &g.pack_id, on_change)
            .map_err(Error::io("cannot load", &dir))?;
        let mut refused_ids = BTreeMap::new();
        for (stem, why) in refused {
            refused_ids.insert(stem.clone(), (why.file.clone(), why.reason.clone()));
            tracing::warn!(pack_id = %stem, reason = %why, "network grant failed verification; ignored");
            audit.record_blocking(
                why.event("network_grant_tampered")
                    .owner_pack(stem.as_str())
                    .detail("permission_type", "network"),
            );
        }
        Ok(Self {
            audit,
            grants,
            refused: std::sync::Mutex::new(refused_ids),
        })
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, NetworkGrant>> {
        self.grants.lock()
    }

    /// All grants.
    pub fn list(&self) -> Vec<NetworkGrant> {
        self.lock().values().cloned().collect()
    }

    /// Grants (or replaces) a pack's network access.
    ///
    /// # Errors
    /// Invalid pack id, domains or ports, or a failed write (nothing changes then).
    pub fn grant(&self, req: GrantRequest) -> Result<NetworkGrant> {
        let pack = PackId::parse(&req.pack_id)?;
        if req.allowed_domains.len() > MAX_ENTRIES || req.allowed_ports.len() > MAX_ENTRIES {
            return Err(Error::Invalid {
                field: "allowed_domains/allowed_ports",
                reason: format!("at most {MAX_ENTRIES} entries each"),
            });
        }
        let mut domains = Vec::with_capacity(req.allowed_domains.len());
        for d in &req.allowed_domains {
            let d = domain::validate_pattern(d).map_err(|reason| Error::Invalid {
                field: "allowed_domains",
                reason,
            })?;
            if !domains.contains(&d) {
                domains.push(d);
            }
        }
        let mut ports = req.allowed_ports.clone();
        if let Some(p) = ports.iter().find(|p| **p > 65535) {
            return Err(Error::Invalid {
                field: "allowed_ports",
                reason: format!("{p} is not a port (0 means any)"),
            });
        }
        ports.sort_unstable();
        ports.dedup();
        let notes = req.notes.map(|n| n.chars().take(MAX_NOTES).collect::<String>());
        let mut grants = self.lock();
        let ts = rumi_common::time::now_rfc3339();
        let granted_at = grants
            .get(pack.as_str())
            .map_or_else(|| ts.clone(), |g| g.granted_at.clone());
        let g = NetworkGrant {
            pack_id: pack.to_string(),
            enabled: true,
            allowed_domains: domains,
            allowed_ports: ports,
            granted_at,
            updated_at: ts,
            granted_by: "user".into(),
            notes,
        };
        self.grants.put(&mut grants, pack.as_str(), g.clone())?;
        drop(grants);
        self.refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(pack.as_str());
        tracing::info!(pack_id = %pack, domains = g.allowed_domains.len(), ports = g.allowed_ports.len(), "network grant set");
        self.audit.record_blocking(
            AuditEvent::new(Category::Permission, "permission_grant")
                .in_request()
                .owner_pack(pack.as_str())
                .detail("permission_type", "network")
                .detail("allowed_domains", g.allowed_domains.clone())
                .detail("allowed_ports", g.allowed_ports.clone()),
        );
        if g.allowed_domains.iter().any(|d| d == "*") {
            self.audit.record_blocking(
                AuditEvent::new(Category::Security, "wildcard_domain_warning")
                    .in_request()
                    .severity(Severity::Warning)
                    .owner_pack(pack.as_str()),
            );
        }
        Ok(g)
    }

    /// Disables a pack's grant, keeping it for the record.
    ///
    /// # Errors
    /// Invalid pack id, an empty reason, no grant, or a failed write.
    pub fn revoke(&self, pack_id: &str, reason: &str) -> Result<NetworkGrant> {
        let pack = PackId::parse(pack_id)?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Error::EmptyValue { field: "reason" });
        }
        let mut grants = self.lock();
        let Some(mut g) = grants.get(pack.as_str()).cloned() else {
            let refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
            return Err(match refused.get(pack.as_str()) {
                Some((file, reason)) => Error::StateRefused {
                    file: file.clone(),
                    reason: reason.clone(),
                },
                None => Error::GrantNotFound { pack_id: pack.clone() },
            });
        };
        g.enabled = false;
        g.updated_at = rumi_common::time::now_rfc3339();
        g.notes = Some(reason.chars().take(MAX_NOTES).collect());
        self.grants.put(&mut grants, pack.as_str(), g.clone())?;
        drop(grants);
        tracing::info!(pack_id = %pack, "network grant revoked");
        self.audit.record_blocking(
            AuditEvent::new(Category::Permission, "permission_revoke")
                .in_request()
                .owner_pack(pack.as_str())
                .detail("permission_type", "network")
                .rejection_reason(reason),
        );
        Ok(g)
    }

    /// Whether `pack` may reach `host:port` now, given whether the pack is approved.
    pub fn check(&self, pack: &PackId, approved: bool, host: &str, port: u16) -> CheckResult {
        let deny = |reason: &str| CheckResult {
            allowed: false,
            reason: reason.to_owned(),
        };
        if !approved {
            return deny("pack is not approved (or was modified since approval)");
        }
        let grants = self.lock();
        let Some(g) = grants.get(pack.as_str()) else {
            return deny("no network grant for this pack");
        };
        if !g.enabled {
            return deny("network grant is disabled");
        }
        match domain::grant_covers(&g.allowed_domains, &g.allowed_ports, host, port) {
            Ok(()) => CheckResult {
                allowed: true,
                reason: "granted".into(),
            },
            Err(domain::GrantMiss::Domain) => deny("domain not granted"),
            Err(domain::GrantMiss::Port) => deny("port not granted"),
        }
    }
}
