//! Hostile packs against the helpers: each test runs one attack on the real binaries from a
//! host process speaking the pack-socket frame protocol (permissive mode), asserts what the
//! helper does about it, and checks that a well-behaved pack and the operator keep working
//! while it runs: their calls must succeed within one second.
//!
//! - audit blinding: one oversized capability call or egress URL must not stop the audit;
//! - audit flooding: refusals are rate limited per pack and summarised, and reading the
//!   newest audit lines costs the same whatever the size of the day's files;
//! - memory exhaustion: half-sent and slowly sent frames hold bounded memory;
//! - handler output: a handler that floods stderr answers at once, and slow blocking work
//!   in rumi-capd does not stall the other packs.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rumi_tests::upstream::Upstream;
use rumi_tests::{Rumid, TestHome, eventually, frame_call, frame_call_within, patience, proc_kib, wait_socket};
use serde_json::{Value, json};

/// How fast a well-behaved pack or the operator must be answered during an attack.
const PROMPT: Duration = Duration::from_secs(1);

/// The capability request of a well-behaved pack: `store.get` on its own store.
fn good_capability_call() -> Value {
    json!({"permission_id": "store.get", "args": {"store_id": "notes", "key": "k"}})
}

/// A home with `evil` (the attacker) and `good` (a well-behaved pack owning store `notes`).
fn two_packs(extra: &[(&str, &str)]) -> (TestHome, Rumid) {
    let home = TestHome::new();
    home.add_pack("evil");
    home.add_pack("good");
    let mut b = Rumid::builder(&home).env("RUMI_EGRESS_ALLOW_CIDRS", "127.0.0.1/32");
    for (k, v) in extra {
        b = b.env(k, v);
    }
    let rumid = b.spawn().unwrap();
    for p in ["evil", "good"] {
        assert_eq!(rumid.post(&format!("/api/packs/{p}/approve"), None).status, 200);
    }
    good_pack_store(&home, &rumid);
    wait_socket(&rumid.capability_socket(&home, "evil")).unwrap();
    (home, rumid)
}

/// The good pack's store `notes`, holding the key its call reads during every attack (a
/// missing key is a failure).
fn good_pack_store(home: &TestHome, rumid: &Rumid) {
    let r = rumid.post(
        "/api/stores/create",
        Some(&json!({"store_id": "notes", "owner_pack": "good"})),
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    rumid.grant_capability("good", "store.get", json!({"allowed_store_ids": ["notes"]}));
    rumid.grant_capability("good", "store.set", json!({"allowed_store_ids": ["notes"]}));
    let good = rumid.capability_socket(home, "good");
    wait_socket(&good).unwrap();
    let set = json!({"permission_id": "store.set", "args": {"store_id": "notes", "key": "k", "value": "v"}});
    let r = rumi_tests::frame_call(&good, &set).unwrap();
    assert_eq!(r["success"], true, "{r}");
}

/// The well-behaved pack's capability call and the operator's `rumi-ctl secrets set`, each
/// answered successfully within [`PROMPT`]. `n` tells the secret's key apart.
fn good_pack_and_operator_are_served(home: &TestHome, rumid: &Rumid, n: usize) {
    let good = rumid.capability_socket(home, "good");
    let started = Instant::now();
    let r = frame_call_within(&good, &good_capability_call(), PROMPT)
        .unwrap_or_else(|e| panic!("the good pack's call failed during the attack: {e}"));
    assert_eq!(r["success"], true, "good pack: {r}");
    assert!(
        started.elapsed() < PROMPT,
        "good pack answered after {:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let out = home.ctl_stdin(&["secrets", "set", &format!("OPERATOR_{n}")], "operator-value\n");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "rumi-ctl secrets set failed during the attack: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < PROMPT, "rumi-ctl secrets set took {took:?}");
}

/// The egress request of a well-behaved pack, answered successfully within [`PROMPT`].
fn good_egress_call(socket: &Path, up: &Upstream) {
    let started = Instant::now();
    let r = frame_call_within(
        socket,
        &json!({"method": "GET", "url": up.url("/ok"), "timeout_seconds": 1}),
        PROMPT,
    )
    .unwrap_or_else(|e| panic!("the good pack's egress call failed during the attack: {e}"));
    assert_eq!(r["success"], true, "good pack: {r}");
    assert!(started.elapsed() < PROMPT, "answered after {:?}", started.elapsed());
}

/// Runs `attack` on `threads` threads until the returned guard is dropped.
struct Attack {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Attack {
    fn start(threads: usize, attack: impl Fn() + Send + Sync + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let attack = Arc::new(attack);
        let threads = (0..threads)
            .map(|_| {
                let (stop, sent, attack) = (stop.clone(), sent.clone(), attack.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        attack();
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        Self { stop, sent, threads }
    }

    /// Stops the threads; returns how many attacks they completed.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join().expect("attack thread");
        }
        self.sent.load(Ordering::Relaxed)
    }
}

impl Drop for Attack {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn audit_helper(rumid: &Rumid, helper: &str) -> Value {
    rumid.get("/api/health").body["data"]["helpers"][helper]["audit"].clone()
}

fn public_health(rumid: &Rumid) -> Value {
    rumid.request("GET", "/health", None, None, None).body
}

/// Every audit line is at most `max` bytes (the helpers bound their records).
fn longest_audit_line(home: &TestHome) -> usize {
    std::fs::read_dir(home.path().join("user_data/audit"))
        .unwrap()
        .flatten()
        .flat_map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .map(str::len)
                .collect::<Vec<_>>()
        })
        .max()
        .unwrap_or(0)
}

// === 1. audit blinding ===

#[test]
fn an_oversized_capability_call_is_audited_cut_and_the_audit_keeps_flowing() {
    let (home, rumid) = two_packs(&[]);
    let evil = rumid.capability_socket(&home, "evil");
    // The largest permission id rumi-capd's 4 MiB frame holds: with the rest of its audit
    // record, more than the 4 MiB gRPC message rumid accepts.
    let huge = "p".repeat(4 * 1024 * 1024 - 64);
    let request = json!({"permission_id": huge, "args": {}});
    let first = frame_call(&evil, &request).unwrap();
    assert_eq!(first["error_type"], "handler_not_found", "{first}");
    let attack = Attack::start(1, move || {
        let _ = frame_call(&evil, &request);
    });
    for n in 0..3 {
        good_pack_and_operator_are_served(&home, &rumid, n);
    }
    let attacks = attack.stop();
    assert!(attacks >= 1, "the attack ran while the others were served");

    // Every line after the attack still arrives: the good pack's call and the operator's
    // secrets set, both helper events, are in the audit.
    eventually("the good pack's and the operator's audit lines", patience(), || {
        let calls = home.audit_actions("permission", "permission_execute");
        let good = calls
            .iter()
            .filter(|l| l["owner_pack"] == "good" && l["success"] == true)
            .count();
        let sets = home.audit_actions("permission", "secret_set").len();
        (good >= 3 && sets >= 3).then_some(())
    })
    .unwrap();
    let evil_lines: Vec<Value> = home
        .audit_actions("permission", "permission_execute")
        .into_iter()
        .filter(|l| l["owner_pack"] == "evil")
        .collect();
    assert!(!evil_lines.is_empty(), "the attack itself is audited");
    for l in &evil_lines {
        let id = l["details"]["permission_id"].as_str().unwrap();
        assert_eq!(id.len(), 1024, "cut to 1 KiB");
        assert!(id.bytes().all(|b| b == b'p'));
        assert_eq!(l["details"]["truncated"], true, "{l}");
    }
    assert!(longest_audit_line(&home) <= 16 * 1024 * 2, "audit lines stay small");
    // Nothing broke, so nothing is reported.
    let audit = audit_helper(&rumid, "capd");
    assert_eq!(
        (audit["state"].clone(), audit["breaks"].clone()),
        (json!("connected"), json!(0))
    );
    assert_eq!(public_health(&rumid)["status"], "UP");
}

#[test]
fn an_egress_url_that_encodes_to_3_mib_is_audited_cut_and_the_audit_keeps_flowing() {
    let up = Upstream::start();
    let (home, rumid) = two_packs(&[]);
    for p in ["evil", "good"] {
        let r = rumid.post(
            "/api/network/grant",
            Some(&json!({"pack_id": p, "allowed_domains": ["127.0.0.1"], "allowed_ports": [up.addr.port()]})),
        );
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    rumid.wait_policy_applied();
    let evil = rumid.egress_socket(&home, "evil");
    let good = rumid.egress_socket(&home, "good");
    wait_socket(&evil).unwrap();
    wait_socket(&good).unwrap();
    // ~1 MiB of spaces in the path: within egressd's 1 MiB frame, and each space becomes
    // `%20`, so the parsed URL (url and final_url) is 3 MiB. (A URL parser trims trailing
    // spaces, hence the final `x`.)
    let url = format!("{}{}x", up.url("/"), " ".repeat(1024 * 1024 - 200));
    let request = json!({"method": "GET", "url": url});
    let first = frame_call(&evil, &request).unwrap();
    assert_eq!(first["success"], false, "{first}");
    let attack = Attack::start(1, move || {
        let _ = frame_call(&evil, &request);
    });
    for _ in 0..3 {
        good_egress_call(&good, &up);
    }
    attack.stop();

    eventually("the good pack's egress audit lines", patience(), || {
        let good = home
            .audit_actions("network", "network_request")
            .into_iter()
            .filter(|l| l["owner_pack"] == "good" && l["success"] == true)
            .count();
        (good >= 3).then_some(())
    })
    .unwrap();
    let evil_lines: Vec<Value> = home
        .audit_actions("network", "network_request")
        .into_iter()
        .filter(|l| l["owner_pack"] == "evil")
        .collect();
    assert!(!evil_lines.is_empty());
    for l in &evil_lines {
        for field in ["url", "final_url"] {
            let u = l["details"][field].as_str().unwrap();
            assert!(
                u.len() <= 1024 && u.starts_with("http://127.0.0.1"),
                "{field}: {} bytes",
                u.len()
            );
        }
        assert_eq!(l["details"]["truncated"], true);
    }
    let audit = audit_helper(&rumid, "egressd");
    assert_eq!(
        (audit["state"].clone(), audit["breaks"].clone()),
        (json!("connected"), json!(0))
    );
}

#[test]
fn a_broken_audit_stream_shows_in_health_and_doctor_and_reconnects() {
    // rumid accepts audit messages of at most 1 KiB here, so a bounded record that is still
    // larger (a 1 KiB permission id plus the rest) breaks the stream, as any transport error
    // would.
    let (home, rumid) = two_packs(&[("RUMI_HELPER_AUDIT_MAX_MESSAGE_BYTES", "1024")]);
    let evil = rumid.capability_socket(&home, "evil");
    let r = frame_call(&evil, &json!({"permission_id": "q".repeat(3000), "args": {}})).unwrap();
    assert_eq!(r["error_type"], "handler_not_found");
    let audit = eventually("the break to be reported", patience(), || {
        let a = audit_helper(&rumid, "capd");
        (a["breaks"].as_u64() >= Some(1)).then_some(a)
    })
    .unwrap();
    assert!(audit["last_error"].as_str().unwrap().contains("too large"), "{audit}");
    assert!(audit["last_break_at"].is_string());
    // Visible without a token, and in the probe's message.
    assert_eq!(public_health(&rumid)["status"], "DEGRADED");
    let probe = &rumid.get("/api/health").body["data"]["probes"]["capd"];
    assert_eq!(probe["status"], "DEGRADED", "{probe}");
    assert!(probe["message"].as_str().unwrap().contains("audit"), "{probe}");
    // Audited by rumid itself.
    let broken = eventually("system/helper_audit_stream_broken", patience(), || {
        let l = home.audit_actions("system", "helper_audit_stream_broken");
        (!l.is_empty()).then_some(l)
    })
    .unwrap();
    assert_eq!(broken[0]["details"]["helper"], "capd");
    // rumi-ctl setup doctor names it.
    let out = home.ctl(&["--json", "setup", "doctor"], &[]);
    let findings: Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = findings
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "helper_audit" && f["message"].as_str().unwrap().starts_with("capd"))
        .cloned()
        .unwrap_or_else(|| panic!("no helper_audit finding for capd: {findings}"));
    assert_ne!(finding["level"], "ok", "{finding}");
    assert!(finding["message"].as_str().unwrap().contains("broke"), "{finding}");
    // The stream is back: the next events arrive, and the good pack and operator were served.
    good_pack_and_operator_are_served(&home, &rumid, 0);
    eventually("audit lines after the reconnect", patience(), || {
        let ok = home
            .audit_actions("permission", "permission_execute")
            .iter()
            .any(|l| l["owner_pack"] == "good" && l["success"] == true);
        (ok && audit_helper(&rumid, "capd")["state"] == "connected").then_some(())
    })
    .unwrap();
}

// === 2. audit flooding ===

#[test]
fn a_refusal_flood_is_rate_limited_and_summarised_per_pack() {
    let (home, rumid) = two_packs(&[("RUMI_AUDIT_REFUSALS_PER_SECOND", "10")]);
    let evil = rumid.capability_socket(&home, "evil");
    let audit_dir = home.path().join("user_data/audit");
    let size = || -> u64 {
        std::fs::read_dir(&audit_dir)
            .unwrap()
            .flatten()
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum()
    };
    let before = size();
    let started = Instant::now();
    let attack = Attack::start(4, move || {
        let r = frame_call(
            &evil,
            &json!({"permission_id": "no.such", "args": {"a": "x".repeat(900)}}),
        );
        assert_eq!(r.unwrap()["error_type"], "handler_not_found");
    });
    for n in 0..3 {
        good_pack_and_operator_are_served(&home, &rumid, n);
        let t = Instant::now();
        let r = rumid.get("/api/audit/recent?limit=5");
        assert!(t.elapsed() < PROMPT, "/api/audit/recent took {:?}", t.elapsed());
        assert_eq!(r.body["data"]["count"], 5, "{:?}", r.body);
        std::thread::sleep(Duration::from_millis(500));
    }
    let sent = attack.stop();
    let secs = started.elapsed().as_secs_f64();
    assert!(sent > 200, "the flood sent {sent} refused calls");

    // Every refusal is accounted for: audited in full, or counted in a summary line.
    let (full, suppressed) = eventually("the summary of suppressed refusals", patience(), || {
        let full = home
            .audit_actions("permission", "permission_execute")
            .into_iter()
            .filter(|l| l["owner_pack"] == "evil")
            .count() as u64;
        let summaries = home.audit_actions("security", "audit_refusals_suppressed");
        let suppressed: u64 = summaries
            .iter()
            .filter(|l| l["owner_pack"] == "evil")
            .map(|l| l["details"]["suppressed"].as_u64().unwrap())
            .sum();
        (full + suppressed == sent).then_some((full, suppressed))
    })
    .unwrap_or_else(|e| panic!("{e}: sent {sent}"));
    assert!(
        full as f64 <= 10.0 * (secs + 1.0) + 10.0,
        "{full} refusals audited in full over {secs:.1}s"
    );
    assert!(suppressed > 0);
    let summary = &home.audit_actions("security", "audit_refusals_suppressed")[0];
    let text = summary["details"]["summary"].as_str().unwrap();
    assert!(text.ends_with("refusals from pack evil suppressed"), "{text}");
    // The good pack's refusals are its own: none of them were suppressed.
    assert!(
        home.audit_actions("security", "audit_refusals_suppressed")
            .iter()
            .all(|l| l["owner_pack"] == "evil")
    );
    let grown = size() - before;
    assert!(
        (grown as f64) < 1024.0 * 1024.0 * secs,
        "the audit grew by {grown} bytes in {secs:.1}s"
    );
    // The API caps what it returns.
    let r = rumid.get("/api/audit/recent?limit=100000");
    assert!(
        r.body["data"]["count"].as_u64().unwrap() <= 500,
        "{:?}",
        r.body["data"]["count"]
    );
}

#[test]
fn recent_audit_reads_only_the_tail_of_a_huge_day() {
    let home = TestHome::new();
    let rumid = Rumid::start(&home);
    // 128 MiB of audit lines, dated after everything rumid writes, so they are the newest.
    let path = home.path().join("user_data/audit/permission_2999-12-31.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let filler = "f".repeat(900);
        let mut written = 0;
        let mut i = 0u64;
        while written < 128 * 1024 * 1024 {
            let line = format!(
                "{{\"ts\":\"2999-12-31T00:{:02}:{:02}.{:06}Z\",\"action\":\"flood\",\"n\":{i},\"details\":{{\"x\":\"{filler}\"}}}}\n",
                i / 60_000_000 % 60,
                i / 1_000_000 % 60,
                i % 1_000_000
            );
            f.write_all(line.as_bytes()).unwrap();
            written += line.len();
            i += 1;
        }
        f.flush().unwrap();
    }
    let peak_before = proc_kib(rumid.pid(), "VmHWM").unwrap();
    let started = Instant::now();
    let r = rumid.get("/api/audit/recent?limit=5");
    let took = started.elapsed();
    assert_eq!(r.status, 200, "{:?}", r.body);
    let events = r.body["data"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(events[0]["action"], "flood");
    let newest = events[0]["n"].as_u64().unwrap();
    assert!(events.windows(2).all(|w| w[0]["ts"].as_str() > w[1]["ts"].as_str()));
    assert_eq!(events[4]["n"].as_u64().unwrap(), newest - 4, "the last five lines");
    assert!(took < PROMPT, "the operator waited {took:?}");
    // Reading the whole file would have cost at least its 128 MiB.
    let peak_after = proc_kib(rumid.pid(), "VmHWM").unwrap();
    assert!(
        peak_after < peak_before + 32 * 1024,
        "peak RSS grew from {peak_before} KiB to {peak_after} KiB"
    );
}

// === 5. memory exhaustion ===

/// Opens `n` connections to `socket`, each sending a frame header of `declared` bytes and
/// then `body` bytes of payload (never the whole frame).
fn half_sent(socket: &Path, n: usize, declared: u32, body: usize) -> Vec<UnixStream> {
    let chunk = vec![b' '; body];
    (0..n)
        .map(|_| {
            let mut s = UnixStream::connect(socket).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(&declared.to_be_bytes()).unwrap();
            // A refused frame is answered and closed; the rest of the write may then fail.
            let _ = s.write_all(&chunk);
            s
        })
        .collect()
}

fn capd_pid(rumid: &Rumid) -> u32 {
    rumid.wait_helpers_up().unwrap()["capd"]["pid"].as_u64().unwrap() as u32
}

#[test]
fn half_sent_frames_hold_no_memory_in_capd() {
    let (home, rumid) = two_packs(&[]);
    let evil = rumid.capability_socket(&home, "evil");
    let pid = capd_pid(&rumid);
    let rss_before = proc_kib(pid, "VmRSS").unwrap();
    // 100 connections, each declaring 4 MiB and sending nothing more.
    let conns = half_sent(&evil, 100, 4 * 1024 * 1024, 0);
    good_pack_and_operator_are_served(&home, &rumid, 0);
    let rss = proc_kib(pid, "VmRSS").unwrap();
    assert!(
        rss < 64 * 1024,
        "capd RSS {rss} KiB with 100 half-sent frames (before: {rss_before} KiB)"
    );
    // A health check made after the connections reports no byte buffered.
    std::thread::sleep(Duration::from_millis(1500));
    let health = rumid.get("/api/health").body["data"]["helpers"]["capd"].clone();
    assert_eq!(
        health["frame_bytes_buffered"], 0,
        "no byte of payload arrived: {health}"
    );
    drop(conns);
}

#[test]
fn slowly_sent_frames_stop_at_the_pack_and_helper_budgets() {
    let (home, rumid) = two_packs(&[
        ("RUMI_FRAME_BUFFER_PER_PACK_BYTES", "8388608"),
        ("RUMI_FRAME_BUFFER_TOTAL_BYTES", "16777216"),
    ]);
    let evil = rumid.capability_socket(&home, "evil");
    let pid = capd_pid(&rumid);
    // 100 connections, each sending all but the last 1 KiB of a 4 MiB frame: 400 MiB if
    // buffered; the pack's budget (8 MiB) refuses the rest with `busy`.
    let declared = 4 * 1024 * 1024;
    let mut conns = half_sent(&evil, 100, declared, declared as usize - 1024);
    good_pack_and_operator_are_served(&home, &rumid, 0);
    let rss = proc_kib(pid, "VmRSS").unwrap();
    assert!(rss < 64 * 1024, "capd RSS {rss} KiB");
    std::thread::sleep(Duration::from_millis(1500));
    let buffered = rumid.get("/api/health").body["data"]["helpers"]["capd"]["frame_bytes_buffered"].as_u64();
    assert!(
        buffered.is_some_and(|b| b > 0 && b <= 8 * 1024 * 1024),
        "{buffered:?} bytes buffered for one pack"
    );
    // Refused connections were told why.
    let mut busy = 0;
    for s in &mut conns {
        s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut len = [0u8; 4];
        if s.read_exact(&mut len).is_ok() {
            let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
            s.read_exact(&mut buf).unwrap();
            let r: Value = serde_json::from_slice(&buf).unwrap();
            assert_eq!(r["error_type"], "busy", "{r}");
            busy += 1;
        }
    }
    assert!(busy >= 90, "{busy} of 100 refused as busy");
    eventually("frame_buffer_full audited", patience(), || {
        let l = home.audit_actions("security", "frame_buffer_full");
        l.iter().any(|l| l["owner_pack"] == "evil").then_some(())
    })
    .unwrap();
    // The well-behaved pack's frames still fit: the attacker has only its own budget.
    let good = rumid.capability_socket(&home, "good");
    let big = json!({"permission_id": "store.get", "args": {"store_id": "notes", "key": "k", "pad": "x".repeat(3 * 1024 * 1024)}});
    let r = frame_call_within(&good, &big, Duration::from_secs(5)).unwrap();
    assert_eq!(r["success"], true, "{r}");
    drop(conns);
    eventually("buffers given back", patience(), || {
        let b = rumid.get("/api/health").body["data"]["helpers"]["capd"]["frame_bytes_buffered"].as_u64();
        (b == Some(0)).then_some(())
    })
    .unwrap();
}

#[test]
fn slowly_sent_frames_stop_at_the_pack_budget_in_egressd() {
    let (home, rumid) = two_packs(&[]);
    let evil = rumid.egress_socket(&home, "evil");
    wait_socket(&evil).unwrap();
    let pid = rumid.wait_helpers_up().unwrap()["egressd"]["pid"].as_u64().unwrap() as u32;
    let conns = half_sent(&evil, 100, 1024 * 1024, 1024 * 1024 - 10);
    good_pack_and_operator_are_served(&home, &rumid, 0);
    let rss = proc_kib(pid, "VmRSS").unwrap();
    assert!(rss < 64 * 1024, "egressd RSS {rss} KiB");
    std::thread::sleep(Duration::from_millis(1500));
    let buffered = rumid.get("/api/health").body["data"]["helpers"]["egressd"]["frame_bytes_buffered"].as_u64();
    assert!(
        buffered.is_some_and(|b| b > 0 && b <= 8 * 1024 * 1024),
        "{buffered:?} bytes buffered for one pack"
    );
    drop(conns);
}

// === 6. handler output and blocking work ===

const NOISY_HANDLER: &str = r#"
import sys

def execute(context, args):
    sys.stderr.write("e" * args.get("stderr_bytes", 0))
    sys.stderr.flush()
    if args.get("fail"):
        sys.stderr.write("\nthe last line\n")
        raise SystemExit(3)
    return {"ok": True}
"#;

/// Installs and trusts handler `tools.<slug>` (permission `<permission>`) with `code`, and
/// grants it to `evil`.
fn trusted_handler(home: &TestHome, rumid: &Rumid, slug: &str, permission: &str, code: &str) {
    let dir = home.path().join("ecosystem/tools/share/capability_handlers").join(slug);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("handler.json"),
        json!({"handler_id": format!("tools.{slug}"), "permission_id": permission}).to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("handler.py"), code).unwrap();
    let r = rumid.post("/api/capability/candidates/scan", None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let key = r.body["data"]["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["candidate_key"].as_str().unwrap().contains(slug))
        .map(|c| c["candidate_key"].as_str().unwrap().replace(':', "%3A"))
        .unwrap_or_else(|| panic!("no candidate for {slug}: {:?}", r.body));
    let r = rumid.post(&format!("/api/capability/requests/{key}/approve"), Some(&json!({})));
    assert_eq!(r.status, 200, "{:?}", r.body);
    rumid.grant_capability("evil", permission, json!({}));
}

fn handler_home() -> (TestHome, Rumid) {
    let home = TestHome::new();
    home.add_pack("evil");
    home.add_pack("good");
    home.add_pack("tools");
    let rumid = Rumid::start(&home);
    for p in ["evil", "good"] {
        assert_eq!(rumid.post(&format!("/api/packs/{p}/approve"), None).status, 200);
    }
    good_pack_store(&home, &rumid);
    (home, rumid)
}

#[test]
fn a_handler_that_floods_stderr_answers_at_once() {
    let (home, rumid) = handler_home();
    trusted_handler(&home, &rumid, "noisy", "noisy.run", NOISY_HANDLER);
    let evil = rumid.capability_socket(&home, "evil");
    wait_socket(&evil).unwrap();
    // 70 KB is more than a pipe holds; the old runner read stderr only after stdout ended,
    // so this call hung until the 30 s timeout.
    let call = |args: Value| {
        frame_call_within(
            &evil,
            &json!({"permission_id": "noisy.run", "args": args}),
            Duration::from_secs(20),
        )
        .unwrap()
    };
    let r = call(json!({"stderr_bytes": 70_000}));
    assert_eq!(r["success"], true, "{r}");
    assert_eq!(r["output"], json!({"ok": true}));
    // 10 MB of stderr is drained, only its tail kept: the error names the last line.
    let r = call(json!({"stderr_bytes": 10_000_000, "fail": true}));
    assert_eq!(r["error_type"], "handler_error", "{r}");
    assert_eq!(r["error"], "handler failed: the last line");
    // Meanwhile, and during a flood of such calls, the others are served.
    let attack = Attack::start(2, {
        let evil = evil.clone();
        move || {
            let _ = frame_call(
                &evil,
                &json!({"permission_id": "noisy.run", "args": {"stderr_bytes": 2_000_000}}),
            );
        }
    });
    for n in 0..3 {
        good_pack_and_operator_are_served(&home, &rumid, n);
    }
    attack.stop();
}

#[test]
fn slow_blocking_work_in_capd_does_not_stall_other_packs() {
    let (home, rumid) = handler_home();
    // A trusted handler of 64 MiB: rumi-capd re-hashes it before every call, which takes a
    // while; the old code hashed on one of capd's two async workers.
    let code = format!(
        "# {}\ndef execute(context, args):\n    return 1\n",
        "#".repeat(64 * 1024 * 1024)
    );
    trusted_handler(&home, &rumid, "heavy", "heavy.run", &code);
    let evil: PathBuf = rumid.capability_socket(&home, "evil");
    wait_socket(&evil).unwrap();
    let r = frame_call(&evil, &json!({"permission_id": "heavy.run", "args": {}})).unwrap();
    assert_eq!(r["success"], true, "{r}");
    let attack = Attack::start(4, move || {
        let _ = frame_call(&evil, &json!({"permission_id": "heavy.run", "args": {}}));
    });
    for n in 0..3 {
        good_pack_and_operator_are_served(&home, &rumid, n);
    }
    let sent = attack.stop();
    assert!(sent >= 1);
    // capd stayed up the whole time (health checks were answered).
    assert_eq!(rumid.wait_helpers_up().unwrap()["capd"]["restarts"], 0);
}
