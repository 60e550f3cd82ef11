//! The control service rumid talks to: policy push, health, audit stream.
//!
//! # Security
//! Only the configured uid (rumid's) may call: the peer's credentials (SO_PEERCRED) are
//! checked on every call, so the socket's mode is not the only barrier.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use rumi_proto::control::helper_server::Helper;
use rumi_proto::control::{
    AuditRecord, AuditStreamRequest, HealthReply, HealthRequest, HelloReply, HelloRequest, PolicySnapshot, PushAck,
};
use tokio::sync::Semaphore;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::config::Config;
use crate::policy::Policy;
use crate::proxy::Proxy;
use crate::ssrf::AddrPolicy;
use rumi_common::helper::{self, Admit, AuditBus, ConnBudget, ControlAuth, FrameBudgets, PolicyGate, SocketSet};

/// Everything the helper holds in memory.
pub struct State {
    pub config: Config,
    pub audit: AuditBus,
    pub policy: ArcSwapOption<Policy>,
    pub proxy: Proxy,
    /// Bytes buffered from pack sockets (per pack and in all).
    pub frames: FrameBudgets,
    /// The control key check of every control call.
    pub auth: ControlAuth,
    /// The raw snapshot held, for deciding about the next push.
    gate: PolicyGate,
    sockets: Mutex<SocketSet>,
    in_flight: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Requests one pack may have in flight at once; more get `pool_exhausted`.
pub const MAX_IN_FLIGHT_PER_PACK: usize = 20;

impl State {
    pub fn new(config: Config, audit: AuditBus, conns: Arc<ConnBudget>) -> Self {
        let proxy = Proxy::new(AddrPolicy::new(config.allow_cidrs.clone()));
        let sockets = SocketSet::new(
            config.sock_dir.clone(),
            config.socket_mode,
            config.socket_gid,
            "egress_proxy",
            config.control_uid,
            conns,
        );
        let frames = FrameBudgets::new(config.limits.frame_buffer_per_pack, config.limits.frame_buffer_total);
        let auth = ControlAuth::new(config.control_key.clone());
        Self {
            config,
            audit,
            policy: ArcSwapOption::empty(),
            proxy,
            frames,
            auth,
            gate: PolicyGate::default(),
            sockets: Mutex::new(sockets),
            in_flight: Mutex::default(),
        }
    }

    /// The semaphore bounding one pack's concurrent requests.
    pub fn slots(&self, pack: &str) -> Arc<Semaphore> {
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(pack.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_PACK)))
            .clone()
    }

    /// Removes every pack socket left by a previous process.
    pub fn clear_stale(&self) {
        self.sockets.lock().unwrap_or_else(|p| p.into_inner()).clear_dir();
    }

    /// Removes every pack socket.
    pub fn shutdown(&self) {
        self.sockets.lock().unwrap_or_else(|p| p.into_inner()).close_all();
    }
}

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
        self.state.proxy.set_rate(policy.rate_per_minute);
        // Install the policy before opening sockets, so a new socket never serves without it;
        // closing sockets of packs that lost approval happens in the same step.
        self.state.policy.store(Some(policy.clone()));
        let sockets = {
            let state = self.state.clone();
            let mut set = self.state.sockets.lock().unwrap_or_else(|p| p.into_inner());
            let uids: std::collections::HashMap<String, u32> = pack_uids.into_iter().collect();
            set.reconcile(
                &crate::listener::wanted(&policy.approved),
                &uids,
                &self.state.audit,
                move |pack, stream| crate::listener::serve(state.clone(), pack, stream),
            )
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
