//! Bearer-token authentication for every endpoint except `GET /health` and the console's
//! static files (`GET /console`, `/console/app.js`, `/console/app.css`), which hold no data:
//! the console calls the API with the token the operator types in.
//!
//! # Security
//! The token is compared in constant time (`ApiToken::matches`). A refusal is answered
//! with 401 and the same body whatever the route, so an unauthenticated caller learns
//! nothing about which endpoints exist, and each refusal is a `security` audit event
//! (never containing the presented token).

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::audit::{AuditEvent, Category, Severity};
use crate::error::Error;

/// Longest path echoed into an audit line.
const MAX_AUDITED_PATH: usize = 256;

pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let public = matches!(
        req.uri().path(),
        "/health" | "/console" | "/console/app.js" | "/console/app.css"
    );
    if public && (req.method() == Method::GET || req.method() == Method::HEAD) {
        return next.run(req).await;
    }
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes().strip_prefix(b"Bearer ").unwrap_or(b""));
    let failure = match presented {
        None => Error::AuthMissing,
        Some(t) if state.token.matches(t) => {
            // The connection has proven itself: it no longer counts against the cap on
            // unauthenticated connections (see `api::server`).
            if let Some(conn) = req.extensions().get::<super::server::Connection>() {
                conn.0.authenticated();
            }
            return next.run(req).await;
        }
        Some(_) => Error::AuthInvalid,
    };
    state.metrics.auth_failures.inc();
    let path: String = req.uri().path().chars().take(MAX_AUDITED_PATH).collect();
    tracing::warn!(path = %path, reason = %failure, "API request refused");
    let mut event = AuditEvent::new(Category::Security, "auth_failed")
        .in_request()
        .failed(Severity::Warning, failure.code().as_str(), failure.to_string())
        .detail("method", req.method().as_str())
        .detail("path", path);
    if let Some(peer) = super::peer(&req) {
        event = event.detail("remote", peer.ip().to_string());
    }
    state.audit.record(event).await;
    failure.into_response()
}
