//! rumi-capd end to end: secrets (with Python Fernet interop), stores, grants, shares.

use std::path::Path;

use rumi_tests::{Rumid, TestHome, eventually, frame_call, patience, wait_socket};
use serde_json::{Value, json};

fn call(socket: &Path, permission: &str, args: Value) -> Value {
    frame_call(socket, &json!({"permission_id": permission, "args": args})).unwrap()
}

fn python(code: &str, env: &[(&str, &str)]) -> String {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/sdk/python");
    let mut cmd = std::process::Command::new("python3");
    cmd.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("PYTHONPATH", &sdk)
        .args(["-c", code]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    #[allow(clippy::disallowed_methods)] // pyenv's python finds its install through HOME
    if let Ok(h) = std::env::var("HOME") {
        cmd.env("HOME", h);
    }
    let out = cmd.output().expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn secrets_round_trip_with_python_fernet_and_never_leak() {
    let home = TestHome::with_packs(&["alpha", "beta"]);
    let rumid = Rumid::start(&home);
    let secret = "sk-live-0123456789abcdef";
    let r = rumid.post("/api/secrets/set", Some(&json!({"key": "API_KEY", "value": secret})));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["created"], true);
    let list = rumid.get("/api/secrets");
    assert_eq!(list.body["data"]["keys"][0]["key"], "API_KEY");
    assert_eq!(list.body["data"]["keys"][0]["exists"], true);
    assert_eq!(
        list.body["data"]["keys"][0]["value"], "********",
        "the guide's masked value"
    );
    assert!(!list.body.to_string().contains(secret));
    assert!(!list.body.to_string().contains("sk-"), "not even a prefix");

    // The stored token decrypts with Python's cryptography Fernet.
    let key = std::fs::read_to_string(home.path().join("user_data/settings/.secrets_key")).unwrap();
    let file = home.path().join("user_data/secrets/API_KEY.json");
    let stored: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let token = stored["value"].as_str().unwrap();
    assert!(token.starts_with("gAAAAA"));
    let plain = python(
        "import os; from cryptography.fernet import Fernet; print(Fernet(os.environ['K'].strip()).decrypt(os.environ['T'].encode()).decode())",
        &[("K", key.trim()), ("T", token)],
    );
    assert_eq!(plain, secret);

    // A token written by Python decrypts in Rumi (through the capability socket).
    let py_token = python(
        "import os; from cryptography.fernet import Fernet; print(Fernet(os.environ['K'].strip()).encrypt(b'from-python').decode())",
        &[("K", key.trim())],
    );
    let mut rec = stored.clone();
    rec["key"] = json!("PY_KEY");
    rec["value"] = json!(py_token);
    std::fs::write(home.path().join("user_data/secrets/PY_KEY.json"), rec.to_string()).unwrap();

    assert_eq!(rumid.post("/api/packs/alpha/approve", None).status, 200);
    assert_eq!(rumid.post("/api/packs/beta/approve", None).status, 200);
    rumid.grant_capability(
        "alpha",
        "secrets.get",
        json!({"allowed_keys": ["API_KEY", "PY_KEY", "GONE"]}),
    );
    let alpha = rumid.capability_socket(&home, "alpha");
    let beta = rumid.capability_socket(&home, "beta");
    wait_socket(&alpha).unwrap();
    wait_socket(&beta).unwrap();
    let got = python(
        "import rumi_capability; print(rumi_capability.get_secret('API_KEY'))",
        &[("RUMI_CAPABILITY_SOCKET", alpha.to_str().unwrap())],
    );
    assert_eq!(got, secret);
    assert_eq!(
        call(&alpha, "secrets.get", json!({"key": "PY_KEY"}))["output"]["value"],
        "from-python"
    );

    // Denied, missing and deleted keys all get the same answer.
    assert_eq!(
        rumid
            .post("/api/secrets/set", Some(&json!({"key": "OTHER", "value": "x"})))
            .status,
        200
    );
    assert_eq!(
        rumid
            .post("/api/secrets/set", Some(&json!({"key": "GONE", "value": "y"})))
            .status,
        200
    );
    assert_eq!(
        rumid.post("/api/secrets/delete", Some(&json!({"key": "GONE"}))).status,
        200
    );
    for key in ["OTHER", "MISSING", "GONE", "bad-key"] {
        let r = call(&alpha, "secrets.get", json!({"key": key}));
        assert_eq!(r["success"], false);
        assert_eq!(r["error"], "Access denied or secret not found", "{key}");
        assert_eq!(r["error_type"], "access_denied");
    }
    // No grant at all: "Permission denied".
    let r = call(&beta, "secrets.get", json!({"key": "API_KEY"}));
    assert_eq!(
        (r["error"].clone(), r["error_type"].clone()),
        (json!("Permission denied"), json!("grant_denied"))
    );
    // The payload cannot claim another principal.
    let r = frame_call(
        &beta,
        &json!({"permission_id": "secrets.get", "args": {"key": "API_KEY"}, "principal_id": "alpha"}),
    )
    .unwrap();
    assert_eq!(r["error_type"], "grant_denied");

    // Bad API input.
    let r = rumid.post("/api/secrets/set", Some(&json!({"key": "lower", "value": "x"})));
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-002"));
    let r = rumid.post("/api/secrets/delete", Some(&json!({"key": "NEVER_SET"})));
    assert_eq!((r.status, r.code()), (404, "RUMI-VAL-006"));

    // The value appears in no log, audit line or response.
    let lines = eventually("capability audit", patience(), || {
        let l = home.audit_actions("permission", "permission_execute");
        (l.len() >= 7).then_some(l)
    })
    .unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l["success"] == true && l["details"]["principal_id"] == "alpha")
    );
    let mut everything = rumid.log_text();
    for e in std::fs::read_dir(home.path().join("user_data/audit")).unwrap() {
        everything.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
    everything.push_str(&std::fs::read_to_string(home.path().join("user_data/secrets/journal.jsonl")).unwrap());
    assert!(!everything.contains(secret) && !everything.contains("from-python"));
}

#[test]
fn stores_need_a_grant_naming_the_store_and_shares_extend_access_only_while_approved() {
    let home = TestHome::with_packs(&["alpha", "beta"]);
    let rumid = Rumid::builder(&home)
        .env("RUMI_SECRET_GET_RATE_LIMIT", "2")
        .spawn()
        .unwrap();
    for p in ["alpha", "beta"] {
        assert_eq!(rumid.post(&format!("/api/packs/{p}/approve"), None).status, 200);
    }
    let r = rumid.post(
        "/api/stores/create",
        Some(&json!({"store_id": "notes", "owner_pack": "alpha"})),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = rumid.post("/api/stores/create", Some(&json!({"store_id": "notes"})));
    assert_eq!((r.status, r.code()), (409, "RUMI-VAL-002"));
    let r = rumid.post("/api/stores/create", Some(&json!({"store_id": "../etc"})));
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-002"));

    let all = [
        "store.get",
        "store.set",
        "store.delete",
        "store.list",
        "store.batch_get",
        "store.cas",
    ];
    for perm in all {
        rumid.grant_capability(
            "alpha",
            perm,
            json!({"allowed_store_ids": ["notes"], "max_value_bytes": 64}),
        );
    }
    rumid.grant_capability("beta", "store.get", json!({"allowed_store_ids": ["notes"]}));
    rumid.grant_capability("beta", "store.set", json!({}));
    let alpha = rumid.capability_socket(&home, "alpha");
    let beta = rumid.capability_socket(&home, "beta");
    wait_socket(&alpha).unwrap();
    wait_socket(&beta).unwrap();

    assert_eq!(
        call(
            &alpha,
            "store.set",
            json!({"store_id": "notes", "key": "k/1", "value": {"n": 1}})
        )["success"],
        true
    );
    let r = call(&alpha, "store.get", json!({"store_id": "notes", "key": "k/1"}));
    assert_eq!(r["output"], json!({"success": true, "value": {"n": 1}}));
    let r = call(
        &alpha,
        "store.set",
        json!({"store_id": "notes", "key": "big", "value": "x".repeat(100)}),
    );
    assert_eq!(
        r["error_type"], "payload_too_large",
        "max_value_bytes from the grant: {r}"
    );
    let r = call(
        &alpha,
        "store.set",
        json!({"store_id": "notes", "key": "../escape", "value": 1}),
    );
    assert_eq!(r["error_type"], "validation_error");
    let r = call(
        &alpha,
        "store.cas",
        json!({"store_id": "notes", "key": "c", "expected_value": null, "new_value": 1}),
    );
    assert_eq!(r["output"], json!({"success": true, "store_id": "notes", "key": "c"}));
    let r = call(
        &alpha,
        "store.cas",
        json!({"store_id": "notes", "key": "c", "expected_value": 5, "new_value": 2}),
    );
    assert_eq!(
        (r["success"].clone(), r["error_type"].clone()),
        (json!(false), json!("conflict"))
    );
    let r = call(
        &alpha,
        "store.batch_get",
        json!({"store_id": "notes", "keys": ["k/1", "c", "none"]}),
    );
    assert_eq!(r["output"]["results"], json!({"k/1": {"n": 1}, "c": 1, "none": null}));
    assert_eq!(
        call(&alpha, "store.list", json!({"store_id": "notes"}))["output"]["keys"],
        json!(["c", "k/1"])
    );

    // beta: grant names the store, but the store belongs to alpha and is not shared.
    let r = call(&beta, "store.get", json!({"store_id": "notes", "key": "k/1"}));
    assert_eq!(r["error"], "Permission denied", "{r}");
    // An empty config denies (fail closed).
    let r = call(&beta, "store.set", json!({"store_id": "notes", "key": "x", "value": 1}));
    assert_eq!(r["error"], "Permission denied");
    let share = json!({"store_id": "notes", "owner_pack": "alpha", "target_pack": "beta"});
    assert_eq!(
        rumid.post("/api/stores/shared/approve", Some(&share)).body["data"]["status"],
        "approved"
    );
    let r = eventually("share to apply", patience(), || {
        let r = call(&beta, "store.get", json!({"store_id": "notes", "key": "k/1"}));
        (r["success"] == true).then_some(r)
    })
    .unwrap();
    assert_eq!(r["output"]["value"], json!({"n": 1}));
    let entry = rumid.get("/api/stores/shared").body["data"]["shared_stores"][0].clone();
    assert_eq!(
        (&entry["shared_with"], &entry["status"]),
        (&json!(["beta"]), &json!("approved")),
        "{entry}"
    );
    assert!(entry["approved_at"].is_string(), "{entry}");
    assert_eq!(
        rumid.post("/api/stores/shared/revoke", Some(&share)).body["data"]["status"],
        "revoked"
    );
    eventually("revoke to apply", patience(), || {
        (call(&beta, "store.get", json!({"store_id": "notes", "key": "k/1"}))["success"] == false).then_some(())
    })
    .unwrap();
    // The guide's listing: one entry per shared store, no pack shared with after the revoke.
    let shared = rumid.get("/api/stores/shared").body["data"].clone();
    assert_eq!(shared["count"], 1, "{shared}");
    let entry = &shared["shared_stores"][0];
    assert_eq!(
        (
            &entry["store_id"],
            &entry["owner_pack"],
            &entry["shared_with"],
            &entry["status"]
        ),
        (&json!("notes"), &json!("alpha"), &json!([]), &json!("revoked")),
        "{shared}"
    );
    assert_eq!(entry["targets"][0]["target_pack"], "beta", "{shared}");
    let stores = rumid.get("/api/stores");
    assert_eq!(stores.body["data"]["stores"][0]["keys"], 2);

    // A revoked permission stops working; a rejected pack loses its socket.
    let r = rumid.post(
        "/api/capability/grants/revoke",
        Some(&json!({"principal_id": "alpha", "permission_id": "store.list"})),
    );
    assert_eq!(r.status, 200);
    eventually("grant revoke", patience(), || {
        (call(&alpha, "store.list", json!({"store_id": "notes"}))["error"] == "Permission denied").then_some(())
    })
    .unwrap();

    // Acknowledged writes survive SIGKILL of capd.
    let helpers = rumid.wait_helpers_up().unwrap();
    let pid = helpers["capd"]["pid"].as_u64().unwrap() as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    let r = eventually("capd back", patience(), || {
        let r = frame_call(
            &alpha,
            &json!({"permission_id": "store.get", "args": {"store_id": "notes", "key": "k/1"}}),
        )
        .ok()?;
        (r["success"] == true).then_some(r)
    })
    .unwrap();
    assert_eq!(r["output"]["value"], json!({"n": 1}));
    // The killed process is one restart, reported as such; once its successor is up and
    // its stream connected, health is UP again (the break belonged to the down episode).
    let h = eventually("health UP after the restart", patience(), || {
        let h = rumid.get("/api/health").body["data"].clone();
        (h["status"] == "UP").then_some(h)
    })
    .unwrap_or_else(|e| panic!("{e}: {}", rumid.get("/api/health").body));
    assert!(h["helpers"]["capd"]["restarts"].as_u64() >= Some(1), "{h}");

    // secrets.get rate limit (2 per minute here).
    rumid.grant_capability("alpha", "secrets.get", json!({"allowed_keys": ["K"]}));
    let results: Vec<Value> = (0..3)
        .map(|_| {
            eventually("grant", patience(), || {
                let r = call(&alpha, "secrets.get", json!({"key": "K"}));
                (r["error_type"] != "grant_denied").then_some(r)
            })
            .unwrap()
        })
        .collect();
    assert_eq!(results[2]["error_type"], "rate_limited", "{results:?}");
}

#[test]
fn hierarchical_principals_and_batch_grants() {
    let home = TestHome::with_packs(&["alpha"]);
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.post("/api/packs/alpha/approve", None).status, 200);
    assert_eq!(
        rumid
            .post(
                "/api/stores/create",
                Some(&json!({"store_id": "s1", "owner_pack": "alpha"}))
            )
            .status,
        200
    );
    assert_eq!(
        rumid
            .post(
                "/api/stores/create",
                Some(&json!({"store_id": "s2", "owner_pack": "alpha"}))
            )
            .status,
        200
    );
    let batch = json!({"grants": [
        {"principal_id": "alpha", "permission_id": "store.get", "config": {"allowed_store_ids": ["s1", "s2"]}},
        {"principal_id": "alpha__worker", "permission_id": "store.get", "config": {"allowed_store_ids": ["s2"]}},
        {"principal_id": "bad/id", "permission_id": "store.get"},
        {"principal_id": "alpha", "permission_id": "Bad Perm"},
    ]});
    let r = rumid.post("/api/capability/grants/batch", Some(&batch));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        (r.body["data"]["succeeded"].clone(), r.body["data"]["failed"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(r.body["data"]["results"][2]["error_code"], "RUMI-VAL-002");
    let too_many: Vec<Value> = (0..51)
        .map(|_| json!({"principal_id": "alpha", "permission_id": "store.get"}))
        .collect();
    let r = rumid.post("/api/capability/grants/batch", Some(&json!({"grants": too_many})));
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-002"));

    let worker = rumid.capability_socket(&home, "alpha__worker");
    wait_socket(&worker).unwrap();
    // The child gets the intersection: s2 only (the grant lets it reach the store, where
    // the key does not exist).
    assert_eq!(
        call(&worker, "store.get", json!({"store_id": "s2", "key": "k"}))["error_type"],
        "key_not_found"
    );
    assert_eq!(
        call(&worker, "store.get", json!({"store_id": "s1", "key": "k"}))["error"],
        "Permission denied"
    );
    assert_eq!(
        call(&worker, "store.set", json!({"store_id": "s2", "key": "k", "value": 1}))["error"],
        "Permission denied"
    );
    let unknown = call(&worker, "fs.read", json!({}));
    assert_eq!(
        (unknown["error"].clone(), unknown["error_type"].clone()),
        (json!("Permission denied"), json!("handler_not_found"))
    );
    let list = rumid.get("/api/capability/grants?principal_id=alpha__worker");
    assert_eq!(list.body["data"]["count"], 1);
    let r = rumid.get("/api/capability/grants?principal_id=../x");
    assert_eq!(r.status, 400);
}

#[test]
fn packs_exchange_only_proposals_with_both_sides_consenting() {
    let home = TestHome::with_packs(&["alpha"]);
    home.add_pack("target");
    let manifest = json!({
        "pack_id": "target", "pack_identity": "tests/target",
        "addon_policy": {"mode": "allow", "editable_files": [{"path_glob": "config/*.json"}]}
    });
    std::fs::write(
        home.path().join("ecosystem/target/ecosystem.json"),
        manifest.to_string(),
    )
    .unwrap();
    std::fs::create_dir_all(home.path().join("ecosystem/target/config")).unwrap();
    std::fs::write(home.path().join("ecosystem/target/config/a.json"), "{}").unwrap();
    let rumid = Rumid::start(&home);
    for p in ["alpha", "target"] {
        assert_eq!(rumid.post(&format!("/api/packs/{p}/approve"), None).status, 200);
    }
    rumid.grant_capability("alpha", "pack.inbox.send", json!({"allowed_target_packs": ["target"]}));
    rumid.grant_capability(
        "alpha",
        "pack.update.propose_patch",
        json!({"allowed_target_packs": ["target"], "allowed_path_globs": ["config/*.json"], "max_proposals_per_target": 1}),
    );
    let sock = rumid.capability_socket(&home, "alpha");
    wait_socket(&sock).unwrap();

    let send = |payload: Value| {
        call(
            &sock,
            "pack.inbox.send",
            json!({"to_pack_id": "target", "payload": payload}),
        )
    };
    let r = send(
        json!({"kind": "file_json_patch", "file": "config/a.json", "patch": [{"op": "add", "path": "/x", "value": 1}]}),
    );
    assert_eq!(r["success"], true, "{r}");
    let inbox = home.path().join("user_data/inbox/target/v1");
    assert_eq!(std::fs::read_dir(&inbox).unwrap().count(), 1);
    for (payload, why) in [
        (
            json!({"kind": "file_json_patch", "file": "secret.py", "patch": []}),
            "not editable",
        ),
        (
            json!({"kind": "file_json_patch", "file": "../alpha/x.json", "patch": []}),
            "traversal",
        ),
        (
            json!({"kind": "file_json_patch", "file": "config/a.json", "patch": [{"op": "move", "from": "/a", "path": "/b"}]}),
            "move",
        ),
        (
            json!({"kind": "file_replace_json", "file": "config/a.json", "json": {}}),
            "replace denied by default",
        ),
    ] {
        let r = send(payload);
        assert_eq!(r["success"], false, "{why}: {r}");
    }
    let r = call(
        &sock,
        "pack.inbox.send",
        json!({"to_pack_id": "alpha", "payload": {"kind": "manifest_json_patch"}}),
    );
    assert_eq!(r["error"], "Permission denied", "target not granted");
    assert_eq!(std::fs::read_dir(&inbox).unwrap().count(), 1, "refusals wrote nothing");

    let change = |content: &str, before: Option<&str>| {
        call(
            &sock,
            "pack.update.propose_patch",
            json!({"target_pack_id": "target", "changes": [{"path": "config/a.json", "content": content, "sha256_before": before}]}),
        )
    };
    let r = change("{\"x\":1}", Some("0000"));
    assert_eq!(r["error_type"], "hash_mismatch");
    let r = change(
        "{\"x\":1}",
        Some("44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"),
    );
    assert_eq!(r["output"]["changed_paths"], json!(["config/a.json"]), "{r}");
    assert_eq!(
        std::fs::read_to_string(home.path().join("ecosystem/target/config/a.json")).unwrap(),
        "{}",
        "never applied"
    );
    let r = change("{\"x\":2}", None);
    assert_eq!(r["error"], "Permission denied", "max_proposals_per_target");
    let r = call(
        &sock,
        "pack.update.propose_patch",
        json!({"target_pack_id": "target", "changes": [{"path": "run.py", "content": "x"}]}),
    );
    assert_eq!(r["error"], "Permission denied", "path not in allowed_path_globs");
}

/// `RUMI_SECRETS_ALLOW_PLAINTEXT` as the guide's table says: `true` allows plaintext storage
/// (no key is made up), `false` demands a key and refuses to store without one, `auto` (the
/// default) encrypts under a generated key.
#[test]
fn the_plaintext_policy_follows_the_guides_table() {
    let key_file = |home: &TestHome| home.path().join("user_data/settings/.secrets_key");
    let stored = |home: &TestHome| -> Value {
        serde_json::from_slice(&std::fs::read(home.path().join("user_data/secrets/K.json")).unwrap()).unwrap()
    };

    let home = TestHome::with_packs(&["alpha"]);
    let rumid = Rumid::builder(&home)
        .env("RUMI_SECRETS_ALLOW_PLAINTEXT", "true")
        .spawn()
        .unwrap();
    let r = rumid.post("/api/secrets/set", Some(&json!({"key": "K", "value": "plain-value"})));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(!key_file(&home).exists(), "true makes up no key");
    assert_eq!(
        (&stored(&home)["value"], &stored(&home)["plaintext"]),
        (&json!("plain-value"), &json!(true))
    );
    assert_eq!(rumid.post("/api/packs/alpha/approve", None).status, 200);
    rumid.grant_capability("alpha", "secrets.get", json!({"allowed_keys": ["K"]}));
    let alpha = rumid.capability_socket(&home, "alpha");
    wait_socket(&alpha).unwrap();
    let r = eventually("grant", patience(), || {
        let r = call(&alpha, "secrets.get", json!({"key": "K"}));
        (r["error_type"] != "grant_denied").then_some(r)
    })
    .unwrap();
    assert_eq!(r["output"]["value"], "plain-value", "{r}");
    drop(rumid);

    let home = TestHome::new();
    let rumid = Rumid::builder(&home)
        .env("RUMI_SECRETS_ALLOW_PLAINTEXT", "false")
        .spawn()
        .unwrap();
    let r = rumid.post("/api/secrets/set", Some(&json!({"key": "K", "value": "v"})));
    assert_eq!((r.status, r.code()), (409, "RUMI-SYS-002"), "{:?}", r.body);
    assert!(!home.path().join("user_data/secrets/K.json").exists(), "nothing stored");
    assert!(!key_file(&home).exists());
    drop(rumid);

    let home = TestHome::new();
    let rumid = Rumid::start(&home);
    assert_eq!(
        rumid
            .post("/api/secrets/set", Some(&json!({"key": "K", "value": "v"})))
            .status,
        200
    );
    assert!(key_file(&home).exists(), "auto generates the key");
    assert!(stored(&home)["value"].as_str().unwrap().starts_with("gAAAAA"));
    assert!(stored(&home).get("plaintext").is_none());
}
