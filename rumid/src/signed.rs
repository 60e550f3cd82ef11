//! HMAC-signed JSON state files.
//!
//! A signed file is a JSON object with one extra key, `_hmac_signature`: the lowercase hex
//! HMAC-SHA256, under the state signing key (see `rumi_common::token`), of the object's
//! **canonical form** with every key starting with `_hmac` removed. The canonical form is
//! compact JSON (no whitespace) with object keys sorted by their UTF-8 bytes at every
//! depth, and numbers and strings as `serde_json` writes them.
//!
//! Every write through a [`Signer`] also puts a generation in the object (`_generation`,
//! covered by the signature) and records it in the generation [`journal`], so an old but
//! validly signed copy of a file is refused like a forged one.
//!
//! # Security
//! A file that is not JSON, has no signature, whose signature does not verify, or whose
//! generation is not the journal's latest for it is never trusted: callers treat it as
//! absent (fail closed) and audit a critical `hmac_verification_failed`.

pub mod journal;

use std::fs;
use std::path::Path;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The signature key inside a signed object.
pub const SIGNATURE_FIELD: &str = "_hmac_signature";
/// The generation inside a signed object (see [`journal`]); covered by the signature.
pub const GENERATION_FIELD: &str = "_generation";
/// Largest signed file read; bigger files are treated as tampered.
pub const MAX_SIGNED_FILE_BYTES: u64 = 16 * 1024 * 1024;

pub use journal::{Journal, JournalError, Refusal, RefusalKind};

/// Why a signed file was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("unreadable: {0}")]
    Unreadable(String),
    #[error("not a JSON object")]
    NotAnObject,
    #[error("no signature")]
    Unsigned,
    #[error("signature does not match")]
    BadSignature,
    #[error("signed, but its generation is not a number")]
    BadGeneration,
    #[error("{0}")]
    Generation(Refusal),
    /// The file could not be read for a reason that says nothing about it (out of
    /// descriptors or memory, an I/O error): neither trusted nor tampered; try again later.
    #[error("cannot be read now: {0}")]
    Unavailable(String),
}

impl From<Refusal> for VerifyError {
    fn from(r: Refusal) -> Self {
        Self::Generation(r)
    }
}

/// The canonical bytes of `value` (sorted keys, compact), without `_hmac*` keys at the top.
pub fn canonical(value: &Map<String, Value>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let mut keys: Vec<&String> = value.keys().filter(|k| !k.starts_with("_hmac")).collect();
    keys.sort();
    out.push(b'{');
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_canonical(&Value::String(k.clone()), &mut out);
        out.push(b':');
        write_canonical(&value[k], &mut out);
    }
    out.push(b'}');
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(&Value::String(k.clone()), out);
                out.push(b':');
                write_canonical(&map[k], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => {
            // Scalars serialise the same in every mode; this cannot fail for a Value.
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

fn mac(key: &[u8; 32], object: &Map<String, Value>) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(&canonical(object));
    mac
}

/// Adds (or replaces) the signature of `object`.
pub fn sign(object: &mut Map<String, Value>, key: &[u8; 32]) {
    let sig = hex::encode(mac(key, object).finalize().into_bytes());
    object.insert(SIGNATURE_FIELD.to_owned(), Value::String(sig));
}

/// Checks the signature of `object` in constant time.
///
/// # Errors
/// [`VerifyError::Unsigned`] or [`VerifyError::BadSignature`].
pub fn verify(object: &Map<String, Value>, key: &[u8; 32]) -> Result<(), VerifyError> {
    let sig = object
        .get(SIGNATURE_FIELD)
        .and_then(Value::as_str)
        .ok_or(VerifyError::Unsigned)?;
    let sig = hex::decode(sig).map_err(|_| VerifyError::BadSignature)?;
    mac(key, object)
        .verify_slice(&sig)
        .map_err(|_| VerifyError::BadSignature)
}

/// Reads `path` and verifies its signature (not its generation: see [`Signer::read`]);
/// returns the object without its signature.
///
/// # Errors
/// [`VerifyError`] for unreadable, oversized, non-object, unsigned or mis-signed files.
pub fn read_verified(path: &Path, key: &[u8; 32]) -> Result<Map<String, Value>, VerifyError> {
    let mut object = read_object(path)?;
    verify(&object, key)?;
    object.remove(SIGNATURE_FIELD);
    Ok(object)
}

fn read_object(path: &Path) -> Result<Map<String, Value>, VerifyError> {
    let unreadable = |e: std::io::Error| {
        if crate::error::is_transient_io(&e) {
            VerifyError::Unavailable(e.to_string())
        } else {
            VerifyError::Unreadable(e.kind().to_string())
        }
    };
    let meta = fs::symlink_metadata(path).map_err(unreadable)?;
    if !meta.is_file() {
        return Err(VerifyError::Unreadable("not a regular file".into()));
    }
    if meta.len() > MAX_SIGNED_FILE_BYTES {
        return Err(VerifyError::Unreadable("too large".into()));
    }
    let bytes = fs::read(path).map_err(unreadable)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) | Err(_) => Err(VerifyError::NotAnObject),
    }
}

/// Serialises a signed object for writing (pretty, so operators can read it).
pub fn to_file_bytes(object: &Map<String, Value>) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(object).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// A signed file that was not used: what its audit line and log say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The file, relative to the home.
    pub file: String,
    pub reason: String,
    /// Set when the signature held but the generation did not.
    pub generation: Option<Refusal>,
    /// The file could not be read for a reason that says nothing about it (out of
    /// descriptors or memory, an I/O error): not tampering, nothing may be decided from it.
    pub unavailable: bool,
}

impl Refused {
    /// The critical `hmac_verification_failed` audit event for this file, naming it and,
    /// for a rollback, the file's and the journal's generations.
    pub fn event(&self, error_type: &str) -> crate::audit::AuditEvent {
        use crate::audit::{AuditEvent, Category, Severity};
        let mut event = AuditEvent::new(Category::Security, "hmac_verification_failed")
            .failed(Severity::Critical, error_type, self.reason.clone())
            .detail("file", self.file.clone());
        if let Some(r) = &self.generation {
            event = event
                .detail("tamper", r.kind.as_str())
                .detail("generation", r.generation)
                .detail("journal_generation", r.journal_generation);
        }
        event
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// What [`Signer::load_dir`] found: accepted values by id, and the refused files by id.
pub type Loaded<T> = (std::collections::BTreeMap<String, T>, Vec<(String, Refused)>);

/// Signs, writes and reads rumid's state files with the state key and the home's
/// generation [`Journal`]. Cheap to clone; every store holds one.
#[derive(Clone)]
pub struct Signer {
    key: [u8; 32],
    journal: Arc<Journal>,
}

// === impl Signer ===

impl Signer {
    /// Opens the home's generation journal (see [`Journal::open`]), logging and auditing
    /// what it repaired; a journal that cannot be used is audited as critical.
    ///
    /// # Errors
    /// [`JournalError`]: rumid must not start.
    pub fn open(home: &Path, key: [u8; 32], audit: &crate::audit::Audit) -> Result<Self, JournalError> {
        use crate::audit::{AuditEvent, Category, Severity};
        let (journal, opened) = match Journal::open(home, key) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(error = %e, "the generation journal cannot be used; signed state is not trusted");
                audit.record_blocking(
                    AuditEvent::new(Category::Security, "hmac_verification_failed")
                        .failed(Severity::Critical, e.error_type(), e.to_string())
                        .detail("file", journal::JOURNAL_FILE),
                );
                return Err(e);
            }
        };
        if opened.created {
            tracing::info!("generation journal created");
            audit.record_blocking(
                AuditEvent::new(Category::System, "generation_journal_created").detail("file", journal::JOURNAL_FILE),
            );
        }
        for (file, generation) in &opened.repaired {
            // The one write a crash can leave without its line; nothing is lost.
            tracing::warn!(file = %file, generation, "signed file one write ahead of the generation journal (a crash between the two); accepted and recorded");
            audit.record_blocking(
                AuditEvent::new(Category::Security, "generation_journal_repaired")
                    .severity(Severity::Warning)
                    .detail("file", file.clone())
                    .detail("generation", *generation),
            );
        }
        if let Some(file) = &opened.finished_deletion {
            tracing::warn!(file = %file, "finished a deletion a crash interrupted");
        }
        let hook_audit = audit.clone();
        journal.on_tamper(Box::new(move |file| {
            hook_audit.record_blocking(
                AuditEvent::new(Category::Security, "hmac_verification_failed")
                    .failed(
                        Severity::Critical,
                        "generation_journal_replaced",
                        "the generation journal was replaced or changed while rumid ran; written again from memory",
                    )
                    .detail("file", file.to_owned()),
            );
        }));
        Ok(Self {
            key,
            journal: Arc::new(journal),
        })
    }

    /// The state signing key.
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The journal's latest generation.
    pub fn generation(&self) -> u64 {
        self.journal.tail()
    }

    /// A refusal of `path` for `reason`, naming the file as the journal does.
    pub fn refused(&self, path: &Path, reason: impl Into<String>) -> Refused {
        Refused {
            file: self.journal.name(path),
            reason: reason.into(),
            generation: None,
            unavailable: false,
        }
    }

    fn refusal(&self, path: &Path, err: VerifyError) -> Refused {
        let generation = match &err {
            VerifyError::Generation(r) => Some(*r),
            _ => None,
        };
        Refused {
            generation,
            unavailable: matches!(err, VerifyError::Unavailable(_)),
            ..self.refused(path, err.to_string())
        }
    }

    /// Reads `path`, verifies its signature and checks its generation against the journal;
    /// returns the object without its signature and generation.
    ///
    /// # Errors
    /// The [`Refused`] file; its `generation` is set for an old copy put back.
    pub fn read(&self, path: &Path) -> Result<Map<String, Value>, Refused> {
        let mut read = None;
        let checked = self.journal.checked(path, || {
            let object = read_verified(path, &self.key)?;
            let generation = journal::generation_value(&object).ok_or(VerifyError::BadGeneration)?;
            read = Some(object);
            Ok::<_, VerifyError>(generation)
        });
        match (checked, read) {
            (Ok(()), Some(mut object)) => {
                object.remove(GENERATION_FIELD);
                Ok(object)
            }
            (Err(e), _) => Err(self.refusal(path, e)),
            (Ok(()), None) => Err(self.refused(path, "unreadable")),
        }
    }

    /// Signs `obj` with the next generation, writes it atomically with `mode`, and records
    /// the generation in the journal.
    ///
    /// # Errors
    /// I/O errors; the previous file is then untouched.
    pub fn store_object(&self, path: &Path, mut obj: Map<String, Value>, mode: u32) -> std::io::Result<()> {
        self.journal.put(path, |generation| {
            obj.insert(GENERATION_FIELD.to_owned(), Value::from(generation));
            sign(&mut obj, &self.key);
            rumi_common::fs::write_atomic(path, &to_file_bytes(&obj), mode)
        })
    }

    /// Writes `{field: value}` signed to `path` (see [`Signer::store_object`]).
    ///
    /// # Errors
    /// The write's I/O error (the previous file is untouched then).
    pub fn store_field(&self, path: &Path, field: &str, value: Value, mode: u32) -> std::io::Result<()> {
        let mut obj = Map::new();
        obj.insert(field.to_owned(), value);
        self.store_object(path, obj, mode)
    }

    /// Signs `value` (which must serialise to a JSON object) and writes it, mode 0600.
    ///
    /// # Errors
    /// I/O errors, or a value that is not an object; the previous file is then untouched.
    pub fn store<T: serde::Serialize>(&self, path: &Path, value: &T) -> std::io::Result<()> {
        match serde_json::to_value(value) {
            Ok(Value::Object(obj)) => self.store_object(path, obj, 0o600),
            _ => Err(std::io::Error::other("value did not serialise to a JSON object")),
        }
    }

    /// Removes `path`, recording the deletion first, so an old copy put back later is
    /// refused. A file that is already gone is not an error.
    ///
    /// # Errors
    /// I/O errors.
    pub fn remove(&self, path: &Path) -> std::io::Result<()> {
        self.journal.delete(path, || match fs::remove_file(path) {
            Ok(()) => rumi_common::fs::sync_dir(path.parent().unwrap_or(Path::new("."))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
    }

    /// Reads `field` of the signed file at `path` (one of rumid's single-file stores). A
    /// missing file gives the default. A file that fails verification (its signature or
    /// its generation) or does not deserialise also gives the default — a tampered store
    /// grants nothing — and is audited as a critical `hmac_verification_failed` with
    /// `error_type` and the file.
    pub fn load_field<T: serde::de::DeserializeOwned + Default>(
        &self,
        path: &Path,
        field: &str,
        audit: &crate::audit::Audit,
        error_type: &str,
    ) -> T {
        if fs::symlink_metadata(path).is_err() {
            return T::default();
        }
        let loaded = self.read(path).and_then(|o| {
            serde_json::from_value(o.get(field).cloned().unwrap_or(Value::Null))
                .map_err(|e| self.refused(path, format!("signed but malformed: {e}")))
        });
        match loaded {
            Ok(v) => v,
            // Out of descriptors or memory is not tampering: no critical audit line. The store
            // starts empty (it grants nothing) and says why.
            Err(refused) if refused.unavailable => {
                tracing::error!(file = %refused.file, reason = %refused.reason, "signed file cannot be read now; treated as empty until rumid restarts");
                T::default()
            }
            Err(refused) => {
                tracing::error!(file = %refused.file, reason = %refused.reason, "signed file failed verification; it is not used");
                audit.record_blocking(refused.event(error_type));
                T::default()
            }
        }
    }

    /// Loads every `<id>.json` in `dir` (created 0700 if missing; stale temp files removed):
    /// each must verify (signature and generation), deserialise, and name itself `id`
    /// (`id_of`). Returns the accepted values by id, and every refused file by id.
    ///
    /// # Errors
    /// When the directory cannot be created or read.
    pub fn load_dir<T: serde::de::DeserializeOwned>(
        &self,
        dir: &Path,
        id_of: impl Fn(&T) -> &str,
    ) -> std::io::Result<Loaded<T>> {
        rumi_common::fs::ensure_dir(dir, 0o700)?;
        rumi_common::fs::remove_stale_temps(dir);
        let mut ok = std::collections::BTreeMap::new();
        let mut refused = Vec::new();
        for entry in fs::read_dir(dir)?.flatten() {
            let path = entry.path();
            let Some(stem) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            let loaded = self
                .read(&path)
                .and_then(|o| {
                    serde_json::from_value::<T>(Value::Object(o))
                        .map_err(|e| self.refused(&path, format!("signed but malformed: {e}")))
                })
                .and_then(|v| {
                    if id_of(&v) == stem {
                        Ok(v)
                    } else {
                        Err(self.refused(&path, "file names another id"))
                    }
                });
            match loaded {
                Ok(v) => {
                    ok.insert(stem.to_owned(), v);
                }
                Err(why) => refused.push((stem.to_owned(), why)),
            }
        }
        Ok((ok, refused))
    }
}

/// Re-signs every signed `*.json` file below `dir` that verifies under `old` or already
/// under `new`, with `new`. Files that verify under neither are left untouched (they stay
/// tampered). Returns how many files were re-signed.
///
/// # Errors
/// I/O errors while walking or writing.
pub fn resign_tree(dir: &Path, old: &[u8; 32], new: &[u8; 32]) -> std::io::Result<usize> {
    let mut count = 0;
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(0);
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            count += resign_tree(&path, old, new)?;
            continue;
        }
        if !kind.is_file() || path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(mut object) = read_object(&path) else {
            continue;
        };
        if verify(&object, new).is_ok() || verify(&object, old).is_err() {
            continue;
        }
        sign(&mut object, new);
        rumi_common::fs::write_atomic(&path, &to_file_bytes(&object), 0o600)?;
        count += 1;
    }
    Ok(count)
}

/// Given the records that changed: every record once at load, then each record written.
pub type OnPut<T> = Box<dyn Fn(&[T]) + Send + Sync>;

/// A directory of signed `<id>.json` records (see [`Signer::load_dir`]) held in memory, with a
/// callback given each record written (never the whole set: a write costs the same whatever
/// the number of records). The grant stores are built on it.
pub struct SignedDir<T> {
    dir: std::path::PathBuf,
    signer: Signer,
    records: std::sync::Mutex<std::collections::BTreeMap<String, T>>,
    on_change: OnPut<T>,
}

impl<T: serde::Serialize + serde::de::DeserializeOwned + Clone> SignedDir<T> {
    /// Loads every record of `dir` and calls `on_change` once with all of them. Also returns
    /// `(id, reason)` for every refused file, for the caller to log and audit.
    ///
    /// # Errors
    /// When the directory cannot be created or read.
    pub fn load(
        dir: std::path::PathBuf,
        signer: Signer,
        id_of: impl Fn(&T) -> &str,
        on_change: OnPut<T>,
    ) -> std::io::Result<(Self, Vec<(String, Refused)>)> {
        let (records, refused) = signer.load_dir(&dir, id_of)?;
        on_change(&records.values().cloned().collect::<Vec<_>>());
        let this = Self {
            dir,
            signer,
            records: std::sync::Mutex::new(records),
            on_change,
        };
        Ok((this, refused))
    }

    /// The records, locked: hold the guard across a read-modify-[`put`](Self::put).
    pub fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, T>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `record` as `<id>.json` (signed, atomically), then holds it and calls
    /// `on_change` with it. When the write fails nothing changes.
    ///
    /// # Errors
    /// [`crate::error::Error::Io`] naming the file.
    pub fn put(
        &self,
        records: &mut std::collections::BTreeMap<String, T>,
        id: &str,
        record: T,
    ) -> crate::error::Result<()> {
        let path = self.dir.join(format!("{id}.json"));
        self.signer
            .store(&path, &record)
            .map_err(crate::error::Error::io("cannot write", &path))?;
        (self.on_change)(std::slice::from_ref(&record));
        records.insert(id.to_owned(), record);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn canonical_form_sorts_keys_and_ignores_hmac_fields() {
        let a = obj(json!({"b": 1, "a": {"z": [1, {"y": 2, "x": 1}], "c": "é"}, "_hmac_signature": "x"}));
        assert_eq!(
            String::from_utf8(canonical(&a)).unwrap(),
            r#"{"a":{"c":"é","z":[1,{"x":1,"y":2}]},"b":1}"#
        );
    }

    #[test]
    fn tampering_is_detected() {
        let key = [7u8; 32];
        let mut o = obj(json!({"pack_id": "p", "status": "blocked"}));
        sign(&mut o, &key);
        assert_eq!(verify(&o, &key), Ok(()));
        let mut edited = o.clone();
        edited.insert("status".into(), json!("approved"));
        assert_eq!(verify(&edited, &key), Err(VerifyError::BadSignature));
        assert_eq!(verify(&o, &[8u8; 32]), Err(VerifyError::BadSignature));
        let mut unsigned = o.clone();
        unsigned.remove(SIGNATURE_FIELD);
        assert_eq!(verify(&unsigned, &key), Err(VerifyError::Unsigned));
        let mut garbage = o;
        garbage.insert(SIGNATURE_FIELD.into(), json!("zz"));
        assert_eq!(verify(&garbage, &key), Err(VerifyError::BadSignature));
    }

    #[test]
    fn resign_tree_moves_valid_files_to_the_new_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = ([1u8; 32], [2u8; 32]);
        let mut good = obj(json!({"a": 1}));
        sign(&mut good, &old);
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/good.json"), to_file_bytes(&good)).unwrap();
        let mut bad = obj(json!({"a": 2}));
        sign(&mut bad, &[9u8; 32]);
        fs::write(dir.path().join("bad.json"), to_file_bytes(&bad)).unwrap();
        assert_eq!(resign_tree(dir.path(), &old, &new).unwrap(), 1);
        assert!(read_verified(&dir.path().join("sub/good.json"), &new).is_ok());
        assert!(read_verified(&dir.path().join("bad.json"), &new).is_err());
        // Running again (a resumed rotation) changes nothing.
        assert_eq!(resign_tree(dir.path(), &old, &new).unwrap(), 0);
    }
}
