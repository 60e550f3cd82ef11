//! A small blocking client for rumid's API.
//!
//! The address and the token are looked up again for every [`Client`], so a command run
//! after rumid restarted (on another port, or with a rotated key) finds the new instance,
//! and `audit --follow` builds a new client after each failed poll.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rumi_common::token::InstanceKey;
use serde_json::Value;

use crate::cli::Cli;
use crate::home::{self, Home};

/// Long enough for the longest flow run (600 s) and approvals that hash large packs.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(660);
/// Where rumid records the address it bound, relative to the home.
const API_ADDR_FILE: &str = "user_data/run/api.addr";
/// The instance key the token is derived from, relative to the home.
const KEY_FILE: &str = "user_data/settings/.hmac_key";
/// rumid's default address, used when the home's run directory cannot be read.
const DEFAULT_BASE: &str = "http://127.0.0.1:8765";

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

/// rumid could not be reached: not running, a stale address, or no answer in time.
#[derive(Debug)]
pub struct Unreachable {
    pub base: String,
    pub reason: String,
    pub suggestion: String,
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.base.is_empty() {
            write!(f, "cannot reach rumid: {}", self.reason)
        } else {
            write!(f, "cannot reach rumid at {}: {}", self.base, self.reason)
        }
    }
}

impl std::error::Error for Unreachable {}

/// No token: none given and the home's key file cannot be read.
#[derive(Debug)]
pub struct NoToken {
    pub message: String,
}

impl fmt::Display for NoToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NoToken {}

/// The home in use and why it was chosen (see [`crate::home`]).
pub fn home_info(cli: &Cli) -> Home {
    home::resolve(cli.home.as_deref(), &cli.env_file, Path::new(home::SYSTEM_HOME))
}

/// The home directory in use.
pub fn home(cli: &Cli) -> PathBuf {
    home_info(cli).path
}

/// The token: `--token`/`RUMI_TOKEN`, else derived from the home's key file.
///
/// # Errors
/// [`NoToken`] when neither is available.
pub fn token(cli: &Cli) -> Result<String> {
    if let Some(t) = &cli.token {
        return Ok(t.clone());
    }
    let home = home_info(cli);
    let path = home.path.join(KEY_FILE);
    match InstanceKey::read(&path) {
        Ok(key) => Ok(key.api_token().expose().to_owned()),
        Err(e) => Err(NoToken {
            message: format!(
                "no token: cannot read {} (home from {}): {}; set RUMI_TOKEN, or pass --home with a Rumi home",
                path.display(),
                home.source,
                root_cause(&e)
            ),
        }
        .into()),
    }
}

/// The innermost message of an error chain (`No such file or directory (os error 2)`).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// A path segment, percent-encoded (an id with a space or a slash stays one segment).
pub fn seg(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// Where the API is: `--url`, else the address recorded in the home.
enum Base {
    /// A URL to try.
    Url(String),
    /// The home can be read and records no address: rumid is not running for it.
    NotRunning { addr_file: PathBuf },
}

fn base_url(cli: &Cli, home: &Path) -> Base {
    if let Some(u) = &cli.url {
        return Base::Url(u.trim_end_matches('/').to_owned());
    }
    let addr_file = home.join(API_ADDR_FILE);
    match std::fs::read_to_string(&addr_file) {
        Ok(a) => Base::Url(format!("http://{}", a.trim())),
        // rumid removes the file when it stops; a home whose run directory we can read but
        // that has no address has no instance (falling back to the default port could reach
        // another home's instance and send it this home's token).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && addr_file.parent().is_some_and(Path::is_dir) => {
            Base::NotRunning { addr_file }
        }
        Err(_) => Base::Url(DEFAULT_BASE.to_owned()),
    }
}

pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
    /// Set when the home says rumid is not running; every call then fails as unreachable.
    not_running: Option<PathBuf>,
}

impl Client {
    /// A client for the instance of the home in use.
    ///
    /// # Errors
    /// [`NoToken`] when no token can be had.
    pub fn new(cli: &Cli) -> Result<Self> {
        let home = home_info(cli);
        let (base, not_running) = match base_url(cli, &home.path) {
            Base::Url(u) => (u, None),
            Base::NotRunning { addr_file } => (String::new(), Some(addr_file)),
        };
        Ok(Self {
            base,
            token: token(cli)?,
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(REQUEST_TIMEOUT))
                .http_status_as_error(false)
                .build()
                .into(),
            not_running,
        })
    }

    /// The API base URL this client talks to (empty when the home says rumid is not running).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request; returns `data` of a success envelope.
    ///
    /// # Errors
    /// [`Unreachable`] when rumid does not answer, [`ApiError`] when it refuses.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        if let Some(addr_file) = &self.not_running {
            return Err(Unreachable {
                base: String::new(),
                reason: format!("it is not running ({} does not exist)", addr_file.display()),
                suggestion: "start rumid (systemctl start rumid), or pass --url".to_owned(),
            }
            .into());
        }
        let url = format!("{}{}", self.base, path);
        let auth = format!("Bearer {}", self.token);
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => self.agent.delete(&url).header("Authorization", &auth).call(),
            (_, Some(b)) => self.agent.post(&url).header("Authorization", &auth).send_json(&b),
            (_, None) => self.agent.post(&url).header("Authorization", &auth).send_empty(),
        };
        let mut resp = resp.map_err(|e| self.transport_error(e))?;
        let status = resp.status().as_u16();
        let body: Value = resp
            .body_mut()
            .read_json()
            .map_err(|_| anyhow::anyhow!("rumid at {} answered {status} without a JSON body", self.base))?;
        if body["success"] == Value::Bool(true) {
            return Ok(body.get("data").cloned().unwrap_or(body));
        }
        let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
        Err(ApiError {
            status,
            code: text("error_code"),
            message: text("error"),
            suggestion: text("suggestion"),
            body: body.clone(),
        }
        .into())
    }

    /// A failed request: rumid unreachable, or a URL that cannot be requested.
    fn transport_error(&self, e: ureq::Error) -> anyhow::Error {
        let stale = "rumid is not running, or its recorded address is stale after a crash: start it, or pass --url";
        let reason = match &e {
            ureq::Error::Io(io) => match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                    "the connection was closed".to_owned()
                }
                _ => io.to_string(),
            },
            ureq::Error::Timeout(_) => format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()),
            ureq::Error::HostNotFound => "host not found".to_owned(),
            ureq::Error::ConnectionFailed => "the connection failed".to_owned(),
            ureq::Error::Protocol(p) => format!("not an HTTP answer ({p})"),
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
                return anyhow::anyhow!("{} is not a usable URL (check --url)", self.base);
            }
            other => return anyhow::anyhow!("request to rumid at {} failed: {other}", self.base),
        };
        Unreachable {
            base: self.base.clone(),
            reason,
            suggestion: stale.to_owned(),
        }
        .into()
    }
}
