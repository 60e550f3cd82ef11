//! systemd's journal, spoken natively: one datagram per entry to `/run/systemd/journal/socket`
//! with the entry's fields, so each line keeps its priority (`journalctl -p err` finds the
//! errors) and its structured fields (`journalctl PACK_ID=hello`).
//!
//! Used only when stderr *is* the journal stream systemd set up for the unit
//! (`JOURNAL_STREAM=<device>:<inode>` names it; a daemon whose stderr was redirected elsewhere
//! keeps writing lines there). Audit events of rumid go through [`Journal::send`] too (see
//! rumid's `audit`), while the JSONL files stay the record.
//!
//! The protocol: `NAME=value\n` per field, or, for a value holding a newline, `NAME\n`, the
//! value's length as 64-bit little-endian, the value and `\n`. Field names are upper-case
//! letters, digits and `_`, and do not start with `_` or a digit.

use std::fmt::Write as _;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Where journald listens for native entries.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";
/// Longest value sent for one field; longer ones are cut (a datagram must fit the socket's
/// buffer, about 200 KiB by default).
const MAX_VALUE_BYTES: usize = 16 * 1024;
/// Most fields of one entry beyond the fixed ones.
const MAX_FIELDS: usize = 64;
/// Longest field name journald accepts.
const MAX_NAME_BYTES: usize = 64;

/// The stream systemd connected stderr to (`JOURNAL_STREAM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalStream {
    dev: u64,
    ino: u64,
}

impl JournalStream {
    /// Parses `<device>:<inode>`.
    ///
    /// # Errors
    /// A message naming the expected form.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (dev, ino) = s.split_once(':').ok_or("expected <device>:<inode>")?;
        Ok(Self {
            dev: dev.parse().map_err(|_| "expected a device number")?,
            ino: ino.parse().map_err(|_| "expected an inode number")?,
        })
    }

    /// Whether stderr is this stream (it was not redirected since systemd set it up).
    pub fn is_stderr(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        // /proc/self/fd/2 names stderr; its metadata is the stream's.
        std::fs::metadata("/proc/self/fd/2").is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino)
    }
}

impl std::fmt::Display for JournalStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.dev, self.ino)
    }
}

/// A connection to the journal.
#[derive(Debug)]
pub struct Journal {
    socket: UnixDatagram,
    path: PathBuf,
    identifier: String,
}

impl Journal {
    /// The journal at `path`, entries tagged `SYSLOG_IDENTIFIER=identifier`.
    ///
    /// # Errors
    /// When no datagram socket can be made.
    pub fn new(path: &Path, identifier: &str) -> io::Result<Arc<Self>> {
        // Non-blocking: a journal that does not keep up costs the entry (counted as a dropped
        // line), never a wait in the code that logs.
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        Ok(Arc::new(Self {
            socket,
            path: path.to_path_buf(),
            identifier: identifier.to_owned(),
        }))
    }

    /// The system journal, when `stream` says stderr is connected to it.
    pub fn for_stream(stream: Option<&JournalStream>, identifier: &str) -> Option<Arc<Self>> {
        stream
            .filter(|s| s.is_stderr())
            .and_then(|_| Self::new(Path::new(JOURNAL_SOCKET), identifier).ok())
    }

    /// Sends one entry: `priority` (syslog, 0 emergency … 7 debug), `message` and `fields`
    /// (names as given, sanitised; at most [`MAX_FIELDS`]).
    ///
    /// # Errors
    /// When the datagram cannot be sent (journald not running, entry too large).
    pub fn send(&self, priority: u8, message: &str, fields: &[(&str, &str)]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(256);
        push_field(&mut buf, "PRIORITY", &priority.to_string());
        push_field(&mut buf, "SYSLOG_IDENTIFIER", &self.identifier);
        push_field(&mut buf, "MESSAGE", message);
        for (name, value) in fields.iter().take(MAX_FIELDS) {
            push_field(&mut buf, &field_name(name), value);
        }
        self.socket.send_to(&buf, &self.path).map(|_| ())
    }
}

/// The journal priority of a tracing level: error 3, warning 4, info 6, debug and trace 7.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// A journal field name for `name`: upper case, `_` for anything but letters and digits,
/// never starting with `_` or a digit, never one of the fields this module sets itself.
pub fn field_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    out = out.trim_start_matches('_').to_owned();
    let reserved = [
        "PRIORITY",
        "SYSLOG_IDENTIFIER",
        "MESSAGE",
        "MESSAGE_ID",
        "TARGET",
        "CODE_FILE",
        "CODE_LINE",
    ];
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) || reserved.contains(&out.as_str()) {
        out.insert_str(0, "F_");
    }
    out.truncate(MAX_NAME_BYTES);
    out
}

fn push_field(buf: &mut Vec<u8>, name: &str, value: &str) {
    let value = cut(value);
    if value.contains('\n') {
        buf.extend_from_slice(name.as_bytes());
        buf.push(b'\n');
        buf.extend_from_slice(&(value.len() as u64).to_le_bytes());
        buf.extend_from_slice(value.as_bytes());
    } else {
        buf.extend_from_slice(name.as_bytes());
        buf.push(b'=');
        buf.extend_from_slice(value.as_bytes());
    }
    buf.push(b'\n');
}

/// `value` cut to [`MAX_VALUE_BYTES`] at a character boundary.
fn cut(value: &str) -> &str {
    if value.len() <= MAX_VALUE_BYTES {
        return value;
    }
    let mut end = MAX_VALUE_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// Fields of an event or span, in the order recorded.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    fields: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
        } else {
            self.fields.push((field.name().to_owned(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{value:?}");
        if field.name() == "message" {
            self.message = Some(s);
        } else {
            self.fields.push((field.name().to_owned(), s));
        }
    }
}

/// The tracing layer that sends every event to the journal: its level as `PRIORITY`, its
/// message, its target and source location, its fields and those of the spans it is in
/// (`REQUEST_ID`, `HELPER`, …). An entry the journal does not take (journald gone, its queue
/// full) is dropped and counted with the other dropped log lines; logging never waits.
pub struct JournalLayer {
    journal: Arc<Journal>,
}

impl JournalLayer {
    pub fn new(journal: Arc<Journal>) -> Self {
        Self { journal }
    }
}

impl<S> tracing_subscriber::Layer<S> for JournalLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(fields) = ext.get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut own = Fields::default();
        event.record(&mut own);
        let meta = event.metadata();
        let line = meta.line().map(|l| l.to_string()).unwrap_or_default();
        let mut fields: Vec<(String, String)> = vec![
            ("TARGET".into(), meta.target().to_owned()),
            ("CODE_FILE".into(), meta.file().unwrap_or_default().to_owned()),
            ("CODE_LINE".into(), line),
        ];
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(f) = span.extensions().get::<Fields>() {
                    fields.extend(f.fields.iter().map(|(k, v)| (field_name(k), v.clone())));
                }
            }
        }
        fields.extend(own.fields.iter().map(|(k, v)| (field_name(k), v.clone())));
        let message = own.message.unwrap_or_default();
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if self.send_fixed(priority(meta.level()), &message, &borrowed).is_err() {
            // Never stderr here: it is the journal stream, and a closed one would panic.
            super::count_dropped();
        }
    }
}

impl JournalLayer {
    /// Like [`Journal::send`], but `TARGET`, `CODE_FILE` and `CODE_LINE` (the first three
    /// fields) keep their names.
    fn send_fixed(&self, priority: u8, message: &str, fields: &[(&str, &str)]) -> io::Result<()> {
        let j = &self.journal;
        let mut buf = Vec::with_capacity(512);
        push_field(&mut buf, "PRIORITY", &priority.to_string());
        push_field(&mut buf, "SYSLOG_IDENTIFIER", &j.identifier);
        push_field(&mut buf, "MESSAGE", message);
        for (i, (name, value)) in fields.iter().take(MAX_FIELDS + 3).enumerate() {
            let name = if i < 3 { (*name).to_owned() } else { field_name(name) };
            push_field(&mut buf, &name, value);
        }
        j.socket.send_to(&buf, &j.path).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    /// Parses one native entry (the test's own reader of the protocol).
    fn parse(mut b: &[u8]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let nl = b.iter().position(|&c| c == b'\n').unwrap();
            let head = std::str::from_utf8(&b[..nl]).unwrap();
            if let Some((k, v)) = head.split_once('=') {
                out.push((k.to_owned(), v.to_owned()));
                b = &b[nl + 1..];
            } else {
                let len = u64::from_le_bytes(b[nl + 1..nl + 9].try_into().unwrap()) as usize;
                let v = std::str::from_utf8(&b[nl + 9..nl + 9 + len]).unwrap();
                out.push((head.to_owned(), v.to_owned()));
                b = &b[nl + 9 + len + 1..];
            }
        }
        out
    }

    fn get<'a>(entry: &'a [(String, String)], name: &str) -> Option<&'a str> {
        entry.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn levels_map_to_journal_priorities() {
        assert_eq!(priority(&Level::ERROR), 3);
        assert_eq!(priority(&Level::WARN), 4);
        assert_eq!(priority(&Level::INFO), 6);
        assert_eq!(priority(&Level::DEBUG), 7);
        assert_eq!(priority(&Level::TRACE), 7);
    }

    #[test]
    fn field_names_follow_the_journal_rules() {
        assert_eq!(field_name("pack_id"), "PACK_ID");
        assert_eq!(field_name("_hidden"), "HIDDEN");
        assert_eq!(field_name("2fa"), "F_2FA");
        assert_eq!(
            field_name("priority"),
            "F_PRIORITY",
            "cannot override the entry's priority"
        );
        assert_eq!(field_name("message.id"), "F_MESSAGE_ID");
        assert_eq!(field_name(&"x".repeat(100)).len(), MAX_NAME_BYTES);
        assert_eq!(JournalStream::parse("8:12345").unwrap().to_string(), "8:12345");
        assert!(JournalStream::parse("8").is_err() && JournalStream::parse("a:b").is_err());
    }

    #[test]
    fn events_reach_the_journal_with_their_priority_and_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let journal = Journal::new(&path, "rumid").unwrap();
        let subscriber = tracing_subscriber::registry().with(JournalLayer::new(journal.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "req-1");
            let _g = span.enter();
            tracing::error!(pack_id = "hello", "cannot bind socket");
            tracing::info!(n = 3, "flows loaded");
        });
        let mut buf = vec![0u8; 65536];
        let n = server.recv(&mut buf).unwrap();
        let error = parse(&buf[..n]);
        assert_eq!(get(&error, "PRIORITY"), Some("3"), "{error:?}");
        assert_eq!(get(&error, "MESSAGE"), Some("cannot bind socket"));
        assert_eq!(get(&error, "PACK_ID"), Some("hello"));
        assert_eq!(get(&error, "REQUEST_ID"), Some("req-1"), "span fields too");
        assert_eq!(get(&error, "SYSLOG_IDENTIFIER"), Some("rumid"));
        assert!(get(&error, "TARGET").is_some_and(|t| t.starts_with("rumi_common")));
        let n = server.recv(&mut buf).unwrap();
        let info = parse(&buf[..n]);
        assert_eq!(get(&info, "PRIORITY"), Some("6"));
        assert_eq!(get(&info, "N"), Some("3"));

        // A value with a newline goes in the binary form; a long one is cut.
        journal
            .send(
                4,
                "two\nlines",
                &[("category", "security"), ("big", &"y".repeat(100_000))],
            )
            .unwrap();
        let n = server.recv(&mut buf).unwrap();
        let entry = parse(&buf[..n]);
        assert_eq!(get(&entry, "MESSAGE"), Some("two\nlines"));
        assert_eq!(get(&entry, "CATEGORY"), Some("security"));
        assert_eq!(get(&entry, "BIG").map(str::len), Some(MAX_VALUE_BYTES));
    }
}
