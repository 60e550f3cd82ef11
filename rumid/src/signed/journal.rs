//! The generation journal: `user_data/settings/generations.jsonl`.
//!
//! A signature proves a file was written by rumid, not that it is the *latest* thing rumid
//! wrote there: an attacker who kept an old, validly signed grant file (`*`, port 0) could
//! copy it back. So every signed write carries a generation (`_generation`, covered by the
//! signature) taken from one counter for the whole home, and the journal records, one
//! fsynced line per write or deletion, which file got which generation. A file whose
//! generation is not the journal's latest for it is refused.
//!
//! Each line is a signed JSON object (`crate::signed`'s canonical form) that also names the
//! signature of the line before it (`prev`), so a line cannot be removed, changed or moved
//! without breaking the chain. The first line is a `base` line giving the generation the
//! journal starts from. A write costs one appended line, whatever the number of files; the
//! journal is compacted (one line per file) at every start and when it grows past
//! [`COMPACT_MIN_LINES`] and four lines per file.
//!
//! Order of a write: the file (atomically), then its line. A crash in between leaves the
//! file one generation ahead of the journal's tail; at the next start that file is accepted
//! and its line added. Nothing else can be ahead: writes hold the journal's lock from the
//! generation's allocation to the line's fsync, so only one is ever in flight. A deletion
//! appends its line first, then removes the file (a crash in between finishes the deletion
//! at the next start).
//!
//! # Security
//! At start the journal must be present and unbroken: a missing journal while signed files
//! carry generations, or a line that fails verification or the chain, stops rumid
//! ([`JournalError`]) until the operator restores the journal or adopts the files as they
//! are (`rumid --adopt-signed-state`). What this cannot see: a rollback of the journal
//! *together with* every file written after the point it is cut back to; that is a restore
//! of the whole state from a backup.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde_json::{Map, Value, json};

use super::{GENERATION_FIELD, SIGNATURE_FIELD, sign, verify};

/// The journal's path below the home.
pub const JOURNAL_FILE: &str = "user_data/settings/generations.jsonl";
/// The directories (below the home) holding signed files: walked at start, re-signed at a
/// key rotation.
pub const SIGNED_ROOTS: &[&str] = &[
    "user_data/settings",
    "user_data/capabilities/requests",
    "user_data/capabilities/trust",
    "user_data/units/trust",
    "user_data/pip/requests",
];
/// The journal is compacted while running once it holds more lines than this and four
/// times its number of files (so compaction costs O(1) per write, amortised).
pub const COMPACT_MIN_LINES: usize = 10_000;
/// Largest journal read at start (about 100 bytes a line: a million lines).
pub const MAX_JOURNAL_BYTES: u64 = 128 * 1024 * 1024;

/// What the journal says last about one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latest {
    /// Written with this generation.
    Put(u64),
    /// Removed at this generation.
    Deleted(u64),
}

impl Latest {
    fn generation(self) -> u64 {
        match self {
            Self::Put(g) | Self::Deleted(g) => g,
        }
    }
}

/// Why a file's generation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// Older than the journal's latest write of the file: an old copy put back.
    RolledBack,
    /// The journal records the file's deletion: an old copy put back.
    Deleted,
    /// The journal has no such write of this file (a copy of another file, or its line
    /// was removed).
    NotInJournal,
    /// Newer than the journal by more than the one write a crash can interrupt: the
    /// journal lost lines (an older journal put back).
    JournalBehind,
}

impl RefusalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RolledBack => "rolled_back",
            Self::Deleted => "deleted",
            Self::NotInJournal => "not_in_journal",
            Self::JournalBehind => "journal_behind",
        }
    }
}

/// A refused generation: the file's, and what the journal holds (its latest generation
/// for the file, or its tail for [`RefusalKind::JournalBehind`] and unknown files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub generation: u64,
    pub journal_generation: u64,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (g, j) = (self.generation, self.journal_generation);
        match self.kind {
            RefusalKind::RolledBack => write!(
                f,
                "rolled back: generation {g} is older than the journal's latest write of this file ({j})"
            ),
            RefusalKind::Deleted => write!(
                f,
                "rolled back: the journal records this file's deletion at generation {j}; this copy has {g}"
            ),
            RefusalKind::NotInJournal => write!(
                f,
                "rolled back: the journal has no write of this file with generation {g} (its latest: {j})"
            ),
            RefusalKind::JournalBehind => write!(
                f,
                "generation {g} is ahead of the journal ({j}) by more than one write: the journal lost lines"
            ),
        }
    }
}

/// What a file's generation is, compared with the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The journal's latest write of the file.
    Current,
    /// One past the journal's tail: the write a crash interrupted (only at start).
    Ahead,
    Refused(Refusal),
}

/// What the journal knows: the latest line of each file and the highest generation seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    latest: BTreeMap<String, Latest>,
    tail: u64,
}

impl Ledger {
    /// The highest generation the journal mentions.
    pub fn tail(&self) -> u64 {
        self.tail
    }

    /// How many files the journal knows (deleted ones included).
    pub fn len(&self) -> usize {
        self.latest.len()
    }

    pub fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }

    pub fn latest(&self, file: &str) -> Option<Latest> {
        self.latest.get(file).copied()
    }

    /// Records a line. Lines may come in any order: a file's latest is its highest
    /// generation (a rolled-back journal line can never lower it).
    pub fn apply(&mut self, file: &str, latest: Latest) {
        let g = latest.generation();
        self.tail = self.tail.max(g);
        match self.latest.get_mut(file) {
            Some(cur) if cur.generation() >= g => {}
            Some(cur) => *cur = latest,
            None => {
                self.latest.insert(file.to_owned(), latest);
            }
        }
    }

    /// Raises the tail (a `base` line).
    pub fn raise_tail(&mut self, generation: u64) {
        self.tail = self.tail.max(generation);
    }

    /// Compares a file's generation with the journal. `at_start`: the one write a crash
    /// may have left without its line (one past the tail) is accepted as [`Verdict::Ahead`];
    /// while running, every write has its line before anyone can read the file.
    pub fn verdict(&self, file: &str, generation: u64, at_start: bool) -> Verdict {
        let refuse = |kind, journal_generation| {
            Verdict::Refused(Refusal {
                kind,
                generation,
                journal_generation,
            })
        };
        match self.latest(file) {
            Some(Latest::Put(j)) if generation == j => return Verdict::Current,
            Some(Latest::Put(j)) if generation < j => return refuse(RefusalKind::RolledBack, j),
            Some(Latest::Deleted(j)) if generation <= j => return refuse(RefusalKind::Deleted, j),
            _ => {}
        }
        let known = self.latest(file).map_or(self.tail, Latest::generation);
        if at_start && generation == self.tail + 1 {
            Verdict::Ahead
        } else if generation <= self.tail {
            refuse(RefusalKind::NotInJournal, known)
        } else {
            refuse(RefusalKind::JournalBehind, self.tail)
        }
    }

    /// The lines of a compacted journal: a `base` line at `base`, then one line per file.
    fn compacted(&self, base: u64) -> Vec<Line> {
        let mut lines = vec![Line {
            op: Op::Base,
            file: String::new(),
            generation: base,
            of: None,
        }];
        lines.extend(self.latest.iter().map(|(file, latest)| match *latest {
            Latest::Put(g) => Line {
                op: Op::Put,
                file: file.clone(),
                generation: g,
                of: None,
            },
            Latest::Deleted(g) => Line {
                op: Op::Delete,
                file: file.clone(),
                generation: g,
                of: None,
            },
        }));
        lines
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Base,
    Put,
    Delete,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Self::Base => "base",
            Self::Put => "put",
            Self::Delete => "delete",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "base" => Some(Self::Base),
            "put" => Some(Self::Put),
            "delete" => Some(Self::Delete),
            _ => None,
        }
    }
}

/// One journal line, before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    op: Op,
    file: String,
    generation: u64,
    /// For a deletion: the generation of the file it removes (so a deletion a crash
    /// interrupted is told apart from an older copy put back after it).
    of: Option<u64>,
}

impl Line {
    /// The signed line (with its newline) chained to `prev`, and its signature.
    fn signed(&self, key: &[u8; 32], prev: &str) -> (Vec<u8>, String) {
        let mut obj = Map::new();
        obj.insert("op".into(), json!(self.op.as_str()));
        obj.insert("file".into(), json!(self.file));
        obj.insert("gen".into(), json!(self.generation));
        obj.insert("prev".into(), json!(prev));
        if let Some(of) = self.of {
            obj.insert("of".into(), json!(of));
        }
        sign(&mut obj, key);
        let mac = obj
            .get(SIGNATURE_FIELD)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut bytes = serde_json::to_vec(&obj).unwrap_or_default();
        bytes.push(b'\n');
        (bytes, mac)
    }
}

/// A journal read back: its ledger, the last line, and the chain's end.
#[derive(Debug, Default)]
pub struct Parsed {
    pub ledger: Ledger,
    last: Option<Line>,
    last_mac: String,
    /// Whether an unfinished last line (no newline: a crash mid-append) was dropped.
    pub torn_tail: bool,
    lines: usize,
}

/// Why the journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "{path} is missing but {files} signed files carry generations: restore it from the same backup as the files, or adopt the files as they are with `rumid --adopt-signed-state`"
    )]
    Missing { path: PathBuf, files: usize },
    #[error(
        "{path} is damaged at line {line} ({reason}): restore it from the same backup as the files, or adopt the files as they are with `rumid --adopt-signed-state`"
    )]
    Damaged { path: PathBuf, line: usize, reason: String },
    #[error(
        "{path} is behind the signed files ({files} of them, e.g. {example}, carry generations it never recorded; its latest is {tail}): an older journal was put back. Restore the journal and the files from one backup, or adopt the files as they are with `rumid --adopt-signed-state`"
    )]
    Behind {
        path: PathBuf,
        files: usize,
        example: String,
        tail: u64,
    },
    #[error("cannot use {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl JournalError {
    /// The `error_type` of the audit line.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Missing { .. } => "generation_journal_missing",
            Self::Damaged { .. } => "generation_journal_damaged",
            Self::Behind { .. } => "generation_journal_rolled_back",
            Self::Io { .. } => "generation_journal_unreadable",
        }
    }
}

/// Reads a journal's bytes. A line that fails to parse, verify or chain is damage; only an
/// unfinished last line (a crash while appending) is dropped silently.
///
/// # Errors
/// `(line number, reason)` of the first damaged line.
pub fn parse(bytes: &[u8], key: &[u8; 32]) -> Result<Parsed, (usize, String)> {
    let mut parsed = Parsed::default();
    let mut rest = bytes;
    let mut n = 0;
    while !rest.is_empty() {
        n += 1;
        let Some(end) = rest.iter().position(|b| *b == b'\n') else {
            parsed.torn_tail = true;
            break;
        };
        let (text, tail) = rest.split_at(end);
        rest = &tail[1..];
        let obj = match serde_json::from_slice::<Value>(text) {
            Ok(Value::Object(obj)) => obj,
            _ => return Err((n, "not a JSON object".into())),
        };
        verify(&obj, key).map_err(|e| (n, e.to_string()))?;
        let field = |k: &str| obj.get(k).ok_or_else(|| (n, format!("no {k}")));
        let op = field("op")?
            .as_str()
            .and_then(Op::parse)
            .ok_or_else(|| (n, "unknown op".to_owned()))?;
        let file = field("file")?.as_str().ok_or((n, "bad file".to_owned()))?.to_owned();
        let generation = field("gen")?.as_u64().ok_or((n, "bad gen".to_owned()))?;
        let prev = field("prev")?.as_str().ok_or((n, "bad prev".to_owned()))?;
        let of = match obj.get("of") {
            None => None,
            Some(v) => Some(v.as_u64().ok_or((n, "bad of".to_owned()))?),
        };
        if prev != parsed.last_mac {
            return Err((n, "does not follow the line before it".into()));
        }
        if (n == 1) != (op == Op::Base) {
            return Err((n, "the base line must come first, and only first".into()));
        }
        match op {
            Op::Base => parsed.ledger.raise_tail(generation),
            Op::Put => parsed.ledger.apply(&file, Latest::Put(generation)),
            Op::Delete => parsed.ledger.apply(&file, Latest::Deleted(generation)),
        }
        parsed.last_mac = obj
            .get(SIGNATURE_FIELD)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        parsed.last = Some(Line {
            op,
            file,
            generation,
            of,
        });
        parsed.lines = n;
    }
    if parsed.lines == 0 {
        return Err((1, "no base line".into()));
    }
    Ok(parsed)
}

/// The bytes of a journal holding `lines`, and the signature of its last line.
fn render(lines: &[Line], key: &[u8; 32]) -> (Vec<u8>, String) {
    let mut out = Vec::with_capacity(lines.len() * 128);
    let mut prev = String::new();
    for line in lines {
        let (bytes, mac) = line.signed(key, &prev);
        out.extend_from_slice(&bytes);
        prev = mac;
    }
    (out, prev)
}

/// Every signed file below the home's [`SIGNED_ROOTS`] that verifies under `key`, by path
/// relative to `home`, with its generation (0 for files written before generations).
/// Files that do not verify are left out: their store refuses and audits them.
pub fn walk(home: &Path, key: &[u8; 32]) -> Vec<(String, u64)> {
    fn visit(dir: &Path, home: &Path, key: &[u8; 32], out: &mut Vec<(String, u64)>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                visit(&path, home, key, out);
            } else if kind.is_file() && path.extension().is_some_and(|e| e == "json") {
                let Ok(obj) = super::read_verified(&path, key) else {
                    continue;
                };
                let Some(generation) = generation_value(&obj) else {
                    continue;
                };
                out.push((relative(home, &path), generation));
            }
        }
    }
    let mut out = Vec::new();
    for root in SIGNED_ROOTS {
        visit(&home.join(root), home, key, &mut out);
    }
    out.sort();
    out
}

/// `path` relative to `home` (as the journal names files); the full path when outside it.
pub fn relative(home: &Path, path: &Path) -> String {
    path.strip_prefix(home).unwrap_or(path).to_string_lossy().into_owned()
}

/// What [`Journal::open`] did, for the log and the audit.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The journal did not exist and no file carried a generation: it was created.
    pub created: bool,
    /// Files one write ahead of the journal (a crash between a write and its line),
    /// accepted and recorded.
    pub repaired: Vec<(String, u64)>,
    /// A deletion a crash interrupted, finished.
    pub finished_deletion: Option<String>,
}

/// What the journal calls, with its name, when it is found replaced under the daemon.
pub type TamperHook = Box<dyn Fn(&str) + Send + Sync>;

/// The journal of one home, open for appending.
pub struct Journal {
    home: PathBuf,
    path: PathBuf,
    key: [u8; 32],
    inner: Mutex<Inner>,
    /// [`COMPACT_MIN_LINES`] (smaller in tests).
    compact_min_lines: usize,
    /// Called when the journal is found replaced under the running daemon.
    on_tamper: std::sync::OnceLock<TamperHook>,
}

struct Inner {
    ledger: Ledger,
    file: File,
    /// Length of the journal file: an append that fails is cut back to it.
    len: u64,
    last_mac: String,
    lines: usize,
    next: u64,
    /// A line whose append failed after its file was written; appended before anything
    /// else is written, so at most one line is ever missing.
    pending: Option<(Vec<u8>, String)>,
}

impl Journal {
    /// Opens the home's journal: reads and checks it, accepts the one file a crash may
    /// have left ahead of it, finishes an interrupted deletion, and compacts it. A home
    /// with no journal and no file carrying a generation (a new home, or one written by a
    /// Rumi without generations) gets a journal of its files as they are.
    ///
    /// # Errors
    /// [`JournalError::Missing`] or [`JournalError::Damaged`] (rumid must not start), or
    /// an I/O error.
    pub fn open(home: &Path, key: [u8; 32]) -> Result<(Self, Opened), JournalError> {
        let path = home.join(JOURNAL_FILE);
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent()
            && !dir.is_dir()
        {
            rumi_common::fs::ensure_dir(dir, 0o700).map_err(io)?;
        }
        let files = walk(home, &key);
        let mut opened = Opened::default();
        let parsed = match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let carrying = files.iter().filter(|(_, g)| *g > 0).count();
                if carrying > 0 {
                    return Err(JournalError::Missing { path, files: carrying });
                }
                opened.created = true;
                let mut parsed = Parsed::default();
                for (file, g) in &files {
                    parsed.ledger.apply(file, Latest::Put(*g));
                }
                parsed
            }
            Err(e) => return Err(io(e)),
            Ok(meta) if !meta.is_file() || meta.len() > MAX_JOURNAL_BYTES => {
                return Err(JournalError::Damaged {
                    path,
                    line: 0,
                    reason: "not a regular file of at most 128 MiB".into(),
                });
            }
            Ok(_) => {
                let bytes = std::fs::read(&path).map_err(io)?;
                parse(&bytes, &key).map_err(|(line, reason)| JournalError::Damaged {
                    path: path.clone(),
                    line,
                    reason,
                })?
            }
        };
        let mut ledger = parsed.ledger;
        // A deletion's line is written before the file is removed.
        if let Some(Line {
            op: Op::Delete,
            file,
            of: Some(of),
            ..
        }) = &parsed.last
            && let Some((_, g)) = files.iter().find(|(f, _)| f == file)
            && g == of
        {
            let target = home.join(file);
            std::fs::remove_file(&target).map_err(io)?;
            let _ = rumi_common::fs::sync_dir(target.parent().unwrap_or(home));
            opened.finished_deletion = Some(file.clone());
        }
        if !opened.created {
            // More than the one write a crash can interrupt: the journal was cut back (an
            // older copy put back), and what it vouches for cannot be trusted either.
            let ahead: Vec<&(String, u64)> = files
                .iter()
                .filter(|(f, g)| {
                    matches!(
                        ledger.verdict(f, *g, true),
                        Verdict::Ahead
                            | Verdict::Refused(Refusal {
                                kind: RefusalKind::JournalBehind,
                                ..
                            })
                    )
                })
                .collect();
            if ahead.len() > 1 || ahead.iter().any(|(_, g)| *g > ledger.tail() + 1) {
                return Err(JournalError::Behind {
                    path,
                    files: ahead.len(),
                    example: ahead.first().map(|(f, _)| f.clone()).unwrap_or_default(),
                    tail: ledger.tail(),
                });
            }
            opened.repaired = ahead.into_iter().cloned().collect();
            for (file, g) in &opened.repaired {
                ledger.apply(file, Latest::Put(*g));
            }
        }
        let journal = Self::create(home, path.clone(), key, ledger).map_err(io)?;
        Ok((journal, opened))
    }

    /// Writes a journal of the files below `home` as they are now (every file that verifies
    /// becomes current), replacing any journal. For an operator who restored files without
    /// their journal: `rumid --adopt-signed-state`. Returns how many files it holds.
    ///
    /// # Errors
    /// An I/O error.
    pub fn adopt(home: &Path, key: [u8; 32]) -> std::io::Result<usize> {
        let mut ledger = Ledger::default();
        for (file, g) in walk(home, &key) {
            ledger.apply(&file, Latest::Put(g));
        }
        let n = ledger.len();
        Self::create(home, home.join(JOURNAL_FILE), key, ledger)?;
        Ok(n)
    }

    /// Writes `ledger` compacted and opens it for appending.
    fn create(home: &Path, path: PathBuf, key: [u8; 32], ledger: Ledger) -> std::io::Result<Self> {
        let (file, len, last_mac, lines) = write_compacted(&path, &key, &ledger)?;
        let next = ledger.tail() + 1;
        Ok(Self {
            home: home.to_path_buf(),
            path,
            key,
            inner: Mutex::new(Inner {
                ledger,
                file,
                len,
                last_mac,
                lines,
                next,
                pending: None,
            }),
            compact_min_lines: COMPACT_MIN_LINES,
            on_tamper: std::sync::OnceLock::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `path` as the journal names it.
    pub fn name(&self, path: &Path) -> String {
        relative(&self.home, path)
    }

    /// Whether `generation` is the journal's latest write of `path`.
    ///
    /// # Errors
    /// The [`Refusal`] otherwise.
    pub fn check(&self, path: &Path, generation: u64) -> Result<(), Refusal> {
        self.checked(path, || Ok::<_, Refusal>(generation))
    }

    /// Runs `read` (which reads `path` and gives its generation) with the journal locked,
    /// then checks the generation: no write or deletion of the file can come between the
    /// read and the check, so a file being rewritten is never mistaken for an old copy.
    ///
    /// # Errors
    /// `read`'s error, or the [`Refusal`].
    pub fn checked<E: From<Refusal>>(&self, path: &Path, read: impl FnOnce() -> Result<u64, E>) -> Result<(), E> {
        let inner = self.lock();
        let generation = read()?;
        match inner.ledger.verdict(&self.name(path), generation, false) {
            Verdict::Current => Ok(()),
            Verdict::Refused(r) => Err(r.into()),
            Verdict::Ahead => unreachable!("verdict gives Ahead only at start"),
        }
    }

    /// Writes `path` through `write`, which gets the write's generation and must put it in
    /// the signed file, then records the generation. Writes are serialised; the line is
    /// fsynced before this returns.
    ///
    /// # Errors
    /// `write`'s error (nothing is recorded then, unless the file on disk carries the
    /// generation: a write that failed after its rename is recorded, so it is never taken
    /// for an old copy), or a failure to append a line that an earlier write could not
    /// append (nothing is written then). A failure to append this write's own line is
    /// logged and retried before the next write: the file is on disk, and at the next
    /// start it is one write ahead, which is accepted.
    pub fn put(&self, path: &Path, write: impl FnOnce(u64) -> std::io::Result<()>) -> std::io::Result<()> {
        let name = self.name(path);
        let mut inner = self.lock();
        self.ensure_intact(&mut inner)?;
        self.flush_pending(&mut inner)?;
        let generation = inner.next;
        // Never handed out twice, even when the write fails.
        inner.next = generation + 1;
        let written = write(generation);
        if let Err(e) = written {
            let on_disk = super::read_verified(path, &self.key)
                .ok()
                .and_then(|o| generation_value(&o));
            if on_disk != Some(generation) {
                return Err(e);
            }
            tracing::warn!(path = %path.display(), error = %e, "a signed write failed after its file was replaced; recorded");
            self.record(&mut inner, name, generation);
            return Err(e);
        }
        self.record(&mut inner, name, generation);
        Ok(())
    }

    /// Appends the line of a write whose file is on disk; a failed append is kept and
    /// retried before the next write.
    fn record(&self, inner: &mut Inner, file: String, generation: u64) {
        inner.ledger.apply(&file, Latest::Put(generation));
        let line = Line {
            op: Op::Put,
            file,
            generation,
            of: None,
        };
        let signed = line.signed(&self.key, &inner.last_mac);
        if let Err(e) = self.append(inner, &signed) {
            tracing::error!(path = %self.path.display(), error = %e, "cannot append to the generation journal; retried before the next write");
            inner.pending = Some(signed);
            return;
        }
        self.maybe_compact(inner);
    }

    /// Records the deletion of `path`, then removes it through `remove`, with the journal
    /// locked throughout (no reader sees the file after its deletion is recorded).
    ///
    /// # Errors
    /// A failed append (nothing is removed then) or `remove`'s error (the journal then
    /// records the deletion: the file left behind is refused at its next read).
    pub fn delete(&self, path: &Path, remove: impl FnOnce() -> std::io::Result<()>) -> std::io::Result<()> {
        let name = self.name(path);
        let mut inner = self.lock();
        self.ensure_intact(&mut inner)?;
        self.flush_pending(&mut inner)?;
        let generation = inner.next;
        let of = match inner.ledger.latest(&name) {
            Some(Latest::Put(g)) => Some(g),
            _ => None,
        };
        let line = Line {
            op: Op::Delete,
            file: name.clone(),
            generation,
            of,
        };
        let signed = line.signed(&self.key, &inner.last_mac);
        self.append(&mut inner, &signed)?;
        inner.next = generation + 1;
        inner.ledger.apply(&name, Latest::Deleted(generation));
        let removed = remove();
        self.maybe_compact(&mut inner);
        removed
    }

    /// A journal that was replaced or changed under the running daemon (another file at its
    /// path, or another length than rumid wrote) is written again from memory, and
    /// reported. Called before every line.
    fn ensure_intact(&self, inner: &mut Inner) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let on_disk = std::fs::symlink_metadata(&self.path).ok();
        let ours = inner.file.metadata()?;
        let same = on_disk.is_some_and(|m| m.dev() == ours.dev() && m.ino() == ours.ino() && m.len() == inner.len);
        if same {
            return Ok(());
        }
        tracing::error!(path = %self.path.display(), "the generation journal was replaced or changed under rumid; written again from memory");
        if let Some(hook) = self.on_tamper.get() {
            hook(&relative(&self.home, &self.path));
        }
        self.rewrite(inner)?;
        // The ledger already holds the line that could not be appended.
        inner.pending = None;
        Ok(())
    }

    /// Appends a signed line and fsyncs it; on failure the file is cut back to its length
    /// before the append, so no torn line is ever followed by another.
    fn append(&self, inner: &mut Inner, (bytes, mac): &(Vec<u8>, String)) -> std::io::Result<()> {
        let res = inner.file.write_all(bytes).and_then(|()| inner.file.sync_data());
        if let Err(e) = res {
            let _ = inner.file.set_len(inner.len);
            return Err(e);
        }
        inner.len += bytes.len() as u64;
        inner.last_mac.clone_from(mac);
        inner.lines += 1;
        Ok(())
    }

    /// Writes the journal again, compacted, from the ledger in memory.
    fn rewrite(&self, inner: &mut Inner) -> std::io::Result<()> {
        let (file, len, last_mac, lines) = write_compacted(&self.path, &self.key, &inner.ledger)?;
        inner.file = file;
        inner.len = len;
        inner.last_mac = last_mac;
        inner.lines = lines;
        Ok(())
    }

    /// Sets what is called (with the journal's name) when the journal is found replaced
    /// or changed under the running daemon.
    pub fn on_tamper(&self, hook: TamperHook) {
        let _ = self.on_tamper.set(hook);
    }

    fn flush_pending(&self, inner: &mut Inner) -> std::io::Result<()> {
        if let Some(line) = inner.pending.take()
            && let Err(e) = self.append(inner, &line)
        {
            inner.pending = Some(line);
            return Err(e);
        }
        Ok(())
    }

    fn maybe_compact(&self, inner: &mut Inner) {
        if inner.lines <= self.compact_min_lines.max(4 * inner.ledger.len()) {
            return;
        }
        match self.rewrite(inner) {
            Ok(()) => tracing::debug!(lines = inner.lines, "generation journal compacted"),
            // The long journal stays in use; compaction is tried again at the next write.
            Err(e) => tracing::warn!(path = %self.path.display(), error = %e, "cannot compact the generation journal"),
        }
    }

    /// The latest generation recorded (for tests and diagnostics).
    pub fn tail(&self) -> u64 {
        self.lock().ledger.tail()
    }
}

/// Writes `ledger` compacted to `path` (atomically) and opens it for appending.
fn write_compacted(path: &Path, key: &[u8; 32], ledger: &Ledger) -> std::io::Result<(File, u64, String, usize)> {
    let lines = ledger.compacted(ledger.tail());
    let (bytes, last_mac) = render(&lines, key);
    rumi_common::fs::write_atomic(path, &bytes, 0o600)?;
    let file = OpenOptions::new()
        .append(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)?;
    Ok((file, bytes.len() as u64, last_mac, lines.len()))
}

/// Re-signs the journal at `path` under `new` (a key rotation), keeping its lines. A
/// journal already under `new` (a resumed rotation) is rewritten the same; one that reads
/// under neither key is left as it is, and rumid will refuse it at start.
///
/// # Errors
/// An I/O error while writing.
pub fn resign(path: &Path, old: &[u8; 32], new: &[u8; 32]) -> std::io::Result<bool> {
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(false);
    };
    let Some(parsed) = parse(&bytes, old).ok().or_else(|| parse(&bytes, new).ok()) else {
        return Ok(false);
    };
    // Compacting keeps every file's latest line, which is all the journal means.
    write_compacted(path, new, &parsed.ledger)?;
    Ok(true)
}

/// The generation field of a signed object: absent is 0 (written before generations).
pub(super) fn generation_value(obj: &Map<String, Value>) -> Option<u64> {
    match obj.get(GENERATION_FIELD) {
        None => Some(0),
        Some(v) => v.as_u64(),
    }
}

#[cfg(test)]
mod tests;
