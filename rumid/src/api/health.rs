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
fn probes(state: &AppState, verbose: bool) -> Value {
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
                    ("sockets", probe_sockets(state)),
                    ("audit", health::probe_audit_space(&home.join("user_data/audit"))),
                ];
                // While lines cannot be written, or may soon not be, have the writer look again
                // now (at most once per cache period): a full disk and freed space both show
                // without waiting for the next write.
                let low = fresh.iter().any(|(n, p)| *n == "audit" && p.status != Status::Up);
                if low || !state.audit.status().writable {
                    state.audit.nudge();
                }
                *cache = Some((Instant::now(), fresh.clone()));
                fresh
            }
        }
    };
    // The writer's own state is read live: a refused action must show at once.
    let audit = state.audit.status();
    for (name, probe) in &mut probes {
        if *name == "audit" {
            *probe = health::with_audit_status(probe.clone(), &audit);
        }
    }
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
        let s = h.observed();
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
    health::report(probes, verbose || state.config.diagnostics_verbose)
}

/// Whether every approved pack's sandbox can open its own helper sockets (DEGRADED, naming
/// the first that cannot, otherwise).
fn probe_sockets(state: &AppState) -> health::Probe {
    use crate::socket_access::{self, Acls};
    let packs: Vec<_> = state
        .packs
        .snapshot()
        .packs
        .iter()
        .filter(|p| p.status == crate::approval::PackState::Approved)
        .map(|p| p.pack_id.clone())
        .collect();
    let sandbox = state.flows.sandbox();
    let gvisor = state.config.security_mode == crate::config::SecurityMode::Strict
        && state.config.docker_runtime.as_deref() == Some("runsc");
    let acls = if gvisor { Acls::Ignored } else { Acls::Honoured };
    let newest = state.policy.current().version;
    let helpers_current = state.helpers.iter().all(|h| {
        let s = h.status.load();
        s.is_up() && s.policy_version >= newest
    });
    let problems = socket_access::check(sandbox, &packs, acls, helpers_current);
    match socket_access::summary(&problems) {
        None => health::Probe {
            status: Status::Up,
            message: format!("{} approved pack(s): every sandbox can open its sockets", packs.len()),
            duration_ms: 0.0,
        },
        Some(message) => health::Probe {
            status: Status::Degraded,
            message,
            duration_ms: 0.0,
        },
    }
}

/// Unauthenticated: only the overall status and a timestamp. 503 when DOWN.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, description = "UP or DEGRADED", body = crate::api::openapi::answers::HealthPublic), (status = 503, description = "DOWN", body = crate::api::openapi::answers::HealthPublic)), security(()))]
pub async fn public(State(state): State<AppState>) -> Response {
    let report = probes(&state, false);
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
/// `GET /api/health?verbose=true`: every probe's message, UP ones too (what `rumid --health`
/// prints).
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
pub struct DetailQuery {
    #[serde(default)]
    pub verbose: bool,
}

#[utoipa::path(get, path = "/api/health", tag = "health", params(DetailQuery), responses((status = 200, description = "success envelope", body = crate::api::openapi::answers::DiagnosticsAnswer), (status = 400, description = "a RUMI error, or (plain text, from the HTTP framework) a query string that cannot be decoded", content((crate::api::openapi::Failure = "application/json"), (String = "text/plain"))), (status = "default", description = "RUMI error envelope", body = crate::api::openapi::Failure)))]
pub async fn detail(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<DetailQuery>,
) -> Response {
    ok(diagnostics_with(&state, q.verbose))
}

/// The diagnostics snapshot: every probe, the version, the mode, pack counts and helpers
/// (also what the `system.diagnostics` privilege returns).
pub fn diagnostics(state: &AppState) -> Value {
    diagnostics_with(state, false)
}

/// [`diagnostics`], with every probe's message when `verbose`.
pub fn diagnostics_with(state: &AppState, verbose: bool) -> Value {
    let mut report = probes(state, verbose);
    let snap = state.packs.snapshot();
    report["version"] = json!(env!("CARGO_PKG_VERSION"));
    report["security_mode"] = json!(state.config.security_mode);
    report["packs"] =
        json!({"total": snap.packs.len(), "pending": snap.packs.iter().filter(|p| p.status.is_pending()).count()});
    let helpers: serde_json::Map<String, Value> = state
        .helpers
        .iter()
        .map(|h| {
            let mut v = json!(h.observed());
            v["audit"] = json!(h.audit_status());
            (h.name.to_owned(), v)
        })
        .collect();
    report["helpers"] = Value::Object(helpers);
    report["policy_version"] = json!(state.policy.current().version);
    report["audit"] = json!(state.audit.status());
    report["api"] = json!({
        "unauthenticated_connections": state.metrics.api_unauthenticated_connections.get(),
        "connections_evicted": state.metrics.api_connections_evicted.get(),
        "header_timeouts": state.metrics.api_header_timeouts.get(),
    });
    // Lines lost to a slow or failing stderr (they are dropped, never waited for).
    report["logging"] = json!({"dropped_lines": rumi_common::telemetry::dropped_lines()});
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
    // The engine's answer is cached by the backend for a few seconds; a socket that accepts
    // and never answers must not hang the scrape.
    let docker = tokio::time::timeout(DOCKER_CHECK_TIMEOUT, state.flows.sandbox().builder_backend().check())
        .await
        .is_ok_and(|r| r.is_ok());
    let flows = state.flows.flows();
    state.metrics.refresh(
        state.helpers.iter().map(|h| (h.name, h.status.load().is_up())),
        docker,
        flows.flows.keys().map(String::as_str),
    );
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// How long a scrape waits for the Docker engine before reporting it unavailable.
const DOCKER_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
