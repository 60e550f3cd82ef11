//! `rumi-ctl man`: manual pages, generated from the command line itself.
//!
//! `rumi-ctl(1)` covers the global options and lists the commands; each command has its own
//! page, `rumi-ctl-packs(1)` and so on, which documents every subcommand with its arguments
//! and options. Every page ends with EXIT STATUS, ENVIRONMENT and FILES. The Debian package
//! installs the pages checked in under `rumi-ctl/gen/man/`; a unit test fails when they
//! differ from what this binary generates.

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::{Arg, CommandFactory};
use clap_mangen::Man;
use clap_mangen::roff::{Inline, Roff, bold, italic, roman};

use crate::cli::Cli;
use crate::failure::Exit;

/// One page: its file name (`rumi-ctl-packs.1`) and its roff text.
pub struct Page {
    pub file: String,
    pub roff: Vec<u8>,
}

/// The command line, built (global options propagated, display names set).
fn root() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// Every page: `rumi-ctl.1`, then one per command in the order of `--help`.
///
/// # Errors
/// When roff cannot be written (into memory: never in practice).
pub fn pages() -> Result<Vec<Page>> {
    let root = root();
    let mut out = vec![Page {
        file: "rumi-ctl.1".to_owned(),
        roff: render(&root, true)?,
    }];
    for sub in root.get_subcommands().filter(|s| !s.is_hide_set()) {
        out.push(Page {
            file: format!("rumi-ctl-{}.1", sub.get_name()),
            roff: render(sub, false)?,
        });
    }
    Ok(out)
}

/// The page of `command` (`packs`), or `rumi-ctl(1)` itself.
///
/// # Errors
/// When there is no such command.
pub fn page(command: Option<&str>) -> Result<Vec<u8>> {
    let file = command.map_or_else(|| "rumi-ctl.1".to_owned(), |c| format!("rumi-ctl-{c}.1"));
    match pages()?.into_iter().find(|p| p.file == file) {
        Some(p) => Ok(p.roff),
        None => bail!(
            "no manual page for {:?}: `rumi-ctl --help` lists the commands",
            command.unwrap_or_default()
        ),
    }
}

/// Writes every page into `dir` (created if missing).
///
/// # Errors
/// When a file cannot be written.
pub fn write_all(dir: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for p in pages()? {
        let path = dir.join(&p.file);
        std::fs::write(&path, &p.roff).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

fn render(cmd: &clap::Command, is_root: bool) -> Result<Vec<u8>> {
    let man = Man::new(cmd.clone())
        .manual("Rumi")
        .source(format!("rumi-ctl {}", env!("CARGO_PKG_VERSION")));
    let mut w = Vec::new();
    man.render_title(&mut w)?;
    man.render_name_section(&mut w)?;
    let mut roff = Roff::new();
    // clap_mangen's synopsis lists every global flag without its value; ours says where they go.
    roff.control("SH", ["SYNOPSIS"]);
    let synopsis = if is_root {
        vec![
            bold("rumi-ctl"),
            roman(" ["),
            italic("OPTIONS"),
            roman("] "),
            italic("COMMAND"),
        ]
    } else if cmd.has_subcommands() {
        vec![
            bold("rumi-ctl"),
            roman(" ["),
            italic("GLOBAL OPTIONS"),
            roman("] "),
            bold(cmd.get_name().to_owned()),
            roman(" "),
            italic("COMMAND"),
            roman(" ["),
            italic("ARGS"),
            roman("]"),
        ]
    } else {
        vec![bold(
            cmd.clone()
                .render_usage()
                .to_string()
                .trim_start_matches("Usage: ")
                .trim()
                .to_owned(),
        )]
    };
    roff.text(synopsis);
    roff.to_writer(&mut w)?;
    man.render_description_section(&mut w)?;
    let mut roff = Roff::new();
    let own: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && a.get_id() != "help" && (is_root || !a.is_global_set()))
        .collect();
    if !own.is_empty() {
        roff.control("SH", ["OPTIONS"]);
        args(&mut roff, &own);
    }
    if !is_root {
        roff.control("SH", ["GLOBAL OPTIONS"]);
        roff.text([
            roman("--home, --url, --token, --json, --no-headers, -q/--quiet and --env-file, as described in "),
            bold("rumi-ctl"),
            roman("(1)."),
        ]);
    }
    let subs: Vec<&clap::Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    if !subs.is_empty() {
        roff.control("SH", ["COMMANDS"]);
        for sub in subs {
            if is_root {
                roff.control("TP", []);
                roff.text([bold(format!("rumi-ctl-{}", sub.get_name())), roman("(1)")]);
                roff.text([roman(about(sub))]);
            } else {
                subcommand(&mut roff, sub);
            }
        }
    }
    exit_status(&mut roff);
    environment(&mut roff);
    files(&mut roff);
    roff.control("SH", ["SEE ALSO"]);
    let mut see: Vec<Inline> = Vec::new();
    if !is_root {
        see.extend([bold("rumi-ctl"), roman("(1), ")]);
    }
    see.push(roman(
        "the operator guide in /usr/share/doc/rumi/operator-guide.md (docs/operator-guide.md in the source tree)",
    ));
    roff.text(see);
    roff.control("SH", ["VERSION"]);
    roff.text([roman(format!("v{}", env!("CARGO_PKG_VERSION")))]);
    roff.to_writer(&mut w)?;
    Ok(w)
}

/// A command's usage line, without clap's `Usage: ` and the `[OPTIONS]` every command has.
fn usage(cmd: &clap::Command) -> String {
    let text = cmd.clone().render_usage().to_string();
    let text = text.strip_prefix("Usage: ").unwrap_or(&text).trim();
    text.replace(" [OPTIONS]", "")
}

/// Appends a sentence to a help text that may lack its final period.
fn sentence(body: &mut String, more: &str) {
    let trimmed = body.trim_end();
    if !trimmed.is_empty() && !trimmed.ends_with('.') {
        body.truncate(trimmed.len());
        body.push('.');
    }
    if !body.is_empty() {
        body.push(' ');
    }
    body.push_str(more);
}

/// A command's one-line description.
fn about(cmd: &clap::Command) -> String {
    cmd.get_about()
        .or_else(|| cmd.get_long_about())
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// One subcommand of a command page: its usage line, its description and its arguments.
fn subcommand(roff: &mut Roff, sub: &clap::Command) {
    roff.control("TP", []);
    roff.text([bold(usage(sub))]);
    let text = sub
        .get_long_about()
        .or_else(|| sub.get_about())
        .map(ToString::to_string)
        .unwrap_or_default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        roff.text([roman(line)]);
    }
    let own: Vec<&Arg> = sub
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_global_set() && a.get_id() != "help")
        .collect();
    if !own.is_empty() {
        roff.control("RS", []);
        args(roff, &own);
        roff.control("RE", []);
    }
    for nested in sub.get_subcommands().filter(|n| !n.is_hide_set()) {
        subcommand(roff, nested);
    }
}

/// Arguments and options as a tagged list: positionals first, then options.
fn args(roff: &mut Roff, items: &[&Arg]) {
    let mut sorted: Vec<&&Arg> = items.iter().collect();
    sorted.sort_by_key(|a| !a.is_positional());
    for a in sorted {
        // A positional without help is fully said by the usage line.
        if a.is_positional() && a.get_help().is_none() {
            continue;
        }
        let mut tag: Vec<Inline> = Vec::new();
        let value = a
            .get_value_names()
            .and_then(|v| v.first())
            .map_or_else(|| a.get_id().as_str().to_uppercase(), ToString::to_string);
        if a.is_positional() {
            tag.push(italic(value));
        } else {
            if let Some(short) = a.get_short() {
                tag.extend([bold(format!("-{short}")), roman(", ")]);
            }
            if let Some(long) = a.get_long() {
                tag.push(bold(format!("--{long}")));
            }
            if a.get_num_args().is_some_and(|n| n.takes_values()) {
                tag.extend([roman(" "), italic(value)]);
            }
        }
        roff.control("TP", []);
        roff.text(tag);
        let mut body = a
            .get_long_help()
            .or_else(|| a.get_help())
            .map(|h| h.to_string().replace('\n', " "))
            .unwrap_or_default();
        let possible: Vec<String> = a
            .get_possible_values()
            .iter()
            .filter(|p| !p.is_hide_set())
            .map(|p| p.get_name().to_owned())
            .collect();
        if !possible.is_empty() && a.get_num_args().is_some_and(|n| n.takes_values()) {
            sentence(&mut body, &format!("One of: {}.", possible.join(", ")));
        }
        let defaults: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|d| d.to_string_lossy().into_owned())
            .collect();
        if !defaults.is_empty() && !a.is_positional() && a.get_action().takes_values() {
            sentence(&mut body, &format!("Default: {}.", defaults.join(", ")));
        }
        if let Some(env) = a.get_env() {
            sentence(&mut body, &format!("Environment: {}.", env.to_string_lossy()));
        }
        if a.is_required_set() && !a.is_positional() {
            sentence(&mut body, "Required.");
        }
        roff.text([roman(body.trim().to_owned())]);
    }
}

fn exit_status(roff: &mut Roff) {
    roff.control("SH", ["EXIT STATUS"]);
    let rows: [(u8, &str); 7] = [
        (
            0,
            "Success; also when the reader of standard output went away (rumi-ctl packs list | head -1).",
        ),
        (
            Exit::Failure.code(),
            "Any other failure: the API refused (400, 403, 422, 5xx), health is not UP, a setup check found an error, a local error.",
        ),
        (
            Exit::Usage.code(),
            "Usage error: unknown command or option, missing argument.",
        ),
        (
            Exit::Unreachable.code(),
            "rumid could not be reached: not running, a stale address after a crash, no answer in time.",
        ),
        (
            Exit::Unauthorized.code(),
            "The token was refused (HTTP 401), or no token could be derived from the home's key file.",
        ),
        (
            Exit::NotFound.code(),
            "Not found (HTTP 404): no such pack, grant, flow, candidate.",
        ),
        (
            Exit::Conflict.code(),
            "Conflict (HTTP 409): the request conflicts with the current state.",
        ),
    ];
    for (code, text) in rows {
        roff.control("TP", []);
        roff.text([bold(code.to_string())]);
        roff.text([roman(text)]);
    }
    roff.control("PP", []);
    roff.text([roman(
        "With --json, an error is printed as one JSON object on standard output, with its kind and exit_code.",
    )]);
}

fn environment(roff: &mut Roff) {
    roff.control("SH", ["ENVIRONMENT"]);
    let rows = [
        (
            "RUMI_HOME",
            "The Rumi home, as --home. Default: RUMI_HOME in the environment file, else /var/lib/rumi if it exists, else the working directory.",
        ),
        (
            "RUMI_URL",
            "The API base URL, as --url. Default: the address rumid records in <home>/user_data/run/api.addr.",
        ),
        (
            "RUMI_TOKEN",
            "The API token, as --token. Default: derived from <home>/user_data/settings/.hmac_key.",
        ),
        (
            "RUMI_ENV_FILE",
            "The environment file read for RUMI_HOME, as --env-file. Default: /etc/rumi/rumi.env.",
        ),
        (
            "RUMI_DOCKER_SOCKET, RUMI_RUNTIME_IMAGE",
            "The Docker engine and runtime image that setup check and setup doctor look at.",
        ),
    ];
    for (var, text) in rows {
        roff.control("TP", []);
        roff.text([bold(var)]);
        roff.text([roman(text)]);
    }
}

fn files(roff: &mut Roff) {
    roff.control("SH", ["FILES"]);
    let rows = [
        (
            "/etc/rumi/rumi.env",
            "Environment of the Rumi units; its RUMI_HOME is the home when none is given.",
        ),
        ("/var/lib/rumi", "The home of the packaged install."),
        (
            "<home>/user_data/settings/.hmac_key",
            "The instance key; the API token is derived from it (readable by its owner only).",
        ),
        (
            "<home>/user_data/run/api.addr",
            "The address rumid bound; removed when it stops.",
        ),
        (
            "<home>/user_data/audit/*.jsonl",
            "The audit log, one JSON object per line, read by rumi-ctl audit.",
        ),
    ];
    for (path, text) in rows {
        roff.control("TP", []);
        roff.text([italic(path)]);
        roff.text([roman(text)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_a_page_with_exit_status_environment_and_files() {
        let pages = pages().unwrap();
        let names: Vec<&str> = pages.iter().map(|p| p.file.as_str()).collect();
        for sub in root().get_subcommands() {
            let file = format!("rumi-ctl-{}.1", sub.get_name());
            assert!(names.contains(&file.as_str()), "{file} missing from {names:?}");
        }
        for p in &pages {
            let text = String::from_utf8(p.roff.clone()).unwrap();
            for section in [
                ".SH NAME",
                ".SH SYNOPSIS",
                ".SH \"EXIT STATUS\"",
                ".SH ENVIRONMENT",
                ".SH FILES",
            ] {
                assert!(text.contains(section), "{}: no {section}", p.file);
            }
        }
        let packs = String::from_utf8(page(Some("packs")).unwrap()).unwrap();
        assert!(packs.contains("\n.TH rumi-ctl-packs 1 "), "{}", &packs[..120]);
        assert!(
            packs.contains("rumi\\-ctl packs reject"),
            "every subcommand is documented"
        );
        assert!(packs.contains("\\-\\-reason"), "with its options");
        assert!(page(Some("nope")).is_err());
    }

    /// The pages the Debian package installs are the ones this binary generates.
    #[test]
    fn the_packaged_pages_are_up_to_date() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("gen/man");
        let fix = "run `cargo run -p rumi-ctl -- man --dir rumi-ctl/gen/man`";
        let pages = pages().unwrap();
        for p in &pages {
            let on_disk = std::fs::read(dir.join(&p.file)).unwrap_or_default();
            assert!(on_disk == p.roff, "gen/man/{} is stale: {fix}", p.file);
        }
        let mut extra: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !pages.iter().any(|p| &p.file == n))
            .collect();
        extra.sort();
        assert!(
            extra.is_empty(),
            "pages of commands that no longer exist: {extra:?}; remove them"
        );
    }

    /// The Debian package installs the pages and completions (cargo-deb assets of rumid).
    #[test]
    fn the_debian_package_installs_the_pages_and_completions() {
        let manifest =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../rumid/Cargo.toml")).unwrap();
        for asset in [
            r#"["../rumi-ctl/gen/man/*.1", "usr/share/man/man1/", "644"]"#,
            r#"["../rumi-ctl/gen/completions/rumi-ctl.bash", "usr/share/bash-completion/completions/rumi-ctl", "644"]"#,
            r#"["../rumi-ctl/gen/completions/_rumi-ctl", "usr/share/zsh/vendor-completions/_rumi-ctl", "644"]"#,
            r#"["../rumi-ctl/gen/completions/rumi-ctl.fish", "usr/share/fish/vendor_completions.d/rumi-ctl.fish", "644"]"#,
        ] {
            assert!(
                manifest.contains(asset),
                "rumid/Cargo.toml [package.metadata.deb] lacks {asset}"
            );
        }
    }
}
