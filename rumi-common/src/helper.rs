//! Control-plane plumbing shared by the helper daemons (feature `helper`).
//!
//! - [`audit`]: the bounded audit records a helper queues for rumid's `AuditStream` (rumid
//!   is the one audit writer), with the per-pack refusal limiter.
//! - [`FrameBudgets`]: the bounds on bytes buffered from pack sockets, per pack and per
//!   helper ([`crate::framing`] charges them).
//! - [`conns`]: the one accept loop of every socket, with per-pack connection caps, idle
//!   timeouts and quiet back-off.
//! - [`check_peer`]: only rumid's uid may call the control service (SO_PEERCRED), and
//!   [`auth`]: only the rumid holding the instance's control key.
//! - [`watch_parent`]: a spawned helper exits when the rumid that spawned it is gone.

pub mod audit;
pub mod auth;
pub mod conns;
pub mod gate;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tonic::{Request, Status};

pub use audit::{AuditBus, BoundedRecord, Event, audit_stream};
pub use auth::{ControlAuth, KeySource};
pub use conns::{Conn, ConnBudget, ConnLimits};
pub use gate::{Admit, PolicyGate};

use crate::framing::{ByteBudget, Lease};

/// Bytes buffered from pack sockets, bounded per pack and for the whole helper.
///
/// # Security
/// A pack that opens many connections and sends frames slowly (or never finishes them)
/// holds at most `per_pack` bytes, and all packs together at most `total`; a frame that
/// would pass either bound is refused, so one pack can neither exhaust the helper's memory
/// nor take the share of the others beyond `total - per_pack`.
pub struct FrameBudgets {
    total: Arc<ByteBudget>,
    per_pack: usize,
    packs: Mutex<HashMap<String, Arc<ByteBudget>>>,
}

// === impl FrameBudgets ===

impl FrameBudgets {
    pub fn new(per_pack: usize, total: usize) -> Self {
        Self {
            total: ByteBudget::new(total),
            per_pack,
            packs: Mutex::default(),
        }
    }

    /// A lease for one connection of `pack`, charged to the pack's and the helper's budget.
    pub fn lease(&self, pack: &str) -> Lease {
        let mut packs = self.packs.lock().unwrap_or_else(|p| p.into_inner());
        // Forget idle packs so the map holds only packs with bytes in flight.
        if packs.len() > 1024 {
            packs.retain(|_, b| b.used() > 0 || Arc::strong_count(b) > 1);
        }
        let mine = packs
            .entry(pack.to_owned())
            .or_insert_with(|| ByteBudget::new(self.per_pack))
            .clone();
        Lease::on(vec![mine, self.total.clone()])
    }

    /// Bytes buffered right now, all packs together.
    pub fn buffered(&self) -> usize {
        self.total.used()
    }
}

/// Refuses a control call unless the peer's uid is `allowed` (audited when refused).
///
/// # Errors
/// `PERMISSION_DENIED` for any other caller, including one whose credentials are unknown.
///
/// # Security
/// The socket's mode is not the only barrier: the kernel-reported uid of the peer is checked
/// on every call.
pub fn check_peer<T>(req: &Request<T>, allowed: u32, audit: &AuditBus) -> Result<(), Status> {
    let uid = req
        .extensions()
        .get::<tonic::transport::server::UdsConnectInfo>()
        .and_then(|i| i.peer_cred)
        .map(|c| c.uid());
    if uid == Some(allowed) {
        return Ok(());
    }
    let mut details = Map::new();
    details.insert("peer_uid".into(), uid.map_or(Value::Null, Into::into));
    audit.security("control_peer_refused", "critical", "", details);
    tracing::warn!(?uid, "control call from a refused peer");
    Err(Status::permission_denied("caller is not rumid"))
}

/// The reply to a health call: whether a policy is held, its version, the pid, how many
/// sockets and pack connections are open, the audit queue's losses and the bytes buffered
/// from pack sockets.
pub fn health_reply(
    policy_version: Option<u64>,
    sockets: usize,
    audit: &AuditBus,
    frames: &FrameBudgets,
    conns: &ConnBudget,
) -> rumi_proto::control::HealthReply {
    rumi_proto::control::HealthReply {
        has_policy: policy_version.is_some(),
        policy_version: policy_version.unwrap_or(0),
        pid: std::process::id(),
        sockets: u32::try_from(sockets).unwrap_or(u32::MAX),
        audit_dropped: audit.dropped(),
        audit_suppressed: audit.suppressed(),
        frame_bytes_buffered: frames.buffered() as u64,
        connections: u32::try_from(conns.open()).unwrap_or(u32::MAX),
        connections_refused: conns.refused(),
    }
}

/// Aborts the process once its parent is no longer `ppid` (polling `getppid`; a
/// parent-death signal would fire when the *thread* that spawned us exits).
pub async fn watch_parent(ppid: i32) {
    loop {
        if nix::unistd::getppid().as_raw() != ppid {
            tracing::error!(ppid, "parent rumid is gone; exiting");
            std::process::abort();
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// One listening socket per identity (pack or principal), opened and closed as policy
/// changes.
///
/// # Security
/// The identity of a caller is the socket that accepted the connection, never anything in
/// the request: each accept loop is bound to one id. A socket exists only while its id is in
/// the current policy. When the policy gives an id's pack a uid of its own, a connection is
/// served only if its peer (SO_PEERCRED) is that uid or rumid's (`trusted_uid`): a socket
/// that reached the wrong container is useless there. Refusals are audited as
/// `<prefix>_peer_refused`. Every connection then needs a permit of the helper's
/// [`ConnBudget`] (its pack's share and the total): past either it is answered `busy` and
/// closed at once, audited `<prefix>_connection_refused` (rate limited per pack).
pub struct SocketSet {
    dir: std::path::PathBuf,
    mode: u32,
    gid: Option<u32>,
    /// Prefix of audit actions, e.g. `egress_proxy`.
    prefix: &'static str,
    /// rumid's uid, always accepted (permissive host runs, flow `function` steps).
    trusted_uid: u32,
    /// The uid each id's connections must come from (absent: no check).
    peers: std::sync::Arc<std::sync::RwLock<std::collections::HashMap<String, u32>>>,
    /// The open pack connections of the helper, bounded per pack and in all.
    conns: Arc<ConnBudget>,
    /// Each open socket: its path, its file's identity and its accept task.
    by_id: std::collections::HashMap<String, (std::path::PathBuf, crate::uds::FileId, tokio::task::JoinHandle<()>)>,
}

impl SocketSet {
    pub fn new(
        dir: std::path::PathBuf,
        mode: u32,
        gid: Option<u32>,
        prefix: &'static str,
        trusted_uid: u32,
        conns: Arc<ConnBudget>,
    ) -> Self {
        Self {
            dir,
            mode,
            gid,
            prefix,
            trusted_uid,
            peers: std::sync::Arc::default(),
            conns,
            by_id: std::collections::HashMap::new(),
        }
    }

    /// The helper's connection budget.
    pub fn conns(&self) -> &Arc<ConnBudget> {
        &self.conns
    }

    /// Removes every stale `*.sock` in the directory (at start: nothing may look alive before
    /// a policy arrives). A socket a live process holds (another instance's helper) is left
    /// alone and logged; binding that path later fails, naming the holder.
    pub fn clear_dir(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().ends_with(".sock")
                && let Err(err) = crate::uds::remove_stale(&e.path())
            {
                tracing::warn!(socket = %e.path().display(), error = %err, "socket left in place");
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Opens sockets for new ids (`id → socket file name`) and closes the others; each
    /// accepted connection whose peer is allowed (`uids`: id → the only uid besides rumid's
    /// that may connect) is handed to `serve` with the id of its socket. Returns the number
    /// of open sockets.
    pub fn reconcile<F, Fut>(
        &mut self,
        wanted: &std::collections::BTreeMap<String, String>,
        uids: &std::collections::HashMap<String, u32>,
        audit: &AuditBus,
        serve: F,
    ) -> usize
    where
        F: Fn(String, Conn) -> Fut + Clone + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        *self.peers.write().unwrap_or_else(|p| p.into_inner()) = uids.clone();
        let gone: Vec<String> = self
            .by_id
            .keys()
            .filter(|id| !wanted.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some((path, file, handle)) = self.by_id.remove(&id) {
                // The file first, while the listener still holds it: nobody else can have
                // bound the path in between.
                crate::uds::Bound::remove(&path, file);
                handle.abort();
                tracing::info!(id = %id, "socket closed");
            }
        }
        for (id, file) in wanted {
            if self.by_id.contains_key(id) {
                continue;
            }
            let path = self.dir.join(file);
            match crate::uds::bind(&path, self.mode, self.gid) {
                Ok(bound) => {
                    let (file, stale) = (bound.file, bound.stale);
                    let listener = bound.listener;
                    if let Some(&uid) = uids.get(id) {
                        self.give_to(id, &path, uid, audit);
                    }
                    if stale == crate::uds::Stale::Symlink {
                        let mut d = Map::new();
                        d.insert("socket".into(), Value::String(path.display().to_string()));
                        audit.security(&format!("{}_symlink_detected", self.prefix), "warning", id, d);
                    }
                    let serve = serve.clone();
                    let owner = id.clone();
                    let peers = self.peers.clone();
                    let trusted = self.trusted_uid;
                    let audit = audit.clone();
                    let refused = format!("{}_peer_refused", self.prefix);
                    let over = format!("{}_connection_refused", self.prefix);
                    let conns = self.conns.clone();
                    let handle = tokio::spawn(async move {
                        let pack = owner.split("__").next().unwrap_or(&owner).to_owned();
                        let mut errors = conns::AcceptErrors::new(owner.clone());
                        loop {
                            let stream = conns::accept(&listener, &mut errors).await;
                            let expected = peers.read().unwrap_or_else(|p| p.into_inner()).get(&owner).copied();
                            let peer = stream.peer_cred().map(|c| c.uid()).ok();
                            let allowed = match expected {
                                None => true,
                                Some(uid) => peer.is_some_and(|p| p == uid || p == trusted),
                            };
                            if !allowed {
                                let mut d = Map::new();
                                d.insert("peer_uid".into(), peer.map_or(Value::Null, Value::from));
                                d.insert("expected_uid".into(), expected.map_or(Value::Null, Value::from));
                                audit.security(&refused, "warning", &pack, d);
                                drop(stream);
                                continue;
                            }
                            match conns.try_acquire(&pack) {
                                Ok(permit) => {
                                    let idle = conns.limits().idle;
                                    tokio::spawn(serve(owner.clone(), Conn::new(stream, permit, idle)));
                                }
                                Err(why) => {
                                    // Answered and closed at once: the descriptor is back
                                    // before the next accept. Not logged: the audit line
                                    // is rate limited per pack and summarised.
                                    let limits = conns.limits();
                                    let mut d = Map::new();
                                    d.insert("bound".into(), Value::from(why.as_str()));
                                    d.insert(
                                        "limit".into(),
                                        Value::from(match why {
                                            conns::Refusal::Pack => limits.per_pack,
                                            conns::Refusal::Helper => limits.total,
                                        }),
                                    );
                                    d.insert("open".into(), Value::from(conns.open_of(&pack)));
                                    audit.security(&over, "warning", &pack, d);
                                    conns::refuse(stream, why);
                                }
                            }
                        }
                    });
                    tracing::info!(id = %id, socket = %path.display(), "socket open");
                    self.by_id.insert(id.clone(), (path, file, handle));
                }
                Err(e) => {
                    tracing::error!(id = %id, socket = %path.display(), %e, "cannot bind socket");
                    let mut d = Map::new();
                    d.insert("error".into(), Value::String(e.to_string()));
                    audit.security(&format!("{}_socket_failed", self.prefix), "error", id, d);
                }
            }
        }
        self.by_id.len()
    }

    /// Lets the pack's own uid open its socket, so a sandbox running as that uid needs no
    /// socket group: as root the socket is given to the uid (chown); otherwise, as the
    /// socket's owner, the helper adds an ACL entry `user:<uid>:rw-` (see
    /// [`crate::acl`]). A failure is logged and audited as `<prefix>_socket_acl_failed`: the
    /// pack's sandbox then reaches the socket only through a socket group, and rumid's
    /// `sockets` health probe (and `rumi-ctl setup doctor`) report it.
    fn give_to(&self, id: &str, path: &std::path::Path, uid: u32, audit: &AuditBus) {
        let result = if nix::unistd::geteuid().is_root() {
            nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(uid)), None).map_err(std::io::Error::from)
        } else {
            crate::acl::grant_user(path, self.mode, uid)
        };
        if let Err(e) = result {
            tracing::error!(
                id = %id,
                uid,
                socket = %path.display(),
                error = %e,
                "cannot let the pack's uid open its socket; its sandbox needs a socket group (RUMI_*_SOCKET_GID) or a file system with POSIX ACLs"
            );
            let mut d = Map::new();
            d.insert("socket".into(), Value::String(path.display().to_string()));
            d.insert("uid".into(), Value::from(uid));
            d.insert("error".into(), Value::String(e.to_string()));
            let pack = id.split("__").next().unwrap_or(id);
            audit.security(&format!("{}_socket_acl_failed", self.prefix), "error", pack, d);
        }
    }

    /// Closes every socket.
    pub fn close_all(&mut self) {
        for (_, (path, file, handle)) in self.by_id.drain() {
            crate::uds::Bound::remove(&path, file);
            handle.abort();
        }
    }
}

/// The whole `main` of a helper daemon: report configuration errors (exit 2), set up
/// logging, build a two-worker runtime, run until shutdown (exit 0) or failure (exit 1).
pub fn main<C, F, Fut, E>(
    name: &str,
    config: Result<C, Vec<crate::env::EnvError>>,
    log: impl FnOnce(
        &C,
    ) -> (
        crate::telemetry::LogFormat,
        crate::telemetry::LogLevel,
        Option<crate::telemetry::JournalStream>,
    ),
    run: F,
) -> std::process::ExitCode
where
    F: FnOnce(C) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    use std::process::ExitCode;
    let config = match config {
        Ok(c) => c,
        Err(errors) => {
            crate::telemetry::print_stderr(&format!("{name}: invalid configuration:"));
            for e in errors {
                crate::telemetry::print_stderr(&format!("  {e}"));
            }
            return ExitCode::from(2);
        }
    };
    let (format, level, journal) = log(&config);
    let _log = crate::telemetry::init(format, level, journal.as_ref(), name);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            crate::telemetry::print_stderr(&format!("{name}: cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            crate::telemetry::print_stderr(&format!("{name}: {e}"));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_says_whether_a_policy_is_held() {
        let (bus, frames) = (AuditBus::default(), FrameBudgets::new(1, 1));
        let conns = ConnBudget::new(ConnLimits {
            per_pack: 1,
            total: 2,
            idle: std::time::Duration::from_secs(1),
        });
        let h = health_reply(None, 0, &bus, &frames, &conns);
        assert!(!h.has_policy && h.policy_version == 0);
        assert!(health_reply(Some(7), 3, &bus, &frames, &conns).has_policy);
    }
}
