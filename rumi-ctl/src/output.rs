//! Tables for people, JSON for scripts.
//!
//! Everything `rumi-ctl` prints on stdout goes through this module, and every write can fail:
//! `println!` panics when the reader has gone away (`rumi-ctl packs list | head -1`), so
//! writes here return [`StdoutClosed`] instead, which `main` turns into a quiet exit 0, as
//! other Unix tools end quietly on a closed pipe.

use std::fmt;
use std::io::{self, Write};

use anyhow::Result;
use serde_json::Value;

/// Most characters of a free-text cell shown in the middle of a table (the last column is
/// never cut): long messages would otherwise push every column after them off the screen.
const MAX_TEXT_CELL: usize = 48;

/// stdout was closed by its reader (EPIPE). Not a failure of the command: `main` exits 0
/// without a message.
#[derive(Debug)]
pub struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stdout was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Writes `text` to stdout.
///
/// # Errors
/// [`StdoutClosed`] when the reader went away; any other I/O error as it is.
pub fn write_str(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| match e.kind() {
            io::ErrorKind::BrokenPipe => anyhow::Error::new(StdoutClosed),
            _ => anyhow::Error::new(e).context("cannot write to stdout"),
        })
}

/// Writes raw bytes (a man page, a completion script) to stdout.
///
/// # Errors
/// As [`write_str`].
pub fn write_bytes(bytes: &[u8]) -> Result<()> {
    write_str(&String::from_utf8_lossy(bytes))
}

/// `println!` that returns an error instead of panicking (see the module doc).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write_str(&format!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use outln;

/// `eprintln!` that never panics: a closed stderr has nobody left to tell.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
pub(crate) use errln;

/// How lists and confirmations are printed (the global `--json`, `--no-headers`, `-q`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    pub no_headers: bool,
    pub quiet: bool,
}

/// How one column's values are turned into text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Strings as they are; lists joined with commas; objects as their keys.
    Plain,
    /// An RFC 3339 timestamp shown as `YYYY-MM-DD HH:MM:SS` (UTC).
    Time,
    /// An object shown as `key=value` pairs.
    Pairs,
    /// Free text: one line, cut at [`MAX_TEXT_CELL`] unless it is the last column.
    Text,
}

/// A column of a table: its header, the field (`a.b` for a nested one) and its format.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub path: &'static str,
    pub format: Format,
}

/// A plain column.
pub const fn col(header: &'static str, path: &'static str) -> Column {
    Column {
        header,
        path,
        format: Format::Plain,
    }
}

/// A timestamp column.
pub const fn time(header: &'static str, path: &'static str) -> Column {
    Column {
        header,
        path,
        format: Format::Time,
    }
}

/// A free-text column.
pub const fn text(header: &'static str, path: &'static str) -> Column {
    Column {
        header,
        path,
        format: Format::Text,
    }
}

/// A `key=value` column.
pub const fn pairs(header: &'static str, path: &'static str) -> Column {
    Column {
        header,
        path,
        format: Format::Pairs,
    }
}

/// The text of one cell of `row`.
pub fn cell(row: &Value, column: &Column) -> String {
    let v = column.path.split('.').fold(row, |v, k| &v[k]);
    let s = match (v, column.format) {
        (Value::Null, _) => "-".to_owned(),
        (Value::String(s), Format::Time) => short_time(s),
        (Value::Object(m), Format::Pairs) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect::<Vec<_>>()
            .join(","),
        (Value::String(s), _) => s.clone(),
        (Value::Array(items), _) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(","),
        (Value::Object(m), _) => m.keys().cloned().collect::<Vec<_>>().join(","),
        (other, _) => other.to_string(),
    };
    // A cell is one line, whatever a message holds.
    let one_line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.is_empty() { "-".to_owned() } else { one_line }
}

/// `2026-11-26T10:00:00.123456Z` → `2026-11-26 10:00:00`; anything else as it is.
pub fn short_time(ts: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(ts) {
        Ok(t) => t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => ts.to_owned(),
    }
}

/// Cuts `s` to `max` characters, marking the cut with `…`.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The lines of a table: a header (unless `no_headers`), then one line per row, columns
/// two spaces apart, free-text columns cut except the last.
pub fn table_lines(columns: &[Column], rows: &[Vec<String>], no_headers: bool) -> Vec<String> {
    let last = columns.len().saturating_sub(1);
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, c)| match columns.get(i) {
                    Some(col) if col.format == Format::Text && i != last => cut(c, MAX_TEXT_CELL),
                    _ => c.clone(),
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = columns
        .iter()
        .map(|c| if no_headers { 0 } else { c.header.len() })
        .collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = Vec::with_capacity(rows.len() + 1);
    if !no_headers {
        let headers: Vec<String> = columns.iter().map(|c| c.header.to_owned()).collect();
        out.push(line(&headers));
    }
    out.extend(rows.iter().map(|r| line(r)));
    out
}

/// Prints `items` as a table of `columns` (with `-q`: only the first column, the id).
///
/// # Errors
/// When stdout cannot be written.
pub fn table(style: Style, columns: &[Column], items: &[Value]) -> Result<()> {
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|r| columns.iter().map(|c| cell(r, c)).collect())
        .collect();
    if style.quiet {
        for row in &rows {
            outln!("{}", row.first().map_or("", String::as_str))?;
        }
        return Ok(());
    }
    let mut text = String::new();
    for l in table_lines(columns, &rows, style.no_headers) {
        text.push_str(&l);
        text.push('\n');
    }
    write_str(&text)
}

/// Prints a value as pretty JSON.
///
/// # Errors
/// When stdout cannot be written.
pub fn json(v: &Value) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(v).unwrap_or_default())
}

/// Prints a confirmation for people (nothing with `-q`).
///
/// # Errors
/// When stdout cannot be written.
pub fn done(style: Style, message: &str) -> Result<()> {
    if style.quiet { Ok(()) } else { outln!("{message}") }
}

/// A string field or "-".
pub fn field(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn headers_are_words_and_free_text_is_cut_except_in_the_last_column() {
        let columns = [col("PACK", "pack_id"), text("ERROR", "error"), time("UPDATED", "at")];
        let long = "x".repeat(100);
        let rows = vec![vec!["alpha".to_owned(), long.clone(), "2026-01-02 03:04:05".to_owned()]];
        let lines = table_lines(&columns, &rows, false);
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["PACK", "ERROR", "UPDATED"]
        );
        assert!(
            lines[1].contains(&format!("{}…", "x".repeat(MAX_TEXT_CELL - 1))),
            "{}",
            lines[1]
        );
        assert!(!lines[1].contains(&long));
        let columns = [col("PACK", "pack_id"), text("ERROR", "error")];
        let rows = vec![vec!["alpha".to_owned(), long.clone()]];
        assert!(
            table_lines(&columns, &rows, false)[1].ends_with(&long),
            "the last column is whole"
        );
        assert_eq!(table_lines(&columns, &rows, true).len(), 1, "no header line");
    }

    #[test]
    fn cells_are_one_readable_line() {
        let row = json!({
            "ts": "2026-11-26T10:00:00.123456Z",
            "schedule": {"cron": "0 * * * *"},
            "perms": {"store.get": {"allowed": ["a"]}, "secrets.get": {}},
            "list": ["a", "b"],
            "msg": "two\nlines",
            "empty": "",
            "n": 3,
        });
        assert_eq!(cell(&row, &time("T", "ts")), "2026-11-26 10:00:00");
        assert_eq!(cell(&row, &pairs("S", "schedule")), "cron=0 * * * *");
        assert_eq!(cell(&row, &col("P", "perms")), "secrets.get,store.get");
        assert_eq!(cell(&row, &col("L", "list")), "a,b");
        assert_eq!(cell(&row, &text("M", "msg")), "two lines");
        assert_eq!(cell(&row, &col("E", "empty")), "-");
        assert_eq!(cell(&row, &col("X", "missing.deep")), "-");
        assert_eq!(cell(&row, &col("N", "n")), "3");
    }
}
