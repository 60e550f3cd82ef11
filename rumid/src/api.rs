//! The operator HTTP API: routing, the JSON envelope, and the layers every request passes.
//!
//! Layers, outermost first: request id (a span and an `x-request-id` header on every
//! response) → CORS (only for `RUMI_CORS_ORIGINS`) → bearer auth (everything except
//! `GET /health`) → body limit → handler. Handlers are thin: extract, call one domain
//! function, wrap the result in the envelope
//! `{"success": true, "data": …}` / `{"success": false, "error": {code, message, suggestion, request_id}}`.

mod auth;
pub(crate) mod capability;
mod console;
mod envelope;
mod flows;
mod health;
mod network;
mod packs;
mod pip;
mod privileges;
mod secrets;
mod stores;
mod units;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use rumi_common::token::ApiToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument;

pub use self::envelope::{AppJson, ok};
use crate::approval::Packs;
use crate::audit::Audit;
use crate::config::Config;
use crate::error::Error;
use crate::grants::capability::CapabilityGrants;
use crate::grants::network::NetworkGrants;
use crate::grants::stores::StoreShares;
use crate::metrics::Metrics;
use crate::supervisor::SupervisorHandle;

/// Response header carrying the request id.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Everything handlers need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub token: Arc<ApiToken>,
    pub packs: Arc<Packs>,
    pub flows: Arc<crate::flow::FlowEngine>,
    pub audit: Audit,
    pub metrics: Arc<Metrics>,
    pub probe_cache: Arc<health::ProbeCache>,
    pub grants: Arc<NetworkGrants>,
    pub capability: Arc<CapabilityGrants>,
    pub shares: Arc<StoreShares>,
    pub handlers: Arc<crate::handlers::Handlers>,
    pub helpers: Arc<Vec<SupervisorHandle>>,
    pub policy: Arc<crate::policy::PolicyHub>,
    pub privileges: Arc<crate::privileges::Privileges>,
    pub pip: Arc<crate::pip::Pip>,
    pub units: Arc<crate::units::Units>,
}

impl AppState {
    /// The control channel of a helper, if it is up.
    ///
    /// # Errors
    /// [`Error::HelperUnavailable`].
    pub fn helper(&self, name: &'static str) -> Result<tonic::transport::Channel, Error> {
        self.helpers
            .iter()
            .find(|h| h.name == name)
            .ok_or(Error::HelperUnavailable { helper: name })?
            .channel()
    }
}

tokio::task_local! {
    static REQUEST_ID: String;
}

thread_local! {
    static BLOCKING_REQUEST_ID: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The id of the HTTP request being served, in async handlers and in [`blocking`] closures.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID
        .try_with(Clone::clone)
        .ok()
        .or_else(|| BLOCKING_REQUEST_ID.with(|c| c.borrow().clone()))
}

/// Runs blocking domain work (file I/O, hashing) off the async workers, keeping the
/// request id visible to audit events inside it.
///
/// # Errors
/// The closure's error, or [`Error::Task`] if it panicked.
pub async fn blocking<T, F>(f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    let id = current_request_id();
    tokio::task::spawn_blocking(move || {
        BLOCKING_REQUEST_ID.with(|c| *c.borrow_mut() = id);
        let out = f();
        BLOCKING_REQUEST_ID.with(|c| *c.borrow_mut() = None);
        out
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))?
}

/// Builds the router with every layer. `main` never builds routes; tests call this.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_request_body_bytes;
    let mut app = Router::new()
        .route("/health", get(health::public))
        .route("/api/health", get(health::detail))
        .route("/console", get(console::page))
        .route("/console/app.js", get(console::script))
        .route("/console/app.css", get(console::style))
        .route("/api/audit/recent", get(console::recent))
        .route("/metrics", get(health::metrics))
        .route("/api/packs", get(packs::list))
        .route("/api/packs/pending", get(packs::pending))
        .route("/api/packs/scan", post(packs::scan))
        .route("/api/packs/import", post(packs::import))
        .route("/api/packs/apply", post(packs::apply))
        .route("/api/packs/staging", get(packs::staging))
        .route("/api/packs/staging/{staging_id}", delete(packs::discard))
        .route("/api/packs/{pack_id}/status", get(packs::status))
        .route("/api/packs/{pack_id}/approve", post(packs::approve))
        .route("/api/packs/{pack_id}/reject", post(packs::reject))
        .route("/api/packs/{pack_id}", delete(packs::uninstall))
        .route("/api/pip/candidates/scan", post(pip::scan))
        .route("/api/pip/requests", get(pip::requests))
        .route("/api/pip/requests/{key}/approve", post(pip::approve))
        .route("/api/pip/requests/{key}/reject", post(pip::reject))
        .route("/api/pip/blocked", get(pip::blocked))
        .route("/api/pip/blocked/{key}/unblock", post(pip::unblock))
        .route("/api/units", get(units::list))
        .route("/api/units/publish", post(units::publish))
        .route("/api/units/execute", post(units::execute))
        .route("/api/privileges", get(privileges::list))
        .route(
            "/api/privileges/{pack_id}/grant/{privilege_id}",
            post(privileges::grant),
        )
        .route(
            "/api/privileges/{pack_id}/revoke/{privilege_id}",
            post(privileges::revoke),
        )
        .route(
            "/api/privileges/{pack_id}/execute/{privilege_id}",
            post(privileges::execute),
        )
        .route("/api/flows", get(flows::list))
        .route("/api/flows/reload", post(flows::reload))
        .route("/api/flows/{flow_id}/run", post(flows::run))
        .route("/api/docker/status", get(flows::docker_status))
        .route("/api/containers", get(flows::containers))
        .route("/api/containers/{pack_id}", delete(flows::remove_containers))
        .route("/api/containers/{pack_id}/start", post(flows::start_container))
        .route("/api/containers/{pack_id}/stop", post(flows::stop_container))
        .route("/api/network/list", get(network::list))
        .route("/api/network/grant", post(network::grant))
        .route("/api/network/revoke", post(network::revoke))
        .route("/api/network/check", post(network::check))
        .route("/api/secrets", get(secrets::list))
        .route("/api/secrets/set", post(secrets::set))
        .route("/api/secrets/delete", post(secrets::delete))
        .route("/api/stores", get(stores::list))
        .route("/api/stores/create", post(stores::create))
        .route("/api/stores/shared", get(stores::shared))
        .route("/api/stores/shared/approve", post(stores::share_approve))
        .route("/api/stores/shared/revoke", post(stores::share_revoke))
        .route("/api/capability/candidates/scan", post(capability::scan))
        .route("/api/capability/requests", get(capability::requests))
        .route("/api/capability/requests/{key}/approve", post(capability::approve))
        .route("/api/capability/requests/{key}/reject", post(capability::reject))
        .route("/api/capability/blocked", get(capability::blocked))
        .route("/api/capability/blocked/{key}/unblock", post(capability::unblock))
        .route("/api/capability/grants", get(capability::list))
        .route("/api/capability/grants/grant", post(capability::grant))
        .route("/api/capability/grants/revoke", post(capability::revoke))
        .route("/api/capability/grants/batch", post(capability::batch))
        .route("/api/routes", get(flows::routes))
        .route("/api/routes/reload", post(flows::reload_routes))
        .fallback(flows::dispatch)
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), envelope::limit_body))
        .layer(middleware::from_fn_with_state(state.clone(), auth::require_token));
    if !state.config.cors_origins.is_empty() {
        app = app.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(state.config.cors_origins.clone()))
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .expose_headers([REQUEST_ID_HEADER]),
        );
    }
    app.layer(middleware::from_fn_with_state(state.clone(), request_id))
        .with_state(state)
}

/// Gives every request an id, a span carrying it, and the id in the response header.
async fn request_id(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let id = format!("req-{:016x}", rand::random::<u64>());
    let method = crate::metrics::method_label(req.method());
    let span = tracing::debug_span!("http_request", request_id = %id, method, path = %req.uri().path());
    let mut resp = REQUEST_ID.scope(id.clone(), next.run(req)).instrument(span).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    state
        .metrics
        .http_requests
        .get_or_create(&crate::metrics::HttpLabels {
            method,
            status: resp.status().as_u16(),
        })
        .inc();
    resp
}

/// The address a connection came from, when the server provides it.
pub(crate) fn peer(req: &Request) -> Option<SocketAddr> {
    req.extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        envelope::error_response(&self)
    }
}
