//! Host privileges: dangerous host-side operations an operator grants to a pack by name
//! (DECISIONS.md #15), kept in `user_data/settings/privileges.json` (signed).
//!
//! The set of privileges is fixed: `pack.update` (apply a staged update to a target pack),
//! `system.diagnostics` (the diagnostics snapshot) and `system.restart` (restart the helper
//! daemons). Executing one needs a grant to that pack, and the pack must be approved; the
//! action is really performed (see `api::privileges`).
//!
//! # Security
//! - A privileges file that fails verification grants nothing (fail closed) and is audited
//!   as a critical `hmac_verification_failed`; it is not overwritten until the next grant.
//! - Grant, revoke, execute and every refusal are audited.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use rumi_common::ids::PackId;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::audit::{Audit, AuditEvent, Category};
use crate::error::{Error, Result};
use crate::signed;

/// Every privilege, with what it allows.
pub const PRIVILEGES: &[(&str, &str)] = &[
    (
        "pack.update",
        "apply a staged pack update to a target pack (args: target_pack, staging_id)",
    ),
    (
        "system.diagnostics",
        "read the diagnostics snapshot (health, helpers, packs)",
    ),
    ("system.restart", "restart the helper daemons (spawn mode)"),
];

/// One grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub privilege_id: String,
    pub granted_at: String,
}

/// The privilege id, checked against [`PRIVILEGES`].
///
/// # Errors
/// [`Error::Invalid`] naming the known ids.
pub fn privilege(raw: &str) -> Result<&'static str> {
    PRIVILEGES
        .iter()
        .map(|(id, _)| *id)
        .find(|id| *id == raw)
        .ok_or_else(|| Error::Invalid {
            field: "privilege_id",
            reason: format!(
                "unknown privilege; the privileges are {}",
                PRIVILEGES.iter().map(|(id, _)| *id).collect::<Vec<_>>().join(", ")
            ),
        })
}

pub struct Privileges {
    path: PathBuf,
    signer: signed::Signer,
    audit: Audit,
    grants: Mutex<BTreeMap<String, Vec<Grant>>>,
}

impl Privileges {
    /// Loads the file; one that fails verification grants nothing.
    pub fn load(path: PathBuf, signer: signed::Signer, audit: Audit) -> Self {
        let grants = signer.load_field(&path, "grants", &audit, "privileges_tampered");
        Self {
            path,
            signer,
            audit,
            grants: Mutex::new(grants),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Vec<Grant>>> {
        self.grants.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every privilege with the packs holding it.
    pub fn list(&self) -> Value {
        let grants = self.lock();
        let list: Vec<Value> = PRIVILEGES
            .iter()
            .map(|(id, description)| {
                let packs: Vec<&String> = grants
                    .iter()
                    .filter(|(_, gs)| gs.iter().any(|g| g.privilege_id == *id))
                    .map(|(p, _)| p)
                    .collect();
                json!({"privilege_id": id, "description": description, "granted_packs": packs})
            })
            .collect();
        json!({"privileges": list, "count": list.len()})
    }

    /// Whether `pack` holds `privilege`.
    pub fn has(&self, pack: &PackId, privilege: &str) -> bool {
        self.lock()
            .get(pack.as_str())
            .is_some_and(|gs| gs.iter().any(|g| g.privilege_id == privilege))
    }

    fn save(&self, grants: &BTreeMap<String, Vec<Grant>>) -> Result<()> {
        self.signer
            .store_field(&self.path, "grants", json!(grants), 0o600)
            .map_err(Error::io("cannot write privileges", &self.path))
    }

    /// Grants `privilege` to `pack` (idempotent: an existing grant keeps its time).
    ///
    /// # Errors
    /// A failed write (nothing changes then).
    pub fn grant(&self, pack: &PackId, privilege: &'static str) -> Result<Grant> {
        let mut grants = self.lock();
        if let Some(g) = grants
            .get(pack.as_str())
            .and_then(|gs| gs.iter().find(|g| g.privilege_id == privilege))
        {
            return Ok(g.clone());
        }
        let grant = Grant {
            privilege_id: privilege.to_owned(),
            granted_at: rumi_common::time::now_rfc3339(),
        };
        let mut next = grants.clone();
        next.entry(pack.to_string()).or_default().push(grant.clone());
        self.save(&next)?;
        *grants = next;
        drop(grants);
        self.audit.record_blocking(
            AuditEvent::new(Category::Permission, "privilege_granted")
                .in_request()
                .owner_pack(pack.as_str())
                .detail("privilege_id", privilege),
        );
        Ok(grant)
    }

    /// Revokes `privilege` from `pack`; returns whether it was held.
    ///
    /// # Errors
    /// A failed write (nothing changes then).
    pub fn revoke(&self, pack: &PackId, privilege: &'static str) -> Result<bool> {
        let mut grants = self.lock();
        let mut next = grants.clone();
        let held = next.get_mut(pack.as_str()).is_some_and(|gs| {
            let before = gs.len();
            gs.retain(|g| g.privilege_id != privilege);
            gs.len() != before
        });
        if !held {
            return Ok(false);
        }
        next.retain(|_, gs| !gs.is_empty());
        self.save(&next)?;
        *grants = next;
        drop(grants);
        self.audit.record_blocking(
            AuditEvent::new(Category::Permission, "privilege_revoked")
                .in_request()
                .owner_pack(pack.as_str())
                .detail("privilege_id", privilege),
        );
        Ok(true)
    }
}
