//! `rumi-ctl setup`'s menu, `setup run` and the web page (`setup --web`), end to end.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rumi_tests::{TestHome, bin, eventually, patience, sdk_dir};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A child killed (SIGKILL) and reaped on drop, so a failed test leaves no server behind.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_setup_menu_runs_each_choice_and_comes_back() {
    let home = TestHome::new();
    // Without a terminal and without --menu: the usage, exit 2, no waiting for input.
    let out = home.ctl_stdin(&["setup"], "1\n");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("Usage: rumi-ctl setup") && err.contains("--menu"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "no menu without a terminal: {}",
        text(&out.stdout)
    );

    // check, init, doctor, a bad choice, recover declined, recover confirmed, then quit.
    let out = home.ctl_stdin(&["setup", "--menu"], "1\ninit\n3\nreset\n4\nn\n4\ny\n\nq\n");
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for entry in ["1) check", "2) init", "3) doctor", "4) recover", "5) run", "6) quit"] {
        assert!(stdout.contains(entry), "{entry}: {stdout}");
    }
    let at = |needle: &str| {
        stdout
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing: {stdout}"))
    };
    // Each choice ran, in order, and the menu came back after each.
    assert!(
        at("== check") < at("== init") && at("== init") < at("== doctor"),
        "{stdout}"
    );
    assert!(at("== doctor") < at("recover skipped") && at("recover skipped") < at("== recover"));
    assert!(stdout.matches("choice: ").count() >= 8, "{stdout}");
    assert!(stdout.contains("created user_data/settings/.hmac_key"), "{stdout}");
    assert!(stderr.contains("\"reset\" is not a choice"), "{stderr}");
    assert!(home.path().join("user_data/settings/.hmac_key").is_file());
    assert!(home.path().join("ecosystem/hello").is_dir());

    // The end of input ends the menu as quit does.
    let out = home.ctl_stdin(&["setup", "--menu"], "check\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("== check"));
}

/// The environment of a rumid a test starts (its sockets inside the home, as the harness's).
fn rumid_env(home: &TestHome) -> Vec<(String, String)> {
    let p = |rel: &str| home.path().join(rel).display().to_string();
    vec![
        ("PATH".into(), "/usr/bin:/bin".into()),
        ("RUMI_LOG_FORMAT".into(), "text".into()),
        (
            "RUMI_DISK_DEGRADED_PERCENT".into(),
            rumi_tests::HOST_DISK_PERCENT.into(),
        ),
        ("RUMI_SDK_DIR".into(), sdk_dir().display().to_string()),
        ("RUMI_EGRESS_SOCK_DIR".into(), p("run/egress")),
        ("RUMI_EGRESSD_SOCKET".into(), p("run/egressd.sock")),
        ("RUMI_CAPABILITY_SOCK_DIR".into(), p("run/cap")),
        ("RUMI_CAPD_SOCKET".into(), p("run/capd.sock")),
        // No engine answers here, so `auto` must pick permissive.
        ("RUMI_DOCKER_SOCKET".into(), "/nonexistent/docker.sock".into()),
    ]
}

#[test]
fn setup_run_initialises_the_home_and_becomes_rumid() {
    let home = TestHome::new();
    let stdout_file = home.path().join("run.out");
    let stderr_file = home.path().join("run.err");
    let child = Command::new(bin("rumi-ctl"))
        .env_clear()
        .envs(rumid_env(&home))
        .arg("--home")
        .arg(home.path())
        .args(["setup", "run", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_file).unwrap())
        .stderr(std::fs::File::create(&stderr_file).unwrap())
        .spawn()
        .expect("run rumi-ctl setup run");
    let mut rumid = Guard(child);
    let logs = || {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            std::fs::read_to_string(&stdout_file).unwrap_or_default(),
            std::fs::read_to_string(&stderr_file).unwrap_or_default()
        )
    };
    let addr_file = home.path().join("user_data/run/api.addr");
    let addr = eventually("rumid started by setup run to bind", patience(), || {
        if let Ok(Some(status)) = rumid.0.try_wait() {
            panic!("setup run exited with {status}\n{}", logs());
        }
        std::fs::read_to_string(&addr_file)
            .ok()
            .filter(|s| s.ends_with('\n'))
            .map(|s| s.trim().to_owned())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut resp = agent.get(&format!("http://{addr}/health")).call().expect("GET /health");
    assert_eq!(resp.status().as_u16(), 200, "{}", logs());
    let health: serde_json::Value = resp.body_mut().read_json().unwrap();
    assert!(matches!(health["status"].as_str(), Some("UP" | "DEGRADED")), "{health}");

    let out = logs();
    let at = |needle: &str| out.find(needle).unwrap_or_else(|| panic!("{needle:?} missing: {out}"));
    assert!(at("== check") < at("== init") && at("== init") < at("== doctor") && at("== doctor") < at("== starting"));
    assert!(out.contains("--permissive") && out.contains("PERMISSIVE mode"), "{out}");
    assert!(
        out.contains("No Docker engine answers at /nonexistent/docker.sock"),
        "{out}"
    );
    assert!(home.path().join("user_data/settings/.hmac_key").is_file());

    // A second one for the same home is refused while the first serves (exit 6).
    let env = rumid_env(&home);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let second = home.ctl(&["setup", "run", "--port", "0"], &env);
    assert_eq!(second.status.code(), Some(6), "{}", text(&second.stderr));
    assert!(
        text(&second.stderr).contains("a rumid already serves"),
        "{}",
        text(&second.stderr)
    );

    // The process is rumid itself (exec), so SIGTERM stops it cleanly.
    let pid = nix::unistd::Pid::from_raw(i32::try_from(rumid.0.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = eventually("rumid to stop", patience(), || rumid.0.try_wait().ok().flatten())
        .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    assert!(status.success(), "{status}\n{}", logs());
}

/// One raw HTTP/1.1 request (so the test controls every header, Host included): the status
/// and the whole answer.
fn raw(addr: &str, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the setup page");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // The server may answer (and stop reading) before a refused request is all sent.
    let _ = s.write_all(request.as_bytes());
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer:?}"));
    (status, answer)
}

fn body(answer: &str) -> serde_json::Value {
    let json = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

/// Starts `rumi-ctl setup --web --port 0` on `home`; the server and its printed URL.
fn setup_web(home: &TestHome) -> (Guard, String) {
    let mut child = Command::new(bin("rumi-ctl"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("RUMI_DOCKER_SOCKET", "/nonexistent/docker.sock")
        .arg("--home")
        .arg(home.path())
        .args(["setup", "--web", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run rumi-ctl setup --web");
    let stdout = child.stdout.take().unwrap();
    let server = Guard(child);
    let url = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("open ").map(str::to_owned))
        .expect("the printed URL");
    (server, url)
}

#[test]
fn the_setup_page_needs_its_token_and_its_host_and_inits_the_home() {
    let home = TestHome::new();
    let (_server, url) = setup_web(&home);
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (addr, token) = rest.split_once("/#token=").expect("URL with the token in its fragment");
    assert!(addr.starts_with("127.0.0.1:"), "loopback by default: {url}");
    assert_eq!(token.len(), 64, "{token}");

    let get = |path: &str, extra: &str| raw(addr, &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}\r\n"));
    let auth = format!("X-Rumi-Setup-Token: {token}\r\n");
    let post = |path: &str, body: &str, extra: &str| {
        raw(
            addr,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
    };

    // The page, its script and style: no token needed (they hold no data), strict CSP.
    let (status, page) = get("/", "");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Content-Security-Policy: default-src 'none'; script-src 'self'"),
        "{page}"
    );
    assert!(page.contains("X-Content-Type-Options: nosniff") && page.contains("<script src=\"/app.js\""));
    assert_eq!(get("/app.js", "").0, 200);
    assert_eq!(get("/app.css", "").0, 200);

    // The API: no token, a wrong one, or one in the query string are all refused.
    assert_eq!(get("/api/check", "").0, 401);
    assert_eq!(
        get("/api/check", &format!("X-Rumi-Setup-Token: {}\r\n", "0".repeat(64))).0,
        401
    );
    assert_eq!(get(&format!("/api/check?token={token}"), "").0, 401);
    let (status, answer) = get("/api/check", &auth);
    assert_eq!(status, 200, "{answer}");
    let checks = body(&answer);
    assert!(
        checks["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["check"] == "layout")),
        "{checks}"
    );

    // A rebinding page's Host, and a foreign Origin, are refused even with the token.
    let (status, _) = raw(
        addr,
        &format!(
            "GET /api/check HTTP/1.1\r\nHost: evil.example:{}\r\n{auth}\r\n",
            &addr[10..]
        ),
    );
    assert_eq!(status, 403);
    assert_eq!(
        raw(addr, &format!("GET /api/check HTTP/1.1\r\n{auth}\r\n")).0,
        403,
        "no Host"
    );
    assert_eq!(
        get("/api/check", &format!("{auth}Origin: http://evil.example\r\n")).0,
        403
    );
    assert_eq!(get("/api/check", &format!("{auth}Origin: http://{addr}\r\n")).0, 200);

    // Actions are POST only; recover wants its confirmation; sizes are bounded.
    assert_eq!(get("/api/init", &auth).0, 405);
    assert_eq!(post("/api/check", "", &auth).0, 405);
    assert_eq!(post("/api/init", "{}", "").0, 401);
    assert_eq!(post("/api/recover", "{}", &auth).0, 400);
    assert_eq!(post("/api/init", "[1]", &auth).0, 400);
    let (status, _) = raw(
        addr,
        &format!("POST /api/init HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 1000000\r\n\r\n{{}}"),
    );
    assert_eq!(status, 413);
    let (status, _) = raw(
        addr,
        &format!(
            "GET /api/check HTTP/1.1\r\nHost: {addr}\r\nX-Big: {}\r\n\r\n",
            "a".repeat(40_000)
        ),
    );
    assert_eq!(status, 431);
    assert!(
        !home.path().join("user_data/settings/.hmac_key").exists(),
        "nothing was written yet"
    );

    // init through the page creates the home.
    let (status, answer) = post("/api/init", r#"{"example": true}"#, &auth);
    assert_eq!(status, 200, "{answer}");
    let done = body(&answer);
    assert_eq!(done["key_created"], true, "{done}");
    assert!(home.path().join("user_data/settings/.hmac_key").is_file());
    assert!(home.path().join("ecosystem/hello/ecosystem.json").is_file());
    assert!(!answer.contains(&home.token()), "the API token is never shown");

    // doctor and recover answer too.
    let (status, answer) = get("/api/doctor", &auth);
    assert_eq!(status, 200, "{answer}");
    assert!(
        body(&answer)["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["check"] == "instance"))
    );
    let (status, answer) = post("/api/recover", r#"{"confirm": true}"#, &auth);
    assert_eq!(status, 200, "{answer}");
    assert!(body(&answer)["repairs"].is_array(), "{answer}");
}

/// The page in a real browser, under its own CSP: the script runs, reads the token from the
/// fragment, asks doctor and shows its findings as rows.
#[test]
fn the_setup_page_shows_doctor_findings_in_a_browser() {
    let chromium = std::path::Path::new("/usr/bin/chromium");
    if !chromium.is_file() {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "SKIPPED the_setup_page_shows_doctor_findings_in_a_browser: no /usr/bin/chromium (apt-get install chromium)"
            );
        }
        return;
    }
    let home = TestHome::new();
    let (_server, url) = setup_web(&home);
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(&url)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("run chromium");
    let dom = text(&out.stdout);
    // The counts depend on this machine; that the script filled the summary does not.
    assert!(
        dom.contains("<p id=\"summary\"") && dom.contains(">doctor: ") && dom.contains(" warning(s)</p>"),
        "{dom}"
    );
    assert!(
        dom.contains("<td>layout</td>") && dom.contains("<td>instance</td>"),
        "{dom}"
    );
    assert!(dom.contains("Done: Doctor"), "{dom}");
}
