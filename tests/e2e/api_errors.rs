//! Bad input gets a RUMI code, the right status, and changes nothing.

use rumi_tests::{Rumid, TestHome};
use serde_json::json;

/// method, path, body, content type, expected status, expected code
type Case<'a> = (&'a str, &'a str, Option<&'a [u8]>, Option<&'a str>, u16, &'a str);

#[test]
fn bad_requests_get_rumi_codes_and_leave_state_alone() {
    let home = TestHome::with_packs(&["alpha"]);
    let rumid = Rumid::builder(&home)
        .env("RUMI_MAX_REQUEST_BODY_BYTES", "4096")
        .spawn()
        .unwrap();
    let token = rumid.token.clone();
    let t = Some(token.as_str());
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/api/packs/alpha/reject",
            Some(b"{not json"),
            Some("application/json"),
            400,
            "RUMI-VAL-008",
        ),
        (
            "POST",
            "/api/packs/alpha/reject",
            Some(b"[1,2]"),
            Some("application/json"),
            400,
            "RUMI-VAL-008",
        ),
        (
            "POST",
            "/api/packs/alpha/reject",
            Some(b"{}"),
            Some("application/json"),
            400,
            "RUMI-VAL-008",
        ),
        (
            "POST",
            "/api/packs/alpha/reject",
            Some(br#"{"reason":"x","extra":1}"#),
            Some("application/json"),
            400,
            "RUMI-VAL-008",
        ),
        (
            "POST",
            "/api/packs/alpha/reject",
            Some(br#"{"reason":"   "}"#),
            Some("application/json"),
            400,
            "RUMI-VAL-001",
        ),
        (
            "POST",
            "/api/packs/alpha/reject",
            Some(br#"{"reason":"x"}"#),
            Some("text/plain"),
            415,
            "RUMI-VAL-009",
        ),
        (
            "POST",
            "/api/packs/alpha/reject",
            Some(&[b'{'; 5000]),
            Some("application/json"),
            413,
            "RUMI-VAL-007",
        ),
        (
            "POST",
            "/api/packs/scan",
            Some(&[b' '; 5000]),
            Some("application/json"),
            413,
            "RUMI-VAL-007",
        ),
        ("GET", "/api/packs/nope/status", None, None, 404, "RUMI-PACK-005"),
        ("POST", "/api/packs/nope/approve", None, None, 404, "RUMI-PACK-005"),
        (
            "POST",
            "/api/packs/nope/reject",
            Some(br#"{"reason":"x"}"#),
            Some("application/json"),
            404,
            "RUMI-PACK-005",
        ),
        ("DELETE", "/api/packs/nope", None, None, 404, "RUMI-PACK-005"),
        (
            "GET",
            "/api/packs/..%2F..%2Fetc/status",
            None,
            None,
            400,
            "RUMI-PACK-001",
        ),
        ("POST", "/api/packs/a.b/approve", None, None, 400, "RUMI-PACK-001"),
        (
            "DELETE",
            "/api/packs/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            None,
            None,
            400,
            "RUMI-PACK-001",
        ),
        ("GET", "/api/nothing-here", None, None, 404, "RUMI-SYS-004"),
        ("PUT", "/api/packs", None, None, 405, "RUMI-SYS-005"),
    ];
    let reason_too_long = serde_json::to_vec(&json!({"reason": "x".repeat(1025)})).unwrap();
    let mut all = cases;
    all.push((
        "POST",
        "/api/packs/alpha/reject",
        Some(&reason_too_long),
        Some("application/json"),
        400,
        "RUMI-VAL-002",
    ));
    for (method, path, body, ct, status, code) in all {
        let r = rumid.request(method, path, t, body, ct);
        assert_eq!(r.status, status, "{method} {path}: {:?}", r.body);
        assert_eq!(r.body["success"], false, "{method} {path}");
        assert_eq!(r.code(), code, "{method} {path}: {:?}", r.body);
        assert!(!r.body["error"].as_str().unwrap().is_empty());
        assert!(!r.body["suggestion"].as_str().unwrap().is_empty());
        assert_eq!(
            r.body["request_id"].as_str(),
            r.request_id.as_deref(),
            "{method} {path}"
        );
    }
    assert_eq!(rumid.pack_state("alpha"), "pending");
    assert!(!home.path().join("user_data/settings/approvals/alpha.json").exists());
    // A valid body just under the limit is accepted.
    let ok = rumid.post("/api/packs/alpha/reject", Some(&json!({"reason": "y".repeat(1000)})));
    assert_eq!(ok.status, 200);
}

#[test]
fn cors_answers_only_configured_origins() {
    let home = TestHome::new();
    let rumid = Rumid::builder(&home)
        .env("RUMI_CORS_ORIGINS", "http://console.local:3000")
        .spawn()
        .unwrap();
    let preflight = |origin: &str| {
        rumid.request_with(
            "OPTIONS",
            "/api/packs",
            None,
            None,
            None,
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "GET"),
                ("Access-Control-Request-Headers", "authorization"),
            ],
        )
    };
    let allowed = preflight("http://console.local:3000");
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("http://console.local:3000")
    );
    let other = preflight("http://evil.example");
    assert_eq!(other.header("access-control-allow-origin"), None);
    // Without configuration there are no CORS headers at all.
    let home2 = TestHome::new();
    let plain = Rumid::start(&home2);
    let r = plain.request_with(
        "GET",
        "/api/packs",
        Some(&plain.token.clone()),
        None,
        None,
        &[("Origin", "http://console.local:3000")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[test]
fn health_detail_and_metrics_need_the_token_and_report_state() {
    let home = TestHome::with_packs(&["alpha", "beta"]);
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.post("/api/packs/alpha/approve", None).status, 200);
    let h = rumid.get("/api/health");
    assert_eq!(h.status, 200);
    assert_eq!(h.body["data"]["status"], "UP", "{}", h.body);
    assert_eq!(h.body["data"]["probes"]["writable_state"]["status"], "UP");
    assert_eq!(h.body["data"]["packs"]["pending"], 1);
    let m = rumid.get("/metrics");
    assert_eq!(m.status, 200);
    let text = {
        let r = rumid.request("GET", "/metrics", Some(&rumid.token.clone()), None, None);
        assert!(r.header("content-type").unwrap().contains("openmetrics"));
        r
    };
    let _ = text;
    // The body is not JSON; fetch it raw.
    let body = rumid.metrics_text();
    assert!(body.contains(r#"rumi_packs{state="approved"} 1"#), "{body}");
    assert!(body.contains(r#"rumi_packs{state="pending"} 1"#), "{body}");
    assert!(body.contains("rumi_http_requests_total{"), "{body}");
}

/// Sends raw bytes on `conn` and reads one response head (status line and headers).
fn raw_exchange(conn: &mut std::net::TcpStream, bytes: &[u8]) -> String {
    use std::io::{Read, Write};
    conn.write_all(bytes).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "connection closed before a response: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf).to_lowercase()
}

#[test]
fn responses_say_connection_close_when_the_request_body_was_left_unread() {
    use std::io::Read;
    let home = TestHome::new();
    let rumid = Rumid::start(&home);
    let addr = rumid.base.trim_start_matches("http://").to_owned();
    let timeout = Some(std::time::Duration::from_secs(10));

    // Refused before its body is read (wrong token, 1000 bytes declared, 10 sent): the
    // server will not reuse the connection, and says so.
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(timeout).unwrap();
    let head = raw_exchange(
        &mut conn,
        b"POST /api/network/check HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer wrong\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"pack_id\"",
    );
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(head.contains("\r\nconnection: close\r\n"), "{head}");
    let mut rest = Vec::new();
    // Closed: end of stream (or a reset), not the read timeout.
    match conn.read_to_end(&mut rest) {
        Ok(_) => assert!(
            rest.len() <= 400,
            "only the error body follows: {}",
            String::from_utf8_lossy(&rest)
        ),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "not closed: {e}"),
    }

    // A request whose body is read keeps its connection: a second request is answered on it.
    let body = r#"{"pack_id":"alpha","domain":"example.com","port":443}"#;
    let request = format!(
        "POST /api/network/check HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        rumid.token,
        body.len()
    );
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(timeout).unwrap();
    let head = raw_exchange(&mut conn, request.as_bytes());
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    let head = raw_exchange(&mut conn, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(head.contains("http/1.1 200"), "{head}");
}
