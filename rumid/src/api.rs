//! The operator HTTP API: routing, the JSON envelope, and the layers every request passes.
//!
//! Layers, outermost first: `Connection: close` when the request body was left unread →
//! request id (a span and an `x-request-id` header on every
//! response) → panic guard (a handler that panics answers 500 in the envelope instead of
//! dropping the connection) → CORS (only for `RUMI_CORS_ORIGINS`) → bearer auth (everything except
//! `GET /health` and the console's static files) → body limit → audit gate (anything but a read first writes its audit line,
//! see [`admit`]) → handler. Handlers are thin: extract, call one domain
//! function, wrap the result in the envelope
//! `{"success": true, "data": …}` / `{"success": false, "error": {code, message, suggestion, request_id}}`.

mod admit;
mod auth;
pub(crate) mod capability;
mod console;
mod envelope;
mod flows;
mod health;
mod keep_alive;
mod network;
pub mod openapi;
mod packs;
mod pip;
mod privileges;
mod secrets;
mod server;
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
use axum::routing::get;
use rumi_common::token::ApiToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use self::envelope::{AppJson, ok};
pub use self::server::{Limits as ConnectionLimits, serve};
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
    pub fn helper(&self, name: &'static str) -> Result<crate::supervisor::ControlChannel, Error> {
        self.helpers
            .iter()
            .find(|h| h.name == name)
            .ok_or(Error::HelperUnavailable { helper: name })?
            .channel()
    }
}

/// The HTTP request being served: its id, and whether the audit gate let it through (its
/// write-ahead line is on disk, so the audit lines it records may use the reserve).
#[derive(Clone)]
struct RequestScope {
    id: String,
    admitted: Arc<std::sync::atomic::AtomicBool>,
}

tokio::task_local! {
    static REQUEST: RequestScope;
}

thread_local! {
    static BLOCKING_REQUEST: RefCell<Option<RequestScope>> = const { RefCell::new(None) };
}

fn current_request() -> Option<RequestScope> {
    REQUEST
        .try_with(Clone::clone)
        .ok()
        .or_else(|| BLOCKING_REQUEST.with(|c| c.borrow().clone()))
}

/// The id of the HTTP request being served, in async handlers and in [`blocking`] closures.
pub fn current_request_id() -> Option<String> {
    current_request().map(|r| r.id)
}

/// Whether the request being served was let through by the audit gate.
pub fn current_request_admitted() -> bool {
    current_request().is_some_and(|r| r.admitted.load(std::sync::atomic::Ordering::Acquire))
}

/// Marks the request being served as let through by the audit gate.
fn mark_admitted() {
    if let Some(r) = current_request() {
        r.admitted.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// Runs blocking domain work (file I/O, hashing) off the async workers, keeping the
/// request (its id, whether it was admitted) visible to audit events inside it.
///
/// # Errors
/// The closure's error, or [`Error::Task`] if it panicked.
pub async fn blocking<T, F>(f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    let scope = current_request();
    // The request's span too, so that lines logged by the blocking work carry its id.
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        BLOCKING_REQUEST.with(|c| *c.borrow_mut() = scope);
        let out = f();
        BLOCKING_REQUEST.with(|c| *c.borrow_mut() = None);
        out
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))?
}

/// Every documented route: each handler is registered together with its OpenAPI
/// description.
fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health::public))
        .routes(routes!(health::detail))
        .routes(routes!(console::page))
        .routes(routes!(console::script))
        .routes(routes!(console::style))
        .routes(routes!(console::favicon))
        .routes(routes!(console::recent))
        .routes(routes!(health::metrics))
        .routes(routes!(packs::list))
        .routes(routes!(packs::pending))
        .routes(routes!(packs::scan))
        .routes(routes!(packs::import))
        .routes(routes!(packs::apply))
        .routes(routes!(packs::staging))
        .routes(routes!(packs::discard))
        .routes(routes!(packs::status))
        .routes(routes!(packs::approve))
        .routes(routes!(packs::reject))
        .routes(routes!(packs::uninstall))
        .routes(routes!(pip::scan))
        .routes(routes!(pip::requests))
        .routes(routes!(pip::approve))
        .routes(routes!(pip::reject))
        .routes(routes!(pip::blocked))
        .routes(routes!(pip::unblock))
        .routes(routes!(units::list))
        .routes(routes!(units::publish))
        .routes(routes!(units::execute))
        .routes(routes!(privileges::list))
        .routes(routes!(privileges::grant))
        .routes(routes!(privileges::revoke))
        .routes(routes!(privileges::execute))
        .routes(routes!(flows::list))
        .routes(routes!(flows::reload))
        .routes(routes!(flows::run))
        .routes(routes!(flows::docker_status))
        .routes(routes!(flows::containers))
        .routes(routes!(flows::remove_containers))
        .routes(routes!(flows::start_container))
        .routes(routes!(flows::stop_container))
        .routes(routes!(network::list))
        .routes(routes!(network::grant))
        .routes(routes!(network::revoke))
        .routes(routes!(network::check))
        .routes(routes!(secrets::list))
        .routes(routes!(secrets::set))
        .routes(routes!(secrets::delete))
        .routes(routes!(stores::list))
        .routes(routes!(stores::create))
        .routes(routes!(stores::shared))
        .routes(routes!(stores::share_approve))
        .routes(routes!(stores::share_revoke))
        .routes(routes!(capability::scan))
        .routes(routes!(capability::requests))
        .routes(routes!(capability::approve))
        .routes(routes!(capability::source))
        .routes(routes!(capability::reject))
        .routes(routes!(capability::blocked))
        .routes(routes!(capability::unblock))
        .routes(routes!(capability::list))
        .routes(routes!(capability::grant))
        .routes(routes!(capability::revoke))
        .routes(routes!(capability::batch))
        .routes(routes!(flows::routes))
        .routes(routes!(flows::reload_routes))
}

/// The OpenAPI document of the API (what `GET /api/openapi.json` serves).
pub fn openapi_json() -> String {
    openapi::document(&documented_routes().split_for_parts().1)
}

/// Builds the router with every layer. `main` never builds routes; tests call this.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config.max_request_body_bytes;
    let (router, spec) = documented_routes().split_for_parts();
    let spec = Arc::new(openapi::document(&spec));
    let mut app = router
        .route(
            "/api/openapi.json",
            get(move || {
                let spec = spec.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], (*spec).clone()) }
            }),
        )
        .fallback(flows::dispatch)
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), admit::audit_first))
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
    app.layer(middleware::from_fn(catch_panic))
        .layer(middleware::from_fn_with_state(state.clone(), request_id))
        .layer(middleware::from_fn(keep_alive::close_if_body_unread))
        .with_state(state)
}

/// Answers 500 (`RUMI-SYS-001`, with the request id) when anything below panics, instead of
/// letting hyper drop the connection with no answer at all.
async fn catch_panic(req: Request, next: Next) -> Response {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::error!("request handler panicked");
            Error::Task("request handler panicked".into()).into_response()
        }
    }
}

/// Gives every request an id, a span carrying it, and the id in the response header.
async fn request_id(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let id = format!("req-{:016x}", rand::random::<u64>());
    let method = crate::metrics::method_label(req.method());
    // At ERROR level so that it is enabled at every RUMI_LOG_LEVEL: every line logged while
    // the request runs carries its id as `correlation_id` (a span's level only filters).
    let span = tracing::error_span!("http_request", request_id = %id, method, path = %req.uri().path());
    let scope = RequestScope {
        id: id.clone(),
        admitted: Arc::default(),
    };
    let mut resp = REQUEST.scope(scope, next.run(req)).instrument(span).await;
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
