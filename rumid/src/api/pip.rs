//! `/api/pip…`: `requirements.lock` candidates, their approval (which installs them in
//! builder containers) and rejection.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use rumi_common::ids::PackId;
use serde::Deserialize;
use serde_json::json;

use super::capability::{ReasonBody, StatusQuery};
use super::{AppJson, AppState, blocking, ok};
use crate::error::Error;

/// `POST /api/pip/candidates/scan`: every installed pack with a valid manifest.
#[utoipa::path(post, path = "/api/pip/candidates/scan", tag = "pip", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::PipScanAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn scan(State(state): State<AppState>) -> Result<Response, Error> {
    use crate::pip::LockSource;
    let eco = state.config.home.join("ecosystem");
    let snap = state.packs.snapshot();
    let dirs: Vec<_> = snap
        .packs
        .iter()
        .filter(|p| p.error.is_none())
        .filter_map(|p| match snap.approved.get(&p.pack_id) {
            Some(s) => Some((p.pack_id.clone(), LockSource::Approved(s.clone()))),
            None => crate::approval::discovery::find(&eco, &p.pack_id)
                .map(|f| (p.pack_id.clone(), LockSource::Installed(f.dir))),
        })
        .collect();
    let pip = state.pip.clone();
    Ok(ok(blocking(move || pip.scan(&dirs)).await?))
}

/// `GET /api/pip/requests?status=`.
#[utoipa::path(get, path = "/api/pip/requests", tag = "pip", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::PipListAnswer), (status = 400, description = "a RUMI error, or (plain text, from the HTTP framework) a query string that cannot be decoded", content((crate::api::openapi::Failure = "application/json"), (String = "text/plain"))), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn requests(State(state): State<AppState>, Query(q): Query<StatusQuery>) -> Response {
    let items = state.pip.list(q.status.as_deref());
    ok(json!({"items": items, "count": items.len()}))
}

/// `GET /api/pip/blocked`.
#[utoipa::path(get, path = "/api/pip/blocked", tag = "pip", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::PipListAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn blocked(State(state): State<AppState>) -> Response {
    let items = state.pip.list(Some("blocked"));
    ok(json!({"items": items, "count": items.len()}))
}

/// Body of the approve call (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    #[serde(default)]
    pub allow_sdist: bool,
    #[serde(default)]
    pub index_url: Option<String>,
}

/// `POST /api/pip/requests/{key}/approve` (the key is URL-encoded): installs and returns
/// when done. The pack must be approved and unchanged.
#[utoipa::path(post, path = "/api/pip/requests/{key}/approve", tag = "pip", params(("key" = String, Path, description = "key")), request_body = crate::api::openapi::OptionalJson, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::PipItemAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn approve(
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, Error> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        ApproveBody::default()
    } else {
        serde_json::from_slice::<ApproveBody>(&body).map_err(|e| Error::MalformedJson { detail: e.to_string() })?
    };
    let pack_raw = key.split(':').next().unwrap_or_default().to_owned();
    let pack = PackId::parse(&pack_raw)?;
    // Only an approved pack gets dependencies installed, from its approved snapshot.
    let snap = state.packs.verify_for_use(&pack)?;
    let item = state
        .pip
        .approve(
            &key,
            &snap,
            body.allow_sdist,
            body.index_url.as_deref(),
            state.flows.sandbox(),
        )
        .await?;
    Ok(ok(item))
}

/// `POST /api/pip/requests/{key}/reject`.
#[utoipa::path(post, path = "/api/pip/requests/{key}/reject", tag = "pip", params(("key" = String, Path, description = "key")), request_body = ReasonBody, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::PipItemAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn reject(
    State(state): State<AppState>,
    Path(key): Path<String>,
    AppJson(body): AppJson<ReasonBody>,
) -> Result<Response, Error> {
    let pip = state.pip.clone();
    Ok(ok(blocking(move || pip.reject(&key, &body.reason)).await?))
}

/// `POST /api/pip/blocked/{key}/unblock`.
#[utoipa::path(post, path = "/api/pip/blocked/{key}/unblock", tag = "pip", params(("key" = String, Path, description = "key")), request_body = ReasonBody, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::PipItemAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn unblock(
    State(state): State<AppState>,
    Path(key): Path<String>,
    AppJson(body): AppJson<ReasonBody>,
) -> Result<Response, Error> {
    let pip = state.pip.clone();
    Ok(ok(blocking(move || pip.unblock(&key, &body.reason)).await?))
}
