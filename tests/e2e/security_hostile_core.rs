//! Hostile conditions against rumid itself: each test runs one attack on the real binaries,
//! asserts what rumid does about it, and checks that the operator keeps working while and after
//! it runs: the calls that must work are answered within one second.
//!
//! - audit: with the audit file system full, operator actions are refused with
//!   `RUMI-SYS-008` and change nothing, health says why, helper events that cannot be written
//!   are counted and shown, and freeing space lets the next action through at once;
//! - slow connections: 1,100 connections that never finish their request head, against the
//!   1024 descriptors systemd gives a unit by default, are capped and timed out, and when they
//!   do use up the descriptors, a pack file that cannot be opened is an error, never `modified`;
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
        let message = r.body["error"].as_str().unwrap_or_default();
        assert!(message.contains("nothing was changed"), "{message}");
    }
    ok("GET /api/packs", &prompt("GET /api/packs", || rumid.get("/api/packs")));
    assert_eq!(rumid.pack_state("p"), "pending");
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

// === item 10: connections that never finish their headers ===

/// How many slow connections the attack opens: more than the 1024 descriptors rumid gets.
const SLOW_CONNECTIONS: usize = 1100;
/// rumid's descriptor limit during the attack: systemd's default for a unit without
/// `LimitNOFILE`.
const NOFILE: u64 = 1024;
/// `RUMI_API_HEADER_READ_TIMEOUT`'s default.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A pack `hello` whose flow `hello.greet` runs a Python block.
fn hello_pack(home: &TestHome) {
    home.add_pack("hello");
    home.write(
        "ecosystem/hello/backend/blocks/greet.py",
        "def run(input_data, context):\n    return {'message': 'Hello, %s!' % input_data.get('name')}\n",
    );
    home.write(
        "ecosystem/hello/backend/flows/hello.flow.yaml",
        r#"
flow_id: hello.greet
phases: [main]
steps:
  - id: greet
    phase: main
    type: python_file_call
    owner_pack: hello
    file: greet.py
    input: {name: "${ctx.name}"}
    output: greeting
outputs:
  greeting: "$ctx.greeting"
"#,
    );
}

/// `n` connections that each send the first line of a request head, then nothing.
fn slow_connections(rumid: &Rumid, n: usize) -> Vec<std::net::TcpStream> {
    use std::io::Write;
    let addr = rumid.base.trim_start_matches("http://").to_owned();
    (0..n)
        .map(|i| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connection {i}: {e}"));
            s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            s
        })
        .collect()
}

/// Waits until rumid has closed every connection in `conns`; returns when the last one was.
fn wait_all_closed(conns: Vec<std::net::TcpStream>, deadline: Instant) -> Instant {
    use std::io::Read;
    let mut last = Instant::now();
    for (i, mut c) in conns.into_iter().enumerate() {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        c.set_read_timeout(Some(left)).unwrap();
        let mut buf = [0u8; 512];
        match c.read(&mut buf) {
            // Closed (an evicted connection may see a reset); nothing was ever answered.
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Ok(n) => panic!("connection {i} got an answer: {:?}", String::from_utf8_lossy(&buf[..n])),
            Err(e) => panic!("connection {i} still open at the deadline: {e}"),
        }
        last = Instant::now();
    }
    last
}

/// `GET /health` on a new connection (as a monitoring probe does): the status line.
fn fresh_health(rumid: &Rumid) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(rumid.base.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: rumi\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_owned()
}

/// The operator's calls during the attack: each answered, within a second.
fn operator_is_served(rumid: &Rumid, n: usize) {
    let status = prompt("GET /health on a new connection", || fresh_health(rumid));
    assert_eq!(status, "HTTP/1.1 200 OK");
    let r = prompt("GET /api/health", || rumid.get("/api/health"));
    ok("GET /api/health", &r);
    let r = prompt("pack status", || rumid.get("/api/packs/hello/status"));
    ok("status", &r);
    assert_eq!(r.body["data"]["status"], "approved", "{:?}", r.body);
    let grant = json!({"pack_id": "hello", "allowed_domains": [format!("n{n}.example.com")], "allowed_ports": [443]});
    let r = prompt("network grant", || rumid.post("/api/network/grant", Some(&grant)));
    ok("grant", &r);
    let r = prompt("flow run", || {
        rumid.run_flow("hello.greet", json!({"name": "op"}), 30.0)
    });
    ok("flow", &r);
    assert_eq!(r.body["result"]["greeting"]["message"], "Hello, op!", "{:?}", r.body);
}

#[test]
fn connections_that_never_finish_their_headers_are_capped_and_timed_out() {
    let home = TestHome::new();
    hello_pack(&home);
    let rumid = Rumid::start(&home);
    ok("approve", &rumid.post("/api/packs/hello/approve", None));
    rumid.wait_policy_applied();
    eventually("the pack's flow", patience(), || {
        (rumid.get("/api/flows").body["data"]["count"] == 1).then_some(())
    })
    .unwrap();
    rumid.limit_descriptors(NOFILE);

    let conns = slow_connections(&rumid, SLOW_CONNECTIONS);
    // Each connection's timeout runs from its own opening: the bound is from the last one's
    // (opening them all takes a while on a loaded machine).
    let started = Instant::now();
    operator_is_served(&rumid, 1);
    let api = rumid.get("/api/health").body["data"]["api"].clone();
    assert!(
        api["unauthenticated_connections"].as_u64() <= Some(256),
        "at most the cap are held: {api}"
    );
    assert!(
        api["connections_evicted"].as_u64() >= Some((SLOW_CONNECTIONS - 256) as u64),
        "the oldest made room: {api}"
    );
    // Each one is closed within the header timeout, never answered.
    let last = wait_all_closed(conns, started + HEADER_TIMEOUT + Duration::from_secs(5));
    let took = last.duration_since(started);
    assert!(
        took < HEADER_TIMEOUT + Duration::from_secs(5),
        "the last closed after {took:?}"
    );
    let api = rumid.get("/api/health").body["data"]["api"].clone();
    assert!(api["header_timeouts"].as_u64() >= Some(1), "{api}");
    operator_is_served(&rumid, 2);
    drop(rumid);

    // With the cap raised past the descriptor limit (and connections held for good), the same
    // attack does use up rumid's descriptors. Reading the pack's files then fails with EMFILE:
    // an error, never a verdict about the pack.
    let rumid = Rumid::builder(&home)
        .env("RUMI_API_MAX_UNAUTHENTICATED_CONNECTIONS", "100000")
        .env("RUMI_API_HEADER_READ_TIMEOUT", "300")
        .spawn()
        .unwrap();
    assert_eq!(rumid.pack_state("hello"), "approved");
    rumid.limit_descriptors(NOFILE);
    let open_fds = || std::fs::read_dir(format!("/proc/{}/fd", rumid.pid())).map_or(0, |d| d.count());
    let mut conns = slow_connections(&rumid, SLOW_CONNECTIONS);
    // Connections past the listen backlog trickle in as their clients retransmit; one more
    // is added whenever rumid still has a descriptor free, until it has none.
    eventually("rumid to run out of descriptors", patience(), || {
        if open_fds() >= NOFILE as usize {
            return Some(());
        }
        conns.extend(slow_connections(&rumid, 1));
        std::thread::sleep(Duration::from_millis(200));
        None
    })
    .unwrap_or_else(|e| panic!("{e}: {} open", open_fds()));
    // Through the connection the harness already holds (authenticated, so never evicted).
    // Every answer says approved; once a read of the manifest has met EMFILE (a descriptor
    // freed meanwhile is taken again by one more connection), the log says that is what
    // happened, never that the pack changed.
    eventually("a manifest read to fail for lack of descriptors", patience(), || {
        let r = rumid.get("/api/packs/hello/status");
        ok("status while out of descriptors", &r);
        assert_eq!(r.body["data"]["status"], "approved", "{:?}", r.body);
        let log = rumid.log_text();
        if log.contains("cannot read the pack's manifest now") && log.contains("Too many open files") {
            return Some(());
        }
        conns.extend(slow_connections(&rumid, 1));
        std::thread::sleep(Duration::from_millis(200));
        None
    })
    .unwrap_or_else(|e| panic!("{e}: reading the manifest failed for lack of descriptors, and was reported as that"));
    // The attacker gives up: everything works again, and nothing was decided meanwhile.
    drop(conns);
    eventually("rumid to have descriptors again", patience(), || {
        (open_fds() < NOFILE as usize / 2).then_some(())
    })
    .unwrap();
    operator_is_served(&rumid, 3);
    assert!(home.audit_actions("security", "pack_modified").is_empty());
    assert!(home.audit_actions("security", "hmac_verification_failed").is_empty());
}
