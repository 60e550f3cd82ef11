//! `rumid` binary: parse the configuration, set up logging, call the library.
//!
//! Exit codes: 0 clean stop or success; 1 start-up or runtime failure (`--health`: not UP,
//! `--validate`: errors found); 2 invalid configuration.

use std::process::ExitCode;

use std::io::Write;

use clap::Parser;
use rumi_common::env::ProcessEnv;
use rumi_common::telemetry::print_stderr;
use rumid::config::{Cli, Command, Config};

/// Prints a line of a command's output; a closed stdout is not worth a panic.
fn print_line(line: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli, &ProcessEnv) {
        Ok(c) => c,
        Err(errors) => {
            print_stderr("rumid: invalid configuration:");
            for e in errors {
                print_stderr(&format!("  {e}"));
            }
            return ExitCode::from(2);
        }
    };
    let _log = rumi_common::telemetry::init(
        config.log_format,
        config.log_level,
        config.journal_stream.as_ref(),
        "rumid",
    );
    rumid::approval::discovery::enable_local_pack(
        config.local_pack_mode == rumid::config::LocalPackMode::RequireApproval,
    );

    match config.command {
        Command::Validate => {
            let f = rumid::validate::validate(&config.home, config.deprecation_level);
            for line in &f.lines {
                print_line(line);
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
            print_line(&serde_json::to_string_pretty(&report).unwrap_or_default());
            if up { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Command::Run => {
            let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    print_stderr(&format!("rumid: cannot start the runtime: {e}"));
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(rumid::run(config, rumi_common::shutdown::signal())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "rumid failed");
                    print_stderr(&format!("rumid: {e}"));
                    ExitCode::FAILURE
                }
            }
        }
    }
}
