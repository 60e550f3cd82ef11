//! `/api/secrets…`: forwarded to rumi-capd, which owns the secrets. Values go in only; no
//! endpoint ever returns one.

use axum::extract::State;
use axum::response::Response;
use rumi_proto::control::secrets_admin_client::SecretsAdminClient;
use rumi_proto::control::{DeleteSecretRequest, ListSecretsRequest, SetSecretRequest};
use serde::Deserialize;
use serde_json::json;

use super::{AppJson, AppState, ok};
use crate::error::Error;

/// What `GET /api/secrets` shows in place of a value that is set.
pub const SECRET_MASK: &str = "********";

#[utoipa::path(get, path = "/api/secrets", tag = "secrets", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::SecretListAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn list(State(state): State<AppState>) -> Result<Response, Error> {
    let mut client = SecretsAdminClient::new(state.helper("capd")?);
    let reply = client
        .list_secrets(ListSecretsRequest {})
        .await
        .map_err(|s| Error::from_helper(&s))?
        .into_inner();
    let keys: Vec<_> = reply
        .keys
        .into_iter()
        .map(|m| {
            // "Values masked" (the guide): a fixed mask for a value that is set, never any
            // part of it, nor its length.
            let masked = (m.exists && !m.deleted).then_some(SECRET_MASK);
            json!({
                "key": m.key, "value": masked, "exists": m.exists, "deleted": m.deleted,
                "created_at": m.created_at, "updated_at": m.updated_at,
                "deleted_at": (!m.deleted_at.is_empty()).then_some(m.deleted_at),
            })
        })
        .collect();
    Ok(ok(json!({"count": keys.len(), "keys": keys})))
}

/// Body of `POST /api/secrets/set`. `Debug` never shows the value.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetBody {
    pub key: String,
    pub value: String,
}

impl std::fmt::Debug for SetBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetBody")
            .field("key", &self.key)
            .field("value", &"<redacted>")
            .finish()
    }
}

#[utoipa::path(post, path = "/api/secrets/set", tag = "secrets", request_body = SetBody, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::SecretSetAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn set(State(state): State<AppState>, AppJson(body): AppJson<SetBody>) -> Result<Response, Error> {
    let mut client = SecretsAdminClient::new(state.helper("capd")?);
    let key = body.key.clone();
    let reply = client
        .set_secret(SetSecretRequest {
            key: body.key,
            value: body.value,
        })
        .await
        .map_err(|s| Error::from_helper(&s))?
        .into_inner();
    Ok(ok(json!({"key": key, "created": reply.created})))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteBody {
    pub key: String,
}

#[utoipa::path(post, path = "/api/secrets/delete", tag = "secrets", request_body = DeleteBody, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::SecretDeletedAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn delete(State(state): State<AppState>, AppJson(body): AppJson<DeleteBody>) -> Result<Response, Error> {
    let mut client = SecretsAdminClient::new(state.helper("capd")?);
    client
        .delete_secret(DeleteSecretRequest { key: body.key.clone() })
        .await
        .map_err(|s| Error::from_helper(&s))?;
    Ok(ok(json!({"key": body.key, "deleted": true})))
}
