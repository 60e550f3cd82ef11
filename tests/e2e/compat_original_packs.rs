//! Packs written for the original system run unchanged: the fixture pack `classic` uses the
//! original's conventions (an `async def run`, a generator `run`, `core_runtime.*` imports,
//! the weather tutorial's store check, the guide's `secrets.get` failure branch, a lib script
//! reading `lib_dir`) and each gives the original's result, in permissive mode.

use rumi_tests::{Rumid, TestHome, eventually, patience};
use serde_json::{Value, json};

/// rumid with `classic` approved, its cache store created and its capabilities granted.
fn start() -> (TestHome, Rumid) {
    let home = TestHome::with_packs(&["classic"]);
    let rumid = Rumid::start(&home);
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
    let socket = rumid.capability_socket(&home, "classic");
    eventually("classic's capability socket", patience(), || {
        socket.exists().then_some(())
    })
    .unwrap();
    (home, rumid)
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
