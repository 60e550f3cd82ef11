//! `rumi-ctl`: the operator CLI. Talks to rumid's HTTP API; reads the token from
//! `RUMI_TOKEN` or derives it from the home's key file.
//!
//! Exit codes: 0 success; 1 the API refused or failed (the RUMI code and suggestion are
//! printed); 2 usage error.
#![forbid(unsafe_code)]

mod cli;
mod client;
mod commands;
mod output;

use std::process::ExitCode;

use clap::Parser;

#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<client::ApiError>() {
                Some(api) => output::print_api_error(api, cli.json),
                None => eprintln!("rumi-ctl: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}
