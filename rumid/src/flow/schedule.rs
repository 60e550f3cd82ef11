//! Running scheduled flows: `schedule.interval` (seconds, at least 10) and `schedule.cron`
//! (5 fields, UTC). A flow still running when it is due again is skipped, never started twice.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::FlowEngine;
use super::model::Schedule;

/// How often due schedules are checked.
const TICK: Duration = Duration::from_secs(1);
/// Time budget of a scheduled run.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Default)]
struct Due {
    next: Option<Instant>,
    last_minute: Option<i64>,
}

/// Starts the scheduler task.
pub fn spawn(engine: Arc<FlowEngine>) {
    tokio::spawn(async move {
        let running: Arc<Mutex<HashSet<String>>> = Arc::default();
        let mut due: HashMap<String, Due> = HashMap::new();
        let mut tick = tokio::time::interval(TICK);
        loop {
            tick.tick().await;
            let set = engine.flows();
            due.retain(|id, _| set.flows.contains_key(id));
            let now = Instant::now();
            let utc = chrono::Utc::now();
            for flow in set.flows.values() {
                let Some(schedule) = &flow.schedule else { continue };
                let state = due.entry(flow.flow_id.clone()).or_default();
                let fire = match schedule {
                    Schedule::Interval(secs) => {
                        let every = Duration::from_secs(*secs);
                        let next = *state.next.get_or_insert(now + every);
                        if now >= next {
                            state.next = Some(now + every);
                            true
                        } else {
                            false
                        }
                    }
                    Schedule::Cron(expr) => {
                        let minute = utc.timestamp() / 60;
                        let matching = expr
                            .parse::<croner::Cron>()
                            .ok()
                            .and_then(|c| c.is_time_matching(&utc).ok());
                        if matching == Some(true) && state.last_minute != Some(minute) {
                            state.last_minute = Some(minute);
                            true
                        } else {
                            false
                        }
                    }
                };
                if !fire {
                    continue;
                }
                if !running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(flow.flow_id.clone())
                {
                    tracing::info!(flow_id = %flow.flow_id, "scheduled run skipped: the previous one is still running");
                    continue;
                }
                let engine = engine.clone();
                let running = running.clone();
                let id = flow.flow_id.clone();
                tokio::spawn(async move {
                    if let Err(e) = engine.run_triggered(&id, json!({}), RUN_TIMEOUT, "schedule").await {
                        tracing::warn!(flow_id = %id, error = %e, "scheduled run failed");
                    }
                    running.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                });
            }
        }
    });
}
