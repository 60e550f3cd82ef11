//! Every setting of rumi-egressd, read in one place (see rumid's config for the shared
//! variables). Nothing is bound here.

use std::path::PathBuf;

use clap::Parser;
use ipnet::IpNet;
use rumi_common::env::{self, Collector, EnvError, Strings};
use rumi_common::limits::HelperLimits;
use rumi_common::telemetry::{LogFormat, LogLevel};

/// Control socket rumid connects to. Default [`DEFAULT_CONTROL_SOCKET`].
pub const ENV_CONTROL_SOCKET: &str = "RUMI_EGRESSD_SOCKET";
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/rumi/egressd.sock";
/// Directory of per-pack sockets (shared with rumid's config).
pub const ENV_SOCK_DIR: &str = "RUMI_EGRESS_SOCK_DIR";
pub const DEFAULT_SOCK_DIR: &str = "/run/rumi/egress/packs";
/// Mode of per-pack sockets, octal. Default 0660.
pub const ENV_SOCKET_MODE: &str = "RUMI_EGRESS_SOCKET_MODE";
/// Group of per-pack sockets and their directory.
pub const ENV_SOCKET_GID: &str = "RUMI_EGRESS_SOCKET_GID";
/// The only uid allowed on the control socket. Default: this process's uid.
pub const ENV_CONTROL_UID: &str = "RUMI_CONTROL_UID";
/// **Dangerous, test-only.** Comma-separated CIDRs exempted from the address deny table,
/// so tests can reach a local upstream. Off by default; logged at `warn` on every start.
pub const ENV_ALLOW_CIDRS: &str = "RUMI_EGRESS_ALLOW_CIDRS";
/// When set, the helper exits if this process is not its parent any more (spawned mode).
pub const ENV_PARENT_PID: &str = "RUMI_HELPER_PARENT_PID";
pub const ENV_LOG_LEVEL: &str = "RUMI_LOG_LEVEL";
/// Audit refusal rate and frame buffer bounds: see [`rumi_common::limits`].
pub use rumi_common::limits::{
    ENV_AUDIT_REFUSALS_PER_SECOND, ENV_FRAME_BUFFER_PER_PACK_BYTES, ENV_FRAME_BUFFER_TOTAL_BYTES,
};
pub const ENV_LOG_FORMAT: &str = "RUMI_LOG_FORMAT";

#[derive(Debug, Parser, Default)]
#[command(name = "rumi-egressd", version, about = "Rumi egress helper")]
pub struct Cli {}

#[derive(Debug, Clone)]
pub struct Config {
    pub control_socket: PathBuf,
    pub sock_dir: PathBuf,
    pub socket_mode: u32,
    pub socket_gid: Option<u32>,
    pub control_uid: u32,
    pub allow_cidrs: Vec<IpNet>,
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
        let control_uid = c
            .opt(ENV_CONTROL_UID, env::parse_uid)
            .unwrap_or_else(|| nix::unistd::getuid().as_raw());
        let allow_cidrs = c
            .opt(ENV_ALLOW_CIDRS, |s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(|x| x.parse::<IpNet>().map_err(|_| format!("{x:?} is not a CIDR")))
                    .collect()
            })
            .unwrap_or_default();
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
            control_uid,
            allow_cidrs,
            parent_pid,
            limits,
            control_key,
            log_level,
            log_format,
            journal_stream,
        })
    }
}
