//! The OpenAPI 3 description of the API, generated from the handlers' `#[utoipa::path]`
//! annotations as the router is built (utoipa-axum: a route and its description are
//! registered by the same call, so they cannot drift apart). Served at
//! `GET /api/openapi.json`; `docs/openapi.json` is a copy a test keeps current. Every answer
//! is typed: the success envelopes and their `data` schemas are in [`answers`].

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

pub mod answers;

/// `{"success": false, "error": "<message>", "error_code", "suggestion", "request_id"}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Failure {
    /// Always false.
    success: bool,
    /// What went wrong, for people.
    error: String,
    /// `RUMI-<CAT>-<NNN>` (docs/error-codes.md).
    error_code: String,
    /// What the operator can do about it.
    suggestion: String,
    request_id: Option<String>,
}

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The answer of `POST /api/flows/{flow_id}/run` (the operations guide's shape, no `data`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FlowRun {
    /// Always true.
    success: bool,
    flow_id: String,
    /// The flow's outputs (an object; null when a non-object result was truncated).
    result: serde_json::Value,
    /// Seconds.
    execution_time: f64,
    /// Only when the result was cut to `RUMI_MAX_RESPONSE_BYTES`.
    truncated: Option<bool>,
    /// Only when a step aborted the flow.
    aborted: Option<bool>,
}

/// A failed flow run: the error envelope plus the guide's `flow_id` and `status_code`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FlowRunFailure {
    /// Always false.
    success: bool,
    error: String,
    error_code: String,
    suggestion: String,
    request_id: Option<String>,
    /// Absent when the request was refused before the run was looked at (token, body size,
    /// audit log), which answers the plain error envelope.
    flow_id: Option<String>,
    /// The HTTP status, repeated; absent with `flow_id`.
    status_code: Option<u16>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rumi API",
        description = "The operator API of rumid. Every request except GET /health and the console's static files needs `Authorization: Bearer <token>`; answers use the JSON envelope of docs/api.md.",
    ),
    modifiers(&Bearer),
    security(("token" = [])),
    components(schemas(Failure, FlowRun, FlowRunFailure))
)]
pub struct ApiDoc;

/// The description as served (the paths come from the router).
pub fn document(spec: &utoipa::openapi::OpenApi) -> String {
    spec.to_pretty_json().unwrap_or_else(|_| "{}".into())
}

/// An optional JSON object body (see docs/api.md for its fields); empty is allowed.
#[derive(ToSchema)]
#[schema(value_type = Object)]
#[allow(dead_code)]
pub struct OptionalJson(serde_json::Value);

#[cfg(test)]
mod tests {
    /// `docs/openapi.json` is the generated document; regenerate it with
    /// `RUMI_UPDATE_OPENAPI=1 cargo test -p rumid openapi`.
    #[test]
    fn docs_openapi_json_is_current() {
        let generated = crate::api::openapi_json();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
        #[allow(clippy::disallowed_methods)] // a test-only switch
        if std::env::var("RUMI_UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
            std::fs::write(&path, format!("{generated}\n")).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            committed.trim_end(),
            generated.trim_end(),
            "docs/openapi.json is stale: RUMI_UPDATE_OPENAPI=1 cargo test -p rumid openapi"
        );
        let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/api/packs",
            "/api/packs/{pack_id}/approve",
            "/api/flows/{flow_id}/run",
            "/health",
        ] {
            assert!(paths.contains_key(p), "{p}");
        }
        assert!(paths.len() >= 60, "{} paths", paths.len());
    }
}
