//! `rumi-ctl setup` with no command: a numbered menu, read line by line from stdin.
//!
//! Shown on a terminal, or with `--menu` on any stdin (scripts and tests feed it lines).
//! Each choice runs the same code as its command (`setup check`…) and comes back to the
//! menu; `run` starts rumid in place of rumi-ctl, so it is the last thing the menu does.
//! Deliberately no TUI: a prompt and a line work over any terminal, serial console or pipe.
//! Without a terminal and without `--menu` it prints the usage and exits 2, rather than
//! waiting for input nobody will type.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, RunMode, SetupArgs, SetupCommand};
use crate::failure;
use crate::output::{errln, outln};

/// The menu's entries, in their numbered order.
static ENTRIES: [(&str, &str); 6] = [
    ("check", "read-only checks of the home and this machine"),
    (
        "init",
        "create the home (directories, key, example pack); never overwrites",
    ),
    ("doctor", "check, plus the running instance and the home's state"),
    ("recover", "repair modes, leftovers and the pending export (asks first)"),
    (
        "run",
        "check, init if needed, doctor, then start rumid here (ends the menu)",
    ),
    ("quit", "leave"),
];

/// What one line of input asks for.
#[derive(Debug, PartialEq, Eq)]
enum Choice {
    /// An entry of [`ENTRIES`] by its name.
    Entry(&'static str),
    /// An empty line: show the menu again.
    Nothing,
    /// Neither a number nor a name of the menu.
    Unknown,
}

/// Reads a choice: its number (`1`), its name (`check`), or `q`/`exit` for quit.
fn parse(line: &str) -> Choice {
    let word = line.trim().to_ascii_lowercase();
    if word.is_empty() {
        return Choice::Nothing;
    }
    if matches!(word.as_str(), "q" | "exit") {
        return Choice::Entry("quit");
    }
    let by_number = word
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| ENTRIES.get(i));
    let by_name = ENTRIES.iter().find(|(name, _)| *name == word);
    by_number
        .or(by_name)
        .map_or(Choice::Unknown, |(name, _)| Choice::Entry(name))
}

/// `rumi-ctl setup`'s usage line, as `--help` shows it.
fn usage() -> String {
    let mut root = Cli::command();
    root.build();
    root.find_subcommand_mut("setup")
        .map(|s| s.render_usage().to_string())
        .unwrap_or_default()
}

/// Runs the menu until `quit`, the end of stdin, or `run`.
///
/// # Errors
/// [`failure::Usage`] when stdin is not a terminal and `--menu` was not given; a choice's
/// own failure is printed and the menu goes on.
pub fn run(cli: &Cli, args: &SetupArgs) -> Result<()> {
    let stdin = std::io::stdin();
    if !args.menu && !stdin.is_terminal() {
        return Err(failure::Usage(format!(
            "setup needs a command when stdin is not a terminal (or --menu to read choices from it)\n\n{}\n\nrumi-ctl setup --help lists the commands",
            usage()
        ))
        .into());
    }
    let mut lines = stdin.lock().lines();
    let mut next_line = |prompt: &str| -> Result<Option<String>> {
        crate::output::write_str(prompt)?;
        std::io::stdout().flush()?;
        lines.next().transpose().map_err(Into::into)
    };
    outln!("rumi-ctl setup: home {}", crate::client::home(cli).display())?;
    loop {
        outln!("")?;
        for (i, (name, what)) in ENTRIES.iter().enumerate() {
            outln!("  {}) {name:<8} {what}", i + 1)?;
        }
        let Some(line) = next_line("choice: ")? else {
            // End of input: as `quit`, on a fresh line.
            return outln!("");
        };
        let name = match parse(&line) {
            Choice::Entry("quit") => return Ok(()),
            Choice::Entry(name) => name,
            Choice::Nothing => continue,
            Choice::Unknown => {
                errln!(
                    "rumi-ctl: {:?} is not a choice: type a number from 1 to {}, or a name",
                    line.trim(),
                    ENTRIES.len()
                );
                continue;
            }
        };
        let engine = args.engine.clone();
        let cmd = match name {
            "check" => SetupCommand::Check { engine },
            "init" => SetupCommand::Init { no_example: false },
            "doctor" => SetupCommand::Doctor { engine },
            "recover" => {
                let answer = next_line("recover changes modes and removes leftovers in this home; go on? [y/N] ")?;
                if !answer.is_some_and(|a| matches!(a.trim(), "y" | "Y" | "yes")) {
                    outln!("recover skipped")?;
                    continue;
                }
                SetupCommand::Recover { restore_pack: None }
            }
            _ => SetupCommand::Run {
                engine,
                port: None,
                mode: RunMode::Auto,
                force: false,
            },
        };
        outln!("== {name}")?;
        if let Err(e) = crate::commands::setup_command(cli, &cmd) {
            // The stdout reader went away: nobody reads the menu any more.
            if e.downcast_ref::<crate::output::StdoutClosed>().is_some() {
                return Err(e);
            }
            failure::report(&e, cli.json);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_numbers_names_or_quit() {
        let cases = [
            ("1", Choice::Entry("check")),
            (" 2 \n", Choice::Entry("init")),
            ("doctor", Choice::Entry("doctor")),
            ("RECOVER", Choice::Entry("recover")),
            ("5", Choice::Entry("run")),
            ("6", Choice::Entry("quit")),
            ("q", Choice::Entry("quit")),
            ("exit", Choice::Entry("quit")),
            ("", Choice::Nothing),
            ("   ", Choice::Nothing),
            ("0", Choice::Unknown),
            ("7", Choice::Unknown),
            ("-1", Choice::Unknown),
            ("18446744073709551616", Choice::Unknown),
            ("reset", Choice::Unknown),
            ("check now", Choice::Unknown),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line), want, "{line:?}");
        }
    }

    #[test]
    fn the_usage_names_the_setup_command() {
        let u = usage();
        assert!(u.contains("rumi-ctl setup"), "{u}");
    }
}
