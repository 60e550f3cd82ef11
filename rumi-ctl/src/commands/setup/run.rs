//! `rumi-ctl setup run`: check, init the home if it has no key yet, doctor, then become
//! rumid for this home in the foreground.
//!
//! rumi-ctl `exec`s the daemon rather than supervising it, so Ctrl-C, SIGTERM and the exit
//! code are rumid's own and no rumi-ctl process sits in between holding the instance key.
//! It refuses when a rumid already answers for the home: a second instance would fight the
//! first over the home's files and sockets.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use super::Finding;
use crate::cli::{Cli, Engine, RunMode};
use crate::client::{self, Client, Unreachable};
use crate::failure;
use crate::output::{errln, outln};

/// Checks about the container engine; they do not stop a permissive start, which runs pack
/// code without it.
const ENGINE_CHECKS: [&str; 4] = ["docker", "runtime_image", "gvisor", "podman"];

/// What `setup run` was asked.
pub struct Options<'a> {
    pub engine: &'a Engine,
    pub port: Option<u16>,
    pub mode: RunMode,
    pub force: bool,
}

/// Whether a home has been set up: its layout and its instance key exist.
fn initialised(home: &Path) -> bool {
    home.join("user_data/settings/.hmac_key").is_file()
        && ["flows", "ecosystem", "user_data"]
            .iter()
            .all(|d| home.join(d).is_dir())
}

/// The address of a rumid that answers for this home, if one does. A refusal (wrong token)
/// still means something serves there.
fn serving(cli: &Cli) -> Option<String> {
    let client = Client::new(cli).ok()?;
    match client.call("GET", "/api/health", None) {
        Ok(_) => Some(client.base().to_owned()),
        Err(e) if e.downcast_ref::<Unreachable>().is_some() => None,
        Err(_) => Some(client.base().to_owned()),
    }
}

/// The rumid binary: next to this rumi-ctl (a build tree, the package's /usr/bin), else
/// whatever `rumid` is on PATH.
fn rumid_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("rumid")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("rumid"))
}

/// Whether the security mode is permissive, given what the checks found.
fn permissive(mode: RunMode, findings: &[Finding]) -> bool {
    match mode {
        RunMode::Strict => false,
        RunMode::Permissive => true,
        RunMode::Auto => !findings.iter().any(|f| f.check == "docker" && f.level == "ok"),
    }
}

/// The errors that stop the start: every `error`, except the engine's in permissive mode.
fn blocking(findings: &[Finding], permissive: bool) -> Vec<&Finding> {
    findings
        .iter()
        .filter(|f| f.level == "error" && !(permissive && ENGINE_CHECKS.contains(&f.check)))
        .collect()
}

/// Runs the steps, then replaces this process with rumid. Returns only on failure.
///
/// # Errors
/// [`failure::Conflict`] when a rumid already serves the home; a reported failure when
/// doctor finds errors (unless `force`); init's errors; rumid that cannot be executed.
pub fn run(cli: &Cli, opts: &Options<'_>) -> Result<()> {
    let home = std::path::absolute(client::home(cli)).context("cannot resolve the home")?;
    if let Some(base) = serving(cli) {
        return Err(failure::Conflict {
            message: format!("a rumid already serves {} at {base}", home.display()),
            suggestion: "use it (rumi-ctl health), or stop it first (systemctl stop rumid, or Ctrl-C where it runs)"
                .to_owned(),
        }
        .into());
    }
    let (socket, image) = (&opts.engine.docker_socket, &opts.engine.image);
    outln!("== check")?;
    let checked = super::check(&home, socket, image);
    crate::commands::print_findings(cli, &checked)?;
    if !initialised(&home) {
        outln!("== init")?;
        crate::commands::setup_init(cli, true)?;
    }
    outln!("== doctor")?;
    let found: Vec<Finding> = super::doctor(&home, socket, image, None)
        .into_iter()
        // No instance answers (checked above); its warning would only say to start one.
        .filter(|f| f.check != "instance")
        .collect();
    // check's findings again are noise; what changed (init) or is new (doctor) is shown.
    let new: Vec<Finding> = found
        .iter()
        .filter(|f| {
            !checked
                .iter()
                .any(|c| c.check == f.check && c.level == f.level && c.message == f.message)
        })
        .cloned()
        .collect();
    crate::commands::print_findings(cli, &new)?;
    let permissive = permissive(opts.mode, &found);
    let errors = blocking(&found, permissive);
    if !errors.is_empty() && !opts.force {
        let names: Vec<&str> = errors.iter().map(|f| f.check).collect();
        return failure::reported(format!(
            "not starting rumid: doctor found {} error(s) ({}); fix them (`rumi-ctl setup recover` repairs some) or pass --force",
            errors.len(),
            names.join(", ")
        ));
    }
    let rumid = rumid_binary();
    let mut cmd = std::process::Command::new(&rumid);
    cmd.arg("--home").arg(&home);
    if let Some(port) = opts.port {
        cmd.arg("--port").arg(port.to_string());
    }
    if permissive {
        cmd.arg("--permissive");
        errln!("");
        errln!("!!! rumid starts in PERMISSIVE mode: pack code runs on this host, not in containers.");
        if opts.mode == RunMode::Auto {
            errln!("!!! No Docker engine answers at {socket}; start one (or set RUMI_DOCKER_SOCKET) for strict mode.");
        }
        errln!("!!! Use this for development only.");
        errln!("");
    }
    outln!(
        "== starting {} --home {}{}{}",
        rumid.display(),
        home.display(),
        opts.port.map(|p| format!(" --port {p}")).unwrap_or_default(),
        if permissive { " --permissive" } else { "" }
    )?;
    std::io::Write::flush(&mut std::io::stdout())?;
    // Only returns when the exec failed.
    let e = cmd.exec();
    Err(e).with_context(|| {
        format!(
            "cannot start {} (looked next to rumi-ctl, then on PATH)",
            rumid.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(check: &'static str, level: &'static str) -> Finding {
        Finding {
            check,
            level,
            message: String::new(),
            fix: String::new(),
        }
    }

    #[test]
    fn auto_is_strict_only_when_the_engine_answers() {
        let up = [finding("docker", "ok")];
        let down = [finding("docker", "warning")];
        assert!(!permissive(RunMode::Auto, &up));
        assert!(permissive(RunMode::Auto, &down));
        assert!(permissive(RunMode::Auto, &[]));
        assert!(!permissive(RunMode::Strict, &down));
        assert!(permissive(RunMode::Permissive, &up));
    }

    #[test]
    fn engine_errors_do_not_stop_a_permissive_start() {
        let found = [
            finding("runtime_image", "error"),
            finding("python", "error"),
            finding("layout", "warning"),
        ];
        let names = |v: Vec<&Finding>| v.iter().map(|f| f.check).collect::<Vec<_>>();
        assert_eq!(names(blocking(&found, true)), ["python"]);
        assert_eq!(names(blocking(&found, false)), ["runtime_image", "python"]);
    }
}
