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
    let mut builder = Rumid::builder(&home);
    if strict {
        builder = builder.strict();
    }
    let rumid = builder.spawn().unwrap();
    assert_eq!(rumid.post("/api/packs/victim/approve", None).status, 200);
    rumid.wait_policy_applied();
    rumi_tests::eventually("the pack flow", patience(), || {
        (rumid.get("/api/flows").body["data"]["count"] == 1).then_some(())
    })
    .unwrap();
    let r = rumid.run_flow("victim.run", json!({}), 60.0);
    assert_eq!(r.body["data"]["result"]["out"]["code"], "approved", "{:?}", r.body);

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
            r.body["data"]["result"]["out"],
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
        (r.status == 200).then_some(r.body["data"]["result"]["out"]["code"].clone())
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
    assert_eq!(rumid.pack_state("victim"), "installed");
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
    let mut builder = Rumid::builder(&home);
    if strict {
        builder = builder.strict();
    }
    let rumid = builder.spawn().unwrap();
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
    let out = &r.body["data"]["result"]["out"];
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
