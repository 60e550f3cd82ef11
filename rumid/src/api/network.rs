//! `/api/network/…`: list, grant, revoke, check.

use axum::extract::State;
use axum::response::Response;
use rumi_common::ids::PackId;
use serde::Deserialize;
use serde_json::json;

use super::{AppJson, AppState, blocking, ok};
use crate::approval::PackState;
use crate::error::Error;
use crate::grants::network::GrantRequest;

#[utoipa::path(get, path = "/api/network/list", tag = "network", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::NetworkGrantListAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn list(State(state): State<AppState>) -> Response {
    let grants = state.grants.list();
    ok(json!({"grants": grants, "count": grants.len()}))
}

#[utoipa::path(post, path = "/api/network/grant", tag = "network", request_body = GrantRequest, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::NetworkGrantAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn grant(State(state): State<AppState>, AppJson(body): AppJson<GrantRequest>) -> Result<Response, Error> {
    let grants = state.grants.clone();
    Ok(ok(blocking(move || grants.grant(body)).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NetworkRevokeBody)]
pub struct RevokeBody {
    pub pack_id: String,
    pub reason: String,
}

#[utoipa::path(post, path = "/api/network/revoke", tag = "network", request_body = RevokeBody, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::NetworkGrantAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn revoke(State(state): State<AppState>, AppJson(body): AppJson<RevokeBody>) -> Result<Response, Error> {
    let grants = state.grants.clone();
    Ok(ok(blocking(move || grants.revoke(&body.pack_id, &body.reason)).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    pub pack_id: String,
    pub domain: String,
    pub port: u16,
}

#[utoipa::path(post, path = "/api/network/check", tag = "network", request_body = CheckBody, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::NetworkCheckAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn check(State(state): State<AppState>, AppJson(body): AppJson<CheckBody>) -> Result<Response, Error> {
    let pack = PackId::parse(&body.pack_id)?;
    if body.domain.trim().is_empty() {
        return Err(Error::EmptyValue { field: "domain" });
    }
    let packs = state.packs.clone();
    let id = pack.clone();
    // Re-verify the pack's files: a modified pack has no network access.
    let approved = blocking(move || {
        Ok(packs
            .status(&id)
            .map(|s| s.summary.status == PackState::Approved)
            .unwrap_or(false))
    })
    .await?;
    let result = state.grants.check(&pack, approved, &body.domain, body.port);
    Ok(ok(json!({
        "pack_id": pack,
        "domain": rumi_common::domain::normalize(&body.domain),
        "port": body.port,
        "allowed": result.allowed,
        "reason": result.reason,
    })))
}
