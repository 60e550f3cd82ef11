//! `rumi-ctl audit`: the audit log, filtered, newest last, optionally followed.
//!
//! Two sources. The home's files (`user_data/audit/{category}_{date}.jsonl`) when they can
//! be read (a local home, as rumid's user or root): the whole history, so `--since 30d`
//! works. Else rumid's `GET /api/audit/recent`, which serves at most 500 events of the two
//! newest days; filters it does not know (pack, action, failed, since) are applied here.
//!
//! `--follow` polls: files from the offset last read (a half-written line waits for its
//! newline), the API for events newer than the last one seen. The API follower builds a new
//! client at every poll, so it finds rumid again after a restart on another port, and waits
//! (saying so once on stderr) while rumid is unreachable.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use crate::cli::{AuditSource, Cli};
use crate::client::{self, Client, Unreachable};
use crate::failure;
use crate::output::{self, errln, outln};

/// How often `--follow` looks at the files: new lines show within half a second.
const FILE_POLL: Duration = Duration::from_millis(500);
/// How often `--follow` asks the API; each poll reads up to two days of files in rumid.
const API_POLL: Duration = Duration::from_secs(1);
/// The most events `GET /api/audit/recent` returns.
const API_LIMIT: usize = 500;

/// What to show.
#[derive(Debug, Default)]
pub struct Filter {
    pub categories: Vec<String>,
    pub pack: Option<String>,
    pub action: Option<String>,
    pub failed: bool,
    pub since: Option<DateTime<Utc>>,
}

impl Filter {
    /// Whether `category` can hold matching events (from a file name, before reading it).
    fn wants_category(&self, category: &str) -> bool {
        self.categories.is_empty() || self.categories.iter().any(|c| c == category)
    }

    /// Whether `event` matches every filter.
    pub fn matches(&self, event: &Value) -> bool {
        let s = |k: &str| event[k].as_str();
        if !self.wants_category(s("category").unwrap_or_default()) {
            return false;
        }
        if let Some(a) = &self.action
            && s("action") != Some(a.as_str())
        {
            return false;
        }
        if self.failed && event["success"] != Value::Bool(false) {
            return false;
        }
        if let Some(since) = self.since
            && ts(event).is_none_or(|t| t < since)
        {
            return false;
        }
        if let Some(p) = &self.pack {
            let d = &event["details"];
            let about = [
                &event["owner_pack"],
                &d["pack_id"],
                &d["target_pack"],
                &d["principal_id"],
            ]
            .iter()
            .filter_map(|v| v.as_str())
            .any(|v| v == p || v.strip_prefix(p.as_str()).is_some_and(|rest| rest.starts_with("__")));
            if !about {
                return false;
            }
        }
        true
    }
}

/// An event's time.
fn ts(event: &Value) -> Option<DateTime<Utc>> {
    event["ts"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Parses `--since`: a duration back from now (`90s`, `10m`, `2h`, `7d`) or a UTC time
/// (`2026-11-26`, `2026-11-26T10:00:00Z`, `2026-11-26 10:00:00` as tables print it).
pub fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Some(unit) = s.chars().last()
        && let Ok(n) = s[..s.len() - unit.len_utf8()].parse::<i64>()
    {
        let secs = match unit {
            's' => Some(n),
            'm' => n.checked_mul(60),
            'h' => n.checked_mul(3600),
            'd' => n.checked_mul(86_400),
            _ => None,
        };
        if let Some(back) = secs.and_then(chrono::TimeDelta::try_seconds) {
            return Ok(Utc::now() - back);
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(t.and_utc());
        }
    }
    if let Some(t) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        return Ok(t.and_utc());
    }
    Err("not a duration (30s, 10m, 2h, 7d) or a UTC time (2026-11-26, 2026-11-26T10:00:00Z)".to_owned())
}

/// Parses `--category`: lower-case letters and `_`, as rumid names its categories.
pub fn parse_category(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        Ok(s.to_owned())
    } else {
        Err("a category is lower-case letters and '_' (approval, security, system, …)".to_owned())
    }
}

/// The options of one `rumi-ctl audit`.
pub struct Options<'a> {
    pub filter: Filter,
    pub limit: usize,
    pub follow: bool,
    pub source: &'a AuditSource,
}

pub fn run(cli: &Cli, opts: &Options<'_>) -> Result<()> {
    let dir = client::home(cli).join("user_data/audit");
    let use_files = match opts.source {
        AuditSource::Files => {
            std::fs::read_dir(&dir).with_context(|| format!("cannot read the audit log in {}", dir.display()))?;
            true
        }
        AuditSource::Api => false,
        // Reading the files needs no running rumid and sees the whole history.
        AuditSource::Auto => cli.url.is_none() && std::fs::read_dir(&dir).is_ok(),
    };
    let printer = Printer::new(cli);
    if use_files {
        let mut files = Files::new(dir);
        printer.header()?;
        printer.print(&newest(files.initial(&opts.filter, opts.limit)?, opts.limit))?;
        if !opts.follow {
            return Ok(());
        }
        // Until interrupted, or until the reader of stdout goes away.
        loop {
            std::thread::sleep(FILE_POLL);
            printer.print(&files.poll(&opts.filter)?)?;
        }
    }
    let mut api = Api::default();
    let first = match api.poll(cli, &opts.filter) {
        Ok(events) => events,
        Err(e) if opts.follow && e.downcast_ref::<Unreachable>().is_some() => {
            errln!("rumi-ctl: {}; retrying", failure::message(&e));
            api.waiting = true;
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    printer.header()?;
    printer.print(&newest(first, opts.limit))?;
    if !opts.follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(API_POLL);
        match api.poll(cli, &opts.filter) {
            Ok(events) => {
                if api.waiting {
                    errln!("rumi-ctl: rumid answers again");
                    api.waiting = false;
                }
                printer.print(&events)?;
            }
            // rumid restarting, or stopped for a while: keep following.
            Err(e) if e.downcast_ref::<Unreachable>().is_some() => {
                if !api.waiting {
                    errln!("rumi-ctl: {}; retrying", failure::message(&e));
                    api.waiting = true;
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// The last `limit` of `events` (already oldest first).
fn newest(mut events: Vec<Value>, limit: usize) -> Vec<Value> {
    let skip = events.len().saturating_sub(limit);
    events.drain(..skip);
    events
}

/// Sorts events oldest first (stable for equal times, as the files hold them).
fn sort(events: &mut [Value]) {
    events.sort_by(|a, b| a["ts"].as_str().cmp(&b["ts"].as_str()));
}

// === impl Files ===

/// The audit files of a home, and how far each has been read.
struct Files {
    dir: PathBuf,
    /// Bytes of each file consumed so far (complete lines only).
    offsets: HashMap<PathBuf, u64>,
}

impl Files {
    fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            offsets: HashMap::new(),
        }
    }

    /// `(date, category, path)` of every audit file, newest date first.
    fn list(&self) -> Vec<(String, String, PathBuf)> {
        let mut out: Vec<(String, String, PathBuf)> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let (category, date) = name.strip_suffix(".jsonl")?.rsplit_once('_')?;
                Some((date.to_owned(), category.to_owned(), e.path()))
            })
            .collect();
        out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        out
    }

    /// The matching events written so far, oldest first: whole days, newest first, until
    /// `limit` are found. Remembers where each file ends.
    fn initial(&mut self, filter: &Filter, limit: usize) -> Result<Vec<Value>> {
        let since_day = filter.since.map(|t| t.format("%Y-%m-%d").to_string());
        let mut events = Vec::new();
        let mut day = String::new();
        let mut enough = false;
        for (date, category, path) in self.list() {
            if date != day {
                // Older days can only hold older events than the `limit` already found.
                enough = events.len() >= limit;
                day.clone_from(&date);
            }
            if enough || !filter.wants_category(&category) || since_day.as_ref().is_some_and(|d| &date < d) {
                // Never shown, but followed from its end.
                let len = std::fs::metadata(&path).map_or(0, |m| m.len());
                self.offsets.insert(path, len);
                continue;
            }
            events.extend(self.read_new(&path, filter)?);
        }
        sort(&mut events);
        Ok(events)
    }

    /// The matching events written since the last look, oldest first.
    fn poll(&mut self, filter: &Filter) -> Result<Vec<Value>> {
        let mut events = Vec::new();
        for (_, category, path) in self.list() {
            if filter.wants_category(&category) {
                events.extend(self.read_new(&path, filter)?);
            }
        }
        sort(&mut events);
        Ok(events)
    }

    /// Reads the complete lines of `path` past its offset.
    fn read_new(&mut self, path: &Path, filter: &Filter) -> Result<Vec<Value>> {
        let mut file = match std::fs::File::open(path) {
            Ok(f) => f,
            // Removed since it was listed: nothing to read.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let len = file.metadata().map_or(0, |m| m.len());
        let mut offset = self.offsets.get(path).copied().unwrap_or(0);
        if offset > len {
            // Replaced by a shorter file: start again.
            offset = 0;
        }
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| {
                let mut buf = Vec::new();
                file.read_to_end(&mut buf).map(|_| buf)
            })
            .with_context(|| format!("cannot read {}", path.display()))
            .map(|buf| {
                // A line still being written waits for its newline.
                let complete = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                self.offsets.insert(path.to_path_buf(), offset + complete as u64);
                String::from_utf8_lossy(&buf[..complete])
                    .lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .filter(|v| filter.matches(v))
                    .collect()
            })
    }
}

// === impl Api ===

/// What the API follower has already printed.
#[derive(Default)]
struct Api {
    /// The newest time printed, and the events of that time (several can share it).
    last_ts: Option<String>,
    at_last: HashSet<String>,
    /// rumid was unreachable at the last poll.
    waiting: bool,
}

impl Api {
    /// The matching events not returned before, oldest first.
    fn poll(&mut self, cli: &Cli, filter: &Filter) -> Result<Vec<Value>> {
        let mut path = format!("/api/audit/recent?limit={API_LIMIT}");
        if let [one] = filter.categories.as_slice() {
            path.push_str(&format!("&category={}", client::seg(one)));
        }
        // A new client each time: the address and token are looked up again.
        let data = Client::new(cli)?.call("GET", &path, None)?;
        let mut events: Vec<Value> = data["events"].as_array().cloned().unwrap_or_default();
        events.reverse();
        sort(&mut events);
        let mut out = Vec::new();
        for e in events {
            let t = e["ts"].as_str().unwrap_or_default().to_owned();
            let key = e.to_string();
            let new = match &self.last_ts {
                None => true,
                Some(last) => t > *last || (t == *last && !self.at_last.contains(&key)),
            };
            if !new {
                continue;
            }
            if self.last_ts.as_ref() != Some(&t) {
                self.last_ts = Some(t);
                self.at_last.clear();
            }
            self.at_last.insert(key);
            if filter.matches(&e) {
                out.push(e);
            }
        }
        Ok(out)
    }
}

// === impl Printer ===

/// Prints events: one JSON object per line with `--json`, else one aligned line each.
struct Printer {
    json: bool,
    header: bool,
}

impl Printer {
    fn new(cli: &Cli) -> Self {
        Self {
            json: cli.json,
            header: !(cli.json || cli.no_headers || cli.quiet),
        }
    }

    fn header(&self) -> Result<()> {
        if self.header {
            outln!("{}", line("TIME", "SEVERITY", "EVENT", "PACK", "RESULT", "DETAILS"))?;
        }
        Ok(())
    }

    fn print(&self, events: &[Value]) -> Result<()> {
        let mut text = String::new();
        for e in events {
            if self.json {
                text.push_str(&e.to_string());
            } else {
                let field = |k: &str| e[k].as_str().unwrap_or("-").to_owned();
                text.push_str(&line(
                    &output::short_time(&field("ts")),
                    &field("severity"),
                    &format!("{}/{}", field("category"), field("action")),
                    &field("owner_pack"),
                    if e["success"] == Value::Bool(false) {
                        "failed"
                    } else {
                        "ok"
                    },
                    &summary(e),
                ));
            }
            text.push('\n');
        }
        if text.is_empty() {
            return Ok(());
        }
        output::write_str(&text)
    }
}

/// One line of the text output; fixed widths so followed lines stay aligned.
fn line(time: &str, severity: &str, event: &str, pack: &str, result: &str, details: &str) -> String {
    format!("{time:<19}  {severity:<8}  {event:<40}  {pack:<16}  {result:<6}  {details}")
        .trim_end()
        .to_owned()
}

/// The rest of an event as `key=value` pairs: error fields first, then the details.
fn summary(e: &Value) -> String {
    let mut parts = Vec::new();
    for k in [
        "error_type",
        "error",
        "rejection_reason",
        "flow_id",
        "step_id",
        "modifier_id",
        "request_id",
    ] {
        if let Some(v) = e[k].as_str() {
            parts.push(format!("{k}={v}"));
        }
    }
    for (k, v) in e["details"].as_object().into_iter().flatten() {
        let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
        parts.push(format!("{k}={v}"));
    }
    // One line, whatever a field holds.
    parts
        .join(" ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(ts: &str, category: &str, action: &str, pack: Option<&str>, success: bool) -> Value {
        let mut v = json!({"ts": ts, "category": category, "severity": "info", "action": action, "success": success});
        if let Some(p) = pack {
            v["owner_pack"] = json!(p);
        }
        v
    }

    #[test]
    fn filters_select_by_category_pack_action_outcome_and_time() {
        let approved = event(
            "2026-11-26T10:00:00.000000Z",
            "approval",
            "pack_approved",
            Some("alpha"),
            true,
        );
        let refused = event("2026-11-26T11:00:00.000000Z", "security", "auth_failed", None, false);
        let mut shared = event(
            "2026-11-26T12:00:00.000000Z",
            "permission",
            "store_share_approved",
            Some("beta"),
            true,
        );
        shared["details"] = json!({"target_pack": "alpha"});
        let mut cap = event(
            "2026-11-26T12:30:00.000000Z",
            "permission",
            "permission_grant",
            Some("gamma"),
            true,
        );
        cap["details"] = json!({"principal_id": "alpha__worker"});
        let all = [&approved, &refused, &shared, &cap];
        let pick = |f: &Filter| all.iter().filter(|e| f.matches(e)).count();

        assert_eq!(pick(&Filter::default()), 4);
        let f = Filter {
            categories: vec!["approval".into(), "security".into()],
            ..Filter::default()
        };
        assert_eq!(pick(&f), 2);
        let f = Filter {
            pack: Some("alpha".into()),
            ..Filter::default()
        };
        assert_eq!(pick(&f), 3, "owner, share target and sub-principal");
        let f = Filter {
            pack: Some("alp".into()),
            ..Filter::default()
        };
        assert_eq!(pick(&f), 0, "a prefix of an id is another pack");
        let f = Filter {
            action: Some("auth_failed".into()),
            ..Filter::default()
        };
        assert_eq!(pick(&f), 1);
        let f = Filter {
            failed: true,
            ..Filter::default()
        };
        assert_eq!(pick(&f), 1);
        let f = Filter {
            since: Some(parse_since("2026-11-26T11:00:00Z").unwrap()),
            ..Filter::default()
        };
        assert_eq!(pick(&f), 3, "since is inclusive");
    }

    #[test]
    fn since_takes_durations_and_utc_times() {
        let now = Utc::now();
        let back = |s: &str| (now - parse_since(s).unwrap()).num_seconds();
        assert!((89..=91).contains(&back("90s")));
        assert!((599..=601).contains(&back("10m")));
        assert!((7199..=7201).contains(&back("2h")));
        assert!((604_799..=604_801).contains(&back("7d")));
        let day = parse_since("2026-11-26").unwrap();
        assert_eq!(day.to_rfc3339(), "2026-11-26T00:00:00+00:00");
        for s in [
            "2026-11-26T10:00:00Z",
            "2026-11-26T12:00:00+02:00",
            "2026-11-26 10:00:00",
            "2026-11-26T10:00:00",
        ] {
            assert_eq!(parse_since(s).unwrap().to_rfc3339(), "2026-11-26T10:00:00+00:00", "{s}");
        }
        for bad in ["", "yesterday", "10x", "-", "2026-13-01", "d"] {
            assert!(parse_since(bad).is_err(), "{bad:?}");
        }
        assert!(parse_category("flow_execution").is_ok());
        for bad in ["", "Approval", "a/b", "../x"] {
            assert!(parse_category(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn files_are_followed_from_where_they_were_left_and_half_lines_wait() {
        let dir = std::env::temp_dir().join(format!("rumi-ctl-audit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("approval_2026-11-26.jsonl");
        let a = event(
            "2026-11-26T10:00:00.000000Z",
            "approval",
            "pack_approved",
            Some("alpha"),
            true,
        );
        let b = event(
            "2026-11-26T10:00:01.000000Z",
            "approval",
            "pack_rejected",
            Some("beta"),
            true,
        );
        std::fs::write(&file, format!("{a}\n")).unwrap();
        std::fs::write(dir.join("system_2026-11-26.jsonl"), format!("{b}\n")).unwrap();
        std::fs::write(dir.join("notes.txt"), "not an audit file").unwrap();
        let f = Filter {
            categories: vec!["approval".into()],
            ..Filter::default()
        };
        let mut files = Files::new(dir.clone());
        assert_eq!(files.initial(&f, 20).unwrap(), vec![a.clone()]);
        assert!(files.poll(&f).unwrap().is_empty(), "nothing new");

        // Half a line: not yet; the rest: once.
        let text = b.to_string();
        let (head, tail) = text.split_at(10);
        let append = |s: &str| {
            use std::io::Write;
            let mut h = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
            h.write_all(s.as_bytes()).unwrap();
        };
        append(head);
        assert!(files.poll(&f).unwrap().is_empty());
        append(&format!("{tail}\n"));
        assert_eq!(files.poll(&f).unwrap(), vec![b.clone()]);
        assert!(files.poll(&f).unwrap().is_empty());

        // A new day's file is picked up from its start.
        std::fs::write(dir.join("approval_2026-11-27.jsonl"), format!("{a}\n")).unwrap();
        assert_eq!(files.poll(&f).unwrap(), vec![a]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn newest_keeps_the_last_events() {
        let v: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        assert_eq!(newest(v.clone(), 2), vec![json!(3), json!(4)]);
        assert_eq!(newest(v.clone(), 10).len(), 5);
        assert!(newest(v, 0).is_empty());
    }
}
