//! Hand-edited, forged or corrupt approval records are never trusted.

use std::fs;

use rumi_tests::{Rumid, TestHome};
use serde_json::Value;

fn record_path(home: &TestHome, id: &str) -> std::path::PathBuf {
    home.path().join(format!("user_data/settings/approvals/{id}.json"))
}

#[test]
fn tampered_approval_records_are_detected_and_audited() {
    let home = TestHome::with_packs(&["alpha", "beta"]);
    let rumid = Rumid::start(&home);
    assert_eq!(
        rumid
            .post("/api/packs/alpha/reject", Some(&serde_json::json!({"reason": "no"})))
            .status,
        200
    );
    assert_eq!(rumid.post("/api/packs/beta/approve", None).status, 200);
    rumid.stop();

    // 1. Flip a blocked pack to approved by hand.
    let p = record_path(&home, "alpha");
    let mut rec: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
    rec["status"] = "approved".into();
    fs::write(&p, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    // 2. Re-point an approved pack's hashes at new content (an attacker who edits code and the record).
    fs::write(
        home.path().join("ecosystem/beta/backend/flows/beta.flow.yaml"),
        "flow_id: evil\n",
    )
    .unwrap();
    let p = record_path(&home, "beta");
    let mut rec: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
    rec["file_hashes"]["backend/flows/beta.flow.yaml"] = "sha256:00".into();
    fs::write(&p, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    // 3. Forge a record for a pack that was never approved.
    home.add_pack("gamma");
    fs::write(
        record_path(&home, "gamma"),
        r#"{"pack_id":"gamma","status":"approved","file_hashes":{}}"#,
    )
    .unwrap();
    // 4. Garbage.
    home.add_pack("delta");
    fs::write(record_path(&home, "delta"), b"\x00\x01 not json").unwrap();

    let rumid = Rumid::start(&home);
    for id in ["alpha", "beta", "gamma", "delta"] {
        let st = rumid.get(&format!("/api/packs/{id}/status")).body["data"].clone();
        assert_eq!(st["status"], "modified", "{id}: {st}");
        assert!(st["record_problem"].is_string(), "{id}: {st}");
    }
    let events = home.audit_actions("security", "hmac_verification_failed");
    let mut packs: Vec<&str> = events.iter().map(|e| e["owner_pack"].as_str().unwrap()).collect();
    packs.sort();
    packs.dedup();
    assert_eq!(packs, ["alpha", "beta", "delta", "gamma"]);
    assert!(
        events
            .iter()
            .all(|e| e["severity"] == "critical" && e["success"] == false)
    );
    let summary: Value =
        serde_json::from_slice(&fs::read(home.path().join("user_data/pending/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["packs"]["modified_count"], 4);

    // Re-approval by the operator replaces the record with a valid one.
    assert_eq!(rumid.post("/api/packs/gamma/approve", None).status, 200);
    assert_eq!(rumid.pack_state("gamma"), "approved");
}

#[test]
fn a_record_copied_from_another_pack_is_not_accepted() {
    let home = TestHome::with_packs(&["alpha", "beta"]);
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.post("/api/packs/alpha/approve", None).status, 200);
    rumid.stop();
    // Validly signed, but for alpha: copying it to beta must not approve beta.
    fs::copy(record_path(&home, "alpha"), record_path(&home, "beta")).unwrap();
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.pack_state("beta"), "modified");
    assert_eq!(rumid.pack_state("alpha"), "approved");
}

#[test]
fn special_files_make_a_pack_unapprovable() {
    let home = TestHome::with_packs(&["alpha"]);
    nix::unistd::mkfifo(
        &home.path().join("ecosystem/alpha/backend/blocks/pipe"),
        nix::sys::stat::Mode::S_IRWXU,
    )
    .unwrap();
    let rumid = Rumid::start(&home);
    let r = rumid.post("/api/packs/alpha/approve", None);
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(r.code(), "RUMI-PACK-007");
    assert_eq!(rumid.pack_state("alpha"), "pending");
}

#[test]
fn every_tampered_single_file_store_is_ignored_and_audited_at_start() {
    let home = TestHome::new();
    home.add_pack("alpha");
    drop(Rumid::start(&home));
    // Signed with another key: right shape, wrong signature.
    let forged =
        r#"{"grants": {"alpha": [{"privilege_id": "system.restart", "granted_at": "x"}]}, "_hmac_signature": "00"}"#;
    let stores = [
        ("user_data/settings/privileges.json", forged, "privileges_tampered"),
        (
            "user_data/units/trust/trusted_units.json",
            "{\"units\": {}}",
            "units_trust_tampered",
        ),
        ("user_data/pip/requests/index.json", "not json", "pip_index_tampered"),
        ("user_data/settings/lib_records.json", "[]", "lib_records_tampered"),
        (
            "user_data/settings/shared_dict/snapshot.json",
            "{\"entries\": {}}",
            "shared_dict_tampered",
        ),
        (
            "user_data/settings/store_shares.json",
            "{\"shares\": []}",
            "store_shares_tampered",
        ),
        (
            "user_data/settings/pack_uids.json",
            "{\"uids\": {\"alpha\": 200000}}",
            "pack_uids_tampered",
        ),
    ];
    for (path, text, _) in stores {
        home.write(path, text);
    }
    let rumid = Rumid::start(&home);
    let audited: Vec<String> = home
        .audit_actions("security", "hmac_verification_failed")
        .iter()
        .filter_map(|e| e["error_type"].as_str().map(str::to_owned))
        .collect();
    for (path, _, error_type) in stores {
        assert!(
            audited.iter().any(|a| a == error_type),
            "{path}: {error_type} not in {audited:?}"
        );
    }
    // Nothing the forged files claimed is in effect.
    let privileges = rumid.get("/api/privileges").body["data"].clone();
    assert!(
        privileges["privileges"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["granted_packs"] == serde_json::json!([])),
        "{privileges}"
    );
    // A forged uid table never makes rumid reuse a uid it named.
    assert_eq!(rumid.post("/api/packs/alpha/approve", None).status, 200);
    let table: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.path().join("user_data/settings/pack_uids.json")).unwrap()).unwrap();
    assert!(table["uids"]["alpha"].as_u64().unwrap() > 200_000, "{table}");
}
