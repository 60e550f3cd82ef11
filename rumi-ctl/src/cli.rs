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
    /// Rumi home (for the key file and the bound address). Default: RUMI_HOME, else the working directory.
    #[arg(long, global = true, env = "RUMI_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// API base URL. Default: the address the instance recorded in its home, else http://127.0.0.1:8765.
    #[arg(long, global = true, env = "RUMI_URL")]
    pub url: Option<String>,
    /// API token. Default: derived from <home>/user_data/settings/.hmac_key.
    #[arg(long = "token", global = true, env = "RUMI_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
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
}

#[derive(Debug, Subcommand)]
pub enum PacksCommand {
    /// List every installed pack.
    List,
    /// List packs waiting for a decision (installed, pending, modified).
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
}
