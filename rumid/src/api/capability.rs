//! `/api/capability/grants…`: grant, revoke, list, batch.

use axum::extract::{Query, State};
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

pub async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> Result<Response, Error> {
    if let Some(p) = &q.principal_id {
        crate::grants::capability::validate_principal(p)?;
    }
    let grants = state.capability.list(q.principal_id.as_deref());
    Ok(ok(json!({"grants": grants, "count": grants.len()})))
}

pub async fn grant(State(state): State<AppState>, AppJson(item): AppJson<GrantItem>) -> Result<Response, Error> {
    let grants = state.capability.clone();
    Ok(ok(blocking(move || grants.grant(&item)).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    pub principal_id: String,
    pub permission_id: String,
}

pub async fn revoke(State(state): State<AppState>, AppJson(body): AppJson<RevokeBody>) -> Result<Response, Error> {
    let grants = state.capability.clone();
    Ok(ok(blocking(move || {
        grants.revoke(&body.principal_id, &body.permission_id)
    })
    .await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    pub grants: Vec<GrantItem>,
}

pub async fn batch(State(state): State<AppState>, AppJson(body): AppJson<BatchBody>) -> Result<Response, Error> {
    let grants = state.capability.clone();
    Ok(ok(blocking(move || grants.batch(&body.grants)).await?))
}
