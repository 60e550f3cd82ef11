//! Every setting of rumid, read in one place.
//!
//! [`Config::load`] parses the command line and every `RUMI_*` variable of the operations
//! guide's reference table into typed values, collects every problem, and fails once with
//! all of them (rumid then exits with code 2). Nothing is bound or written here. No other
//! module reads the environment.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use axum::http::{HeaderValue, Uri};
use base64::Engine as _;
use clap::Parser;
use rumi_common::env::{self, Collector, EnvError, Strings};
use rumi_common::telemetry::{LogFormat, LogLevel};

/// Root directory holding `flows/`, `ecosystem/` and `user_data/`. Default: the working directory.
pub const ENV_HOME: &str = "RUMI_HOME";
/// TCP port of the HTTP API. Default [`DEFAULT_API_PORT`]; `0` picks a free port.
pub const ENV_API_PORT: &str = "RUMI_API_PORT";
/// Default API port, as in the guide.
pub const DEFAULT_API_PORT: u16 = 8765;
/// Address the API binds to. Default `127.0.0.1`. Anything else exposes the API to the network.
pub const ENV_API_BIND_ADDRESS: &str = "RUMI_API_BIND_ADDRESS";
/// Seconds a connection has to send a request's whole head, from opening or from its previous
/// response (so it also ends idle keep-alive connections). Default
/// [`DEFAULT_API_HEADER_READ_TIMEOUT_SECS`].
pub const ENV_API_HEADER_READ_TIMEOUT: &str = "RUMI_API_HEADER_READ_TIMEOUT";
/// Default header timeout: 10 s, far more than any client needs to send a head.
pub const DEFAULT_API_HEADER_READ_TIMEOUT_SECS: u64 = 10;
/// Most API connections open at once that have not authenticated yet; one more closes the
/// oldest of them. Default [`DEFAULT_API_MAX_UNAUTHENTICATED_CONNECTIONS`].
pub const ENV_API_MAX_UNAUTHENTICATED_CONNECTIONS: &str = "RUMI_API_MAX_UNAUTHENTICATED_CONNECTIONS";
/// Default cap: 256, a quarter of the smallest descriptor limit rumid may run under (1024).
pub const DEFAULT_API_MAX_UNAUTHENTICATED_CONNECTIONS: u64 = 256;
/// `strict` (default; pack code only in Docker) or `permissive` (host execution allowed, for development).
pub const ENV_SECURITY_MODE: &str = "RUMI_SECURITY_MODE";
/// `DEBUG`, `INFO` (default), `WARNING`, `ERROR` or `CRITICAL`.
pub const ENV_LOG_LEVEL: &str = "RUMI_LOG_LEVEL";
/// `json` (default) or `text`.
pub const ENV_LOG_FORMAT: &str = "RUMI_LOG_FORMAT";
/// What using a deprecated location does: `warn` (default), `error`, `silent` or `log`.
pub const ENV_DEPRECATION_LEVEL: &str = "RUMI_DEPRECATION_LEVEL";
/// Fernet key for secrets (url-safe base64 of 32 bytes). Secret: never echoed.
pub const ENV_SECRETS_KEY: &str = "RUMI_SECRETS_KEY";
/// A file holding the control key that authenticates rumid to its helpers (64 hex
/// characters, no permission for others; created when missing). Unset (default): the key
/// is derived from the instance key. Set it, in all three units, when the helpers run
/// under systemd. See [`rumi_common::control_key`].
pub use rumi_common::control_key::ENV_CONTROL_KEY_FILE;
/// `auto` (default), `true` or `false`: whether secrets may be stored unencrypted.
pub const ENV_SECRETS_ALLOW_PLAINTEXT: &str = "RUMI_SECRETS_ALLOW_PLAINTEXT";
/// Largest flow result or egress response, in bytes. Default [`DEFAULT_MAX_RESPONSE_BYTES`].
pub const ENV_MAX_RESPONSE_BYTES: &str = "RUMI_MAX_RESPONSE_BYTES";
/// Default response limit: 4 MiB, as in the guide.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;
/// Most flows running at once. Default [`DEFAULT_MAX_CONCURRENT_FLOWS`].
pub const ENV_MAX_CONCURRENT_FLOWS: &str = "RUMI_MAX_CONCURRENT_FLOWS";
/// Default flow concurrency, as in the guide.
pub const DEFAULT_MAX_CONCURRENT_FLOWS: u64 = 10;
/// Most bytes one flow run's contexts (a sub-flow's copy included) and the values built for
/// them may hold, in bytes. Default [`DEFAULT_MAX_CONTEXT_BYTES`]. Flow files, pack ones
/// included, decide what runs build without running any code: this bounds rumid's memory
/// per run.
pub const ENV_MAX_CONTEXT_BYTES: &str = "RUMI_MAX_CONTEXT_BYTES";
/// One pack's share of the flow slots: the most flows of one pack (API, route and scheduled
/// runs) running at once. Default [`DEFAULT_MAX_FLOWS_PER_PACK`]; at most one less than
/// `RUMI_MAX_CONCURRENT_FLOWS`, so no pack holds every slot.
pub const ENV_MAX_FLOWS_PER_PACK: &str = "RUMI_MAX_FLOWS_PER_PACK";
/// Default pack share: 4 of the default 10 slots.
pub const DEFAULT_MAX_FLOWS_PER_PACK: u64 = 4;
/// Blocks running at once, all packs together (flow steps, units, lib scripts, sandbox
/// probes; containers in strict mode, host sandboxes in permissive mode). Default
/// [`DEFAULT_MAX_RUNNING_CONTAINERS`]. A block waits for a free one until its own timeout.
pub const ENV_MAX_RUNNING_CONTAINERS: &str = "RUMI_MAX_RUNNING_CONTAINERS";
/// Default: more than the flow slots, so flows seldom wait for one.
pub const DEFAULT_MAX_RUNNING_CONTAINERS: u64 = 16;
/// One pack's share of the running containers. Default [`DEFAULT_MAX_CONTAINERS_PER_PACK`];
/// at most one less than `RUMI_MAX_RUNNING_CONTAINERS`.
pub const ENV_MAX_CONTAINERS_PER_PACK: &str = "RUMI_MAX_CONTAINERS_PER_PACK";
/// Default: as many as the pack's flow share.
pub const DEFAULT_MAX_CONTAINERS_PER_PACK: u64 = 4;
/// Default context bound: 8 MiB, twice the largest block result (4 MiB of stdout), so any
/// one result fits.
pub const DEFAULT_MAX_CONTEXT_BYTES: u64 = 8 * 1024 * 1024;
/// Where each pack's own container uid comes from: `FIRST-LAST` (default
/// [`DEFAULT_PACK_UID_RANGE`]) or `shared` (every pack runs as 65534, the original's way).
pub const ENV_PACK_UID_RANGE: &str = "RUMI_PACK_UID_RANGE";
/// Default range of per-pack uids (outside the usual system and login ranges).
pub const DEFAULT_PACK_UID_RANGE: (u32, u32) = (200_000, 265_535);

/// How packs' containers get their uid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackUids {
    /// One uid per pack, allocated from the range and recorded.
    Range(u32, u32),
    /// Every pack as 65534.
    Shared,
}

fn parse_uid_range(s: &str) -> Result<PackUids, String> {
    if s == "shared" {
        return Ok(PackUids::Shared);
    }
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| "expected FIRST-LAST (e.g. 200000-265535) or shared".to_owned())?;
    let parse = |x: &str| x.trim().parse::<u32>().map_err(|_| format!("{x:?} is not a uid"));
    let (a, b) = (parse(a)?, parse(b)?);
    if a < 10_000 || b <= a || b >= 1 << 31 {
        return Err("the range must lie within 10000..2^31 and hold at least two uids".into());
    }
    Ok(PackUids::Range(a, b))
}

/// Pristine spare containers kept per pack in strict mode (0 disables spares). Default 2.
pub const ENV_SPARES_PER_PACK: &str = "RUMI_SPARES_PER_PACK";
/// Pristine spare containers kept in total. Default 8.
pub const ENV_SPARES_TOTAL: &str = "RUMI_SPARES_TOTAL";
/// Seconds an unclaimed spare lives. Default 300.
pub const ENV_SPARE_TTL: &str = "RUMI_SPARE_TTL";
/// Largest HTTP request body, in bytes. Default [`DEFAULT_MAX_REQUEST_BODY_BYTES`].
pub const ENV_MAX_REQUEST_BODY_BYTES: &str = "RUMI_MAX_REQUEST_BODY_BYTES";
/// Default request body limit: 1 MiB (DECISIONS.md #9).
pub const DEFAULT_MAX_REQUEST_BODY_BYTES: u64 = 1024 * 1024;
/// Comma-separated origins allowed by CORS. Default: none (no CORS headers at all).
pub const ENV_CORS_ORIGINS: &str = "RUMI_CORS_ORIGINS";
/// `true` replaces the instance key at this start; the old API token stops working.
pub const ENV_HMAC_ROTATE: &str = "RUMI_HMAC_ROTATE";
/// Disk usage (percent of the home's file system) at which the `disk` probe turns DEGRADED.
pub const ENV_DISK_DEGRADED_PERCENT: &str = "RUMI_DISK_DEGRADED_PERCENT";
/// Default disk threshold: 90 %, as the original's probe.
pub const DEFAULT_DISK_DEGRADED_PERCENT: u64 = 90;
/// `true` adds detail (paths, probe messages) to diagnostics.
pub const ENV_DIAGNOSTICS_VERBOSE: &str = "RUMI_DIAGNOSTICS_VERBOSE";
/// Group id given to egress sockets, so containers can reach them with `--group-add`.
pub const ENV_EGRESS_SOCKET_GID: &str = "RUMI_EGRESS_SOCKET_GID";
/// Group id given to capability sockets.
pub const ENV_CAPABILITY_SOCKET_GID: &str = "RUMI_CAPABILITY_SOCKET_GID";
/// Mode of egress sockets, octal. Default `0660`.
pub const ENV_EGRESS_SOCKET_MODE: &str = "RUMI_EGRESS_SOCKET_MODE";
/// Mode of capability sockets, octal. Default `0660`.
pub const ENV_CAPABILITY_SOCKET_MODE: &str = "RUMI_CAPABILITY_SOCKET_MODE";
/// Default socket mode for both helpers.
pub const DEFAULT_SOCKET_MODE: u32 = 0o660;
/// Directory of per-pack egress sockets. Default [`DEFAULT_EGRESS_SOCK_DIR`].
pub const ENV_EGRESS_SOCK_DIR: &str = "RUMI_EGRESS_SOCK_DIR";
/// Default egress socket directory, as in the guide.
pub const DEFAULT_EGRESS_SOCK_DIR: &str = "/run/rumi/egress/packs";
/// Directory of per-principal capability sockets. Default [`DEFAULT_CAPABILITY_SOCK_DIR`].
pub const ENV_CAPABILITY_SOCK_DIR: &str = "RUMI_CAPABILITY_SOCK_DIR";
/// Default capability socket directory, as in the guide.
pub const DEFAULT_CAPABILITY_SOCK_DIR: &str = "/run/rumi/capability/principals";
/// `secrets.get` calls allowed per minute per pack. Default 60.
pub const ENV_SECRET_GET_RATE_LIMIT: &str = "RUMI_SECRET_GET_RATE_LIMIT";
/// Egress requests allowed per minute per pack. Default 60 (DECISIONS.md #2).
pub const ENV_EGRESS_RATE_LIMIT: &str = "RUMI_EGRESS_RATE_LIMIT";
/// Default per-minute rate limits.
pub const DEFAULT_RATE_LIMIT_PER_MIN: u64 = 60;
/// The helpers' audit refusal rate and frame buffer bounds ([`rumi_common::limits`]):
/// validated here and handed to spawned helpers.
pub use rumi_common::limits::{
    ENV_AUDIT_REFUSALS_PER_SECOND, ENV_FRAME_BUFFER_PER_PACK_BYTES, ENV_FRAME_BUFFER_TOTAL_BYTES,
};
/// Largest audit message rumid accepts from a helper's audit stream, in bytes. A larger one
/// breaks the stream (reported in health, audited, reconnected). Helpers bound every record
/// to 16 KiB, so the default leaves a wide margin.
pub const ENV_HELPER_AUDIT_MAX_MESSAGE_BYTES: &str = "RUMI_HELPER_AUDIT_MAX_MESSAGE_BYTES";
/// Default: 4 MiB, gRPC's usual limit.
pub const DEFAULT_HELPER_AUDIT_MAX_MESSAGE_BYTES: u64 = 4 * 1024 * 1024;
/// Bytes of the audit file system held back (a preallocated file, `user_data/audit/.reserve`)
/// for the audit lines of operator actions already let through, so that an action whose
/// write-ahead line was written never lacks its outcome line because the disk filled up in
/// between. While the reserve cannot be held, operator actions are refused (503
/// `RUMI-SYS-008`). 0 disables it. Default [`DEFAULT_AUDIT_RESERVE_BYTES`].
pub const ENV_AUDIT_RESERVE_BYTES: &str = "RUMI_AUDIT_RESERVE_BYTES";
/// Default audit reserve: 4 MiB, thousands of operator actions' lines.
pub const DEFAULT_AUDIT_RESERVE_BYTES: u64 = 4 * 1024 * 1024;
/// `off` (default) or `require_approval`: whether legacy `ecosystem/flows/` is read.
pub const ENV_LOCAL_PACK_MODE: &str = "RUMI_LOCAL_PACK_MODE";

/// `spawn` (default: rumid starts and supervises the helpers) or `external` (systemd runs
/// them; rumid only connects). Overridden by `--helpers`.
pub const ENV_HELPERS: &str = "RUMI_HELPERS";
/// Control socket of rumi-egressd. Default [`DEFAULT_EGRESSD_SOCKET`].
pub const ENV_EGRESSD_SOCKET: &str = "RUMI_EGRESSD_SOCKET";
/// Default control socket of rumi-egressd.
pub const DEFAULT_EGRESSD_SOCKET: &str = "/run/rumi/egressd.sock";
/// Control socket of rumi-capd. Default [`DEFAULT_CAPD_SOCKET`].
pub const ENV_CAPD_SOCKET: &str = "RUMI_CAPD_SOCKET";
/// Default control socket of rumi-capd.
pub const DEFAULT_CAPD_SOCKET: &str = "/run/rumi/capd.sock";
/// Directory holding the helper binaries in spawn mode. Default: rumid's own directory.
pub const ENV_HELPER_BIN_DIR: &str = "RUMI_HELPER_BIN_DIR";
/// **Dangerous, test-only**, passed to rumi-egressd: CIDRs exempted from the SSRF deny table.
pub const ENV_EGRESS_ALLOW_CIDRS: &str = "RUMI_EGRESS_ALLOW_CIDRS";

/// Image that runs pack code in strict mode. Default [`DEFAULT_RUNTIME_IMAGE`].
pub const ENV_RUNTIME_IMAGE: &str = "RUMI_RUNTIME_IMAGE";
/// Default runtime image (built by `rumi-ctl image build`).
pub const DEFAULT_RUNTIME_IMAGE: &str = "rumi-runtime:bookworm";
/// The Docker engine's socket (a rootless engine's socket works too). Default
/// `/var/run/docker.sock`. Access to it is root-equivalent.
pub const ENV_DOCKER_SOCKET: &str = "RUMI_DOCKER_SOCKET";
/// Directory of the Python pack SDK. Default: found next to the binaries.
pub const ENV_SDK_DIR: &str = "RUMI_SDK_DIR";
/// Python interpreter for permissive host runs. Default `/usr/bin/python3`.
pub const ENV_PYTHON: &str = "RUMI_PYTHON";
/// How permissive (host) runs are isolated: `auto` (default: bubblewrap when it works here,
/// otherwise no isolation, with a warning at start, in `/health`, `setup doctor` and every
/// `python_file_call` audit line), `bwrap` (bubblewrap or nothing runs) or `none` (**no
/// isolation at all**: the block runs as rumid's user).
pub const ENV_HOST_ISOLATION: &str = "RUMI_HOST_ISOLATION";
/// The OCI runtime of block containers, e.g. `runsc` (gVisor; it must be registered with
/// the engine, with `--host-uds=open`). Default: the engine's default runtime.
pub const ENV_DOCKER_RUNTIME: &str = "RUMI_DOCKER_RUNTIME";
/// The bubblewrap binary. Default `/usr/bin/bwrap`.
pub const ENV_BWRAP: &str = "RUMI_BWRAP";

/// How host runs are isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostIsolation {
    Auto,
    Bwrap,
    None,
}

/// Upper bound for byte limits: 1 GiB. Larger values are almost certainly a typo.
const MAX_BYTES_SETTING: u64 = 1024 * 1024 * 1024;

/// Command line of `rumid`.
#[derive(Debug, Parser, Default)]
#[command(
    name = "rumid",
    version,
    about = "Rumi core daemon: pack approval and the operator API"
)]
pub struct Cli {
    /// Root directory (flows/, ecosystem/, user_data/). Overrides RUMI_HOME.
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// API port (0 picks a free one). Overrides RUMI_API_PORT.
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// Allow pack code on the host without Docker (development only). Same as RUMI_SECURITY_MODE=permissive.
    #[arg(long)]
    pub permissive: bool,
    /// Run without interactive output (no token banner on a terminal).
    #[arg(long)]
    pub headless: bool,
    /// Probe the running instance (or this host), print JSON, exit 0 only when UP.
    #[arg(long, conflicts_with = "validate")]
    pub health: bool,
    /// Validate every pack's metadata, print findings, exit non-zero on errors.
    #[arg(long)]
    pub validate: bool,
    /// Accept every validly signed state file as it is now and rebuild the generation
    /// journal from them, then exit (after restoring a backup without its journal; rumid
    /// must be stopped). Files put back from older backups are accepted too: use with care.
    #[arg(long, conflicts_with_all = ["validate", "health"])]
    pub adopt_signed_state: bool,
    /// `spawn` to start and supervise the helpers, `external` to connect to helpers run by
    /// systemd. Overrides RUMI_HELPERS.
    #[arg(long, value_name = "MODE")]
    pub helpers: Option<String>,
}

/// How rumid gets its helper daemons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HelperMode {
    /// rumid spawns them as children and restarts them.
    Spawn,
    /// Something else (systemd) runs them; rumid connects and reconnects.
    External,
}

fn parse_helper_mode(s: &str) -> Result<HelperMode, String> {
    match s.to_ascii_lowercase().as_str() {
        "spawn" => Ok(HelperMode::Spawn),
        "external" => Ok(HelperMode::External),
        _ => Err("expected spawn or external".to_owned()),
    }
}

/// What this invocation of rumid does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Serve the API until shutdown.
    Run,
    /// `--health`.
    Health,
    /// `--validate`.
    Validate,
    /// `--adopt-signed-state`.
    AdoptSignedState,
}

/// `RUMI_SECURITY_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecurityMode {
    /// Pack code runs only in Docker.
    Strict,
    /// Pack code may run on the host (development).
    Permissive,
}

/// `RUMI_DEPRECATION_LEVEL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeprecationLevel {
    /// Log a warning (default).
    Warn,
    /// Refuse the deprecated use.
    Error,
    /// Say nothing.
    Silent,
    /// Log a warning (the original's `logging` variant).
    Log,
}

/// `RUMI_SECRETS_ALLOW_PLAINTEXT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaintextPolicy {
    /// Plaintext only when no key is available.
    Auto,
    /// Always allowed.
    Allow,
    /// Never: without a key, storing is refused.
    Deny,
}

impl PlaintextPolicy {
    /// The variable's value (to hand to rumi-capd).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Allow => "true",
            Self::Deny => "false",
        }
    }
}

/// `RUMI_LOCAL_PACK_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalPackMode {
    /// Legacy local flows are ignored.
    Off,
    /// Legacy local flows load, with approval (deprecated).
    RequireApproval,
}

/// A Fernet key from the environment. `Debug` never shows it.
#[derive(Clone)]
pub struct SecretsKey(String);

impl SecretsKey {
    /// The key text (url-safe base64), for handing to the secrets helper.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(<redacted>)")
    }
}

/// The validated configuration of one rumid invocation.
#[derive(Debug, Clone)]
pub struct Config {
    pub command: Command,
    pub home: PathBuf,
    pub bind_address: IpAddr,
    pub port: u16,
    /// `RUMI_API_HEADER_READ_TIMEOUT`.
    pub api_header_read_timeout: std::time::Duration,
    /// `RUMI_API_MAX_UNAUTHENTICATED_CONNECTIONS`.
    pub api_max_unauthenticated_connections: usize,
    pub security_mode: SecurityMode,
    pub headless: bool,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    /// `JOURNAL_STREAM` as systemd set it (logs go to the journal when stderr is that stream).
    pub journal_stream: Option<rumi_common::telemetry::JournalStream>,
    pub deprecation_level: DeprecationLevel,
    pub secrets_key: Option<SecretsKey>,
    /// `RUMI_CONTROL_KEY_FILE`: where the control key is, when not derived.
    pub control_key_file: Option<PathBuf>,
    pub secrets_plaintext: PlaintextPolicy,
    pub max_response_bytes: u64,
    pub max_concurrent_flows: u32,
    pub max_context_bytes: u64,
    pub max_flows_per_pack: u32,
    pub max_running_containers: u32,
    pub max_containers_per_pack: u32,
    pub spares_per_pack: usize,
    pub pack_uids: PackUids,
    pub spares_total: usize,
    pub spare_ttl: std::time::Duration,
    pub max_request_body_bytes: usize,
    pub cors_origins: Vec<HeaderValue>,
    pub hmac_rotate: bool,
    pub diagnostics_verbose: bool,
    pub disk_degraded_percent: u64,
    pub egress_socket_gid: Option<u32>,
    pub capability_socket_gid: Option<u32>,
    pub egress_socket_mode: u32,
    pub capability_socket_mode: u32,
    pub egress_sock_dir: PathBuf,
    pub capability_sock_dir: PathBuf,
    pub secret_get_rate_limit: u32,
    pub egress_rate_limit: u32,
    /// Limits rumid hands to the helpers it spawns.
    pub helper_limits: rumi_common::limits::HelperLimits,
    pub helper_audit_max_message_bytes: usize,
    /// `RUMI_AUDIT_RESERVE_BYTES`.
    pub audit_reserve_bytes: u64,
    pub local_pack_mode: LocalPackMode,
    pub helpers: HelperMode,
    pub egressd_socket: PathBuf,
    pub capd_socket: PathBuf,
    /// Whether the egress socket directory was set explicitly (else a fallback may apply).
    pub egress_sock_dir_explicit: bool,
    pub capability_sock_dir_explicit: bool,
    pub helper_bin_dir: Option<PathBuf>,
    pub egress_allow_cidrs: Option<String>,
    pub runtime_image: String,
    pub docker_socket: PathBuf,
    pub sdk_dir: Option<PathBuf>,
    pub python: PathBuf,
    pub host_isolation: HostIsolation,
    pub docker_runtime: Option<String>,
    pub bwrap: PathBuf,
}

impl Config {
    /// Builds the configuration from the command line and an environment source.
    /// Precedence: flag > environment > default.
    ///
    /// # Errors
    /// Every variable that failed to parse, each named with its value (redacted for secrets).
    pub fn load(cli: &Cli, src: &dyn Strings) -> Result<Self, Vec<EnvError>> {
        let mut c = Collector::new(src);

        let home = match &cli.home {
            Some(h) => h.clone(),
            None => c.raw(ENV_HOME).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".")),
        };
        let port = cli
            .port
            .or_else(|| c.opt(ENV_API_PORT, |s| env::parse_bounded(s, 0, 65535).map(|n| n as u16)))
            .unwrap_or(DEFAULT_API_PORT);
        let bind_address = c
            .opt(ENV_API_BIND_ADDRESS, |s| {
                s.parse::<IpAddr>()
                    .map_err(|_| "expected an IP address such as 127.0.0.1".to_owned())
            })
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let api_header_read_timeout = std::time::Duration::from_secs(
            c.opt(ENV_API_HEADER_READ_TIMEOUT, |s| env::parse_bounded(s, 1, 300))
                .unwrap_or(DEFAULT_API_HEADER_READ_TIMEOUT_SECS),
        );
        let api_max_unauthenticated_connections =
            c.opt(ENV_API_MAX_UNAUTHENTICATED_CONNECTIONS, |s| {
                env::parse_bounded(s, 1, 1_000_000)
            })
            .unwrap_or(DEFAULT_API_MAX_UNAUTHENTICATED_CONNECTIONS) as usize;
        let env_mode = c.opt(ENV_SECURITY_MODE, |s| match s.to_ascii_lowercase().as_str() {
            "strict" => Ok(SecurityMode::Strict),
            "permissive" => Ok(SecurityMode::Permissive),
            _ => Err("expected strict or permissive".to_owned()),
        });
        let security_mode = if cli.permissive {
            SecurityMode::Permissive
        } else {
            env_mode.unwrap_or(SecurityMode::Strict)
        };
        let log_level = c.opt(ENV_LOG_LEVEL, LogLevel::parse).unwrap_or(LogLevel::INFO);
        let log_format = c.opt(ENV_LOG_FORMAT, LogFormat::parse).unwrap_or(LogFormat::Json);
        // Set by systemd, not by operators: a value that does not parse means no journal.
        let journal_stream = c
            .raw(rumi_common::telemetry::ENV_JOURNAL_STREAM)
            .and_then(|s| rumi_common::telemetry::JournalStream::parse(&s).ok());
        let deprecation_level = c
            .opt(ENV_DEPRECATION_LEVEL, |s| match s.to_ascii_lowercase().as_str() {
                "warn" => Ok(DeprecationLevel::Warn),
                "error" => Ok(DeprecationLevel::Error),
                "silent" => Ok(DeprecationLevel::Silent),
                "log" => Ok(DeprecationLevel::Log),
                _ => Err("expected warn, error, silent or log".to_owned()),
            })
            .unwrap_or(DeprecationLevel::Warn);
        let secrets_key = c.opt_secret(ENV_SECRETS_KEY, parse_fernet_key);
        let control_key_file = c.opt(ENV_CONTROL_KEY_FILE, env::parse_absolute_path);
        let secrets_plaintext = c
            .opt(ENV_SECRETS_ALLOW_PLAINTEXT, |s| match s.to_ascii_lowercase().as_str() {
                "auto" => Ok(PlaintextPolicy::Auto),
                "true" => Ok(PlaintextPolicy::Allow),
                "false" => Ok(PlaintextPolicy::Deny),
                _ => Err("expected auto, true or false".to_owned()),
            })
            .unwrap_or(PlaintextPolicy::Auto);
        let max_response_bytes = c
            .opt(ENV_MAX_RESPONSE_BYTES, |s| {
                env::parse_bounded(s, 1024, MAX_BYTES_SETTING)
            })
            .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES);
        let max_concurrent_flows = c
            .opt(ENV_MAX_CONCURRENT_FLOWS, |s| env::parse_bounded(s, 1, 10_000))
            .unwrap_or(DEFAULT_MAX_CONCURRENT_FLOWS) as u32;
        let max_context_bytes = c
            .opt(ENV_MAX_CONTEXT_BYTES, |s| {
                env::parse_bounded(s, 64 * 1024, MAX_BYTES_SETTING)
            })
            .unwrap_or(DEFAULT_MAX_CONTEXT_BYTES);
        let count = |s: &str| env::parse_bounded(s, 1, 10_000);
        let max_flows_per_pack = c
            .opt(ENV_MAX_FLOWS_PER_PACK, count)
            .unwrap_or(DEFAULT_MAX_FLOWS_PER_PACK) as u32;
        let max_running_containers = c
            .opt(ENV_MAX_RUNNING_CONTAINERS, count)
            .unwrap_or(DEFAULT_MAX_RUNNING_CONTAINERS) as u32;
        let max_containers_per_pack = c
            .opt(ENV_MAX_CONTAINERS_PER_PACK, count)
            .unwrap_or(DEFAULT_MAX_CONTAINERS_PER_PACK) as u32;
        let pack_uids = c
            .opt(ENV_PACK_UID_RANGE, parse_uid_range)
            .unwrap_or(PackUids::Range(DEFAULT_PACK_UID_RANGE.0, DEFAULT_PACK_UID_RANGE.1));
        let spares_per_pack = c
            .opt(ENV_SPARES_PER_PACK, |s| env::parse_bounded(s, 0, 16))
            .unwrap_or(2) as usize;
        let spares_total = c.opt(ENV_SPARES_TOTAL, |s| env::parse_bounded(s, 0, 256)).unwrap_or(8) as usize;
        let spare_ttl = std::time::Duration::from_secs(
            c.opt(ENV_SPARE_TTL, |s| env::parse_bounded(s, 5, 86_400))
                .unwrap_or(300),
        );
        let max_request_body_bytes = c
            .opt(ENV_MAX_REQUEST_BODY_BYTES, |s| {
                env::parse_bounded(s, 1024, MAX_BYTES_SETTING)
            })
            .unwrap_or(DEFAULT_MAX_REQUEST_BODY_BYTES) as usize;
        let cors_origins = c.opt(ENV_CORS_ORIGINS, parse_origins).unwrap_or_default();
        let hmac_rotate = c.opt(ENV_HMAC_ROTATE, env::parse_bool).unwrap_or(false);
        let diagnostics_verbose = c.opt(ENV_DIAGNOSTICS_VERBOSE, env::parse_bool).unwrap_or(false);
        let disk_degraded_percent = c
            .opt(ENV_DISK_DEGRADED_PERCENT, |s| env::parse_bounded(s, 1, 100))
            .unwrap_or(DEFAULT_DISK_DEGRADED_PERCENT);
        let gid = env::parse_gid;
        let egress_socket_gid = c.opt(ENV_EGRESS_SOCKET_GID, gid);
        let capability_socket_gid = c.opt(ENV_CAPABILITY_SOCKET_GID, gid);
        let egress_socket_mode = c
            .opt(ENV_EGRESS_SOCKET_MODE, env::parse_mode)
            .unwrap_or(DEFAULT_SOCKET_MODE);
        let capability_socket_mode = c
            .opt(ENV_CAPABILITY_SOCKET_MODE, env::parse_mode)
            .unwrap_or(DEFAULT_SOCKET_MODE);
        let egress_sock_dir = c
            .opt(ENV_EGRESS_SOCK_DIR, parse_socket_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_EGRESS_SOCK_DIR));
        let capability_sock_dir = c
            .opt(ENV_CAPABILITY_SOCK_DIR, parse_socket_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CAPABILITY_SOCK_DIR));
        let rate = |s: &str| env::parse_bounded(s, 1, 100_000);
        let secret_get_rate_limit = c
            .opt(ENV_SECRET_GET_RATE_LIMIT, rate)
            .unwrap_or(DEFAULT_RATE_LIMIT_PER_MIN) as u32;
        let egress_rate_limit = c.opt(ENV_EGRESS_RATE_LIMIT, rate).unwrap_or(DEFAULT_RATE_LIMIT_PER_MIN) as u32;
        let helper_limits = rumi_common::limits::HelperLimits::parse(&mut c);
        let helper_audit_max_message_bytes = c
            .opt(ENV_HELPER_AUDIT_MAX_MESSAGE_BYTES, |s| {
                env::parse_bounded(s, 1024, 64 * 1024 * 1024)
            })
            .unwrap_or(DEFAULT_HELPER_AUDIT_MAX_MESSAGE_BYTES) as usize;
        let audit_reserve_bytes = c
            .opt(ENV_AUDIT_RESERVE_BYTES, |s| env::parse_bounded(s, 0, MAX_BYTES_SETTING))
            .unwrap_or(DEFAULT_AUDIT_RESERVE_BYTES);
        let local_pack_mode = c
            .opt(ENV_LOCAL_PACK_MODE, |s| match s.to_ascii_lowercase().as_str() {
                "off" => Ok(LocalPackMode::Off),
                "require_approval" => Ok(LocalPackMode::RequireApproval),
                _ => Err("expected off or require_approval".to_owned()),
            })
            .unwrap_or(LocalPackMode::Off);

        let helpers = match &cli.helpers {
            Some(m) => match parse_helper_mode(m) {
                Ok(mode) => mode,
                Err(e) => {
                    c.error("--helpers", m, e);
                    HelperMode::Spawn
                }
            },
            None => c.opt(ENV_HELPERS, parse_helper_mode).unwrap_or(HelperMode::Spawn),
        };
        let egressd_socket = c
            .opt(ENV_EGRESSD_SOCKET, parse_socket_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_EGRESSD_SOCKET));
        let capd_socket = c
            .opt(ENV_CAPD_SOCKET, parse_socket_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CAPD_SOCKET));
        let egress_sock_dir_explicit = c.raw(ENV_EGRESS_SOCK_DIR).is_some();
        let capability_sock_dir_explicit = c.raw(ENV_CAPABILITY_SOCK_DIR).is_some();
        let helper_bin_dir = c.raw(ENV_HELPER_BIN_DIR).map(PathBuf::from);
        let egress_allow_cidrs = c.opt(ENV_EGRESS_ALLOW_CIDRS, |s| {
            for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                part.parse::<ipnet::IpNet>()
                    .map_err(|_| format!("{part:?} is not a CIDR"))?;
            }
            Ok(s.to_owned())
        });
        let runtime_image = c
            .raw(ENV_RUNTIME_IMAGE)
            .unwrap_or_else(|| DEFAULT_RUNTIME_IMAGE.to_owned());
        let absolute = env::parse_absolute_path;
        let docker_socket = c
            .opt(ENV_DOCKER_SOCKET, absolute)
            .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"));
        let sdk_dir = c.opt(ENV_SDK_DIR, absolute);
        let python = c
            .opt(ENV_PYTHON, absolute)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"));
        let host_isolation = c
            .opt(ENV_HOST_ISOLATION, |s| match s.to_ascii_lowercase().as_str() {
                "auto" => Ok(HostIsolation::Auto),
                "bwrap" => Ok(HostIsolation::Bwrap),
                "none" => Ok(HostIsolation::None),
                _ => Err("expected auto, bwrap or none".to_owned()),
            })
            .unwrap_or(HostIsolation::Auto);
        let docker_runtime = c.opt(ENV_DOCKER_RUNTIME, |s| {
            let ok = !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if ok {
                Ok(s.to_owned())
            } else {
                Err("expected a runtime name such as runsc".to_owned())
            }
        });
        let bwrap = c
            .opt(ENV_BWRAP, absolute)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/bwrap"));

        if home.exists() && !home.is_dir() {
            c.error(ENV_HOME, &home.display().to_string(), "not a directory");
        }
        c.finish()?;

        let command = if cli.health {
            Command::Health
        } else if cli.validate {
            Command::Validate
        } else if cli.adopt_signed_state {
            Command::AdoptSignedState
        } else {
            Command::Run
        };
        Ok(Self {
            command,
            home,
            bind_address,
            port,
            api_header_read_timeout,
            api_max_unauthenticated_connections,
            security_mode,
            headless: cli.headless,
            log_level,
            log_format,
            journal_stream,
            deprecation_level,
            secrets_key,
            control_key_file,
            secrets_plaintext,
            max_response_bytes,
            max_concurrent_flows,
            max_context_bytes,
            max_flows_per_pack,
            max_running_containers,
            max_containers_per_pack,
            spares_per_pack,
            pack_uids,
            spares_total,
            spare_ttl,
            max_request_body_bytes,
            cors_origins,
            hmac_rotate,
            diagnostics_verbose,
            disk_degraded_percent,
            egress_socket_gid,
            capability_socket_gid,
            egress_socket_mode,
            capability_socket_mode,
            egress_sock_dir,
            capability_sock_dir,
            secret_get_rate_limit,
            egress_rate_limit,
            helper_limits,
            helper_audit_max_message_bytes,
            audit_reserve_bytes,
            local_pack_mode,
            helpers,
            egressd_socket,
            capd_socket,
            egress_sock_dir_explicit,
            capability_sock_dir_explicit,
            helper_bin_dir,
            egress_allow_cidrs,
            runtime_image,
            docker_socket,
            sdk_dir,
            python,
            host_isolation,
            docker_runtime,
            bwrap,
        })
    }

    /// A configuration for tests: defaults, permissive, the given home, port 0.
    pub fn for_tests(home: &Path) -> Self {
        let cli = Cli {
            home: Some(home.to_path_buf()),
            port: Some(0),
            permissive: true,
            ..Cli::default()
        };
        Self::load(&cli, &env::MapEnv::default()).expect("defaults are valid")
    }
}

fn parse_fernet_key(s: &str) -> Result<SecretsKey, String> {
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(s)
        .map_err(|_| "expected url-safe base64 (a Fernet key)".to_owned())?;
    if bytes.len() != 32 {
        return Err("a Fernet key is 32 bytes of url-safe base64 (44 characters)".to_owned());
    }
    Ok(SecretsKey(s.to_owned()))
}

fn parse_origins(s: &str) -> Result<Vec<HeaderValue>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            let uri: Uri = o.parse().map_err(|_| format!("{o:?} is not an origin"))?;
            let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
            let path_ok = matches!(uri.path(), "" | "/") && uri.query().is_none();
            if !scheme_ok || uri.authority().is_none() || !path_ok || o.ends_with('/') {
                return Err(format!("{o:?} is not an origin like http://localhost:3000"));
            }
            HeaderValue::from_str(o).map_err(|_| format!("{o:?} is not a valid header value"))
        })
        .collect()
}

fn parse_socket_dir(s: &str) -> Result<PathBuf, String> {
    let p = env::parse_absolute_path(s)?;
    // A Unix socket path must fit in sun_path (108 bytes) with room for "<64-char id>.sock".
    if s.len() > 108 - 70 {
        return Err("too long: socket paths must fit in 108 bytes with the socket name".to_owned());
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumi_common::env::MapEnv;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, Vec<EnvError>> {
        Config::load(&Cli::default(), &MapEnv::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn defaults_follow_the_guide() {
        let c = load(&[]).unwrap();
        assert_eq!(c.port, 8765);
        assert_eq!(c.bind_address.to_string(), "127.0.0.1");
        assert_eq!(c.security_mode, SecurityMode::Strict);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.max_request_body_bytes, 1024 * 1024);
        assert_eq!(c.max_response_bytes, 4 * 1024 * 1024);
        assert_eq!(c.max_concurrent_flows, 10);
        assert_eq!(c.max_context_bytes, 8 * 1024 * 1024);
        assert_eq!(
            (
                c.max_flows_per_pack,
                c.max_running_containers,
                c.max_containers_per_pack
            ),
            (4, 16, 4)
        );
        assert_eq!(c.egress_socket_mode, 0o660);
        assert_eq!(c.egress_sock_dir, PathBuf::from("/run/rumi/egress/packs"));
        assert!(c.cors_origins.is_empty());
        assert!(!c.hmac_rotate);
        assert_eq!(c.api_header_read_timeout, std::time::Duration::from_secs(10));
        assert_eq!(c.api_max_unauthenticated_connections, 256);
        assert_eq!(c.audit_reserve_bytes, 4 * 1024 * 1024);
    }

    #[test]
    fn every_bad_variable_is_reported_at_once() {
        let errs = load(&[
            (ENV_API_PORT, "70000"),
            (ENV_SECURITY_MODE, "lax"),
            (ENV_LOG_FORMAT, "xml"),
            (ENV_MAX_REQUEST_BODY_BYTES, "-1"),
            (ENV_CORS_ORIGINS, "http://ok:1,javascript:alert(1)"),
            (ENV_EGRESS_SOCKET_MODE, "999"),
            (ENV_EGRESS_SOCK_DIR, "relative/dir"),
            (ENV_SECRETS_KEY, "not-a-key"),
            (ENV_HMAC_ROTATE, "sometimes"),
        ])
        .unwrap_err();
        let vars: Vec<&str> = errs.iter().map(|e| e.var.as_str()).collect();
        assert_eq!(
            vars,
            [
                ENV_API_PORT,
                ENV_SECURITY_MODE,
                ENV_LOG_FORMAT,
                ENV_SECRETS_KEY,
                ENV_MAX_REQUEST_BODY_BYTES,
                ENV_CORS_ORIGINS,
                ENV_HMAC_ROTATE,
                ENV_EGRESS_SOCKET_MODE,
                ENV_EGRESS_SOCK_DIR,
            ]
        );
        assert!(errs.iter().all(|e| !e.value.contains("not-a-key")));
    }

    #[test]
    fn flags_beat_environment() {
        let cli = Cli {
            port: Some(9000),
            permissive: true,
            ..Cli::default()
        };
        let env = MapEnv::from_pairs([(ENV_API_PORT, "9100"), (ENV_SECURITY_MODE, "strict")]);
        let c = Config::load(&cli, &env).unwrap();
        assert_eq!(c.port, 9000);
        assert_eq!(c.security_mode, SecurityMode::Permissive);
    }

    #[test]
    fn origins_and_keys_parse() {
        let c = load(&[
            (ENV_CORS_ORIGINS, "http://localhost:3000, https://ops.example"),
            (ENV_SECRETS_KEY, "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="),
        ])
        .unwrap();
        assert_eq!(c.cors_origins.len(), 2);
        assert!(c.secrets_key.is_some());
        assert!(!format!("{c:?}").contains("cw_0x689"));
    }
}
