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

/// The last probe report and when it was taken.
pub type ProbeCache = Mutex<Option<(Instant, Value)>>;

fn probes(state: &AppState) -> Value {
    let mut cache = state.probe_cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((at, report)) = cache.as_ref()
        && at.elapsed() < PROBE_CACHE
    {
        return report.clone();
    }
    let report = run_probes(state);
    *cache = Some((Instant::now(), report.clone()));
    report
}

fn run_probes(state: &AppState) -> Value {
    let home = &state.config.home;
    health::report(
        vec![
            ("disk", health::probe_disk(home)),
            (
                "writable_state",
                health::probe_writable(&home.join("user_data")),
            ),
            (
                "writable_tmp",
                health::probe_writable(&std::env::temp_dir()),
            ),
        ],
        state.config.diagnostics_verbose,
    )
}

/// Unauthenticated: only the overall status and a timestamp. 503 when DOWN.
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
pub async fn detail(State(state): State<AppState>) -> Response {
    let mut report = probes(&state);
    let snap = state.packs.snapshot();
    report["version"] = json!(env!("CARGO_PKG_VERSION"));
    report["security_mode"] = json!(state.config.security_mode);
    report["packs"] = json!({"total": snap.packs.len(), "pending": snap.packs.iter().filter(|p| p.status.is_pending()).count()});
    ok(report)
}

/// Prometheus / OpenMetrics text.
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
