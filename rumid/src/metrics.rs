//! Prometheus metrics served at `GET /metrics` (authenticated).
//!
//! Names follow Prometheus conventions (`rumi_*`, counters end in `_total`); the guide's
//! dotted names map to them as they come to exist (for example `flow.step.success` →
//! `rumi_flow_step_success_total`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::approval::{PackState, Snapshot};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    /// The step type (`set`, `python_file_call`, …) or the handler name.
    pub handler: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FlowLabels {
    pub flow_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: &'static str,
}

/// Every metric rumid exports.
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub auth_failures: Counter,
    pub packs: Family<StateLabels, Gauge>,
    /// `flow.step.success` / `flow.step.error` of the guide.
    pub step_success: Family<StepLabels, Counter>,
    pub step_error: Family<StepLabels, Counter>,
    /// `flow.execution.complete`.
    pub flow_complete: Family<FlowLabels, Counter>,
    /// `flows.registered`.
    pub flows_registered: Gauge,
    /// `docker.available` (1 or 0).
    pub docker_available: Gauge,
    /// `container.start.success` / `container.start.failed`.
    pub container_start_success: Counter,
    pub container_start_failed: Counter,
    /// `python_file_call.duration_ms`.
    pub python_file_call_ms: Histogram,
    /// Pristine spare containers: waiting, claims, misses, start times.
    pub spares: crate::sandbox::docker::spares::SpareMetrics,
    /// API connections open that have not authenticated yet.
    pub api_unauthenticated_connections: Gauge,
    /// Unauthenticated API connections closed to make room (cap reached, or out of descriptors).
    pub api_connections_evicted: Counter,
    /// API connections closed because they did not send a request head in time.
    pub api_header_timeouts: Counter,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        let auth_failures = Counter::default();
        let packs = Family::<StateLabels, Gauge>::default();
        registry.register(
            "rumi_http_requests",
            "HTTP API requests by method and status",
            http_requests.clone(),
        );
        registry.register(
            "rumi_auth_failures",
            "API requests refused for a missing or wrong token",
            auth_failures.clone(),
        );
        registry.register("rumi_packs", "Installed packs by approval state", packs.clone());
        let step_success = Family::<StepLabels, Counter>::default();
        let step_error = Family::<StepLabels, Counter>::default();
        let flow_complete = Family::<FlowLabels, Counter>::default();
        let flows_registered = Gauge::default();
        let docker_available = Gauge::default();
        let container_start_success = Counter::default();
        let container_start_failed = Counter::default();
        let python_file_call_ms = Histogram::new([
            5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 60000.0,
        ]);
        registry.register(
            "rumi_flow_step_success",
            "Flow steps that succeeded (flow.step.success)",
            step_success.clone(),
        );
        registry.register(
            "rumi_flow_step_error",
            "Flow steps that failed (flow.step.error)",
            step_error.clone(),
        );
        registry.register(
            "rumi_flow_execution_complete",
            "Flow runs completed (flow.execution.complete)",
            flow_complete.clone(),
        );
        registry.register(
            "rumi_flows_registered",
            "Loaded flows (flows.registered)",
            flows_registered.clone(),
        );
        registry.register(
            "rumi_docker_available",
            "Whether the Docker engine answers (docker.available)",
            docker_available.clone(),
        );
        registry.register(
            "rumi_container_start_success",
            "Block containers run (container.start.success)",
            container_start_success.clone(),
        );
        registry.register(
            "rumi_container_start_failed",
            "Block containers that failed to run (container.start.failed)",
            container_start_failed.clone(),
        );
        registry.register(
            "rumi_python_file_call_duration_ms",
            "python_file_call duration in ms",
            python_file_call_ms.clone(),
        );
        let spares = crate::sandbox::docker::spares::SpareMetrics::new();
        registry.register(
            "rumi_sandbox_spares",
            "Pristine spare containers waiting for a job",
            spares.spares.clone(),
        );
        registry.register(
            "rumi_sandbox_spare_claims",
            "Block calls that ran in a spare container",
            spares.claims.clone(),
        );
        registry.register(
            "rumi_sandbox_spare_misses",
            "Block calls that found no spare and started a container cold",
            spares.misses.clone(),
        );
        registry.register(
            "rumi_sandbox_spare_start_ms",
            "Time to create and start a spare container, in ms",
            spares.start_ms.clone(),
        );
        let api_unauthenticated_connections = Gauge::default();
        let api_connections_evicted = Counter::default();
        let api_header_timeouts = Counter::default();
        registry.register(
            "rumi_api_unauthenticated_connections",
            "API connections open that have not authenticated yet",
            api_unauthenticated_connections.clone(),
        );
        registry.register(
            "rumi_api_connections_evicted",
            "Unauthenticated API connections closed to make room for new ones",
            api_connections_evicted.clone(),
        );
        registry.register(
            "rumi_api_header_timeouts",
            "API connections closed for not sending a request head within RUMI_API_HEADER_READ_TIMEOUT",
            api_header_timeouts.clone(),
        );
        Self {
            registry,
            spares,
            api_unauthenticated_connections,
            api_connections_evicted,
            api_header_timeouts,
            http_requests,
            auth_failures,
            packs,
            step_success,
            step_error,
            flow_complete,
            flows_registered,
            docker_available,
            container_start_success,
            container_start_failed,
            python_file_call_ms,
        }
    }

    /// Updates the per-state pack gauges from a snapshot.
    pub fn observe_packs(&self, snapshot: &Snapshot) {
        for state in PackState::ALL {
            let n = snapshot.packs.iter().filter(|p| p.status == state).count();
            self.packs
                .get_or_create(&StateLabels { state: state.as_str() })
                .set(n as i64);
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Maps a method to a bounded label value.
pub fn method_label(m: &axum::http::Method) -> &'static str {
    match *m {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::OPTIONS => "OPTIONS",
        axum::http::Method::HEAD => "HEAD",
        _ => "OTHER",
    }
}
