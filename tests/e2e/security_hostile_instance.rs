//! Hostile packs and a second instance against the helpers' boundaries: each test runs the
//! attack on the real binaries, asserts what the helpers and rumid do about it, and checks
//! that a well-behaved pack and the operator keep working while it runs (their calls must
//! succeed within one second).
//!
//! - descriptor exhaustion: one pack opens as many connections as the test may to its own
//!   egress and capability sockets;
//! - two instances, one set of helper sockets: a second rumid on the first one's paths, in
//!   spawn and in external mode;
//! - policy ordering: rumid restarted with its version counter behind what the external
//!   helpers hold, and a stale rumid of the same instance pushing after a newer one.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rumi_tests::upstream::Upstream;
use rumi_tests::{Rumid, TestHome, eventually, frame_call, frame_call_within, patience, wait_socket};
use serde_json::{Value, json};

/// How fast a well-behaved pack or the operator must be answered during an attack.
const PROMPT: Duration = Duration::from_secs(1);

/// The capability request of a well-behaved pack: `store.get` on its own store.
fn good_capability_call() -> Value {
    json!({"permission_id": "store.get", "args": {"store_id": "notes", "key": "k"}})
}

/// Approves `evil` and `good`, gives `good` the store `notes` holding `k`, and grants both
/// egress to the local upstream.
fn set_up_packs(home: &TestHome, rumid: &Rumid, up: &Upstream) {
    for p in ["evil", "good"] {
        assert_eq!(rumid.post(&format!("/api/packs/{p}/approve"), None).status, 200);
        let r = rumid.post(
            "/api/network/grant",
            Some(&json!({"pack_id": p, "allowed_domains": ["127.0.0.1"], "allowed_ports": [up.addr.port()]})),
        );
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
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
    let r = frame_call(&good, &set).unwrap();
    assert_eq!(r["success"], true, "{r}");
    for p in ["evil", "good"] {
        wait_socket(&rumid.egress_socket(home, p)).unwrap();
        wait_socket(&rumid.capability_socket(home, p)).unwrap();
    }
}

/// The well-behaved pack's `store.get` and egress call, and the operator's
/// `rumi-ctl secrets set`, each answered successfully within [`PROMPT`].
fn good_pack_and_operator_are_served(home: &TestHome, rumid: &Rumid, up: &Upstream, n: usize) {
    let started = Instant::now();
    let r = frame_call_within(&rumid.capability_socket(home, "good"), &good_capability_call(), PROMPT)
        .unwrap_or_else(|e| panic!("the good pack's store.get failed during the attack: {e}"));
    assert_eq!(r["success"], true, "good pack: {r}");
    assert!(
        started.elapsed() < PROMPT,
        "store.get answered after {:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let r = frame_call_within(
        &rumid.egress_socket(home, "good"),
        &json!({"method": "GET", "url": up.url("/ok"), "timeout_seconds": 1}),
        PROMPT,
    )
    .unwrap_or_else(|e| panic!("the good pack's egress call failed during the attack: {e}"));
    assert_eq!(r["success"], true, "good pack: {r}");
    assert!(
        started.elapsed() < PROMPT,
        "egress answered after {:?}",
        started.elapsed()
    );

    operator_sets_a_secret(home, &format!("OPERATOR_{n}"), "operator-value");
}

/// `rumi-ctl secrets set KEY` with `value`, successful within [`PROMPT`].
fn operator_sets_a_secret(home: &TestHome, key: &str, value: &str) {
    let started = Instant::now();
    let out = home.ctl_stdin(&["secrets", "set", key], &format!("{value}\n"));
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "rumi-ctl secrets set failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < PROMPT, "rumi-ctl secrets set took {took:?}");
}

fn helper_status(rumid: &Rumid, helper: &str) -> Value {
    rumid.get("/api/health").body["data"]["helpers"][helper].clone()
}

// === 4. descriptor exhaustion ===

/// The most connections this process may hold, with room for its own files.
fn attack_connections() -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft < hard {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    usize::try_from(soft.saturating_sub(1000))
        .unwrap_or(usize::MAX)
        .min(20_000)
}

/// One thread per socket, each opening connections to it and holding them until it has
/// `per_socket`, then dropping them all and starting over, until stopped.
struct Flood {
    stop: Arc<AtomicBool>,
    /// Per socket: connections opened, and full rounds.
    counts: Vec<Arc<(AtomicU64, AtomicU64)>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Flood {
    fn start(sockets: Vec<PathBuf>, per_socket: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let counts: Vec<Arc<(AtomicU64, AtomicU64)>> = sockets.iter().map(|_| Arc::default()).collect();
        let threads = sockets
            .into_iter()
            .zip(counts.clone())
            .map(|(socket, counts)| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut held = Vec::with_capacity(per_socket);
                    while !stop.load(Ordering::Relaxed) {
                        match UnixStream::connect(&socket) {
                            Ok(s) => {
                                held.push(s);
                                counts.0.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => std::thread::sleep(Duration::from_millis(1)),
                        }
                        if held.len() >= per_socket {
                            held.clear();
                            counts.1.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        Self { stop, counts, threads }
    }

    fn opened(&self) -> u64 {
        self.counts.iter().map(|c| c.0.load(Ordering::Relaxed)).sum()
    }

    /// Full rounds of the socket that has had the fewest.
    fn rounds(&self) -> u64 {
        self.counts
            .iter()
            .map(|c| c.1.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0)
    }

    fn stop(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join().expect("flood thread");
        }
        (self.opened(), self.rounds())
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Log lines at WARN or above.
fn loud_lines(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .count()
}

#[test]
fn a_pack_flooding_its_sockets_with_connections_holds_only_its_share() {
    let per_socket = attack_connections() / 2;
    assert!(per_socket >= 4000, "the test needs a larger open-file limit");
    let up = Upstream::start();
    let home = TestHome::new();
    home.add_pack("evil");
    home.add_pack("good");
    // The helpers get 4096 descriptors: fewer than the connections the attack opens to
    // each of them.
    let rumid = Rumid::builder(&home)
        .open_files(4096)
        .env("RUMI_EGRESS_ALLOW_CIDRS", "127.0.0.1/32")
        .env("RUMI_HELPER_IDLE_TIMEOUT_SECS", "3")
        .spawn()
        .unwrap();
    set_up_packs(&home, &rumid, &up);
    let loud_before = loud_lines(&rumid.log_text());

    let flood = Flood::start(
        vec![
            rumid.egress_socket(&home, "evil"),
            rumid.capability_socket(&home, "evil"),
        ],
        per_socket,
    );
    eventually("the flood to get going", patience(), || {
        (flood.opened() >= 2000).then_some(())
    })
    .unwrap();
    let mut most_open = 0;
    for n in 0..5 {
        good_pack_and_operator_are_served(&home, &rumid, &up, n);
        for helper in ["egressd", "capd"] {
            most_open = most_open.max(helper_status(&rumid, helper)["connections"].as_u64().unwrap());
        }
    }
    // Until every socket has had two full rounds, so that each helper met more than twice
    // as many connections as it has descriptors, and rumid's view of the helpers (their
    // health, polled every second) has seen the refusals: on a fast machine the rounds take
    // less than a poll.
    let mut n = 5;
    eventually(
        "two full rounds on each socket, seen in the helpers' health",
        patience() * 4,
        || {
            good_pack_and_operator_are_served(&home, &rumid, &up, n);
            n += 1;
            let mut seen = true;
            for helper in ["egressd", "capd"] {
                let s = helper_status(&rumid, helper);
                most_open = most_open.max(s["connections"].as_u64().unwrap());
                seen &= s["connections_refused"].as_u64().unwrap() >= 2 * 1000;
            }
            (flood.rounds() >= 2 && seen).then_some(())
        },
    )
    .unwrap();
    let (opened, rounds) = flood.stop();
    assert!(
        rounds >= 2,
        "each socket got {per_socket} connections twice ({opened} opened)"
    );

    // Each helper held at most the pack's share (64) for evil, plus the good pack's call.
    assert!(most_open <= 64 + 2, "a helper held {most_open} pack connections");
    for helper in ["egressd", "capd"] {
        let s = helper_status(&rumid, helper);
        let refused = s["connections_refused"].as_u64().unwrap();
        // Connections the client had already dropped while they waited in the backlog are
        // accepted and end at once; the others past 64 are refused.
        assert!(refused >= 2 * 1000, "{helper} refused only {refused}: {s}");
        assert_eq!(s["state"], "up", "{s}");
    }
    // Refusals are audited per pack at a bounded rate, with summaries; none for good.
    eventually("the refusals and their summaries in the audit", patience(), || {
        let refused = home.audit_actions("security", "capability_proxy_connection_refused");
        let summaries = home
            .audit_actions("security", "audit_refusals_suppressed")
            .into_iter()
            .filter(|l| l["owner_pack"] == "evil")
            .count();
        (!refused.is_empty() && summaries > 0).then_some(())
    })
    .unwrap();
    for action in ["egress_proxy_connection_refused", "capability_proxy_connection_refused"] {
        let lines = home.audit_actions("security", action);
        assert!(!lines.is_empty(), "{action} audited");
        assert!(lines.iter().all(|l| l["owner_pack"] == "evil"), "{action}: {lines:?}");
        assert!((lines.len() as u64) < opened / 10, "{action}: {} lines", lines.len());
    }
    // No accept ever failed, and nothing was logged above DEBUG for the connections.
    let log = rumid.log_text();
    assert!(!log.contains("accept failing") && !log.contains("accept failed"));
    let loud = loud_lines(&log) - loud_before;
    assert!(loud < 10, "{loud} WARN/ERROR lines for {opened} connections");

    // A connection that sends nothing is closed after the idle timeout (3 s here).
    let mut silent = UnixStream::connect(rumid.capability_socket(&home, "evil")).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    std::io::Read::read_to_end(&mut silent, &mut answer).expect("closed by the helper, not timed out here");
    let waited = started.elapsed();
    // At most a protocol_error frame, then the end.
    assert!(answer.len() < 200, "{answer:?}");
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(15),
        "{waited:?}"
    );
    eventually("every connection to be closed", patience(), || {
        ["egressd", "capd"]
            .iter()
            .all(|h| helper_status(&rumid, h)["connections"] == 0)
            .then_some(())
    })
    .unwrap();
    good_pack_and_operator_are_served(&home, &rumid, &up, n);
}

// === 7. two instances, one set of helper sockets ===

/// Every file under `dir` with its contents (to show that nothing changed).
fn tree(dir: &std::path::Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

/// The first instance, its packs set up, with a secret `SHARED` of its own.
fn first_instance(home: &TestHome, run: &std::path::Path, up: &Upstream, external: bool) -> Rumid {
    home.add_pack("evil");
    home.add_pack("good");
    let mut b = Rumid::builder(home)
        .helper_paths(run)
        .env("RUMI_EGRESS_ALLOW_CIDRS", "127.0.0.1/32");
    if external {
        b = b
            .arg("--helpers")
            .arg("external")
            .env("RUMI_CONTROL_KEY_FILE", run.join("control.key").to_str().unwrap());
    }
    let rumid = b.spawn().unwrap();
    set_up_packs(home, &rumid, up);
    operator_sets_a_secret(home, "SHARED", "first-instance-value");
    rumid
}

/// What must still hold for the first instance after the second tried to start.
fn first_instance_unharmed(home: &TestHome, rumid: &Rumid, up: &Upstream, secrets_before: &[(PathBuf, Vec<u8>)]) {
    for p in ["evil", "good"] {
        assert!(rumid.egress_socket(home, p).exists(), "{p}'s egress socket was removed");
        assert!(
            rumid.capability_socket(home, p).exists(),
            "{p}'s capability socket was removed"
        );
    }
    assert_eq!(
        tree(&home.path().join("user_data/secrets")),
        secrets_before,
        "the first instance's secrets changed"
    );
    for helper in ["egressd", "capd"] {
        assert_eq!(helper_status(rumid, helper)["state"], "up");
    }
    assert_eq!(rumid.get("/health").body["status"], "UP");
    good_pack_and_operator_are_served(home, rumid, up, 100);
}

#[test]
fn a_second_instance_on_the_same_helper_paths_refuses_to_start_naming_the_holder() {
    let up = Upstream::start();
    let home = TestHome::new();
    let run = home.path().join("s");
    let first = first_instance(&home, &run, &up, false);
    let secrets_before = tree(&home.path().join("user_data/secrets"));
    let egressd_pid = helper_status(&first, "egressd")["pid"].as_u64().unwrap();

    let other = TestHome::new();
    other.add_pack("good");
    let err = Rumid::builder(&other)
        .helper_paths(&run)
        .spawn_unchecked()
        .err()
        .expect("a second instance on the same paths must not start");
    let err = format!("{err:#}");
    assert!(err.contains("RUMI-INST-001"), "{err}");
    assert!(
        err.contains(&format!("pid {egressd_pid} (rumi-egressd)")),
        "names the holder: {err}"
    );
    assert!(err.contains("egressd.sock"), "{err}");
    // It stopped before its helpers touched anything: no socket of the first instance was
    // removed or taken over, its secret is its own, and it is served as before.
    first_instance_unharmed(&home, &first, &up, &secrets_before);
    let out = other.ctl(&["secrets", "list"], &[]);
    assert!(!out.status.success(), "nothing answers for the second instance");
    assert!(
        !other.path().join("user_data/secrets/SHARED.json").exists()
            && !other
                .path()
                .join("user_data/secrets")
                .read_dir()
                .is_ok_and(|mut d| d.next().is_some()),
        "the second instance got no secrets"
    );
}

#[test]
fn a_second_rumid_cannot_drive_the_first_instances_external_helpers() {
    let up = Upstream::start();
    let home = TestHome::new();
    let run = home.path().join("s");
    let key = run.join("control.key");
    let me = nix::unistd::getuid().as_raw();
    let _egressd = rumi_tests::ExternalHelper::start(&home, &run, "rumi-egressd", me, &key);
    let _capd = rumi_tests::ExternalHelper::start(&home, &run, "rumi-capd", me, &key);
    let first = first_instance(&home, &run, &up, true);
    let secrets_before = tree(&home.path().join("user_data/secrets"));
    let capd_pid = _capd.pid();

    // The same uid, the same socket paths, `--helpers external`, but its own home (so its
    // own control key): the helpers answer and cannot prove its key.
    let other = TestHome::new();
    let err = Rumid::builder(&other)
        .helper_paths(&run)
        .arg("--helpers")
        .arg("external")
        .spawn_unchecked()
        .err()
        .expect("a rumid of another instance must not start on these helpers");
    let err = format!("{err:#}");
    assert!(err.contains("RUMI-INST-001"), "{err}");
    assert!(err.contains("RUMI-INST-002") || err.contains("held by"), "{err}");
    assert!(err.contains("pid "), "names the holder: {err}");
    // Even one that skips the start check gets nothing: every call but Hello needs the
    // token only this instance's key makes (unit-tested in rumi-common), and the supervisor
    // never sends one to a helper that fails the proof.
    first_instance_unharmed(&home, &first, &up, &secrets_before);
    assert_eq!(_capd.pid(), capd_pid);
    let refused = home.audit_actions("security", "control_auth_refused");
    assert!(refused.is_empty(), "the second rumid never sent a call: {refused:?}");
}

// === 8. policy ordering ===

fn write_epoch(home: &TestHome, epoch: u64) {
    home.write(
        "user_data/settings/policy_epoch.json",
        &format!("{{\"epoch\":{epoch}}}\n"),
    );
}

/// An egress call of `pack` to the upstream: `Ok(true)` served, `Ok(false)` refused by
/// policy, `Err` no socket or no answer.
fn egress_served(home: &TestHome, rumid: &Rumid, up: &Upstream, pack: &str) -> std::io::Result<bool> {
    let r = frame_call_within(
        &rumid.egress_socket(home, pack),
        &json!({"method": "GET", "url": up.url("/ok"), "timeout_seconds": 1}),
        PROMPT,
    )?;
    Ok(r["success"] == true)
}

#[test]
fn a_rumid_restarted_behind_the_helpers_policy_fails_closed_and_reports_it() {
    let up = Upstream::start();
    let home = TestHome::new();
    home.add_pack("evil");
    home.add_pack("good");
    let run = home.path().join("run");
    let key = run.join("control.key");
    let me = nix::unistd::getuid().as_raw();
    let mut egressd = rumi_tests::ExternalHelper::start(&home, &run, "rumi-egressd", me, &key);
    let mut capd = rumi_tests::ExternalHelper::start(&home, &run, "rumi-capd", me, &key);
    let key_env = key.to_str().unwrap().to_owned();
    let external = |home| {
        Rumid::builder(home)
            .arg("--helpers")
            .arg("external")
            .env("RUMI_CONTROL_KEY_FILE", &key_env)
    };
    // The first run counts far ahead (as a rumid whose clock ran ahead did), the helpers
    // take its policy: both packs approved, both granted.
    write_epoch(&home, 5000);
    let first = external(&home).spawn().unwrap();
    set_up_packs(&home, &first, &up);
    assert!(egress_served(&home, &first, &up, "evil").unwrap());
    first.kill();

    // The restart's counter is behind what the helpers hold (a restored backup, or the
    // wall clock stepped back under the old scheme).
    write_epoch(&home, 10);
    let second = external(&home).spawn_unchecked().unwrap();
    eventually("both helpers to refuse the older policy", patience(), || {
        ["egressd", "capd"]
            .iter()
            .all(|h| helper_status(&second, h)["state"] == "policy_refused")
            .then_some(())
    })
    .unwrap();
    // The operator rejects evil. The helpers refuse the push, and still close evil: what
    // the two snapshots disagree on is closed, never left open.
    let r = second.post("/api/packs/evil/reject", Some(&json!({"reason": "hostile"})));
    assert_eq!(r.status, 200, "{:?}", r.body);
    eventually("evil to lose egress", patience(), || {
        (!egress_served(&home, &second, &up, "evil").unwrap_or(false)).then_some(())
    })
    .unwrap();
    // The well-behaved pack, which both agree on, and the operator keep working.
    good_pack_and_operator_are_served(&home, &second, &up, 200);

    // Reported, not looped: DEGRADED with the reason, audited, no restart, same processes.
    let report = second.get("/api/health").body;
    assert_eq!(second.get("/health").body["status"], "DEGRADED", "{report}");
    for h in ["egressd", "capd"] {
        let s = helper_status(&second, h);
        assert_eq!(s["state"], "policy_refused", "{s}");
        assert_eq!(s["restarts"], 0, "{s}");
        let why = s["last_error"].as_str().unwrap_or_default();
        assert!(why.contains("RUMI-INST-003"), "{s}");
    }
    let audited = home.audit_actions("security", "helper_policy_refused");
    assert!(audited.len() >= 2, "{audited:?}");
    let refused = home.audit_actions("security", "policy_push_refused");
    assert!(
        refused.iter().any(|l| l["details"]["closed_packs"] == json!(["evil"])),
        "{refused:?}"
    );
    assert!(egressd.is_running() && capd.is_running());

    // Restarting a helper clears its memory: it takes the current policy, evil stays closed.
    drop(egressd);
    let _egressd = rumi_tests::ExternalHelper::start(&home, &run, "rumi-egressd", me, &key);
    eventually("egressd up again with the current policy", patience(), || {
        (helper_status(&second, "egressd")["state"] == "up").then_some(())
    })
    .unwrap();
    wait_socket(&second.egress_socket(&home, "good")).unwrap();
    assert!(egress_served(&home, &second, &up, "good").unwrap());
    assert!(
        egress_served(&home, &second, &up, "evil").is_err(),
        "no socket for a rejected pack"
    );
}

#[test]
fn policy_versions_rise_across_restarts_whatever_the_clock() {
    let home = TestHome::new();
    home.add_pack("good");
    let version = |r: &Rumid| r.get("/api/health").body["data"]["policy_version"].as_u64().unwrap();
    let first = Rumid::start(&home);
    let v1 = version(&first);
    first.kill();
    let epoch = |home: &TestHome| -> u64 {
        let text = std::fs::read_to_string(home.path().join("user_data/settings/policy_epoch.json")).unwrap();
        serde_json::from_str::<Value>(&text).unwrap()["epoch"].as_u64().unwrap()
    };
    let e1 = epoch(&home);
    let second = Rumid::start(&home);
    assert_eq!(epoch(&home), e1 + 1);
    assert!(version(&second) > v1, "{} after {v1}", version(&second));
    assert_eq!(version(&second) >> 32, e1 + 1);
}
