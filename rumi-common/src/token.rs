//! The instance key (`user_data/settings/.hmac_key`) and what is derived from it.
//!
//! The key file holds 32 random bytes as 64 lowercase hex characters. Two independent
//! values are derived from it with HMAC-SHA256 over fixed labels:
//!
//! - the **API token**: `hex(HMAC-SHA256(key, "rumi/api-token/v1"))`, the bearer token of
//!   the HTTP API;
//! - the **state signing key**: `HMAC-SHA256(key, "rumi/state-signing/v1")`, which signs
//!   approval records and grants.
//!
//! Because both are one-way derivations, the token does not reveal the signing key and a
//! leaked token cannot forge state files. Rotating the key changes both.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Length of the key in bytes.
pub const KEY_LEN: usize = 32;
/// Mode of the key file: owner read/write only.
pub const KEY_FILE_MODE: u32 = 0o600;

const TOKEN_LABEL: &[u8] = b"rumi/api-token/v1";
const SIGNING_LABEL: &[u8] = b"rumi/state-signing/v1";

/// The instance key. Its `Debug` never prints the bytes.
#[derive(Clone)]
pub struct InstanceKey([u8; KEY_LEN]);

/// The API bearer token. Its `Debug` prints only a fingerprint.
#[derive(Clone)]
pub struct ApiToken(String);

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("key file {path} is not 64 hex characters")]
    Malformed { path: String },
    #[error("key file {path} has mode {mode:04o}; it must be readable by its owner only (chmod 600)")]
    Mode { path: String, mode: u32 },
}

impl InstanceKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(rand::random())
    }

    /// Reads and validates a key file. The file must have no group or other permissions.
    ///
    /// # Errors
    /// [`KeyError`] when the file is unreadable, malformed or too permissive.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let meta = fs::metadata(path).map_err(|source| KeyError::Read {
            path: shown.clone(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Mode { path: shown, mode });
        }
        let text = fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_hex(text.trim()).ok_or(KeyError::Malformed { path: shown })
    }

    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; KEY_LEN];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }

    /// The file form of the key: 64 lowercase hex characters and a newline.
    pub fn to_file_contents(&self) -> String {
        format!("{}\n", hex::encode(self.0))
    }

    /// The API token derived from this key.
    pub fn api_token(&self) -> ApiToken {
        ApiToken(hex::encode(self.derive(TOKEN_LABEL)))
    }

    /// The key that signs state files, derived from this key.
    pub fn signing_key(&self) -> [u8; 32] {
        self.derive(SIGNING_LABEL)
    }

    /// A value derived from this key under `label` (for [`crate::control_key`]).
    pub(crate) fn derive_labelled(&self, label: &[u8]) -> [u8; 32] {
        self.derive(label)
    }

    fn derive(&self, label: &[u8]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC accepts keys of any length");
        mac.update(label);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InstanceKey(<redacted>)")
    }
}

impl ApiToken {
    /// The token text, for sending in `Authorization: Bearer`.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The first 8 characters, safe to log.
    pub fn fingerprint(&self) -> &str {
        &self.0[..8]
    }

    /// Whether `presented` is this token, compared in constant time.
    ///
    /// # Security
    /// The comparison time does not depend on where the strings differ, so the token cannot
    /// be guessed byte by byte from response timings.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(presented).into()
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiToken({}…)", self.fingerprint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_stable_and_differs_per_key() {
        let k = InstanceKey::from_hex(&"ab".repeat(32)).unwrap();
        let again = InstanceKey::from_hex(&"ab".repeat(32)).unwrap();
        assert_eq!(k.api_token().expose(), again.api_token().expose());
        assert_eq!(k.api_token().expose().len(), 64);
        let other = InstanceKey::generate();
        assert_ne!(k.api_token().expose(), other.api_token().expose());
        assert_ne!(k.signing_key().to_vec(), hex::decode(k.api_token().expose()).unwrap());
    }

    #[test]
    fn token_compare_rejects_near_misses() {
        let t = InstanceKey::generate().api_token();
        assert!(t.matches(t.expose().as_bytes()));
        let mut near = t.expose().as_bytes().to_vec();
        near[63] = if near[63] == b'0' { b'1' } else { b'0' };
        assert!(!t.matches(&near));
        assert!(!t.matches(&t.expose().as_bytes()[..63]));
        assert!(!t.matches(b""));
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn key_file_must_be_private_and_well_formed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".hmac_key");
        let key = InstanceKey::generate();
        fs::write(&path, key.to_file_contents()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(InstanceKey::read(&path), Err(KeyError::Mode { .. })));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let read = InstanceKey::read(&path).unwrap();
        assert_eq!(read.api_token().expose(), key.api_token().expose());
        fs::write(&path, "short").unwrap();
        assert!(matches!(InstanceKey::read(&path), Err(KeyError::Malformed { .. })));
    }
}
