//! The approval life cycle, persisted across restarts.

use std::fs;

use rumi_tests::{Rumid, TestHome};
use serde_json::{Value, json};

fn summary(home: &TestHome) -> Value {
    serde_json::from_slice(&fs::read(home.path().join("user_data/pending/summary.json")).unwrap()).unwrap()
}

#[test]
fn modified_pack_stays_disabled_until_reapproved() {
    let home = TestHome::with_packs(&["alpha", "beta"]);
    let rumid = Rumid::start(&home);

    // Discovered, not decided.
    let list = rumid.get("/api/packs");
    assert_eq!(list.status, 200);
    assert_eq!(list.body["success"], true);
    assert_eq!(list.body["data"]["count"], 2);
    assert_eq!(rumid.pack_state("alpha"), "pending", "a new pack waits for a decision");
    let pending = rumid.get("/api/packs/pending");
    assert_eq!(pending.body["data"]["count"], 2);
    assert_eq!(summary(&home)["packs"]["pending_ids"], json!(["alpha", "beta"]));

    // Approve.
    let r = rumid.post("/api/packs/alpha/approve", None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["status"], "approved");
    assert_eq!(r.body["data"]["approved_files"], 2);
    assert_eq!(rumid.pack_state("alpha"), "approved");
    assert_eq!(summary(&home)["packs"]["pending_ids"], json!(["beta"]));
    let approvals = home.audit_actions("approval", "pack_approved");
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0]["owner_pack"], "alpha");
    assert!(approvals[0]["request_id"].as_str().unwrap().starts_with("req-"));

    // A changed file: detected by scan.
    let block = home.path().join("ecosystem/alpha/backend/blocks/hello.py");
    fs::write(&block, "import os\ndef run(i, c):\n    return os.environ\n").unwrap();
    let scan = rumid.post("/api/packs/scan", None);
    assert_eq!(scan.status, 200);
    assert_eq!(scan.body["data"]["modified"], json!(["alpha"]));
    let st = rumid.get("/api/packs/alpha/status").body["data"].clone();
    assert_eq!(st["status"], "modified");
    assert_eq!(st["changes"]["changed"], json!(["backend/blocks/hello.py"]));
    assert_eq!(summary(&home)["packs"]["modified_ids"], json!(["alpha"]));
    assert_eq!(home.audit_actions("security", "pack_modified").len(), 1);

    // Reverting the file does not re-enable it: only an operator can.
    fs::write(
        &block,
        "def run(input_data, context):\n    return {\"hello\": input_data.get(\"name\", \"world\")}\n",
    )
    .unwrap();
    assert_eq!(rumid.pack_state("alpha"), "modified");

    // Re-approve; then an added file is detected by the status check itself.
    assert_eq!(rumid.post("/api/packs/alpha/approve", None).status, 200);
    assert_eq!(rumid.pack_state("alpha"), "approved");
    fs::write(home.path().join("ecosystem/alpha/backend/blocks/extra.py"), "x = 1\n").unwrap();
    let st = rumid.get("/api/packs/alpha/status").body["data"].clone();
    assert_eq!(st["status"], "modified");
    assert_eq!(st["changes"]["added"], json!(["backend/blocks/extra.py"]));
    // The list reflects it too.
    let listed = rumid.get("/api/packs").body["data"]["packs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pack_id"] == "alpha")
        .cloned()
        .unwrap();
    assert_eq!(listed["status"], "modified");

    // Re-approve; a deleted file is detected at the next start.
    assert_eq!(rumid.post("/api/packs/alpha/approve", None).status, 200);
    rumid.stop();
    fs::remove_file(home.path().join("ecosystem/alpha/backend/blocks/extra.py")).unwrap();
    let rumid = Rumid::start(&home);
    let st = rumid.get("/api/packs/alpha/status").body["data"].clone();
    assert_eq!(st["status"], "modified");
    assert_eq!(st["changes"]["removed"], json!(["backend/blocks/extra.py"]));
    let history: Vec<&str> = st["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        ["approve", "modified", "approve", "modified", "approve", "modified"]
    );
}

#[test]
fn reject_blocks_with_reason_and_uninstall_keeps_a_backup() {
    let home = TestHome::with_packs(&["alpha", "beta"]);
    let rumid = Rumid::start(&home);

    let r = rumid.post("/api/packs/beta/reject", Some(&json!({"reason": "phones home"})));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["status"], "blocked");
    assert_eq!(r.body["data"]["rejection_reason"], "phones home");
    let audit = home.audit_actions("approval", "pack_rejected");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["rejection_reason"], "phones home");
    assert_eq!(summary(&home)["packs"]["blocked_ids"], json!(["beta"]));

    // Persisted across a restart.
    rumid.stop();
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.pack_state("beta"), "blocked");
    // A blocked pack can be approved again after review.
    assert_eq!(
        rumid.post("/api/packs/beta/approve", None).body["data"]["status"],
        "approved"
    );

    let r = rumid.delete("/api/packs/beta");
    assert_eq!(r.status, 200, "{:?}", r.body);
    let backup = home.path().join(r.body["data"]["backup"].as_str().unwrap());
    assert!(
        backup.join("ecosystem.json").is_file(),
        "backup at {}",
        backup.display()
    );
    assert!(!home.path().join("ecosystem/beta").exists());
    assert!(!home.path().join("user_data/settings/approvals/beta.json").exists());
    assert_eq!(rumid.get("/api/packs/beta/status").status, 404);
    assert_eq!(rumid.get("/api/packs").body["data"]["count"], 1);
    assert_eq!(home.audit_actions("approval", "pack_uninstalled").len(), 1);
}

#[test]
fn broken_and_legacy_packs_are_reported_not_trusted() {
    let home = TestHome::with_packs(&["alpha", "broken", "mismatch"]);
    home.add_fixture("beta", "ecosystem/packs/beta");
    let rumid = Rumid::start(&home);
    let packs = rumid.get("/api/packs").body["data"]["packs"].clone();
    let by_id = |id: &str| {
        packs
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["pack_id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id("broken")["status"], "error");
    assert_eq!(by_id("broken")["error"]["code"], "RUMI-PACK-002");
    assert_eq!(by_id("mismatch")["error"]["code"], "RUMI-PACK-003");
    assert_eq!(by_id("beta")["legacy"], true);
    assert_eq!(by_id("beta")["status"], "pending");

    let r = rumid.post("/api/packs/broken/approve", None);
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "RUMI-PACK-006");
    assert!(!home.path().join("user_data/settings/approvals/broken.json").exists());
    // The legacy pack can be approved while deprecation only warns.
    assert_eq!(rumid.post("/api/packs/beta/approve", None).status, 200);
    drop(rumid);

    let rumid = Rumid::builder(&home)
        .env("RUMI_DEPRECATION_LEVEL", "error")
        .spawn()
        .unwrap();
    let st = rumid.get("/api/packs/beta/status").body["data"].clone();
    assert_eq!(
        st["status"], "error",
        "an approved legacy pack is disabled when legacy is refused"
    );
    assert_eq!(st["error"]["code"], "RUMI-PACK-009");
    let r = rumid.post("/api/packs/beta/approve", None);
    assert_eq!(r.status, 409);
    assert_eq!(r.code(), "RUMI-PACK-006");
}
