//! Hostile conditions against rumid itself: each test runs one attack on the real binaries,
//! asserts what rumid does about it, and checks that the operator keeps working while and after
//! it runs: the calls that must work are answered within one second.
//!
//! - audit: with the audit file system full, operator actions are refused with
//!   `RUMI-SYS-008` and change nothing, health says why, helper events that cannot be written
//!   are counted and shown, and freeing space lets the next action through at once;
//! - logging: a closed stderr, a stderr nobody reads and a log on a full disk neither panic a
//!   request nor stall it, and helpers killed meanwhile are restarted and reported truly.

use std::process::Stdio;
use std::time::{Duration, Instant};

use rumi_tests::{Resp, Rumid, TestHome, Tmpfs, eventually, patience};
use serde_json::{Value, json};

/// How fast the operator must be answered during an attack.
const PROMPT: Duration = Duration::from_secs(1);

/// Runs `f` and fails the test when it took [`PROMPT`] or longer.
fn prompt<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    assert!(took < PROMPT, "{what} took {took:?}");
    out
}

fn ok(what: &str, r: &Resp) {
    assert_eq!(r.status, 200, "{what}: {:?}", r.body);
}

// === item 9: a log write that fails ===

/// What rumid's stdout and stderr are in one run of the logging test.
enum Sink {
    /// Both are pipes whose read end is closed: every write fails with EPIPE.
    Closed,
    /// Both are one pipe that is never read: writes block once its 4 KiB are buffered.
    Unread,
    /// Both are a file on a full tmpfs: every write fails with ENOSPC.
    FullDisk,
}

#[test]
fn a_closed_stalled_or_full_stderr_never_fails_a_request_and_killed_helpers_come_back() {
    for sink in [Sink::Closed, Sink::Unread, Sink::FullDisk] {
        let home = TestHome::new();
        home.add_pack("p");
        // Kept alive until rumid is gone: the unread pipe's read end, the full file system.
        let mut unread = None;
        let mut tmpfs = None;
        let (out, err, case) = match sink {
            Sink::Closed => {
                let (r1, w1) = std::io::pipe().unwrap();
                let (r2, w2) = std::io::pipe().unwrap();
                drop((r1, r2));
                (Stdio::from(w1), Stdio::from(w2), "closed stderr")
            }
            Sink::Unread => {
                let (r, w) = std::io::pipe().unwrap();
                // The smallest pipe buffer (one page), so the first few lines fill it.
                nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_SETPIPE_SZ(4096)).unwrap();
                let w2 = w.try_clone().unwrap();
                unread = Some(r);
                (Stdio::from(w), Stdio::from(w2), "stderr nobody reads")
            }
            Sink::FullDisk => {
                let fs = Tmpfs::mount(&home.path().join("logs"), 64 * 1024).unwrap();
                let log = std::fs::File::create(fs.path().join("rumid.log")).unwrap();
                fs.fill("filler").unwrap();
                let log2 = log.try_clone().unwrap();
                tmpfs = Some(fs);
                (Stdio::from(log), Stdio::from(log2), "log on a full disk")
            }
        };
        let rumid = Rumid::builder(&home).stdio(out, err).spawn().unwrap();
        operator_survives_broken_logging(&home, &rumid, case);
        drop(rumid);
        drop((unread, tmpfs));
    }
}

/// The operator's calls while every log line rumid and its helpers write (at DEBUG) fails or
/// blocks: all answered in time with their audit lines; both helpers killed, reported down at
/// once and restarted.
fn operator_survives_broken_logging(home: &TestHome, rumid: &Rumid, case: &str) {
    // A log flood from anyone who can connect: requests without a token and with an 8 KiB
    // path, each logged (path included, at DEBUG) as refused. 300 of them are more than the
    // 1 MiB rumid queues for stderr, so with a stalled stderr lines must be dropped.
    let long_path = format!("/api/{}", "x".repeat(8 * 1024));
    for _ in 0..300 {
        let r = prompt(&format!("{case}: refused request"), || {
            rumid.request("GET", &long_path, None, None, None)
        });
        assert_eq!(r.status, 401, "{case}");
        let r = prompt(&format!("{case}: GET /api/packs"), || rumid.get("/api/packs"));
        ok(case, &r);
    }
    let r = prompt(&format!("{case}: approve"), || rumid.post("/api/packs/p/approve", None));
    ok(case, &r);
    assert_eq!(
        home.audit_actions("approval", "pack_approved").len(),
        1,
        "{case}: the approval has its audit line"
    );
    let grant = json!({"pack_id": "p", "allowed_domains": ["example.com"], "allowed_ports": [443]});
    let r = prompt(&format!("{case}: network grant"), || {
        rumid.post("/api/network/grant", Some(&grant))
    });
    ok(case, &r);
    assert_eq!(home.audit_actions("permission", "permission_grant").len(), 1, "{case}");

    let health = rumid.get("/api/health").body["data"].clone();
    assert!(
        health["logging"]["dropped_lines"].as_u64() > Some(0),
        "{case}: the lost log lines are counted: {}",
        health["logging"]
    );
    let pids: Vec<(&str, u64)> = ["egressd", "capd"]
        .into_iter()
        .map(|h| (h, health["helpers"][h]["pid"].as_u64().expect("a spawned helper's pid")))
        .collect();
    for (_, pid) in &pids {
        let pid = nix::unistd::Pid::from_raw(*pid as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    }
    // Health never reports a killed helper up: within a second it is down or already back
    // under a new pid.
    eventually("health to stop reporting the killed helpers", PROMPT, || {
        let h = rumid.get("/api/health").body["data"]["helpers"].clone();
        pids.iter()
            .all(|(name, old)| h[name]["state"] != "up" || h[name]["pid"].as_u64() != Some(*old))
            .then_some(())
    })
    .unwrap_or_else(|e| panic!("{case}: {e}"));
    let helpers = eventually("the killed helpers to be restarted", patience(), || {
        let h = rumid.get("/api/health").body["data"]["helpers"].clone();
        pids.iter()
            .all(|(name, old)| h[name]["state"] == "up" && h[name]["pid"].as_u64() != Some(*old))
            .then_some(h)
    })
    .unwrap_or_else(|e| panic!("{case}: {e}"));
    for (name, _) in &pids {
        assert!(
            helpers[name]["restarts"].as_u64() >= Some(1),
            "{case}: {name}: {}",
            helpers[name]
        );
    }
    // The restarted capd serves the secrets API at once.
    let r = prompt(&format!("{case}: secrets set"), || {
        rumid.post("/api/secrets/set", Some(&json!({"key": "AFTER_RESTART", "value": "v"})))
    });
    ok(case, &r);
    // The kills were an audit gap, so health is DEGRADED for a while; it answers at once.
    let public = prompt(&format!("{case}: GET /health"), || {
        rumid.request("GET", "/health", None, None, None)
    });
    ok(case, &public);
}

// === item 3: audit acknowledged but not written ===

/// A digest of every file under `dir` (path, size, bytes), to show that nothing changed.
fn tree_digest(dir: &std::path::Path) -> String {
    use sha2::Digest;
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut h = sha2::Sha256::new();
    for f in files {
        h.update(f.display().to_string().as_bytes());
        h.update(std::fs::read(&f).unwrap_or_default());
    }
    hex::encode(h.finalize())
}

#[test]
fn an_unwritable_audit_log_refuses_operator_actions_and_changes_nothing() {
    let home = TestHome::new();
    home.add_pack("p");
    home.add_pack("q");
    // The audit directory on its own 8 MiB file system (as /var/log often is), so it can be
    // filled for real; the rest of the home has room.
    let fs = Tmpfs::mount(&home.path().join("user_data/audit"), 8 * 1024 * 1024).unwrap();
    let rumid = Rumid::start(&home);
    ok("approve q", &rumid.post("/api/packs/q/approve", None));
    rumid.wait_policy_applied();
    let q_socket = rumid.capability_socket(&home, "q");
    rumi_tests::wait_socket(&q_socket).unwrap();

    let filled = fs.fill("filler").unwrap();
    let settings = home.path().join("user_data/settings");
    let before = tree_digest(&settings);
    // Health says so at once, with the reason, before any action was even tried.
    let probe = eventually("the audit probe to report the full disk", PROMPT, || {
        let h = rumid.get("/api/health").body["data"].clone();
        (h["probes"]["audit"]["status"] == "DOWN").then_some(h)
    })
    .unwrap_or_else(|e| panic!("{e} (filled {filled} bytes)"));
    let message = probe["probes"]["audit"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("full") && message.contains("RUMI-SYS-008"),
        "{message}"
    );
    assert_eq!(probe["status"], "DEGRADED", "{probe}");
    assert_eq!(probe["audit"]["writable"], false, "{}", probe["audit"]);
    let public = prompt("GET /health", || rumid.request("GET", "/health", None, None, None));
    assert_eq!(public.body["status"], "DEGRADED", "{:?}", public.body);

    // Every kind of operator action is refused, at once, with the code; reads still work.
    let actions: [(&str, &str, Option<Value>); 5] = [
        ("POST", "/api/packs/p/approve", None),
        ("POST", "/api/packs/q/reject", Some(json!({"reason": "no"}))),
        (
            "POST",
            "/api/network/grant",
            Some(json!({"pack_id": "q", "allowed_domains": ["example.com"], "allowed_ports": [443]})),
        ),
        ("POST", "/api/secrets/set", Some(json!({"key": "K", "value": "v"}))),
        ("DELETE", "/api/packs/p", None),
    ];
    for (method, path, body) in &actions {
        let bytes = body.as_ref().map(|b| serde_json::to_vec(b).unwrap());
        let r = prompt(&format!("{method} {path}"), || {
            rumid.request(
                method,
                path,
                Some(&rumid.token),
                bytes.as_deref(),
                Some("application/json"),
            )
        });
        assert_eq!(r.status, 503, "{method} {path}: {:?}", r.body);
        assert_eq!(r.code(), "RUMI-SYS-008", "{method} {path}: {:?}", r.body);
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("nothing was changed"), "{message}");
    }
    ok("GET /api/packs", &prompt("GET /api/packs", || rumid.get("/api/packs")));
    assert_eq!(rumid.pack_state("p"), "installed");
    assert_eq!(rumid.pack_state("q"), "approved");
    assert!(!settings.join("approvals/p.json").exists());
    assert_eq!(tree_digest(&settings), before, "no state file changed");
    assert!(home.path().join("ecosystem/p").is_dir(), "not uninstalled");

    // Helper events that cannot be written are counted and reported: refused capability
    // calls from q, which rumi-capd audits.
    let call = json!({"permission_id": "store.get", "args": {"store_id": "nope", "key": "k"}});
    for _ in 0..5 {
        let r = rumi_tests::frame_call(&q_socket, &call).unwrap();
        assert_eq!(r["success"], false, "{r}");
    }
    let capd = eventually("the unwritten helper events to be reported", patience(), || {
        let h = rumid.get("/api/health").body["data"].clone();
        (h["helpers"]["capd"]["audit"]["unwritten"].as_u64() >= Some(1)).then_some(h)
    })
    .unwrap();
    assert!(capd["audit"]["lost"].as_u64() >= Some(1), "{}", capd["audit"]);
    assert_eq!(capd["probes"]["capd"]["status"], "DEGRADED", "{}", capd["probes"]);
    let gap = capd["probes"]["capd"]["message"].as_str().unwrap_or_default();
    assert!(gap.contains("not written by rumid"), "{gap}");

    // Space comes back: the next action goes through at once, with its lines.
    std::fs::remove_file(fs.path().join("filler")).unwrap();
    let r = prompt("approve after freeing space", || {
        rumid.post("/api/packs/p/approve", None)
    });
    ok("approve p", &r);
    assert_eq!(rumid.pack_state("p"), "approved");
    let approved = home.audit_actions("approval", "pack_approved");
    assert_eq!(
        approved.iter().filter(|l| l["owner_pack"] == "p").count(),
        1,
        "{approved:?}"
    );
    let requests = home.audit_actions("system", "operator_request");
    let ahead = requests
        .iter()
        .find(|l| l["request_id"] == r.request_id.as_deref().unwrap_or("-"))
        .unwrap_or_else(|| panic!("the approval's write-ahead line: {requests:?}"));
    assert_eq!(ahead["details"]["route"], "/api/packs/{pack_id}/approve", "{ahead}");
    assert_eq!(
        requests.len(),
        2,
        "only the admitted actions (q's approval, p's) have a write-ahead line: {requests:?}"
    );
    let recovered = home.audit_actions("system", "audit_write_recovered");
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert!(recovered[0]["details"]["lost"].as_u64() >= Some(1), "{recovered:?}");
    let h = eventually("the audit probe to be UP again", PROMPT, || {
        let h = rumid.get("/api/health").body["data"].clone();
        (h["probes"]["audit"]["status"] == "UP").then_some(h)
    })
    .unwrap();
    assert_eq!(h["audit"]["writable"], true, "{}", h["audit"]);
    drop(rumid);
    drop(fs);
}
