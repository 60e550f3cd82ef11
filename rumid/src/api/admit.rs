//! The audit gate: an operator action happens only once its audit line is on disk.
//!
//! Every request that can change something (any method but `GET` and `HEAD` on a built-in
//! route, and every pack route, whose flows run with the pack's grants) first writes a
//! write-ahead line, `system/operator_request` (method, route, path, request id), and waits for
//! its fsync. When it cannot be written (the audit file system is full, failing or read-only,
//! or the audit reserve is not held) the request is refused with 503 `RUMI-SYS-008` before its
//! handler runs, so nothing changes. Once it is written the request is marked admitted: the
//! lines it records afterwards (its outcome: `approval/pack_approved`, …) may use the audit
//! reserve, so they reach the disk even when the file system fills up in between.
//!
//! Reads (`GET` and `HEAD` of built-in routes) pass without a line: they change nothing, and
//! the operator must be able to look at health and state while the audit log is down.
//!
//! # Security
//! Before this gate, approve and reject answered 200 with the audit directory full: the
//! decision took effect with no record of it. A pack author who can fill a shared disk (its
//! data directory) could have had decisions made unseen.

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::audit::{AuditEvent, Category};
use crate::error::Error;

/// Longest path written into the line.
const MAX_AUDITED_PATH: usize = 256;

/// The middleware (inside authentication: refused logins never reach it).
pub async fn audit_first(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let read = matches!(*req.method(), Method::GET | Method::HEAD) && route.is_some();
    if read {
        return next.run(req).await;
    }
    let path: String = req.uri().path().chars().take(MAX_AUDITED_PATH).collect();
    let event = AuditEvent::new(Category::System, "operator_request")
        .in_request()
        .detail("method", req.method().as_str())
        .detail("route", route.as_deref().unwrap_or("(pack route)"))
        .detail("path", path);
    match state.audit.admit(event).await {
        Ok(()) => {
            super::mark_admitted();
            next.run(req).await
        }
        Err(e) => {
            tracing::error!(error = %e, "operator action refused: its audit line cannot be written");
            Error::AuditUnavailable { reason: e.to_string() }.into_response()
        }
    }
}
