//! `rumi-ctl` against a real rumid.

use std::os::unix::fs::PermissionsExt as _;

use rumi_tests::{Rumid, TestHome};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn ctl_drives_the_approval_life_cycle() {
    let home = TestHome::with_packs(&["alpha", "beta"]);
    let rumid = Rumid::start(&home);

    let out = home.ctl(&["token"], &[]);
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), rumid.token);

    let out = home.ctl(&["packs", "list"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    assert!(text.starts_with("PACK"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("alpha") && l.contains("pending")),
        "{text}"
    );

    let out = home.ctl(&["packs", "approve", "alpha"], &[]);
    assert!(out.status.success());
    assert_eq!(stdout(&out).trim(), "alpha: approved");
    let out = home.ctl(&["packs", "reject", "beta", "--reason", "not reviewed"], &[]);
    assert!(out.status.success());
    assert_eq!(rumid.pack_state("beta"), "blocked");

    let out = home.ctl(&["--json", "packs", "pending"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["count"], 0);

    let out = home.ctl(&["--json", "packs", "status", "alpha"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "approved");

    // Errors show the code and the suggestion, and exit 5 for a 404.
    let out = home.ctl(&["packs", "approve", "missing"], &[]);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RUMI-PACK-005") && err.contains("suggestion:"), "{err}");

    // A wrong RUMI_TOKEN is refused (exit 4).
    let out = home.ctl(&["packs", "list"], &[("RUMI_TOKEN", "nope")]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RUMI-AUTH-001"));

    let out = home.ctl(&["packs", "uninstall", "beta"], &[]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("user_data/backups/packs/beta-"));

    let out = home.ctl(&["health"], &[]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("status: UP"), "{}", stdout(&out));
}

#[test]
fn ctl_covers_network_capability_secrets_and_stores() {
    let home = TestHome::with_packs(&["alpha"]);
    let rumid = Rumid::start(&home);
    let ok = |args: &[&str]| {
        let out = home.ctl(args, &[]);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out)
    };
    ok(&["packs", "approve", "alpha"]);
    ok(&[
        "network",
        "grant",
        "alpha",
        "--domain",
        "api.example.com",
        "--domain",
        "*.cdn.net",
        "--port",
        "443",
    ]);
    let list = ok(&["network", "list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("alpha") && l.contains("api.example.com,*.cdn.net") && l.contains("443")),
        "{list}"
    );
    assert_eq!(
        ok(&["network", "check", "alpha", "x.cdn.net", "443"]).trim(),
        "allowed: granted"
    );
    assert!(ok(&["network", "check", "alpha", "evil.com", "443"]).starts_with("denied"));
    ok(&["network", "revoke", "alpha", "--reason", "done"]);

    // The secret value goes in on stdin and never onto the command line.
    let out = home.ctl_stdin(&["secrets", "set", "API_KEY"], "s3cr3t-value\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let keys = ok(&["--json", "secrets", "list"]);
    let v: serde_json::Value = serde_json::from_str(&keys).unwrap();
    assert_eq!(v["keys"][0]["key"], "API_KEY");
    assert!(!keys.contains("s3cr3t-value"));
    rumid.grant_capability("alpha", "secrets.get", serde_json::json!({"allowed_keys": ["API_KEY"]}));
    let sock = rumid.capability_socket(&home, "alpha");
    rumi_tests::wait_socket(&sock).unwrap();
    let r = rumi_tests::frame_call(
        &sock,
        &serde_json::json!({"permission_id": "secrets.get", "args": {"key": "API_KEY"}}),
    )
    .unwrap();
    assert_eq!(
        r["output"]["value"], "s3cr3t-value",
        "exactly the stdin value, without the newline"
    );

    ok(&["stores", "create", "notes", "--owner", "alpha"]);
    assert!(
        ok(&["stores", "list"])
            .lines()
            .any(|l| l.starts_with("notes") && l.contains("alpha"))
    );
    ok(&[
        "capability",
        "grant",
        "alpha",
        "store.get",
        "--config",
        r#"{"allowed_store_ids":["notes"]}"#,
    ]);
    let grants = ok(&["capability", "grants", "--principal", "alpha"]);
    assert!(
        grants.contains("store.get") && grants.contains("secrets.get"),
        "{grants}"
    );
    ok(&["capability", "revoke", "alpha", "store.get"]);
    let out = home.ctl(
        &["capability", "grant", "alpha", "store.get", "--config", "not json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let out = home.ctl(&["capability", "approve", "no:such:key:x"], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("RUMI-CAP-001"));
    assert_eq!(out.status.code(), Some(5), "not found");
    let out = home.ctl(&["capability", "revoke", "alpha", "never.granted"], &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("RUMI-CAP-004"), "{out:?}");
    ok(&["stores", "share-approve", "notes", "alpha", "beta"]);
    assert!(ok(&["stores", "shared"]).contains("approved"));
}

#[test]
fn ctl_runs_flows_and_reports_docker() {
    let home = TestHome::new();
    home.write(
        "flows/greet.flow.yaml",
        "flow_id: greet\nsteps:\n  - {id: s, type: set, input: {key: msg, value: \"hi ${ctx.name}\"}}\n",
    );
    home.write("flows/broken.flow.yaml", "flow_id: [nope\n");
    let _rumid = Rumid::start(&home);
    let out = home.ctl(&["flows", "list"], &[]);
    assert!(out.status.success());
    assert!(stdout(&out).lines().any(|l| l.starts_with("greet")), "{}", stdout(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.flow.yaml"));
    let out = home.ctl(
        &[
            "flows",
            "run",
            "greet",
            "--inputs",
            r#"{"name":"ctl"}"#,
            "--timeout",
            "10",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["msg"], "hi ctl");
    let out = home.ctl(&["flows", "run", "missing"], &[]);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RUMI-FLOW-001"));
    let out = home.ctl(&["--json", "docker", "status"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["available"].is_boolean());
    assert_eq!(v["image"], "rumi-runtime:bookworm");
}

#[test]
fn ctl_prints_completions_and_a_man_page() {
    let home = TestHome::new();
    let out = home.ctl(&["completions", "bash"], &[]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("_rumi__ctl") && text.contains("packs") && text.contains("network"),
        "{}",
        &text[..200.min(text.len())]
    );
    let out = home.ctl(&["man"], &[]);
    assert!(out.status.success());
    assert!(stdout(&out).contains(".TH rumi-ctl"));
}

#[test]
fn setup_check_reports_problems_with_their_fixes() {
    let home = TestHome::new();
    let level = |out: &std::process::Output, check: &str| -> String {
        let all: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json findings");
        all.as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == check)
            .map(|f| f["level"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let out = home.ctl(&["--json", "setup", "check"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(level(&out, "hmac_key"), "warning", "no key before the first start");
    assert_eq!(level(&out, "python"), "ok");

    drop(Rumid::start(&home));
    let out = home.ctl(&["--json", "setup", "check"], &[]);
    assert_eq!(level(&out, "hmac_key"), "ok");
    assert_eq!(level(&out, "layout"), "ok");

    let key = home.path().join("user_data/settings/.hmac_key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = home.ctl(&["setup", "check"], &[]);
    assert_eq!(out.status.code(), Some(1), "an error exits 1");
    let text = stdout(&out);
    assert!(
        text.contains("others can read the key") && text.contains("fix: chmod 600"),
        "{text}"
    );
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o644,
        "check is read-only"
    );
}

#[test]
fn setup_init_doctor_and_recover_make_and_mend_a_home_without_losing_data() {
    let home = TestHome::new();
    let findings = |out: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("json: {}", stdout(out)))
    };
    let level = |all: &serde_json::Value, check: &str| -> String {
        all.as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == check)
            .map(|f| f["level"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    };

    // init: layout, key, example pack; a second init changes nothing.
    let out = home.ctl(&["--json", "setup", "init"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let done = findings(&out);
    assert_eq!(done["key_created"], true);
    let key = home.path().join("user_data/settings/.hmac_key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let key_before = std::fs::read(&key).unwrap();
    assert!(home.path().join("ecosystem/hello/ecosystem.json").is_file());
    let again = findings(&home.ctl(&["--json", "setup", "init"], &[]));
    assert_eq!(again["key_created"], false);
    assert_eq!(again["created_dirs"], serde_json::json!([]));
    assert_eq!(std::fs::read(&key).unwrap(), key_before, "the key is never replaced");

    // The home runs: rumid accepts it, the example validates and runs once approved.
    let rumid = Rumid::start(&home);
    assert_eq!(rumid.post("/api/packs/hello/approve", None).status, 200);
    let r = rumi_tests::eventually("the example flow", rumi_tests::patience(), || {
        let r = rumid.run_flow("hello.hello", serde_json::json!({"name": "init"}), 30.0);
        (r.status == 200).then_some(r)
    })
    .unwrap();
    assert!(r.body["result"].to_string().contains("init"), "{:?}", r.body);

    // doctor: sees the running instance and its helpers.
    rumid.wait_helpers_up().unwrap();
    let all = findings(&home.ctl(&["--json", "setup", "doctor"], &[]));
    assert_eq!(level(&all, "instance"), "ok", "{all}");
    assert_eq!(level(&all, "helper"), "ok", "{all}");
    assert_eq!(level(&all, "pending_export"), "ok", "{all}");

    // Break things recover can mend: loose modes, a broken export, a leftover temp file.
    let settings = home.path().join("user_data/settings");
    std::fs::set_permissions(&settings, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let export = home.path().join("user_data/pending/summary.json");
    std::fs::write(&export, "{ torn").unwrap();
    std::fs::write(settings.join(".tmpAbC123"), "half a write").unwrap();
    let all = findings(&home.ctl(&["--json", "setup", "doctor"], &[]));
    assert_eq!(level(&all, "modes"), "error", "{all}");
    assert_eq!(level(&all, "pending_export"), "error", "{all}");
    assert_eq!(level(&all, "leftovers"), "warning", "{all}");
    assert_eq!(level(&all, "hmac_key"), "error", "{all}");

    let out = home.ctl(&["setup", "recover"], &[]);
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::metadata(&settings).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!settings.join(".tmpAbC123").exists());
    let rebuilt: serde_json::Value = serde_json::from_slice(&std::fs::read(&export).unwrap()).expect("export rebuilt");
    assert!(rebuilt["packs"].is_object(), "{rebuilt}");
    assert_eq!(
        std::fs::read(&key).unwrap(),
        key_before,
        "recover never touches the key's content"
    );
    let all = findings(&home.ctl(&["--json", "setup", "doctor"], &[]));
    for check in ["modes", "pending_export", "hmac_key"] {
        assert_eq!(level(&all, check), "ok", "{check}: {all}");
    }

    // Restore the last backup of an uninstalled pack; the current copy is kept too.
    assert_eq!(rumid.delete("/api/packs/hello").status, 200);
    assert!(!home.path().join("ecosystem/hello").exists());
    let out = home.ctl(&["setup", "recover", "--restore-pack", "hello"], &[]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("restored hello"), "{}", stdout(&out));
    assert!(home.path().join("ecosystem/hello/ecosystem.json").is_file());
    let out = home.ctl(&["setup", "recover", "--restore-pack", "ghost"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("no backup of ghost"), "{}", stdout(&out));
}

/// `setup check` says whether a rootless engine could run as rumid's user (the home's owner),
/// and when it cannot, why, from this host's own `/etc/subuid`, `/etc/subgid`, `newuidmap`
/// and user-namespace settings.
#[test]
fn setup_check_says_why_a_rootless_engine_cannot_run_as_the_homes_owner() {
    let home = TestHome::new();
    let rootless = |env: &[(&str, &str)]| -> serde_json::Value {
        let out = home.ctl(&["--json", "setup", "check"], env);
        let all: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json findings");
        all.as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == "rootless")
            .cloned()
            .unwrap_or_else(|| panic!("no rootless finding: {all}"))
    };
    let no_engine = [("RUMI_DOCKER_SOCKET", "/nonexistent/docker.sock")];

    // A home of root's: rumid runs as root, nothing to check.
    let f = rootless(&no_engine);
    assert_eq!(f["level"], "ok", "{f}");
    assert!(f["message"].as_str().unwrap().contains("belongs to root"), "{f}");

    // A home of nobody's: what this host lacks for a rootless engine as nobody, with fixes.
    std::os::unix::fs::chown(home.path(), Some(65534), Some(65534)).unwrap();
    let granted = |file: &str| {
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() == 3 && (f[0] == "nobody" || f[0] == "65534")).then(|| f[2].parse::<u64>().unwrap_or(0))
            })
            .sum::<u64>()
    };
    let f = rootless(&no_engine);
    let message = f["message"].as_str().unwrap();
    if granted("/etc/subuid") < 65534 {
        assert_eq!(f["level"], "warning", "no engine answers: a gap is a warning: {f}");
        assert!(
            message.contains("cannot run as nobody") && message.contains("/etc/subuid grants nobody"),
            "{f}"
        );
        let fix = f["fix"].as_str().unwrap();
        assert!(fix.contains("usermod --add-subuids ") && fix.contains(" nobody"), "{f}");
        // Beside a rootful engine that answers, the same gap is said for information only.
        if rumi_tests::docker_or_skip("the rootless check beside a rootful engine") {
            let f = rootless(&[("RUMI_DOCKER_SOCKET", "/var/run/docker.sock")]);
            assert_eq!(f["level"], "ok", "{f}");
            assert!(f["message"].as_str().unwrap().contains("not in use"), "{f}");
        }
    } else {
        assert!(
            !message.contains("/etc/subuid"),
            "nobody has subordinate uids here: {f}"
        );
    }
}
