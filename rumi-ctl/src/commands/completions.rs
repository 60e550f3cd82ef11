//! `rumi-ctl completions`: shell completion scripts, generated from the command line itself.
//!
//! clap_complete's bash script does not complete past the first word for a binary whose
//! name has a hyphen (clap-rs/clap#6421): its dispatch loop spells the state of
//! `rumi-ctl packs` `rumi__ctl__subcmd__packs` while the `case` arms say
//! `rumi__subcmd__ctl__subcmd__packs`, so no arm matches and `packs ap<TAB>` offers nothing.
//! [`script`] respells the arms the way the loop does. An e2e test drives the real bash
//! (and zsh and fish where installed) through nested commands and flags.

use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

/// The name completions are registered for.
const BIN: &str = "rumi-ctl";

/// The shells the Debian package installs completions for, with each file's name.
pub const PACKAGED: [(Shell, &str); 3] = [
    (Shell::Bash, "rumi-ctl.bash"),
    (Shell::Zsh, "_rumi-ctl"),
    (Shell::Fish, "rumi-ctl.fish"),
];

/// The completion script for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut out);
    if shell != Shell::Bash {
        return out;
    }
    let text = String::from_utf8_lossy(&out);
    let arm = BIN.replace('-', "__subcmd__");
    let state = BIN.replace('-', "__");
    text.replace(&arm, &state).into_bytes()
}

/// Writes the packaged shells' scripts into `dir` (created if missing).
///
/// # Errors
/// When a file cannot be written.
pub fn write_all(dir: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for (shell, name) in PACKAGED {
        let path = dir.join(name);
        std::fs::write(&path, script(shell)).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bash_script_names_each_state_the_same_way_in_the_loop_and_the_arms() {
        let text = String::from_utf8(script(Shell::Bash)).unwrap();
        assert!(!text.contains("rumi__subcmd__ctl"), "an arm no state can reach");
        assert!(text.contains("cmd=\"rumi__ctl__subcmd__packs\""));
        assert!(
            text.contains("\n        rumi__ctl__subcmd__packs)\n"),
            "the arm the loop reaches"
        );
        assert!(text.contains("\n        rumi__ctl__subcmd__packs__subcmd__approve)\n"));
    }

    /// The files the Debian package installs are the ones this binary generates.
    #[test]
    fn the_packaged_completion_files_are_up_to_date() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("gen/completions");
        for (shell, name) in PACKAGED {
            let path = dir.join(name);
            let on_disk = std::fs::read(&path).unwrap_or_default();
            assert!(
                on_disk == script(shell),
                "{} is stale: run `cargo run -p rumi-ctl -- completions --dir rumi-ctl/gen/completions`",
                path.display()
            );
        }
    }
}
