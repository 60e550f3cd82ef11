//! One capability call: approval → (secrets.get) rate limit → resolve → trust → grant →
//! dispatch → audit.
//!
//! # Security
//! - The principal is the socket the call arrived on; `principal_id` in a payload is ignored.
//! - Denials tell the caller only "Permission denied" (or, for `secrets.get`, one uniform
//!   answer); the reason goes to the audit log.
//! - Argument *values* never reach the audit log (a `store.set` value may be sensitive);
//!   only argument names do. Every field goes through the helper's bounded audit record, so
//!   an oversized `permission_id` or argument name is cut, never forwarded whole.
//!
//! Blocking work (SQLite, secret files, inbox and patch files, the handler re-hash) runs on
//! tokio's blocking threads: the helper has two async workers, and a few slow calls on them
//! used to stall every other pack, the operator's secrets API and the health checks.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rumi_common::helper::Event;
use serde_json::{Map, Value, json};

use crate::builtin;
use crate::control::State;
use crate::policy::{Policy, root_pack};

/// Largest response sent back: 1 MiB (bigger answers become `response_too_large`).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// A refusal or failure as the caller sees it.
#[derive(Debug)]
pub struct Denied {
    pub error_type: String,
    pub message: String,
}

impl Denied {
    pub fn new(error_type: &str, message: &str) -> Self {
        Self {
            error_type: error_type.to_owned(),
            message: message.to_owned(),
        }
    }

    pub fn permission() -> Self {
        Self::new("grant_denied", "Permission denied")
    }
}

pub type Outcome = Result<Value, Denied>;

/// Per-principal `secrets.get` limiter, rebuilt when the rate changes.
pub struct SecretLimiter(ArcSwap<(u32, DefaultKeyedRateLimiter<String>)>);

impl SecretLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self(ArcSwap::from_pointee((per_minute, Self::build(per_minute))))
    }

    fn build(per_minute: u32) -> DefaultKeyedRateLimiter<String> {
        RateLimiter::keyed(Quota::per_minute(
            NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN),
        ))
    }

    pub fn set_rate(&self, per_minute: u32) {
        if self.0.load().0 != per_minute {
            self.0.store(Arc::new((per_minute, Self::build(per_minute))));
        }
    }

    fn allow(&self, principal: &str) -> bool {
        self.0.load().1.check_key(&principal.to_owned()).is_ok()
    }
}

/// Handles one request frame from `principal`; always returns the response object.
pub async fn handle(state: &Arc<State>, principal: &str, req: Map<String, Value>) -> Value {
    let started = Instant::now();
    let permission = req
        .get("permission_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let request_id: String = req
        .get("request_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .chars()
        .take(128)
        .collect();
    // A call that names no id gets one, so the handler's context and the audit line can
    // still be matched.
    let request_id = if request_id.is_empty() {
        format!("{:032x}", rand::random::<u128>())
    } else {
        request_id
    };
    let args = match req.get("args") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => Value::Null,
    };
    let mut trace = Trace::default();
    let outcome = if permission.is_empty() || args.is_null() {
        Err(Denied::new(
            "invalid_request",
            "permission_id (string) and args (object) are required",
        ))
    } else {
        decide(state, principal, &permission, &args, &request_id, &mut trace).await
    };
    let latency_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;

    let mut details = Map::new();
    details.insert("principal_id".into(), json!(principal));
    details.insert("permission_id".into(), json!(permission));
    details.insert("request_id".into(), json!(request_id));
    details.insert("latency_ms".into(), json!(latency_ms));
    details.insert("trusted".into(), json!(trace.trusted));
    details.insert("grant_allowed".into(), json!(trace.grant_allowed));
    details.insert(
        "arg_names".into(),
        json!(
            args.as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        ),
    );
    if let Some(handler) = &trace.handler_id {
        details.insert("handler_id".into(), json!(handler));
    }
    if let Some(reason) = &trace.reason {
        details.insert("detail_reason".into(), json!(reason));
    }
    let (success, error_type, error) = match &outcome {
        Ok(_) => (true, None, None),
        Err(d) => (false, Some(d.error_type.clone()), Some(d.message.clone())),
    };
    state.audit.emit(Event {
        category: "permission",
        severity: if success { "info" } else { "warning" },
        action: "permission_execute",
        success,
        owner_pack: root_pack(principal),
        details,
        error: error.clone(),
        error_type: error_type.as_deref(),
        rejection_reason: trace.reason.clone().filter(|_| !success),
    });
    let response = match outcome {
        Ok(output) => {
            json!({"success": true, "output": output, "error": null, "error_type": null, "latency_ms": latency_ms})
        }
        Err(d) => {
            json!({"success": false, "output": null, "error": d.message, "error_type": d.error_type, "latency_ms": latency_ms})
        }
    };
    if serde_json::to_vec(&response).map_or(0, |v| v.len()) > MAX_RESPONSE_BYTES {
        return json!({"success": false, "output": null, "error": "Response too large", "error_type": "response_too_large", "latency_ms": latency_ms});
    }
    response
}

#[derive(Default)]
struct Trace {
    trusted: bool,
    grant_allowed: bool,
    handler_id: Option<String>,
    reason: Option<String>,
}

/// Runs blocking work off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Denied> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "blocking capability work failed");
        Denied::new("handler_error", "internal error")
    })
}

async fn decide(
    state: &Arc<State>,
    principal: &str,
    permission: &str,
    args: &Value,
    request_id: &str,
    trace: &mut Trace,
) -> Outcome {
    let Some(policy): Option<Arc<Policy>> = state.policy.load_full() else {
        return Err(Denied::new("approval_denied", "Pack is not approved"));
    };
    if !policy.approved.contains(root_pack(principal)) {
        trace.reason = Some("pack is not approved (or was modified)".into());
        return Err(Denied::new("approval_denied", "Pack is not approved"));
    }
    if permission == "secrets.get" && !state.secret_limiter.allow(principal) {
        trace.reason = Some("secrets.get rate limit".into());
        return Err(Denied::new("rate_limited", "Rate limit exceeded"));
    }
    let builtin = builtin::BUILTINS.contains(&permission);
    let handler = policy.handlers.get(permission).cloned();
    if !builtin && handler.is_none() {
        trace.reason = Some("no such capability".into());
        return Err(Denied::new("handler_not_found", "Permission denied"));
    }
    let mut entry = None;
    if let Some(h) = &handler
        && !builtin
    {
        trace.handler_id = Some(h.handler_id.clone());
        let h = h.clone();
        match blocking(move || crate::handler::verify(&h)).await? {
            Ok(file) => {
                trace.trusted = true;
                entry = Some(file);
            }
            Err(why) => {
                trace.reason = Some(why);
                return Err(Denied::new("trust_denied", "Permission denied"));
            }
        }
    } else {
        trace.trusted = true;
    }
    let config = match policy.effective_config(principal, permission) {
        Ok(c) => c,
        Err(why) => {
            trace.reason = Some(why);
            return Err(Denied::permission());
        }
    };
    trace.grant_allowed = true;
    if builtin {
        let (state, policy) = (state.clone(), policy.clone());
        let (principal, permission, args) = (principal.to_owned(), permission.to_owned(), args.clone());
        let (outcome, reason) =
            blocking(move || builtin_call(&state, &policy, &principal, &permission, &config, &args)).await?;
        trace.reason = reason;
        return outcome;
    }
    let handler = handler.expect("checked above: builtin or handler");
    let entry = entry.expect("verified above: not a builtin");
    let timeout = args.get("timeout_seconds").and_then(Value::as_f64);
    crate::handler::run(
        &state.config.handler_python,
        &handler,
        &entry,
        principal,
        permission,
        request_id,
        &config,
        args,
        timeout,
    )
    .await
    .inspect_err(|e| trace.reason = Some(e.message.clone()))
}

/// A built-in capability, on a blocking thread (each touches SQLite or files).
fn builtin_call(
    state: &State,
    policy: &Policy,
    principal: &str,
    permission: &str,
    config: &Value,
    args: &Value,
) -> (Outcome, Option<String>) {
    let home = &state.config.home;
    match permission {
        "secrets.get" => builtin::secrets_get(&state.secrets, config, args),
        "pack.inbox.send" | "pack.update.propose_patch" => {
            // The receiving pack must be approved (and unmodified) too.
            let target = args["to_pack_id"]
                .as_str()
                .or_else(|| args["target_pack_id"].as_str())
                .unwrap_or_default();
            if !policy.approved.contains(target) {
                (
                    Err(Denied::permission()),
                    Some(format!("target pack {target:?} is not approved")),
                )
            } else if permission == "pack.inbox.send" {
                builtin::exchange::inbox_send(home, principal, config, args)
            } else {
                builtin::exchange::propose_patch(home, principal, config, args)
            }
        }
        _ => builtin::store(&state.stores, policy, principal, permission, config, args),
    }
}
