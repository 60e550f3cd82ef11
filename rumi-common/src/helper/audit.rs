//! A helper's audit events on their way to rumid (the one audit writer).
//!
//! Every event goes through [`BoundedRecord`], which is the only way to put a record on the
//! [`AuditBus`]; the bus is the only producer of the `AuditStream` rumid consumes.
//!
//! # Security
//! Two attacks on the audit trail come from a hostile pack, and both are blocked here:
//! - *Blinding*: one oversized field (a 4 MiB `permission_id`, a URL that percent-encodes to
//!   3 MiB) made a record larger than the largest gRPC message rumid accepts; the stream
//!   died on it and every later event of that helper was lost, for every pack and for the
//!   operator's own calls. A [`BoundedRecord`] cuts every string to [`MAX_FIELD_BYTES`],
//!   keeps at most [`MAX_ITEMS`] entries per list or object and [`MAX_DEPTH`] levels, marks
//!   the record `details.truncated = true`, and drops the details altogether should they
//!   still exceed [`MAX_DETAILS_JSON_BYTES`]; a record therefore never encodes to more than
//!   [`MAX_RECORD_BYTES`], whatever the pack sent.
//! - *Flooding*: refused calls cost a pack nothing, and each wrote a line. Failures charged
//!   to a pack pass a per-pack token bucket (`RUMI_AUDIT_REFUSALS_PER_SECOND`); the excess is
//!   counted, and every [`SUMMARY_PERIOD`] one `security/audit_refusals_suppressed` line
//!   ("N refusals from pack X suppressed") replaces it.
//!
//! The queue is bounded in records ([`QUEUE`]) and in bytes ([`QUEUE_BYTES`]); when rumid
//! is not consuming and it fills, new events are dropped and counted (reported by `Health`),
//! never blocking a pack request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message as _;
use rumi_proto::control::AuditRecord;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

/// Longest string a pack can place in an audit record (bytes, cut at a character boundary).
pub const MAX_FIELD_BYTES: usize = 1024;
/// Longest key of a details object.
pub const MAX_KEY_BYTES: usize = 64;
/// Most entries kept of one list or object in the details.
pub const MAX_ITEMS: usize = 32;
/// Deepest nesting kept in the details (deeper values become `null`).
pub const MAX_DEPTH: usize = 4;
/// Bytes of strings and keys one record's details may carry in all.
pub const MAX_DETAILS_BYTES: usize = 4 * 1024;
/// Largest encoded details JSON (escaping can make it longer than its strings); beyond it the
/// details are replaced by `{"truncated": true, "details_dropped": true}`.
pub const MAX_DETAILS_JSON_BYTES: usize = 8 * 1024;
/// Longest name a helper gives a record (category, severity, action, error type).
const MAX_NAME_BYTES: usize = 128;
/// The most a record can encode to: details, three bounded strings, names and framing.
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

/// Events kept while rumid is not consuming.
pub const QUEUE: usize = 10_000;
/// Bytes of records kept while rumid is not consuming (at most [`QUEUE`] × [`MAX_RECORD_BYTES`]
/// would be 160 MiB).
pub const QUEUE_BYTES: usize = 16 * 1024 * 1024;
/// How often suppressed refusals are summarised.
pub const SUMMARY_PERIOD: Duration = Duration::from_secs(5);

/// Fields of one event.
pub struct Event<'a> {
    pub category: &'a str,
    pub severity: &'a str,
    pub action: &'a str,
    pub success: bool,
    pub owner_pack: &'a str,
    pub details: Map<String, Value>,
    pub error: Option<String>,
    pub error_type: Option<&'a str>,
    pub rejection_reason: Option<String>,
}

/// An audit record whose every field is bounded: the only thing the [`AuditBus`] queues.
#[derive(Debug, Clone)]
pub struct BoundedRecord(AuditRecord);

// === impl BoundedRecord ===

impl BoundedRecord {
    /// Bounds every field of `e` (see the module docs) and stamps it with the helper's clock.
    pub fn new(e: Event<'_>) -> Self {
        let mut cut = Cutter::default();
        let mut details = cut.object(e.details, 0);
        let error = e.error.map(|s| cut.field(s)).unwrap_or_default();
        let rejection_reason = e.rejection_reason.map(|s| cut.field(s)).unwrap_or_default();
        let owner_pack = cut.field(e.owner_pack.to_owned());
        if cut.truncated {
            details.insert("truncated".into(), Value::Bool(true));
        }
        let mut details_json = Value::Object(details).to_string();
        if details_json.len() > MAX_DETAILS_JSON_BYTES {
            details_json = r#"{"truncated":true,"details_dropped":true}"#.to_owned();
        }
        let name = |s: &str| prefix(s, MAX_NAME_BYTES).to_owned();
        Self(AuditRecord {
            category: name(e.category),
            severity: name(e.severity),
            action: name(e.action),
            success: e.success,
            owner_pack,
            details_json,
            error,
            error_type: name(e.error_type.unwrap_or_default()),
            rejection_reason,
            ts: crate::time::now_rfc3339(),
        })
    }

    /// The record as it travels to rumid.
    pub fn into_record(self) -> AuditRecord {
        self.0
    }

    /// Its encoded size, at most [`MAX_RECORD_BYTES`].
    pub fn encoded_len(&self) -> usize {
        self.0.encoded_len()
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends at a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Walks a details value, cutting as it goes and remembering whether it cut anything.
struct Cutter {
    budget: usize,
    truncated: bool,
}

impl Default for Cutter {
    fn default() -> Self {
        Self {
            budget: MAX_DETAILS_BYTES,
            truncated: false,
        }
    }
}

impl Cutter {
    /// A top-level string field (error, rejection reason, owner): its own 1 KiB, no budget.
    fn field(&mut self, s: String) -> String {
        if s.len() <= MAX_FIELD_BYTES {
            return s;
        }
        self.truncated = true;
        prefix(&s, MAX_FIELD_BYTES).to_owned()
    }

    fn string(&mut self, s: &str, max: usize) -> String {
        let keep = prefix(s, max.min(self.budget));
        if keep.len() < s.len() {
            self.truncated = true;
        }
        self.budget -= keep.len();
        keep.to_owned()
    }

    fn value(&mut self, v: Value, depth: usize) -> Value {
        match v {
            Value::String(s) => Value::String(self.string(&s, MAX_FIELD_BYTES)),
            Value::Array(items) if depth < MAX_DEPTH => {
                if items.len() > MAX_ITEMS {
                    self.truncated = true;
                }
                let mut out = Vec::new();
                for item in items.into_iter().take(MAX_ITEMS) {
                    if self.budget == 0 {
                        self.truncated = true;
                        break;
                    }
                    out.push(self.value(item, depth + 1));
                }
                Value::Array(out)
            }
            Value::Object(m) if depth < MAX_DEPTH => Value::Object(self.object(m, depth + 1)),
            Value::Array(_) | Value::Object(_) => {
                self.truncated = true;
                Value::Null
            }
            scalar => scalar,
        }
    }

    fn object(&mut self, m: Map<String, Value>, depth: usize) -> Map<String, Value> {
        if m.len() > MAX_ITEMS {
            self.truncated = true;
        }
        let mut out = Map::new();
        for (k, v) in m.into_iter().take(MAX_ITEMS) {
            if self.budget == 0 {
                self.truncated = true;
                break;
            }
            let k = self.string(&k, MAX_KEY_BYTES);
            let v = self.value(v, depth);
            out.insert(k, v);
        }
        out
    }
}

/// The helper's queue of audit records for rumid, with the per-pack refusal limiter.
#[derive(Clone)]
pub struct AuditBus {
    tx: mpsc::Sender<BoundedRecord>,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<BoundedRecord>>>,
    queued_bytes: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
    refusals: Arc<Refusals>,
}

impl Default for AuditBus {
    fn default() -> Self {
        Self::new(crate::limits::DEFAULT_AUDIT_REFUSALS_PER_SECOND)
    }
}

// === impl AuditBus ===

impl AuditBus {
    /// A bus that audits at most `refusals_per_second` refusals per pack in full.
    pub fn new(refusals_per_second: u32) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        Self {
            tx,
            rx: Arc::new(tokio::sync::Mutex::new(rx)),
            queued_bytes: Arc::default(),
            dropped: Arc::default(),
            refusals: Arc::new(Refusals::new(refusals_per_second)),
        }
    }

    /// Queues one event. A failure charged to a pack (`success: false` with an
    /// `owner_pack`) first passes that pack's refusal bucket; past it, the event is only
    /// counted, for the next summary.
    pub fn emit(&self, e: Event<'_>) {
        if !e.success && !e.owner_pack.is_empty() && !self.refusals.admit(e.owner_pack) {
            return;
        }
        self.push(BoundedRecord::new(e));
    }

    fn push(&self, record: BoundedRecord) {
        let size = record.encoded_len();
        let queued = self.queued_bytes.fetch_add(size, Ordering::AcqRel) + size;
        if queued > QUEUE_BYTES || self.tx.try_send(record).is_err() {
            self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(dropped = n, "audit queue full; event dropped");
        }
    }

    /// A security event with no pack context.
    pub fn security(&self, action: &str, severity: &str, owner_pack: &str, details: Map<String, Value>) {
        self.emit(Event {
            category: "security",
            severity,
            action,
            success: false,
            owner_pack,
            details,
            error: None,
            error_type: None,
            rejection_reason: None,
        });
    }

    /// Events dropped because the queue was full, since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Refusals counted instead of audited, since the start.
    pub fn suppressed(&self) -> u64 {
        self.refusals.total.load(Ordering::Relaxed)
    }

    /// Writes one `security/audit_refusals_suppressed` line per pack whose refusals were
    /// suppressed since the last call.
    pub fn summarise(&self) {
        for (pack, n, window) in self.refusals.take_suppressed() {
            let mut details = Map::new();
            details.insert("suppressed".into(), n.into());
            details.insert("window_seconds".into(), window.as_secs().into());
            details.insert("refusals_per_second".into(), self.refusals.rate.into());
            details.insert(
                "summary".into(),
                Value::String(format!("{n} refusals from pack {pack} suppressed")),
            );
            // Summaries bypass the bucket: they are what replaces the excess.
            self.push(BoundedRecord::new(Event {
                category: "security",
                severity: "warning",
                action: "audit_refusals_suppressed",
                success: false,
                owner_pack: &pack,
                details,
                error: None,
                error_type: None,
                rejection_reason: None,
            }));
        }
    }

    /// Runs [`AuditBus::summarise`] every [`SUMMARY_PERIOD`], forever.
    pub async fn run_summaries(self) {
        let mut tick = tokio::time::interval(SUMMARY_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.summarise();
        }
    }
}

/// Audits a frame refused because `pack`'s or the helper's frame buffers were full
/// (`security/frame_buffer_full`; a refusal, so rate limited like the others).
pub fn frame_buffer_full(bus: &AuditBus, pack: &str, limit: usize) {
    let mut details = Map::new();
    details.insert("limit_bytes".into(), limit.into());
    bus.security("frame_buffer_full", "warning", pack, details);
}

/// The server side of `AuditStream`: forwards queued records until the client goes away.
/// One consumer at a time; a new stream waits until the previous one is gone.
pub fn audit_stream(bus: &AuditBus) -> ReceiverStream<Result<AuditRecord, Status>> {
    let (tx, rx) = mpsc::channel(256);
    let queue = bus.rx.clone();
    let queued_bytes = bus.queued_bytes.clone();
    tokio::spawn(async move {
        let mut queue = queue.lock().await;
        loop {
            tokio::select! {
                rec = queue.recv() => {
                    let Some(rec) = rec else { break };
                    queued_bytes.fetch_sub(rec.encoded_len(), Ordering::AcqRel);
                    if tx.send(Ok(rec.into_record())).await.is_err() {
                        break;
                    }
                }
                () = tx.closed() => break,
            }
        }
    });
    ReceiverStream::new(rx)
}

/// Per-pack token buckets of audited refusals.
struct Refusals {
    rate: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
    total: AtomicU64,
}

struct Bucket {
    tokens: f64,
    last: Instant,
    suppressed: u64,
    since: Instant,
}

impl Refusals {
    fn new(rate: u32) -> Self {
        Self {
            rate: rate.max(1),
            buckets: Mutex::default(),
            total: AtomicU64::new(0),
        }
    }

    /// Whether one more refusal of `pack` is audited in full (a bucket of `rate`, refilled
    /// at `rate` per second).
    fn admit(&self, pack: &str) -> bool {
        let now = Instant::now();
        let rate = f64::from(self.rate);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = buckets.entry(pack.to_owned()).or_insert(Bucket {
            tokens: rate,
            last: now,
            suppressed: 0,
            since: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(rate);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return true;
        }
        if b.suppressed == 0 {
            b.since = now;
        }
        b.suppressed += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// `(pack, suppressed, over how long)` for every pack with suppressed refusals, reset;
    /// buckets that are full again are forgotten.
    fn take_suppressed(&self) -> Vec<(String, u64, Duration)> {
        let now = Instant::now();
        let rate = f64::from(self.rate);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (pack, b) in buckets.iter_mut() {
            if b.suppressed > 0 {
                out.push((pack.clone(), b.suppressed, now.duration_since(b.since)));
                b.suppressed = 0;
            }
        }
        buckets.retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * rate < rate);
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(details: Value, error: Option<String>) -> Event<'static> {
        Event {
            category: "permission",
            severity: "warning",
            action: "permission_execute",
            success: false,
            owner_pack: "alpha",
            details: details.as_object().unwrap().clone(),
            error,
            error_type: Some("handler_not_found"),
            rejection_reason: Some("é".repeat(3000)),
        }
    }

    fn details(r: &BoundedRecord) -> Value {
        serde_json::from_str(&r.0.details_json).unwrap()
    }

    #[test]
    fn small_records_pass_unchanged() {
        let r = BoundedRecord::new(Event {
            rejection_reason: None,
            ..event(json!({"permission_id": "store.get", "n": 1, "arg_names": ["a"]}), None)
        });
        assert_eq!(
            details(&r),
            json!({"permission_id": "store.get", "n": 1, "arg_names": ["a"]})
        );
        assert!(r.0.error.is_empty() && r.0.rejection_reason.is_empty());
    }

    #[test]
    fn every_pack_controlled_string_is_cut_and_the_record_says_so() {
        let huge = "p".repeat(4 * 1024 * 1024);
        let r = BoundedRecord::new(event(
            json!({"permission_id": huge, "detail_reason": format!("alpha lacks {huge}")}),
            Some(huge.clone()),
        ));
        let d = details(&r);
        assert_eq!(d["permission_id"].as_str().unwrap().len(), MAX_FIELD_BYTES);
        assert!(d["detail_reason"].as_str().unwrap().starts_with("alpha lacks ppp"));
        assert_eq!(d["truncated"], true);
        assert_eq!(r.0.error.len(), MAX_FIELD_BYTES);
        // Cut at a character boundary: 'é' is two bytes.
        assert_eq!(r.0.rejection_reason.len(), MAX_FIELD_BYTES);
        assert!(r.0.rejection_reason.chars().all(|c| c == 'é'));
        assert!(r.encoded_len() <= MAX_RECORD_BYTES);
    }

    #[test]
    fn no_shape_of_details_makes_a_record_exceed_the_bound() {
        let long = "\u{1}".repeat(5000); // escapes to six bytes per byte
        let wide: Map<String, Value> = (0..1000).map(|i| (format!("k{i}{long}"), json!(long))).collect();
        let mut deep = json!(long);
        for i in 0..100 {
            deep = if i % 2 == 0 { json!([deep]) } else { json!({"x": deep}) };
        }
        let cases = [
            json!({"arg_names": vec![long.clone(); 1000]}),
            Value::Object(wide),
            json!({"deep": deep}),
            json!({"a": long, "b": long, "c": long, "d": long, "e": long, "f": long}),
        ];
        for d in cases {
            let r = BoundedRecord::new(event(d, Some(long.clone())));
            assert!(r.encoded_len() <= MAX_RECORD_BYTES, "{} bytes", r.encoded_len());
            assert_eq!(details(&r)["truncated"], true);
        }
    }

    #[test]
    fn refusals_beyond_the_rate_are_counted_and_summarised_per_pack() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let bus = AuditBus::new(5);
            for _ in 0..50 {
                bus.emit(event(json!({}), None));
            }
            // Successes and another pack's refusals are not affected.
            bus.emit(Event {
                success: true,
                ..event(json!({}), None)
            });
            bus.emit(Event {
                owner_pack: "beta",
                ..event(json!({}), None)
            });
            assert_eq!(bus.suppressed(), 45);
            bus.summarise();
            bus.summarise(); // nothing new: no second line
            let mut rx = bus.rx.lock().await;
            let mut records = Vec::new();
            while let Ok(r) = rx.try_recv() {
                records.push(r.into_record());
            }
            assert_eq!(records.len(), 5 + 1 + 1 + 1, "{records:?}");
            let summary = records.last().unwrap();
            assert_eq!(summary.action, "audit_refusals_suppressed");
            assert_eq!(summary.owner_pack, "alpha");
            let d: Value = serde_json::from_str(&summary.details_json).unwrap();
            assert_eq!(d["suppressed"], 45);
            assert_eq!(d["summary"], "45 refusals from pack alpha suppressed");
            assert!(bus.queued_bytes.load(Ordering::Relaxed) > 0);
        });
    }
}
