//! The operator web console in headless Chromium (Debian's chromium, driven by
//! playwright-core from `tests/console/`): sign in, approve a pending pack through the page,
//! verify it through the API, keep a screenshot.

use std::path::Path;
use std::process::Command;

use rumi_tests::{Rumid, TestHome};

/// Fails the browser test on what is missing. Without a browser the test is not run at all:
/// `tests/build.rs` marks it ignored (`rumi_no_browser`), so a skip shows in the summary;
/// in CI (`RUMI_TEST_REQUIRE_BROWSER=1`) it is never ignored and this names the missing piece.
fn require_browser() {
    let node_modules = Path::new("console/node_modules/playwright-core").is_dir();
    let chromium = Path::new("/usr/bin/chromium").is_file();
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        node_modules && chromium && node,
        "the console test needs node, /usr/bin/chromium and `npm ci` in tests/console (node {node}, chromium {chromium}, playwright-core {node_modules})"
    );
}

#[test]
fn the_console_page_is_public_and_its_data_is_not() {
    let home = TestHome::new();
    home.add_pack("box");
    let rumid = Rumid::start(&home);

    // The page is public and locked down; the data behind it is not.
    let r = rumid.request("GET", "/console", None, None, None);
    assert_eq!(r.status, 200);
    let csp = r.header("content-security-policy").unwrap_or_default().to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    for path in ["/console/app.js", "/console/app.css"] {
        assert_eq!(rumid.request("GET", path, None, None, None).status, 200, "{path}");
    }
    assert_eq!(rumid.request("GET", "/api/audit/recent", None, None, None).status, 401);
    assert_eq!(rumid.request("POST", "/console", None, None, None).status, 401);
    let recent = rumid.get("/api/audit/recent?limit=5");
    assert_eq!(recent.status, 200, "{:?}", recent.body);
    assert!(recent.body["data"]["count"].as_u64().unwrap() <= 5);
    assert_eq!(rumid.get("/api/audit/recent?category=../x").status, 400);
}

#[test]
#[cfg_attr(
    rumi_no_browser,
    ignore = "needs node, /usr/bin/chromium (apt-get install chromium) and `npm ci` in tests/console"
)]
fn operators_approve_a_pack_in_the_web_console() {
    require_browser();
    let home = TestHome::new();
    home.add_pack("box");
    home.add_pack("evil");
    home.write(
        "ecosystem/evil/ecosystem.json",
        r#"{"pack_id": "evil", "pack_identity": "x/evil", "name": "<img src=x onerror=\"window.__rumi_xss=1\">"}"#,
    );
    let rumid = Rumid::start(&home);
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console.png");
    let _ = std::fs::remove_file(&shot);
    let out = Command::new("node")
        .arg("console/console.mjs")
        .arg(&rumid.base)
        .arg(&rumid.token)
        .arg("box")
        .arg(&shot)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "console script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // What the page did, seen through the API.
    assert_eq!(rumid.pack_state("box"), "approved");
    assert_eq!(rumid.pack_state("evil"), "pending", "only the clicked pack");
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "screenshot {} is {size} bytes", shot.display());
    eprintln!("console screenshot: {}", shot.display());
}
