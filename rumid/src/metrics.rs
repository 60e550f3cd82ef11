//! Prometheus metrics served at `GET /metrics` (authenticated).
//!
//! Names follow Prometheus conventions (`rumi_*`, counters end in `_total`); the guide's
//! dotted names map to them as they come to exist (for example `flow.step.success` →
//! `rumi_flow_step_success_total`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::approval::{PackState, Snapshot};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: &'static str,
    pub status: u16,
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
        Self {
            registry,
            http_requests,
            auth_failures,
            packs,
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
