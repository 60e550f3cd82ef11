//! Which Rumi home `rumi-ctl` works on, when the operator did not say.
//!
//! In order: `--home`, `RUMI_HOME`, the `RUMI_HOME` of the units' environment file
//! (`/etc/rumi/rumi.env`, or `RUMI_ENV_FILE`), the packaged home `/var/lib/rumi` when it
//! exists, and last the working directory (a home in the source tree). So on a packaged
//! install `rumi-ctl packs list` needs no `--home`, and it never picks up a stray directory
//! it happens to be run from while a system home exists.

use std::fmt;
use std::path::{Path, PathBuf};

/// The environment file the systemd units read (`EnvironmentFile=` in `rumid.service`).
pub const SYSTEM_ENV_FILE: &str = "/etc/rumi/rumi.env";
/// The home of the packaged install (`RUMI_HOME=` in `rumid.service`, created by tmpfiles).
pub const SYSTEM_HOME: &str = "/var/lib/rumi";
/// The variable naming the home, in the environment and in the environment file.
const HOME_VAR: &str = "RUMI_HOME";

/// Where the home came from; named in messages so an operator sees why this home was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--home` or `RUMI_HOME`.
    Given,
    /// `RUMI_HOME` in this environment file.
    EnvFile(PathBuf),
    /// The packaged default, `/var/lib/rumi`.
    System,
    /// The working directory.
    WorkingDirectory,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Given => f.write_str("--home or RUMI_HOME"),
            Self::EnvFile(p) => write!(f, "RUMI_HOME in {}", p.display()),
            Self::System => f.write_str("the packaged default"),
            Self::WorkingDirectory => f.write_str("the working directory"),
        }
    }
}

/// The home in use and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub path: PathBuf,
    pub source: Source,
}

/// Resolves the home: `given` (flag or environment), else `RUMI_HOME` in `env_file`, else
/// `system_home` if it is a directory, else the working directory.
pub fn resolve(given: Option<&Path>, env_file: &Path, system_home: &Path) -> Home {
    if let Some(p) = given {
        return Home {
            path: p.to_path_buf(),
            source: Source::Given,
        };
    }
    if let Some(p) = std::fs::read_to_string(env_file)
        .ok()
        .and_then(|text| env_file_value(&text, HOME_VAR))
    {
        return Home {
            path: PathBuf::from(p),
            source: Source::EnvFile(env_file.to_path_buf()),
        };
    }
    if system_home.is_dir() {
        return Home {
            path: system_home.to_path_buf(),
            source: Source::System,
        };
    }
    Home {
        path: PathBuf::from("."),
        source: Source::WorkingDirectory,
    }
}

/// The last value of `key` in a systemd environment file: `KEY=VALUE` lines, `#` and `;`
/// comments, values optionally in single or double quotes. An empty value counts as unset.
pub fn env_file_value(text: &str, key: &str) -> Option<String> {
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.trim() != key {
            continue;
        }
        let v = v.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| v.strip_prefix(*q).and_then(|rest| rest.strip_suffix(*q)))
            .unwrap_or(v);
        found = (!unquoted.is_empty()).then(|| unquoted.to_owned());
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_values_follow_systemd_syntax() {
        let text = "# Environment of the Rumi units\n\
                    ; another comment\n\
                    RUMI_API_PORT=9000\n\
                    RUMI_HOME=/srv/first\n\
                    RUMI_HOME = \"/srv/rumi\"\n";
        assert_eq!(
            env_file_value(text, "RUMI_HOME").as_deref(),
            Some("/srv/rumi"),
            "the last one wins"
        );
        assert_eq!(
            env_file_value("RUMI_HOME='/a b'\n", "RUMI_HOME").as_deref(),
            Some("/a b")
        );
        assert_eq!(env_file_value("RUMI_HOME=\n", "RUMI_HOME"), None, "empty is unset");
        assert_eq!(env_file_value("#RUMI_HOME=/x\n", "RUMI_HOME"), None);
        assert_eq!(env_file_value("RUMI_HOMEX=/x\n", "RUMI_HOME"), None);
        assert_eq!(env_file_value("", "RUMI_HOME"), None);
    }

    #[test]
    fn the_home_is_given_then_the_env_file_then_the_system_home_then_the_working_directory() {
        // A fresh directory of this test (no tempfile crate in this binary's dependencies).
        let dir = std::env::temp_dir().join(format!("rumi-ctl-home-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let env_file = dir.join("rumi.env");
        let system = dir.join("var-lib-rumi");
        let given = dir.join("given");

        let h = resolve(None, &env_file, &system);
        assert_eq!(h.path, PathBuf::from("."));
        assert_eq!(h.source, Source::WorkingDirectory);

        std::fs::create_dir(&system).unwrap();
        let h = resolve(None, &env_file, &system);
        assert_eq!((h.path.as_path(), &h.source), (system.as_path(), &Source::System));

        std::fs::write(&env_file, "# Environment of the Rumi units\n").unwrap();
        assert_eq!(
            resolve(None, &env_file, &system).source,
            Source::System,
            "no RUMI_HOME in it"
        );
        std::fs::write(&env_file, "RUMI_HOME=/srv/rumi\n").unwrap();
        let h = resolve(None, &env_file, &system);
        assert_eq!(h.path, PathBuf::from("/srv/rumi"));
        assert_eq!(h.source, Source::EnvFile(env_file.clone()));

        let h = resolve(Some(&given), &env_file, &system);
        assert_eq!((h.path.as_path(), &h.source), (given.as_path(), &Source::Given));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
