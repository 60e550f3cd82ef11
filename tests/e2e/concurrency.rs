//! Concurrent decisions and crashes never leave inconsistent state or lose audit lines.

use std::collections::HashMap;
use std::sync::Arc;

use rumi_tests::{Rumid, TestHome};
use serde_json::{Value, json};

#[test]
fn fifty_concurrent_decisions_leave_consistent_state_and_complete_audit() {
    let home = TestHome::new();
    let ids: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    for id in &ids {
        home.add_pack(id);
    }
    let rumid = Arc::new(Rumid::start(&home));
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let rumid = rumid.clone();
            let id = format!("p{}", i % 10);
            std::thread::spawn(move || {
                if i % 2 == 0 {
                    rumid.post(&format!("/api/packs/{id}/approve"), None).status
                } else {
                    rumid
                        .post(
                            &format!("/api/packs/{id}/reject"),
                            Some(&json!({"reason": format!("r{i}")})),
                        )
                        .status
                }
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    let approved = home.audit_actions("approval", "pack_approved").len();
    let rejected = home.audit_actions("approval", "pack_rejected").len();
    assert_eq!((approved, rejected), (25, 25));
    // Every pack's reported state matches the last audited decision for it.
    let mut last: HashMap<String, &str> = HashMap::new();
    let mut events = home.audit("approval");
    events.retain(|e| e["action"] == "pack_approved" || e["action"] == "pack_rejected");
    for e in &events {
        let state = if e["action"] == "pack_approved" {
            "approved"
        } else {
            "blocked"
        };
        last.insert(e["owner_pack"].as_str().unwrap().to_owned(), state);
    }
    for id in &ids {
        assert_eq!(rumid.pack_state(id), last[id], "{id}");
        let st = rumid.get(&format!("/api/packs/{id}/status")).body["data"].clone();
        assert_eq!(st["history"].as_array().unwrap().len(), 5, "{id}: five decisions each");
    }
}

#[test]
fn kill_9_during_writes_loses_nothing_acknowledged() {
    let home = TestHome::new();
    let ids: Vec<String> = (0..4).map(|i| format!("c{i}")).collect();
    for id in &ids {
        home.add_pack(id);
    }
    // Per pack: the last acknowledged decision, and a decision that may be in flight.
    let mut acked: HashMap<String, &'static str> = HashMap::new();
    for round in 0..6 {
        let rumid = Rumid::start(&home);
        let token = rumid.token.clone();
        let base = rumid.base.clone();
        let pid = rumid.pid();
        let killer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(150 + 37 * round));
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        });
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut in_flight: Option<(String, &'static str)> = None;
        for n in 0.. {
            let id = &ids[n % ids.len()];
            let (path, body, state) = if (n / ids.len() + round as usize).is_multiple_of(2) {
                (format!("{base}/api/packs/{id}/approve"), None, "approved")
            } else {
                (
                    format!("{base}/api/packs/{id}/reject"),
                    Some(json!({"reason": "crash test"})),
                    "blocked",
                )
            };
            in_flight = Some((id.clone(), state));
            let req = agent.post(&path).header("Authorization", &format!("Bearer {token}"));
            let resp = match body {
                Some(b) => req.send_json(&b),
                None => req.send_empty(),
            };
            match resp {
                Ok(r) if r.status() == 200 => {
                    acked.insert(id.clone(), state);
                    in_flight = None;
                }
                _ => break,
            }
        }
        killer.join().unwrap();
        rumid.kill();

        // Every state file parses and verifies; every acknowledged decision survived.
        let rumid = Rumid::start(&home);
        for id in &ids {
            let st = rumid.pack_state(id);
            // The last acknowledged state (or "pending" if none yet), or the in-flight one.
            let ok_states: Vec<&str> = [acked.get(id).copied().unwrap_or("pending")]
                .into_iter()
                .chain(in_flight.as_ref().filter(|(p, _)| p == id).map(|(_, s)| *s))
                .collect();
            assert!(
                ok_states.contains(&st.as_str()),
                "round {round} {id}: state {st}, allowed {ok_states:?}"
            );
            // Adopt what is on disk as the new baseline (an in-flight write may have landed).
            if st == "approved" || st == "blocked" {
                acked.insert(id.clone(), if st == "approved" { "approved" } else { "blocked" });
            }
        }
        assert!(home.audit_actions("security", "hmac_verification_failed").is_empty());
        for entry in std::fs::read_dir(home.path().join("user_data/settings/approvals")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(".tmp-"),
                "stale temp files are removed at start: {name}"
            );
            if name.ends_with(".json") {
                let _: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            }
        }
        let summary: Value =
            serde_json::from_slice(&std::fs::read(home.path().join("user_data/pending/summary.json")).unwrap())
                .unwrap();
        assert!(summary["packs"].is_object());
        rumid.kill();
    }
    assert!(acked.len() == ids.len(), "the loop made progress: {acked:?}");
}
