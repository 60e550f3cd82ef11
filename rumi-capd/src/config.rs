//! Every setting of rumi-capd, read in one place. Nothing is bound or written here.

use std::path::PathBuf;

use clap::Parser;
use rumi_common::env::{self, Collector, EnvError, Strings};
use rumi_common::limits::HelperLimits;
use rumi_common::telemetry::{LogFormat, LogLevel};

/// Control socket rumid connects to. Default [`DEFAULT_CONTROL_SOCKET`].
pub const ENV_CONTROL_SOCKET: &str = "RUMI_CAPD_SOCKET";
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/rumi/capd.sock";
/// Directory of per-principal sockets.
pub const ENV_SOCK_DIR: &str = "RUMI_CAPABILITY_SOCK_DIR";
pub const DEFAULT_SOCK_DIR: &str = "/run/rumi/capability/principals";
/// Mode of per-principal sockets, octal. Default 0660.
pub const ENV_SOCKET_MODE: &str = "RUMI_CAPABILITY_SOCKET_MODE";
/// Group of per-principal sockets and their directory.
pub const ENV_SOCKET_GID: &str = "RUMI_CAPABILITY_SOCKET_GID";
/// The Rumi home (capd owns `user_data/secrets/` and `user_data/stores/` in it). Required.
pub const ENV_HOME: &str = "RUMI_HOME";
/// Fernet key (url-safe base64 of 32 bytes). Secret: never echoed.
pub const ENV_SECRETS_KEY: &str = "RUMI_SECRETS_KEY";
/// `auto` (default), `true` or `false`.
pub const ENV_SECRETS_ALLOW_PLAINTEXT: &str = "RUMI_SECRETS_ALLOW_PLAINTEXT";
/// `strict` (default) or `permissive`.
pub const ENV_SECURITY_MODE: &str = "RUMI_SECURITY_MODE";
/// The only uid allowed on the control socket. Default: this process's uid.
pub const ENV_CONTROL_UID: &str = "RUMI_CONTROL_UID";
/// Python interpreter for trusted handlers. Default `python3` from a fixed PATH.
pub const ENV_HANDLER_PYTHON: &str = "RUMI_HANDLER_PYTHON";
pub const ENV_PARENT_PID: &str = "RUMI_HELPER_PARENT_PID";
pub const ENV_LOG_LEVEL: &str = "RUMI_LOG_LEVEL";
/// Audit refusal rate and frame buffer bounds: see [`rumi_common::limits`].
pub use rumi_common::limits::{
    ENV_AUDIT_REFUSALS_PER_SECOND, ENV_FRAME_BUFFER_PER_PACK_BYTES, ENV_FRAME_BUFFER_TOTAL_BYTES,
};
pub const ENV_LOG_FORMAT: &str = "RUMI_LOG_FORMAT";

#[derive(Debug, Parser, Default)]
#[command(name = "rumi-capd", version, about = "Rumi capability helper")]
pub struct Cli {}

/// `RUMI_SECRETS_ALLOW_PLAINTEXT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plaintext {
    Auto,
    Allow,
    Deny,
}

/// A Fernet key from the environment; `Debug` never shows it.
#[derive(Clone)]
pub struct KeyText(pub String);

impl std::fmt::Debug for KeyText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyText(<redacted>)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub control_socket: PathBuf,
    pub sock_dir: PathBuf,
    pub socket_mode: u32,
    pub socket_gid: Option<u32>,
    pub home: PathBuf,
    pub secrets_key: Option<KeyText>,
    pub plaintext: Plaintext,
    pub permissive: bool,
    pub control_uid: u32,
    pub handler_python: PathBuf,
    pub parent_pid: Option<i32>,
    pub limits: HelperLimits,
    /// The instance's control key, or where to read it (`RUMI_CONTROL_KEY`,
    /// `RUMI_CONTROL_KEY_FILE`; one is required).
    pub control_key: Option<rumi_common::helper::KeySource>,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    /// `JOURNAL_STREAM` as systemd set it (logs go to the journal when stderr is that stream).
    pub journal_stream: Option<rumi_common::telemetry::JournalStream>,
}

impl Config {
    /// # Errors
    /// Every variable that failed to parse.
    pub fn load(src: &dyn Strings) -> Result<Self, Vec<EnvError>> {
        let mut c = Collector::new(src);
        let abs = env::parse_absolute_path;
        let control_socket = c
            .opt(ENV_CONTROL_SOCKET, abs)
            .unwrap_or_else(|| DEFAULT_CONTROL_SOCKET.into());
        let sock_dir = c.opt(ENV_SOCK_DIR, abs).unwrap_or_else(|| DEFAULT_SOCK_DIR.into());
        let socket_mode = c.opt(ENV_SOCKET_MODE, env::parse_mode).unwrap_or(0o660);
        let socket_gid = c.opt(ENV_SOCKET_GID, env::parse_gid);
        let home = c.opt(ENV_HOME, abs);
        if home.is_none() && c.raw(ENV_HOME).is_none() {
            c.error(ENV_HOME, "", "required: the Rumi home holding user_data/");
        }
        let secrets_key = c.opt_secret(ENV_SECRETS_KEY, |s| {
            fernet::Fernet::new(s)
                .map(|_| KeyText(s.to_owned()))
                .ok_or_else(|| "not a Fernet key".to_owned())
        });
        let plaintext = c
            .opt(ENV_SECRETS_ALLOW_PLAINTEXT, |s| match s.to_ascii_lowercase().as_str() {
                "auto" => Ok(Plaintext::Auto),
                "true" => Ok(Plaintext::Allow),
                "false" => Ok(Plaintext::Deny),
                _ => Err("expected auto, true or false".to_owned()),
            })
            .unwrap_or(Plaintext::Auto);
        let permissive = c
            .opt(ENV_SECURITY_MODE, |s| match s.to_ascii_lowercase().as_str() {
                "strict" => Ok(false),
                "permissive" => Ok(true),
                _ => Err("expected strict or permissive".to_owned()),
            })
            .unwrap_or(false);
        let control_uid = c
            .opt(ENV_CONTROL_UID, env::parse_uid)
            .unwrap_or_else(|| nix::unistd::getuid().as_raw());
        let handler_python = c
            .opt(ENV_HANDLER_PYTHON, abs)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"));
        let parent_pid = c.opt(ENV_PARENT_PID, |s| {
            env::parse_bounded(s, 1, i32::MAX as u64).map(|n| n as i32)
        });
        let limits = HelperLimits::parse(&mut c);
        let control_key = rumi_common::helper::auth::parse_key_source(&mut c);
        let log_level = c.opt(ENV_LOG_LEVEL, LogLevel::parse).unwrap_or(LogLevel::INFO);
        let log_format = c.opt(ENV_LOG_FORMAT, LogFormat::parse).unwrap_or(LogFormat::Json);
        // Set by systemd, not by operators: a value that does not parse means no journal.
        let journal_stream = c
            .raw(rumi_common::telemetry::ENV_JOURNAL_STREAM)
            .and_then(|s| rumi_common::telemetry::JournalStream::parse(&s).ok());
        c.finish()?;
        Ok(Self {
            control_socket,
            sock_dir,
            socket_mode,
            socket_gid,
            home: home.unwrap_or_default(),
            secrets_key,
            plaintext,
            permissive,
            control_uid,
            handler_python,
            parent_pid,
            limits,
            control_key,
            log_level,
            log_format,
            journal_stream,
        })
    }
}
