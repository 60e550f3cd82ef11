//! Strict mode out of the box: with helpers that are not root and no socket group
//! (`RUMI_EGRESS_SOCKET_GID` / `RUMI_CAPABILITY_SOCKET_GID` unset), each pack's sandbox still
//! opens its own sockets (the helpers add an ACL entry for the pack's uid), and `rumi-ctl
//! setup doctor` reports a configuration under which it cannot.
//!
//! rumid runs as an unprivileged uid of its own with only Docker's group, as a developer's
//! `target/release/rumid --home examples/home` would.

use std::path::Path;

use rumi_common::acl::{Access, RW};
use rumi_tests::upstream::Upstream;
use rumi_tests::{Rumid, TestHome, docker_or_skip};
use serde_json::{Value, json};

/// The unprivileged user rumid runs as here (no passwd entry needed; outside the pack range).
const RUMID_UID: u32 = 4300;

const NETWORK: &str = r#"
import rumi_syscall, rumi_capability

def run(data, context):
    r = rumi_syscall.get(data["url"])
    s = rumi_capability.call("store.set", {"store_id": "box", "key": "k", "value": {"from": "container"}})
    g = rumi_capability.call("store.get", {"store_id": "box", "key": "k"})
    return {"status": r.get("status_code"), "error": r.get("error_type"),
            "set": s.get("success"), "set_error": s.get("error_type"),
            "got": (g.get("output") or {}).get("value")}
"#;

fn docker_gid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/var/run/docker.sock").unwrap().gid()
}

fn home_with_box() -> TestHome {
    let home = TestHome::new();
    home.add_pack("box");
    home.write("ecosystem/box/backend/blocks/network.py", NETWORK);
    home.write(
        "flows/net.flow.yaml",
        "flow_id: net\ndefaults: {fail_soft: false}\nsteps:\n  - {id: s, type: python_file_call, owner_pack: box, file: network.py, input: \"$ctx.inputs\", output: out, timeout_seconds: 60}\n",
    );
    home.chown(RUMID_UID);
    home
}

fn doctor(home: &TestHome) -> Vec<Value> {
    let out = home.ctl(&["--json", "setup", "doctor"], &[]);
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    v["findings"]
        .as_array()
        .or_else(|| v.as_array())
        .cloned()
        .unwrap_or_else(|| panic!("no findings in {v}"))
}

fn finding(findings: &[Value], check: &str) -> Value {
    findings
        .iter()
        .find(|f| f["check"] == check)
        .cloned()
        .unwrap_or_else(|| panic!("no {check} finding in {findings:?}"))
}

fn pack_uid(home: &TestHome, pack: &str) -> u32 {
    let table: Value =
        serde_json::from_slice(&std::fs::read(home.path().join("user_data/settings/pack_uids.json")).unwrap()).unwrap();
    table["uids"][pack].as_u64().unwrap() as u32
}

#[test]
fn strict_mode_without_socket_groups_reaches_both_helpers() {
    if !docker_or_skip("strict_mode_without_socket_groups_reaches_both_helpers") {
        return;
    }
    let up = Upstream::start();
    let home = home_with_box();
    let rumid = Rumid::builder(&home)
        .strict_without_socket_groups()
        .as_user(RUMID_UID, &[docker_gid()])
        .env("RUMI_EGRESS_ALLOW_CIDRS", "127.0.0.1/32")
        // Off the default range: other tests look for leftover processes of its first uid.
        .env("RUMI_PACK_UID_RANGE", "210000-210999")
        .spawn()
        .unwrap();
    assert!(
        !rumid.log_text().contains("cannot open the helper sockets"),
        "{}",
        rumid.log_text()
    );
    rumid.approve_and_grant("box", &["127.0.0.1"], &[up.addr.port()]);
    let r = rumid.post(
        "/api/stores/create",
        Some(&json!({"store_id": "box", "owner_pack": "box"})),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    rumid.grant_capability("box", "store.set", json!({"allowed_store_ids": ["box"]}));
    rumid.grant_capability("box", "store.get", json!({"allowed_store_ids": ["box"]}));

    // The sockets are the helper's (the unprivileged uid), in no group of the container's;
    // an ACL entry lets the pack's uid, and only it, open them.
    let uid = pack_uid(&home, "box");
    for socket in [rumid.egress_socket(&home, "box"), rumid.capability_socket(&home, "box")] {
        let access = Access::of(&socket).unwrap();
        assert_eq!(access.uid, RUMID_UID, "{}", socket.display());
        assert!(access.names_user(uid), "{}: {access:?}", socket.display());
        assert!(access.allows(uid, &[uid], RW));
        assert!(!access.allows(uid + 1, &[uid + 1], RW), "another pack's uid");
    }

    let r = rumid.run_flow("net", json!({"url": up.url("/ok")}), 120.0);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let out = &Rumid::flow_result(&r.body)["out"];
    assert_eq!(out["status"], 200, "egress from the container: {out}");
    assert_eq!(out["set"], true, "capability from the container: {out}");
    assert_eq!(out["got"], json!({"from": "container"}), "{out}");
    assert_eq!(
        home.audit_actions("python_file_call", "python_file_call")
            .last()
            .unwrap()["execution_mode"],
        "container"
    );

    let findings = doctor(&home);
    let sockets = finding(&findings, "sockets");
    assert_eq!(sockets["level"], "ok", "{findings:?}");
}

#[test]
fn doctor_reports_sandboxes_that_cannot_open_their_sockets() {
    if !docker_or_skip("doctor_reports_sandboxes_that_cannot_open_their_sockets") {
        return;
    }
    // One shared uid (65534) for every pack: no pack has a uid the helpers could name in an
    // ACL, the helpers are not root and no socket group is set, so the containers (65534)
    // cannot open the sockets (0660, the helper's uid and group).
    let home = home_with_box();
    let rumid = Rumid::builder(&home)
        .strict_without_socket_groups()
        .as_user(RUMID_UID, &[docker_gid()])
        .env("RUMI_PACK_UID_RANGE", "shared")
        .spawn()
        .unwrap();
    assert_eq!(rumid.post("/api/packs/box/approve", None).status, 200);
    rumid.wait_policy_applied();
    let socket = rumid.capability_socket(&home, "box");
    rumi_tests::wait_socket(&socket).unwrap();

    // File-system probes are reused for a second.
    rumi_tests::eventually("the sockets probe DEGRADED", rumi_tests::patience(), || {
        let health = rumid.get("/api/health").body["data"].clone();
        (health["probes"]["sockets"]["status"] == "DEGRADED").then_some(())
    })
    .unwrap();
    let findings = doctor(&home);
    let sockets = finding(&findings, "sockets");
    assert_eq!(sockets["level"], "error", "{findings:?}");
    let message = sockets["message"].as_str().unwrap();
    assert!(
        message.contains("pack box") && message.contains("uid 65534"),
        "{message}"
    );
    assert!(
        sockets["fix"].as_str().unwrap().contains("RUMI_EGRESS_SOCKET_GID"),
        "{sockets}"
    );
    let out = home.ctl(&["setup", "doctor"], &[]);
    assert_eq!(out.status.code(), Some(1), "doctor exits 1 on an error");

    // The doctor is right: the block's calls are refused by the kernel.
    let r = rumid.run_flow("net", json!({"url": "http://127.0.0.1:9/"}), 120.0);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let out = &Rumid::flow_result(&r.body)["out"];
    assert_eq!(out["set_error"], "permission_denied", "{out}");
    assert!(Path::new(&socket).exists());
}

#[test]
fn doctor_reports_a_socket_the_helper_could_not_bind() {
    // Something that is not a socket stands at the pack's egress socket path: rumi-egressd
    // refuses to replace it, holds the policy all the same, and the pack's blocks would get
    // socket_not_found.
    let home = TestHome::new();
    home.add_pack("box");
    let rumid = Rumid::start(&home);
    let planted = rumid.egress_socket(&home, "box");
    std::fs::write(&planted, "not a socket").unwrap();
    assert_eq!(rumid.post("/api/packs/box/approve", None).status, 200);
    rumid.wait_policy_applied();
    rumi_tests::eventually("the sockets probe DEGRADED", rumi_tests::patience(), || {
        let health = rumid.get("/api/health").body["data"].clone();
        (health["probes"]["sockets"]["status"] == "DEGRADED").then_some(())
    })
    .unwrap();
    let sockets = finding(&doctor(&home), "sockets");
    assert_eq!(sockets["level"], "error", "{sockets}");
    let message = sockets["message"].as_str().unwrap();
    assert!(
        message.contains("pack box cannot open its egress socket") && message.contains("is not a socket"),
        "{message}"
    );
    assert_eq!(
        home.audit_actions("security", "egress_proxy_socket_failed").len(),
        1,
        "the helper audited the refusal"
    );
}
