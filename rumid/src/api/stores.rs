//! `/api/stores…`: stores live in rumi-capd; shares are approved here (signed, pushed).

use axum::extract::State;
use axum::response::Response;
use rumi_common::ids::PackId;
use rumi_proto::control::stores_admin_client::StoresAdminClient;
use rumi_proto::control::{CreateStoreRequest, ListStoresRequest};
use serde::Deserialize;
use serde_json::json;

use super::{AppJson, AppState, blocking, ok};
use crate::error::Error;
use crate::grants::stores::ShareRequest;

#[utoipa::path(get, path = "/api/stores", tag = "stores", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::StoreListAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn list(State(state): State<AppState>) -> Result<Response, Error> {
    let mut client = StoresAdminClient::new(state.helper("capd")?);
    let reply = client
        .list_stores(ListStoresRequest {})
        .await
        .map_err(|s| Error::from_helper(&s))?
        .into_inner();
    let stores: Vec<_> = reply
        .stores
        .into_iter()
        .map(
            |s| json!({"store_id": s.store_id, "owner_pack": s.owner_pack, "created_at": s.created_at, "keys": s.keys}),
        )
        .collect();
    Ok(ok(json!({"count": stores.len(), "stores": stores})))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    pub store_id: String,
    #[serde(default)]
    pub owner_pack: Option<String>,
}

#[utoipa::path(post, path = "/api/stores/create", tag = "stores", request_body = CreateBody, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::StoreCreatedAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn create(State(state): State<AppState>, AppJson(body): AppJson<CreateBody>) -> Result<Response, Error> {
    if let Some(owner) = &body.owner_pack {
        PackId::parse(owner)?;
    }
    let mut client = StoresAdminClient::new(state.helper("capd")?);
    let s = client
        .create_store(CreateStoreRequest {
            store_id: body.store_id,
            owner_pack: body.owner_pack.unwrap_or_default(),
        })
        .await
        .map_err(|s| Error::from_helper(&s))?
        .into_inner();
    state
        .audit
        .record(
            crate::audit::AuditEvent::new(crate::audit::Category::System, "store_created")
                .in_request()
                .detail("store_id", s.store_id.clone())
                .detail("owner_pack", s.owner_pack.clone()),
        )
        .await;
    Ok(ok(
        json!({"store_id": s.store_id, "owner_pack": s.owner_pack, "created_at": s.created_at}),
    ))
}

#[utoipa::path(get, path = "/api/stores/shared", tag = "stores", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::SharedStoreListAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn shared(State(state): State<AppState>) -> Response {
    let shared = shared_listing(&state.shares.list());
    ok(json!({"count": shared.len(), "shared_stores": shared}))
}

/// The guide's listing: one entry per shared store, `shared_with` the packs it is shared with
/// now, `status` `approved` while it is shared with any, and `targets` the decision per pack
/// (revoked ones included).
fn shared_listing(shares: &[crate::grants::stores::Share]) -> Vec<serde_json::Value> {
    let mut stores: std::collections::BTreeMap<(&str, &str), Vec<&crate::grants::stores::Share>> =
        std::collections::BTreeMap::new();
    for s in shares {
        stores.entry((&s.owner_pack, &s.store_id)).or_default().push(s);
    }
    stores
        .into_iter()
        .map(|((owner, store), list)| {
            let approved: Vec<&&crate::grants::stores::Share> =
                list.iter().filter(|s| s.status == "approved").collect();
            json!({
                "store_id": store,
                "owner_pack": owner,
                "shared_with": approved.iter().map(|s| s.target_pack.as_str()).collect::<Vec<_>>(),
                "status": if approved.is_empty() { "revoked" } else { "approved" },
                "approved_at": approved.iter().filter_map(|s| s.approved_at.as_deref()).max(),
                "targets": list,
            })
        })
        .collect()
}

#[utoipa::path(post, path = "/api/stores/shared/approve", tag = "stores", request_body = ShareRequest, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::ShareAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn share_approve(
    State(state): State<AppState>,
    AppJson(body): AppJson<ShareRequest>,
) -> Result<Response, Error> {
    let shares = state.shares.clone();
    Ok(ok(blocking(move || shares.approve(&body)).await?))
}

#[utoipa::path(post, path = "/api/stores/shared/revoke", tag = "stores", request_body = ShareRequest, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::ShareAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn share_revoke(
    State(state): State<AppState>,
    AppJson(body): AppJson<ShareRequest>,
) -> Result<Response, Error> {
    let shares = state.shares.clone();
    Ok(ok(blocking(move || shares.revoke(&body)).await?))
}
