//! `rumi-capd` binary. Exit codes: 0 clean stop, 1 failure, 2 invalid configuration.

use std::process::ExitCode;

use clap::Parser;
use rumi_capd::config::{Cli, Config};
use rumi_common::env::ProcessEnv;

fn main() -> ExitCode {
    let _ = Cli::parse();
    rumi_common::helper::main(
        "rumi-capd",
        Config::load(&ProcessEnv),
        |c| (c.log_format, c.log_level, c.journal_stream),
        |c| rumi_capd::run(c, rumi_common::shutdown::signal()),
    )
}
