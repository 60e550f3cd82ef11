//! Host privileges: granted per pack, executed for real, refused without a grant, and a
//! tampered privileges file grants nothing.

use rumi_tests::{Rumid, TestHome, patience};
use serde_json::{Value, json};

fn helper_pids(rumid: &Rumid) -> (Value, Value) {
    let h = rumid.get("/api/health").body["data"]["helpers"].clone();
    (h["egressd"]["pid"].clone(), h["capd"]["pid"].clone())
}

#[test]
fn privileges_are_granted_per_pack_and_really_performed() {
    let home = TestHome::new();
    home.add_pack("updater");
    home.add_pack("target");
    let rumid = Rumid::start(&home);
    let list = rumid.get("/api/privileges").body["data"].clone();
    let ids: Vec<&str> = list["privileges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["privilege_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["pack.update", "system.diagnostics", "system.restart"]);

    // Without a grant: 403 and a security audit line.
    let r = rumid.post("/api/privileges/updater/execute/system.diagnostics", None);
    assert_eq!((r.status, r.code()), (403, "RUMI-AUTH-003"), "{:?}", r.body);
    assert_eq!(home.audit_actions("security", "privilege_denied").len(), 1);
    // Unknown privilege, unknown pack, bad pack id.
    let r = rumid.post("/api/privileges/updater/grant/system.root", None);
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-002"));
    let r = rumid.post("/api/privileges/ghost/grant/system.diagnostics", None);
    assert_eq!((r.status, r.code()), (404, "RUMI-PACK-005"));
    let r = rumid.post("/api/privileges/..%2Fx/grant/system.diagnostics", None);
    assert_eq!(r.status, 400);

    // Granted, but the pack is not approved: still refused.
    let r = rumid.post("/api/privileges/updater/grant/system.diagnostics", None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["data"]["granted_at"].is_string());
    let r = rumid.post("/api/privileges/updater/execute/system.diagnostics", None);
    assert_eq!((r.status, r.code()), (409, "RUMI-PACK-008"), "{:?}", r.body);
    assert_eq!(rumid.post("/api/packs/updater/approve", None).status, 200);
    let r = rumid.post("/api/privileges/updater/execute/system.diagnostics", None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let diag = &r.body["data"]["result"];
    assert_eq!(diag["packs"]["total"], 2, "{diag}");
    assert!(diag["helpers"]["capd"].is_object(), "{diag}");
    let list = rumid.get("/api/privileges").body["data"].clone();
    assert_eq!(list["privileges"][1]["granted_packs"], json!(["updater"]));

    // pack.update applies a staged update of the target pack.
    assert_eq!(rumid.post("/api/packs/target/approve", None).status, 200);
    let src = tempfile::tempdir().unwrap();
    let folder = src.path().join("target");
    std::fs::create_dir_all(folder.join("backend/blocks")).unwrap();
    std::fs::write(
        folder.join("ecosystem.json"),
        r#"{"pack_id":"target","pack_identity":"tests/target","version":"2.0.0"}"#,
    )
    .unwrap();
    std::fs::write(folder.join("backend/blocks/main.py"), "def run():\n    return 'v2'\n").unwrap();
    let staged = rumid.post("/api/packs/import", Some(&json!({"path": folder})));
    let staging_id = staged.body["data"]["staging_id"].as_str().unwrap().to_owned();
    let exec = |args: Value| {
        rumid.post(
            "/api/privileges/updater/execute/pack.update",
            Some(&json!({"args": args})),
        )
    };
    assert_eq!(
        exec(json!({"target_pack": "target", "staging_id": staging_id})).status,
        403
    );
    assert_eq!(
        rumid.post("/api/privileges/updater/grant/pack.update", None).status,
        200
    );
    let r = exec(json!({"target_pack": "updater", "staging_id": staging_id}));
    assert_eq!(
        (r.status, r.code()),
        (400, "RUMI-VAL-002"),
        "the staged pack is not updater: {:?}",
        r.body
    );
    let r = exec(json!({"target_pack": "target"}));
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-001"));
    let r = rumid.request(
        "POST",
        "/api/privileges/updater/execute/pack.update",
        Some(&rumid.token.clone()),
        Some(b"[1]"),
        Some("application/json"),
    );
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-008"));
    let r = exec(json!({"target_pack": "target", "staging_id": staging_id}));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["result"]["status"], "applied");
    assert_eq!(r.body["data"]["result"]["pack_status"], "modified");
    let live = std::fs::read_to_string(home.path().join("ecosystem/target/backend/blocks/main.py")).unwrap();
    assert!(live.contains("v2"));
    let executed = home.audit_actions("permission", "privilege_executed");
    assert!(
        executed.iter().any(|e| e["details"]["target_pack"] == "target"),
        "{executed:?}"
    );

    // system.restart restarts the spawned helpers for real.
    rumid.wait_helpers_up().unwrap();
    let before = helper_pids(&rumid);
    assert_eq!(
        rumid.post("/api/privileges/updater/grant/system.restart", None).status,
        200
    );
    let r = rumid.post("/api/privileges/updater/execute/system.restart", None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["data"]["result"]["restarted"].as_array().unwrap().len(),
        2,
        "{:?}",
        r.body
    );
    rumi_tests::eventually("helpers restarted", patience(), || {
        let now = helper_pids(&rumid);
        let h = rumid.get("/api/health").body["data"]["helpers"].clone();
        (now.0 != before.0 && now.1 != before.1 && h["egressd"]["state"] == "up" && h["capd"]["state"] == "up")
            .then_some(())
    })
    .unwrap();

    // Revoked: refused again.
    let r = rumid.post("/api/privileges/updater/revoke/system.diagnostics", None);
    assert_eq!(r.body["data"]["revoked"], true);
    assert_eq!(
        rumid
            .post("/api/privileges/updater/execute/system.diagnostics", None)
            .status,
        403
    );

    // The CLI lists and executes.
    let out = home.ctl(&["privileges", "list"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("pack.update") && text.contains("updater"), "{text}");
    let out = home.ctl(&["privileges", "execute", "updater", "system.diagnostics"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RUMI-AUTH-003"));

    // A tampered privileges file grants nothing after a restart.
    drop(rumid);
    let path = home.path().join("user_data/settings/privileges.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("system.restart", "system.diagnostics")).unwrap();
    let rumid = Rumid::start(&home);
    let list = rumid.get("/api/privileges").body["data"].clone();
    for p in list["privileges"].as_array().unwrap() {
        assert_eq!(p["granted_packs"], json!([]), "{list}");
    }
    let tampered = home.audit_actions("security", "hmac_verification_failed");
    assert!(
        tampered.iter().any(|e| e["error_type"] == "privileges_tampered"),
        "{tampered:?}"
    );
    assert_eq!(
        rumid
            .post("/api/privileges/updater/execute/system.diagnostics", None)
            .status,
        403
    );
}
