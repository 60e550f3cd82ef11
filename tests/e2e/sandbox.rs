//! Strict mode: pack code in locked-down containers (needs Docker and the runtime image).

use rumi_tests::upstream::Upstream;
use rumi_tests::{Rumid, TestHome, docker_or_skip};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const HOSTILE: &str = r#"
import os, socket, time

def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except BaseException as e:
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}

def write_root():
    with open("/etc/pwned", "w") as f:
        f.write("x")

def write_pack():
    with open("/pack/pwned", "w") as f:
        f.write("x")

def run(data, context):
    case = data["case"]
    if case == "fs":
        return {"root": attempt(write_root), "pack": attempt(write_pack),
                "tmp": attempt(lambda: open("/tmp/ok", "w").write("fine"))}
    if case == "net":
        return {"tcp": attempt(lambda: socket.create_connection(("1.1.1.1", 80), timeout=2).close()),
                "dns": attempt(lambda: socket.getaddrinfo("example.com", 80))}
    if case == "sockets":
        return {"other": attempt(lambda: socket.socket(socket.AF_UNIX).connect(data["other_socket"])),
                "host_file": attempt(lambda: open(data["host_file"]).read()),
                "listing": attempt(lambda: os.listdir("/run/rumi"))}
    if case == "whoami":
        return {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
                "caps": open("/proc/self/status").read().split("CapEff:")[1].split()[0]}
    if case == "fork":
        n = 0
        for _ in range(400):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(5)
                os._exit(0)
            n += 1
        return {"forked": n}
    if case == "memory":
        blob = bytearray(1024 * 1024 * 1024)
        return {"allocated": len(blob)}
    if case == "stdout":
        os.write(1, b"x" * (10 * 1024 * 1024))
        return None
    if case == "sleep":
        time.sleep(60)
    return None
"#;

const NETWORK: &str = r#"
import rumi_syscall, rumi_capability

def run(data, context):
    r = rumi_syscall.get(data["url"])
    s = rumi_capability.call("store.set", {"store_id": "box", "key": "k", "value": {"from": "container"}})
    g = rumi_capability.call("store.get", {"store_id": "box", "key": "k"})
    return {"status": r.get("status_code"), "body": r.get("body"), "error": r.get("error_type"),
            "set": s.get("success"), "got": (g.get("output") or {}).get("value"), "cap_error": g.get("error")}
"#;

fn flow(id: &str, file: &str, timeout: u32) -> String {
    pack_flow("box", id, file, timeout)
}

/// A flow `id` of one step running `pack`'s block `file` on the flow's inputs.
fn pack_flow(pack: &str, id: &str, file: &str, timeout: u32) -> String {
    format!(
        "flow_id: {id}\ndefaults: {{fail_soft: false}}\nsteps:\n  - {{id: s, type: python_file_call, owner_pack: {pack}, file: {file}, input: \"$ctx.inputs\", output: out, timeout_seconds: {timeout}}}\n"
    )
}

/// Now, in Unix seconds (as `docker events` takes times).
fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Containers of the rumid instance running on `home` (other tests' instances share the
/// engine; containers are labelled with a hash of the home path).
fn managed_containers(home: &TestHome) -> usize {
    let instance = rumi_tests::instance_label(home.path());
    rumi_tests::instance_containers("/var/run/docker.sock", &instance)
        .expect("docker ps")
        .len()
}

/// The uid rumid allocated to `pack` (from the signed table).
fn pack_uid(home: &TestHome, pack: &str) -> u64 {
    let table: Value =
        serde_json::from_slice(&std::fs::read(home.path().join("user_data/settings/pack_uids.json")).unwrap()).unwrap();
    table["uids"][pack]
        .as_u64()
        .unwrap_or_else(|| panic!("no uid for {pack}: {table}"))
}

/// Connects to a socket from a container running as `uid` (the socket mounted at /s.sock),
/// sends one frame and says whether an answer came back.
fn served_as(socket: &std::path::Path, uid: u64) -> String {
    let script = r#"
import json, socket, struct
s = socket.socket(socket.AF_UNIX)
s.connect("/s.sock")
body = json.dumps({"permission_id": "store.list", "args": {}}).encode()
try:
    s.sendall(struct.pack(">I", len(body)) + body)
    head = s.recv(4)
except OSError:
    head = b""
print("served" if len(head) == 4 else "closed")
"#;
    let out = std::process::Command::new("docker")
        .args([
            "run",
            "--rm",
            "--network=none",
            "--user",
            &format!("{uid}:{uid}"),
            "--group-add",
            rumi_tests::SOCKET_GID,
            "-v",
            &format!("{}:/s.sock", socket.display()),
            "rumi-runtime:bookworm",
            "python3",
            "-c",
            script,
        ])
        .output()
        .expect("docker run");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
        + &String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default()
}

#[test]
fn each_pack_runs_as_its_own_uid_and_its_sockets_serve_only_that_uid() {
    if !docker_or_skip("each_pack_runs_as_its_own_uid_and_its_sockets_serve_only_that_uid") {
        return;
    }
    let home = TestHome::new();
    for p in ["alpha", "beta"] {
        home.add_pack(p);
        home.write(
            &format!("ecosystem/{p}/backend/blocks/who.py"),
            "import os\ndef run():\n    return {'uid': os.getuid(), 'gid': os.getgid()}\n",
        );
        home.write(
            &format!("flows/{p}.flow.yaml"),
            &format!("flow_id: {p}\nsteps:\n  - {{id: s, type: python_file_call, owner_pack: {p}, file: who.py, output: out}}\n"),
        );
    }
    let rumid = Rumid::builder(&home).strict().spawn().unwrap();
    for p in ["alpha", "beta"] {
        assert_eq!(rumid.post(&format!("/api/packs/{p}/approve"), None).status, 200);
    }
    rumid.wait_policy_applied();
    let (a, b) = (pack_uid(&home, "alpha"), pack_uid(&home, "beta"));
    assert_ne!(a, b);
    for (p, uid) in [("alpha", a), ("beta", b)] {
        let r = rumid.run_flow(p, json!({}), 60.0);
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["result"]["out"], json!({"uid": uid, "gid": uid}));
    }
    // beta's capability socket, reached by a container of alpha: refused and audited.
    let beta_socket = rumid.capability_socket(&home, "beta");
    rumi_tests::eventually("beta's socket", rumi_tests::patience(), || {
        beta_socket.exists().then_some(())
    })
    .unwrap();
    let got = served_as(&beta_socket, a);
    assert!(got.starts_with("closed"), "alpha's uid on beta's socket: {got}");
    assert!(served_as(&beta_socket, 4242).starts_with("closed"), "a foreign uid");
    assert!(served_as(&beta_socket, b).starts_with("served"), "beta's own uid");
    rumi_tests::eventually("refusals audited", rumi_tests::patience(), || {
        let refused = home.audit_actions("security", "capability_proxy_peer_refused");
        (refused.len() >= 2).then_some(refused)
    })
    .map(|refused| {
        assert_eq!(refused[0]["owner_pack"], "beta");
        assert_eq!(refused[0]["details"]["expected_uid"], b);
    })
    .unwrap();
    // A restart keeps every pack's uid.
    drop(rumid);
    let rumid = Rumid::builder(&home).strict().spawn().unwrap();
    let r = rumid.run_flow("alpha", json!({}), 60.0);
    assert_eq!(r.body["result"]["out"]["uid"], a, "{:?}", r.body);

    // The original's single uid stays available as a setting.
    let shared = TestHome::new();
    shared.add_pack("solo");
    shared.write(
        "ecosystem/solo/backend/blocks/who.py",
        "import os\ndef run():\n    return os.getuid()\n",
    );
    shared.write(
        "flows/solo.flow.yaml",
        "flow_id: solo\nsteps:\n  - {id: s, type: python_file_call, owner_pack: solo, file: who.py, output: out}\n",
    );
    let rumid = Rumid::builder(&shared)
        .strict()
        .env("RUMI_PACK_UID_RANGE", "shared")
        .spawn()
        .unwrap();
    assert_eq!(rumid.post("/api/packs/solo/approve", None).status, 200);
    let r = rumid.run_flow("solo", json!({}), 60.0);
    assert_eq!(r.body["result"]["out"], 65534, "{:?}", r.body);
    assert!(!shared.path().join("user_data/settings/pack_uids.json").exists());
}

/// Containers of this instance that are not waiting spares (running or finished jobs, and
/// spares still starting).
fn busy_containers(rumid: &Rumid) -> usize {
    let r = rumid.get("/api/containers");
    r.body["data"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["spare"] != true)
        .count()
}

#[test]
fn blocks_run_contained_and_reach_only_their_own_helpers() {
    if !docker_or_skip("blocks_run_contained_and_reach_only_their_own_helpers") {
        return;
    }
    let up = Upstream::start();
    let home = TestHome::new();
    home.add_pack("box");
    home.add_pack("other");
    home.write("ecosystem/box/backend/blocks/hostile.py", HOSTILE);
    home.write("ecosystem/box/backend/blocks/network.py", NETWORK);
    home.write(
        "ecosystem/box/backend/blocks/hello.py",
        "def run(data):\n    return {'hello': data['name']}\n",
    );
    std::os::unix::fs::symlink("/etc/passwd", home.path().join("ecosystem/box/backend/blocks/leak.py")).unwrap();
    home.write("flows/hello.flow.yaml", &flow("hello", "hello.py", 60));
    home.write("flows/hostile.flow.yaml", &flow("hostile", "hostile.py", 20));
    home.write("flows/slow.flow.yaml", &flow("slow", "hostile.py", 2));
    home.write("flows/net.flow.yaml", &flow("net", "network.py", 30));
    home.write("flows/leak.flow.yaml", &flow("leak", "leak.py", 10));
    home.write(
        "flows/dotdot.flow.yaml",
        &flow("dotdot", "../../other/backend/blocks/main.py", 10),
    );
    let rumid = Rumid::builder(&home)
        .strict()
        .env("RUMI_EGRESS_ALLOW_CIDRS", "127.0.0.1/32")
        .spawn()
        .unwrap();
    let r = rumid.get("/api/docker/status");
    assert_eq!(r.body["data"]["available"], true, "{:?}", r.body);
    for p in ["box", "other"] {
        assert_eq!(rumid.post(&format!("/api/packs/{p}/approve"), None).status, 200);
    }
    let run = |id: &str, inputs: Value| rumid.run_flow(id, inputs, 120.0);
    let out = |id: &str, inputs: Value| {
        let r = run(id, inputs);
        assert_eq!(r.status, 200, "{id}: {:?}", r.body);
        r.body["result"]["out"].clone()
    };

    assert_eq!(out("hello", json!({"name": "strict"})), json!({"hello": "strict"}));
    let calls = home.audit_actions("python_file_call", "python_file_call");
    assert_eq!(calls.last().unwrap()["execution_mode"], "container");

    // Egress and capabilities from inside the container, through this pack's sockets only.
    rumid.approve_and_grant("box", &["127.0.0.1"], &[up.addr.port()]);
    assert_eq!(
        rumid
            .post(
                "/api/stores/create",
                Some(&json!({"store_id": "box", "owner_pack": "box"}))
            )
            .status,
        200
    );
    rumid.grant_capability("box", "store.set", json!({"allowed_store_ids": ["box"]}));
    rumid.grant_capability("box", "store.get", json!({"allowed_store_ids": ["box"]}));
    let o = out("net", json!({"url": up.url("/ok")}));
    assert_eq!(o["status"], 200, "{o}");
    assert_eq!(o["body"], "hello");
    assert_eq!(o["set"], true, "{o}");
    assert_eq!(o["got"], json!({"from": "container"}));

    // Identity and privileges.
    let who = out("hostile", json!({"case": "whoami"}));
    let uid = pack_uid(&home, "box");
    assert!(uid >= 200_000, "a uid of its own from the default range: {uid}");
    assert_eq!((who["uid"].clone(), who["gid"].clone()), (json!(uid), json!(uid)));
    assert_eq!(who["caps"], "0000000000000000", "no capabilities: {who}");

    // The file system is read-only except /tmp.
    let fs = out("hostile", json!({"case": "fs"}));
    assert_eq!(fs["root"]["ok"], false, "{fs}");
    assert_eq!(fs["pack"]["ok"], false, "{fs}");
    assert_eq!(fs["tmp"]["ok"], true, "{fs}");

    // No network at all.
    let net = out("hostile", json!({"case": "net"}));
    assert_eq!(net["tcp"]["ok"], false, "{net}");
    assert_eq!(net["dns"]["ok"], false, "{net}");

    // Another pack's socket and host files are not there.
    let other_sock = rumid.egress_socket(&home, "other");
    let host_file = home.path().join("user_data/settings/.hmac_key");
    let s = out(
        "hostile",
        json!({"case": "sockets", "other_socket": other_sock, "host_file": host_file}),
    );
    assert_eq!(s["other"]["ok"], false, "{s}");
    assert_eq!(s["host_file"]["ok"], false, "{s}");
    let mut listing: Vec<String> = serde_json::from_value(s["listing"]["value"].clone()).unwrap();
    listing.sort();
    assert_eq!(listing, ["capability.sock", "egress.sock"], "only its own two sockets");

    // Fork bomb: the pids limit stops it.
    let f = out("hostile", json!({"case": "fork"}));
    assert!(f["forked"].as_u64().unwrap() < 100, "{f}");

    // Memory bomb, huge stdout, sleeping past the timeout: refused, contained, cleaned up.
    let r = run("hostile", json!({"case": "memory"}));
    assert_eq!(r.status, 500, "{:?}", r.body);
    assert!(
        r.body["error"].as_str().unwrap().contains("container_execution_error"),
        "{:?}",
        r.body
    );
    let r = run("hostile", json!({"case": "stdout"}));
    assert!(
        r.body["error"].as_str().unwrap().contains("response_too_large"),
        "{:?}",
        r.body
    );
    let r = run("slow", json!({"case": "sleep"}));
    assert!(r.body["error"].as_str().unwrap().contains("timeout"), "{:?}", r.body);

    // A flow timeout in the middle of a container run still removes the container (what
    // remains are pristine spares, waiting for the next call).
    let r = rumid.run_flow("hostile", json!({"case": "sleep"}), 2.0);
    assert_eq!(r.status, 408, "{:?}", r.body);
    rumi_tests::eventually("containers removed", rumi_tests::patience(), || {
        (busy_containers(&rumid) == 0).then_some(())
    })
    .unwrap();

    // A symlink out of the pack and `../` in `file` never run.
    for id in ["leak", "dotdot"] {
        let r = run(id, json!({}));
        assert!(
            r.body["error"].as_str().unwrap().contains("path_rejected"),
            "{id}: {:?}",
            r.body
        );
    }
    // Editing a block after approval: the edit never runs (the approved snapshot does);
    // once seen, the pack is modified and refused before any run.
    home.write(
        "ecosystem/box/backend/blocks/hello.py",
        "def run(data):\n    return 'tampered'\n",
    );
    assert_eq!(out("hello", json!({"name": "x"})), json!({"hello": "x"}));
    assert_eq!(rumid.pack_state("box"), "modified");
    let r = run("hello", json!({"name": "x"}));
    assert!(
        r.body["error"].as_str().unwrap().contains("hash_verification_failed"),
        "{:?}",
        r.body
    );

    // The pack is no longer approved as it is: its spares are destroyed too.
    rumi_tests::eventually("every container removed", rumi_tests::patience(), || {
        (managed_containers(&home) == 0).then_some(())
    })
    .unwrap();
}

#[test]
fn strict_mode_without_docker_refuses_instead_of_running_on_the_host() {
    let home = TestHome::new();
    home.add_pack("box");
    home.write(
        "ecosystem/box/backend/blocks/hello.py",
        "def run():\n    return 'ran on the host'\n",
    );
    home.write("flows/hello.flow.yaml", &flow("hello", "hello.py", 10));
    let rumid = Rumid::builder(&home)
        .strict()
        .env("RUMI_DOCKER_SOCKET", "/nonexistent/docker.sock")
        .spawn()
        .unwrap();
    assert_eq!(rumid.post("/api/packs/box/approve", None).status, 200);
    let r = rumid.run_flow("hello", json!({}), 30.0);
    assert_eq!(
        r.status, 503,
        "temporarily unavailable, not a broken step: {:?}",
        r.body
    );
    assert_eq!(r.body["error_code"], "RUMI-FLOW-007");
    let msg = r.body["error"].as_str().unwrap();
    assert!(msg.contains("docker_required"), "{msg}");
    assert!(!r.body.to_string().contains("ran on the host"));
    assert_eq!(rumid.get("/api/docker/status").body["data"]["available"], false);
}

#[test]
fn lib_scripts_get_the_only_writable_mount_and_run_once_per_approval() {
    if !docker_or_skip("lib_scripts_get_the_only_writable_mount_and_run_once_per_approval") {
        return;
    }
    let home = TestHome::new();
    home.add_pack("box");
    home.write(
        "ecosystem/box/backend/lib/install.py",
        "import os\n\ndef run(context):\n    open(os.path.join(context['data_dir'], 'installed.txt'), 'w').write(context['lib_type'])\n    try:\n        open('/pack/x', 'w')\n        return 'pack writable!'\n    except OSError:\n        return 'ok'\n",
    );
    home.write(
        "ecosystem/box/backend/lib/update.py",
        "import os\n\ndef run(context):\n    open(os.path.join(context['data_dir'], 'updated.txt'), 'w').write('yes')\n",
    );
    home.write(
        "ecosystem/box/backend/blocks/reader.py",
        "def run(data):\n    text = open('/data/installed.txt').read()\n    try:\n        open('/data/mine.txt', 'w')\n        return {'text': text, 'write': 'allowed'}\n    except OSError:\n        return {'text': text, 'write': 'refused'}\n",
    );
    home.write("flows/read.flow.yaml", &flow("read", "reader.py", 30));
    home.write(
        "flows/records.flow.yaml",
        "flow_id: records\nsteps:\n  - {id: r, type: handler, input: {handler: 'kernel:lib.list_records'}, output: records}\n",
    );
    let rumid = Rumid::builder(&home).strict().spawn().unwrap();
    assert_eq!(rumid.post("/api/packs/box/approve", None).status, 200);
    let data = home.path().join("user_data/packs/box");
    // Finished, not merely started: the audit line comes after the script's sandbox is gone
    // (the file alone may still be empty while the script writes it).
    rumi_tests::eventually("install.py to run", rumi_tests::patience(), || {
        home.audit_actions("system", "lib_install").into_iter().next()
    })
    .unwrap();
    assert_eq!(std::fs::read_to_string(data.join("installed.txt")).unwrap(), "install");
    let r = rumid.run_flow("read", json!({}), 60.0);
    assert_eq!(
        r.body["result"]["out"],
        json!({"text": "install", "write": "refused"}),
        "{:?}",
        r.body
    );
    let r = rumid.run_flow("records", json!({}), 30.0);
    assert_eq!(r.body["result"]["records"]["box"]["lib_type"], "install");
    assert_eq!(r.body["result"]["records"]["box"]["success"], true);
    assert!(
        !data.join("updated.txt").exists(),
        "update.py does not run without a change"
    );

    // A changed pack, re-approved: update.py runs.
    home.write("ecosystem/box/backend/blocks/extra.py", "x = 1\n");
    assert_eq!(rumid.pack_state("box"), "modified");
    assert_eq!(rumid.post("/api/packs/box/approve", None).status, 200);
    rumi_tests::eventually("update.py to run", rumi_tests::patience(), || {
        data.join("updated.txt").is_file().then_some(())
    })
    .unwrap();
    assert_eq!(home.audit_actions("system", "lib_install").len(), 1);
}

#[test]
fn a_lib_script_runs_nothing_after_its_result() {
    if !docker_or_skip("a_lib_script_runs_nothing_after_its_result") {
        return;
    }
    // The script sends a result frame itself, then goes on writing its data directory: it must
    // be gone before rumid cleans that directory up (setuid bits stripped) and records the run.
    let home = TestHome::new();
    home.add_pack("box");
    home.write(
        "ecosystem/box/backend/lib/install.py",
        "import os, sys, time\n\ndef run(context):\n    sys.__stdout__.write('\\x1eRUMI-RESULT 4\\n\"ok\"')\n    sys.__stdout__.flush()\n    time.sleep(0.3)\n    open(os.path.join(context['data_dir'], 'late.txt'), 'w').write('late')\n",
    );
    let rumid = Rumid::builder(&home).strict().spawn().unwrap();
    assert_eq!(rumid.post("/api/packs/box/approve", None).status, 200);
    rumi_tests::eventually("install.py to run", rumi_tests::patience(), || {
        home.audit_actions("system", "lib_install").into_iter().next()
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let data = home.path().join("user_data/packs/box");
    assert!(data.is_dir());
    assert!(!data.join("late.txt").exists(), "the script wrote after its result");
}

#[test]
fn operators_can_check_and_stop_a_packs_containers() {
    if !docker_or_skip("operators_can_check_and_stop_a_packs_containers") {
        return;
    }
    let _cpu = cpu_sensitive();
    let home = TestHome::new();
    home.add_pack("box");
    let rumid = Rumid::builder(&home).strict().spawn().unwrap();
    let r = rumid.post("/api/containers/box/start", None);
    assert_eq!(
        (r.status, r.code()),
        (409, "RUMI-PACK-008"),
        "not approved yet: {:?}",
        r.body
    );
    assert_eq!(rumid.post("/api/packs/box/approve", None).status, 200);
    let r = rumid.post("/api/containers/box/start", None);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"]["ok"], true, "{:?}", r.body);
    // The check warms the pack: its spares come up.
    rumi_tests::eventually("spares started", rumi_tests::patience(), || {
        let r = rumid.get("/api/containers");
        (r.body["data"]["spares"]["waiting"] == 2).then_some(())
    })
    .unwrap();
    let listed = rumid.get("/api/containers").body["data"]["containers"].clone();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["pack_id"] == "box" && c["spare"] == true),
        "{listed}"
    );
    let r = rumid.post("/api/containers/box/stop", None);
    assert_eq!(r.body["data"]["removed"], 2, "{:?}", r.body);
    let out = home.ctl(&["docker", "start", "box"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("box: ok"), "{text}");
    let out = home.ctl(&["docker", "remove", "box"], &[]);
    assert!(out.status.success());
    rumi_tests::eventually("no containers left", rumi_tests::patience(), || {
        (rumid.get("/api/containers").body["data"]["count"] == 0).then_some(())
    })
    .unwrap();
    assert_eq!(rumid.get("/api/containers").body["data"]["spares"]["waiting"], 0);
    assert_eq!(home.audit_actions("system", "container_start_check").len(), 2);
}

/// The engine's `create`, `die` (with the exit code) and `destroy` events for the containers of
/// `pack` (this instance) since `since` (Unix seconds), in order: "create <id>", "die <id>
/// <code>", "destroy <id>".
fn lifecycle(home: &TestHome, pack: &str, since: u64) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(["events", "--since", &since.to_string()])
        // `docker events` waits until `--until`: a second from now.
        .args(["--until", &(unix_secs() + 1).to_string()])
        .args([
            "--filter",
            &format!("label=rumi.instance={}", rumi_tests::instance_label(home.path())),
        ])
        .args([
            "--filter",
            &format!("label=rumi.pack_id={pack}"),
            "--filter",
            "type=container",
        ])
        .args([
            "--filter",
            "event=create",
            "--filter",
            "event=die",
            "--filter",
            "event=destroy",
        ])
        .args(["--format", "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.exitCode}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .collect()
}

/// Exit codes of the containers of `pack` that died since `since`.
fn die_codes(home: &TestHome, pack: &str, since: u64) -> Vec<String> {
    lifecycle(home, pack, since)
        .iter()
        .filter_map(|e| e.strip_prefix("die ")?.split(' ').nth(1).map(str::to_owned))
        .collect()
}

#[test]
fn a_finished_block_container_exits_by_itself_and_is_removed() {
    if !docker_or_skip("a_finished_block_container_exits_by_itself_and_is_removed") {
        return;
    }
    let home = TestHome::new();
    let blocks = [
        // A thread that would keep Python alive for a minute: the runner ends the process
        // right after the result.
        (
            "linger",
            "import threading, time\n\ndef run(data):\n    threading.Thread(target=time.sleep, args=(60,)).start()\n    return {'done': True}\n",
        ),
        // The block writes a result frame itself and goes on for 0.1 s: rumid answers at
        // once and lets the container finish.
        (
            "early",
            "import sys, time\n\ndef run(data):\n    sys.__stdout__.write('\\x1eRUMI-RESULT 14\\n{\"done\": true}')\n    sys.__stdout__.flush()\n    time.sleep(0.1)\n    return {'late': True}\n",
        ),
        // The same, but it never ends: killed after the grace period.
        (
            "stuck",
            "import sys, time\n\ndef run(data):\n    sys.__stdout__.write('\\x1eRUMI-RESULT 14\\n{\"done\": true}')\n    sys.__stdout__.flush()\n    time.sleep(600)\n",
        ),
    ];
    for (pack, source) in blocks {
        home.add_pack(pack);
        home.write(&format!("ecosystem/{pack}/backend/blocks/b.py"), source);
        home.write(&format!("flows/{pack}.flow.yaml"), &pack_flow(pack, pack, "b.py", 60));
    }
    let rumid = Rumid::builder(&home)
        .strict()
        .env("RUMI_SPARES_PER_PACK", "0")
        .env("RUMI_MAX_CONTAINERS_PER_PACK", "1")
        .spawn()
        .unwrap();
    for (pack, _) in blocks {
        assert_eq!(rumid.post(&format!("/api/packs/{pack}/approve"), None).status, 200);
    }
    rumid.wait_policy_applied();
    let since = unix_secs();
    // `stuck` twice: the second call may start only once the first container is gone.
    for pack in ["linger", "early", "stuck", "stuck"] {
        let r = rumid.run_flow(pack, json!({}), 60.0);
        assert_eq!(r.status, 200, "{pack}: {:?}", r.body);
        assert_eq!(r.body["result"]["out"], json!({"done": true}), "{pack}");
    }
    rumi_tests::eventually("every container removed", Duration::from_secs(15), || {
        (managed_containers(&home) == 0).then_some(())
    })
    .unwrap();
    // Exit status 0: the container ended by itself; 137: killed.
    assert_eq!(die_codes(&home, "linger", since), ["0"]);
    assert_eq!(die_codes(&home, "early", since), ["0"]);
    assert_eq!(die_codes(&home, "stuck", since), ["137", "137"]);
    // A block that has sent its result and goes on running still holds its pack's container
    // slot (one here): the second container was created after the first was destroyed.
    let events = lifecycle(&home, "stuck", since);
    let actions: Vec<&str> = events.iter().map(|e| e.split(' ').next().unwrap()).collect();
    assert_eq!(
        actions,
        ["create", "die", "destroy", "create", "die", "destroy"],
        "{events:#?}"
    );
}

/// Held by the tests whose spares must start within their patience, and by the one that
/// keeps every core busy (which would put those spares off): they run one at a time.
static CPU_SENSITIVE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn cpu_sensitive() -> std::sync::MutexGuard<'static, ()> {
    CPU_SENSITIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Busy loops at the lowest priority on every core, stopped when dropped: the machine has no
/// idle CPU while they run, yet the test and rumid are not slowed by them.
struct Burners(Vec<std::process::Child>);

impl Burners {
    fn start() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self(
            (0..cores)
                .map(|_| {
                    std::process::Command::new("nice")
                        .args(["-n", "19", "sh", "-c", "while :; do :; done"])
                        .spawn()
                        .expect("start a busy loop")
                })
                .collect(),
        )
    }
}

impl Drop for Burners {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn spares_start_only_into_idle_cpu_and_a_busy_pack_still_gets_one() {
    if !docker_or_skip("spares_start_only_into_idle_cpu_and_a_busy_pack_still_gets_one") {
        return;
    }
    let _cpu = cpu_sensitive();
    let home = TestHome::new();
    home.add_pack("box");
    home.write("ecosystem/box/backend/blocks/mark.py", MARK);
    home.write("flows/box.flow.yaml", &flow("box", "mark.py", 60));
    let rumid = Rumid::builder(&home).strict().spawn().unwrap();
    assert_eq!(rumid.post("/api/packs/box/approve", None).status, 200);
    rumid.wait_policy_applied();

    // Every core busy (from outside Rumi): the call runs cold, and its refill is put off
    // instead of competing with the load for the CPU.
    let burners = Burners::start();
    // Longer than the window over which rumid measures idle CPU (1 s).
    std::thread::sleep(Duration::from_millis(1500));
    let r = rumid.run_flow("box", json!({"n": "1"}), 60.0);
    assert_eq!(r.status, 200, "{:?}", r.body);
    let ended = Instant::now();
    while ended.elapsed() < Duration::from_millis(1500) {
        let s = spares(&rumid);
        assert_eq!(
            (s["deferred"].as_u64(), s["starting"].as_u64(), s["waiting"].as_u64()),
            (Some(1), Some(0), Some(0)),
            "no spare starts while the CPU is busy: {s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Put off for at most 3 s: a pack called on a busy machine still gets a spare now and then.
    wait_spares(&rumid, "a spare despite the load", |s| {
        s["starting"].as_u64().unwrap_or(0) + s["waiting"].as_u64().unwrap_or(0) >= 1
    });
    // Idle again: the pool fills up to its share.
    drop(burners);
    wait_spares(&rumid, "the pack's share once idle", |s| {
        s["waiting"] == 2 && s["deferred"] == 0
    });
    let r = rumid.run_flow("box", json!({"n": "2"}), 60.0);
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(spares(&rumid)["claims"].as_u64().unwrap() >= 1, "{}", spares(&rumid));
}

/// A call that claims a spare while it is the only run gets it replaced while it runs (a
/// client's next call then finds the replacement started the call's time earlier), and the
/// pack never has more than its share. Other tests may keep the machine busy meanwhile: the
/// replacement then waits for idle CPU, at most 3 s, still within this 5 s call.
#[test]
fn a_claimed_spare_is_replaced_while_the_call_runs_on_an_idle_core() {
    if !docker_or_skip("a_claimed_spare_is_replaced_while_the_call_runs_on_an_idle_core") {
        return;
    }
    let _cpu = cpu_sensitive();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let home = TestHome::new();
    home.add_pack("box");
    home.write(
        "ecosystem/box/backend/blocks/slow.py",
        "import time\n\ndef run(data):\n    time.sleep(5)\n    return {'ok': True}\n",
    );
    home.write("flows/box.flow.yaml", &flow("box", "slow.py", 60));
    let rumid = Rumid::builder(&home)
        .strict()
        .env("RUMI_SPARES_PER_PACK", "1")
        .spawn()
        .unwrap();
    assert_eq!(rumid.post("/api/packs/box/approve", None).status, 200);
    rumid.wait_policy_applied();
    // The first call runs cold; its refill fills the pack's share (one) once it ends.
    let r = rumid.run_flow("box", json!({}), 60.0);
    assert_eq!(r.status, 200, "{:?}", r.body);
    wait_spares(&rumid, "the pack's spare", |s| s["waiting"] == 1 && s["starting"] == 0);
    // Longer than the window over which rumid measures idle CPU (1 s).
    std::thread::sleep(Duration::from_millis(1500));
    std::thread::scope(|scope| {
        let call = scope.spawn(|| rumid.run_flow("box", json!({}), 60.0));
        // The call claims the spare at once and sleeps 5 s in it.
        wait_spares(&rumid, "the spare claimed", |s| s["claims"] == 1);
        let mut seen = Vec::new();
        while !call.is_finished() {
            let s = spares(&rumid);
            let n = s["waiting"].as_u64().unwrap_or(0) + s["starting"].as_u64().unwrap_or(0);
            assert!(n <= 1, "more than the pack's share: {s}");
            seen.push(n);
            std::thread::sleep(Duration::from_millis(100));
        }
        let r = call.join().unwrap();
        assert_eq!(r.status, 200, "{:?}", r.body);
        if cores >= 2 {
            assert!(
                seen.contains(&1),
                "with {cores} cores and one call, the claimed spare is replaced during the call: {seen:?}"
            );
        } else {
            // One core: the call has it; the replacement waits for the call's end.
            assert!(seen.iter().all(|n| *n == 0), "{seen:?}");
        }
    });
}

const MARK: &str = r#"
import os, socket

def run(data):
    seen = sorted(os.listdir("/tmp"))
    with open("/tmp/mark", "w") as f:
        f.write(data["n"])
    return {"host": socket.gethostname(), "tmp": seen, "pid": os.getpid()}
"#;

fn spares(rumid: &Rumid) -> Value {
    rumid.get("/api/containers").body["data"]["spares"].clone()
}

fn wait_spares(rumid: &Rumid, what: &str, f: impl Fn(&Value) -> bool) {
    rumi_tests::eventually(what, rumi_tests::patience(), || {
        let s = spares(rumid);
        f(&s).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {}", spares(rumid)));
}

#[test]
fn spare_containers_run_one_job_each_and_never_outlive_their_policy() {
    if !docker_or_skip("spare_containers_run_one_job_each_and_never_outlive_their_policy") {
        return;
    }
    let _cpu = cpu_sensitive();
    let home = TestHome::new();
    for p in ["box", "other"] {
        home.add_pack(p);
        home.write(&format!("ecosystem/{p}/backend/blocks/mark.py"), MARK);
        home.write(&format!("flows/{p}.flow.yaml"), &pack_flow(p, p, "mark.py", 60));
    }
    let rumid = Rumid::builder(&home)
        .strict()
        .env("RUMI_SPARES_TOTAL", "3")
        .env("RUMI_SPARE_TTL", "15")
        .spawn()
        .unwrap();
    for p in ["box", "other"] {
        assert_eq!(rumid.post(&format!("/api/packs/{p}/approve"), None).status, 200);
    }
    rumid.wait_policy_applied();
    let call = |flow: &str, n: u32| {
        let r = rumid.run_flow(flow, json!({"n": n.to_string()}), 60.0);
        assert_eq!(r.status, 200, "{flow}: {:?}", r.body);
        r.body["result"]["out"].clone()
    };

    // No pack has run yet: nothing is kept warm.
    assert_eq!(spares(&rumid)["waiting"], 0);
    // The first call runs cold and makes the pack "recently run"; later calls claim spares.
    let mut results = vec![call("box", 0)];
    for n in 1..4 {
        wait_spares(&rumid, "box's spares", |s| s["waiting"] == 2);
        results.push(call("box", n));
    }
    // Each call ran in a container of its own that nothing had run in before.
    let mut hosts: Vec<&str> = results.iter().map(|r| r["host"].as_str().unwrap()).collect();
    hosts.sort_unstable();
    hosts.dedup();
    assert_eq!(hosts.len(), 4, "four calls, four containers: {results:?}");
    for r in &results {
        assert_eq!(r["tmp"], json!([]), "a call sees nothing of an earlier one: {r}");
    }
    let s = spares(&rumid);
    assert!(s["claims"].as_u64().unwrap() >= 3, "{s}");
    let metrics = rumid.metrics_text();
    let claims = format!("rumi_sandbox_spare_claims_total {}", s["claims"]);
    assert!(metrics.contains(&claims), "{claims} in {metrics}");

    // The listing shows them, for the right pack.
    wait_spares(&rumid, "box's spares", |s| s["waiting"] == 2);
    let listed = rumid.get("/api/containers").body["data"]["containers"].clone();
    let spare_ids: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["spare"] == true)
        .map(|c| {
            assert_eq!(c["pack_id"], "box", "{listed}");
            c["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(spare_ids.len(), 2, "{listed}");

    // Bounded in total: `other` gets only what is left of the three.
    call("other", 0);
    wait_spares(&rumid, "the total bound", |s| s["waiting"] == 3);
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(spares(&rumid)["waiting"], 3, "never more than RUMI_SPARES_TOTAL");

    // A grant change destroys every spare: none outlives the policy it started under.
    rumid.approve_and_grant("box", &["example.com"], &[443]);
    wait_spares(&rumid, "spares destroyed after a grant change", |s| s["waiting"] == 0);
    rumi_tests::eventually("spare containers removed", rumi_tests::patience(), || {
        (managed_containers(&home) == 0).then_some(())
    })
    .unwrap();
    for id in &spare_ids {
        let gone = std::process::Command::new("docker")
            .args(["inspect", id])
            .output()
            .is_ok_and(|o| !o.status.success());
        assert!(gone, "spare {id} still exists");
    }

    // Rejecting the pack destroys its spares, and nothing of it runs any more.
    call("box", 10);
    wait_spares(&rumid, "box warm again", |s| s["waiting"] == 2);
    assert_eq!(
        rumid
            .post("/api/packs/box/reject", Some(&json!({"reason": "test"})))
            .status,
        200
    );
    wait_spares(&rumid, "spares destroyed after a rejection", |s| s["waiting"] == 0);
    let r = rumid.run_flow("box", json!({"n": "11"}), 60.0);
    assert_ne!(r.status, 200, "{:?}", r.body);
    rumi_tests::eventually("containers removed", rumi_tests::patience(), || {
        (managed_containers(&home) == 0).then_some(())
    })
    .unwrap();

    // Unclaimed spares expire (RUMI_SPARE_TTL=15).
    call("other", 1);
    wait_spares(&rumid, "other warm", |s| s["waiting"] == 2);
    wait_spares(&rumid, "spares expired", |s| s["waiting"] == 0);
    rumi_tests::eventually("expired spares removed", rumi_tests::patience(), || {
        (managed_containers(&home) == 0).then_some(())
    })
    .unwrap();

    // A clean stop removes the spares before rumid exits: nothing is left running.
    call("other", 2);
    wait_spares(&rumid, "other warm again", |s| s["waiting"] == 2);
    assert!(rumid.stop().success());
    assert_eq!(managed_containers(&home), 0, "no container outlives rumid");
}

/// A clean stop right after a block run, while its spares are still being created (and the
/// run's own container is being removed in the background), leaves no container of the
/// instance behind: neither `Created` nor `Exited` ones.
#[test]
fn a_stop_right_after_a_run_leaves_no_container_behind() {
    if !docker_or_skip("a_stop_right_after_a_run_leaves_no_container_behind") {
        return;
    }
    for round in 0..3 {
        let home = TestHome::new();
        home.add_pack("box");
        home.write(
            "ecosystem/box/backend/blocks/hello.py",
            "def run(data):\n    return {'hello': data.get('n')}\n",
        );
        home.write("flows/hello.flow.yaml", &flow("hello", "hello.py", 60));
        let rumid = Rumid::builder(&home).strict().spawn().unwrap();
        assert_eq!(rumid.post("/api/packs/box/approve", None).status, 200);
        let r = rumid.run_flow("hello", json!({"n": round}), 60.0);
        assert_eq!(r.status, 200, "{:?}", r.body);
        // No wait: the refill has just begun.
        assert!(rumid.stop().success());
        let left = std::process::Command::new("docker")
            .args(["ps", "-a", "--format", "{{.Names}} {{.Status}} {{.Labels}}"])
            .output()
            .unwrap();
        let log = std::fs::read_to_string(home.path().join("rumid.log")).unwrap_or_default();
        assert_eq!(
            managed_containers(&home),
            0,
            "round {round}: no container outlives rumid: {}\n{}",
            String::from_utf8_lossy(&left.stdout),
            log.lines().rev().take(15).collect::<Vec<_>>().join("\n")
        );
    }
}
