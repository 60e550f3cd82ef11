//! Tracing setup shared by the Rumi daemons: JSON or text lines on stderr, level from
//! `RUMI_LOG_LEVEL`. Under systemd (stderr is the stream `JOURNAL_STREAM` names) every event
//! goes to the journal natively instead ([`journal`]), with its level as the entry's priority
//! and its fields as journal fields.
//!
//! Logging never stops the daemon it serves. Lines go through a bounded queue to one writer
//! thread that owns stderr: when stderr blocks (a pipe nobody reads) the queue fills and
//! further lines are dropped and counted ([`dropped_lines`]); when it fails (the reader is
//! gone, the log's disk is full) the line is dropped and counted too. Nothing in a request's
//! path ever waits for stderr or panics on it. (tracing-subscriber's own fallback, printing
//! "Unable to write an event" with `eprintln!`, panicked on a closed stderr and took request
//! handlers and the helper supervisors with it; it is switched off.)
//!
//! Audit is not logging: audit events go to their own JSONL files (see rumid's `audit`), which
//! also hands security and approval events to the journal.

pub mod journal;

use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use journal::{Journal, JournalStream};

/// `JOURNAL_STREAM`: set by systemd to `<device>:<inode>` of the journal stream it connected
/// stdout/stderr to. When stderr is that stream, logs go to the journal natively. Read by each
/// daemon's config (a value that does not parse is ignored, never an error).
pub const ENV_JOURNAL_STREAM: &str = "JOURNAL_STREAM";

/// Bytes of log lines queued for stderr at most; a line that does not fit is dropped. 1 MiB is
/// a few thousand lines: enough to ride out a slow reader, small enough to never matter.
pub const MAX_QUEUED_LOG_BYTES: usize = 1024 * 1024;
/// How long [`LogGuard`] waits at exit for queued lines to reach stderr.
const FLUSH_AT_EXIT: Duration = Duration::from_secs(1);
/// Lines in the queue at most (each line is one message; bounds the channel itself).
const MAX_QUEUED_LINES: usize = 8192;

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

/// Log lines dropped since start because stderr (or the journal) was slow or failing.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Counts one line that could not be written (the journal refused or would block).
pub(crate) fn count_dropped() {
    DROPPED.fetch_add(1, Ordering::Relaxed);
}
/// The queue to the stderr writer thread, once started.
static QUEUE: OnceLock<Queue> = OnceLock::new();

/// Log lines dropped since the process started: stderr blocked long enough to fill the queue,
/// or a write to it failed.
pub fn dropped_lines() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// The sending side of the stderr queue.
#[derive(Clone)]
struct Queue {
    tx: SyncSender<Vec<u8>>,
    /// Bytes queued and not yet written.
    queued: Arc<AtomicUsize>,
}

impl Queue {
    /// Starts the writer thread; `None` if the thread cannot start (lines then go nowhere,
    /// counted as dropped).
    fn start() -> Option<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel(MAX_QUEUED_LINES);
        let queued = Arc::new(AtomicUsize::new(0));
        let q = queued.clone();
        std::thread::Builder::new()
            .name("rumi-log".into())
            .spawn(move || write_lines(&rx, &q))
            .ok()?;
        Some(Self { tx, queued })
    }

    /// Queues one line without waiting; drops and counts it when the queue is full.
    fn push(&self, line: Vec<u8>) {
        let len = line.len();
        if self.queued.fetch_add(len, Ordering::AcqRel) + len > MAX_QUEUED_LOG_BYTES {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(line) {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The writer thread: the only code that touches stderr after [`init`]. A blocked write blocks
/// only this thread; a failed one costs only its line.
fn write_lines(rx: &Receiver<Vec<u8>>, queued: &AtomicUsize) {
    let mut stderr = std::io::stderr();
    while let Ok(line) = rx.recv() {
        if stderr.write_all(&line).is_err() {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        queued.fetch_sub(line.len(), Ordering::AcqRel);
    }
}

/// What tracing-subscriber writes one event to: a buffer queued as one line when dropped.
pub struct QueuedLine {
    queue: Option<Queue>,
    buf: Vec<u8>,
}

impl Write for QueuedLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for QueuedLine {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        match &self.queue {
            Some(q) => q.push(std::mem::take(&mut self.buf)),
            None => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The [`MakeWriter`] of every Rumi daemon's subscriber.
struct QueuedStderr;

impl<'a> MakeWriter<'a> for QueuedStderr {
    type Writer = QueuedLine;

    fn make_writer(&'a self) -> QueuedLine {
        QueuedLine {
            queue: QUEUE.get().cloned(),
            buf: Vec::with_capacity(256),
        }
    }
}

/// Held by `main` for the life of the process; when dropped (at exit) it waits up to one
/// second for queued lines to reach stderr, so the last lines (`rumid stopped`) are not lost
/// to a healthy stderr.
#[must_use = "dropping the guard at once would flush nothing at exit"]
pub struct LogGuard(());

impl Drop for LogGuard {
    fn drop(&mut self) {
        let Some(q) = QUEUE.get() else { return };
        let deadline = Instant::now() + FLUSH_AT_EXIT;
        while q.queued.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Writes a message to stderr directly, ignoring failure: for `main`'s last words (a
/// configuration error before logging starts, the reason for exiting). `eprintln!` would
/// panic on a closed stderr.
pub fn print_stderr(message: &str) {
    let mut err = std::io::stderr();
    let _ = err.write_all(message.as_bytes());
    let _ = err.write_all(b"\n");
}

/// Installs the global subscriber: the journal when `journal` says stderr is systemd's
/// journal stream (entries tagged `identifier`), else lines through the stderr queue. Calling
/// it twice keeps the first one.
pub fn init(format: LogFormat, level: LogLevel, journal: Option<&JournalStream>, identifier: &str) -> LogGuard {
    if let Some(j) = Journal::for_stream(journal, identifier) {
        let _ = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new(directives(level)))
            .with(journal::JournalLayer::new(j))
            .try_init();
        return LogGuard(());
    }
    if QUEUE.get().is_none()
        && let Some(q) = Queue::start()
    {
        let _ = QUEUE.set(q);
    }
    let builder = tracing_subscriber::fmt()
        .with_writer(QueuedStderr)
        .log_internal_errors(false)
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
    LogGuard(())
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
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        // A queue whose writer never drains it: the channel's receiver is held, unread.
        let (tx, _rx) = std::sync::mpsc::sync_channel(2);
        let q = Queue {
            tx,
            queued: Arc::new(AtomicUsize::new(0)),
        };
        let before = dropped_lines();
        let started = Instant::now();
        for _ in 0..10 {
            q.push(b"line\n".to_vec());
        }
        q.push(vec![b'x'; MAX_QUEUED_LOG_BYTES + 1]);
        assert!(started.elapsed() < Duration::from_secs(1), "pushing never waits");
        assert!(
            dropped_lines() - before >= 9,
            "8 over the channel bound, 1 over the byte bound"
        );
        assert_eq!(q.queued.load(Ordering::Acquire), 10, "only the two queued lines count");
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
