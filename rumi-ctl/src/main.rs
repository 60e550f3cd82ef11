//! `rumi-ctl`: the operator CLI. Talks to rumid's HTTP API; reads the token from
//! `RUMI_TOKEN` or derives it from the home's key file.
//!
//! Exit codes ([`failure::Exit`], listed in docs/operator-guide.md): 0 success (also when
//! the reader of stdout went away); 1 failure; 2 usage error; 3 rumid unreachable; 4 token
//! refused or missing; 5 not found; 6 conflict.
#![forbid(unsafe_code)]

mod cli;
mod client;
mod commands;
mod failure;
mod home;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
    match commands::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        // `rumi-ctl packs list | head -1`: the reader has what it wanted.
        Err(e) if e.downcast_ref::<output::StdoutClosed>().is_some() => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(failure::report(&e, cli.json).code()),
    }
}

/// A command line clap refused (or `--help`, `--version`): clap's text and code, or with
/// `--json` on the line an error object on stdout.
fn usage(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let is_error = !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
    if is_error && std::env::args_os().any(|a| a == "--json") {
        let text = e.render().to_string();
        let first = text.lines().next().unwrap_or_default();
        let message = first.strip_prefix("error: ").unwrap_or(first);
        let _ = output::json(&failure::error_json(
            failure::Exit::Usage,
            message,
            "rumi-ctl --help lists the commands and options",
        ));
        return ExitCode::from(failure::Exit::Usage.code());
    }
    // A closed stdout or stderr leaves nobody to tell.
    let _ = e.print();
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(failure::Exit::Usage.code()))
}
