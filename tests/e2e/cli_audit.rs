//! `rumi-ctl audit`: filtering the log, from the files and from the API, and following it
//! across a restart of rumid.

use std::io::BufRead;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rumi_tests::{Rumid, TestHome};

fn events(out: &Output) -> Vec<serde_json::Value> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn actions(evs: &[serde_json::Value]) -> Vec<String> {
    evs.iter()
        .map(|e| format!("{}/{}", e["category"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect()
}

#[test]
fn ctl_audit_filters_by_category_pack_action_outcome_and_time() {
    let home = TestHome::with_packs(&["alpha", "beta"]);
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.post("/api/packs/alpha/approve", None).status, 200);
    let r = rumid.post(
        "/api/packs/beta/reject",
        Some(&serde_json::json!({"reason": "not reviewed"})),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        rumid.request("GET", "/api/packs", Some("wrong"), None, None).status,
        401
    );

    for source in ["files", "api"] {
        let q = |args: &[&str]| {
            let mut all = vec!["--json", "audit", "--source", source];
            all.extend_from_slice(args);
            events(&home.ctl(&all, &[]))
        };
        let approval = q(&["-c", "approval"]);
        assert!(
            approval.iter().all(|e| e["category"] == "approval"),
            "{source}: {approval:?}"
        );
        let acts = actions(&approval);
        assert!(
            acts.contains(&"approval/pack_approved".into()) && acts.contains(&"approval/pack_rejected".into()),
            "{source}: {acts:?}"
        );
        let about_alpha = q(&["--pack", "alpha"]);
        assert!(!about_alpha.is_empty() && about_alpha.iter().all(|e| e.to_string().contains("alpha")));
        assert!(
            actions(&about_alpha).contains(&"approval/pack_approved".into()),
            "{source}"
        );
        assert!(
            !actions(&about_alpha).contains(&"approval/pack_rejected".into()),
            "{source}"
        );
        let rejected = q(&["--action", "pack_rejected"]);
        assert_eq!(rejected.len(), 1, "{source}: {rejected:?}");
        assert_eq!(rejected[0]["rejection_reason"], "not reviewed");
        let failed = q(&["--failed", "-c", "security"]);
        assert!(
            actions(&failed).contains(&"security/auth_failed".into()),
            "{source}: {failed:?}"
        );
        assert!(failed.iter().all(|e| e["success"] == false));
        assert!(q(&["--since", "2999-01-01"]).is_empty(), "{source}");
        assert!(!q(&["--since", "1h"]).is_empty(), "{source}");
        // The newest last; -n keeps that many of the newest.
        let all = q(&["-n", "1000"]);
        let times: Vec<&str> = all.iter().map(|e| e["ts"].as_str().unwrap()).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{source}: oldest first");
        assert_eq!(q(&["-n", "2"]), all[all.len() - 2..].to_vec(), "{source}");
    }

    // The files hold the whole history; an old day is found by --since.
    home.write(
        "user_data/audit/approval_2020-01-01.jsonl",
        "{\"ts\":\"2020-01-01T10:00:00.000000Z\",\"category\":\"approval\",\"severity\":\"info\",\"action\":\"pack_approved\",\"success\":true,\"owner_pack\":\"old\"}\n",
    );
    let old = events(&home.ctl(
        &[
            "--json",
            "audit",
            "--source",
            "files",
            "--since",
            "2019-12-31",
            "--pack",
            "old",
        ],
        &[],
    ));
    assert_eq!(old.len(), 1);
    assert!(events(&home.ctl(&["--json", "audit", "--since", "7d", "--pack", "old"], &[])).is_empty());

    // Text: a header, then one line per event with a short time, the event and the pack.
    let out = home.ctl(
        &["audit", "-c", "approval", "--action", "pack_approved", "-n", "1"],
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("TIME") && lines[0].contains("EVENT"), "{text}");
    assert!(
        lines[1].contains("approval/pack_approved") && lines[1].contains("alpha"),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&chrono_free_today()),
        "a short UTC time first: {text}"
    );

    // Bad filters are usage errors.
    for bad in [&["audit", "--since", "yesterday"][..], &["audit", "-c", "Approval"]] {
        assert_eq!(home.ctl(bad, &[]).status.code(), Some(2), "{bad:?}");
    }
}

/// Today as the text output starts its lines (`YYYY-MM-DD`), from an audit line's `ts`.
fn chrono_free_today() -> String {
    // The harness has no clock crate; rumid's own timestamps are UTC and start with the date.
    let out = Command::new("date").args(["-u", "+%Y-%m-%d"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A running `rumi-ctl audit --follow` whose stdout lines arrive on a channel.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: std::cell::RefCell<Vec<serde_json::Value>>,
}

impl Follower {
    fn spawn(home: &TestHome, source: &str) -> Self {
        let mut child = Command::new(rumi_tests::bin("rumi-ctl"))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .arg("--home")
            .arg(home.path())
            .args([
                "--json", "audit", "--follow", "-n", "0", "-c", "approval", "--source", source,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// Waits for the event `action` of `pack`; fails after the harness's patience.
    fn expect(&self, action: &str, pack: &str) {
        let deadline = Instant::now() + rumi_tests::patience();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left.max(Duration::from_millis(1)))
                .unwrap_or_else(|_| panic!("no {action} of {pack} within {:?}", rumi_tests::patience()));
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            self.seen.borrow_mut().push(v.clone());
            if v["action"] == action && v["owner_pack"] == pack {
                return;
            }
        }
    }

    /// Stops it; returns every event it printed and what it said on stderr.
    fn stop(mut self) -> (Vec<serde_json::Value>, String) {
        let _ = self.child.kill();
        let out = self.child.wait_with_output().unwrap();
        let mut seen = self.seen.into_inner();
        seen.extend(self.lines.try_iter().map(|l| serde_json::from_str(&l).unwrap()));
        (seen, String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn ctl_audit_follows_new_events_and_finds_rumid_again_after_a_restart() {
    let home = TestHome::with_packs(&["alpha", "beta"]);
    home.add_pack("gamma");
    let rumid = Rumid::start(&home);
    let from_api = Follower::spawn(&home, "api");
    let from_files = Follower::spawn(&home, "files");
    // -n 0: nothing old, then each new event once.
    assert_eq!(rumid.post("/api/packs/alpha/approve", None).status, 200);
    from_api.expect("pack_approved", "alpha");
    from_files.expect("pack_approved", "alpha");

    // rumid stops; a new one binds another port. The API follower waits and finds it.
    assert!(rumid.stop().success());
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.post("/api/packs/beta/approve", None).status, 200);
    from_api.expect("pack_approved", "beta");
    from_files.expect("pack_approved", "beta");
    assert_eq!(rumid.post("/api/packs/gamma/approve", None).status, 200);
    from_api.expect("pack_approved", "gamma");
    from_files.expect("pack_approved", "gamma");
    for (name, follower) in [("api", from_api), ("files", from_files)] {
        let (seen, said) = follower.stop();
        for pack in ["alpha", "beta", "gamma"] {
            let n = seen
                .iter()
                .filter(|e| e["action"] == "pack_approved" && e["owner_pack"] == pack)
                .count();
            assert_eq!(n, 1, "{name}: each event once: {seen:?}");
        }
        assert!(seen.iter().all(|e| e["category"] == "approval"), "{name}: {seen:?}");
        // It may or may not have polled while rumid was down; if it did, it said so once.
        assert!(said.matches("retrying").count() <= 1, "{name}: {said}");
    }
}
