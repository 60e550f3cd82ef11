//! Tracing setup shared by the Rumi daemons: JSON or text lines on stderr, level from
//! `RUMI_LOG_LEVEL`. Under systemd (stderr is the stream `JOURNAL_STREAM` names) every event
//! goes to the journal natively instead ([`journal`]), with its level as the entry's priority
//! and its fields as journal fields.
//!
//! Audit is not logging: audit events go to their own JSONL files (see rumid's `audit`), which
//! also hands security and approval events to the journal.

pub mod journal;

use std::sync::Arc;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use journal::{Journal, JournalStream};

/// `JOURNAL_STREAM`: set by systemd to `<device>:<inode>` of the journal stream it connected
/// stdout/stderr to. When stderr is that stream, logs go to the journal natively. Read by each
/// daemon's config (a value that does not parse is ignored, never an error).
pub const ENV_JOURNAL_STREAM: &str = "JOURNAL_STREAM";

/// Output format of log lines (`RUMI_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (the default).
    Json,
    /// Human-readable lines.
    Text,
}

impl LogFormat {
    /// Parses `json` or `text` (any case).
    ///
    /// # Errors
    /// A message naming the accepted values.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "text" => Ok(Self::Text),
            _ => Err("expected json or text".to_owned()),
        }
    }

    /// The variable's value for this format (to hand to child processes).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Text => "text",
        }
    }
}

/// Minimum level of log lines (`RUMI_LOG_LEVEL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLevel(LevelFilter);

impl LogLevel {
    /// `INFO`, the default.
    pub const INFO: Self = Self(LevelFilter::INFO);

    /// Parses the guide's names `DEBUG`, `INFO`, `WARNING`, `ERROR`, `CRITICAL` (any case), plus
    /// `TRACE` and `WARN`. `CRITICAL` maps to `ERROR`, the most severe level tracing has.
    ///
    /// # Errors
    /// A message naming the accepted values.
    pub fn parse(s: &str) -> Result<Self, String> {
        let level = match s.to_ascii_uppercase().as_str() {
            "TRACE" => LevelFilter::TRACE,
            "DEBUG" => LevelFilter::DEBUG,
            "INFO" => LevelFilter::INFO,
            "WARNING" | "WARN" => LevelFilter::WARN,
            "ERROR" | "CRITICAL" => LevelFilter::ERROR,
            _ => return Err("expected DEBUG, INFO, WARNING, ERROR or CRITICAL".to_owned()),
        };
        Ok(Self(level))
    }

    /// The variable's value for this level (to hand to child processes).
    pub fn as_str(self) -> &'static str {
        match self.0 {
            LevelFilter::TRACE => "TRACE",
            LevelFilter::DEBUG => "DEBUG",
            LevelFilter::INFO => "INFO",
            LevelFilter::WARN => "WARNING",
            _ => "ERROR",
        }
    }
}

/// Rumi's own crates. `DEBUG` applies to them only: the HTTP/2 and gRPC crates below them log
/// every frame at `DEBUG`, which buries Rumi's lines; `TRACE` shows everything.
const OWN_CRATES: [&str; 6] = [
    "rumid",
    "rumi_egressd",
    "rumi_capd",
    "rumi_common",
    "rumi_ctl",
    "rumi_proto",
];

/// The filter directives for `level`.
fn directives(level: LogLevel) -> String {
    if level.0 == LevelFilter::DEBUG {
        let own: Vec<String> = OWN_CRATES.iter().map(|c| format!("{c}=debug")).collect();
        format!("info,{}", own.join(","))
    } else {
        level.0.to_string()
    }
}

/// Installs the global subscriber: the journal when `journal` says stderr is systemd's
/// journal stream (entries tagged `identifier`), else lines on stderr. Calling it twice
/// keeps the first one.
pub fn init(format: LogFormat, level: LogLevel, journal: Option<&JournalStream>, identifier: &str) {
    if let Some(j) = Journal::for_stream(journal, identifier) {
        init_journal(j, level);
        return;
    }
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(directives(level)))
        .with_target(true);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
}

fn init_journal(journal: Arc<Journal>, level: LogLevel) {
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(directives(level)))
        .with(journal::JournalLayer::new(journal))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guide_level_names_parse() {
        assert_eq!(LogLevel::parse("warning"), Ok(LogLevel(LevelFilter::WARN)));
        assert_eq!(LogLevel::parse("CRITICAL"), Ok(LogLevel(LevelFilter::ERROR)));
        assert!(LogLevel::parse("verbose").is_err());
        assert_eq!(LogFormat::parse("TEXT"), Ok(LogFormat::Text));
        assert!(LogFormat::parse("xml").is_err());
    }

    #[test]
    fn debug_is_rumi_only_and_other_levels_apply_to_all() {
        let debug = directives(LogLevel::parse("DEBUG").unwrap());
        assert!(debug.starts_with("info,") && debug.contains("rumid=debug"), "{debug}");
        assert_eq!(directives(LogLevel::parse("TRACE").unwrap()), "trace");
        assert_eq!(directives(LogLevel::parse("WARNING").unwrap()), "warn");
        for level in ["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"] {
            let d = directives(LogLevel::parse(level).unwrap());
            assert!(tracing_subscriber::EnvFilter::try_new(&d).is_ok(), "{d}");
        }
    }
}
