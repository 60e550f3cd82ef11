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

// === rollback: old, validly signed copies put back ===

const NET_ALPHA: &str = "user_data/settings/grants/network/alpha.json";
const CAP_ALPHA: &str = "user_data/settings/grants/capability/alpha.json";
const PRIVILEGES: &str = "user_data/settings/privileges.json";
const TRUST: &str = "user_data/capabilities/trust/trusted_handlers.json";
const JOURNAL: &str = "user_data/settings/generations.jsonl";

fn approvals(id: &str) -> String {
    format!("user_data/settings/approvals/{id}.json")
}

fn read(home: &TestHome, rel: &str) -> Vec<u8> {
    fs::read(home.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn put_back(home: &TestHome, rel: &str, bytes: &[u8]) {
    fs::write(home.path().join(rel), bytes).unwrap();
}

fn ok(r: rumi_tests::Resp) -> Value {
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["data"].clone()
}

fn write_handler(home: &TestHome, slug: &str, code: &str) {
    let dir = home.path().join("ecosystem/tools/share/capability_handlers").join(slug);
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("handler.json"),
        serde_json::json!({"handler_id": "tools.echo", "permission_id": "echo.run"}).to_string(),
    )
    .unwrap();
    fs::write(dir.join("handler.py"), code).unwrap();
}

/// Sets alpha's network grant.
fn grant(rumid: &Rumid, domains: &[&str], ports: &[u16]) -> Value {
    ok(rumid.post(
        "/api/network/grant",
        Some(&serde_json::json!({"pack_id": "alpha", "allowed_domains": domains, "allowed_ports": ports})),
    ))
}

/// Scans and approves the one new handler candidate.
fn approve_handler(rumid: &Rumid) {
    let key = ok(rumid.post("/api/capability/candidates/scan", None))["candidates"][0]["candidate_key"]
        .as_str()
        .unwrap()
        .replace(':', "%3A");
    ok(rumid.post(&format!("/api/capability/requests/{key}/approve"), None));
}

/// The critical refusal audited for `rel`, which must name both generations.
fn rollback_line(home: &TestHome, rel: &str) -> Value {
    let lines = home.audit_actions("security", "hmac_verification_failed");
    let line = lines
        .iter()
        .find(|e| e["details"]["file"] == rel)
        .unwrap_or_else(|| panic!("no refusal of {rel} in {lines:#?}"))
        .clone();
    assert_eq!(line["severity"], "critical", "{line}");
    assert_eq!(line["success"], false, "{line}");
    let (g, j) = (
        line["details"]["generation"].as_u64().unwrap(),
        line["details"]["journal_generation"].as_u64().unwrap(),
    );
    assert!(g < j, "{line}");
    assert!(line["error"].as_str().unwrap().contains(&g.to_string()), "{line}");
    line
}

#[test]
fn old_signed_files_put_back_are_refused_and_audited_at_start() {
    let home = TestHome::with_packs(&["alpha", "beta"]);
    home.add_pack("tools");
    write_handler(&home, "echo_v1", "def execute(c, a):\n    return 'v1'\n");
    let rumid = Rumid::start(&home);
    for p in ["alpha", "beta"] {
        ok(rumid.post(&format!("/api/packs/{p}/approve"), None));
    }
    // What an attacker would like back: alpha reaching anything, holding secrets.get and a
    // host privilege, beta approved, the first version of a handler trusted.
    grant(&rumid, &["*"], &[0]);
    ok(rumid.post(
        "/api/capability/grants/grant",
        Some(&serde_json::json!({"principal_id": "alpha", "permission_id": "secrets.get"})),
    ));
    ok(rumid.post("/api/privileges/alpha/grant/system.diagnostics", None));
    approve_handler(&rumid);
    let files = [NET_ALPHA, CAP_ALPHA, PRIVILEGES, TRUST, &approvals("beta")];
    let old: Vec<Vec<u8>> = files.iter().map(|f| read(&home, f)).collect();

    // The operator narrows everything.
    grant(&rumid, &["api.example.com"], &[443]);
    ok(rumid.post(
        "/api/capability/grants/revoke",
        Some(&serde_json::json!({"principal_id": "alpha", "permission_id": "secrets.get"})),
    ));
    ok(rumid.post("/api/privileges/alpha/revoke/system.diagnostics", None));
    ok(rumid.post("/api/packs/beta/reject", Some(&serde_json::json!({"reason": "no"}))));
    write_handler(&home, "echo_v2", "def execute(c, a):\n    return 'v2'\n");
    approve_handler(&rumid);
    rumid.stop();

    for (f, bytes) in files.iter().zip(&old) {
        put_back(&home, f, bytes);
    }
    let rumid = Rumid::start(&home);
    // Nothing the old copies say is in effect.
    let check = ok(rumid.post(
        "/api/network/check",
        Some(&serde_json::json!({"pack_id": "alpha", "domain": "evil.example", "port": 8443})),
    ));
    assert_eq!(check["allowed"], false, "{check}");
    // An API call that needs the refused grant says so, with the file.
    let r = rumid.post(
        "/api/network/revoke",
        Some(&serde_json::json!({"pack_id": "alpha", "reason": "cleanup"})),
    );
    assert_eq!((r.status, r.code()), (409, "RUMI-SYS-006"), "{:?}", r.body);
    assert!(r.body.to_string().contains(NET_ALPHA), "{:?}", r.body);
    let grants = ok(rumid.get("/api/capability/grants?principal_id=alpha"));
    assert!(!grants.to_string().contains("secrets.get"), "{grants}");
    let privileges = ok(rumid.get("/api/privileges"));
    assert!(!privileges.to_string().contains("\"alpha\""), "{privileges}");
    let beta = ok(rumid.get("/api/packs/beta/status"));
    assert_eq!(beta["status"], "modified", "{beta}");
    assert!(
        beta["record_problem"].as_str().unwrap().contains("rolled back"),
        "{beta}"
    );
    let trusted = fs::read_to_string(home.path().join(TRUST)).unwrap();
    assert!(
        trusted.contains("echo_v1"),
        "the old copy is left for the operator to see"
    );
    for f in files {
        let line = rollback_line(&home, f);
        assert_eq!(line["details"]["tamper"], "rolled_back", "{line}");
    }
    let beta_line = rollback_line(&home, &approvals("beta"));
    assert_eq!(beta_line["owner_pack"], "beta");
    assert_eq!(beta_line["error_type"], "approval_record_tampered");
    assert_eq!(rollback_line(&home, NET_ALPHA)["error_type"], "network_grant_tampered");
    assert_eq!(rollback_line(&home, TRUST)["error_type"], "capability_file_tampered");

    // The operator's next decision is written with a new generation and holds.
    grant(&rumid, &["api.example.com"], &[443]);
    ok(rumid.post("/api/packs/beta/approve", None));
    rumid.stop();
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.pack_state("beta"), "approved");
    let grants = ok(rumid.get("/api/network/list"));
    assert!(grants.to_string().contains("api.example.com"), "{grants}");
}

#[test]
fn old_records_put_back_while_running_are_refused_when_read_again() {
    let home = TestHome::with_packs(&["alpha"]);
    home.add_pack("gamma");
    let rumid = Rumid::start(&home);
    ok(rumid.post("/api/packs/alpha/approve", None));
    let approved = read(&home, &approvals("alpha"));
    ok(rumid.post("/api/packs/alpha/reject", Some(&serde_json::json!({"reason": "no"}))));
    // Put back under the running daemon: the status call reads the record again.
    put_back(&home, &approvals("alpha"), &approved);
    let st = ok(rumid.get("/api/packs/alpha/status"));
    assert_eq!(st["status"], "modified", "{st}");
    assert!(st["record_problem"].as_str().unwrap().contains("rolled back"), "{st}");
    assert_eq!(
        rollback_line(&home, &approvals("alpha"))["details"]["tamper"],
        "rolled_back"
    );

    // A record that comes back after its pack was uninstalled.
    ok(rumid.post("/api/packs/gamma/approve", None));
    let gamma = read(&home, &approvals("gamma"));
    ok(rumid.delete("/api/packs/gamma"));
    put_back(&home, &approvals("gamma"), &gamma);
    home.add_pack("gamma");
    ok(rumid.post("/api/packs/scan", None));
    assert_eq!(rumid.pack_state("gamma"), "modified");
    assert_eq!(
        rollback_line(&home, &approvals("gamma"))["details"]["tamper"],
        "deleted"
    );
    // Both still refused after a restart; approving again writes a new generation. The copy
    // of gamma's record is the very file whose deletion is the journal's last line, which a
    // crash between that line and the removal leaves too: the start finishes the deletion.
    rumid.stop();
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.pack_state("alpha"), "modified");
    assert_eq!(rumid.pack_state("gamma"), "pending");
    assert!(!home.path().join(approvals("gamma")).exists());
    ok(rumid.post("/api/packs/alpha/approve", None));
    assert_eq!(rumid.pack_state("alpha"), "approved");
}

#[test]
fn a_crash_between_a_write_and_its_journal_line_loses_nothing() {
    let home = TestHome::with_packs(&["alpha"]);
    let rumid = Rumid::start(&home);
    ok(rumid.post("/api/packs/alpha/approve", None));
    ok(rumid.post(
        "/api/network/grant",
        Some(&serde_json::json!({"pack_id": "alpha", "allowed_domains": ["api.example.com"], "allowed_ports": [443]})),
    ));
    rumid.kill();
    // The grant file is written; its line never made it to the journal.
    let journal = fs::read_to_string(home.path().join(JOURNAL)).unwrap();
    let mut lines: Vec<&str> = journal.lines().collect();
    let last = lines.pop().unwrap();
    assert!(last.contains(NET_ALPHA), "{last}");
    fs::write(
        home.path().join(JOURNAL),
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();

    let rumid = Rumid::start(&home);
    let grants = ok(rumid.get("/api/network/list"));
    assert_eq!(grants["count"], 1, "{grants}");
    assert_eq!(
        grants["grants"][0]["allowed_domains"],
        serde_json::json!(["api.example.com"])
    );
    assert_eq!(rumid.pack_state("alpha"), "approved");
    assert!(home.audit_actions("security", "hmac_verification_failed").is_empty());
    let repaired = home.audit_actions("security", "generation_journal_repaired");
    assert_eq!(repaired.len(), 1, "{repaired:?}");
    assert_eq!(repaired[0]["details"]["file"], NET_ALPHA);
    let journal = fs::read_to_string(home.path().join(JOURNAL)).unwrap();
    assert!(journal.contains(NET_ALPHA), "recorded again");
    // Recorded: a second restart has nothing to repair.
    rumid.stop();
    let _rumid = Rumid::start(&home);
    assert_eq!(home.audit_actions("security", "generation_journal_repaired").len(), 1);
}

#[test]
fn a_missing_or_damaged_journal_stops_rumid_until_the_files_are_adopted() {
    let home = TestHome::with_packs(&["alpha"]);
    let rumid = Rumid::start(&home);
    ok(rumid.post("/api/packs/alpha/approve", None));
    rumid.stop();
    let saved = read(&home, JOURNAL);
    fs::remove_file(home.path().join(JOURNAL)).unwrap();
    let out = home.rumid_once(&["--permissive", "--port", "0"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("generations.jsonl is missing") && err.contains("--adopt-signed-state"),
        "{err}"
    );
    let refused = home.audit_actions("security", "hmac_verification_failed");
    assert_eq!(
        refused.last().unwrap()["error_type"],
        "generation_journal_missing",
        "{refused:?}"
    );

    // A journal with a line cut out of its middle is refused the same way.
    let mut lines: Vec<&[u8]> = saved.split_inclusive(|b| *b == b'\n').collect();
    assert!(lines.len() > 2);
    lines.remove(1);
    fs::write(home.path().join(JOURNAL), lines.concat()).unwrap();
    let out = home.rumid_once(&["--permissive", "--port", "0"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let refused = home.audit_actions("security", "hmac_verification_failed");
    assert_eq!(refused.last().unwrap()["error_type"], "generation_journal_damaged");

    // The operator accepts the files as they are.
    let out = home.rumid_once(&["--adopt-signed-state"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("adopted"));
    assert_eq!(home.audit_actions("security", "signed_state_adopted").len(), 1);
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.pack_state("alpha"), "approved");
}
