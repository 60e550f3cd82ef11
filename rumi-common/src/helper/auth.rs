//! The helper's end of the control channel's authentication (see [`crate::control_key`]).
//!
//! # Security
//! Every control call but `Hello` must carry the token derived from the instance's control
//! key and this process's boot nonce; the uid check (SO_PEERCRED) still comes first. A call
//! without it, or with another instance's, is refused `UNAUTHENTICATED` and audited
//! `control_auth_refused` (rate limited per peer uid is not needed: only processes that may
//! open the control socket can try, and each try is one line).

use std::path::PathBuf;
use std::sync::Mutex;

use serde_json::{Map, Value};
use tonic::{Request, Status};

use super::AuditBus;
use crate::control_key::{CallToken, ControlKey, NONCE_LEN, TOKEN_METADATA};
use crate::env::Collector;

/// Where a helper's control key comes from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Given at spawn (`RUMI_CONTROL_KEY`).
    Given(ControlKey),
    /// A key file (`RUMI_CONTROL_KEY_FILE`), read when needed until it exists: under systemd
    /// the helpers may start before rumid has created it.
    File(PathBuf),
}

/// Reads `RUMI_CONTROL_KEY` / `RUMI_CONTROL_KEY_FILE`; exactly one is required (a helper
/// with no key would serve any rumid of the same uid).
pub fn parse_key_source(c: &mut Collector) -> Option<KeySource> {
    use crate::control_key::{ENV_CONTROL_KEY, ENV_CONTROL_KEY_FILE};
    let given = c.opt_secret(ENV_CONTROL_KEY, |s| {
        ControlKey::from_hex(s).ok_or_else(|| "not 64 hex characters".to_owned())
    });
    let file = c.opt(ENV_CONTROL_KEY_FILE, crate::env::parse_absolute_path);
    match (given, file) {
        (Some(k), None) => Some(KeySource::Given(k)),
        (None, Some(f)) => Some(KeySource::File(f)),
        (Some(_), Some(_)) => {
            c.error(
                ENV_CONTROL_KEY_FILE,
                "",
                "set either RUMI_CONTROL_KEY or RUMI_CONTROL_KEY_FILE, not both",
            );
            None
        }
        (None, None) => {
            if c.raw(ENV_CONTROL_KEY).is_none() && c.raw(ENV_CONTROL_KEY_FILE).is_none() {
                c.error(
                    ENV_CONTROL_KEY_FILE,
                    "",
                    "required: the instance's control key (rumid passes RUMI_CONTROL_KEY to the helpers it spawns; under systemd set RUMI_CONTROL_KEY_FILE)",
                );
            }
            None
        }
    }
}

/// The helper's control-key state: the key (once known), its boot nonce and the expected
/// token.
pub struct ControlAuth {
    /// `None`: no key configured (the configuration refused that already); nothing passes.
    source: Option<KeySource>,
    nonce: [u8; NONCE_LEN],
    known: Mutex<Option<(ControlKey, CallToken)>>,
}

// === impl ControlAuth ===

impl ControlAuth {
    pub fn new(source: Option<KeySource>) -> Self {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let known = match &source {
            Some(KeySource::Given(k)) => Some((k.clone(), k.call_token(&nonce))),
            Some(KeySource::File(_)) | None => None,
        };
        let auth = Self {
            source,
            nonce,
            known: Mutex::new(known),
        };
        let _ = auth.key();
        auth
    }

    /// The key: the given one, or the file's (read again while it is missing or bad, and
    /// whenever a `Hello` comes, so a key file replaced by the operator takes effect).
    fn key(&self) -> Option<(ControlKey, CallToken)> {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(KeySource::File(path)) = &self.source {
            match ControlKey::read(path) {
                Ok(k) => {
                    let token = k.call_token(&self.nonce);
                    *known = Some((k, token));
                }
                Err(e) if known.is_none() => tracing::warn!(error = %e, "no control key yet"),
                Err(e) => tracing::warn!(error = %e, "control key file unreadable; keeping the key read before"),
            }
        }
        known.clone()
    }

    /// Answers `Hello`: the proof over the caller's nonce and this process's boot nonce.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` for a nonce of the wrong length; `UNAVAILABLE` while no key is known.
    pub fn hello(&self, client_nonce: &[u8]) -> Result<rumi_proto::control::HelloReply, Status> {
        if client_nonce.len() != NONCE_LEN {
            return Err(Status::invalid_argument("client_nonce must be 32 bytes"));
        }
        let (key, _) = self.key().ok_or_else(|| {
            Status::unavailable("RUMI-INST-002: the helper has no control key yet (RUMI_CONTROL_KEY_FILE)")
        })?;
        Ok(rumi_proto::control::HelloReply {
            helper_nonce: self.nonce.to_vec(),
            proof: key.helper_proof(client_nonce, &self.nonce).to_vec(),
            pid: std::process::id(),
        })
    }

    /// Refuses a call that does not carry this helper's token (audited).
    ///
    /// # Errors
    /// `UNAUTHENTICATED` with `RUMI-INST-002`.
    pub fn check<T>(&self, req: &Request<T>, audit: &AuditBus) -> Result<(), Status> {
        let presented = req.metadata().get(TOKEN_METADATA).map(|v| v.as_bytes().to_vec());
        let expected = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(_, t)| t.clone());
        if let (Some(p), Some(t)) = (&presented, &expected)
            && t.matches(p)
        {
            return Ok(());
        }
        let mut details = Map::new();
        details.insert("token_presented".into(), Value::Bool(presented.is_some()));
        details.insert(
            "peer_pid".into(),
            req.extensions()
                .get::<tonic::transport::server::UdsConnectInfo>()
                .and_then(|i| i.peer_cred)
                .and_then(|c| c.pid())
                .map_or(Value::Null, Into::into),
        );
        audit.security("control_auth_refused", "critical", "", details);
        tracing::warn!("control call without this instance's control token refused");
        Err(Status::unauthenticated(
            "RUMI-INST-002: caller is not this instance's rumid (control token missing or wrong)",
        ))
    }
}
