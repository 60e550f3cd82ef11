//! The control key: what authenticates rumid and its helpers to each other.
//!
//! A helper serves exactly one rumid, the one of its instance. The uid check on the control
//! socket (SO_PEERCRED) cannot tell two instances of one user apart: a second rumid started
//! on the first one's control socket paths used to drive the first one's rumi-capd and
//! overwrite its secrets. So both ends hold a 32-byte control key and prove it:
//!
//! 1. rumid calls `Hello` with a fresh 32-byte nonce `c`;
//! 2. the helper answers its boot nonce `h` (random, chosen once per helper process) and
//!    `HMAC(key, "rumi/control/helper-proof/v1" || c || h)`; rumid checks it and talks to
//!    nothing that cannot produce it (a helper of another instance never sees a secret);
//! 3. every other call carries `hex(HMAC(key, "rumi/control/call/v1" || h))` in the
//!    `rumi-control-token` metadata; the helper compares it in constant time.
//!
//! The token is bound to the helper process (a new boot nonce at every start), so a token
//! never outlives the helper it was made for; only rumid, holding the key, can make one.
//!
//! By default the key is derived from the instance key, `HMAC(instance key,
//! "rumi/helper-control/v1")`: one-way, so a helper that holds it learns neither the API
//! token nor the state signing key. Spawned helpers get it in their environment
//! (`RUMI_CONTROL_KEY`, like `RUMI_SECRETS_KEY`); external helpers (systemd) read a key
//! file named by `RUMI_CONTROL_KEY_FILE`, which rumid reads too.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::token::InstanceKey;

type HmacSha256 = Hmac<Sha256>;

/// The control key, hex, given to a spawned helper. Secret: never logged.
pub const ENV_CONTROL_KEY: &str = "RUMI_CONTROL_KEY";
/// A file holding the control key (64 hex characters; others must have no permission).
/// rumid reads it (creating it when missing) instead of deriving the key from the instance
/// key; external helpers read it. Default: unset.
pub const ENV_CONTROL_KEY_FILE: &str = "RUMI_CONTROL_KEY_FILE";
/// Metadata key of the per-call token.
pub const TOKEN_METADATA: &str = "rumi-control-token";
/// Length of nonces and of the key, in bytes.
pub const NONCE_LEN: usize = 32;
/// Mode of a key file rumid creates: owner read/write, group read (the helpers' group
/// under systemd); never other.
pub const KEY_FILE_MODE: u32 = 0o640;

const DERIVE_LABEL: &[u8] = b"rumi/helper-control/v1";
const PROOF_LABEL: &[u8] = b"rumi/control/helper-proof/v1";
const CALL_LABEL: &[u8] = b"rumi/control/call/v1";

/// The control key. Its `Debug` never prints the bytes.
#[derive(Clone)]
pub struct ControlKey([u8; 32]);

/// Why a control key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ControlKeyError {
    #[error("cannot read control key file {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("control key file {path} is not 64 hex characters")]
    Malformed { path: String },
    #[error("control key file {path} has mode {mode:04o}; others must have no access (chmod 640)")]
    Mode { path: String, mode: u32 },
}

// === impl ControlKey ===

impl ControlKey {
    /// The control key of the instance whose key is `key`.
    pub fn derive(key: &InstanceKey) -> Self {
        Self(key.derive_labelled(DERIVE_LABEL))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        Self(rand::random())
    }

    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out).ok()?;
        Some(Self(out))
    }

    /// The key as 64 lowercase hex characters (for a child's environment or a key file).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Reads a key file; others must have no permission on it.
    ///
    /// # Errors
    /// [`ControlKeyError`] when the file is unreadable, malformed or readable by others.
    pub fn read(path: &Path) -> Result<Self, ControlKeyError> {
        let shown = path.display().to_string();
        let read_err = |source| ControlKeyError::Read {
            path: shown.clone(),
            source,
        };
        let mode = fs::metadata(path).map_err(read_err)?.permissions().mode() & 0o777;
        if mode & 0o007 != 0 {
            return Err(ControlKeyError::Mode { path: shown, mode });
        }
        let text = fs::read_to_string(path).map_err(read_err)?;
        Self::from_hex(&text).ok_or(ControlKeyError::Malformed { path: shown })
    }

    /// Reads the key file at `path`, creating it (random key, mode 0640, atomically) when it
    /// does not exist.
    ///
    /// # Errors
    /// As [`ControlKey::read`], or the write failed.
    pub fn read_or_create(path: &Path) -> Result<Self, ControlKeyError> {
        if !path.exists() {
            let key = Self::generate();
            crate::fs::write_atomic(path, format!("{}\n", key.to_hex()).as_bytes(), KEY_FILE_MODE).map_err(
                |source| ControlKeyError::Read {
                    path: path.display().to_string(),
                    source,
                },
            )?;
            return Ok(key);
        }
        Self::read(path)
    }

    /// The helper's proof over rumid's nonce and its own.
    pub fn helper_proof(&self, client_nonce: &[u8], helper_nonce: &[u8]) -> [u8; 32] {
        self.mac(&[PROOF_LABEL, client_nonce, helper_nonce])
    }

    /// Whether `proof` is the helper's proof over the two nonces (constant time).
    pub fn verifies(&self, client_nonce: &[u8], helper_nonce: &[u8], proof: &[u8]) -> bool {
        self.helper_proof(client_nonce, helper_nonce).ct_eq(proof).into()
    }

    /// The token of every call to the helper whose boot nonce is `helper_nonce`.
    pub fn call_token(&self, helper_nonce: &[u8]) -> CallToken {
        CallToken(hex::encode(self.mac(&[CALL_LABEL, helper_nonce])))
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for ControlKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ControlKey(<redacted>)")
    }
}

/// A per-call token (hex). Its `Debug` never prints it.
#[derive(Clone)]
pub struct CallToken(String);

// === impl CallToken ===

impl CallToken {
    /// The text sent in the metadata.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token, compared in constant time.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(presented).into()
    }
}

impl fmt::Debug for CallToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proof_and_token_hold_only_for_the_same_key_and_nonces() {
        let instance = InstanceKey::generate();
        let k = ControlKey::derive(&instance);
        assert_eq!(k.to_hex(), ControlKey::derive(&instance).to_hex(), "stable");
        let other = ControlKey::derive(&InstanceKey::generate());
        let (c, h) = ([1u8; 32], [2u8; 32]);
        let proof = k.helper_proof(&c, &h);
        assert!(k.verifies(&c, &h, &proof));
        assert!(!other.verifies(&c, &h, &proof), "another instance's key");
        assert!(!k.verifies(&[3u8; 32], &h, &proof), "another nonce");
        assert!(!k.verifies(&c, &h, &proof[..31]));
        let t = k.call_token(&h);
        assert!(t.matches(k.call_token(&h).expose().as_bytes()));
        assert!(!t.matches(other.call_token(&h).expose().as_bytes()));
        assert!(
            !t.matches(k.call_token(&c).expose().as_bytes()),
            "another helper process"
        );
        // The control key reveals neither the API token nor the signing key.
        assert_ne!(k.to_hex(), instance.api_token().expose());
        assert_ne!(k.to_hex(), hex::encode(instance.signing_key()));
        assert!(!format!("{k:?}{t:?}").contains(&k.to_hex()));
    }

    #[test]
    fn a_key_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.key");
        let k = ControlKey::read_or_create(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(ControlKey::read_or_create(&path).unwrap().to_hex(), k.to_hex());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(ControlKey::read(&path), Err(ControlKeyError::Mode { .. })));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, "short").unwrap();
        assert!(matches!(
            ControlKey::read(&path),
            Err(ControlKeyError::Malformed { .. })
        ));
    }
}
