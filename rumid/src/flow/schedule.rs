//! Running scheduled flows: `schedule.interval` (seconds, at least 10) and `schedule.cron`
//! (5 fields, UTC). A flow still running when it is due again is skipped, never started twice;
//! so is a due run whose pack already holds its share of the flow slots (or that finds every
//! slot taken): skipped and counted (`rumi_flow_schedule_skipped_total`), never queued.
//!
//! Due times are computed, never matched against the clock: a cron flow is due once the wall
//! clock has passed its next occurrence, so a tick that comes late (the process stalled across
//! a minute boundary) still runs it. However many occurrences a stall covered, one run catches
//! up and the next due time is the first occurrence after that tick.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::model::Schedule;
use super::{FlowEngine, FlowError};

/// How often due schedules are checked.
const TICK: Duration = Duration::from_secs(1);
/// Time budget of a scheduled run.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// When one scheduled flow is next due.
#[derive(Debug)]
pub enum Due {
    /// Monotonic time: unaffected by wall-clock changes.
    Interval { every: Duration, next: Instant },
    /// Boxed: a parsed pattern is large.
    Cron(Box<CronDue>),
}

// === impl Due ===

impl Due {
    /// The state of a schedule first seen at `now`: an interval is due one interval later, a
    /// cron pattern at its first occurrence after `now_utc`.
    pub fn new(schedule: &Schedule, now: Instant, now_utc: DateTime<Utc>) -> Self {
        match schedule {
            Schedule::Interval(secs) => {
                let every = Duration::from_secs(*secs);
                Self::Interval {
                    every,
                    next: now + every,
                }
            }
            Schedule::Cron(expr) => Self::Cron(Box::new(CronDue::new(expr, now_utc))),
        }
    }

    /// Whether a run is due now; when it is, the next due time moves past now.
    pub fn poll(&mut self, now: Instant, now_utc: DateTime<Utc>) -> bool {
        match self {
            Self::Interval { every, next } => {
                if now < *next {
                    return false;
                }
                *next = now + *every;
                true
            }
            Self::Cron(c) => c.poll(now_utc),
        }
    }
}

/// A cron pattern's next occurrence.
#[derive(Debug)]
pub struct CronDue {
    cron: Option<croner::Cron>,
    /// `None`: the pattern has no future occurrence croner can find.
    next: Option<DateTime<Utc>>,
    last_seen: DateTime<Utc>,
}

// === impl CronDue ===

impl CronDue {
    /// A pattern first seen at `now`: due at its first occurrence strictly after `now`.
    pub fn new(expr: &str, now: DateTime<Utc>) -> Self {
        let cron = expr.parse::<croner::Cron>().ok();
        let next = cron.as_ref().and_then(|c| next_after(c, now));
        Self {
            cron,
            next,
            last_seen: now,
        }
    }

    /// The occurrence the schedule waits for.
    pub fn next(&self) -> Option<DateTime<Utc>> {
        self.next
    }

    /// Whether a run is due at `now`. A due run moves the next due time to the first
    /// occurrence after `now`, so the occurrences a stall skipped become this one run.
    pub fn poll(&mut self, now: DateTime<Utc>) -> bool {
        let Some(cron) = &self.cron else { return false };
        if now < self.last_seen {
            // The wall clock was set back: follow it rather than wait for the old time.
            self.next = next_after(cron, now);
        }
        self.last_seen = now;
        match self.next {
            Some(next) if now >= next => {
                self.next = next_after(cron, now);
                true
            }
            _ => false,
        }
    }
}

fn next_after(cron: &croner::Cron, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&t, false).ok()
}

/// Starts the scheduler task.
pub fn spawn(engine: Arc<FlowEngine>) {
    tokio::spawn(async move {
        let running: Arc<Mutex<HashSet<String>>> = Arc::default();
        // Keyed by flow id, with the schedule it was computed for: a reload that changes a
        // flow's schedule starts it afresh.
        let mut due: HashMap<String, (Schedule, Due)> = HashMap::new();
        // Flows whose skips were logged at WARN since their last start: a pack with many
        // schedules must not flood the log, one line per flow says it happens.
        let mut warned: HashSet<String> = HashSet::new();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let set = engine.flows();
            due.retain(|id, (schedule, _)| {
                set.flows
                    .get(id)
                    .is_some_and(|f| f.schedule.as_ref() == Some(&*schedule))
            });
            warned.retain(|id| due.contains_key(id));
            let now = Instant::now();
            let utc = Utc::now();
            for flow in set.flows.values() {
                let Some(schedule) = &flow.schedule else { continue };
                let (_, state) = due
                    .entry(flow.flow_id.clone())
                    .or_insert_with(|| (schedule.clone(), Due::new(schedule, now, utc)));
                if !state.poll(now, utc) {
                    continue;
                }
                let skip = |reason: &'static str| {
                    engine
                        .metrics()
                        .schedule_skipped
                        .get_or_create(&crate::metrics::SkipLabels {
                            flow_id: flow.flow_id.clone(),
                            reason,
                        })
                        .inc();
                };
                if running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .contains(&flow.flow_id)
                {
                    skip("running");
                    tracing::info!(flow_id = %flow.flow_id, "scheduled run skipped: the previous one is still running");
                    continue;
                }
                // The slot is taken here, before the run is spawned: a due run that finds its
                // pack's share (or every slot) in use is skipped and counted, never queued.
                let admitted = match engine.admit(&flow.flow_id) {
                    Ok(a) => a,
                    Err(e) => {
                        let reason = match e {
                            FlowError::PackBusy { .. } => "pack_share",
                            _ => "slots",
                        };
                        skip(reason);
                        if warned.insert(flow.flow_id.clone()) {
                            tracing::warn!(flow_id = %flow.flow_id, reason, error = %e, "scheduled run skipped (counted in rumi_flow_schedule_skipped_total; logged once until the flow starts again)");
                        } else {
                            tracing::debug!(flow_id = %flow.flow_id, reason, "scheduled run skipped");
                        }
                        continue;
                    }
                };
                warned.remove(&flow.flow_id);
                running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(flow.flow_id.clone());
                let engine = engine.clone();
                let running = running.clone();
                let id = flow.flow_id.clone();
                tokio::spawn(async move {
                    if let Err(e) = engine.run_admitted(admitted, json!({}), RUN_TIMEOUT, "schedule").await {
                        tracing::warn!(flow_id = %id, error = %e, "scheduled run failed");
                    }
                    running.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                });
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_stall_across_the_minute_boundary_still_runs_the_cron_flow() {
        // The reproduced loss: ticks at :59.4, then (a 2.5 s stall) at :01.9; no tick in :00.
        let mut due = CronDue::new("5 20 * * *", at("2026-03-01T20:04:58.400Z"));
        assert_eq!(due.next(), Some(at("2026-03-01T20:05:00Z")));
        assert!(!due.poll(at("2026-03-01T20:04:59.400Z")));
        assert!(
            due.poll(at("2026-03-01T20:05:01.900Z")),
            "the 20:05 run is due after the stall"
        );
        assert!(!due.poll(at("2026-03-01T20:05:02.900Z")), "and runs once");
        assert_eq!(due.next(), Some(at("2026-03-02T20:05:00Z")));
    }

    #[test]
    fn a_long_stall_catches_up_only_one_run() {
        let mut due = CronDue::new("* * * * *", at("2026-03-01T10:00:30Z"));
        assert!(due.poll(at("2026-03-01T10:01:00.200Z")));
        // Stalled from 10:01:00.2 to 10:07:42: six occurrences passed, one run catches up.
        let after = at("2026-03-01T10:07:42Z");
        assert!(due.poll(after));
        for s in 43..60 {
            assert!(!due.poll(at(&format!("2026-03-01T10:07:{s}Z"))), "second {s}");
        }
        assert_eq!(due.next(), Some(at("2026-03-01T10:08:00Z")));
        assert!(due.poll(at("2026-03-01T10:08:00.010Z")));
    }

    #[test]
    fn a_flow_loaded_inside_its_minute_waits_for_the_next_occurrence() {
        let mut due = CronDue::new("* * * * *", at("2026-03-01T10:00:00.300Z"));
        assert_eq!(due.next(), Some(at("2026-03-01T10:01:00Z")));
        assert!(!due.poll(at("2026-03-01T10:00:59.999Z")));
        assert!(due.poll(at("2026-03-01T10:01:00Z")));
    }

    #[test]
    fn a_clock_set_back_follows_the_new_time() {
        let mut due = CronDue::new("30 * * * *", at("2026-03-01T10:00:00Z"));
        assert_eq!(due.next(), Some(at("2026-03-01T10:30:00Z")));
        assert!(!due.poll(at("2026-03-01T10:10:00Z")));
        // Set back two hours: the next run is 08:30, not 10:30.
        assert!(!due.poll(at("2026-03-01T08:10:00Z")));
        assert_eq!(due.next(), Some(at("2026-03-01T08:30:00Z")));
        assert!(due.poll(at("2026-03-01T08:30:00.500Z")));
    }

    #[test]
    fn intervals_are_due_one_interval_after_loading_and_after_each_run() {
        let t0 = Instant::now();
        let utc = at("2026-03-01T10:00:00Z");
        let mut due = Due::new(&Schedule::Interval(10), t0, utc);
        assert!(!due.poll(t0 + Duration::from_secs(9), utc));
        // Late by 25 s: one run, then one interval after it.
        assert!(due.poll(t0 + Duration::from_secs(35), utc));
        assert!(!due.poll(t0 + Duration::from_secs(44), utc));
        assert!(due.poll(t0 + Duration::from_secs(45), utc));
    }
}
