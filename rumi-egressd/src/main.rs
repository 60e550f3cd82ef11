//! `rumi-egressd` binary. Exit codes: 0 clean stop, 1 failure, 2 invalid configuration.

use std::process::ExitCode;

use clap::Parser;
use rumi_common::env::ProcessEnv;
use rumi_egressd::config::{Cli, Config};

fn main() -> ExitCode {
    let _ = Cli::parse();
    rumi_common::helper::main(
        "rumi-egressd",
        Config::load(&ProcessEnv),
        |c| (c.log_format, c.log_level, c.journal_stream),
        |c| rumi_egressd::run(c, rumi_common::shutdown::signal()),
    )
}
