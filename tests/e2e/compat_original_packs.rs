//! Packs written for the original system run unchanged: the fixture pack `classic` uses the
//! original's conventions (an `async def run`, a generator `run`, `core_runtime.*` imports,
//! the weather tutorial's store check, the guide's `secrets.get` failure branch, a lib script
//! reading `lib_dir`, `outputs` as `name: type` declarations, `function` steps as the guides
//! write them, the `_kernel_step_status` check after a failed step) and each gives the
//! original's result, in permissive mode.

use rumi_tests::{Rumid, TestHome, docker_or_skip, eventually, patience};
use serde_json::{Value, json};

/// rumid with `classic` approved, its cache store created and its capabilities granted.
fn start() -> (TestHome, Rumid) {
    let home = TestHome::with_packs(&["classic"]);
    let rumid = Rumid::start(&home);
    let rumid = prepare(&home, rumid);
    (home, rumid)
}

/// `classic` approved, its cache store created and its capabilities granted, on `rumid`.
fn prepare(home: &TestHome, rumid: Rumid) -> Rumid {
    let r = rumid.post("/api/packs/classic/approve", None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = rumid.post(
        "/api/stores/create",
        Some(&json!({"store_id": "weather_cache", "owner_pack": "classic"})),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    for perm in ["store.get", "store.set"] {
        rumid.grant_capability("classic", perm, json!({"allowed_store_ids": ["weather_cache"]}));
    }
    let socket = rumid.capability_socket(home, "classic");
    eventually("classic's capability socket", patience(), || {
        socket.exists().then_some(())
    })
    .unwrap();
    rumid
}

/// Runs `classic.<name>` and returns what its one step stored under `result`.
fn run(rumid: &Rumid, name: &str, inputs: Value) -> Value {
    let r = rumid.run_flow(&format!("classic.{name}"), inputs, 60.0);
    assert_eq!(r.status, 200, "classic.{name}: {:?}\n{}", r.body, rumid.log_text());
    r.body["result"]["result"].clone()
}

#[test]
fn async_and_generator_blocks_give_the_originals_results() {
    let (_home, rumid) = start();
    assert_eq!(
        run(&rumid, "async", json!({"city": "Oslo"})),
        json!({"city": "Oslo", "owner": "classic", "awaited": true}),
        "an async run is awaited, not answered as \"<coroutine object …>\""
    );
    assert_eq!(
        run(&rumid, "generator", json!({"words": ["a", "bcd"]})),
        json!({"chunks": [{"word": "a", "length": 1}, {"word": "bcd", "length": 3}], "is_streaming": true})
    );
}

#[test]
fn blocks_import_core_runtime_syscall_logging_utils_and_deprecation() {
    let (_home, rumid) = start();
    let out = run(&rumid, "runtime", json!({}));
    let log = &out["log"];
    assert_eq!(
        (&log["level"], &log["module"], &log["message"]),
        (
            &json!("WARNING"),
            &json!("rumi.pack.classic"),
            &json!("runtime block ran")
        )
    );
    assert_eq!(
        (&log["correlation_id"], &log["pack_id"], &log["step_id"]),
        (&json!("corr-1"), &json!("classic"), &json!("runtime"))
    );
    // The four levels of RUMI_DEPRECATION_LEVEL, each its own behaviour.
    let d = &out["deprecation"];
    let ok = |warnings: u64, logged: u64| json!({"result": "hello you", "raised": false, "warnings": warnings, "logged": logged});
    assert_eq!(d["silent"], ok(0, 0), "{d}");
    assert_eq!(
        d["error"],
        json!({"result": null, "raised": true, "warnings": 0, "logged": 0}),
        "{d}"
    );
    assert_eq!(d["log"], ok(0, 1), "{d}");
    assert_eq!(d["warn"], ok(1, 0), "{d}");
    assert_eq!(out["registered"], json!(["old_greeting"]));
    assert_eq!(out["error"]["str"], "RUMI-VAL-001: city must not be empty");
    assert_eq!(out["error"]["is_rumi_error"], true);
    let s = &out["syscall"];
    assert_eq!(s["same_function"], true);
    assert_eq!(s["error_class"], "SyscallError");
    assert_eq!(s["constants"], json!(["/run/rumi/egress.sock", 4194304, 120.0]));
    // No network grant: rumi-egressd refuses, and the SDK answers with a dict.
    assert_eq!(
        s["answer"],
        json!({"success": false, "error_type": "grant_denied"}),
        "{s}"
    );
    assert_eq!(out["result"], 1);
}

#[test]
fn the_weather_tutorial_finds_its_cached_data_after_store_set() {
    let (_home, rumid) = start();
    assert_eq!(
        run(&rumid, "get", json!({"city": "Tokyo"})),
        json!({"error": "No cached data"}),
        "nothing cached yet: store.get answers key_not_found"
    );
    let weather = json!({"temp": 21, "sky": "晴れ"});
    assert_eq!(
        run(&rumid, "cache", json!({"city": "Tokyo", "weather": weather})),
        json!({"saved": true, "path": "weather_cache/weather/Tokyo", "weather": weather}),
        "store.set then store.get, both tested with output.get(\"success\")"
    );
    assert_eq!(
        run(&rumid, "get", json!({"city": "Tokyo"})),
        json!({"weather": weather})
    );
}

#[test]
fn secrets_get_failures_carry_the_error_in_output() {
    let (_home, rumid) = start();
    let r = rumid.post(
        "/api/secrets/set",
        Some(&json!({"key": "WEATHER_KEY", "value": "wk-1"})),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    rumid.grant_capability("classic", "secrets.get", json!({"allowed_keys": ["WEATHER_KEY"]}));
    assert_eq!(
        run(&rumid, "secret", json!({})),
        json!({
            "granted": {"value": "wk-1"},
            "other": {"error": "Access denied or secret not found", "error_type": "access_denied"},
        })
    );
}

#[test]
fn lib_scripts_get_lib_dir() {
    let (home, _rumid) = start();
    let file = home.path().join("user_data/packs/classic/install.json");
    let text = eventually("install.py to run", patience(), || std::fs::read_to_string(&file).ok()).unwrap();
    let got: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(got["lib_type"], "install");
    assert_eq!(got["lib_dir_has_me"], true, "{got}");
    // The script's own directory in the approved snapshot it runs from (`/pack/…` in a
    // sandbox), never the installed copy.
    let lib_dir = got["lib_dir"].as_str().unwrap();
    assert!(
        lib_dir.ends_with("/backend/lib") && !lib_dir.contains("ecosystem"),
        "{got}"
    );
}

/// Runs `classic.<name>` and returns its whole result.
fn run_result(rumid: &Rumid, name: &str, inputs: Value) -> Value {
    let r = rumid.run_flow(&format!("classic.{name}"), inputs, 60.0);
    assert_eq!(r.status, 200, "classic.{name}: {:?}\n{}", r.body, rumid.log_text());
    Rumid::flow_result(&r.body).clone()
}

#[test]
fn the_pack_loads_without_diagnostics_and_validates_clean() {
    let (home, rumid) = start();
    let flows = rumid.get("/api/flows");
    assert_eq!(flows.status, 200, "{:?}", flows.body);
    assert_eq!(flows.body["data"]["diagnostics"], json!([]), "{:?}", flows.body);
    let ids: Vec<&str> = flows.body["data"]["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["flow_id"].as_str())
        .collect();
    for id in ["classic.hello", "classic.function", "classic.failing"] {
        assert!(ids.contains(&id), "{id} loaded: {ids:?}");
    }
    let out = home.rumid_once(&["--validate"], &[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !text.lines().any(|l| l.starts_with("warning") || l.starts_with("error")),
        "--validate finds nothing in classic:\n{text}"
    );
    assert!(text.contains("0 error(s), 0 warning(s)"), "{text}");
}

#[test]
fn outputs_name_type_declarations_return_the_context_keys() {
    let (_home, rumid) = start();
    assert_eq!(
        run_result(&rumid, "hello", json!({"name": "Oslo"})),
        json!({"greeting": {"message": "Hello, Oslo!"}}),
        "outputs: {{greeting: object}} returns the key greeting, not the word \"object\""
    );
    assert!(
        !rumid.log_text().contains("does not match its declared type"),
        "{}",
        rumid.log_text()
    );
}

#[test]
fn documented_function_steps_load_and_run_as_the_pack() {
    let (_home, rumid) = start();
    let weather = json!({"temp": 21, "sky": "晴れ"});
    let result = run_result(&rumid, "function", json!({"city": "Kyoto", "weather": weather}));
    assert_eq!(result["saved"]["success"], true, "{result}");
    assert_eq!(
        result["cached"],
        json!({"success": true, "value": weather}),
        "store.get answers the original's shape"
    );
    assert_eq!(result["found"], weather, "when: \"$ctx.cached.success == true\" fired");
    assert_eq!(
        (&result["fallback"], &result["miss_type"]),
        (&json!("No cached data"), &json!("key_not_found")),
        "the failed store.get's output carries _kernel_step_status and its error: {result}"
    );
    assert!(result.get("missing").is_none(), "only declared outputs: {result}");
}

#[test]
fn a_failed_steps_output_carries_kernel_step_status_failed() {
    let (_home, rumid) = start();
    let result = run_result(&rumid, "failing", json!({}));
    assert_eq!(result["message"], "Weather unavailable", "{result}");
    let forecast = &result["forecast"];
    assert_eq!(forecast["_kernel_step_status"], "failed", "{result}");
    let meta = &forecast["_kernel_step_meta"];
    assert!(
        meta["error"]
            .as_str()
            .unwrap_or_default()
            .contains("the weather service is down"),
        "{meta}"
    );
    assert!(
        meta["error_type"].is_string() && meta["execution_mode"].is_string(),
        "{meta}"
    );
}

#[test]
fn declared_output_types_that_do_not_match_are_warnings_in_validate_and_at_run_time() {
    let (home, rumid) = start();
    home.write(
        "flows/typed.flow.yaml",
        r#"
flow_id: typed
inputs: {count: integer}
outputs: {greeting: object, flag: string, count: integer}
steps:
  - {id: greet, type: set, input: {key: greeting, value: "hello"}}
  - {id: check, type: if, input: {condition: "$ctx.count > 1"}, output: flag}
"#,
    );
    let out = home.rumid_once(&["--validate"], &[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for line in [
        "outputs.greeting is declared object but step \"greet\" stores string there",
        "outputs.flag is declared string but step \"check\" stores boolean there",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("warning") && l.contains("typed.flow.yaml") && l.contains(line)),
            "{line}:\n{text}"
        );
    }
    assert!(!text.contains("outputs.count"), "count matches: {text}");
    assert!(out.status.success(), "warnings do not fail --validate:\n{text}");

    // Loaded and run, it still answers, with the values the context holds; each mismatch
    // is logged.
    assert_eq!(rumid.post("/api/flows/reload", None).status, 200);
    let r = rumid.run_flow("typed", json!({"count": "three"}), 30.0);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        Rumid::flow_result(&r.body),
        &json!({"greeting": "hello", "flag": false, "count": "three"})
    );
    let log = eventually("the mismatch warnings", patience(), || {
        let log = rumid.log_text();
        (log.matches("flow output does not match its declared type").count() >= 3).then_some(log)
    })
    .unwrap();
    assert!(log.contains("typed"), "{log}");
}

#[test]
fn the_flow_model_packs_give_the_same_results_in_strict_mode() {
    if !docker_or_skip("the_flow_model_packs_give_the_same_results_in_strict_mode") {
        return;
    }
    let home = TestHome::with_packs(&["classic"]);
    // A uid range of its own: the backend suite checks the default range for leftovers.
    let rumid = Rumid::builder(&home)
        .strict()
        .env("RUMI_PACK_UID_RANGE", "230000-230999")
        .spawn()
        .unwrap();
    let rumid = prepare(&home, rumid);
    assert_eq!(
        run_result(&rumid, "hello", json!({"name": "Oslo"})),
        json!({"greeting": {"message": "Hello, Oslo!"}})
    );
    let weather = json!({"temp": 3});
    let result = run_result(&rumid, "function", json!({"city": "Bergen", "weather": weather}));
    assert_eq!(result["found"], weather, "{result}");
    assert_eq!(result["fallback"], "No cached data", "{result}");
    let result = run_result(&rumid, "failing", json!({}));
    assert_eq!(result["message"], "Weather unavailable", "{result}");
    assert_eq!(result["forecast"]["_kernel_step_status"], "failed", "{result}");
}
