//! SSRF: no pack reaches an internal address, however it is written or reached.

use rumi_tests::upstream::Upstream;
use rumi_tests::{Rumid, TestHome, eventually, frame_call, patience, wait_socket};
use serde_json::json;

#[test]
fn internal_addresses_are_refused_in_every_form() {
    let up = Upstream::start();
    let home = TestHome::with_packs(&["alpha"]);
    // Only the upstream's exact address is exempted (test-only setting).
    let rumid = Rumid::builder(&home)
        .env("RUMI_EGRESS_ALLOW_CIDRS", "127.0.0.1/32")
        .spawn()
        .unwrap();
    rumid.approve_and_grant("alpha", &["*"], &[0]);
    let sock = rumid.egress_socket(&home, "alpha");
    wait_socket(&sock).unwrap();
    let p = up.addr.port();
    let cases = [
        format!("http://127.0.0.2:{p}/ok"),
        format!("http://127.1.2.3:{p}/"),
        "http://10.0.0.1/".into(),
        "http://172.16.0.1/".into(),
        "http://192.168.1.1/".into(),
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://100.100.100.200/".into(),
        "http://192.0.0.192/".into(),
        "http://0.0.0.0/".into(),
        "http://198.18.0.1/".into(),
        "http://224.0.0.1/".into(),
        "http://255.255.255.255/".into(),
        // Decimal, octal, hex and short forms (normalised by the URL parser, then checked).
        "http://167772161/".into(),
        "http://2852039166/".into(),
        "http://0251.0376.0251.0376/".into(),
        "http://0xa9fea9fe/".into(),
        "http://0xA9.0xFE.0xA9.0xFE/".into(),
        "http://10.1/".into(),
        "http://0177.0.0.2/".into(),
        // IPv6 forms and embeddings.
        format!("http://[::1]:{p}/"),
        "http://[::]/".into(),
        format!("http://[::ffff:127.0.0.2]:{p}/"),
        "http://[::ffff:169.254.169.254]/".into(),
        "http://[::ffff:a9fe:a9fe]/".into(),
        "http://[::169.254.169.254]/".into(),
        "http://[64:ff9b::a9fe:a9fe]/".into(),
        "http://[2002:a9fe:a9fe::1]/".into(),
        "http://[2001:0:a9fe:a9fe::1]/".into(),
        "http://[fd00:ec2::254]/".into(),
        "http://[fe80::1]/".into(),
        "http://[ff02::1]/".into(),
    ];
    assert!(cases.len() >= 25);
    for url in &cases {
        let r = frame_call(&sock, &json!({"method": "GET", "url": url, "timeout_seconds": 5})).unwrap();
        assert_eq!(r["success"], false, "{url}: {r}");
        assert_eq!(r["error_type"], "blocked", "{url}: {r}");
        assert_eq!(r["error"], "Request blocked by security policy");
    }
    // Redirects to internal addresses are re-checked on every hop.
    for target in [
        "http://169.254.169.254/",
        &format!("http://[::1]:{p}/ok"),
        "http://10.0.0.1/",
        &format!("http://127.0.0.2:{p}/ok"),
    ] {
        let url = up.url(&format!("/redirect?to={target}"));
        let r = frame_call(&sock, &json!({"method": "GET", "url": url})).unwrap();
        assert_eq!(r["error_type"], "blocked", "{target}: {r}");
        assert_eq!(r["redirect_hops"], 1);
    }
    let r = frame_call(&sock, &json!({"method": "GET", "url": up.url("/loop")})).unwrap();
    assert_eq!(r["error_type"], "too_many_redirects", "{r}");
    // A permitted redirect is followed.
    let r = frame_call(
        &sock,
        &json!({"method": "GET", "url": up.url(&format!("/redirect?to=http://127.0.0.1:{p}/ok"))}),
    )
    .unwrap();
    assert_eq!(
        (r["success"].clone(), r["body"].clone(), r["redirect_hops"].clone()),
        (json!(true), json!("hello"), json!(1))
    );
    // Non-GET redirects go back to the pack as they are.
    let r = frame_call(
        &sock,
        &json!({"method": "POST", "url": up.url("/redirect?to=http://10.0.0.1/")}),
    )
    .unwrap();
    assert_eq!(r["status_code"], 302);
    eventually("internal_ip_blocked in the audit log", patience(), || {
        let audit = home.audit_actions("network", "network_request");
        audit
            .iter()
            .any(|l| l["details"]["blocked_reason"] == "internal_ip_blocked")
            .then_some(())
    })
    .unwrap();
}

#[test]
fn names_resolving_to_internal_addresses_are_refused() {
    let home = TestHome::with_packs(&["alpha"]);
    // No allow range at all: the production default.
    let rumid = Rumid::start(&home);
    rumid.approve_and_grant("alpha", &["*"], &[0]);
    let sock = rumid.egress_socket(&home, "alpha");
    wait_socket(&sock).unwrap();
    for url in [
        "http://localhost/",
        "http://localhost.:8080/",
        "http://LOCALHOST/",
        "http://no-such-host.invalid/",
    ] {
        let r = frame_call(&sock, &json!({"method": "GET", "url": url, "timeout_seconds": 5})).unwrap();
        assert_eq!(r["error_type"], "blocked", "{url}: {r}");
    }
    eventually("dns refusals in the audit log", patience(), || {
        let audit = home.audit_actions("network", "network_request");
        let has = |r: &str| audit.iter().any(|l| l["details"]["blocked_reason"] == r);
        (has("dns_rebinding_blocked") && has("dns_blocked")).then_some(())
    })
    .unwrap();
}
