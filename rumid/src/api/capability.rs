//! `/api/capability/grants…`: grant, revoke, list, batch.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{AppJson, AppState, blocking, ok};
use crate::error::Error;
use crate::grants::capability::GrantItem;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub principal_id: Option<String>,
}

#[utoipa::path(get, path = "/api/capability/grants", tag = "capability", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::GrantListAnswer), (status = 400, description = "a RUMI error, or (plain text, from the HTTP framework) a query string that cannot be decoded", content((crate::api::openapi::Failure = "application/json"), (String = "text/plain"))), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> Result<Response, Error> {
    if let Some(p) = &q.principal_id {
        crate::grants::capability::validate_principal(p)?;
    }
    let grants = state.capability.list(q.principal_id.as_deref());
    Ok(ok(json!({"grants": grants, "count": grants.len()})))
}

#[utoipa::path(post, path = "/api/capability/grants/grant", tag = "capability", request_body = GrantItem, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::PrincipalGrantsAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn grant(State(state): State<AppState>, AppJson(item): AppJson<GrantItem>) -> Result<Response, Error> {
    let grants = state.capability.clone();
    Ok(ok(blocking(move || grants.grant(&item)).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CapabilityRevokeBody)]
pub struct RevokeBody {
    pub principal_id: String,
    pub permission_id: String,
}

#[utoipa::path(post, path = "/api/capability/grants/revoke", tag = "capability", request_body = RevokeBody, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::PrincipalGrantsAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn revoke(State(state): State<AppState>, AppJson(body): AppJson<RevokeBody>) -> Result<Response, Error> {
    let grants = state.capability.clone();
    Ok(ok(blocking(move || {
        grants.revoke(&body.principal_id, &body.permission_id)
    })
    .await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    pub grants: Vec<GrantItem>,
}

#[utoipa::path(post, path = "/api/capability/grants/batch", tag = "capability", request_body = BatchBody, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::BatchReportAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn batch(State(state): State<AppState>, AppJson(body): AppJson<BatchBody>) -> Result<Response, Error> {
    let grants = state.capability.clone();
    Ok(ok(blocking(move || grants.batch(&body.grants)).await?))
}

/// `POST /api/capability/candidates/scan`.
#[utoipa::path(post, path = "/api/capability/candidates/scan", tag = "capability", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::CandidateScanAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn scan(State(state): State<AppState>) -> Result<Response, Error> {
    let packs: Vec<_> = state
        .packs
        .snapshot()
        .packs
        .iter()
        .filter(|p| p.error.is_none())
        .map(|p| p.pack_id.clone())
        .collect();
    let dirs: Vec<_> = packs
        .into_iter()
        .filter_map(|id| {
            crate::approval::discovery::find(&state.config.home.join("ecosystem"), &id).map(|f| (id, f.dir))
        })
        .collect();
    let handlers = state.handlers.clone();
    Ok(ok(blocking(move || handlers.scan(&dirs)).await?))
}

#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    pub status: Option<String>,
}

/// `GET /api/capability/requests?status=`.
#[utoipa::path(get, path = "/api/capability/requests", tag = "capability", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::CandidateListAnswer), (status = 400, description = "a RUMI error, or (plain text, from the HTTP framework) a query string that cannot be decoded", content((crate::api::openapi::Failure = "application/json"), (String = "text/plain"))), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn requests(State(state): State<AppState>, Query(q): Query<StatusQuery>) -> Response {
    let items = state.handlers.list(q.status.as_deref());
    ok(json!({"items": items, "count": items.len()}))
}

/// `GET /api/capability/requests/{key}/source` (the key is URL-encoded): the candidate's
/// entry file as it is now (at most 256 KiB), for review before approval. Read only.
#[utoipa::path(get, path = "/api/capability/requests/{key}/source", tag = "capability", params(("key" = String, Path, description = "candidate key")), responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::HandlerSourceAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn source(State(state): State<AppState>, Path(key): Path<String>) -> Result<Response, Error> {
    let handlers = state.handlers.clone();
    let ecosystem = state.config.home.join("ecosystem");
    Ok(ok(blocking(move || handlers.source(&key, &ecosystem)).await?))
}

/// `GET /api/capability/blocked`.
#[utoipa::path(get, path = "/api/capability/blocked", tag = "capability", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::CandidateListAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn blocked(State(state): State<AppState>) -> Response {
    let items = state.handlers.list(Some("blocked"));
    ok(json!({"items": items, "count": items.len()}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotesBody {
    #[serde(default)]
    pub notes: Option<String>,
}

/// `POST /api/capability/requests/{key}/approve` (the key is URL-encoded).
#[utoipa::path(post, path = "/api/capability/requests/{key}/approve", tag = "capability", params(("key" = String, Path, description = "key")), request_body = crate::api::openapi::OptionalJson, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::CandidateItemAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn approve(
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, Error> {
    // The body is optional: empty, or `{"notes": "..."}`.
    let notes = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<NotesBody>(&body)
            .map_err(|e| Error::MalformedJson { detail: e.to_string() })?
            .notes
    };
    let handlers = state.handlers.clone();
    Ok(ok(blocking(move || handlers.approve(&key, notes.as_deref())).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    pub reason: String,
}

/// `POST /api/capability/requests/{key}/reject`.
#[utoipa::path(post, path = "/api/capability/requests/{key}/reject", tag = "capability", params(("key" = String, Path, description = "key")), request_body = ReasonBody, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::CandidateItemAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn reject(
    State(state): State<AppState>,
    Path(key): Path<String>,
    AppJson(body): AppJson<ReasonBody>,
) -> Result<Response, Error> {
    let handlers = state.handlers.clone();
    Ok(ok(blocking(move || handlers.reject(&key, &body.reason)).await?))
}

/// `POST /api/capability/blocked/{key}/unblock`.
#[utoipa::path(post, path = "/api/capability/blocked/{key}/unblock", tag = "capability", params(("key" = String, Path, description = "key")), request_body = ReasonBody, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::CandidateItemAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn unblock(
    State(state): State<AppState>,
    Path(key): Path<String>,
    AppJson(body): AppJson<ReasonBody>,
) -> Result<Response, Error> {
    let handlers = state.handlers.clone();
    Ok(ok(blocking(move || handlers.unblock(&key, &body.reason)).await?))
}
