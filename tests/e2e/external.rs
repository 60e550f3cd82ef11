//! `--helpers=external`: helpers run by something else (systemd); rumid only connects.
//! The control socket refuses any peer but rumid's uid.

use rumi_tests::{ExternalHelper, Rumid, TestHome, eventually, patience};

fn start_helper(home: &TestHome, name: &str, control_uid: u32) -> ExternalHelper {
    let run = home.path().join("run");
    ExternalHelper::start(home, &run, name, control_uid, &run.join("control.key"))
}

#[test]
fn external_helpers_serve_rumid_and_refuse_other_uids() {
    let home = TestHome::with_packs(&["alpha"]);
    std::fs::create_dir_all(home.path().join("run")).unwrap();
    let me = nix::unistd::getuid().as_raw();
    // capd trusts our uid; egressd trusts somebody else.
    let _capd = start_helper(&home, "rumi-capd", me);
    let _egressd = start_helper(&home, "rumi-egressd", me + 4242);
    let rumid = Rumid::builder(&home)
        .arg("--helpers")
        .arg("external")
        .env(
            "RUMI_CONTROL_KEY_FILE",
            home.path().join("run/control.key").to_str().unwrap(),
        )
        .spawn_unchecked()
        .unwrap();

    let health = eventually("capd up, egressd refused", patience(), || {
        let h = rumid.get("/api/health").body["data"]["helpers"].clone();
        let refused = h["egressd"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("caller is not rumid"));
        (h["capd"]["state"] == "up" && refused).then_some(h)
    })
    .unwrap();
    assert_eq!(health["egressd"]["state"], "down");
    assert!(health["capd"]["pid"].is_null(), "external helpers are not our children");
    assert_eq!(rumid.get("/health").body["status"], "DEGRADED");

    // The refused helper never got a policy: approving a pack opens no egress socket.
    assert_eq!(rumid.post("/api/packs/alpha/approve", None).status, 200);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!rumid.egress_socket(&home, "alpha").exists());
    // capd did get it.
    rumi_tests::wait_socket(&rumid.capability_socket(&home, "alpha")).unwrap();
}
