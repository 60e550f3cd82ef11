//! rumi-capd: the capability helper. It has no network.
//!
//! It serves one Unix socket per principal; the socket a call arrives on *is* the caller's
//! identity. A call is allowed only when the principal's pack is approved, the permission is
//! granted at every level of the principal (configs intersected), and — for handlers that
//! are not built in — the installed handler still hashes to its trusted sha256. It owns the
//! data it guards: secrets (Fernet, [`secrets`]) and stores (SQLite, [`stores`]); rumid
//! reaches them only through the admin services on the control socket ([`control`]).
//! Policy comes from rumid; until the first snapshot no principal socket exists.
#![forbid(unsafe_code)]

pub mod builtin;
pub mod capability;
pub mod config;
pub mod control;
pub mod handler;
pub mod listener;
pub mod policy;
pub mod secrets;
pub mod stores;

use std::future::Future;
use std::sync::Arc;

use rumi_proto::control::helper_server::HelperServer;
use rumi_proto::control::secrets_admin_server::SecretsAdminServer;
use rumi_proto::control::stores_admin_server::StoresAdminServer;

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot prepare {what} {path}: {source}")]
    Socket {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Secrets(#[from] secrets::SecretsError),
    #[error("cannot open the store database: {0}")]
    Stores(#[from] stores::StoreError),
    #[error("control server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// Runs until `shutdown` resolves.
///
/// # Errors
/// [`RunError`] when sockets, the secrets key or the store database cannot be prepared.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), RunError> {
    let audit = rumi_common::helper::AuditBus::new(config.limits.audit_refusals_per_second);
    tokio::spawn(audit.clone().run_summaries());
    let sock_err = |what, path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| RunError::Socket { what, path, source }
    };
    // The control socket first: a helper whose path another live helper holds (a second
    // instance on the same paths) stops here, before it touches secrets, stores or any
    // principal socket.
    if let Some(parent) = config.control_socket.parent() {
        std::fs::create_dir_all(parent).map_err(sock_err("control directory", parent))?;
    }
    let (control, _control_lock) = rumi_common::uds::bind_locked(&config.control_socket, 0o660, None)
        .map_err(sock_err("control socket", &config.control_socket))?;
    let secrets = secrets::Secrets::open(&config)?;
    let stores_dir = config.home.join("user_data/stores");
    rumi_common::fs::ensure_dir(&stores_dir, 0o700).map_err(sock_err("store directory", &stores_dir))?;
    let stores = stores::Stores::open(
        &stores_dir,
        stores::Quota {
            bytes: config.limits.store_quota_bytes,
            keys: config.limits.store_quota_keys,
        },
    )?;
    rumi_common::uds::prepare_dir(&config.sock_dir, config.socket_gid)
        .map_err(sock_err("socket directory", &config.sock_dir))?;
    if let Some(ppid) = config.parent_pid {
        tokio::spawn(rumi_common::helper::watch_parent(ppid));
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        control = %config.control_socket.display(),
        sock_dir = %config.sock_dir.display(),
        "rumi-capd started; waiting for policy"
    );
    let conns = fitted_connections(&config);
    let state = Arc::new(control::State::new(config, audit, secrets, stores, conns));
    state.clear_stale();
    rumi_common::notify::ready();
    rumi_common::notify::spawn_watchdog();
    let svc = control::Control::new(state.clone());
    tonic::transport::Server::builder()
        .add_service(HelperServer::new(svc.clone()))
        .add_service(SecretsAdminServer::new(svc.clone()))
        .add_service(StoresAdminServer::new(svc))
        .serve_with_incoming_shutdown(rumi_common::helper::conns::control_incoming(control.listener), shutdown)
        .await?;
    state.shutdown();
    rumi_common::uds::Bound::remove(&control.path, control.file);
    tracing::info!("rumi-capd stopped");
    Ok(())
}

/// Descriptors one pack connection may cost: a principal connection and the three pipes of the handler its call may start.
const FDS_PER_CONNECTION: u64 = 4;

/// The connection budget, fitted to the open-file limit.
fn fitted_connections(config: &Config) -> Arc<rumi_common::helper::ConnBudget> {
    let wanted = rumi_common::helper::ConnLimits::configured(&config.limits);
    rumi_common::helper::conns::fitted_budget(wanted, FDS_PER_CONNECTION)
}
