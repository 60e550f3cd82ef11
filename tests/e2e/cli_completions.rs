//! Shell completions driven through the real shells: nested commands, flags and values.
//! bash is always there; zsh and fish are tested where installed, and skipped loudly if not.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rumi_tests::TestHome;

/// Writes `rumi-ctl completions SHELL` into the home and returns its path.
fn script(home: &TestHome, shell: &str) -> PathBuf {
    let out = home.ctl(&["completions", shell], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = home.path().join(format!("completion.{shell}"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

fn have(shell: &str) -> bool {
    let found = Command::new(shell)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("\n!!! SKIPPING {shell} completion checks: {shell} is not installed !!!\n");
        }
    }
    found
}

/// What bash offers for `line` (words split on spaces; a trailing space starts a new word),
/// calling the completion function as bash's programmable completion does.
fn bash_complete(script: &Path, line: &str) -> Vec<String> {
    let mut words: Vec<&str> = line.split(' ').collect();
    if words.last() != Some(&"") && line.ends_with(' ') {
        words.push("");
    }
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\n\
         COMP_WORDS=({})\n\
         COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n\
         COMP_LINE='{line}'\n\
         COMP_POINT=${{#COMP_LINE}}\n\
         _rumi__ctl rumi-ctl \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" ")
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("run bash");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// (line, words that must be offered)
const CASES: &[(&str, &[&str])] = &[
    ("rumi-ctl pa", &["packs"]),
    ("rumi-ctl packs ap", &["approve", "apply"]),
    ("rumi-ctl --home /srv/rumi packs ap", &["approve", "apply"]),
    ("rumi-ctl packs approve --", &["--home", "--json", "--quiet"]),
    ("rumi-ctl network grant alpha --", &["--domain", "--port", "--notes"]),
    ("rumi-ctl capability un", &["unblock"]),
    ("rumi-ctl stores share-", &["share-approve", "share-revoke"]),
    ("rumi-ctl setup doctor --", &["--docker-socket", "--image"]),
    (
        "rumi-ctl scaffold x --template ",
        &["minimal", "capability", "flow", "full"],
    ),
];

#[test]
fn bash_completes_nested_commands_flags_and_values() {
    let home = TestHome::new();
    let script = script(&home, "bash");
    for (line, want) in CASES {
        let got = bash_complete(&script, line);
        for w in *want {
            assert!(got.iter().any(|g| g == w), "{line:?}: {w} not in {got:?}");
        }
    }
    // Only what fits: `packs ap` is not the top level again.
    assert!(!bash_complete(&script, "rumi-ctl packs ap").contains(&"packs".to_owned()));
    // The packaged file is this script (the unit test `the_packaged_completion_files_are_up_to_date`
    // keeps it so); it completes the same.
    let packaged = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rumi-ctl/gen/completions/rumi-ctl.bash");
    assert_eq!(std::fs::read(&packaged).unwrap(), std::fs::read(&script).unwrap());
}

#[test]
fn fish_completes_nested_commands_and_flags() {
    if !have("fish") {
        return;
    }
    let home = TestHome::new();
    let script = script(&home, "fish");
    for (line, want) in CASES {
        let program = format!("source '{}'; complete -C '{line}'", script.display());
        let out = Command::new("fish")
            .args(["--no-config", "-c", &program])
            .output()
            .expect("run fish");
        // fish prints `word<TAB>description`.
        let got: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
            .collect();
        for w in *want {
            assert!(got.iter().any(|g| g == w), "{line:?}: {w} not in {got:?}");
        }
    }
}

#[test]
fn zsh_completes_nested_commands_and_flags() {
    if !have("zsh") {
        return;
    }
    let home = TestHome::new();
    let out = home.ctl(&["completions", "zsh"], &[]);
    let fpath = home.path().join("zfunc");
    std::fs::create_dir_all(&fpath).unwrap();
    std::fs::write(fpath.join("_rumi-ctl"), &out.stdout).unwrap();
    for (line, want) in CASES {
        let got = zsh_complete(&home, &fpath, line);
        for w in *want {
            assert!(got.iter().any(|g| g == w), "{line:?}: {w} not in {got:?}");
        }
    }
}

/// What zsh's completion system offers for `line`: an interactive zsh in a pseudo-terminal
/// (zsh/zpty) types the line and TAB; a `compadd` wrapper writes every match to a file and a
/// `comppostfuncs` hook says when the completion is over. Every wait polls with a deadline.
fn zsh_complete(home: &TestHome, fpath: &Path, line: &str) -> Vec<String> {
    let hits = home.path().join("zsh-hits");
    let done = home.path().join("zsh-done");
    let _ = std::fs::remove_file(&hits);
    let _ = std::fs::remove_file(&done);
    let program = format!(
        r#"zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PS1='>'; bindkey -e; fpath=({fpath} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'compadd () {{ local -a __h; builtin compadd -O __h "$@"; print -l -- ${{^__h}} >> {hits}; builtin compadd "$@" }}'
zpty -w z '_rumi_done () {{ : > {done} }}; comppostfuncs=(_rumi_done)'
zpty -w z 'print READY'
zpty -r z l '*READY*'
zpty -w -n z "{line}"$'\t'
for i in {{1..400}}; do [[ -e {done} ]] && break; sleep 0.05; done
zpty -w -n z $'\x15'
zpty -d z
"#,
        fpath = fpath.display(),
        hits = hits.display(),
        done = done.display(),
    );
    let mut child = Command::new("zsh")
        .args(["-f", "-c", &program])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run zsh");
    let exited = rumi_tests::eventually("zsh to complete", Duration::from_secs(30), || {
        child.try_wait().ok().flatten()
    });
    if exited.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(done.exists(), "zsh never finished completing {line:?}");
    std::fs::read_to_string(&hits)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}
