//! pip dependencies: lock files scanned and validated, installed from the real package
//! index in builder containers, used by a block in strict mode.

use rumi_tests::{Rumid, TestHome, docker_or_skip};
use serde_json::json;

fn enc(key: &str) -> String {
    key.replace(':', "%3A")
}

#[test]
fn approved_lock_files_install_real_wheels_that_blocks_import_in_strict_mode() {
    if !docker_or_skip("approved_lock_files_install_real_wheels_that_blocks_import_in_strict_mode") {
        return;
    }
    let home = TestHome::new();
    home.add_pack("deps");
    home.write("ecosystem/deps/requirements.lock", "# pinned\nsix==1.16.0\n");
    home.write(
        "ecosystem/deps/backend/blocks/use_six.py",
        "def run():\n    import six\n    return {'six': six.__version__, 'from': six.__file__}\n",
    );
    home.write(
        "flows/six.flow.yaml",
        "flow_id: six\ndefaults: {fail_soft: false}\nsteps:\n  - {id: s, type: python_file_call, owner_pack: deps, file: use_six.py, output: out}\n",
    );
    home.add_pack("bad");
    home.write(
        "ecosystem/bad/backend/requirements.lock",
        "six==1.16.0\n-e git+https://github.com/benjaminp/six\n",
    );
    home.add_pack("late");
    home.write("ecosystem/late/requirements.lock", "six==1.16.0\n");
    let rumid = Rumid::builder(&home).strict().spawn().unwrap();
    assert_eq!(rumid.post("/api/packs/deps/approve", None).status, 200);

    // Scan: two candidates; the forbidden line is reported with its number.
    let r = rumid.post("/api/pip/candidates/scan", None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["new_candidates"], 2, "{:?}", r.body);
    let invalid = r.body["data"]["invalid"].as_array().unwrap().clone();
    assert_eq!(invalid.len(), 1, "{invalid:?}");
    assert_eq!(
        (invalid[0]["pack_id"].clone(), invalid[0]["line"].clone()),
        (json!("bad"), json!(2))
    );
    let items = rumid.get("/api/pip/requests?status=pending").body["data"]["items"].clone();
    let key_of = |pack: &str| -> String {
        items
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["candidate"]["pack_id"] == pack)
            .unwrap()["candidate_key"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (deps, late) = (key_of("deps"), key_of("late"));
    assert!(deps.starts_with("deps:requirements.lock:"), "{deps}");

    // Before the install the block cannot import six.
    let r = rumid.run_flow("six", json!({}), 60.0);
    assert_eq!(r.status, 500, "{:?}", r.body);

    // Refusals: an internal or plain-http index, an unapproved pack, an unknown key.
    let approve = |key: &str, body: serde_json::Value| {
        rumid.post(&format!("/api/pip/requests/{}/approve", enc(key)), Some(&body))
    };
    for url in [
        "https://127.0.0.1/simple",
        "http://pypi.org/simple",
        "https://localhost/simple",
        "https://[::1]/simple",
    ] {
        let r = approve(&deps, json!({"index_url": url}));
        assert_eq!((r.status, r.code()), (400, "RUMI-VAL-002"), "{url}: {:?}", r.body);
    }
    let r = approve(&late, json!({}));
    assert_eq!((r.status, r.code()), (409, "RUMI-PACK-008"), "{:?}", r.body);
    let r = approve("deps:requirements.lock:0000", json!({}));
    assert_eq!((r.status, r.code()), (404, "RUMI-PIP-003"), "{:?}", r.body);

    // Approve: downloaded from the package index, installed without network.
    let r = approve(&deps, json!({"allow_sdist": false}));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["status"], "installed", "{:?}", r.body);
    assert!(home.path().join("user_data/pip/deps/site-packages/six.py").is_file());
    let r = rumid.run_flow("six", json!({}), 60.0);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["result"]["out"]["six"], "1.16.0");
    assert_eq!(r.body["result"]["out"]["from"], "/pip-packages/six.py");
    // Installed once: approving again is a state error.
    let r = approve(&deps, json!({}));
    assert_eq!((r.status, r.code()), (409, "RUMI-PIP-004"));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.path().join("user_data/pending/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["pip"]["installed_count"], 1, "{summary}");
    assert_eq!(summary["pip"]["pending_count"], 1, "{summary}");

    // Rejections: cooldown, then blocked at the third; unblock returns to pending.
    for (n, want) in [(1, "rejected"), (2, "rejected"), (3, "blocked")] {
        let r = rumid.post(
            &format!("/api/pip/requests/{}/reject", enc(&late)),
            Some(&json!({"reason": format!("no {n}")})),
        );
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["data"]["status"], want);
    }
    assert_eq!(rumid.get("/api/pip/blocked").body["data"]["count"], 1);
    let r = rumid.post(
        &format!("/api/pip/blocked/{}/unblock", enc(&late)),
        Some(&json!({"reason": "reviewed"})),
    );
    assert_eq!(r.body["data"]["status"], "pending");
    assert_eq!(r.body["data"]["reject_count"], 0);
    let audit = home.audit_actions("security", "pip_installed");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["owner_pack"], "deps");

    // The CLI lists them.
    let out = home.ctl(&["pip", "list", "--status", "installed"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&deps), "{text}");
}
