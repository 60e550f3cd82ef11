//! Audit events produced here, queued for rumid's `AuditStream` (rumid writes the log).
//!
//! The queue is bounded: when rumid is not consuming and it fills, new events are dropped
//! and counted, never blocking a pack request. rumid reconnects within seconds in practice.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{SecondsFormat, Utc};
use rumi_proto::control::AuditRecord;
use serde_json::{Map, Value};
use tokio::sync::{Mutex, mpsc};

/// Events kept while rumid is not connected.
const QUEUE: usize = 10_000;

#[derive(Clone)]
pub struct AuditBus {
    tx: mpsc::Sender<AuditRecord>,
    pub rx: Arc<Mutex<mpsc::Receiver<AuditRecord>>>,
    dropped: Arc<AtomicU64>,
}

impl Default for AuditBus {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        Self {
            tx,
            rx: Arc::new(Mutex::new(rx)),
            dropped: Arc::default(),
        }
    }
}

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

impl AuditBus {
    pub fn emit(&self, e: Event<'_>) {
        let record = AuditRecord {
            category: e.category.to_owned(),
            severity: e.severity.to_owned(),
            action: e.action.to_owned(),
            success: e.success,
            owner_pack: e.owner_pack.to_owned(),
            details_json: Value::Object(e.details).to_string(),
            error: e.error.unwrap_or_default(),
            error_type: e.error_type.unwrap_or_default().to_owned(),
            rejection_reason: e.rejection_reason.unwrap_or_default(),
            ts: Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
        };
        if self.tx.try_send(record).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(dropped = n, "audit queue full; event dropped");
        }
    }

    /// A security event with no pack context.
    pub fn security(
        &self,
        action: &str,
        severity: &str,
        owner_pack: &str,
        details: Map<String, Value>,
    ) {
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
}
