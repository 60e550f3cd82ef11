//! The instance key file: creation on first start, and rotation.
//!
//! `user_data/settings/.hmac_key` (mode 0600) is created on first start. The API token and
//! the state signing key are derived from it (`rumi_common::token`).
//!
//! Rotation (`RUMI_HMAC_ROTATE=true`) must not orphan the signed state: the new key is first
//! written to `.hmac_key.next`, every signed file that verifies under the old key is
//! re-signed under the new one, and only then is `.hmac_key.next` renamed over `.hmac_key`.
//! If rumid dies half-way, the next start finds `.hmac_key.next` and finishes the job, so
//! a crash never leaves approvals signed by a key that no longer exists.

use std::fs;
use std::path::{Path, PathBuf};

use rumi_common::token::{InstanceKey, KEY_FILE_MODE};

use crate::audit::{Audit, AuditEvent, Category, Severity};

/// File name of the instance key inside `user_data/settings/`.
pub const KEY_FILE: &str = ".hmac_key";
const NEXT_KEY_FILE: &str = ".hmac_key.next";
/// Records which key the last `RUMI_HMAC_ROTATE=true` start produced, so that the variable
/// rotates **once** (the guide) however many starts it stays set for.
const ROTATED_FILE: &str = ".hmac_rotated";

/// A digest naming a key without revealing anything of it (first 16 hex digits of the
/// SHA-256 of its file contents).
fn digest(key: &InstanceKey) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(key.to_file_contents().as_bytes())[..8])
}

/// Why the key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    #[error(transparent)]
    Key(#[from] rumi_common::token::KeyError),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Loads the instance key from `settings`, creating it on first start, finishing an
/// interrupted rotation, and rotating when `rotate` is set.
///
/// # Errors
/// [`KeyLoadError`] when the key file is unreadable, malformed or too permissive, or a
/// write fails. rumid refuses to start then: silently generating a new key would make
/// every approval look tampered.
pub fn load_or_create(settings: &Path, rotate: bool, audit: &Audit) -> Result<InstanceKey, KeyLoadError> {
    let path = settings.join(KEY_FILE);
    let next = settings.join(NEXT_KEY_FILE);
    let write = |p: &Path, k: &InstanceKey| {
        rumi_common::fs::write_atomic(p, k.to_file_contents().as_bytes(), KEY_FILE_MODE).map_err(|source| {
            KeyLoadError::Write {
                path: p.to_path_buf(),
                source,
            }
        })
    };

    let rotated = settings.join(ROTATED_FILE);
    let mark = |k: &InstanceKey| {
        rumi_common::fs::write_atomic(
            &rotated,
            format!("{} {}\n", digest(k), rumi_common::time::now_rfc3339()).as_bytes(),
            KEY_FILE_MODE,
        )
        .map_err(|source| KeyLoadError::Write {
            path: rotated.clone(),
            source,
        })
    };
    if !rotate {
        // The variable is off: the next time it is set, it rotates again.
        let _ = fs::remove_file(&rotated);
    }

    if !path.exists() {
        let key = InstanceKey::generate();
        write(&path, &key)?;
        if rotate {
            // A new key is this start's rotation.
            mark(&key)?;
        }
        tracing::info!(path = %path.display(), "created instance key");
        audit.record_blocking(AuditEvent::new(Category::Security, "hmac_key_created"));
        let _ = fs::remove_file(&next);
        return Ok(key);
    }
    let mut key = InstanceKey::read(&path)?;

    if next.exists() {
        let new = InstanceKey::read(&next)?;
        tracing::warn!("finishing an interrupted key rotation");
        key = finish_rotation(settings, &key, new, &path, &next)?;
        audit.record_blocking(
            AuditEvent::new(Category::Security, "hmac_key_rotated")
                .severity(Severity::Warning)
                .detail("resumed", true),
        );
    }
    let done = fs::read_to_string(&rotated).ok();
    let already = done
        .as_deref()
        .and_then(|d| d.split_whitespace().next())
        .is_some_and(|d| d == digest(&key));
    if rotate && already {
        tracing::warn!(
            rotated_at = done.as_deref().and_then(|d| d.split_whitespace().nth(1)).unwrap_or("?"),
            "RUMI_HMAC_ROTATE is still set, but this key is the one it produced: not rotating again; unset it (or set it to false) so that a later true rotates once more"
        );
    } else if rotate {
        let new = InstanceKey::generate();
        write(&next, &new)?;
        // Marked before the switch: a rotation resumed after a crash is this same one.
        mark(&new)?;
        key = finish_rotation(settings, &key, new, &path, &next)?;
        tracing::warn!("instance key rotated; the previous API token no longer works");
        audit.record_blocking(AuditEvent::new(Category::Security, "hmac_key_rotated").severity(Severity::Warning));
    }
    Ok(key)
}

fn finish_rotation(
    settings: &Path,
    old: &InstanceKey,
    new: InstanceKey,
    path: &Path,
    next: &Path,
) -> Result<InstanceKey, KeyLoadError> {
    // Every signed file lives below one of the signed roots; the generation journal's lines
    // are signed too.
    let mut resigned = 0;
    let home = settings
        .parent()
        .and_then(Path::parent)
        .unwrap_or(settings)
        .to_path_buf();
    let (old_key, new_key) = (old.signing_key(), new.signing_key());
    for root in crate::signed::journal::SIGNED_ROOTS {
        let dir = home.join(root);
        resigned += crate::signed::resign_tree(&dir, &old_key, &new_key).map_err(|source| KeyLoadError::Write {
            path: dir.clone(),
            source,
        })?;
    }
    let journal = home.join(crate::signed::journal::JOURNAL_FILE);
    crate::signed::journal::resign(&journal, &old_key, &new_key)
        .map_err(|source| KeyLoadError::Write { path: journal, source })?;
    fs::rename(next, path)
        .and_then(|()| rumi_common::fs::sync_dir(settings))
        .map_err(|source| KeyLoadError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    tracing::info!(files = resigned, "re-signed state files under the new key");
    Ok(new)
}
