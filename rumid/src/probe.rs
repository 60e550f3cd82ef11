//! `rumid --health`: asks the running instance, or probes this host when none answers.
//!
//! The instance is found through `user_data/run/api.addr` (written at bind), else the
//! configured address. When it does not answer, the local probes (disk, writable `/tmp`)
//! run and an `instance` probe reports DOWN, so the result is never UP for a stopped rumid.

use std::time::Duration;

use serde_json::{Value, json};

use crate::config::Config;
use crate::health::{self, Status};

/// How long to wait for the instance.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The health report and whether it is UP.
pub fn check(config: &Config) -> (Value, bool) {
    let addr = std::fs::read_to_string(config.home.join(crate::ADDR_FILE))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("{}:{}", config.bind_address, config.port));
    let url = format!("http://{addr}/health");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(PROBE_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    if let Ok(mut resp) = agent.get(&url).call()
        && let Ok(public) = resp.body_mut().read_json::<Value>()
    {
        // The instance answered: its probes, with their reasons, need the token; without the
        // key (another user runs it) the local probes stand in beside its overall status.
        let mut body = match detail(config, &agent, &addr) {
            Ok(d) => d,
            Err(why) => {
                let mut r = health::report(
                    vec![
                        (
                            "instance",
                            health::Probe {
                                status: if public["status"] == json!(Status::Up) {
                                    Status::Up
                                } else {
                                    Status::Degraded
                                },
                                message: format!(
                                    "rumid answered at {url} with {}; its own probes need the instance key ({why})",
                                    public["status"].as_str().unwrap_or("no status")
                                ),
                                duration_ms: 0.0,
                            },
                        ),
                        ("disk", health::probe_disk(&config.home, config.disk_degraded_percent)),
                        ("writable_tmp", health::probe_writable(std::path::Path::new("/tmp"))),
                    ],
                    true,
                );
                r["status"] = public["status"].clone();
                r
            }
        };
        let up = body["status"] == json!(Status::Up);
        body["source"] = json!("instance");
        body["instance"] = json!(url);
        return (body, up);
    }
    let mut report = health::report(
        vec![
            (
                "instance",
                health::Probe {
                    status: Status::Down,
                    message: format!("no rumid answered at {url}"),
                    duration_ms: 0.0,
                },
            ),
            ("disk", health::probe_disk(&config.home, config.disk_degraded_percent)),
            ("writable_tmp", health::probe_writable(std::path::Path::new("/tmp"))),
        ],
        true,
    );
    report["source"] = json!("local");
    let up = report["status"] == json!(Status::Up);
    (report, up)
}

/// The instance's own report (`GET /api/health?verbose=true`), every probe with its message.
fn detail(config: &Config, agent: &ureq::Agent, addr: &str) -> Result<Value, String> {
    let key_path = config.home.join("user_data/settings").join(crate::keys::KEY_FILE);
    let key = rumi_common::token::InstanceKey::read(&key_path).map_err(|e| e.to_string())?;
    let token = key.api_token();
    let mut resp = agent
        .get(&format!("http://{addr}/api/health?verbose=true"))
        .header("Authorization", &format!("Bearer {}", token.expose()))
        .call()
        .map_err(|e| e.to_string())?;
    let body: Value = resp.body_mut().read_json().map_err(|e| e.to_string())?;
    if body["success"] != json!(true) {
        return Err(body["error"].as_str().unwrap_or("refused").to_owned());
    }
    Ok(body["data"].clone())
}
