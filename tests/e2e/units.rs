//! Units: published from an approved pack into a store, executed for a principal through
//! the block sandbox after every check.

use rumi_tests::{Rumid, TestHome};
use serde_json::json;

#[test]
fn units_publish_trusted_bytes_and_execute_only_with_grant_mode_and_unchanged_files() {
    let home = TestHome::new();
    home.add_pack("maker");
    home.add_pack("user");
    home.write(
        "ecosystem/maker/units/adder/unit.json",
        r#"{"unit_id": "adder", "kind": "python", "entrypoint": "main.py", "permission_id": "units.adder", "exec_modes_allowed": ["pack_container"]}"#,
    );
    home.write(
        "ecosystem/maker/units/adder/main.py",
        "import os\ndef run(args, context):\n    return {'sum': args['a'] + args['b'], 'who': context['owner_pack']}\n",
    );
    home.write(
        "ecosystem/maker/units/table/unit.json",
        r#"{"unit_id": "table", "kind": "data", "permission_id": "units.table"}"#,
    );
    home.write("ecosystem/maker/units/table/rows.csv", "a,b\n");
    let rumid = Rumid::start(&home);
    for p in ["maker", "user"] {
        assert_eq!(rumid.post(&format!("/api/packs/{p}/approve"), None).status, 200);
    }
    rumid.wait_helpers_up().unwrap();
    assert_eq!(
        rumid
            .post("/api/stores/create", Some(&json!({"store_id": "shelf"})))
            .status,
        200
    );
    let publish = |dir: &str, name: &str, version: &str| {
        rumid.post(
            "/api/units/publish",
            Some(&json!({"store_id": "shelf", "source_dir": dir, "namespace": "maker", "name": name, "version": version})),
        )
    };
    let r = publish("ecosystem/maker/units/adder", "adder", "1.0.0");
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["declared_by_pack_id"], "maker");
    assert!(r.body["data"]["artifacts"]["main.py"].as_str().unwrap().len() == 64);
    assert_eq!(publish("ecosystem/maker/units/table", "table", "1").status, 200);
    // Published versions are immutable; sources must be inside an installed pack.
    let r = publish("ecosystem/maker/units/adder", "adder", "1.0.0");
    assert_eq!((r.status, r.code()), (409, "RUMI-UNIT-004"), "{:?}", r.body);
    let r = publish("/etc", "etc", "1");
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-002"), "{:?}", r.body);
    let r = publish("ecosystem/maker/units/../../../user_data", "x", "1");
    assert_eq!(r.status, 400, "{:?}", r.body);
    let r = rumid.post(
        "/api/units/publish",
        Some(&json!({"store_id": "nope", "source_dir": "ecosystem/maker/units/adder", "namespace": "maker", "name": "adder", "version": "2"})),
    );
    assert_eq!(r.status, 400, "unknown store: {:?}", r.body);
    let listed = rumid.get("/api/units?store_id=shelf").body["data"].clone();
    assert_eq!(listed["count"], 2, "{listed}");

    let unit = json!({"store_id": "shelf", "namespace": "maker", "name": "adder", "version": "1.0.0"});
    let exec = |body: serde_json::Value| rumid.post("/api/units/execute", Some(&body));
    // No grant of the unit's permission: 403.
    let r = exec(json!({"principal_id": "user", "unit_ref": unit, "args": {"a": 2, "b": 3}}));
    assert_eq!((r.status, r.code()), (403, "RUMI-AUTH-003"), "{:?}", r.body);
    rumid.grant_capability("user", "units.adder", json!({}));
    let r = exec(json!({"principal_id": "user", "unit_ref": unit, "args": {"a": 2, "b": 3}}));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["output"], json!({"sum": 5, "who": "user"}));
    // A mode the unit does not allow, host execution, a data unit, an unknown unit.
    let r = exec(json!({"principal_id": "user", "unit_ref": unit, "mode": "sandbox"}));
    assert_eq!((r.status, r.code()), (400, "RUMI-UNIT-002"));
    let r = exec(json!({"principal_id": "user", "unit_ref": unit, "mode": "host_capability"}));
    assert_eq!((r.status, r.code()), (400, "RUMI-UNIT-002"));
    rumid.grant_capability("user", "units.table", json!({}));
    let table = json!({"store_id": "shelf", "namespace": "maker", "name": "table", "version": "1"});
    let r = exec(json!({"principal_id": "user", "unit_ref": table}));
    assert_eq!((r.status, r.code()), (400, "RUMI-UNIT-002"), "{:?}", r.body);
    let ghost = json!({"store_id": "shelf", "namespace": "maker", "name": "ghost", "version": "1"});
    assert_eq!(exec(json!({"principal_id": "user", "unit_ref": ghost})).status, 404);
    // A failing unit: the error type, never its stderr.
    let r = exec(json!({"principal_id": "user", "unit_ref": unit, "args": {"a": 1}}));
    assert_eq!((r.status, r.code()), (422, "RUMI-UNIT-003"), "{:?}", r.body);
    assert!(!r.body.to_string().contains("KeyError"), "stderr leaked: {:?}", r.body);

    // The CLI lists and executes.
    let out = home.ctl(&["units", "list", "--store-id", "shelf"], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("adder"));
    let out = home.ctl(
        &[
            "units",
            "execute",
            "user",
            "shelf",
            "maker",
            "adder",
            "1.0.0",
            "--args",
            r#"{"a": 20, "b": 22}"#,
        ],
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("42"));

    // Tampering with the published copy: refused before anything runs, audited.
    let published = home.path().join("user_data/units/shelf/maker/adder/1.0.0/main.py");
    std::fs::write(&published, "def run(a, c):\n    return 'evil'\n").unwrap();
    let r = exec(json!({"principal_id": "user", "unit_ref": unit, "args": {"a": 2, "b": 3}}));
    assert_eq!((r.status, r.code()), (409, "RUMI-UNIT-004"), "{:?}", r.body);
    assert_eq!(home.audit_actions("security", "unit_tampered").len(), 1);
    // A principal that is not approved runs nothing.
    assert_eq!(
        rumid
            .post("/api/packs/user/reject", Some(&json!({"reason": "t"})))
            .status,
        200
    );
    let r = exec(json!({"principal_id": "user", "unit_ref": table}));
    assert_eq!(r.status, 409, "{:?}", r.body);
    let executed = home.audit_actions("permission", "unit_executed");
    assert!(executed.len() >= 7, "{executed:?}");
}
