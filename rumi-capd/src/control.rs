//! The control services rumid talks to: `Helper` (policy, health, audit), `SecretsAdmin`
//! and `StoresAdmin`. Every call checks the peer's uid.
//!
//! Errors carry the RUMI code at the start of the status message (`RUMI-VAL-002: …`), so
//! rumid can answer the operator with the right code.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use rumi_common::helper::{self, Admit, AuditBus, ConnBudget, ControlAuth, FrameBudgets, PolicyGate, SocketSet};
use rumi_proto::control::helper_server::Helper;
use rumi_proto::control::secrets_admin_server::SecretsAdmin;
use rumi_proto::control::stores_admin_server::StoresAdmin;
use rumi_proto::control::{
    AuditRecord, AuditStreamRequest, CreateStoreRequest, DeleteSecretReply, DeleteSecretRequest, HealthReply,
    HealthRequest, HelloReply, HelloRequest, ListSecretsReply, ListSecretsRequest, ListStoresReply, ListStoresRequest,
    PolicySnapshot, PushAck, SecretMeta, SetSecretReply, SetSecretRequest, StoreInfo,
};
use serde_json::{Map, json};
use sha2::{Digest, Sha256};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::capability::SecretLimiter;
use crate::config::Config;
use crate::policy::Policy;
use crate::secrets::{Secret, Secrets, SecretsError};
use crate::stores::{StoreError, Stores};

pub struct State {
    pub config: Config,
    pub audit: AuditBus,
    pub policy: ArcSwapOption<Policy>,
    pub secrets: Secrets,
    pub stores: Stores,
    pub secret_limiter: SecretLimiter,
    /// Bytes buffered from principal sockets (per pack and in all).
    pub frames: FrameBudgets,
    /// The control key check of every control call.
    pub auth: ControlAuth,
    /// The raw snapshot held, for deciding about the next push.
    gate: PolicyGate,
    sockets: Mutex<SocketSet>,
}

/// The socket file of a principal: the first 32 hex digits of sha256(principal_id).
pub fn socket_name(principal: &str) -> String {
    let digest = hex::encode(Sha256::digest(principal.as_bytes()));
    format!("{}.sock", &digest[..32])
}

impl State {
    pub fn new(config: Config, audit: AuditBus, secrets: Secrets, stores: Stores, conns: Arc<ConnBudget>) -> Self {
        let sockets = SocketSet::new(
            config.sock_dir.clone(),
            config.socket_mode,
            config.socket_gid,
            "capability_proxy",
            config.control_uid,
            conns,
        );
        let frames = FrameBudgets::new(config.limits.frame_buffer_per_pack, config.limits.frame_buffer_total);
        let auth = ControlAuth::new(config.control_key.clone());
        Self {
            config,
            audit,
            policy: ArcSwapOption::empty(),
            frames,
            auth,
            gate: PolicyGate::default(),
            secrets,
            stores,
            secret_limiter: SecretLimiter::new(crate::policy::DEFAULT_SECRET_RATE),
            sockets: Mutex::new(sockets),
        }
    }

    pub fn clear_stale(&self) {
        self.sockets.lock().unwrap_or_else(|p| p.into_inner()).clear_dir();
    }

    pub fn shutdown(&self) {
        self.sockets.lock().unwrap_or_else(|p| p.into_inner()).close_all();
    }
}

#[derive(Clone)]
pub struct Control {
    state: Arc<State>,
}

impl Control {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }

    /// The peer's uid, then the instance's control token.
    fn check_peer<T>(&self, req: &Request<T>) -> Result<(), Status> {
        helper::check_peer(req, self.state.config.control_uid, &self.state.audit)?;
        self.state.auth.check(req, &self.state.audit)
    }

    /// Runs blocking admin work (secret files, SQLite) off the async workers, so that a
    /// pack's slow calls and the operator's calls never wait for each other's workers.
    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce(&State) -> T + Send + 'static) -> Result<T, Status> {
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || f(&state)).await.map_err(|e| {
            tracing::error!(error = %e, "blocking admin work failed");
            Status::internal("RUMI-SYS-001: internal error")
        })
    }

    fn audit_admin(&self, action: &str, key: &str, success: bool) {
        let mut details = Map::new();
        details.insert("key".into(), json!(key));
        self.state.audit.emit(helper::Event {
            category: "permission",
            severity: "info",
            action,
            success,
            owner_pack: "",
            details,
            error: None,
            error_type: None,
            rejection_reason: None,
        });
    }
}

fn secrets_status(e: &SecretsError) -> Status {
    match e {
        SecretsError::BadKey | SecretsError::TooLarge => Status::invalid_argument(format!("RUMI-VAL-002: {e}")),
        SecretsError::NotFound(_) => Status::not_found(format!("RUMI-VAL-006: {e}")),
        SecretsError::NoKey => Status::failed_precondition(format!("RUMI-SYS-002: {e}")),
        SecretsError::Io { .. } => {
            tracing::error!(error = %e, "secrets store failure");
            Status::internal("RUMI-SYS-001: secrets store failure")
        }
    }
}

fn store_status(e: &StoreError) -> Status {
    match e {
        StoreError::BadStoreId | StoreError::BadKey | StoreError::TooManyKeys | StoreError::TooLarge(_) => {
            Status::invalid_argument(format!("RUMI-VAL-002: {e}"))
        }
        StoreError::Exists => Status::already_exists(format!("RUMI-VAL-002: {e}")),
        StoreError::QuotaExceeded { .. } => Status::resource_exhausted(format!("RUMI-VAL-002: {e}")),
        StoreError::NotFound => Status::not_found(format!("RUMI-VAL-006: {e}")),
        StoreError::Db(_) => {
            tracing::error!(error = %e, "store database failure");
            Status::internal("RUMI-SYS-001: store database failure")
        }
    }
}

#[tonic::async_trait]
impl Helper for Control {
    async fn hello(&self, req: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        helper::check_peer(&req, self.state.config.control_uid, &self.state.audit)?;
        self.state.auth.hello(&req.get_ref().client_nonce).map(Response::new)
    }

    async fn push_policy(&self, req: Request<PolicySnapshot>) -> Result<Response<PushAck>, Status> {
        self.check_peer(&req)?;
        let (snapshot, refused) = match self.state.gate.admit(req.into_inner(), &self.state.audit) {
            Admit::Install(s) => (s, None),
            Admit::Restrict(s, status) => (s, Some(status)),
        };
        let version = snapshot.version;
        let pack_uids = snapshot.pack_uids.clone();
        let policy = Arc::new(Policy::from_snapshot(snapshot));
        self.state.secret_limiter.set_rate(policy.secret_rate);
        self.state.policy.store(Some(policy.clone()));
        let wanted: BTreeMap<String, String> = policy
            .principals()
            .into_iter()
            .map(|p| {
                let name = socket_name(&p);
                (p, name)
            })
            .collect();
        let sockets = {
            let state = self.state.clone();
            let mut set = self.state.sockets.lock().unwrap_or_else(|p| p.into_inner());
            // A principal's connections come from its root pack's containers.
            let uids: std::collections::HashMap<String, u32> = wanted
                .keys()
                .filter_map(|p| pack_uids.get(crate::policy::root_pack(p)).map(|u| (p.clone(), *u)))
                .collect();
            set.reconcile(&wanted, &uids, &self.state.audit, move |principal, stream| {
                crate::listener::serve(state.clone(), principal, stream)
            })
        };
        tracing::info!(policy_version = version, sockets, "policy installed");
        if let Some(status) = refused {
            return Err(status);
        }
        Ok(Response::new(PushAck {
            version,
            sockets: sockets as u32,
        }))
    }

    async fn health(&self, req: Request<HealthRequest>) -> Result<Response<HealthReply>, Status> {
        self.check_peer(&req)?;
        let version = self.state.policy.load_full().map(|p| p.version);
        let (sockets, conns) = {
            let set = self.state.sockets.lock().unwrap_or_else(|p| p.into_inner());
            (set.len(), set.conns().clone())
        };
        Ok(Response::new(helper::health_reply(
            version,
            sockets,
            &self.state.audit,
            &self.state.frames,
            &conns,
        )))
    }

    type AuditStreamStream = ReceiverStream<Result<AuditRecord, Status>>;

    async fn audit_stream(
        &self,
        req: Request<AuditStreamRequest>,
    ) -> Result<Response<Self::AuditStreamStream>, Status> {
        self.check_peer(&req)?;
        Ok(Response::new(helper::audit_stream(&self.state.audit)))
    }
}

#[tonic::async_trait]
impl SecretsAdmin for Control {
    async fn list_secrets(&self, req: Request<ListSecretsRequest>) -> Result<Response<ListSecretsReply>, Status> {
        self.check_peer(&req)?;
        let keys = self
            .blocking(|s| s.secrets.list())
            .await?
            .into_iter()
            .map(|m| SecretMeta {
                key: m.key,
                exists: m.exists,
                deleted: m.deleted,
                created_at: m.created_at,
                updated_at: m.updated_at,
                deleted_at: m.deleted_at.unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(ListSecretsReply { keys }))
    }

    async fn set_secret(&self, req: Request<SetSecretRequest>) -> Result<Response<SetSecretReply>, Status> {
        self.check_peer(&req)?;
        let SetSecretRequest { key, value } = req.into_inner();
        let k = key.clone();
        let result = self.blocking(move |s| s.secrets.set(&k, &Secret(value))).await?;
        self.audit_admin("secret_set", &key, result.is_ok());
        let created = result.map_err(|e| secrets_status(&e))?;
        Ok(Response::new(SetSecretReply { created }))
    }

    async fn delete_secret(&self, req: Request<DeleteSecretRequest>) -> Result<Response<DeleteSecretReply>, Status> {
        self.check_peer(&req)?;
        let key = req.into_inner().key;
        let k = key.clone();
        let result = self.blocking(move |s| s.secrets.delete(&k)).await?;
        self.audit_admin("secret_deleted", &key, result.is_ok());
        result.map_err(|e| secrets_status(&e))?;
        Ok(Response::new(DeleteSecretReply {}))
    }
}

#[tonic::async_trait]
impl StoresAdmin for Control {
    async fn list_stores(&self, req: Request<ListStoresRequest>) -> Result<Response<ListStoresReply>, Status> {
        self.check_peer(&req)?;
        let stores = self
            .blocking(|s| s.stores.list())
            .await?
            .map_err(|e| store_status(&e))?;
        Ok(Response::new(ListStoresReply {
            stores: stores
                .into_iter()
                .map(|s| StoreInfo {
                    store_id: s.store_id,
                    owner_pack: s.owner_pack,
                    created_at: s.created_at,
                    keys: s.keys,
                })
                .collect(),
        }))
    }

    async fn create_store(&self, req: Request<CreateStoreRequest>) -> Result<Response<StoreInfo>, Status> {
        self.check_peer(&req)?;
        let r = req.into_inner();
        let s = self
            .blocking(move |s| s.stores.create(&r.store_id, &r.owner_pack))
            .await?
            .map_err(|e| store_status(&e))?;
        Ok(Response::new(StoreInfo {
            store_id: s.store_id,
            owner_pack: s.owner_pack,
            created_at: s.created_at,
            keys: s.keys,
        }))
    }
}
