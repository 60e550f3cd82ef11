//! `rumi-capd` binary. Exit codes: 0 clean stop, 1 failure, 2 invalid configuration.

use std::process::ExitCode;

use clap::Parser;
use rumi_capd::config::{Cli, Config};
use rumi_common::env::ProcessEnv;

#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    let _ = Cli::parse();
    let config = match Config::load(&ProcessEnv) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("rumi-capd: invalid configuration:");
            for e in errors {
                eprintln!("  {e}");
            }
            return ExitCode::from(2);
        }
    };
    rumi_common::telemetry::init(config.log_format, config.log_level);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rumi-capd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(rumi_capd::run(config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rumi-capd: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
