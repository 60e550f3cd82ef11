//! Authentication: every endpoint but `GET /health` needs the token; rotation.

use rumi_tests::{Rumid, TestHome};

const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/packs"),
    ("GET", "/api/packs/pending"),
    ("GET", "/api/packs/alpha/status"),
    ("POST", "/api/packs/scan"),
    ("POST", "/api/packs/alpha/approve"),
    ("POST", "/api/packs/alpha/reject"),
    ("DELETE", "/api/packs/alpha"),
    ("GET", "/api/health"),
    ("GET", "/metrics"),
    ("GET", "/api/does-not-exist"),
    ("POST", "/health"),
    ("POST", "/api/packs/import"),
    ("POST", "/api/packs/apply"),
    ("GET", "/api/packs/staging"),
    ("GET", "/api/privileges"),
    ("POST", "/api/privileges/alpha/execute/system.diagnostics"),
    ("POST", "/api/pip/candidates/scan"),
    ("GET", "/api/units"),
    ("POST", "/api/units/execute"),
    ("GET", "/api/audit/recent"),
    ("POST", "/console"),
];

#[test]
fn every_route_refuses_missing_and_wrong_tokens() {
    let home = TestHome::with_packs(&["alpha"]);
    let rumid = Rumid::start(&home);
    let wrong = "0".repeat(64);
    let near_miss = {
        let mut t = rumid.token.clone().into_bytes();
        t[63] = if t[63] == b'a' { b'b' } else { b'a' };
        String::from_utf8(t).unwrap()
    };
    let mut refused = 0;
    for (method, path) in ROUTES {
        for token in [None, Some(wrong.as_str()), Some(near_miss.as_str()), Some("")] {
            let r = rumid.request(method, path, token, None, None);
            assert_eq!(r.status, 401, "{method} {path} with {token:?}: {:?}", r.body);
            let want = if token.is_none() {
                "RUMI-AUTH-004"
            } else {
                "RUMI-AUTH-001"
            };
            assert_eq!(r.code(), want, "{method} {path}");
            assert!(r.body["suggestion"].as_str().unwrap().contains("rumi-ctl token"));
            assert!(r.request_id.is_some());
            refused += 1;
        }
    }
    // Each refusal is a security audit line, without the presented token.
    let lines = home.audit_actions("security", "auth_failed");
    assert_eq!(lines.len(), refused);
    let raw = std::fs::read_dir(home.path().join("user_data/audit"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(!raw.contains(&near_miss) && !raw.contains(&rumid.token));
    // Nothing changed.
    assert_eq!(rumid.pack_state("alpha"), "pending");
    // A lower-case scheme or a token with trailing junk is refused too.
    let r = rumid.request_with(
        "GET",
        "/api/packs",
        None,
        None,
        None,
        &[("Authorization", &format!("bearer {}", rumid.token))],
    );
    assert_eq!(r.status, 401);
    let r = rumid.request("GET", "/api/packs", Some(&format!("{}x", rumid.token)), None, None);
    assert_eq!(r.status, 401);

    // /health is open, minimal, and also carries a request id.
    let h = rumid.request("GET", "/health", None, None, None);
    assert_eq!(h.status, 200);
    assert_eq!(h.body["status"], "UP", "{}", h.body);
    assert!(h.body.get("probes").is_none(), "the open endpoint shows no detail");
    assert!(h.request_id.unwrap().starts_with("req-"));
}

#[test]
fn rotation_replaces_the_token_and_keeps_approvals() {
    let home = TestHome::with_packs(&["alpha"]);
    let rumid = Rumid::start(&home);
    let old = rumid.token.clone();
    assert_eq!(rumid.post("/api/packs/alpha/approve", None).status, 200);
    rumid.stop();

    // A plain restart keeps the token.
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.token, old);
    rumid.stop();

    let rumid = Rumid::builder(&home).env("RUMI_HMAC_ROTATE", "true").spawn().unwrap();
    assert_ne!(rumid.token, old);
    let r = rumid.request("GET", "/api/packs", Some(&old), None, None);
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "RUMI-AUTH-001");
    assert_eq!(rumid.get("/api/packs").status, 200);
    // State signed under the old key was re-signed, not orphaned.
    assert_eq!(rumid.pack_state("alpha"), "approved");
    assert_eq!(home.audit_actions("security", "hmac_key_rotated").len(), 1);
    assert!(home.audit_actions("security", "hmac_verification_failed").is_empty());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(home.path().join("user_data/settings/.hmac_key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    // The guide: the variable rotates once. Left set, the next start keeps the new key.
    let new = rumid.token.clone();
    rumid.stop();
    let again = Rumid::builder(&home).env("RUMI_HMAC_ROTATE", "true").spawn().unwrap();
    assert_eq!(again.token, new, "still set: no second rotation");
    assert_eq!(home.audit_actions("security", "hmac_key_rotated").len(), 1);
    assert!(
        again.log_text().contains("RUMI_HMAC_ROTATE is still set"),
        "it says why"
    );
    again.stop();
    // Unset once, then set again: it rotates once more.
    Rumid::start(&home).stop();
    let later = Rumid::builder(&home).env("RUMI_HMAC_ROTATE", "true").spawn().unwrap();
    assert_ne!(later.token, new);
    assert_eq!(home.audit_actions("security", "hmac_key_rotated").len(), 2);
    assert_eq!(later.pack_state("alpha"), "approved");
}

#[test]
fn interrupted_rotation_is_finished_at_next_start() {
    let home = TestHome::with_packs(&["alpha"]);
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.post("/api/packs/alpha/approve", None).status, 200);
    let old = rumid.token.clone();
    rumid.kill();
    // Simulate a crash after the new key was written but before anything was re-signed.
    let next = rumi_common::token::InstanceKey::generate();
    let path = home.path().join("user_data/settings/.hmac_key.next");
    rumi_common::fs::write_atomic(&path, next.to_file_contents().as_bytes(), 0o600).unwrap();
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.token, next.api_token().expose());
    assert_ne!(rumid.token, old);
    assert!(!path.exists());
    assert_eq!(rumid.pack_state("alpha"), "approved");
}
