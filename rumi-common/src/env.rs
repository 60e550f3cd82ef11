//! Typed parsing of environment variables.
//!
//! Each binary reads its environment in one `config.rs` through a [`Strings`] source: the
//! process environment in production ([`ProcessEnv`]), a map in tests ([`MapEnv`]), so no
//! test ever mutates the process environment. [`Collector`] parses every variable, keeps
//! every error, and lets the caller fail once with all of them.

use std::collections::HashMap;
use std::fmt;

/// A source of configuration strings.
pub trait Strings {
    /// The value of `key`, or `None` when unset. An empty value counts as unset.
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessEnv;

impl Strings for ProcessEnv {
    #[allow(clippy::disallowed_methods)] // the one place that reads the process environment
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
}

/// A fixed map of variables, for tests.
#[derive(Debug, Default, Clone)]
pub struct MapEnv(pub HashMap<String, String>);

impl MapEnv {
    /// A map from `(name, value)` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }
}

impl Strings for MapEnv {
    fn get(&self, key: &str) -> Option<String> {
        self.0.get(key).filter(|v| !v.is_empty()).cloned()
    }
}

/// One variable that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvError {
    /// The variable's name.
    pub var: String,
    /// The offending value, or a placeholder for secret variables.
    pub value: String,
    /// Why it was refused.
    pub reason: String,
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}: {}", self.var, self.value, self.reason)
    }
}

/// Parses variables from a [`Strings`] source and collects every error.
pub struct Collector<'a> {
    src: &'a dyn Strings,
    errors: Vec<EnvError>,
}

impl<'a> Collector<'a> {
    /// A collector reading from `src`.
    pub fn new(src: &'a dyn Strings) -> Self {
        Self {
            src,
            errors: Vec::new(),
        }
    }

    /// The raw value of `var`, if set.
    pub fn raw(&self, var: &str) -> Option<String> {
        self.src.get(var)
    }

    /// Parses `var` with `parse`; `None` when unset, and on error records it and returns `None`.
    pub fn opt<T>(&mut self, var: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let value = self.src.get(var)?;
        match parse(value.trim()) {
            Ok(v) => Some(v),
            Err(reason) => {
                self.errors.push(EnvError {
                    var: var.to_owned(),
                    value,
                    reason,
                });
                None
            }
        }
    }

    /// Like [`Collector::opt`] but never echoes the value in an error (for keys and secrets).
    pub fn opt_secret<T>(&mut self, var: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let value = self.src.get(var)?;
        match parse(value.trim()) {
            Ok(v) => Some(v),
            Err(reason) => {
                self.errors.push(EnvError {
                    var: var.to_owned(),
                    value: "<redacted>".to_owned(),
                    reason,
                });
                None
            }
        }
    }

    /// Records an error that is not about a single value (for example, two variables that conflict).
    pub fn error(&mut self, var: &str, value: &str, reason: impl Into<String>) {
        self.errors.push(EnvError {
            var: var.to_owned(),
            value: value.to_owned(),
            reason: reason.into(),
        });
    }

    /// Every error, or `Ok` when there were none.
    ///
    /// # Errors
    /// The list of every variable that failed to parse.
    pub fn finish(self) -> Result<(), Vec<EnvError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

/// Parses `true`/`false` (also `1`/`0`, `yes`/`no`, any case).
///
/// # Errors
/// A message naming the accepted values.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

/// Parses an unsigned integer within `min..=max`.
///
/// # Errors
/// A message naming the accepted range.
pub fn parse_bounded(s: &str, min: u64, max: u64) -> Result<u64, String> {
    let n: u64 = s
        .parse()
        .map_err(|_| format!("expected an integer between {min} and {max}"))?;
    if n < min || n > max {
        return Err(format!("expected an integer between {min} and {max}"));
    }
    Ok(n)
}

/// Parses a file mode written in octal (`0660`, `660`, `0o660`), at most `0o777`.
///
/// # Errors
/// A message when the value is not octal or sets bits beyond the permission bits.
pub fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    let mode = u32::from_str_radix(digits, 8).map_err(|_| "expected an octal mode such as 0660".to_owned())?;
    if mode > 0o777 {
        return Err("mode may only set permission bits (at most 0777)".to_owned());
    }
    Ok(mode)
}

/// Parses an absolute path.
///
/// # Errors
/// A message when the path is relative.
pub fn parse_absolute_path(s: &str) -> Result<std::path::PathBuf, String> {
    let p = std::path::PathBuf::from(s);
    if p.is_absolute() {
        Ok(p)
    } else {
        Err("expected an absolute path".to_owned())
    }
}

/// Parses a group as a number or a group name (resolved through the system's group database).
///
/// # Errors
/// A message when the value is neither a valid gid nor a known group.
pub fn parse_gid(s: &str) -> Result<u32, String> {
    if let Ok(n) = s.parse::<u32>() {
        return if n == u32::MAX {
            Err("not a valid gid".into())
        } else {
            Ok(n)
        };
    }
    match nix::unistd::Group::from_name(s) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        _ => Err(format!("no group named {s:?}")),
    }
}

/// Parses a user as a number or a user name.
///
/// # Errors
/// A message when the value is neither a valid uid nor a known user.
pub fn parse_uid(s: &str) -> Result<u32, String> {
    if let Ok(n) = s.parse::<u32>() {
        return if n == u32::MAX {
            Err("not a valid uid".into())
        } else {
            Ok(n)
        };
    }
    match nix::unistd::User::from_name(s) {
        Ok(Some(u)) => Ok(u.uid.as_raw()),
        _ => Err(format!("no user named {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_keeps_every_error_and_redacts_secrets() {
        let env = MapEnv::from_pairs([("A", "x"), ("B", "7"), ("S", "hunter2"), ("E", "")]);
        let mut c = Collector::new(&env);
        assert_eq!(c.opt("A", |s| parse_bounded(s, 1, 5)), None);
        assert_eq!(c.opt("B", |s| parse_bounded(s, 1, 5)), None);
        assert_eq!(c.opt_secret("S", |_| Err::<(), _>("bad".into())), None);
        assert_eq!(c.opt("E", |s| parse_bounded(s, 1, 5)), None, "empty is unset");
        assert_eq!(c.opt("MISSING", parse_bool), None);
        let errs = c.finish().unwrap_err();
        assert_eq!(errs.len(), 3);
        assert_eq!(errs[0].var, "A");
        assert_eq!(errs[1].var, "B");
        assert_eq!(errs[2].value, "<redacted>");
        assert!(!errs[2].to_string().contains("hunter2"));
    }

    #[test]
    fn modes_and_bools_parse() {
        assert_eq!(parse_mode("0660"), Ok(0o660));
        assert_eq!(parse_mode("0o750"), Ok(0o750));
        assert_eq!(parse_mode("640"), Ok(0o640));
        assert!(parse_mode("0668").is_err());
        assert!(parse_mode("4755").is_err());
        assert!(parse_mode("rw").is_err());
        assert_eq!(parse_bool("TRUE"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert!(parse_bool("maybe").is_err());
        assert_eq!(parse_gid("4242"), Ok(4242));
        assert_eq!(parse_gid("root"), Ok(0));
        assert!(parse_gid("no-such-group-rumi").is_err());
        assert_eq!(parse_uid("root"), Ok(0));
    }
}
