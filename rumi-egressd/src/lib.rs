//! rumi-egressd: the only process of Rumi with outbound network.
//!
//! It serves one Unix socket per approved pack (`{RUMI_EGRESS_SOCK_DIR}/{pack_id}.sock`); the
//! socket a request arrives on *is* the pack's identity. Each request is checked in this
//! order: method allowlist, URL, the pack's network grant, the rate limit, DNS resolution
//! with every answer checked against the address deny table ([`ssrf`]), then a connection to
//! the checked address (never a second lookup), with redirects re-checked hop by hop.
//!
//! It holds no state on disk. Policy comes from rumid over the control socket
//! ([`control`]); until the first snapshot arrives no pack socket exists (fail closed).
//! Audit events go back to rumid over the same control connection ([`audit`]).
#![forbid(unsafe_code)]

pub mod config;
pub mod control;
pub mod listener;
pub mod policy;
pub mod proxy;
pub mod ssrf;

use std::future::Future;
use std::sync::Arc;

use rumi_proto::control::helper_server::HelperServer;
use serde_json::json;

use crate::config::Config;

/// Why the helper could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot prepare {what} {path}: {source}")]
    Socket {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("control server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// Runs until `shutdown` resolves.
///
/// # Errors
/// [`RunError`] when a socket cannot be prepared or the control server fails.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), RunError> {
    let audit = rumi_common::helper::AuditBus::new(config.limits.audit_refusals_per_second);
    tokio::spawn(audit.clone().run_summaries());
    let sock_err = |what, path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| RunError::Socket { what, path, source }
    };
    // The control socket first: a helper whose path another live helper holds (a second
    // instance on the same paths) stops here, before it touches any pack socket.
    if let Some(parent) = config.control_socket.parent() {
        std::fs::create_dir_all(parent).map_err(sock_err("control directory", parent))?;
    }
    let (control, _control_lock) = rumi_common::uds::bind_locked(&config.control_socket, 0o660, None)
        .map_err(sock_err("control socket", &config.control_socket))?;
    rumi_common::uds::prepare_dir(&config.sock_dir, config.socket_gid)
        .map_err(sock_err("socket directory", &config.sock_dir))?;

    if !config.allow_cidrs.is_empty() {
        let ranges: Vec<String> = config.allow_cidrs.iter().map(ToString::to_string).collect();
        tracing::warn!(ranges = ?ranges, "RUMI_EGRESS_ALLOW_CIDRS is set: these ranges bypass the SSRF deny table; never use this outside tests");
        let mut details = serde_json::Map::new();
        details.insert("ranges".into(), json!(ranges));
        audit.security("egress_allow_cidrs_set", "critical", "", details);
    }
    if let Some(ppid) = config.parent_pid {
        tokio::spawn(rumi_common::helper::watch_parent(ppid));
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        control = %config.control_socket.display(),
        sock_dir = %config.sock_dir.display(),
        "rumi-egressd started; waiting for policy"
    );

    let conns = fitted_connections(&config);
    let state = Arc::new(control::State::new(config, audit, conns));
    // Sockets left by a previous process serve nobody; remove them so nothing looks alive
    // before this process holds a policy.
    state.clear_stale();
    rumi_common::notify::ready();
    rumi_common::notify::spawn_watchdog();
    let svc = control::Control::new(state.clone());
    tonic::transport::Server::builder()
        .add_service(HelperServer::new(svc))
        .serve_with_incoming_shutdown(rumi_common::helper::conns::control_incoming(control.listener), shutdown)
        .await?;
    state.shutdown();
    rumi_common::uds::Bound::remove(&control.path, control.file);
    tracing::info!("rumi-egressd stopped");
    Ok(())
}

/// Descriptors one pack connection may cost: a pack connection, the upstream connection of its request and a DNS lookup.
const FDS_PER_CONNECTION: u64 = 3;

/// The connection budget, fitted to the open-file limit.
fn fitted_connections(config: &Config) -> Arc<rumi_common::helper::ConnBudget> {
    let wanted = rumi_common::helper::ConnLimits::configured(&config.limits);
    rumi_common::helper::conns::fitted_budget(wanted, FDS_PER_CONNECTION)
}
