//! The operator web console (`/console`): one static page, its script and its style, all
//! embedded in the binary (no CDN, nothing fetched from elsewhere). The page holds no secret:
//! the operator signs in with the API token, which stays in the tab's `sessionStorage` and is
//! sent as a bearer token on each API call, exactly like `rumi-ctl`.
//!
//! A strict Content-Security-Policy allows only this origin's script, style and API, and no
//! framing. `/favicon.ico` is public too: browsers ask for it on their own, without the
//! token, and before it was served each page load wrote an `auth_failed` security line that
//! buried the real ones.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{AppState, blocking, ok};
use crate::error::Error;

const PAGE: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/app.js");
const STYLE: &str = include_str!("../console/app.css");
/// A 16×16 icon (1150 bytes), so the browser's own request finds something.
const FAVICON: &[u8] = include_bytes!("../console/favicon.ico");
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

fn asset(body: impl IntoResponse, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

#[utoipa::path(get, path = "/console", tag = "console", responses((status = 200, description = "the console page", content_type = "text/html")), security(()))]
pub async fn page() -> Response {
    asset(PAGE, "text/html; charset=utf-8")
}

#[utoipa::path(get, path = "/console/app.js", tag = "console", responses((status = 200, description = "the console script", content_type = "text/javascript")), security(()))]
pub async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

#[utoipa::path(get, path = "/console/app.css", tag = "console", responses((status = 200, description = "the console style", content_type = "text/css")), security(()))]
pub async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

#[utoipa::path(get, path = "/favicon.ico", tag = "console", responses((status = 200, description = "the console's icon", content_type = "image/x-icon")), security(()))]
pub async fn favicon() -> Response {
    asset(FAVICON, "image/x-icon")
}

#[derive(Debug, Deserialize)]
pub struct RecentQuery {
    pub limit: Option<usize>,
    pub category: Option<String>,
}

/// `GET /api/audit/recent?limit=&category=`: the newest audit events, newest first.
#[utoipa::path(get, path = "/api/audit/recent", tag = "console", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::AuditRecentAnswer), (status = 400, description = "a RUMI error, or (plain text, from the HTTP framework) a query string that cannot be decoded", content((crate::api::openapi::Failure = "application/json"), (String = "text/plain"))), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn recent(State(state): State<AppState>, Query(q): Query<RecentQuery>) -> Result<Response, Error> {
    let limit = q.limit.unwrap_or(50).clamp(1, crate::audit::MAX_RECENT);
    if let Some(c) = &q.category
        && !c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        return Err(Error::Invalid {
            field: "category",
            reason: "lower-case letters and '_'".into(),
        });
    }
    let dir = state.config.home.join("user_data/audit");
    let events = blocking(move || Ok(crate::audit::recent(&dir, limit, q.category.as_deref()))).await?;
    Ok(ok(json!({"events": events, "count": events.len()})))
}
