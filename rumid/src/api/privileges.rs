//! `/api/privileges…`: list, grant, revoke and execute host privileges.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use rumi_common::ids::PackId;
use serde_json::{Value, json};

use super::{AppState, blocking, ok};
use crate::audit::{AuditEvent, Category, Severity};
use crate::config::HelperMode;
use crate::error::Error;
use crate::privileges::privilege;

/// `GET /api/privileges`.
#[utoipa::path(get, path = "/api/privileges", tag = "privileges", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::PrivilegeListAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn list(State(state): State<AppState>) -> Response {
    ok(state.privileges.list())
}

/// The pack must be installed to be granted anything.
async fn installed(state: &AppState, raw: &str) -> Result<PackId, Error> {
    let id = PackId::parse(raw)?;
    let packs = state.packs.clone();
    let check = id.clone();
    blocking(move || packs.status(&check).map(|_| ())).await?;
    Ok(id)
}

/// `POST /api/privileges/{pack_id}/grant/{privilege_id}`.
#[utoipa::path(post, path = "/api/privileges/{pack_id}/grant/{privilege_id}", tag = "privileges", params(("pack_id" = String, Path, description = "pack id"), ("privilege_id" = String, Path, description = "privilege id")), responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::PrivilegeGrantedAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn grant(
    State(state): State<AppState>,
    Path((pack, privilege_id)): Path<(String, String)>,
) -> Result<Response, Error> {
    let p = privilege(&privilege_id)?;
    let id = installed(&state, &pack).await?;
    let privileges = state.privileges.clone();
    let pack_id = id.clone();
    let g = blocking(move || privileges.grant(&pack_id, p)).await?;
    Ok(ok(
        json!({"pack_id": id, "privilege_id": p, "granted_at": g.granted_at}),
    ))
}

/// `POST /api/privileges/{pack_id}/revoke/{privilege_id}`.
#[utoipa::path(post, path = "/api/privileges/{pack_id}/revoke/{privilege_id}", tag = "privileges", params(("pack_id" = String, Path, description = "pack id"), ("privilege_id" = String, Path, description = "privilege id")), responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::PrivilegeRevokedAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn revoke(
    State(state): State<AppState>,
    Path((pack, privilege_id)): Path<(String, String)>,
) -> Result<Response, Error> {
    let p = privilege(&privilege_id)?;
    let id = PackId::parse(&pack)?;
    let privileges = state.privileges.clone();
    let pack_id = id.clone();
    let held = blocking(move || privileges.revoke(&pack_id, p)).await?;
    Ok(ok(json!({"pack_id": id, "privilege_id": p, "revoked": held})))
}

/// `POST /api/privileges/{pack_id}/execute/{privilege_id}` with an optional JSON body
/// `{"args": {...}}`: performs the action for a pack that holds the privilege and is
/// approved.
#[utoipa::path(post, path = "/api/privileges/{pack_id}/execute/{privilege_id}", tag = "privileges", params(("pack_id" = String, Path, description = "pack id"), ("privilege_id" = String, Path, description = "privilege id")), request_body = crate::api::openapi::OptionalJson, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::PrivilegeExecutedAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn execute(
    State(state): State<AppState>,
    Path((pack, privilege_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Error> {
    let p = privilege(&privilege_id)?;
    let id = PackId::parse(&pack)?;
    let args = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(serde_json::Map::new())
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(mut m)) => match m.remove("args") {
                None | Some(Value::Null) => Value::Object(serde_json::Map::new()),
                Some(a @ Value::Object(_)) => a,
                Some(_) => {
                    return Err(Error::MalformedJson {
                        detail: "args must be an object".into(),
                    });
                }
            },
            _ => {
                return Err(Error::MalformedJson {
                    detail: "the body must be a JSON object like {\"args\": {...}}".into(),
                });
            }
        }
    };
    if !state.privileges.has(&id, p) {
        state
            .audit
            .record(
                AuditEvent::new(Category::Security, "privilege_denied")
                    .in_request()
                    .owner_pack(id.as_str())
                    .failed(Severity::Warning, "privilege_not_granted", "Privilege not granted")
                    .detail("privilege_id", p),
            )
            .await;
        return Err(Error::Forbidden(format!("pack {id} does not hold the privilege {p}")));
    }
    // Only an approved, unchanged pack exercises its privileges.
    let packs = state.packs.clone();
    let check = id.clone();
    packs.verify_for_use(&check)?;
    let result = match p {
        "pack.update" => pack_update(&state, &args).await,
        "system.diagnostics" => Ok(super::health::diagnostics(&state)),
        "system.restart" => Ok(restart_helpers(&state)),
        _ => Err(Error::Invalid {
            field: "privilege_id",
            reason: "unknown privilege".into(),
        }),
    };
    let mut ev = AuditEvent::new(Category::Permission, "privilege_executed")
        .in_request()
        .owner_pack(id.as_str())
        .detail("privilege_id", p);
    if let Some(t) = args.get("target_pack").and_then(Value::as_str) {
        ev = ev.detail("target_pack", t);
    }
    let result = match result {
        Ok(r) => {
            state.audit.record(ev).await;
            r
        }
        Err(e) => {
            state
                .audit
                .record(ev.failed(Severity::Warning, e.code().as_str(), e.to_string()))
                .await;
            return Err(e);
        }
    };
    Ok(ok(json!({
        "pack_id": id,
        "privilege_id": p,
        "result": result,
        "executed_at": rumi_common::time::now_rfc3339(),
    })))
}

/// `pack.update`: applies the staged import `args.staging_id`, which must be of
/// `args.target_pack`.
async fn pack_update(state: &AppState, args: &Value) -> Result<Value, Error> {
    let arg = |k: &'static str| {
        args.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(Error::EmptyValue { field: k })
    };
    let target = PackId::parse(arg("target_pack")?)?;
    let staging_id = arg("staging_id")?.to_owned();
    let importer = crate::import::Importer::new(&state.config.home);
    let sid = staging_id.clone();
    let (staged, _) = blocking(move || Ok(importer.staged(&sid)?)).await?;
    if staged.pack_id != target.as_str() {
        return Err(Error::Invalid {
            field: "staging_id",
            reason: format!("the staged import is of pack {}, not {target}", staged.pack_id),
        });
    }
    let applied = super::packs::apply_staged(state, &staging_id).await?;
    Ok(json!({
        "status": "applied",
        "target_pack": target,
        "backup": applied["applied"]["backup"],
        "pack_status": applied["pack"]["status"],
    }))
}

/// `system.restart`: stops each spawned helper; its supervisor starts it again and pushes
/// the policy. Helpers in external mode belong to their service manager.
fn restart_helpers(state: &AppState) -> Value {
    if state.config.helpers == HelperMode::External {
        return json!({
            "restarted": [],
            "note": "helpers run in external mode; restart them with their service manager (systemctl restart rumi-egressd rumi-capd)",
        });
    }
    let mut restarted = Vec::new();
    for h in state.helpers.iter() {
        if let Some(pid) = h.status.load().pid
            && let Ok(pid) = i32::try_from(pid)
            && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM).is_ok()
        {
            restarted.push(json!({"helper": h.name, "old_pid": pid}));
        }
    }
    json!({"restarted": restarted})
}
