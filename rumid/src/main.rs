//! `rumid` binary: parse the configuration, set up logging, call the library.
//!
//! Exit codes: 0 clean stop or success; 1 start-up or runtime failure (`--health`: not UP,
//! `--validate`: errors found); 2 invalid configuration.

use std::process::ExitCode;

use clap::Parser;
use rumi_common::env::ProcessEnv;
use rumid::config::{Cli, Command, Config};

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli, &ProcessEnv) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("rumid: invalid configuration:");
            for e in errors {
                eprintln!("  {e}");
            }
            return ExitCode::from(2);
        }
    };
    rumi_common::telemetry::init(config.log_format, config.log_level);
    rumid::approval::discovery::enable_local_pack(
        config.local_pack_mode == rumid::config::LocalPackMode::RequireApproval,
    );

    match config.command {
        Command::Validate => {
            let f = rumid::validate::validate(&config.home, config.deprecation_level);
            for line in &f.lines {
                println!("{line}");
            }
            if f.errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::AdoptSignedState => match rumid::adopt_signed_state(&config) {
            Ok(n) => {
                println!("adopted {n} signed files as they are; the generation journal was rebuilt from them");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rumid: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Health => {
            let (report, up) = rumid::probe::check(&config);
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            if up { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Command::Run => {
            let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("rumid: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(rumid::run(config, rumi_common::shutdown::signal())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "rumid failed");
                    eprintln!("rumid: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
