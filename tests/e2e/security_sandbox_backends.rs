//! The same hostile pack against every sandbox backend: Docker with runc, Docker with gVisor
//! (`runsc`), Podman's Docker-compatible API, and the bubblewrap host runner. Each backend
//! must give the same outcomes; where one cannot (documented in the operator guide), the
//! test asserts the documented weaker outcome instead.
//!
//! A backend missing on this machine skips loudly; with `RUMI_TEST_REQUIRE_BACKENDS=1` (CI)
//! it fails instead.

use std::process::Command;

use rumi_tests::upstream::Upstream;
use rumi_tests::{Rumid, TestHome, patience};
use serde_json::{Value, json};

/// The hostile block: every probe one call, so a backend is checked in a few runs.
const PROBE: &str = r##"
import ctypes, os, socket, subprocess, time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except BaseException as e:
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}

def syscall(nr, *args):
    """The raw call: {"ok": true} when the kernel (or gVisor) let it through."""
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    err = ctypes.get_errno()
    return {"ok": r >= 0, "errno": 0 if r >= 0 else err}

def write(path):
    with open(path, "w") as f:
        f.write("x")
    return path

def run(data, context):
    case = data["case"]
    if case == "probe":
        x86 = os.uname().machine == "x86_64"
        calls = {}
        if x86:
            # Numbers of x86_64: ptrace 101 (PTRACE_ATTACH=16 to pid 1), mount 165,
            # unshare 272 (CLONE_NEWUSER), keyctl 250 (KEYCTL_JOIN_SESSION_KEYRING=1),
            # setns 308, bpf 321, perf_event_open 298, kexec_load 246, kexec_file_load 320,
            # init_module 175, finit_module 313, delete_module 176.
            calls = {
                "ptrace": syscall(101, 16, 1, 0, 0),
                "mount": syscall(165, 0, 0, 0, 0, 0),
                "unshare": syscall(272, 0x10000000),
                "keyctl": syscall(250, 1, 0),
                "setns": syscall(308, 0, 0),
                "bpf": syscall(321, 0, 0, 0),
                "perf_event_open": syscall(298, 0, 0, -1, -1, 0),
                "kexec_load": syscall(246, 0, 0, 0, 0),
                "kexec_file_load": syscall(320, -1, -1, 0, 0, 0),
                "init_module": syscall(175, 0, 0, 0),
                "finit_module": syscall(313, -1, 0, 0),
                "delete_module": syscall(176, 0, 0),
            }
        return {
            "whoami": {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
                       "caps": open("/proc/self/status").read().split("CapEff:")[1].split()[0]},
            "write_root": attempt(lambda: write("/etc/pwned")),
            "write_usr": attempt(lambda: write("/usr/pwned")),
            "write_pack": attempt(lambda: write("/pack/pwned")),
            "write_tmp": attempt(lambda: write("/tmp/fine")),
            "host_key": attempt(lambda: open(data["host_key"], "rb").read()),
            "host_home": attempt(lambda: os.listdir(data["home"])),
            "shadow": attempt(lambda: open("/etc/shadow").read()),
            "other_socket": attempt(lambda: socket.socket(socket.AF_UNIX).connect(data["other_socket"])),
            "listing": attempt(lambda: sorted(os.listdir("/run/rumi"))),
            "tcp_internet": attempt(lambda: socket.create_connection(("1.1.1.1", 80), timeout=2).close()),
            "tcp_host_loopback": attempt(lambda: socket.create_connection(("127.0.0.1", data["port"]), timeout=2).close()),
            "dns": attempt(lambda: socket.getaddrinfo("example.com", 80)),
            "exec_tmp": attempt(lambda: (open("/tmp/t.sh", "w").write("#!/bin/sh\necho ran\n"),
                                         os.chmod("/tmp/t.sh", 0o755),
                                         subprocess.run(["/tmp/t.sh"], capture_output=True).stdout.decode())[2]),
            "calls": calls,
        }
    if case == "egress":
        import rumi_syscall
        r = rumi_syscall.get(data["url"])
        return {"status": r.get("status_code"), "body": r.get("body"), "error": r.get("error_type")}
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
        # Past the result's 4 MiB limit, however short each write is.
        chunk, sent = b"x" * 65536, 0
        while sent < 10 * 1024 * 1024:
            sent += os.write(1, chunk)
        return None
    if case == "sleep":
        # A block that never finishes, with a child that would outlive it.
        subprocess.Popen(["sleep", "600"])
        time.sleep(600)
    return None
"##;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Runc,
    Runsc,
    Podman,
    Bwrap,
}

const PODMAN_SOCKET: &str = "/run/podman/podman.sock";

fn required() -> bool {
    #[allow(clippy::disallowed_methods)] // the harness's CI switch
    let v = std::env::var("RUMI_TEST_REQUIRE_BACKENDS").is_ok_and(|v| v == "1");
    v
}

/// Whether the backend can be tested here; a loud skip (or, in CI, a failure) if not.
fn available(b: Backend) -> bool {
    let ok = match b {
        Backend::Runc | Backend::Runsc => {
            let out = Command::new("docker")
                .args(["info", "--format", "{{json .Runtimes}}"])
                .output();
            match out {
                Ok(o) if o.status.success() => {
                    b == Backend::Runc || String::from_utf8_lossy(&o.stdout).contains("runsc")
                }
                _ => false,
            }
        }
        Backend::Podman => Command::new("curl")
            .args(["-sf", "--unix-socket", PODMAN_SOCKET, "http://d/version"])
            .output()
            .is_ok_and(|o| o.status.success()),
        Backend::Bwrap => Command::new("bwrap")
            .args(["--ro-bind", "/", "/", "true"])
            .status()
            .is_ok_and(|s| s.success()),
    };
    if !ok {
        let what = match b {
            Backend::Runc => "a Docker engine",
            Backend::Runsc => "Docker with the runsc runtime registered (see the operator guide, gVisor)",
            Backend::Podman => "podman system service on /run/podman/podman.sock",
            Backend::Bwrap => "bubblewrap",
        };
        assert!(
            !required(),
            "{b:?}: {what} is required (RUMI_TEST_REQUIRE_BACKENDS=1) but missing"
        );
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "\n!!! SKIPPING the {b:?} backend: no {what} (RUMI_TEST_REQUIRE_BACKENDS=1 makes this a failure) !!!\n"
            );
        }
    }
    ok
}

fn start(b: Backend, home: &TestHome) -> Rumid {
    // A pack uid range per backend: "nothing of the run left" looks at every process of the
    // pack's uid on the host, and other tests' spare containers run as the default range's
    // first uid.
    let range = match b {
        Backend::Runc => "230000-230999",
        Backend::Runsc => "231000-231999",
        Backend::Podman => "232000-232999",
        Backend::Bwrap => "233000-233999",
    };
    let builder = Rumid::builder(home)
        .env("RUMI_EGRESS_ALLOW_CIDRS", "127.0.0.1/32")
        .env("RUMI_PACK_UID_RANGE", range);
    let builder = match b {
        Backend::Runc => builder.strict(),
        Backend::Runsc => builder.strict().env("RUMI_DOCKER_RUNTIME", "runsc"),
        Backend::Podman => builder.strict().env("RUMI_DOCKER_SOCKET", PODMAN_SOCKET),
        Backend::Bwrap => builder.env("RUMI_HOST_ISOLATION", "bwrap"),
    };
    builder.spawn().unwrap()
}

fn pack_uid(home: &TestHome, pack: &str) -> u64 {
    let table: Value =
        serde_json::from_slice(&std::fs::read(home.path().join("user_data/settings/pack_uids.json")).unwrap()).unwrap();
    table["uids"][pack].as_u64().unwrap()
}

/// Processes left of a uid on the host (none may survive a run).
fn processes_of(uid: u64) -> Vec<String> {
    let out = Command::new("ps")
        .args(["-o", "pid=,args=", "-u", &uid.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn hostile_pack_is_contained(b: Backend) {
    let up = Upstream::start();
    let home = TestHome::new();
    for p in ["box", "other"] {
        home.add_pack(p);
    }
    home.write("ecosystem/box/backend/blocks/probe.py", PROBE);
    for (id, timeout) in [("probe", 60), ("slow", 3)] {
        home.write(
            &format!("flows/{id}.flow.yaml"),
            &format!("flow_id: {id}\ndefaults: {{fail_soft: false}}\nsteps:\n  - {{id: s, type: python_file_call, owner_pack: box, file: probe.py, input: \"$ctx.inputs\", output: out, timeout_seconds: {timeout}}}\n"),
        );
    }
    let rumid = start(b, &home);
    for p in ["box", "other"] {
        assert_eq!(rumid.post(&format!("/api/packs/{p}/approve"), None).status, 200);
    }
    rumid.approve_and_grant("box", &["127.0.0.1"], &[up.addr.port()]);
    rumid.wait_policy_applied();
    let run = |inputs: Value| rumid.run_flow("probe", inputs, 120.0);
    let out = |inputs: Value| {
        let r = run(inputs.clone());
        assert_eq!(r.status, 200, "{b:?} {inputs}: {:?}", r.body);
        r.body["result"]["out"].clone()
    };

    // Its own egress socket works (the positive control): the upstream answers through it.
    let e = rumi_tests::eventually("the egress socket", patience(), || {
        let e = out(json!({"case": "egress", "url": up.url("/ok")}));
        (e["status"] == 200).then_some(e)
    })
    .unwrap();
    assert_eq!(e["body"], "hello", "{b:?}: {e}");

    let p = out(json!({
        "case": "probe",
        "host_key": home.path().join("user_data/settings/.hmac_key"),
        "home": home.path(),
        "other_socket": rumid.egress_socket(&home, "other"),
        "port": up.addr.port(),
    }));
    let failed = |k: &str| assert_eq!(p[k]["ok"], false, "{b:?}: {k} must fail: {}", p[k]);
    // The file system: nothing but /tmp is writable, the host's files are not there.
    for k in [
        "write_root",
        "write_usr",
        "write_pack",
        "host_key",
        "host_home",
        "shadow",
    ] {
        failed(k);
    }
    assert_eq!(p["write_tmp"]["ok"], true, "{b:?}: {}", p["write_tmp"]);
    // No network at all, not even the host's loopback; only its own two sockets.
    for k in ["tcp_internet", "tcp_host_loopback", "dns", "other_socket"] {
        failed(k);
    }
    assert_eq!(
        p["listing"]["value"],
        json!(["capability.sock", "egress.sock"]),
        "{b:?}: only its own sockets: {}",
        p["listing"]
    );
    // Its own uid, no capability.
    let uid = pack_uid(&home, "box");
    assert_eq!(p["whoami"]["uid"], uid, "{b:?}: {}", p["whoami"]);
    assert_eq!(p["whoami"]["euid"], uid, "{b:?}: {}", p["whoami"]);
    assert_eq!(p["whoami"]["caps"], "0000000000000000", "{b:?}: {}", p["whoami"]);
    // Programs in /tmp: containers mount it noexec; bubblewrap cannot (documented), but
    // what runs there has the pack's uid and no privilege.
    match b {
        Backend::Bwrap => assert_eq!(p["exec_tmp"]["ok"], true, "{b:?}: {}", p["exec_tmp"]),
        _ => failed("exec_tmp"),
    }
    // The escape system calls are refused (EPERM; gVisor implements its own kernel and
    // answers some of them itself, never granting one).
    if cfg!(target_arch = "x86_64") {
        assert_eq!(
            p["calls"].as_object().map_or(0, serde_json::Map::len),
            12,
            "{b:?}: every escape call probed: {}",
            p["calls"]
        );
    }
    if let Some(calls) = p["calls"].as_object() {
        for (name, r) in calls {
            assert_eq!(r["ok"], false, "{b:?}: {name} must be refused: {r}");
        }
        // These two succeed for any unprivileged process without a filter (a new user
        // namespace, a keyring of its own): EPERM shows the filter itself refused them.
        if b != Backend::Runsc {
            for name in ["unshare", "keyctl"] {
                assert_eq!(
                    calls[name]["errno"], 1,
                    "{b:?}: {name} refused by seccomp: {}",
                    calls[name]
                );
            }
        }
    }

    // Fork bomb: bounded by the pids limit (containers) or the pack uid's process limit.
    // Under gVisor's ptrace platform every process of the sandbox is a host process of the
    // sandbox itself, so the pids limit stops the whole sandbox instead (documented): the
    // run fails, nothing else is touched.
    let r = run(json!({"case": "fork"}));
    if b == Backend::Runsc && r.status != 200 {
        assert!(
            r.body.to_string().contains("container_execution_error"),
            "{b:?}: {:?}",
            r.body
        );
    } else {
        assert_eq!(r.status, 200, "{b:?}: {:?}", r.body);
        let f = &r.body["result"]["out"];
        assert!(f["forked"].as_u64().unwrap() < 100, "{b:?}: {f}");
    }

    // Memory bomb, huge stdout: refused.
    let r = run(json!({"case": "memory"}));
    assert_eq!(r.status, 500, "{b:?}: {:?}", r.body);
    assert!(
        r.body.to_string().contains("container_execution_error"),
        "{b:?}: {:?}",
        r.body
    );
    let r = run(json!({"case": "stdout"}));
    assert!(r.body.to_string().contains("response_too_large"), "{b:?}: {:?}", r.body);

    // A block that never exits: timed out, and nothing of it survives (not even the child
    // it started).
    let r = rumid.run_flow("slow", json!({"case": "sleep"}), 60.0);
    assert!(r.body.to_string().contains("timeout"), "{b:?}: {:?}", r.body);
    rumi_tests::eventually("nothing of the run left", patience(), || {
        let busy = rumid.get("/api/containers").body["data"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["spare"] != true)
            .count();
        let procs = processes_of(uid);
        (busy == 0 && (b != Backend::Bwrap || procs.is_empty())).then_some(())
    })
    .unwrap_or_else(|e| {
        panic!(
            "{b:?}: {e}; processes of {uid}: {:?}; containers: {}",
            processes_of(uid),
            rumid.get("/api/containers").body["data"]
        )
    });

    // Every run says where it ran.
    let mode = match b {
        Backend::Runsc => "container_gvisor",
        Backend::Bwrap => "host_bwrap",
        _ => "container",
    };
    let calls = home.audit_actions("python_file_call", "python_file_call");
    assert!(calls.iter().all(|c| c["execution_mode"] == mode), "{b:?}: {calls:?}");
    drop(rumid);
}

#[test]
fn a_hostile_pack_is_contained_by_docker_with_runc() {
    if available(Backend::Runc) {
        hostile_pack_is_contained(Backend::Runc);
    }
}

#[test]
fn a_hostile_pack_is_contained_by_docker_with_gvisor() {
    if available(Backend::Runsc) {
        hostile_pack_is_contained(Backend::Runsc);
    }
}

#[test]
fn a_hostile_pack_is_contained_by_podman() {
    if available(Backend::Podman) {
        hostile_pack_is_contained(Backend::Podman);
    }
}

#[test]
fn a_hostile_pack_is_contained_by_bubblewrap_on_the_host() {
    if available(Backend::Bwrap) {
        hostile_pack_is_contained(Backend::Bwrap);
    }
}

/// Without bubblewrap nothing isolates a host run: `auto` then runs unisolated, and says so
/// at start, in `/api/health` (DEGRADED), in `setup doctor` and in every audit line;
/// `bwrap` refuses to run anything instead.
#[test]
fn host_runs_are_never_silently_unisolated() {
    let home = TestHome::new();
    home.add_pack("box");
    home.write(
        "flows/main.flow.yaml",
        "flow_id: main\ndefaults: {fail_soft: false}\nsteps:\n  - {id: s, type: python_file_call, owner_pack: box, file: main.py, output: out}\n",
    );
    // No bubblewrap here (a binary that does not exist): auto falls back, loudly.
    let rumid = Rumid::builder(&home)
        .env("RUMI_BWRAP", "/nonexistent/bwrap")
        .spawn()
        .unwrap();
    assert_eq!(rumid.post("/api/packs/box/approve", None).status, 200);
    let r = rumid.run_flow("main", json!({}), 30.0);
    assert_eq!(r.body["result"]["out"], json!({"pack": "box"}), "{:?}", r.body);
    let calls = home.audit_actions("python_file_call", "python_file_call");
    assert_eq!(calls[0]["execution_mode"], "host_unisolated");
    assert!(rumid.log_text().contains("WITHOUT ANY ISOLATION"), "start-up warning");
    let health = rumid.get("/api/health").body["data"].clone();
    assert_eq!(health["status"], "DEGRADED", "{health}");
    assert_eq!(health["probes"]["sandbox"]["status"], "DEGRADED", "{health}");
    assert!(
        health["probes"]["sandbox"]["message"]
            .as_str()
            .unwrap()
            .contains("WITHOUT ANY ISOLATION")
    );
    assert_eq!(health["sandbox"]["isolated"], false);
    let doctor = home.ctl(&["setup", "doctor"], &[]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("error") && l.contains("sandbox") && l.contains("WITHOUT ANY ISOLATION")),
        "{text}"
    );
    drop(rumid);

    // bwrap required but unusable: runs fail, nothing runs unisolated.
    let rumid = Rumid::builder(&home)
        .env("RUMI_HOST_ISOLATION", "bwrap")
        .env("RUMI_BWRAP", "/nonexistent/bwrap")
        .spawn()
        .unwrap();
    let r = rumid.run_flow("main", json!({}), 30.0);
    assert_ne!(r.status, 200, "{:?}", r.body);
    assert!(r.body.to_string().contains("sandbox_error"), "{:?}", r.body);
    let calls = home.audit_actions("python_file_call", "python_file_call");
    assert_eq!(calls.len(), 2, "one more call, refused: {calls:?}");
    assert_eq!(calls[1]["success"], false, "{calls:?}");
    assert_ne!(calls[1]["execution_mode"], "host_unisolated");

    // And with bubblewrap available, auto isolates and health is UP.
    if available(Backend::Bwrap) {
        drop(rumid);
        let rumid = Rumid::builder(&home).spawn().unwrap();
        let health = rumid.get("/api/health").body["data"].clone();
        assert_eq!(health["probes"]["sandbox"]["status"], "UP", "{health}");
        assert_eq!(health["sandbox"]["execution_mode"], "host_bwrap", "{health}");
    }
}
