//! rumi-egressd end to end: grants, socket identity, revocation, rate limits, restarts.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use rumi_tests::upstream::Upstream;
use rumi_tests::{Rumid, TestHome, eventually, frame_call, patience, wait_socket};
use serde_json::{Value, json};

fn get(url: &str) -> Value {
    json!({"method": "GET", "url": url, "timeout_seconds": 10})
}

fn start_with_upstream(home: &TestHome, extra: &[(&str, &str)]) -> Rumid {
    let mut b = Rumid::builder(home).env("RUMI_EGRESS_ALLOW_CIDRS", "127.0.0.1/32");
    for (k, v) in extra {
        b = b.env(k, v);
    }
    b.spawn().unwrap()
}

fn python_sdk(socket: &Path, code: &str) -> Value {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/sdk/python");
    let out = std::process::Command::new("python3")
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("PYTHONPATH", &sdk)
        .env("RUMI_EGRESS_SOCKET", socket)
        .args(["-c", code])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn granted_requests_reach_the_upstream_and_everything_else_is_refused() {
    let up = Upstream::start();
    let home = TestHome::with_packs(&["alpha", "beta"]);
    home.add_pack("gamma");
    let rumid = start_with_upstream(&home, &[]);
    rumid.approve_and_grant("alpha", &["127.0.0.1"], &[up.addr.port()]);
    assert_eq!(rumid.post("/api/packs/beta/approve", None).status, 200);
    let alpha = rumid.egress_socket(&home, "alpha");
    let beta = rumid.egress_socket(&home, "beta");
    wait_socket(&alpha).unwrap();
    wait_socket(&beta).unwrap();

    // Allowed, through the Python SDK as pack code would call it.
    let code = format!(
        "import json, rumi_syscall; print(json.dumps(rumi_syscall.get({:?})))",
        up.url("/ok?token=s3cr3t")
    );
    let r = python_sdk(&alpha, &code);
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["status_code"], 200);
    assert_eq!(r["body"], "hello");
    assert_eq!(r["bytes_read"], 5);

    // POST with a JSON body; Host comes from the URL even when the pack sends another.
    let code = format!(
        "import json, rumi_syscall; print(json.dumps(rumi_syscall.post_json({:?}, {{'a': 1}}, headers={{'Host': 'internal.corp', 'X-Test': 'yes'}})))",
        up.url("/echo")
    );
    let r = python_sdk(&alpha, &code);
    let echo: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], r#"{"a": 1}"#);
    assert_eq!(echo["headers"]["host"], up.addr.to_string());
    assert_eq!(echo["headers"]["x-test"], "yes");
    assert_eq!(echo["headers"]["content-type"], "application/json");

    // Non-UTF-8 bodies come back base64-encoded and say so.
    let r = frame_call(&alpha, &get(&up.url("/binary"))).unwrap();
    assert_eq!(r["headers"]["X-Proxy-Body-Encoding"], "base64");
    assert_eq!(r["body"], "//4AgA==");

    // Ungranted port and domain.
    let r = frame_call(&alpha, &get(&format!("http://127.0.0.1:{}/ok", up.addr.port() + 1))).unwrap();
    assert_eq!(r["error_type"], "grant_denied", "{r}");
    assert_eq!(r["error"], "Network access denied: port not granted");
    let r = frame_call(&alpha, &get("http://example.com/")).unwrap();
    assert_eq!(r["error_type"], "grant_denied");

    // Another pack's socket carries that pack's identity, whatever the payload claims.
    let mut spoof = get(&up.url("/ok"));
    spoof["owner_pack"] = json!("alpha");
    let r = frame_call(&beta, &spoof).unwrap();
    assert_eq!(r["error_type"], "grant_denied", "{r}");
    assert_eq!(r["error"], "Network access denied: no network grant for this pack");
    // A pack that is not approved has no socket at all.
    assert!(!rumid.egress_socket(&home, "gamma").exists());

    // Bad frames and bad requests.
    let r = frame_call(&alpha, &json!({"method": "TRACE", "url": up.url("/ok")})).unwrap();
    assert_eq!(r["error_type"], "validation_error");
    let r = frame_call(&alpha, &json!({"method": "GET", "url": "file:///etc/passwd"})).unwrap();
    assert_eq!(r["error_type"], "validation_error");
    let raw = {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&alpha).unwrap();
        s.write_all(&(5_000_000u32).to_be_bytes()).unwrap();
        let mut len = [0u8; 4];
        s.read_exact(&mut len).unwrap();
        let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
        s.read_exact(&mut buf).unwrap();
        serde_json::from_slice::<Value>(&buf).unwrap()
    };
    assert_eq!(raw["error_type"], "protocol_error");

    // Response limits.
    let r = frame_call(&alpha, &get(&up.url("/big?n=5000000"))).unwrap();
    assert_eq!(r["error_type"], "response_too_large", "{r}");

    // Every request is audited, without query strings or bodies.
    let lines = eventually("network audit lines", patience(), || {
        let l = home.audit_actions("network", "network_request");
        (l.len() >= 9).then_some(l)
    })
    .unwrap();
    let allowed: Vec<&Value> = lines.iter().filter(|l| l["details"]["allowed"] == true).collect();
    assert!(allowed.iter().all(|l| l["owner_pack"] == "alpha"));
    assert!(
        lines
            .iter()
            .any(|l| l["owner_pack"] == "beta" && l["details"]["blocked_reason"] == "grant_denied")
    );
    let text = serde_json::to_string(&lines).unwrap();
    assert!(!text.contains("s3cr3t"), "query strings never reach the audit log");
    assert!(!text.contains(r#"{\"a\": 1}"#), "bodies never reach the audit log");
    assert_eq!(lines[0]["details"]["port"], up.addr.port());
}

#[test]
fn revocation_rejection_and_rate_limits_apply_on_the_next_request() {
    let up = Upstream::start();
    let home = TestHome::with_packs(&["alpha"]);
    let rumid = start_with_upstream(&home, &[("RUMI_EGRESS_RATE_LIMIT", "3")]);
    rumid.approve_and_grant("alpha", &["127.0.0.1"], &[up.addr.port()]);
    let sock = rumid.egress_socket(&home, "alpha");
    wait_socket(&sock).unwrap();
    for _ in 0..3 {
        assert_eq!(frame_call(&sock, &get(&up.url("/ok"))).unwrap()["success"], true);
    }
    let r = frame_call(&sock, &get(&up.url("/ok"))).unwrap();
    assert_eq!(r["error_type"], "rate_limited", "{r}");
    assert_eq!(r["error"], "Rate limit exceeded");
    let hits = up.hits();

    // A re-grant (new policy) resets nothing about identity; a revoke denies the next request.
    let r = rumid.post(
        "/api/network/revoke",
        Some(&json!({"pack_id": "alpha", "reason": "no longer needed"})),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"]["enabled"], false);
    let r = eventually("revoke to apply", patience(), || {
        let r = frame_call(&sock, &get(&up.url("/ok"))).ok()?;
        (r["error_type"] == "grant_denied").then_some(r)
    })
    .unwrap();
    assert_eq!(r["error"], "Network access denied: network grant is disabled");
    assert_eq!(up.hits(), hits, "nothing reached the upstream after the revoke");
    let check = rumid.post(
        "/api/network/check",
        Some(&json!({"pack_id": "alpha", "domain": "127.0.0.1", "port": up.addr.port()})),
    );
    assert_eq!(check.body["data"]["allowed"], false);

    // Re-grant, then reject the pack: its socket disappears.
    rumid.approve_and_grant("alpha", &["127.0.0.1"], &[up.addr.port()]);
    let check = rumid.post(
        "/api/network/check",
        Some(&json!({"pack_id": "alpha", "domain": "127.0.0.1", "port": up.addr.port()})),
    );
    assert_eq!(check.body["data"]["allowed"], true, "{:?}", check.body);
    assert_eq!(
        rumid
            .post("/api/packs/alpha/reject", Some(&json!({"reason": "test"})))
            .status,
        200
    );
    eventually("socket removed", patience(), || (!sock.exists()).then_some(())).unwrap();

    // A modified pack loses its socket once the change is detected.
    assert_eq!(rumid.post("/api/packs/alpha/approve", None).status, 200);
    wait_socket(&sock).unwrap();
    std::fs::write(home.path().join("ecosystem/alpha/backend/blocks/evil.py"), "x = 1\n").unwrap();
    assert_eq!(rumid.pack_state("alpha"), "modified");
    eventually("socket removed after modification", patience(), || {
        (!sock.exists()).then_some(())
    })
    .unwrap();
    let check = rumid.post(
        "/api/network/check",
        Some(&json!({"pack_id": "alpha", "domain": "127.0.0.1", "port": up.addr.port()})),
    );
    assert_eq!(check.body["data"]["allowed"], false);

    let grants = rumid.get("/api/network/list");
    assert_eq!(grants.body["data"]["count"], 1);
    assert_eq!(home.audit_actions("permission", "permission_revoke").len(), 1);
}

#[test]
fn grant_requests_are_validated() {
    let home = TestHome::with_packs(&["alpha"]);
    let rumid = Rumid::start(&home);
    let cases = [
        (
            json!({"pack_id": "../x", "allowed_domains": ["a.com"], "allowed_ports": [443]}),
            "RUMI-PACK-001",
        ),
        (
            json!({"pack_id": "alpha", "allowed_domains": ["a..com"], "allowed_ports": [443]}),
            "RUMI-VAL-002",
        ),
        (
            json!({"pack_id": "alpha", "allowed_domains": ["*x.com"], "allowed_ports": [443]}),
            "RUMI-VAL-002",
        ),
        (
            json!({"pack_id": "alpha", "allowed_domains": ["a.com"], "allowed_ports": [-1]}),
            "RUMI-VAL-008",
        ),
        (
            json!({"pack_id": "alpha", "allowed_domains": ["a.com"], "allowed_ports": [65536]}),
            "RUMI-VAL-002",
        ),
        (
            json!({"pack_id": "alpha", "allowed_domains": "a.com", "allowed_ports": [443]}),
            "RUMI-VAL-008",
        ),
        (
            json!({"pack_id": "alpha", "allowed_domains": ["a.com"]}),
            "RUMI-VAL-008",
        ),
    ];
    for (body, code) in cases {
        let r = rumid.post("/api/network/grant", Some(&body));
        assert_eq!(r.code(), code, "{body}: {:?}", r.body);
    }
    assert_eq!(rumid.get("/api/network/list").body["data"]["count"], 0);
    let r = rumid.post("/api/network/revoke", Some(&json!({"pack_id": "alpha", "reason": "x"})));
    assert_eq!((r.status, r.code()), (404, "RUMI-NET-004"));
    let r = rumid.post(
        "/api/network/grant",
        Some(&json!({"pack_id": "alpha", "allowed_domains": ["*"], "allowed_ports": [0]})),
    );
    assert_eq!(r.status, 200);
    assert_eq!(home.audit_actions("security", "wildcard_domain_warning").len(), 1);
}

#[test]
fn sockets_get_the_configured_mode_and_group() {
    let home = TestHome::with_packs(&["alpha"]);
    let rumid = Rumid::builder(&home)
        .env("RUMI_EGRESS_SOCKET_MODE", "0640")
        .env("RUMI_EGRESS_SOCKET_GID", "4242")
        .spawn()
        .unwrap();
    assert_eq!(rumid.post("/api/packs/alpha/approve", None).status, 200);
    let sock = rumid.egress_socket(&home, "alpha");
    wait_socket(&sock).unwrap();
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    assert_eq!(meta.gid(), 4242);
    let dir = std::fs::metadata(sock.parent().unwrap()).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o750);
    assert_eq!(dir.gid(), 4242);
}

#[test]
fn a_killed_helper_is_back_with_policy_within_two_seconds_and_serves_nothing_before() {
    let up = Upstream::start();
    let home = TestHome::with_packs(&["alpha"]);
    let rumid = start_with_upstream(&home, &[]);
    rumid.approve_and_grant("alpha", &["127.0.0.1"], &[up.addr.port()]);
    let sock = rumid.egress_socket(&home, "alpha");
    wait_socket(&sock).unwrap();
    let helpers = rumid.wait_helpers_up().unwrap();
    let old_pid = helpers["egressd"]["pid"].as_u64().unwrap() as i32;
    let version = helpers["egressd"]["policy_version"].as_u64().unwrap();

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(old_pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    let killed = Instant::now();
    // Until the new helper holds the policy, requests fail to connect; an ungranted one is
    // never allowed at any point.
    let mut served = None;
    while killed.elapsed() < Duration::from_secs(5) {
        if let Ok(r) = frame_call(&sock, &get("http://example.com/")) {
            assert_eq!(r["error_type"], "grant_denied", "{r}");
            if let Ok(r) = frame_call(&sock, &get(&up.url("/ok"))) {
                assert_eq!(r["success"], true, "{r}");
                served = Some(killed.elapsed());
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let served = served.expect("helper came back");
    assert!(served < Duration::from_secs(2), "back after {served:?}");
    let helpers = rumid.wait_helpers_up().unwrap();
    assert_ne!(helpers["egressd"]["pid"].as_u64().unwrap() as i32, old_pid);
    assert!(helpers["egressd"]["policy_version"].as_u64().unwrap() >= version);
    assert!(helpers["egressd"]["restarts"].as_u64().unwrap() >= 1);
    let downs = home.audit_actions("system", "helper_down");
    assert!(!downs.is_empty());
}
