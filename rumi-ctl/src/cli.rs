//! The command line of `rumi-ctl`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "rumi-ctl",
    version,
    about = "Operate a Rumi instance: approvals, health, token"
)]
pub struct Cli {
    /// Rumi home (for the key file and the bound address). Default: RUMI_HOME, else RUMI_HOME in
    /// the units' environment file, else /var/lib/rumi if it exists, else the working directory.
    #[arg(long, global = true, env = "RUMI_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765.
    #[arg(long, global = true, env = "RUMI_URL")]
    pub url: Option<String>,
    /// API token. Default: derived from <home>/user_data/settings/.hmac_key.
    #[arg(long = "token", global = true, env = "RUMI_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print machine-readable JSON instead of tables (errors too, on stdout).
    #[arg(long, global = true)]
    pub json: bool,
    /// Print tables without their header line.
    #[arg(long, global = true)]
    pub no_headers: bool,
    /// Print only the first column (the ids) of lists, and nothing for commands that succeed.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// The environment file of the Rumi units, read for RUMI_HOME when no home is given.
    #[arg(long, global = true, env = "RUMI_ENV_FILE", value_name = "FILE", default_value = crate::home::SYSTEM_ENV_FILE)]
    pub env_file: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// How lists and confirmations are printed.
    pub fn style(&self) -> crate::output::Style {
        crate::output::Style {
            no_headers: self.no_headers,
            quiet: self.quiet,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the API token derived from the home's key file.
    Token,
    /// Show the instance's health (all probes).
    Health,
    /// Manage packs and their approval.
    #[command(subcommand)]
    Packs(PacksCommand),
    /// Network grants (what rumi-egressd lets a pack reach).
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Capability handler candidates and capability grants.
    #[command(subcommand)]
    Capability(CapabilityCommand),
    /// Secrets (values are read from stdin or a prompt, never from the command line).
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Stores and store shares.
    #[command(subcommand)]
    Stores(StoresCommand),
    /// Flows: list, run, reload.
    #[command(subcommand)]
    Flows(FlowsCommand),
    /// Docker engine status and Rumi's containers.
    #[command(subcommand)]
    Docker(DockerCommand),
    /// pip dependencies (requirements.lock) of packs: scan, approve (installs), reject.
    #[command(subcommand)]
    Pip(PipCommand),
    /// Pack routes (routes.json of approved packs).
    #[command(subcommand)]
    Routes(RoutesCommand),
    /// Units: list, publish and execute.
    #[command(subcommand)]
    Units(UnitsCommand),
    /// Host privileges of packs (pack.update, system.diagnostics, system.restart).
    #[command(subcommand)]
    Privileges(PrivilegesCommand),
    /// The runtime image that runs pack code in strict mode.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Set up, check, repair and start a home: with no command a menu on a terminal, with
    /// --web the same in a browser page.
    Setup(SetupArgs),
    /// Show the audit log, newest last; filter it, and follow new events with --follow.
    Audit {
        /// Only this category (approval, security, system, permission, network, flow_execution,
        /// modifier_application, python_file_call); repeatable.
        #[arg(short, long = "category", value_name = "CATEGORY", value_parser = crate::commands::audit::parse_category)]
        categories: Vec<String>,
        /// Only events about this pack: its owner_pack, or the pack_id, target_pack or principal
        /// (the pack or one of its sub-principals) in its details.
        #[arg(short, long, value_name = "PACK_ID")]
        pack: Option<String>,
        /// Only this action (pack_approved, auth_failed, network_request…).
        #[arg(long)]
        action: Option<String>,
        /// Only events that failed or were refused (success false).
        #[arg(long)]
        failed: bool,
        /// Only events at or after WHEN: a duration back from now (90s, 10m, 2h, 7d) or a UTC
        /// time (2026-11-26, 2026-11-26T10:00:00Z).
        #[arg(long, value_name = "WHEN", value_parser = crate::commands::audit::parse_since)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// How many of the newest matching events to show first (0 with --follow: only new ones).
        #[arg(short = 'n', long, value_name = "N", default_value_t = 20)]
        limit: usize,
        /// Keep printing new events as they are written, until interrupted.
        #[arg(short, long)]
        follow: bool,
        /// Where to read: the home's audit files, rumid's API (the two newest days, at most 500
        /// events), or auto: the files when they can be read and no --url is given.
        #[arg(long, value_enum, default_value = "auto")]
        source: AuditSource,
    },
    /// Write a new pack skeleton to <output-dir>/<pack_id>/ (it validates and, once approved, runs).
    Scaffold {
        pack_id: String,
        /// What the skeleton holds.
        #[arg(long, value_enum, default_value = "minimal")]
        template: Template,
        /// Parent directory of the new pack. Default: <home>/ecosystem.
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
    },
    /// Print shell completions (bash, zsh, fish, elvish, powershell), or write the bash, zsh
    /// and fish files into a directory.
    Completions {
        /// The shell.
        #[arg(required_unless_present = "dir")]
        shell: Option<clap_complete::Shell>,
        /// Write rumi-ctl.bash, _rumi-ctl and rumi-ctl.fish into DIR instead of printing.
        #[arg(long, value_name = "DIR", conflicts_with = "shell")]
        dir: Option<PathBuf>,
    },
    /// Print the manual page (roff) of rumi-ctl or of one command, or write every page into a
    /// directory.
    Man {
        /// A command (packs, network, audit…); without one, rumi-ctl(1).
        command: Option<String>,
        /// Write rumi-ctl.1 and every rumi-ctl-COMMAND.1 into DIR instead of printing.
        #[arg(long, value_name = "DIR", conflicts_with = "command")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UnitsCommand {
    /// List published units, optionally of one store.
    List {
        /// Only the units of this store.
        #[arg(long)]
        store_id: Option<String>,
    },
    /// Publish a unit directory of an approved pack (its files' sha256 become trusted).
    Publish {
        store_id: String,
        /// The directory holding unit.json, inside ecosystem/<pack>/ (relative to the home, or absolute).
        source_dir: String,
        namespace: String,
        name: String,
        version: String,
    },
    /// Execute a unit for a principal pack; prints its output as JSON.
    Execute {
        principal_id: String,
        store_id: String,
        namespace: String,
        name: String,
        version: String,
        /// Arguments as a JSON object.
        #[arg(long, default_value = "{}")]
        args: String,
        /// pack_container (default) or sandbox.
        #[arg(long)]
        mode: Option<String>,
        /// Seconds, 1-300 (default 60).
        #[arg(long)]
        timeout: Option<f64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PipCommand {
    /// Scan packs for requirements.lock files.
    Scan,
    /// List candidates, optionally by status (pending, installed, failed, rejected, blocked).
    List {
        /// Only candidates in this state.
        #[arg(long)]
        status: Option<String>,
    },
    /// Approve a candidate: downloads and installs it in builder containers, then returns.
    Approve {
        candidate_key: String,
        /// Allow source distributions (default: wheels only).
        #[arg(long)]
        allow_sdist: bool,
        /// Package index (https, not an internal host). Default: https://pypi.org/simple.
        #[arg(long)]
        index_url: Option<String>,
    },
    /// Reject a candidate (1 h cooldown; blocked at the third rejection).
    Reject {
        candidate_key: String,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// List blocked candidates.
    Blocked,
    /// Unblock a candidate (it returns to pending, its rejection count reset).
    Unblock {
        candidate_key: String,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PrivilegesCommand {
    /// List every privilege and the packs holding it.
    List,
    /// Grant a privilege to a pack.
    Grant { pack_id: String, privilege_id: String },
    /// Revoke a privilege from a pack.
    Revoke { pack_id: String, privilege_id: String },
    /// Execute a privilege on behalf of a pack that holds it.
    Execute {
        pack_id: String,
        privilege_id: String,
        /// Arguments as a JSON object, e.g. '{"target_pack":"p","staging_id":"…"}'.
        #[arg(long, default_value = "{}")]
        args: String,
    },
}

/// `rumi-ctl setup`: one command, the menu (no command) or the web page (`--web`).
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SetupArgs {
    #[command(subcommand)]
    pub command: Option<SetupCommand>,
    /// Show the menu even when stdin is not a terminal (choices are read line by line).
    #[arg(long, conflicts_with = "web")]
    pub menu: bool,
    /// Serve the checks, init, doctor and recover as a browser page (Ctrl-C stops it).
    #[arg(long)]
    pub web: bool,
    /// The web page's port (0 picks a free one).
    #[arg(long, value_name = "N", default_value_t = crate::commands::setup::web::DEFAULT_PORT, requires = "web")]
    pub port: u16,
    /// The web page's address. Default 127.0.0.1; any other address exposes the page (still
    /// behind its token) to the network.
    #[arg(long, value_name = "ADDR", requires = "web")]
    pub bind: Option<std::net::IpAddr>,
    /// The engine the menu's and the page's check and doctor look at.
    #[command(flatten)]
    pub engine: Engine,
}

#[derive(Debug, Subcommand)]
pub enum SetupCommand {
    /// Check directories, key file modes, python3, the Docker engine and the runtime image.
    /// Exits 1 when an error is found; warnings do not change the exit code.
    Check {
        #[command(flatten)]
        engine: Engine,
    },
    /// Create a home: its directories, the instance key (0600) and an example pack `hello`.
    /// Never overwrites anything.
    Init {
        /// Do not write the example pack.
        #[arg(long)]
        no_example: bool,
    },
    /// Everything `check` does, plus the running instance (helpers, pending packs), the
    /// pending export, directory modes and leftovers; each problem with its fix.
    Doctor {
        #[command(flatten)]
        engine: Engine,
    },
    /// Repair what can be repaired without losing data: modes of the settings and audit
    /// directories and key files, leftovers of interrupted writes, the pending export; with
    /// --restore-pack, the pack's latest backup back into ecosystem/.
    Recover {
        /// Move this pack's latest backup back into ecosystem/ (the current copy is backed up
        /// first); it then needs approval again.
        #[arg(long, value_name = "PACK_ID")]
        restore_pack: Option<String>,
    },
    /// Check, init the home if it has no key yet, doctor, then start rumid for this home in
    /// the foreground (permissive, loudly, when no Docker engine answers).
    Run {
        #[command(flatten)]
        engine: Engine,
        /// rumid's API port (0 picks a free one). Default: rumid's (RUMI_API_PORT, else 8765).
        #[arg(long, value_name = "N")]
        port: Option<u16>,
        /// How pack code runs. Default auto: strict when a Docker engine answers, else
        /// permissive (development only: pack code on the host).
        #[arg(long, value_enum, default_value = "auto")]
        mode: RunMode,
        /// Start even when doctor finds errors.
        #[arg(long)]
        force: bool,
    },
}

/// The security mode `setup run` starts rumid in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunMode {
    /// Strict when a Docker engine answers, else permissive.
    Auto,
    /// Pack code only in containers.
    Strict,
    /// Pack code on the host (development only).
    Permissive,
}

/// The Docker engine and runtime image `setup check` and `setup doctor` look at.
#[derive(Debug, Clone, clap::Args)]
pub struct Engine {
    /// The Docker engine's socket.
    #[arg(long, env = "RUMI_DOCKER_SOCKET", default_value = "/var/run/docker.sock")]
    pub docker_socket: String,
    /// The runtime image strict mode uses.
    #[arg(long, env = "RUMI_RUNTIME_IMAGE", default_value = "rumi-runtime:bookworm")]
    pub image: String,
}

/// Where `rumi-ctl audit` reads the log.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AuditSource {
    /// The files when they can be read, else the API.
    Auto,
    /// `<home>/user_data/audit/*.jsonl`.
    Files,
    /// `GET /api/audit/recent`.
    Api,
}

/// `rumi-ctl scaffold` templates.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Template {
    /// `ecosystem.json` and one block.
    Minimal,
    /// Minimal plus a capability handler candidate.
    Capability,
    /// Minimal plus a flow that runs the block.
    Flow,
    /// Everything: block, flow, capability handler and an install lib script.
    Full,
}

#[derive(Debug, Subcommand)]
pub enum FlowsCommand {
    /// List loaded flows and load problems.
    List,
    /// Run a flow and print its result.
    Run {
        flow_id: String,
        /// Inputs as a JSON object.
        #[arg(long, default_value = "{}")]
        inputs: String,
        /// Time budget in seconds (at most 600).
        #[arg(long, default_value_t = 300.0)]
        timeout: f64,
    },
    /// Reload flows and modifiers from disk.
    Reload,
}

#[derive(Debug, Subcommand)]
pub enum DockerCommand {
    /// Whether the engine answers, and the image in use.
    Status,
    /// Containers Rumi is running.
    Containers,
    /// Remove every container of a pack (its spares too).
    Remove { pack_id: String },
    /// Check that a pack's sandbox starts now (no pack code runs); in strict mode this also
    /// warms the pack's spare containers.
    Start { pack_id: String },
}

#[derive(Debug, Subcommand)]
pub enum RoutesCommand {
    /// Pack routes and the diagnostics of the last load.
    List,
    /// Reload flows, modifiers and pack routes.
    Reload,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build the runtime image locally (debootstrap + docker import; no registry needed).
    Build {
        /// Image name.
        #[arg(long, default_value = "rumi-runtime:bookworm")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// List every network grant.
    List,
    /// Grant (or replace) a pack's network access.
    Grant {
        pack_id: String,
        /// Allowed domain: exact name, *.suffix, IP literal, or * (repeatable).
        #[arg(long = "domain", required = true)]
        domains: Vec<String>,
        /// Allowed port; 0 means any (repeatable).
        #[arg(long = "port", required = true)]
        ports: Vec<u32>,
        /// A note recorded with the decision.
        #[arg(long)]
        notes: Option<String>,
    },
    /// Disable a pack's network grant.
    Revoke {
        pack_id: String,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Whether a pack may reach domain:port now.
    Check { pack_id: String, domain: String, port: u16 },
}

#[derive(Debug, Subcommand)]
pub enum CapabilityCommand {
    /// Scan packs for capability handler candidates.
    Scan,
    /// List candidates, optionally by status (pending, installed, rejected, blocked, failed).
    Requests {
        /// Only candidates in this state.
        #[arg(long)]
        status: Option<String>,
    },
    /// Approve a candidate (trust its sha256 and install it).
    Approve {
        candidate_key: String,
        /// A note recorded with the decision.
        #[arg(long)]
        notes: Option<String>,
    },
    /// Reject a candidate (1 h cooldown; blocked at the third rejection).
    Reject {
        candidate_key: String,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// List blocked candidates.
    Blocked,
    /// Unblock a candidate (it returns to rejected with a fresh cooldown).
    Unblock {
        candidate_key: String,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// List capability grants.
    Grants {
        /// Only this principal's grants (exact match).
        #[arg(long)]
        principal: Option<String>,
    },
    /// Grant a permission to a principal.
    Grant {
        principal_id: String,
        permission_id: String,
        /// Grant config as a JSON object, e.g. '{"allowed_store_ids":["notes"]}'.
        #[arg(long)]
        config: Option<String>,
    },
    /// Revoke a permission from a principal.
    Revoke {
        principal_id: String,
        permission_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// List keys (never values).
    List,
    /// Set a secret; the value is read from stdin (or a hidden prompt on a terminal).
    Set { key: String },
    /// Delete a secret (leaves a tombstone).
    Delete { key: String },
}

#[derive(Debug, Subcommand)]
pub enum StoresCommand {
    /// List stores.
    List,
    /// Create a store.
    Create {
        store_id: String,
        /// The pack that owns the store (default: none, an operator store).
        #[arg(long)]
        owner: Option<String>,
    },
    /// List store shares.
    Shared,
    /// Let target_pack use owner_pack's store.
    ShareApprove {
        store_id: String,
        owner_pack: String,
        target_pack: String,
    },
    /// Revoke a share.
    ShareRevoke {
        store_id: String,
        owner_pack: String,
        target_pack: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PacksCommand {
    /// List every installed pack.
    List,
    /// List packs waiting for a decision (pending, modified).
    Pending,
    /// Show one pack in detail.
    Status { pack_id: String },
    /// Rediscover packs and re-verify approved ones.
    Scan,
    /// Approve a pack (hashes every file).
    Approve { pack_id: String },
    /// Reject (block) a pack.
    Reject {
        pack_id: String,
        /// Why the pack is rejected (recorded and audited).
        #[arg(long)]
        reason: String,
    },
    /// Uninstall a pack (its directory moves to user_data/backups/packs/).
    Uninstall { pack_id: String },
    /// Stage a pack from a folder, .zip or .rumipack (nothing is installed yet).
    Import {
        /// The folder or archive; made absolute here, read by rumid.
        path: std::path::PathBuf,
        /// A note kept in the audit log.
        #[arg(long)]
        notes: Option<String>,
    },
    /// List staged imports.
    Staging,
    /// Install a staged pack (backs up and replaces an installed one of the same identity).
    Apply { staging_id: String },
    /// Remove a staged import.
    Discard { staging_id: String },
}
