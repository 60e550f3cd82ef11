//! A small blocking client for rumid's API.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use rumi_common::token::InstanceKey;
use serde_json::Value;

use crate::cli::Cli;

/// Long enough for the longest flow run (600 s) and approvals that hash large packs.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(660);

/// An error answered by the API in the RUMI envelope.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub suggestion: String,
    pub body: Value,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// The home directory in use.
pub fn home(cli: &Cli) -> PathBuf {
    cli.home.clone().unwrap_or_else(|| PathBuf::from("."))
}

/// The token: `--token`/`RUMI_TOKEN`, else derived from the home's key file.
pub fn token(cli: &Cli) -> Result<String> {
    if let Some(t) = &cli.token {
        return Ok(t.clone());
    }
    let path = home(cli).join("user_data/settings/.hmac_key");
    let key = InstanceKey::read(&path).with_context(|| {
        format!(
            "no token: set RUMI_TOKEN or pass --home pointing at a Rumi home (tried {})",
            path.display()
        )
    })?;
    Ok(key.api_token().expose().to_owned())
}

fn base_url(cli: &Cli, home: &Path) -> String {
    if let Some(u) = &cli.url {
        return u.trim_end_matches('/').to_owned();
    }
    std::fs::read_to_string(home.join("user_data/run/api.addr"))
        .ok()
        .map(|a| format!("http://{}", a.trim()))
        .unwrap_or_else(|| "http://127.0.0.1:8765".to_owned())
}

impl Client {
    pub fn new(cli: &Cli) -> Result<Self> {
        let home = home(cli);
        Ok(Self {
            base: base_url(cli, &home),
            token: token(cli)?,
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(REQUEST_TIMEOUT))
                .http_status_as_error(false)
                .build()
                .into(),
        })
    }

    /// Sends a request; returns `data` of a success envelope.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{}", self.base, path);
        let auth = format!("Bearer {}", self.token);
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => self.agent.delete(&url).header("Authorization", &auth).call(),
            (_, Some(b)) => self.agent.post(&url).header("Authorization", &auth).send_json(&b),
            (_, None) => self.agent.post(&url).header("Authorization", &auth).send_empty(),
        };
        let mut resp = resp.with_context(|| format!("cannot reach rumid at {}", self.base))?;
        let status = resp.status().as_u16();
        let body: Value = resp
            .body_mut()
            .read_json()
            .with_context(|| format!("rumid answered {status} without a JSON body"))?;
        if body["success"] == Value::Bool(true) {
            return Ok(body.get("data").cloned().unwrap_or(body));
        }
        let err = &body["error"];
        let text = |k: &str| err[k].as_str().unwrap_or_default().to_owned();
        Err(ApiError {
            status,
            code: text("code"),
            message: text("message"),
            suggestion: text("suggestion"),
            body: body.clone(),
        }
        .into())
    }
}
