//! `GET /metrics` of a running rumid: base units, build info, helper and Docker gauges that
//! follow the present, and series that exist before the first event.

use std::fs;

use rumi_tests::{Rumid, TestHome, eventually, patience};

fn has(metrics: &str, line: &str) -> bool {
    metrics.lines().any(|l| l == line)
}

#[test]
fn metrics_start_at_zero_in_base_units_and_follow_helpers_and_docker() {
    // egressd cannot start (its binary is missing from the helper directory), capd can; the
    // Docker socket does not exist yet.
    let home = TestHome::new();
    let helpers = home.path().join("helpers");
    fs::create_dir(&helpers).unwrap();
    fs::copy(rumi_tests::bin("rumi-capd"), helpers.join("rumi-capd")).unwrap();
    let docker = home.path().join("docker.sock");
    let rumid = Rumid::builder(&home)
        .env("RUMI_HELPER_BIN_DIR", helpers.to_str().unwrap())
        .env("RUMI_DOCKER_SOCKET", docker.to_str().unwrap())
        .spawn_unchecked()
        .unwrap();

    let text = eventually("capd up in the metrics", patience(), || {
        let t = rumid.metrics_text();
        has(&t, r#"rumi_helper_up{helper="capd"} 1"#).then_some(t)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", rumid.metrics_text()));
    for line in [
        r#"rumi_helper_up{helper="egressd"} 0"#,
        &format!(r#"rumi_build_info{{version="{}"}} 1"#, env!("CARGO_PKG_VERSION")),
        "rumi_docker_available 0",
        r#"rumi_flow_step_error_total{handler="python_file_call"} 0"#,
        r#"rumi_flow_step_success_total{handler="python_file_call"} 0"#,
        "rumi_container_start_failed_total 0",
        "rumi_python_file_call_duration_seconds_count 0",
        "rumi_sandbox_spare_start_seconds_count 0",
    ] {
        assert!(has(&text, line), "{line} missing from:\n{text}");
    }
    assert!(
        !text.lines().any(|l| !l.starts_with('#') && l.contains("_ms")),
        "a metric in milliseconds:\n{text}"
    );

    // The engine appears after start: the gauge follows at the next scrape (once the
    // backend's cached answer expires), no restart needed.
    if rumi_tests::docker_or_skip("metrics_start_at_zero_in_base_units_and_follow_helpers_and_docker") {
        std::os::unix::fs::symlink("/var/run/docker.sock", &docker).unwrap();
        eventually("rumi_docker_available 1", patience(), || {
            has(&rumid.metrics_text(), "rumi_docker_available 1").then_some(())
        })
        .unwrap();
    }
}
