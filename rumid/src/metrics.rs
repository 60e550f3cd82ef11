//! Prometheus metrics served at `GET /metrics` (authenticated).
//!
//! Names follow Prometheus conventions (`rumi_*`, counters end in `_total`, durations are in
//! base units, `_seconds`); the guide's dotted names map to them as they come to exist (for
//! example `flow.step.success` → `rumi_flow_step_success_total`,
//! `python_file_call.duration_ms` → `rumi_python_file_call_duration_seconds`). Every series
//! whose labels are known in advance exists from the start at 0, so a `rate()` or an alert
//! on it works before the first event. Values that describe the present (helpers up, Docker
//! answering) are refreshed when `/metrics` is scraped ([`Metrics::refresh`]).

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
pub struct PackLabels {
    pub pack_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SkipLabels {
    pub flow_id: String,
    /// `running` (the previous run still goes), `pack_share` (the flow's pack holds its share
    /// of the flow slots) or `slots` (every slot is taken).
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HelperLabels {
    pub helper: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: &'static str,
}

/// The step labels that exist before any step ran: every step type (a `handler` step is
/// labelled with its handler, known only when it runs).
pub const STEP_TYPES: [&str; 4] = ["python_file_call", "set", "if", "flow"];

/// The helpers rumid supervises, labelled `helper` in `rumi_helper_up`.
pub const HELPERS: [&str; 2] = ["egressd", "capd"];

/// Buckets of `rumi_python_file_call_duration_seconds`: from a warm spare (a few ms) to the
/// default block limit (60 s).
const BLOCK_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];

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
    /// Scheduled runs that were due but not started, by flow and reason.
    pub schedule_skipped: Family<SkipLabels, Counter>,
    /// Blocks running now (holding a container slot), by pack.
    pub containers_running: Family<PackLabels, Gauge>,
    /// `docker.available` (1 or 0).
    pub docker_available: Gauge,
    /// `container.start.success` / `container.start.failed`.
    pub container_start_success: Counter,
    pub container_start_failed: Counter,
    /// `python_file_call.duration_ms` of the guide, in seconds.
    pub python_file_call_seconds: Histogram,
    /// 1 per helper while it is up and holds the policy, else 0 (set at each scrape).
    pub helper_up: Family<HelperLabels, Gauge>,
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
        let schedule_skipped = Family::<SkipLabels, Counter>::default();
        let containers_running = Family::<PackLabels, Gauge>::default();
        let docker_available = Gauge::default();
        let container_start_success = Counter::default();
        let container_start_failed = Counter::default();
        let python_file_call_seconds = Histogram::new(BLOCK_BUCKETS);
        let helper_up = Family::<HelperLabels, Gauge>::default();
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("rumi_build_info", "rumid's version (always 1)", build_info);
        registry.register(
            "rumi_helper_up",
            "Whether a helper daemon is up and holds the policy (1) or not (0)",
            helper_up.clone(),
        );
        for helper in HELPERS {
            let _ = helper_up.get_or_create(&HelperLabels { helper });
        }
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
            "rumi_flow_schedule_skipped",
            "Scheduled runs not started when due (the previous run still going, the pack's share or every flow slot in use)",
            schedule_skipped.clone(),
        );
        registry.register(
            "rumi_containers_running",
            "Blocks running now (each holds a slot of RUMI_MAX_RUNNING_CONTAINERS and of its pack's share), by pack",
            containers_running.clone(),
        );
        registry.register(
            "rumi_docker_available",
            "Whether the Docker engine answers, checked at each scrape (docker.available)",
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
        registry.register_with_unit(
            "rumi_python_file_call_duration",
            "Duration of python_file_call steps, from the approval check to the result",
            prometheus_client::registry::Unit::Seconds,
            python_file_call_seconds.clone(),
        );
        for handler in STEP_TYPES {
            let label = StepLabels {
                handler: handler.to_owned(),
            };
            let _ = step_success.get_or_create(&label);
            let _ = step_error.get_or_create(&label);
        }
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
        registry.register_with_unit(
            "rumi_sandbox_spare_start",
            "Time to create and start a spare container",
            prometheus_client::registry::Unit::Seconds,
            spares.start_seconds.clone(),
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
            schedule_skipped,
            containers_running,
            docker_available,
            container_start_success,
            container_start_failed,
            python_file_call_seconds,
            helper_up,
        }
    }

    /// Sets what describes the present before a scrape: whether each helper is up, whether
    /// the Docker engine answers, and a zero series for every loaded flow.
    pub fn refresh<'a>(
        &self,
        helpers_up: impl IntoIterator<Item = (&'static str, bool)>,
        docker_available: bool,
        flow_ids: impl IntoIterator<Item = &'a str>,
    ) {
        for (helper, up) in helpers_up {
            self.helper_up
                .get_or_create(&HelperLabels { helper })
                .set(i64::from(up));
        }
        self.docker_available.set(i64::from(docker_available));
        for flow_id in flow_ids {
            let _ = self.flow_complete.get_or_create(&FlowLabels {
                flow_id: flow_id.to_owned(),
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_exist_from_the_start_and_durations_are_in_seconds() {
        let m = Metrics::new();
        let text = m.encode();
        for line in [
            "rumi_build_info{version=\"0.1.0\"} 1",
            "rumi_helper_up{helper=\"egressd\"} 0",
            "rumi_helper_up{helper=\"capd\"} 0",
            "rumi_flow_step_error_total{handler=\"python_file_call\"} 0",
            "rumi_flow_step_success_total{handler=\"set\"} 0",
            "rumi_container_start_failed_total 0",
            "rumi_auth_failures_total 0",
            "rumi_python_file_call_duration_seconds_count 0",
            "rumi_python_file_call_duration_seconds_bucket{le=\"0.005\"} 0",
            "rumi_sandbox_spare_start_seconds_count 0",
            "# UNIT rumi_python_file_call_duration_seconds seconds",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(!text.contains("_ms"), "no metric in milliseconds:\n{text}");
    }

    #[test]
    fn a_refresh_sets_the_present() {
        let m = Metrics::new();
        m.refresh([("egressd", true), ("capd", false)], true, ["hello"]);
        let text = m.encode();
        for line in [
            "rumi_helper_up{helper=\"egressd\"} 1",
            "rumi_helper_up{helper=\"capd\"} 0",
            "rumi_docker_available 1",
            "rumi_flow_execution_complete_total{flow_id=\"hello\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        m.refresh([("capd", true)], false, []);
        let text = m.encode();
        assert!(
            text.contains("rumi_helper_up{helper=\"capd\"} 1") && text.contains("rumi_docker_available 0"),
            "{text}"
        );
    }
}
