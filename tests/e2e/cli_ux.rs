//! `rumi-ctl` as scripts and operators meet it: exit codes, JSON errors, closed pipes,
//! quiet and header-less lists, finding the instance and the home.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use rumi_tests::{Rumid, TestHome};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A URL where nothing listens: a port the kernel gave us, closed again.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// `rumi-ctl` with an environment of our own, no `--home`, run from `cwd`.
fn ctl_without_home(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(rumi_tests::bin("rumi-ctl"));
    cmd.env_clear().env("PATH", "/usr/bin:/bin").current_dir(cwd).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run rumi-ctl")
}

#[test]
fn ctl_exits_quietly_when_the_reader_of_stdout_is_gone() {
    let home = TestHome::with_packs(&["alpha", "beta"]);
    let _rumid = Rumid::start(&home);
    for args in [
        &["--json", "packs", "list"][..],
        &["packs", "list"],
        &["health"],
        &["completions", "bash"],
        &["man"],
    ] {
        // The read end is closed before rumi-ctl starts, so its first write fails with EPIPE
        // (as `rumi-ctl … | head -1` does once head has its line), whatever the timing.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(rumi_tests::bin("rumi-ctl"))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .arg("--home")
            .arg(home.path())
            .args(args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}: nothing to say about a closed pipe");
    }
}

#[test]
fn ctl_exit_codes_tell_failures_apart_and_json_errors_go_to_stdout() {
    let home = TestHome::with_packs(&["alpha"]);
    let _rumid = Rumid::start(&home);
    let code = |args: &[&str], env: &[(&str, &str)]| {
        let out = home.ctl(args, env);
        let err = stderr(&out);
        assert!(!err.contains("PackId("), "no Debug text: {err}");
        assert!(err.matches("(os error").count() <= 1, "each OS error said once: {err}");
        (out.status.code(), err)
    };

    assert_eq!(code(&["health"], &[]).0, Some(0));
    let out = home.ctl(&["-q", "health"], &[]);
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(0), String::new()),
        "-q: the code says it"
    );
    let (c, err) = code(&["packs", "approve", "missing"], &[]);
    assert_eq!(c, Some(5), "404: {err}");
    assert!(err.contains("RUMI-PACK-005") && err.contains("suggestion:"), "{err}");
    assert_eq!(code(&["stores", "create", "notes"], &[]).0, Some(0));
    assert_eq!(code(&["stores", "create", "notes"], &[]).0, Some(6), "409");
    let (c, err) = code(&["packs", "list"], &[("RUMI_TOKEN", "nope")]);
    assert_eq!(c, Some(4), "401: {err}");
    let (c, err) = code(&["packs", "list", "--url", &dead_url()], &[]);
    assert_eq!(c, Some(3), "unreachable: {err}");
    assert!(
        err.contains("connection refused") && err.contains("suggestion:"),
        "{err}"
    );
    assert!(!err.contains("os error 111): "), "no doubled OS error: {err}");
    let (c, err) = code(&["packs", "status", "x y"], &[]);
    assert_eq!(c, Some(1), "400 is a plain failure: {err}");
    assert!(err.contains("RUMI-PACK-001"), "the id reached rumid, encoded: {err}");
    assert_eq!(code(&["packs", "bogus"], &[]).0, Some(2), "usage");

    // No token: a home without a key. The OS error is said once, and no Debug text leaks.
    let empty = TestHome::new();
    let out = empty.ctl(&["packs", "list"], &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    assert!(err.contains(".hmac_key") && !err.contains("PackId("), "{err}");

    // With --json every error is one JSON object on stdout, and stderr stays empty.
    let json_err = |args: &[&str]| {
        let out = home.ctl(args, &[]);
        assert_eq!(stderr(&out), "", "{args:?}");
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&out)));
        assert_eq!(v["success"], false, "{v}");
        assert_eq!(v["exit_code"].as_i64(), out.status.code().map(i64::from), "{v}");
        v
    };
    let v = json_err(&["--json", "packs", "approve", "missing"]);
    assert_eq!(
        (v["kind"].as_str(), v["error_code"].as_str()),
        (Some("not_found"), Some("RUMI-PACK-005"))
    );
    assert_eq!(v["status"], 404);
    let v = json_err(&["--json", "packs", "list", "--url", &dead_url()]);
    assert_eq!(v["kind"], "unreachable");
    let v = json_err(&["--json", "packs", "bogus"]);
    assert_eq!(v["kind"], "usage");
    assert_eq!(v["exit_code"], 2);
    let out = empty.ctl(&["--json", "token"], &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "unauthorized", "{v}");
}

#[test]
fn ctl_lists_quietly_and_without_headers() {
    let home = TestHome::with_packs(&["alpha", "beta"]);
    home.write(
        "flows/tick.flow.yaml",
        "flow_id: tick\nschedule: {interval: 3600}\nsteps:\n  - {id: s, type: set, input: {key: k, value: v}}\n",
    );
    let _rumid = Rumid::start(&home);
    let ok = |args: &[&str]| {
        let out = home.ctl(args, &[]);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(ok(&["-q", "packs", "list"]), "alpha\nbeta\n");
    assert!(ok(&["--no-headers", "packs", "list"]).starts_with("alpha "));
    assert_eq!(ok(&["-q", "packs", "approve", "alpha"]), "", "-q: nothing on success");
    assert_eq!(ok(&["packs", "approve", "alpha"]).trim(), "alpha: approved");

    // Headers are single words (no SOURCE.KIND), timestamps short, schedules readable.
    let flows = ok(&["flows", "list"]);
    let header = flows.lines().next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["FLOW", "SOURCE", "PACK", "STEPS", "SCHEDULE"]
    );
    assert!(
        flows
            .lines()
            .any(|l| l.starts_with("tick") && l.ends_with("interval=3600")),
        "{flows}"
    );
    ok(&[
        "network",
        "grant",
        "alpha",
        "--domain",
        "api.example.com",
        "--port",
        "443",
    ]);
    let grants = ok(&["network", "list"]);
    let row = grants.lines().nth(1).unwrap();
    let updated = row.split_whitespace().rev().take(2).collect::<Vec<_>>();
    assert!(
        updated[1].len() == 10 && updated[0].len() == 8 && !row.contains('T') && !row.contains('Z'),
        "a short UTC time: {grants}"
    );
}

#[test]
fn ctl_finds_the_instance_again_after_rumid_stops_and_restarts() {
    let home = TestHome::with_packs(&["alpha"]);
    let rumid = Rumid::start(&home);
    let first = rumid.base.clone();
    assert!(home.ctl(&["packs", "list"], &[]).status.success());
    assert!(rumid.stop().success());

    // Stopped cleanly: the home records no address, so rumi-ctl says so (and does not try
    // the default port, where another home's instance might answer).
    let out = home.ctl(&["packs", "list"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("not running"), "{}", stderr(&out));

    let rumid = Rumid::start(&home);
    let out = home.ctl(&["packs", "list"], &[]);
    assert!(
        out.status.success(),
        "{} (was {first}, now {})",
        stderr(&out),
        rumid.base
    );
    assert!(stdout(&out).contains("alpha"));

    // Killed: the recorded address is stale until the next start.
    rumid.kill();
    let out = home.ctl(&["packs", "list"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("stale"), "{}", stderr(&out));
    let _rumid = Rumid::start(&home);
    assert!(home.ctl(&["packs", "list"], &[]).status.success());
}

#[test]
fn ctl_finds_the_home_of_the_packaged_install_without_home() {
    let home = TestHome::with_packs(&["alpha"]);
    let _rumid = Rumid::start(&home);
    let etc = TestHome::new();
    let env_file = etc.path().join("rumi.env");
    std::fs::write(
        &env_file,
        format!(
            "# Environment of the Rumi units\nRUMI_LOG_LEVEL=INFO\nRUMI_HOME={}\n",
            home.path().display()
        ),
    )
    .unwrap();
    let env_file = env_file.to_str().unwrap();
    // Run from a directory that is no home, with neither --home nor RUMI_HOME.
    let out = ctl_without_home(etc.path(), &["-q", "packs", "list"], &[("RUMI_ENV_FILE", env_file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "alpha\n");
    let out = ctl_without_home(etc.path(), &["token"], &[("RUMI_ENV_FILE", env_file)]);
    assert_eq!(stdout(&out).trim(), home.token());

    // RUMI_HOME (and --home) still win over the file.
    let other = TestHome::new();
    let out = ctl_without_home(
        etc.path(),
        &["packs", "list"],
        &[
            ("RUMI_ENV_FILE", env_file),
            ("RUMI_HOME", other.path().to_str().unwrap()),
        ],
    );
    assert_eq!(out.status.code(), Some(4), "no key in the other home: {}", stderr(&out));
    assert!(
        stderr(&out).contains(other.path().to_str().unwrap()),
        "{}",
        stderr(&out)
    );
}

/// `rumi-ctl image build` names the real cause of a failure before it spends minutes: not
/// root, a mirror it cannot download from (with the end of debootstrap's log), and it shows
/// debootstrap's progress as it goes.
#[test]
fn image_build_names_the_real_cause_of_a_failure() {
    let ctl = rumi_tests::bin("rumi-ctl");
    // Not root: said at once.
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(&ctl)
        .args(["image", "build", "--name", "rumi-test-never"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("needs root"), "{}", stderr(&out));
    if !nix::unistd::geteuid().is_root() || Command::new("debootstrap").arg("--version").output().is_err() {
        return;
    }
    // A mirror that does not answer: the cause, the log's last lines, and the phases so far.
    let out = Command::new(&ctl)
        .args(["image", "build", "--name", "rumi-test-never"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .env("RUMI_DEBIAN_MIRROR", "http://127.0.0.1:9/debian")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("cannot download from http://127.0.0.1:9/debian"), "{err}");
    assert!(
        err.contains("Failed getting release file"),
        "debootstrap's own words: {err}"
    );
    assert!(stdout(&out).contains("I: Retrieving"), "progress: {}", stdout(&out));
    assert!(err.contains("the cause is printed above"), "{err}");
}
