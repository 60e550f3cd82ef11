//! The operator web console: its public files and what they must not cost (no token, no
//! `auth_failed` line), the handler source it shows for review, and the whole console in
//! headless Chromium (Debian's chromium, driven by playwright-core from `tests/console/`):
//! every view at 1280 px and at 390 px, with its screenshots checked.

use std::fs;
use std::path::Path;
use std::process::Command;

use rumi_tests::{Rumid, TestHome};
use serde_json::{Value, json};

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

/// A pack `tools` with one capability handler whose source says `CONSOLE_REVIEW_MARKER`.
fn add_handler_pack(home: &TestHome) {
    home.write(
        "ecosystem/tools/ecosystem.json",
        r#"{"pack_id": "tools", "pack_identity": "tests/tools", "version": "1.0.0"}"#,
    );
    home.write(
        "ecosystem/tools/share/capability_handlers/echo/handler.json",
        &json!({"handler_id": "tools.echo", "permission_id": "tools.echo", "entrypoint": "handler.py:execute",
                "description": "Echoes its arguments back", "risk": "low: returns its input"})
        .to_string(),
    );
    home.write(
        "ecosystem/tools/share/capability_handlers/echo/handler.py",
        "# CONSOLE_REVIEW_MARKER\ndef execute(context, args):\n    return args\n",
    );
}

fn handler_key(rumid: &Rumid) -> String {
    let scan = rumid.post("/api/capability/candidates/scan", None);
    assert_eq!(scan.status, 200, "{:?}", scan.body);
    let items = rumid.get("/api/capability/requests?status=pending");
    items.body["data"]["items"][0]["candidate_key"]
        .as_str()
        .unwrap_or_else(|| panic!("no candidate: {:?} {:?}", scan.body, items.body))
        .to_owned()
}

fn auth_failures(home: &TestHome) -> Vec<Value> {
    home.audit_actions("security", "auth_failed")
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

    // The icon browsers fetch by themselves, without the token: served, a real icon, and no
    // security line for it.
    let icon = ureq::get(&format!("{}/favicon.ico", rumid.base))
        .call()
        .expect("GET /favicon.ico");
    assert_eq!(icon.status().as_u16(), 200);
    assert_eq!(
        icon.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("image/x-icon")
    );
    let bytes = icon.into_body().read_to_vec().expect("icon bytes");
    assert!(
        bytes.starts_with(&[0, 0, 1, 0]) && bytes.len() > 100,
        "not an icon: {} bytes",
        bytes.len()
    );
    assert_eq!(rumid.request("HEAD", "/favicon.ico", None, None, None).status, 200);
    assert!(auth_failures(&home).is_empty(), "{:?}", auth_failures(&home));

    assert_eq!(rumid.request("GET", "/api/audit/recent", None, None, None).status, 401);
    assert_eq!(rumid.request("POST", "/console", None, None, None).status, 401);
    assert_eq!(rumid.request("POST", "/favicon.ico", None, None, None).status, 401);
    assert_eq!(auth_failures(&home).len(), 3, "each refusal is audited");
    let recent = rumid.get("/api/audit/recent?limit=5");
    assert_eq!(recent.status, 200, "{:?}", recent.body);
    assert!(recent.body["data"]["count"].as_u64().unwrap() <= 5);
    assert_eq!(rumid.get("/api/audit/recent?category=../x").status, 400);
}

#[test]
fn a_handler_candidate_source_is_shown_only_from_inside_its_pack() {
    let home = TestHome::new();
    add_handler_pack(&home);
    home.write("outside/secret.py", "STOLEN = 1\n");
    let rumid = Rumid::start(&home);
    let key = handler_key(&rumid);
    let path = format!("/api/capability/requests/{}/source", key.replace(':', "%3A"));

    assert_eq!(rumid.request("GET", &path, None, None, None).status, 401);
    let r = rumid.get(&path);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let s = &r.body["data"];
    assert_eq!(s["file"], "handler.py");
    assert_eq!(s["matches_candidate"], true);
    assert_eq!(s["truncated"], false);
    assert!(
        s["content"].as_str().unwrap().starts_with("# CONSOLE_REVIEW_MARKER\n"),
        "{s}"
    );

    // Edited after the scan: shown as it is now, and said not to be the candidate.
    let entry = home
        .path()
        .join("ecosystem/tools/share/capability_handlers/echo/handler.py");
    fs::write(&entry, "import os\n").unwrap();
    let r = rumid.get(&path);
    assert_eq!(
        (
            r.body["data"]["matches_candidate"].clone(),
            r.body["data"]["content"].clone()
        ),
        (json!(false), json!("import os\n"))
    );

    // Larger than the cap: the beginning only.
    fs::write(&entry, "#".repeat(300 * 1024)).unwrap();
    let r = rumid.get(&path);
    assert_eq!(r.body["data"]["truncated"], true, "{:?}", r.body["data"]["size"]);
    assert_eq!(r.body["data"]["content"].as_str().unwrap().len(), 256 * 1024);

    // A symlink to a file outside the pack is not followed.
    fs::remove_file(&entry).unwrap();
    std::os::unix::fs::symlink(home.path().join("outside/secret.py"), &entry).unwrap();
    let r = rumid.get(&path);
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-004"), "{:?}", r.body);
    assert!(!r.body.to_string().contains("STOLEN"));

    // Nor a handler directory swapped for a symlink out of the pack.
    let dir = home.path().join("ecosystem/tools/share/capability_handlers/echo");
    fs::remove_dir_all(&dir).unwrap();
    fs::copy(
        home.path().join("outside/secret.py"),
        home.path().join("outside/handler.py"),
    )
    .unwrap();
    std::os::unix::fs::symlink(home.path().join("outside"), &dir).unwrap();
    let r = rumid.get(&path);
    assert_eq!((r.status, r.code()), (400, "RUMI-VAL-003"), "{:?}", r.body);
    assert!(!r.body.to_string().contains("STOLEN"));
    let refused = home.audit_actions("security", "capability_handler_source_refused");
    assert_eq!(refused.len(), 2, "{refused:?}");

    let r = rumid.get("/api/capability/requests/nope%3Ax%3Ay%3Az/source");
    assert_eq!((r.status, r.code()), (404, "RUMI-CAP-001"), "{:?}", r.body);
}

/// The views the tour shows at each width, and the widths.
const VIEWS: [&str; 8] = [
    "review",
    "packs",
    "health",
    "flows",
    "secrets",
    "containers",
    "grants",
    "audit",
];
const WIDTHS: [u32; 2] = [1280, 390];
const SECRET_VALUE: &str = "console-secret-value-7f3a";

fn node(args: &[&str], rumid: &Rumid) -> std::process::Output {
    Command::new("node")
        .arg("console/console.mjs")
        .args(args)
        .env("RUMI_CONSOLE_TOKEN", &rumid.token)
        .output()
        .expect("node")
}

fn assert_ran(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[cfg_attr(
    rumi_no_browser,
    ignore = "needs node, /usr/bin/chromium (apt-get install chromium) and `npm ci` in tests/console"
)]
fn operators_review_and_decide_in_the_web_console() {
    require_browser();
    let home = TestHome::example();
    home.add_pack("box");
    home.write(
        "ecosystem/box/backend/blocks/gone.py",
        "def run(i, c):\n    return {}\n",
    );
    home.add_pack("steady");
    home.add_pack("evil");
    home.write(
        "ecosystem/evil/ecosystem.json",
        r#"{"pack_id": "evil", "pack_identity": "x/evil", "name": "<img src=x onerror=\"window.__rumi_xss=1\">"}"#,
    );
    add_handler_pack(&home);
    let rumid = Rumid::start(&home);
    for pack in ["hello", "box", "steady"] {
        let r = rumid.post(&format!("/api/packs/{pack}/approve"), None);
        assert_eq!(r.status, 200, "{pack}: {:?}", r.body);
    }
    // box changes after its approval: one file changed, one added, one removed.
    home.write(
        "ecosystem/box/backend/blocks/main.py",
        "def run(i, c):\n    return {'changed': True}\n",
    );
    home.write("ecosystem/box/backend/blocks/added.py", "X = 1\n");
    fs::remove_file(home.path().join("ecosystem/box/backend/blocks/gone.py")).unwrap();
    assert_eq!(rumid.post("/api/packs/scan", None).status, 200);
    assert_eq!(rumid.pack_state("box"), "modified");
    let key = handler_key(&rumid);
    let r = rumid.post(
        "/api/secrets/set",
        Some(&json!({"key": "CONSOLE_API_KEY", "value": SECRET_VALUE})),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-shots");
    let _ = fs::remove_dir_all(&shots);
    fs::create_dir_all(&shots).unwrap();
    let out = node(&["tour", &rumid.base, shots.to_str().unwrap()], &rumid);
    assert_ran(&out, "the console tour");

    // What the page did, seen through the API.
    assert_eq!(rumid.pack_state("box"), "approved");
    assert_eq!(rumid.pack_state("evil"), "pending", "only the reviewed pack");
    let steady = rumid.get("/api/packs/steady/status");
    assert_eq!(steady.body["data"]["status"], "blocked");
    assert_eq!(
        steady.body["data"]["rejection_reason"],
        "found a problem in the console test"
    );
    let installed = rumid.get("/api/capability/requests?status=installed");
    assert_eq!(installed.body["data"]["items"][0]["candidate_key"], json!(key));
    let runs: Vec<_> = home
        .audit("flow_execution")
        .into_iter()
        .filter(|e| e["action"] == "flow_run" && e["details"]["trigger"] == "api")
        .collect();
    assert_eq!(runs.len(), 2, "one run per width: {runs:?}");

    // The screenshots: every view at both widths, PNGs of exactly the window's width (a page
    // wider than the window would make a wider full-page shot), and the page behind each one
    // never held the secret's value.
    for view in VIEWS {
        for width in WIDTHS {
            let png = fs::read(shots.join(format!("{view}-{width}.png")))
                .unwrap_or_else(|e| panic!("screenshot {view}-{width}: {e}"));
            assert!(
                png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 5_000,
                "{view}-{width}: {} bytes",
                png.len()
            );
            let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
            let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
            assert_eq!(w, width, "{view}-{width} is {w} px wide");
            assert!(h >= 300, "{view}-{width} is {h} px high");
            let html = fs::read_to_string(shots.join(format!("{view}-{width}.html"))).unwrap();
            assert!(!html.contains(SECRET_VALUE), "{view}-{width} shows the secret's value");
            assert!(!html.contains(&rumid.token), "{view}-{width} holds the token");
        }
    }
    let secrets = fs::read_to_string(shots.join("secrets-1280.html")).unwrap();
    assert!(secrets.contains("CONSOLE_API_KEY"), "the secrets view lists the key");

    // Loading and using the console wrote no auth_failed line (it used to: its own favicon).
    assert!(auth_failures(&home).is_empty(), "{:?}", auth_failures(&home));

    // A wrong token is refused, and that is the one auth_failed line.
    assert_ran(&node(&["refused", &rumid.base], &rumid), "the refused sign-in");
    let failures = auth_failures(&home);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["details"]["path"], "/api/health", "{failures:?}");
    eprintln!("console screenshots: {}", shots.display());
}
