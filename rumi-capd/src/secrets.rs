//! The secrets store, owned by rumi-capd: `user_data/secrets/<KEY>.json`, one key per file,
//! the value a Fernet token. Deleting leaves a tombstone; every change is one line of
//! `journal.jsonl` (never the value, its length or its hash).
//!
//! Key: `RUMI_SECRETS_KEY`, else `user_data/settings/.secrets_key` (mode 0600), else, as the
//! guide's table says for `RUMI_SECRETS_ALLOW_PLAINTEXT`: `false` refuses to store anything,
//! `true` stores values in plaintext (marked so), `auto` generates a key into that file (and
//! stores in plaintext only when it cannot).
//!
//! # Security
//! Values never appear in logs, audit lines, errors or API responses; `Secret` has a
//! redacting `Debug`. The one way out is [`Secrets::get`], used by the `secrets.get`
//! capability after its grant check.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Config, Plaintext};

/// Largest secret value accepted: 1 MiB.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Prefix of every Fernet token (version byte 0x80, base64).
const FERNET_PREFIX: &str = "gAAAAA";

/// A secret value; `Debug` prints a placeholder.
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why a secrets operation failed. Messages never contain values.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret key must match ^[A-Z0-9_]{{1,64}}$")]
    BadKey,
    #[error("secret value is larger than {MAX_VALUE_BYTES} bytes")]
    TooLarge,
    #[error("secret {0} does not exist")]
    NotFound(String),
    #[error("no encryption key is configured and RUMI_SECRETS_ALLOW_PLAINTEXT=false refuses to store without one")]
    NoKey,
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        source: std::io::Error,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    key: String,
    value: String,
    created_at: String,
    updated_at: String,
    deleted_at: Option<String>,
    /// Stored without encryption (no key, and `RUMI_SECRETS_ALLOW_PLAINTEXT` allowed it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    plaintext: bool,
}

/// Metadata of one key (never its value).
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    pub key: String,
    pub exists: bool,
    pub deleted: bool,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
}

pub struct Secrets {
    dir: PathBuf,
    fernet: Option<fernet::Fernet>,
    allow_plaintext_read: bool,
}

/// Whether `key` is a valid secret name.
pub fn valid_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

impl Secrets {
    /// Opens the store, resolving the Fernet key.
    ///
    /// # Errors
    /// When the key file exists but is not a Fernet key, or directories cannot be created.
    pub fn open(config: &Config) -> Result<Self, SecretsError> {
        let io = |context| move |source| SecretsError::Io { context, source };
        let dir = config.home.join("user_data/secrets");
        rumi_common::fs::ensure_dir(&dir, 0o700).map_err(io("cannot create user_data/secrets"))?;
        rumi_common::fs::remove_stale_temps(&dir);
        let key_file = config.home.join("user_data/settings/.secrets_key");
        let fernet = match &config.secrets_key {
            Some(k) => fernet::Fernet::new(&k.0),
            None if key_file.exists() => {
                let text = fs::read_to_string(&key_file).map_err(io("cannot read .secrets_key"))?;
                Some(fernet::Fernet::new(text.trim()).ok_or(SecretsError::Io {
                    context: "user_data/settings/.secrets_key is not a Fernet key",
                    source: std::io::Error::other("malformed key file"),
                })?)
            }
            None if config.plaintext == Plaintext::Deny => None,
            // `true`: plaintext storage is allowed, so no key is made up; values are stored
            // encrypted only under a key the operator provides.
            None if config.plaintext == Plaintext::Allow => {
                tracing::warn!(
                    "RUMI_SECRETS_ALLOW_PLAINTEXT=true and no secrets key: values are stored WITHOUT ENCRYPTION"
                );
                None
            }
            None => {
                let key = fernet::Fernet::generate_key();
                // The settings directory is rumid's (under systemd capd only may write in it):
                // create it if missing, never change an existing one's mode.
                if let Some(parent) = key_file.parent() {
                    fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(parent)
                        .map_err(io("cannot create user_data/settings"))?;
                }
                // `auto` (the guide's table): encrypted when a key can be had, else plaintext.
                match rumi_common::fs::write_atomic(&key_file, format!("{key}\n").as_bytes(), 0o600) {
                    Ok(()) => {
                        tracing::info!(path = %key_file.display(), "generated the secrets key; back it up");
                        fernet::Fernet::new(&key)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, path = %key_file.display(), "cannot write a secrets key: values are stored WITHOUT ENCRYPTION (RUMI_SECRETS_ALLOW_PLAINTEXT=auto); set RUMI_SECRETS_KEY or fix the directory, or set it to false to refuse");
                        None
                    }
                }
            }
        };
        let allow_plaintext_read = match config.plaintext {
            Plaintext::Allow => true,
            Plaintext::Deny => false,
            // Values this store had to keep in plaintext must be readable.
            Plaintext::Auto => config.permissive || fernet.is_none(),
        };
        Ok(Self {
            dir,
            fernet,
            allow_plaintext_read,
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    fn read(&self, key: &str) -> Option<Record> {
        let bytes = fs::read(self.path(key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn write(&self, rec: &Record) -> Result<(), SecretsError> {
        let bytes = serde_json::to_vec_pretty(rec).unwrap_or_default();
        rumi_common::fs::write_atomic(&self.path(&rec.key), &bytes, 0o600).map_err(|source| SecretsError::Io {
            context: "cannot write secret",
            source,
        })
    }

    fn journal(&self, action: &str, key: &str) {
        let line =
            serde_json::json!({"ts": rumi_common::time::now_rfc3339(), "action": action, "key": key, "actor": "api"});
        let res = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(self.dir.join("journal.jsonl"))
            .and_then(|mut f| {
                let mut l = line.to_string();
                l.push('\n');
                f.write_all(l.as_bytes())?;
                f.sync_data()
            });
        if let Err(e) = res {
            tracing::error!(%e, "cannot append to the secrets journal");
        }
    }

    /// Sets a secret; returns whether it was created (also after a delete).
    ///
    /// # Errors
    /// Bad key, oversize value, no key under `false`, or I/O.
    pub fn set(&self, key: &str, value: &Secret) -> Result<bool, SecretsError> {
        if !valid_key(key) {
            return Err(SecretsError::BadKey);
        }
        if value.0.len() > MAX_VALUE_BYTES {
            return Err(SecretsError::TooLarge);
        }
        // Encrypted under the key; without one, in plaintext only where the policy allows
        // it (`auto` or `true`), else refused.
        if self.fernet.is_none() && !self.allow_plaintext_read {
            return Err(SecretsError::NoKey);
        }
        let ts = rumi_common::time::now_rfc3339();
        let previous = self.read(key).filter(|r| r.deleted_at.is_none());
        let rec = Record {
            key: key.to_owned(),
            plaintext: self.fernet.is_none(),
            value: match &self.fernet {
                Some(f) => f.encrypt(value.0.as_bytes()),
                None => value.0.clone(),
            },
            created_at: previous.as_ref().map_or_else(|| ts.clone(), |r| r.created_at.clone()),
            updated_at: ts,
            deleted_at: None,
        };
        self.write(&rec)?;
        self.journal("set", key);
        Ok(previous.is_none())
    }

    /// Deletes a secret, leaving a tombstone.
    ///
    /// # Errors
    /// Bad key, a key that does not exist (or is already deleted), or I/O.
    pub fn delete(&self, key: &str) -> Result<(), SecretsError> {
        if !valid_key(key) {
            return Err(SecretsError::BadKey);
        }
        let mut rec = self
            .read(key)
            .filter(|r| r.deleted_at.is_none())
            .ok_or_else(|| SecretsError::NotFound(key.to_owned()))?;
        let ts = rumi_common::time::now_rfc3339();
        rec.value = String::new();
        rec.updated_at.clone_from(&ts);
        rec.deleted_at = Some(ts);
        self.write(&rec)?;
        self.journal("deleted", key);
        Ok(())
    }

    /// Every key with its metadata, sorted.
    pub fn list(&self) -> Vec<Meta> {
        let mut out: Vec<Meta> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let key = name.strip_suffix(".json")?.to_owned();
                valid_key(&key).then_some(key)
            })
            .filter_map(|k| self.read(&k))
            .map(|r| Meta {
                exists: r.deleted_at.is_none(),
                deleted: r.deleted_at.is_some(),
                key: r.key,
                created_at: r.created_at,
                updated_at: r.updated_at,
                deleted_at: r.deleted_at,
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// The value of a secret, or `None` when missing, deleted or unreadable. A legacy
    /// plaintext value is returned only when the plaintext policy allows it, and is then
    /// re-encrypted in place. The second value says whether a plaintext value was met.
    pub fn get(&self, key: &str) -> (Option<Secret>, bool) {
        if !valid_key(key) {
            return (None, false);
        }
        let Some(rec) = self.read(key).filter(|r| r.deleted_at.is_none()) else {
            return (None, false);
        };
        if !rec.plaintext && rec.value.starts_with(FERNET_PREFIX) {
            let value = self
                .fernet
                .as_ref()
                .and_then(|f| f.decrypt(&rec.value).ok())
                .and_then(|b| String::from_utf8(b).ok());
            return (value.map(Secret), false);
        }
        if !self.allow_plaintext_read {
            return (None, true);
        }
        let value = Secret(rec.value.clone());
        if self.fernet.is_some() {
            let _ = self.set(key, &value);
        }
        (Some(value), true)
    }

    /// Directory of the store (for tests and diagnostics).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumi_common::env::MapEnv;

    fn config(home: &Path, extra: &[(&str, &str)]) -> Config {
        let key = "ab".repeat(32);
        let mut pairs = vec![
            ("RUMI_HOME", home.to_str().unwrap()),
            ("RUMI_CONTROL_KEY", key.as_str()),
        ];
        pairs.extend_from_slice(extra);
        Config::load(&MapEnv::from_pairs(pairs)).unwrap()
    }

    #[test]
    fn values_are_encrypted_tombstoned_and_journalled_without_values() {
        let home = tempfile::tempdir().unwrap();
        let s = Secrets::open(&config(home.path(), &[])).unwrap();
        assert!(s.set("API_KEY", &Secret("sk-very-secret".into())).unwrap());
        assert!(!s.set("API_KEY", &Secret("sk-very-secret-2".into())).unwrap());
        let raw = fs::read_to_string(s.dir().join("API_KEY.json")).unwrap();
        assert!(!raw.contains("sk-very-secret"));
        assert!(raw.contains("gAAAAA"));
        assert_eq!(s.get("API_KEY").0.unwrap().0, "sk-very-secret-2");
        s.delete("API_KEY").unwrap();
        assert!(s.get("API_KEY").0.is_none());
        assert!(matches!(s.delete("API_KEY"), Err(SecretsError::NotFound(_))));
        assert!(
            s.set("API_KEY", &Secret("again".into())).unwrap(),
            "set after delete creates"
        );
        let journal = fs::read_to_string(s.dir().join("journal.jsonl")).unwrap();
        assert_eq!(journal.lines().count(), 4);
        assert!(!journal.contains("sk-very") && !journal.contains("again"));
        for bad in ["", "lower", "A-B", &"A".repeat(65), "../X"] {
            assert!(
                matches!(s.set(bad, &Secret("v".into())), Err(SecretsError::BadKey)),
                "{bad}"
            );
        }
        let key_file = home.path().join("user_data/settings/.secrets_key");
        let mode = std::os::unix::fs::PermissionsExt::mode(&fs::metadata(key_file).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
        assert!(!format!("{:?}", s.get("API_KEY").0).contains("again"));
    }

    #[test]
    fn plaintext_policy_controls_legacy_values_and_missing_keys() {
        let home = tempfile::tempdir().unwrap();
        let s = Secrets::open(&config(home.path(), &[])).unwrap();
        let legacy = r#"{"key":"OLD","value":"plain","created_at":"x","updated_at":"x","deleted_at":null}"#;
        fs::write(s.dir().join("OLD.json"), legacy).unwrap();
        let (value, plaintext) = s.get("OLD");
        assert!(value.is_none() && plaintext, "strict + auto refuses plaintext values");
        let p = Secrets::open(&config(home.path(), &[("RUMI_SECURITY_MODE", "permissive")])).unwrap();
        assert_eq!(p.get("OLD").0.unwrap().0, "plain");
        assert!(
            fs::read_to_string(p.dir().join("OLD.json")).unwrap().contains("gAAAAA"),
            "migrated"
        );

        let strict_home = tempfile::tempdir().unwrap();
        let d = Secrets::open(&config(
            strict_home.path(),
            &[("RUMI_SECRETS_ALLOW_PLAINTEXT", "false")],
        ))
        .unwrap();
        assert!(matches!(d.set("K", &Secret("v".into())), Err(SecretsError::NoKey)));
        assert!(!strict_home.path().join("user_data/settings/.secrets_key").exists());
    }
}
