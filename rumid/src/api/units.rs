//! `/api/units…`: list, publish and execute units ([`crate::units`]).

use axum::extract::{Query, State};
use axum::response::Response;
use rumi_common::ids::PackId;
use rumi_proto::control::ListStoresRequest;
use rumi_proto::control::stores_admin_client::StoresAdminClient;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppJson, AppState, blocking, ok};
use crate::audit::{AuditEvent, Category, Severity};
use crate::error::Error;
use crate::units::{MAX_OUTPUT_BYTES, UnitRef, unit_error};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub store_id: Option<String>,
}

/// `GET /api/units?store_id=`.
#[utoipa::path(get, path = "/api/units", tag = "units", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::UnitListAnswer), (status = 400, description = "a RUMI error, or (plain text, from the HTTP framework) a query string that cannot be decoded", content((crate::api::openapi::Failure = "application/json"), (String = "text/plain"))), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> Response {
    let units = state.units.list(q.store_id.as_deref());
    ok(json!({"units": units, "count": units.len()}))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    pub store_id: String,
    pub source_dir: String,
    pub namespace: String,
    pub name: String,
    pub version: String,
}

/// The pack whose directory holds `path` (`ecosystem/<pack>/…`), and `path` relative to it.
fn owning_pack(state: &AppState, path: &std::path::Path) -> Result<(PackId, std::path::PathBuf), Error> {
    let eco = state.config.home.join("ecosystem");
    let canonical = path.canonicalize().map_err(|_| Error::Invalid {
        field: "source_dir",
        reason: "does not exist".into(),
    })?;
    let eco = eco.canonicalize().map_err(Error::io("cannot read", &eco))?;
    let rel = canonical.strip_prefix(&eco).map_err(|_| Error::Invalid {
        field: "source_dir",
        reason: "must be inside ecosystem/".into(),
    })?;
    let first = rel
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .unwrap_or_default();
    let pack = PackId::parse(first)?;
    let found = crate::approval::discovery::find(&eco, &pack).ok_or(Error::PackNotFound { pack_id: pack.clone() })?;
    let root = found.dir.canonicalize().map_err(Error::io("cannot read", &found.dir))?;
    let inside = canonical.strip_prefix(&root).map_err(|_| Error::Invalid {
        field: "source_dir",
        reason: format!("must be inside the pack directory of {pack}"),
    })?;
    Ok((pack, inside.to_path_buf()))
}

/// `POST /api/units/publish`.
#[utoipa::path(post, path = "/api/units/publish", tag = "units", request_body = PublishBody, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::UnitAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn publish(State(state): State<AppState>, AppJson(body): AppJson<PublishBody>) -> Result<Response, Error> {
    let r = UnitRef {
        store_id: body.store_id,
        namespace: body.namespace,
        name: body.name,
        version: body.version,
    };
    let source = if body.source_dir.starts_with('/') {
        std::path::PathBuf::from(&body.source_dir)
    } else {
        state.config.home.join(&body.source_dir)
    };
    let (pack, rel) = owning_pack(&state, &source)?;
    // The store must exist.
    let mut client = StoresAdminClient::new(state.helper("capd")?);
    let stores = client
        .list_stores(ListStoresRequest {})
        .await
        .map_err(|s| Error::from_helper(&s))?
        .into_inner();
    if !stores.stores.iter().any(|s| s.store_id == r.store_id) {
        return Err(Error::Invalid {
            field: "store_id",
            reason: "no such store (POST /api/stores/create)".into(),
        });
    }
    let packs = state.packs.clone();
    let units = state.units.clone();
    // What is published is the approved copy of that directory, not the installed one.
    let unit = blocking(move || {
        let snap = packs.verify_for_use(&pack)?;
        units.publish(&r, &pack, snap.dir(), &snap.dir().join(rel))
    })
    .await?;
    Ok(ok(unit))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteBody {
    pub principal_id: String,
    pub unit_ref: UnitRef,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub args: Option<Value>,
    #[serde(default)]
    pub timeout: Option<f64>,
}

/// `POST /api/units/execute`.
#[utoipa::path(post, path = "/api/units/execute", tag = "units", request_body = ExecuteBody, responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::UnitExecutedAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn execute(State(state): State<AppState>, AppJson(body): AppJson<ExecuteBody>) -> Result<Response, Error> {
    let principal = PackId::parse(&body.principal_id)?;
    let mode = body.mode.clone().unwrap_or_else(|| "pack_container".into());
    let timeout = std::time::Duration::from_secs_f64(body.timeout.unwrap_or(60.0).clamp(1.0, 300.0));
    let args = body.args.clone().unwrap_or_else(|| json!({}));
    let packs = state.packs.clone();
    let units = state.units.clone();
    let capability = state.capability.clone();
    let (p, r, m) = (principal.clone(), body.unit_ref.clone(), mode.clone());
    let started = std::time::Instant::now();
    let prepared = blocking(move || {
        packs.verify_for_use(&p)?;
        let granted = |perm: &str| {
            capability
                .list(Some(p.as_str()))
                .iter()
                .any(|g| g.enabled && g.permissions.get(perm).is_some_and(|e| e.enabled))
        };
        units.prepare(&p, &r, &m, granted)
    })
    .await;
    let audit = |ok: bool, err: Option<&Error>| {
        let mut ev = AuditEvent::new(Category::Permission, "unit_executed")
            .in_request()
            .owner_pack(principal.as_str())
            .detail(
                "unit",
                format!(
                    "{}/{}/{}/{}",
                    body.unit_ref.store_id, body.unit_ref.namespace, body.unit_ref.name, body.unit_ref.version
                ),
            )
            .detail("mode", mode.clone())
            .detail("latency_ms", started.elapsed().as_secs_f64() * 1000.0);
        if let (false, Some(e)) = (ok, err) {
            ev = ev.failed(Severity::Warning, e.code().as_str(), e.to_string());
        }
        ev
    };
    let (unit, dir) = match prepared {
        Ok(x) => x,
        Err(e) => {
            state.audit.record(audit(false, Some(&e))).await;
            return Err(e);
        }
    };
    let result = state
        .flows
        .run_unit(
            &principal,
            &dir,
            unit.entrypoint.as_deref().unwrap_or_default(),
            args,
            timeout,
        )
        .await;
    let output = match result {
        Ok(v) if serde_json::to_vec(&v).map_or(0, |b| b.len()) > MAX_OUTPUT_BYTES => Err(unit_error(
            "response_too_large",
            "the unit's result is larger than 1 MiB",
        )),
        Ok(v) => Ok(v),
        // stderr never reaches the caller: the error type and a generic message only.
        Err(e) => {
            tracing::warn!(principal = %principal, error = %e, "unit failed");
            Err(unit_error(
                e.error_type(),
                "the unit failed (rumid's log has the detail)",
            ))
        }
    };
    match output {
        Ok(v) => {
            state.audit.record(audit(true, None)).await;
            Ok(ok(json!({"success": true, "output": v, "unit_id": unit.unit_id})))
        }
        Err(e) => {
            state.audit.record(audit(false, Some(&e))).await;
            Err(e)
        }
    }
}
