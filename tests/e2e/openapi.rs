//! The OpenAPI document types every answer: live answers of a representative set of
//! endpoints, after some state was created, are validated against the response schema that
//! `GET /api/openapi.json` gives for their operation and status (OpenAPI 3.1 schemas are JSON
//! Schema 2020-12; `$ref`s resolve into the document's `components`).

use std::fs;

use rumi_tests::{Resp, Rumid, TestHome};
use serde_json::{Value, json};

/// The response schemas of one OpenAPI document.
struct Spec {
    doc: Value,
}

impl Spec {
    fn new(doc: Value) -> Self {
        assert!(
            doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")),
            "not OpenAPI 3.1: {}",
            doc["openapi"]
        );
        Self { doc }
    }

    /// The schema of the JSON answer of `method path` with `status` (else the `default`
    /// answer), as a standalone JSON Schema that carries the components its `$ref`s point to.
    fn schema(&self, method: &str, path: &str, status: u16) -> Value {
        let op = &self.doc["paths"][path][method.to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {path} is not in the document");
        let responses = &op["responses"];
        let answer = match &responses[status.to_string()] {
            Value::Null => &responses["default"],
            a => a,
        };
        let schema = &answer["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{method} {path} has no JSON schema for {status}: {answer}"
        );
        let mut root = schema.clone();
        root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        root["components"] = self.doc["components"].clone();
        root
    }

    /// Every way `body` breaks the schema of `method path` for `status`.
    fn violations(&self, method: &str, path: &str, status: u16, body: &Value) -> Vec<String> {
        let schema = self.schema(method, path, status);
        let validator = jsonschema::draft202012::new(&schema)
            .unwrap_or_else(|e| panic!("the schema of {method} {path} does not compile: {e}"));
        validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    /// Panics unless the answer matches its documented schema.
    fn check(&self, method: &str, path: &str, r: &Resp) {
        let errors = self.violations(method, path, r.status, &r.body);
        assert!(
            errors.is_empty(),
            "{method} {path} answered {} off its schema:\n{}\nbody: {}",
            r.status,
            errors.join("\n"),
            r.body
        );
    }
}

fn committed_spec() -> Spec {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    Spec::new(serde_json::from_str(&fs::read_to_string(path).expect("docs/openapi.json")).expect("JSON"))
}

/// The check catches a field of the wrong type, a missing required field and a null in a
/// field that is never null, at the top and deep inside `data`.
#[test]
fn a_tampered_answer_fails_its_schema() {
    let spec = committed_spec();
    let good = json!({"success": true, "data": {
        "packs": [{"pack_id": "hello", "status": "approved", "legacy": false, "name": "Hello"}],
        "count": 1, "invalid": [], "added_later": "unknown fields are allowed"}});
    assert_eq!(spec.violations("GET", "/api/packs", 200, &good), Vec::<String>::new());

    let mut count = good.clone();
    count["data"]["count"] = json!("1");
    let mut legacy = good.clone();
    legacy["data"]["packs"][0]["legacy"] = json!("no");
    let mut missing = good.clone();
    missing["data"].as_object_mut().unwrap().remove("invalid");
    let mut null = good.clone();
    null["data"]["packs"][0]["pack_id"] = Value::Null;
    for (what, bad) in [
        ("count", count),
        ("legacy", legacy),
        ("invalid", missing),
        ("pack_id", null),
    ] {
        let errors = spec.violations("GET", "/api/packs", 200, &bad);
        assert!(!errors.is_empty(), "a tampered {what} passed");
    }

    // A nullable field takes null; the error envelope is the `default` answer.
    let secret = json!({"success": true, "data": {"count": 1, "keys": [{"key": "K", "value": null,
        "exists": false, "deleted": true, "created_at": "t", "updated_at": "t", "deleted_at": "t"}]}});
    assert_eq!(
        spec.violations("GET", "/api/secrets", 200, &secret),
        Vec::<String>::new()
    );
    let failure = json!({"success": false, "error": "no", "error_code": "RUMI-PACK-005",
        "suggestion": "s", "request_id": "req-0"});
    assert_eq!(
        spec.violations("GET", "/api/packs/{pack_id}/status", 404, &failure),
        Vec::<String>::new()
    );
    let mut failure_bad = failure;
    failure_bad["error"] = json!({"message": "an object is not the guide's string"});
    assert!(
        !spec
            .violations("GET", "/api/packs/{pack_id}/status", 404, &failure_bad)
            .is_empty()
    );
}

const HANDLER: &str = "def execute(context, args):\n    return args\n";

#[test]
fn live_answers_match_the_served_document() {
    let home = TestHome::example();
    home.add_pack("tools");
    home.add_pack("reader");
    let handler = home.path().join("ecosystem/tools/share/capability_handlers/echo_v1");
    fs::create_dir_all(&handler).unwrap();
    fs::write(
        handler.join("handler.json"),
        json!({"handler_id": "tools.echo", "permission_id": "echo.run", "description": "echoes"}).to_string(),
    )
    .unwrap();
    fs::write(handler.join("handler.py"), HANDLER).unwrap();
    let bad = home.path().join("ecosystem/tools/share/capability_handlers/evil");
    fs::create_dir_all(&bad).unwrap();
    fs::write(
        bad.join("handler.json"),
        json!({"handler_id": "tools.evil", "permission_id": "secrets.get"}).to_string(),
    )
    .unwrap();
    fs::write(bad.join("handler.py"), HANDLER).unwrap();

    let rumid = Rumid::start(&home);
    rumid.wait_helpers_up().expect("helpers up");
    let served = rumid.get("/api/openapi.json");
    assert_eq!(served.status, 200);
    let spec = Spec::new(served.body);
    let mut checked = 0;
    let mut call = |method: &str, template: &str, path: &str, body: Option<Value>| -> Resp {
        let r = match (method, &body) {
            ("GET", _) => rumid.get(path),
            ("DELETE", _) => rumid.delete(path),
            (_, b) => rumid.post(path, b.as_ref()),
        };
        spec.check(method, template, &r);
        checked += 1;
        r
    };

    // Packs.
    let r = call("POST", "/api/packs/{pack_id}/approve", "/api/packs/hello/approve", None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    call("POST", "/api/packs/{pack_id}/approve", "/api/packs/tools/approve", None);
    let r = call(
        "POST",
        "/api/packs/{pack_id}/reject",
        "/api/packs/reader/reject",
        Some(json!({"reason": "not yet"})),
    );
    assert_eq!(r.body["data"]["status"], "blocked");
    fs::write(home.path().join("ecosystem/tools/extra.txt"), "changed").unwrap();
    let r = call("POST", "/api/packs/scan", "/api/packs/scan", None);
    assert_eq!(r.body["data"]["modified"], json!(["tools"]));
    let r = call("GET", "/api/packs/{pack_id}/status", "/api/packs/tools/status", None);
    assert!(r.body["data"]["changes"]["added"].is_array(), "{:?}", r.body);
    call("POST", "/api/packs/{pack_id}/approve", "/api/packs/tools/approve", None);
    let r = call("GET", "/api/packs", "/api/packs", None);
    assert_eq!(r.body["data"]["count"], 3);
    call("GET", "/api/packs/pending", "/api/packs/pending", None);
    let r = call("GET", "/api/packs/{pack_id}/status", "/api/packs/nope/status", None);
    assert_eq!(r.status, 404);
    call("GET", "/api/packs/staging", "/api/packs/staging", None);

    // Health.
    let r = call("GET", "/health", "/health", None);
    assert_eq!(r.status, 200);
    let r = call("GET", "/api/health", "/api/health?verbose=true", None);
    assert!(r.body["data"]["helpers"]["capd"]["audit"].is_object());

    // Flows, routes, containers.
    let r = call("GET", "/api/flows", "/api/flows", None);
    assert!(r.body["data"]["count"].as_u64() >= Some(1), "{:?}", r.body);
    call("POST", "/api/flows/reload", "/api/flows/reload", None);
    let r = call(
        "POST",
        "/api/flows/{flow_id}/run",
        "/api/flows/hello/run",
        Some(json!({"inputs": {"name": "World"}, "timeout": 60})),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = call(
        "POST",
        "/api/flows/{flow_id}/run",
        "/api/flows/nope/run",
        Some(json!({})),
    );
    assert_eq!(r.status, 404);
    call("GET", "/api/routes", "/api/routes", None);
    call("GET", "/api/docker/status", "/api/docker/status", None);
    call("GET", "/api/containers", "/api/containers", None);
    call("DELETE", "/api/containers/{pack_id}", "/api/containers/hello", None);

    // Network grants.
    let grant = json!({"pack_id": "hello", "allowed_domains": ["api.example.com"], "allowed_ports": [443]});
    call("POST", "/api/network/grant", "/api/network/grant", Some(grant));
    call(
        "POST",
        "/api/network/check",
        "/api/network/check",
        Some(json!({"pack_id": "hello", "domain": "api.example.com", "port": 443})),
    );
    call(
        "POST",
        "/api/network/revoke",
        "/api/network/revoke",
        Some(json!({"pack_id": "hello", "reason": "done"})),
    );
    call("GET", "/api/network/list", "/api/network/list", None);

    // Capability grants and handler candidates.
    call(
        "POST",
        "/api/capability/grants/grant",
        "/api/capability/grants/grant",
        Some(
            json!({"principal_id": "hello", "permission_id": "store.get", "config": {"allowed_store_ids": ["notes"]}}),
        ),
    );
    let r = call(
        "POST",
        "/api/capability/grants/batch",
        "/api/capability/grants/batch",
        Some(json!({"grants": [
            {"principal_id": "hello__worker", "permission_id": "store.get"},
            {"principal_id": "bad/id", "permission_id": "store.get"}]})),
    );
    assert_eq!(r.body["data"]["failed"], 1);
    call(
        "POST",
        "/api/capability/grants/revoke",
        "/api/capability/grants/revoke",
        Some(json!({"principal_id": "hello", "permission_id": "store.get"})),
    );
    call("GET", "/api/capability/grants", "/api/capability/grants", None);
    let r = call(
        "POST",
        "/api/capability/candidates/scan",
        "/api/capability/candidates/scan",
        None,
    );
    assert_eq!(
        r.body["data"]["invalid"].as_array().map(Vec::len),
        Some(1),
        "{:?}",
        r.body
    );
    let key = r.body["data"]["candidates"][0]["candidate_key"]
        .as_str()
        .expect("a candidate")
        .replace(':', "%3A");
    call(
        "GET",
        "/api/capability/requests/{key}/source",
        &format!("/api/capability/requests/{key}/source"),
        None,
    );
    call(
        "POST",
        "/api/capability/requests/{key}/reject",
        &format!("/api/capability/requests/{key}/reject"),
        Some(json!({"reason": "later"})),
    );
    let r = call("GET", "/api/capability/requests", "/api/capability/requests", None);
    assert_eq!(r.body["data"]["items"][0]["status"], "rejected");
    call("GET", "/api/capability/blocked", "/api/capability/blocked", None);

    // Secrets and stores (through rumi-capd).
    call(
        "POST",
        "/api/secrets/set",
        "/api/secrets/set",
        Some(json!({"key": "API_KEY", "value": "s3cret"})),
    );
    call(
        "POST",
        "/api/secrets/set",
        "/api/secrets/set",
        Some(json!({"key": "OLD_KEY", "value": "x"})),
    );
    call(
        "POST",
        "/api/secrets/delete",
        "/api/secrets/delete",
        Some(json!({"key": "OLD_KEY"})),
    );
    let r = call("GET", "/api/secrets", "/api/secrets", None);
    assert_eq!(r.body["data"]["count"], 2);
    call(
        "POST",
        "/api/stores/create",
        "/api/stores/create",
        Some(json!({"store_id": "notes", "owner_pack": "hello"})),
    );
    call(
        "POST",
        "/api/stores/create",
        "/api/stores/create",
        Some(json!({"store_id": "open"})),
    );
    call("GET", "/api/stores", "/api/stores", None);
    let share = json!({"store_id": "notes", "owner_pack": "hello", "target_pack": "tools"});
    call(
        "POST",
        "/api/stores/shared/approve",
        "/api/stores/shared/approve",
        Some(share.clone()),
    );
    call(
        "POST",
        "/api/stores/shared/revoke",
        "/api/stores/shared/revoke",
        Some(share),
    );
    call("GET", "/api/stores/shared", "/api/stores/shared", None);

    // Privileges, units, pip, audit.
    call(
        "POST",
        "/api/privileges/{pack_id}/grant/{privilege_id}",
        "/api/privileges/hello/grant/system.diagnostics",
        None,
    );
    call(
        "POST",
        "/api/privileges/{pack_id}/execute/{privilege_id}",
        "/api/privileges/hello/execute/system.diagnostics",
        None,
    );
    call(
        "POST",
        "/api/privileges/{pack_id}/revoke/{privilege_id}",
        "/api/privileges/hello/revoke/system.diagnostics",
        None,
    );
    call("GET", "/api/privileges", "/api/privileges", None);
    call("GET", "/api/units", "/api/units", None);
    call("POST", "/api/pip/candidates/scan", "/api/pip/candidates/scan", None);
    call("GET", "/api/pip/requests", "/api/pip/requests", None);
    call("GET", "/api/pip/blocked", "/api/pip/blocked", None);
    let r = call("GET", "/api/audit/recent", "/api/audit/recent?limit=20", None);
    assert!(r.body["data"]["count"].as_u64() > Some(0));
    let r = call("GET", "/api/audit/recent", "/api/audit/recent?category=BAD", None);
    assert_eq!(r.status, 400);

    // Uninstall last: its answer names the backup.
    call("DELETE", "/api/packs/{pack_id}", "/api/packs/reader", None);
    assert!(checked >= 50, "{checked} answers checked");
}
