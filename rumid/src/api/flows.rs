//! `/api/flows…` and the Docker / container endpoints.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use rumi_common::ids::PackId;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, blocking, ok};
use crate::error::Error;

/// Default and largest flow run timeout, seconds.
pub const DEFAULT_TIMEOUT_SECS: f64 = 300.0;
pub const MAX_TIMEOUT_SECS: f64 = 600.0;

#[utoipa::path(get, path = "/api/flows", tag = "flows", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::FlowListAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn list(State(state): State<AppState>) -> Response {
    let set = state.flows.flows();
    let flows: Vec<Value> = set
        .flows
        .values()
        .map(|f| {
            json!({
                "flow_id": f.flow_id,
                "source": f.source,
                "phases": f.phases,
                "steps": f.steps.len(),
                "schedule": f.schedule,
            })
        })
        .collect();
    ok(json!({"flows": flows, "count": flows.len(), "diagnostics": set.diagnostics}))
}

#[utoipa::path(post, path = "/api/flows/reload", tag = "flows", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::FlowReloadAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn reload(State(state): State<AppState>) -> Result<Response, Error> {
    let engine = state.flows.clone();
    let n = blocking(move || Ok(engine.reload())).await?;
    Ok(ok(json!({"flows": n, "diagnostics": state.flows.flows().diagnostics})))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    #[serde(default)]
    pub inputs: Option<Value>,
    #[serde(default)]
    pub timeout: Option<f64>,
}

#[utoipa::path(post, path = "/api/flows/{flow_id}/run", tag = "flows", params(("flow_id" = String, Path, description = "flow id")), request_body = crate::api::openapi::OptionalJson, responses((status = 200, description = "the run's answer: {success, flow_id, result, execution_time}", body = crate::api::openapi::FlowRun), (status = "default", description = "the error envelope with flow_id and status_code", body = crate::api::openapi::FlowRunFailure)))]
pub async fn run(State(state): State<AppState>, Path(flow_id): Path<String>, body: axum::body::Bytes) -> Response {
    run_flow(&state, &flow_id, &body)
        .await
        .unwrap_or_else(|e| run_failure(&e, &flow_id))
}

async fn run_flow(state: &AppState, flow_id: &str, body: &[u8]) -> Result<Response, Error> {
    let body: RunBody = if body.iter().all(u8::is_ascii_whitespace) {
        RunBody::default()
    } else {
        serde_json::from_slice(body).map_err(|e| Error::MalformedJson { detail: e.to_string() })?
    };
    let inputs = body.inputs.unwrap_or_else(|| json!({}));
    if !inputs.is_object() {
        return Err(Error::Invalid {
            field: "inputs",
            reason: "must be a JSON object".into(),
        });
    }
    let timeout = body.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if !(timeout > 0.0 && timeout <= MAX_TIMEOUT_SECS) {
        return Err(Error::Invalid {
            field: "timeout",
            reason: "must be greater than 0 and at most 600 seconds".into(),
        });
    }
    // The guide's answer (DECISIONS 18): the run's fields at the top level, and on failure the
    // message with the flow id and the status beside the envelope's error fields.
    let result = state
        .flows
        .run(flow_id, inputs, Duration::from_secs_f64(timeout))
        .await?;
    let Ok(Value::Object(mut body)) = serde_json::to_value(&result) else {
        return Err(Error::Task("the flow result could not be serialised".into()));
    };
    body.insert("success".into(), Value::Bool(true));
    Ok(axum::Json(Value::Object(body)).into_response())
}

/// A failed run in the guide's shape: `{"success": false, "error", "flow_id", "status_code"}`
/// plus `error_code`, `suggestion` and `request_id`.
fn run_failure(err: &Error, flow_id: &str) -> Response {
    let (status, mut body) = crate::api::envelope::error_body(err);
    body.insert("flow_id".into(), json!(flow_id));
    body.insert("status_code".into(), json!(status.as_u16()));
    (status, axum::Json(Value::Object(body))).into_response()
}

#[utoipa::path(get, path = "/api/docker/status", tag = "flows", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::DockerStatusAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn docker_status(State(state): State<AppState>) -> Response {
    let sandbox = state.flows.sandbox();
    let engine = sandbox.builder_backend();
    let status = engine.check().await;
    let blocks = sandbox.backend();
    ok(json!({
        "available": status.is_ok(),
        "detail": status.unwrap_or_else(|e| e),
        "image": state.config.runtime_image,
        "runtime": state.config.docker_runtime,
        "security_mode": state.config.security_mode,
        "blocks_run_in": blocks.name(),
        "execution_mode": blocks.execution_mode(),
    }))
}

#[utoipa::path(get, path = "/api/containers", tag = "flows", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::ContainerListAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn containers(State(state): State<AppState>) -> Response {
    let (list, spares) = state.flows.sandbox().list().await;
    ok(json!({"containers": list, "count": list.len(), "spares": spares}))
}

#[utoipa::path(delete, path = "/api/containers/{pack_id}", tag = "flows", params(("pack_id" = String, Path, description = "pack id")), responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::ContainersRemovedAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn remove_containers(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Response, Error> {
    let pack = PackId::parse(&raw)?;
    let n = state.flows.sandbox().stop_pack(&pack).await;
    state
        .audit
        .record(
            crate::audit::AuditEvent::new(crate::audit::Category::System, "containers_removed")
                .in_request()
                .owner_pack(pack.as_str())
                .detail("removed", n),
        )
        .await;
    Ok(ok(json!({"pack_id": pack, "removed": n})))
}

/// `GET /api/routes`.
#[utoipa::path(get, path = "/api/routes", tag = "flows", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::RouteListAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn routes(State(state): State<AppState>) -> Response {
    ok(crate::routes::listing(&state.flows.routes()))
}

/// `POST /api/routes/reload` (reloads flows, modifiers and routes together).
#[utoipa::path(post, path = "/api/routes/reload", tag = "flows", responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::RouteListAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn reload_routes(State(state): State<AppState>) -> Result<Response, Error> {
    let engine = state.flows.clone();
    blocking(move || Ok(engine.reload())).await?;
    Ok(ok(crate::routes::listing(&state.flows.routes())))
}

/// Every path no built-in endpoint matched: a pack route, or 404.
pub async fn dispatch(
    State(state): State<AppState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Error> {
    let table = state.flows.routes();
    let (route, params) = match table.find(method.as_str(), uri.path()) {
        Ok(Some(found)) => found,
        Ok(None) => return Err(Error::NoRoute),
        Err(crate::routes::UnsafeParam) => {
            return Err(Error::Invalid {
                field: "path",
                reason: "a path parameter contains NUL or '..'".into(),
            });
        }
    };
    let hs: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let inputs = crate::routes::inputs(route, &params, method.as_str(), uri.path(), uri.query(), &hs, &body);
    let result = state
        .flows
        .run_triggered(&route.flow_id, inputs, Duration::from_secs(300), "route")
        .await?;
    Ok(ok(result))
}

/// `POST /api/containers/{pack_id}/start`: checks that the pack's sandbox can start now
/// (approved and unchanged, Docker and the image available) by running a container that
/// does nothing, and reports how long it took. In strict mode this also warms the pack: its
/// pristine spares are started in the background.
#[utoipa::path(post, path = "/api/containers/{pack_id}/start", tag = "flows", params(("pack_id" = String, Path, description = "pack id")), responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::StartCheckAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn start_container(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Response, Error> {
    let pack = PackId::parse(&raw)?;
    state.packs.verify_for_use(&pack)?;
    let started = std::time::Instant::now();
    let probe = state.flows.probe_sandbox(&pack).await;
    let ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    state
        .audit
        .record(
            crate::audit::AuditEvent::new(crate::audit::Category::System, "container_start_check")
                .in_request()
                .owner_pack(pack.as_str())
                .detail("ok", probe.is_ok()),
        )
        .await;
    Ok(ok(
        json!({"pack_id": pack, "ok": probe.is_ok(), "error": probe.err(), "duration_ms": ms}),
    ))
}

/// `POST /api/containers/{pack_id}/stop`: removes every container of the pack.
#[utoipa::path(post, path = "/api/containers/{pack_id}/stop", tag = "flows", params(("pack_id" = String, Path, description = "pack id")), responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::ContainersRemovedAnswer), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn stop_container(State(state): State<AppState>, Path(raw): Path<String>) -> Result<Response, Error> {
    remove_containers(State(state), Path(raw)).await
}
