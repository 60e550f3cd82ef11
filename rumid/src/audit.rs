//! The audit log: typed events, one writer.
//!
//! Events go to `user_data/audit/{category}_{YYYY-MM-DD}.jsonl`, one JSON object per line,
//! with every non-ASCII character escaped (`\uXXXX`) so no field can forge or split a line.
//! A single writer thread owns the files; callers send events over a channel and
//! [`Audit::record`] returns once the line is written and fsynced, so an acknowledged API
//! call always has its audit line on disk. Concurrent callers never interleave.
//!
//! Audit is not logging: it is the operator's record of security-relevant decisions. It
//! never contains secrets, tokens or request bodies. Under systemd the writer also hands
//! security and approval events to the journal ([`journal_entry`]), so `journalctl` shows
//! them with the logs; the files stay the record.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use rumi_common::telemetry::Journal;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

/// Queue length between callers and the writer; callers wait when it is full.
const QUEUE_DEPTH: usize = 4096;
/// Most events written per fsync.
const MAX_BATCH: usize = 512;
/// Mode of audit files: readable by the rumi user only.
const AUDIT_FILE_MODE: u32 = 0o600;

/// Audit category (the file name prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    FlowExecution,
    ModifierApplication,
    PythonFileCall,
    Approval,
    Permission,
    Network,
    Security,
    System,
}

impl Category {
    /// Parses a category name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "flow_execution" => Self::FlowExecution,
            "modifier_application" => Self::ModifierApplication,
            "python_file_call" => Self::PythonFileCall,
            "approval" => Self::Approval,
            "permission" => Self::Permission,
            "network" => Self::Network,
            "security" => Self::Security,
            "system" => Self::System,
            _ => return None,
        })
    }

    /// The name used in file names and the `category` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FlowExecution => "flow_execution",
            Self::ModifierApplication => "modifier_application",
            Self::PythonFileCall => "python_file_call",
            Self::Approval => "approval",
            Self::Permission => "permission",
            Self::Network => "network",
            Self::Security => "security",
            Self::System => "system",
        }
    }
}

/// Audit severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    /// Parses a severity name; unknown names are `warning`.
    pub fn parse(s: &str) -> Self {
        match s {
            "info" => Self::Info,
            "error" => Self::Error,
            "critical" => Self::Critical,
            _ => Self::Warning,
        }
    }
}

/// One audit entry. Fields that are `None` are omitted from the line.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    pub ts: String,
    pub category: Category,
    pub severity: Severity,
    pub action: String,
    pub success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_pack: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modifier_id: Option<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

// === impl AuditEvent ===

impl AuditEvent {
    /// A successful `info` event stamped now.
    pub fn new(category: Category, action: impl Into<String>) -> Self {
        Self {
            ts: rumi_common::time::now_rfc3339(),
            category,
            severity: Severity::Info,
            action: action.into(),
            success: true,
            flow_id: None,
            step_id: None,
            phase: None,
            owner_pack: None,
            modifier_id: None,
            details: Map::new(),
            error: None,
            error_type: None,
            rejection_reason: None,
            execution_mode: None,
            request_id: None,
        }
    }

    /// Marks the event as a refusal or failure with the given severity and error.
    pub fn failed(mut self, severity: Severity, error_type: &str, error: impl Into<String>) -> Self {
        self.success = false;
        self.severity = severity;
        self.error_type = Some(error_type.to_owned());
        self.error = Some(error.into());
        self
    }

    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn owner_pack(mut self, pack: impl Into<String>) -> Self {
        self.owner_pack = Some(pack.into());
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    pub fn rejection_reason(mut self, reason: impl Into<String>) -> Self {
        self.rejection_reason = Some(reason.into());
        self
    }

    /// Tags the event with the HTTP request id in scope, if any.
    pub fn in_request(mut self) -> Self {
        self.request_id = crate::api::current_request_id();
        self
    }

    fn file_date(&self) -> &str {
        // `ts` starts with YYYY-MM-DD; anything else must never reach a file name.
        match self.ts.get(..10) {
            Some(d) if d.bytes().all(|b| b.is_ascii_digit() || b == b'-') => d,
            _ => "unknown",
        }
    }
}

/// Serialises an event as one line with every non-ASCII character escaped.
pub fn to_line(event: &AuditEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, AsciiFormatter);
    // Serialising plain data into a Vec cannot fail.
    if event.serialize(&mut ser).is_err() {
        out.clear();
        out.extend_from_slice(b"{\"error\":\"unserialisable audit event\"}");
    }
    out.push(b'\n');
    out
}

/// A compact JSON formatter that escapes non-ASCII characters, like Python's `ensure_ascii`.
struct AsciiFormatter;

impl serde_json::ser::Formatter for AsciiFormatter {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            if ch.is_ascii() {
                continue;
            }
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut buf = [0u16; 2];
            for unit in ch.encode_utf16(&mut buf) {
                write!(w, "\\u{unit:04x}")?;
            }
            start = i + ch.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

/// How a line is treated when the audit file system has no room for everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// The write-ahead line of an operator action ([`Audit::admit`]): written only while the
    /// reserve is whole; when it cannot be written the action is refused.
    Admission,
    /// A line recorded while serving an admitted operator action: it may use the reserve, so
    /// that the action it describes, which was let through, is never missing from the log.
    Admitted,
    /// Everything else (helper events, background checks, refused logins, scheduled runs):
    /// dropped and counted when it cannot be written, never taking the reserve.
    Background,
}

enum Job {
    Line {
        event: Box<AuditEvent>,
        class: Class,
        ack: Option<oneshot::Sender<Result<(), AuditError>>>,
    },
    /// Try to recover now (restore the reserve, write the recovery line); sent by health.
    Nudge,
}

/// Why an audit line was not written. Messages name the OS error, never a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// The write (or its fsync) failed.
    #[error("{0}")]
    Write(String),
    /// Not attempted: the space that is left is the reserve, kept for the lines of operator
    /// actions already let through.
    #[error("the audit file system is full (only its reserve is left)")]
    Reserved,
    /// An operator action's line not attempted: less than [`ADMISSION_MIN_FREE`] is free, too
    /// little to be sure its outcome can be written too.
    #[error("the audit file system is full ({free} bytes free)")]
    Full { free: u64 },
    /// The writer thread is gone.
    #[error("the audit writer is not running")]
    Gone,
}

/// What health reports about the audit log (`audit` in `/api/health`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditStatus {
    /// Lines can be written and the reserve is whole: operator actions are let through.
    pub writable: bool,
    /// Why not, while not.
    pub reason: Option<String>,
    /// Since when (RFC 3339), while not.
    pub since: Option<String>,
    /// Audit events lost since rumid started (helper events and background lines that could
    /// not be written, and admitted lines that could not be written even into the reserve).
    pub lost: u64,
    /// Size of the reserve (`RUMI_AUDIT_RESERVE_BYTES`).
    pub reserve_bytes: u64,
    /// Whether the reserve is held in full.
    pub reserve_whole: bool,
}

/// A failure episode: why and since when lines cannot all be written.
#[derive(Debug, Clone)]
struct Failure {
    reason: String,
    since: String,
    /// `lost` when it began, so the recovery line can say how many were lost in it.
    lost_before: u64,
}

/// The writer's state, read by health without asking the writer.
#[derive(Default)]
struct Shared {
    failure: std::sync::Mutex<Option<Failure>>,
    reserve_whole: AtomicBool,
    lost: AtomicU64,
}

impl Shared {
    fn failure(&self) -> std::sync::MutexGuard<'_, Option<Failure>> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Handle to the audit writer. Cheap to clone.
#[derive(Clone)]
pub struct Audit {
    tx: mpsc::Sender<Job>,
    shared: Arc<Shared>,
    reserve_bytes: u64,
}

impl Audit {
    /// Starts the writer thread for `dir` with the default reserve.
    ///
    /// # Errors
    /// When the directory cannot be created or the thread cannot start.
    pub fn spawn(dir: &Path, journal: Option<Arc<Journal>>) -> io::Result<Self> {
        Self::spawn_with_reserve(dir, crate::config::DEFAULT_AUDIT_RESERVE_BYTES, journal)
    }

    /// Starts the writer thread for `dir` (created if missing, mode 0700), holding back
    /// `reserve_bytes` of its file system for the lines of admitted operator actions (0: no
    /// reserve). A reserve that cannot be allocated now is tried again with every write; until
    /// it is held, operator actions are refused.
    ///
    /// # Errors
    /// When the directory cannot be created or the thread cannot start.
    ///
    /// The thread ends when the last handle is dropped. Nothing is buffered past an
    /// acknowledgement, so there is nothing to flush at exit.
    ///
    /// With a `journal` (rumid runs under systemd), security and approval events also go to
    /// the journal once written, with structured fields (see [`journal_entry`]); the files
    /// stay the record.
    pub fn spawn_with_reserve(dir: &Path, reserve_bytes: u64, journal: Option<Arc<Journal>>) -> io::Result<Self> {
        rumi_common::fs::ensure_dir(dir, 0o700)?;
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let shared = Arc::new(Shared::default());
        let mut writer = Writer {
            dir: dir.to_path_buf(),
            files: HashMap::new(),
            reserve: Reserve {
                path: dir.join(RESERVE_FILE),
                bytes: reserve_bytes,
                whole: false,
            },
            shared: shared.clone(),
            journal,
        };
        thread::Builder::new().name("rumi-audit".into()).spawn(move || {
            writer.settle(None);
            writer.run(rx);
        })?;
        Ok(Self {
            tx,
            shared,
            reserve_bytes,
        })
    }

    /// Writes `event` and waits until it is on disk (or could not be written: that is logged,
    /// counted in [`AuditStatus::lost`] and shown by health).
    pub async fn record(&self, event: AuditEvent) {
        let _ = self.try_record(event).await;
    }

    /// Writes `event`, waits until it is on disk, and says whether it got there.
    ///
    /// # Errors
    /// [`AuditError`] when it was not written.
    pub async fn try_record(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.send(event, current_class()).await
    }

    /// Writes the write-ahead line of an operator action, before anything of the action is
    /// done. Only once it is on disk may the action go ahead: the lines it records afterwards
    /// (in the same request) may use the reserve, so they get written even if the file system
    /// fills up meanwhile.
    ///
    /// # Errors
    /// [`AuditError`] when the line was not written (a failing disk, a full one, the reserve
    /// not held): the action must then be refused.
    pub async fn admit(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.send(event, Class::Admission).await
    }

    async fn send(&self, event: AuditEvent, class: Class) -> Result<(), AuditError> {
        let (ack, done) = oneshot::channel();
        let job = Job::Line {
            event: Box::new(event),
            class,
            ack: Some(ack),
        };
        if self.tx.send(job).await.is_err() {
            tracing::error!("audit writer is gone; event lost");
            return Err(AuditError::Gone);
        }
        done.await.unwrap_or(Err(AuditError::Gone))
    }

    /// Writes `event` from synchronous code, waiting until it is on disk. Prefer
    /// [`Audit::record`] in async code; called on a worker of the multi-threaded runtime
    /// anyway (synchronous store code reached from a handler), it moves the wait off the
    /// worker instead of panicking.
    pub fn record_blocking(&self, event: AuditEvent) {
        let class = current_class();
        let send = move || {
            let (ack, done) = oneshot::channel();
            let job = Job::Line {
                event: Box::new(event),
                class,
                ack: Some(ack),
            };
            if self.tx.blocking_send(job).is_err() {
                tracing::error!("audit writer is gone; event lost");
                return;
            }
            let _ = done.blocking_recv();
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(send)
            }
            _ => send(),
        }
    }

    /// The writer's state, read without waiting for it.
    pub fn status(&self) -> AuditStatus {
        let failure = self.shared.failure().clone();
        let reserve_whole = self.shared.reserve_whole.load(Ordering::Acquire);
        AuditStatus {
            writable: failure.is_none() && reserve_whole,
            reason: failure.as_ref().map(|f| f.reason.clone()),
            since: failure.map(|f| f.since),
            lost: self.shared.lost.load(Ordering::Relaxed),
            reserve_bytes: self.reserve_bytes,
            reserve_whole,
        }
    }

    /// Asks the writer to try to recover now (restore the reserve, write the recovery line),
    /// without waiting. Health calls it while the log is not writable, so that freeing space
    /// shows at once even when nothing else writes.
    pub fn nudge(&self) {
        let _ = self.tx.try_send(Job::Nudge);
    }
}

/// The class of a line recorded here: [`Class::Admitted`] inside a request the audit gate let
/// through, else [`Class::Background`].
fn current_class() -> Class {
    if crate::api::current_request_admitted() {
        Class::Admitted
    } else {
        Class::Background
    }
}

/// Free space an operator action needs on the audit file system, beyond the reserve, to be
/// let through. Small appends can still fit in a file's last block when the file system has
/// no free block left; an action is admitted only while there is clearly room.
pub const ADMISSION_MIN_FREE: u64 = 64 * 1024;

/// Bytes free for unprivileged writers on the file system of `dir`; `None` if unknown.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let st = nix::sys::statvfs::statvfs(dir).ok()?;
    let free = u128::from(st.blocks_available()) * u128::from(st.fragment_size());
    Some(u64::try_from(free).unwrap_or(u64::MAX))
}

/// The file holding the reserve in the audit directory (not `*.jsonl`: no reader sees it).
const RESERVE_FILE: &str = ".reserve";

/// Space held back on the audit file system for the lines of admitted operator actions.
struct Reserve {
    path: PathBuf,
    bytes: u64,
    whole: bool,
}

impl Reserve {
    /// Holds the reserve in full, allocating it if needed.
    ///
    /// # Errors
    /// When it cannot be allocated (the file system is full): it is then not held.
    fn ensure(&mut self) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        if self.whole || self.bytes == 0 {
            self.whole = true;
            return Ok(());
        }
        // One left by an earlier run counts when its blocks are allocated.
        if let Ok(m) = std::fs::symlink_metadata(&self.path)
            && m.is_file()
            && m.blocks() * 512 >= self.bytes
        {
            self.whole = true;
            return Ok(());
        }
        let tmp = self.path.with_extension("tmp");
        let made = allocate(&tmp, self.bytes).and_then(|()| std::fs::rename(&tmp, &self.path));
        match made {
            Ok(()) => self.whole = true,
            Err(_) => {
                let _ = std::fs::remove_file(&tmp);
            }
        }
        made
    }

    /// Gives the reserve's space back to the file system; `false` when there was none to give.
    fn release(&mut self) -> bool {
        if self.bytes == 0 {
            return false;
        }
        self.whole = false;
        std::fs::remove_file(&self.path).is_ok()
    }
}

/// Creates `path` with `bytes` of allocated blocks, synced. The blocks are allocated past the
/// file's end (`FALLOC_FL_KEEP_SIZE`), so the file reads as empty and its size is 0 while `du`
/// and the file system count the blocks; where the file system cannot preallocate, it holds
/// zeros instead.
fn allocate(path: &Path, bytes: u64) -> io::Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(AUDIT_FILE_MODE)
        .open(path)?;
    let len = i64::try_from(bytes).map_err(|_| io::Error::other("reserve too large"))?;
    match nix::fcntl::fallocate(&f, nix::fcntl::FallocateFlags::FALLOC_FL_KEEP_SIZE, 0, len) {
        Ok(()) => {}
        Err(nix::errno::Errno::EOPNOTSUPP) => {
            let mut f = &f;
            let chunk = vec![0u8; 64 * 1024];
            let mut left = bytes;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                f.write_all(&chunk[..n])?;
                left -= n as u64;
            }
        }
        Err(e) => return Err(e.into()),
    }
    f.sync_all()
}

/// Whether an I/O error means the file system (or the user's quota) is full.
/// A journal entry: priority, message and fields.
pub type JournalEntry = (u8, String, Vec<(&'static str, String)>);

/// The journal entry of an audit event that goes to the journal (security and approval
/// events): priority from the severity, a short message, and the fields `CATEGORY`, `ACTION`,
/// `PACK`, `SUCCESS`, `SEVERITY` (plus `ERROR`, `REQUEST_ID` when present and the whole line
/// as `AUDIT_EVENT`). `None` for other categories.
pub fn journal_entry(event: &AuditEvent) -> Option<JournalEntry> {
    if !matches!(event.category, Category::Security | Category::Approval) {
        return None;
    }
    let (priority, severity) = match event.severity {
        Severity::Critical => (2, "critical"),
        Severity::Error => (3, "error"),
        Severity::Warning => (4, "warning"),
        Severity::Info => (6, "info"),
    };
    let message = match &event.owner_pack {
        Some(p) => format!("audit {}/{} pack {p}", event.category.as_str(), event.action),
        None => format!("audit {}/{}", event.category.as_str(), event.action),
    };
    let mut fields = vec![
        ("CATEGORY", event.category.as_str().to_owned()),
        ("ACTION", event.action.clone()),
        ("SUCCESS", event.success.to_string()),
        ("SEVERITY", severity.to_owned()),
    ];
    if let Some(p) = &event.owner_pack {
        fields.push(("PACK", p.clone()));
    }
    if let Some(e) = &event.error {
        fields.push(("ERROR", e.clone()));
    }
    if let Some(r) = &event.request_id {
        fields.push(("REQUEST_ID", r.clone()));
    }
    let line = to_line(event);
    fields.push((
        "AUDIT_EVENT",
        String::from_utf8_lossy(line.trim_ascii_end()).into_owned(),
    ));
    Some((priority, message, fields))
}

fn is_no_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(nix::libc::ENOSPC | nix::libc::EDQUOT))
}

/// The writer thread's state: it alone owns the files and the reserve.
struct Writer {
    dir: PathBuf,
    files: HashMap<(Category, String), File>,
    reserve: Reserve,
    shared: Arc<Shared>,
    journal: Option<Arc<Journal>>,
}

impl Writer {
    fn run(&mut self, mut rx: mpsc::Receiver<Job>) {
        let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = rx.blocking_recv() {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            self.write_batch(&mut batch);
            // Keep only today's handles open.
            if self.files.len() > 16 {
                self.files.clear();
            }
        }
    }

    /// Writes a batch: per file, one write and one fsync for all of its lines.
    fn write_batch(&mut self, batch: &mut Vec<Job>) {
        // Everything may be written only while the reserve is held; the attempt to hold it
        // again is how a freed file system is noticed.
        let reserve = self.reserve.ensure();
        let admitting = batch.iter().any(|j| {
            matches!(
                j,
                Job::Line {
                    class: Class::Admission,
                    ..
                }
            )
        });
        let room = if admitting { free_bytes(&self.dir) } else { None };
        let mut results: Vec<Option<Result<(), AuditError>>> = vec![None; batch.len()];
        let mut groups: Vec<((Category, String), Vec<usize>)> = Vec::new();
        for (i, job) in batch.iter().enumerate() {
            let Job::Line { event, class, .. } = job else { continue };
            if reserve.is_err() && *class != Class::Admitted {
                results[i] = Some(Err(AuditError::Reserved));
                continue;
            }
            if *class == Class::Admission
                && let Some(free) = room.filter(|f| *f < ADMISSION_MIN_FREE)
            {
                results[i] = Some(Err(AuditError::Full { free }));
                continue;
            }
            let key = (event.category, event.file_date().to_owned());
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, idx)) => idx.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        let mut first_error: Option<String> = reserve
            .as_ref()
            .err()
            .map(|e| format!("no room for the audit reserve ({} bytes): {e}", self.reserve.bytes));
        for (key, idx) in groups {
            let line = |i: &usize| match &batch[*i] {
                Job::Line { event, .. } => to_line(event),
                Job::Nudge => Vec::new(),
            };
            let bytes: Vec<u8> = idx.iter().flat_map(line).collect();
            let outcome = match self.append(&key, &bytes) {
                Ok(()) => Ok(idx.clone()),
                Err(e) => Err((e, idx.clone())),
            };
            let (e, idx) = match outcome {
                Ok(done) => {
                    for i in done {
                        results[i] = Some(Ok(()));
                    }
                    continue;
                }
                Err(failed) => failed,
            };
            tracing::error!(category = key.0.as_str(), error = %e, "audit write failed");
            let admitted: Vec<usize> = idx
                .iter()
                .copied()
                .filter(|i| {
                    matches!(
                        batch[*i],
                        Job::Line {
                            class: Class::Admitted,
                            ..
                        }
                    )
                })
                .collect();
            let mut retried = Vec::new();
            // The file system is full: give the reserve to the lines of the actions that were
            // let through, and to them only.
            if is_no_space(&e) && !admitted.is_empty() && self.reserve.release() {
                tracing::error!("audit file system full: the reserve is used for operator actions in progress");
                let bytes: Vec<u8> = admitted.iter().flat_map(line).collect();
                match self.append(&key, &bytes) {
                    Ok(()) => retried = admitted,
                    Err(e2) => tracing::error!(error = %e2, "audit write failed even into the reserve"),
                }
            }
            let reason = e.to_string();
            first_error.get_or_insert_with(|| reason.clone());
            for i in idx {
                results[i] = Some(if retried.contains(&i) {
                    Ok(())
                } else {
                    Err(AuditError::Write(reason.clone()))
                });
            }
        }
        let lost = batch
            .iter()
            .zip(&results)
            .filter(|(job, r)| {
                matches!(r, Some(Err(_)))
                    && matches!(
                        job,
                        Job::Line {
                            class: Class::Background | Class::Admitted,
                            ..
                        }
                    )
            })
            .count() as u64;
        if lost > 0 {
            self.shared.lost.fetch_add(lost, Ordering::Relaxed);
        }
        if let Some(journal) = &self.journal {
            for (job, result) in batch.iter().zip(&results) {
                let (Job::Line { event, .. }, Some(Ok(()))) = (job, result) else {
                    continue;
                };
                if let Some((priority, message, fields)) = journal_entry(event) {
                    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    if let Err(err) = journal.send(priority, &message, &fields) {
                        tracing::warn!(%err, action = %event.action, "cannot send an audit event to the journal");
                    }
                }
            }
        }
        // The shared state first: whoever is told the outcome sees the state it left.
        self.settle(first_error);
        for (job, result) in batch.drain(..).zip(results) {
            if let Job::Line { ack: Some(ack), .. } = job {
                let _ = ack.send(result.unwrap_or(Ok(())));
            }
        }
    }

    /// Records the batch's outcome in the shared state: a new failure starts an episode; once
    /// the reserve is held again and nothing failed, a recovery line closes it.
    fn settle(&mut self, error: Option<String>) {
        let whole = self.reserve.whole || self.reserve.ensure().is_ok();
        self.shared.reserve_whole.store(whole, Ordering::Release);
        let error = error
            .or_else(|| (!whole).then(|| format!("no room for the audit reserve ({} bytes)", self.reserve.bytes)))
            .or_else(|| {
                free_bytes(&self.dir)
                    .filter(|f| *f < ADMISSION_MIN_FREE)
                    .map(|free| format!("the audit file system is full ({free} bytes free)"))
            });
        let shared = self.shared.clone();
        let mut failure = shared.failure();
        match (error, failure.as_ref()) {
            (Some(reason), None) => {
                tracing::error!(%reason, "audit lines cannot be written; operator actions are refused until they can");
                *failure = Some(Failure {
                    reason,
                    since: rumi_common::time::now_rfc3339(),
                    lost_before: self.shared.lost.load(Ordering::Relaxed),
                });
            }
            (Some(_), Some(_)) | (None, None) => {}
            (None, Some(f)) => {
                let lost = self.shared.lost.load(Ordering::Relaxed) - f.lost_before;
                let event = AuditEvent::new(Category::System, "audit_write_recovered")
                    .severity(Severity::Warning)
                    .detail("failed_since", f.since.clone())
                    .detail("reason", f.reason.clone())
                    .detail("lost", lost);
                let key = (event.category, event.file_date().to_owned());
                if self.append(&key, &to_line(&event)).is_ok() {
                    tracing::warn!(lost, "audit lines are written again");
                    *failure = None;
                }
            }
        }
    }

    fn append(&mut self, key: &(Category, String), bytes: &[u8]) -> io::Result<()> {
        let file = match self.files.entry(key.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let path = self.dir.join(format!("{}_{}.jsonl", key.0.as_str(), key.1));
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(AUDIT_FILE_MODE)
                    .open(path)?;
                e.insert(f)
            }
        };
        let before = file.metadata()?.len();
        let written = file.write_all(bytes).and_then(|()| file.sync_data());
        if written.is_err() {
            // A torn line would glue itself to the next one written: cut back to whole lines.
            let _ = file.set_len(before);
            self.files.remove(key);
        }
        written
    }
}

/// Most events `GET /api/audit/recent` returns.
pub const MAX_RECENT: usize = 500;
/// Longest audit line the tail reader keeps; longer lines are skipped. Helper records are
/// bounded far below this; it bounds the reader's memory whatever a file holds.
pub const MAX_LINE_BYTES: usize = 256 * 1024;
/// Bytes of lines one call returns at most (the newest first; older ones are left out).
pub const MAX_RECENT_BYTES: usize = 8 * 1024 * 1024;
/// Bytes read from a file per step, from its end backwards.
const TAIL_CHUNK: usize = 64 * 1024;

/// The newest `limit` (at most [`MAX_RECENT`]) audit events, newest first, optionally of
/// one category, from the files of the two newest dates. Lines that do not parse are
/// skipped.
///
/// Each file is read backwards from its end and only as far as needed, and the files are
/// merged by `ts` as they are read, so the time and memory taken depend on `limit`, never
/// on the size of the day's files (a flood of audit lines once made `limit=5` read 1 GiB).
pub fn recent(dir: &std::path::Path, limit: usize, category: Option<&str>) -> Vec<serde_json::Value> {
    let limit = limit.min(MAX_RECENT);
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".jsonl")?;
            let (cat, date) = stem.rsplit_once('_')?;
            if category.is_some_and(|c| c != cat) {
                return None;
            }
            Some((date.to_owned(), e.path()))
        })
        .collect();
    // Newest dates first; only the two newest dates are read (today and yesterday at most).
    files.sort_by(|a, b| b.0.cmp(&a.0));
    let newest: Vec<String> = {
        let mut d: Vec<String> = files.iter().map(|f| f.0.clone()).collect();
        d.dedup();
        d.into_iter().take(2).collect()
    };
    let mut tails: Vec<Tail> = files
        .iter()
        .filter(|(date, _)| newest.contains(date))
        .filter_map(|(_, p)| Tail::open(p).ok())
        .collect();
    let mut heads: Vec<Option<(serde_json::Value, usize)>> = tails.iter_mut().map(Tail::next_event).collect();
    let mut events = Vec::new();
    let mut bytes = 0;
    while events.len() < limit {
        let newest = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|(v, _)| (i, v["ts"].as_str().unwrap_or(""))))
            .max_by(|a, b| a.1.cmp(b.1))
            .map(|(i, _)| i);
        let Some(i) = newest else { break };
        let next = tails[i].next_event();
        let Some((event, len)) = std::mem::replace(&mut heads[i], next) else {
            break;
        };
        bytes += len;
        if bytes > MAX_RECENT_BYTES {
            break;
        }
        events.push(event);
    }
    events
}

/// One audit file read line by line from its end, holding at most one chunk and one line.
struct Tail {
    file: File,
    /// Bytes of the file before `pending` not read yet.
    pos: u64,
    /// Read bytes not returned yet (the start of the line being assembled is not read yet).
    pending: Vec<u8>,
    /// The line being assembled was longer than [`MAX_LINE_BYTES`]: drop it to its start.
    skipping: bool,
}

impl Tail {
    fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let pos = file.metadata()?.len();
        Ok(Self {
            file,
            pos,
            pending: Vec::new(),
            skipping: false,
        })
    }

    /// The previous event that parses, with its line length.
    fn next_event(&mut self) -> Option<(serde_json::Value, usize)> {
        loop {
            let line = match self.prev_line() {
                Ok(Some(line)) => line,
                Ok(None) => return None,
                Err(err) => {
                    tracing::warn!(%err, "cannot read an audit file");
                    return None;
                }
            };
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) {
                return Some((v, line.len()));
            }
        }
    }

    /// The previous non-empty line of at most [`MAX_LINE_BYTES`], without its newline.
    fn prev_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        use std::os::unix::fs::FileExt;
        loop {
            if let Some(nl) = self.pending.iter().rposition(|b| *b == b'\n') {
                let line = self.pending.split_off(nl + 1);
                self.pending.truncate(nl);
                if std::mem::take(&mut self.skipping) || line.is_empty() {
                    continue;
                }
                return Ok(Some(line));
            }
            if self.pos == 0 {
                let line = std::mem::take(&mut self.pending);
                let skipped = std::mem::take(&mut self.skipping);
                return Ok((!line.is_empty() && !skipped).then_some(line));
            }
            if self.pending.len() > MAX_LINE_BYTES {
                self.pending = Vec::new();
                self.skipping = true;
            }
            let n = TAIL_CHUNK.min(usize::try_from(self.pos).unwrap_or(TAIL_CHUNK));
            self.pos -= n as u64;
            let mut chunk = vec![0u8; n];
            self.file.read_exact_at(&mut chunk, self.pos)?;
            chunk.extend_from_slice(&self.pending);
            self.pending = chunk;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_escape_non_ascii_and_control_characters() {
        let ev = AuditEvent::new(Category::Security, "x")
            .owner_pack("evil\n{\"forged\":true}")
            .detail("name", "日本\u{1F600}");
        let line = to_line(&ev);
        let text = std::str::from_utf8(&line).unwrap();
        assert!(text.is_ascii());
        assert_eq!(text.matches('\n').count(), 1, "exactly one line: {text}");
        let back: Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(back["owner_pack"], "evil\n{\"forged\":true}");
        assert_eq!(back["details"]["name"], "日本\u{1F600}");
        assert!(back.get("flow_id").is_none(), "null fields are omitted");
    }

    #[test]
    fn recent_reads_the_newest_lines_of_each_file_merged_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let line = |ts: &str, action: &str| format!("{{\"ts\":\"{ts}\",\"action\":\"{action}\"}}\n");
        let mut security = String::new();
        for i in 0..5000 {
            security.push_str(&line(
                &format!("2026-01-02T10:{:02}:{:02}Z", i / 60 % 60, i % 60),
                "old",
            ));
        }
        security.push_str("not json\n");
        security.push_str(&format!(
            "{{\"ts\":\"2026-01-02T23:00:00Z\",\"x\":\"{}\"}}\n",
            "y".repeat(MAX_LINE_BYTES + 10)
        ));
        security.push_str(&line("2026-01-02T12:00:00Z", "s1"));
        security.push_str(&line("2026-01-02T12:00:02Z", "s2"));
        std::fs::write(dir.path().join("security_2026-01-02.jsonl"), security).unwrap();
        std::fs::write(
            dir.path().join("network_2026-01-02.jsonl"),
            line("2026-01-02T12:00:01Z", "n1") + &line("2026-01-02T12:00:03Z", "n2"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("network_2025-12-01.jsonl"),
            line("2025-12-01T00:00:00Z", "too old"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("network_2026-01-01.jsonl"),
            line("2026-01-01T00:00:00Z", "yesterday"),
        )
        .unwrap();
        let actions = |limit, category| -> Vec<String> {
            recent(dir.path(), limit, category)
                .iter()
                .map(|v| v["action"].as_str().unwrap_or("").to_owned())
                .collect()
        };
        // The overlong line is skipped, the broken one too; files are merged by time.
        assert_eq!(actions(4, None), ["n2", "s2", "n1", "s1"]);
        assert_eq!(actions(2, Some("security")), ["s2", "s1"]);
        assert_eq!(
            actions(3, Some("network")),
            ["n2", "n1", "yesterday"],
            "two newest dates only"
        );
        assert_eq!(actions(100_000, None).len(), MAX_RECENT, "the limit is capped");
        assert!(recent(&dir.path().join("missing"), 5, None).is_empty());
    }

    #[test]
    fn record_blocking_on_an_async_worker_writes_instead_of_panicking() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::spawn(dir.path(), None).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let a = audit.clone();
        rt.block_on(async move {
            tokio::spawn(async move { a.record_blocking(AuditEvent::new(Category::System, "from_async")) }).await
        })
        .unwrap();
        let written: String = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect();
        assert!(written.contains("from_async"), "{written}");
    }

    fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !f() {
            assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
            thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn the_reserve_is_allocated_and_invisible_to_readers() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::spawn_with_reserve(dir.path(), 256 * 1024, None).unwrap();
        wait_for("the reserve", || audit.status().writable);
        let meta = std::fs::metadata(dir.path().join(RESERVE_FILE)).unwrap();
        assert_eq!(meta.len(), 0, "reads as empty");
        assert!(meta.blocks() * 512 >= 256 * 1024, "its blocks are allocated");
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(audit.try_record(AuditEvent::new(Category::System, "x")))
            .unwrap();
        assert_eq!(recent(dir.path(), 10, None).len(), 1, "readers see only the line");
        let st = audit.status();
        assert!(st.reserve_whole && st.lost == 0 && st.reason.is_none(), "{st:?}");
    }

    /// A tmpfs on a fresh directory, unmounted on drop.
    struct Tmpfs(tempfile::TempDir);

    impl Tmpfs {
        /// `None` (the test skips) when not root or mounting fails.
        fn mount(bytes: u64) -> Option<Self> {
            let dir = tempfile::tempdir().ok()?;
            let ok = nix::unistd::geteuid().is_root()
                && std::process::Command::new("mount")
                    .args(["-t", "tmpfs", "-o", &format!("size={bytes},mode=0700"), "tmpfs"])
                    .arg(dir.path())
                    .status()
                    .is_ok_and(|s| s.success());
            ok.then_some(Self(dir))
        }

        /// Writes `name` until the file system is full.
        fn fill(&self, name: &str) {
            let mut f = File::create(self.0.path().join(name)).unwrap();
            while f.write(&[0u8; 4096]).is_ok_and(|n| n > 0) {}
            while f.write(&[0u8]).is_ok_and(|n| n > 0) {}
        }
    }

    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.0.path())
                .status();
        }
    }

    #[test]
    fn a_full_file_system_refuses_admission_and_gives_the_reserve_to_admitted_lines() {
        let Some(fs) = Tmpfs::mount(2 * 1024 * 1024) else {
            eprintln!("SKIPPED: mounting a tmpfs needs root");
            return;
        };
        let audit = Audit::spawn_with_reserve(fs.0.path(), 512 * 1024, None).unwrap();
        wait_for("the reserve", || audit.status().writable);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            // An action let through while there was room...
            audit
                .admit(AuditEvent::new(Category::System, "operator_request"))
                .await
                .unwrap();
            // ...then the disk fills up before its outcome is written.
            fs.fill("filler");
            let outcome = AuditEvent::new(Category::Approval, "pack_approved");
            assert_eq!(
                audit.send(outcome, Class::Admitted).await,
                Ok(()),
                "written into the reserve"
            );
            let st = audit.status();
            assert!(!st.writable && !st.reserve_whole, "{st:?}");
            // Nothing else may take what is left; a new action is refused.
            let helper_event = AuditEvent::new(Category::Network, "network_request");
            assert_eq!(audit.try_record(helper_event).await, Err(AuditError::Reserved));
            let refused = audit.admit(AuditEvent::new(Category::System, "operator_request")).await;
            assert!(refused.is_err(), "{refused:?}");
            assert_eq!(
                audit.status().lost,
                1,
                "the helper event is counted, the refusal is not"
            );
            // Space comes back: the reserve is taken again and the gap is closed by a line.
            std::fs::remove_file(fs.0.path().join("filler")).unwrap();
            audit.nudge();
            wait_for("recovery", || audit.status().writable);
            audit
                .admit(AuditEvent::new(Category::System, "operator_request"))
                .await
                .unwrap();
        });
        let lines: Vec<Value> = recent(fs.0.path(), 100, None);
        let actions: Vec<&str> = lines.iter().filter_map(|v| v["action"].as_str()).collect();
        assert_eq!(
            actions.iter().filter(|a| **a == "pack_approved").count(),
            1,
            "{actions:?}"
        );
        let recovered = lines.iter().find(|v| v["action"] == "audit_write_recovered").unwrap();
        assert_eq!(recovered["details"]["lost"], 1, "{recovered}");
        assert!(!actions.contains(&"network_request"));
        drop(audit);
    }

    #[test]
    fn concurrent_writers_never_lose_or_interleave_lines() {
        let dir = tempfile::tempdir().unwrap();
        let audit = Audit::spawn(dir.path(), None).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let audit = audit.clone();
                thread::spawn(move || {
                    for i in 0..200 {
                        audit.record_blocking(
                            AuditEvent::new(Category::System, "t").detail("n", format!("{t}-{i}-{}", "x".repeat(300))),
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut lines = 0;
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                assert_eq!(v["action"], "t");
                lines += 1;
            }
        }
        assert_eq!(lines, 1600);
    }

    #[test]
    fn security_and_approval_events_also_reach_the_journal_with_their_fields() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("journal.sock");
        let server = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let journal = Journal::new(&sock, "rumid").unwrap();
        let audit = Audit::spawn(&dir.path().join("audit"), Some(journal)).unwrap();
        audit.record_blocking(AuditEvent::new(Category::System, "rumid_started"));
        audit.record_blocking(
            AuditEvent::new(Category::Security, "egress_proxy_peer_refused")
                .owner_pack("hello")
                .failed(Severity::Warning, "peer_refused", "uid 1000 is not the pack's"),
        );
        audit.record_blocking(AuditEvent::new(Category::Approval, "pack_approve").owner_pack("hello"));
        let mut buf = vec![0u8; 65536];
        let mut entries = Vec::new();
        for _ in 0..2 {
            let n = server.recv(&mut buf).unwrap();
            entries.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        server
            .set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        assert!(
            server.recv(&mut buf).is_err(),
            "the system event stays in the files only"
        );
        let (security, approval) = (&entries[0], &entries[1]);
        for line in [
            "PRIORITY=4",
            "CATEGORY=security",
            "ACTION=egress_proxy_peer_refused",
            "PACK=hello",
            "SUCCESS=false",
            "ERROR=uid 1000 is not the pack's",
            "MESSAGE=audit security/egress_proxy_peer_refused pack hello",
        ] {
            assert!(security.lines().any(|l| l == line), "{line} missing from {security}");
        }
        for line in ["PRIORITY=6", "CATEGORY=approval", "ACTION=pack_approve", "SUCCESS=true"] {
            assert!(approval.lines().any(|l| l == line), "{line} missing from {approval}");
        }
        assert!(approval.contains("AUDIT_EVENT={"), "{approval}");
        // The files stay the record: all three lines are there.
        let written: String = std::fs::read_dir(dir.path().join("audit"))
            .unwrap()
            .flatten()
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .collect();
        assert_eq!(written.lines().count(), 3);
        assert!(journal_entry(&AuditEvent::new(Category::Network, "network_request")).is_none());
        let critical = AuditEvent::new(Category::Security, "hmac_verification_failed").failed(
            Severity::Critical,
            "approval_record_tampered",
            "bad",
        );
        assert_eq!(journal_entry(&critical).unwrap().0, 2);
    }
}
