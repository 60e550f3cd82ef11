//! Approved store shares: `user_data/settings/store_shares.json` (signed).
//!
//! A share lets `target_pack` use `store_id` of `owner_pack` while it is `approved`; the
//! target still needs its own `store.*` grant naming the store. Revoking keeps the entry
//! for the record with status `revoked`.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use rumi_common::ids::PackId;
use serde::{Deserialize, Serialize};

use crate::audit::{Audit, AuditEvent, Category};
use crate::error::{Error, Result};
use crate::signed;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Share {
    pub store_id: String,
    pub owner_pack: String,
    pub target_pack: String,
    pub status: String,
    pub approved_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// Body of `/api/stores/shared/approve|revoke`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    pub store_id: String,
    pub owner_pack: String,
    pub target_pack: String,
}

pub type OnChange = Box<dyn Fn(Vec<Share>) + Send + Sync>;

pub struct StoreShares {
    path: PathBuf,
    signer: signed::Signer,
    audit: Audit,
    shares: Mutex<Vec<Share>>,
    on_change: OnChange,
}

impl StoreShares {
    /// Loads the shares file; a file failing verification shares nothing (and is audited).
    pub fn load(path: PathBuf, signer: signed::Signer, audit: Audit, on_change: OnChange) -> Self {
        let shares = signer.load_field(&path, "shares", &audit, "store_shares_tampered");
        let this = Self {
            path,
            signer,
            audit,
            shares: Mutex::new(shares),
            on_change,
        };
        (this.on_change)(this.lock().clone());
        this
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Share>> {
        self.shares.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn list(&self) -> Vec<Share> {
        self.lock().clone()
    }

    fn save(&self, shares: &[Share]) -> Result<()> {
        self.signer
            .store_field(&self.path, "shares", serde_json::json!(shares), 0o600)
            .map_err(Error::io("cannot write store shares", &self.path))
    }

    fn set(&self, req: &ShareRequest, approve: bool) -> Result<Share> {
        PackId::parse(&req.owner_pack)?;
        PackId::parse(&req.target_pack)?;
        let id_ok = (1..=64).contains(&req.store_id.len())
            && req
                .store_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok {
            return Err(Error::Invalid {
                field: "store_id",
                reason: "must match ^[a-zA-Z0-9_-]{1,64}$".into(),
            });
        }
        let mut shares = self.lock();
        let ts = rumi_common::time::now_rfc3339();
        let pos = shares.iter().position(|s| {
            s.store_id == req.store_id && s.owner_pack == req.owner_pack && s.target_pack == req.target_pack
        });
        if !approve && pos.is_none() {
            return Err(Error::Invalid {
                field: "store_id",
                reason: "no such share".into(),
            });
        }
        let mut next = shares.clone();
        let share = Share {
            store_id: req.store_id.clone(),
            owner_pack: req.owner_pack.clone(),
            target_pack: req.target_pack.clone(),
            status: if approve { "approved" } else { "revoked" }.into(),
            approved_at: if approve {
                Some(ts.clone())
            } else {
                pos.and_then(|i| shares[i].approved_at.clone())
            },
            revoked_at: (!approve).then_some(ts),
        };
        match pos {
            Some(i) => next[i] = share.clone(),
            None => next.push(share.clone()),
        }
        self.save(&next)?;
        *shares = next;
        (self.on_change)(shares.clone());
        drop(shares);
        self.audit.record_blocking(
            AuditEvent::new(
                Category::Permission,
                if approve {
                    "store_share_approved"
                } else {
                    "store_share_revoked"
                },
            )
            .in_request()
            .owner_pack(req.owner_pack.as_str())
            .detail("store_id", req.store_id.clone())
            .detail("target_pack", req.target_pack.clone()),
        );
        Ok(share)
    }

    /// # Errors
    /// Invalid ids or a failed write.
    pub fn approve(&self, req: &ShareRequest) -> Result<Share> {
        self.set(req, true)
    }

    /// # Errors
    /// Invalid ids, no such share, or a failed write.
    pub fn revoke(&self, req: &ShareRequest) -> Result<Share> {
        self.set(req, false)
    }
}
