//! `GET /health` (no auth, minimal), `GET /api/health` (detail) and `GET /metrics`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{AppState, ok};
use crate::health::{self, Status};

/// How long a probe report is reused. `/health` is unauthenticated; without this, anyone
/// could make rumid create files and call statvfs as fast as they can send requests.
const PROBE_CACHE: Duration = Duration::from_secs(1);

/// The last file-system probe results and when they were taken.
pub type ProbeCache = Mutex<Option<(Instant, Vec<(&'static str, health::Probe)>)>>;

/// Every probe: file-system probes (cached for [`PROBE_CACHE`]) and helper status (live;
/// reading it costs nothing and a stale "down" would mislead).
fn probes(state: &AppState) -> Value {
    let mut probes = {
        let mut cache = state.probe_cache.lock().unwrap_or_else(|p| p.into_inner());
        match cache.as_ref() {
            Some((at, cached)) if at.elapsed() < PROBE_CACHE => cached.clone(),
            _ => {
                let home = &state.config.home;
                let fresh = vec![
                    ("disk", health::probe_disk(home, state.config.disk_degraded_percent)),
                    ("writable_state", health::probe_writable(&home.join("user_data"))),
                    ("writable_tmp", health::probe_writable(&std::env::temp_dir())),
                ];
                *cache = Some((Instant::now(), fresh.clone()));
                fresh
            }
        }
    };
    // Where pack code runs: a sandbox, or (loudly) nothing at all.
    let backend = state.flows.sandbox().backend();
    let mode = backend.execution_mode();
    probes.push((
        "sandbox",
        health::Probe {
            status: if mode == "host_unisolated" {
                Status::Degraded
            } else {
                Status::Up
            },
            message: if mode == "host_unisolated" {
                "pack code runs on the host WITHOUT ANY ISOLATION (bubblewrap is unavailable or RUMI_HOST_ISOLATION=none)".into()
            } else {
                format!("{} ({mode})", backend.name())
            },
            duration_ms: 0.0,
        },
    ));
    for h in state.helpers.iter() {
        let s = h.status.load();
        // An up helper whose audit has a gap (a broken stream, events it dropped) is
        // DEGRADED: it serves packs, but the operator's record of what they did is not whole.
        let gap = s.is_up().then(|| h.audit_status().gap()).flatten();
        let status = match (s.is_up(), &gap) {
            // It serves only what its held and our refused policy both allow: not down,
            // not right either.
            (false, _) if s.is_policy_refused() => Status::Degraded,
            (false, _) => Status::Down,
            (true, Some(_)) => Status::Degraded,
            (true, None) => Status::Up,
        };
        let message = gap
            .or_else(|| s.last_error.clone())
            .unwrap_or_else(|| format!("{}; policy {}", s.state, s.policy_version));
        probes.push((
            h.name,
            health::Probe {
                status,
                message,
                duration_ms: 0.0,
            },
        ));
    }
    health::report(probes, state.config.diagnostics_verbose)
}

/// Unauthenticated: only the overall status and a timestamp. 503 when DOWN.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, description = "UP or DEGRADED: {status, timestamp}"), (status = 503, description = "DOWN")), security(()))]
pub async fn public(State(state): State<AppState>) -> Response {
    let report = probes(&state);
    let down = report["status"] == json!(Status::Down);
    let body = json!({"status": report["status"], "timestamp": report["timestamp"]});
    let code = if down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, axum::Json(body)).into_response()
}

/// Authenticated: every probe, the version, the mode and pack counts.
#[utoipa::path(get, path = "/api/health", tag = "health", responses((status = 200, description = "success envelope: {\"success\": true, \"data\": …}", body = crate::api::openapi::Success), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn detail(State(state): State<AppState>) -> Response {
    ok(diagnostics(&state))
}

/// The diagnostics snapshot: every probe, the version, the mode, pack counts and helpers
/// (also what the `system.diagnostics` privilege returns).
pub fn diagnostics(state: &AppState) -> Value {
    let mut report = probes(state);
    let snap = state.packs.snapshot();
    report["version"] = json!(env!("CARGO_PKG_VERSION"));
    report["security_mode"] = json!(state.config.security_mode);
    report["packs"] =
        json!({"total": snap.packs.len(), "pending": snap.packs.iter().filter(|p| p.status.is_pending()).count()});
    let helpers: serde_json::Map<String, Value> = state
        .helpers
        .iter()
        .map(|h| {
            let mut v = json!(**h.status.load());
            v["audit"] = json!(h.audit_status());
            (h.name.to_owned(), v)
        })
        .collect();
    report["helpers"] = Value::Object(helpers);
    report["policy_version"] = json!(state.policy.current().version);
    let backend = state.flows.sandbox().backend();
    report["sandbox"] = json!({
        "backend": backend.name(),
        "execution_mode": backend.execution_mode(),
        "isolated": backend.execution_mode() != "host_unisolated",
        "pack_uid_on_host": backend.runs_as_pack_uid(),
    });
    report
}

/// Prometheus / OpenMetrics text.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text"), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}
