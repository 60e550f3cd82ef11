//! Store data, owned by rumi-capd: one SQLite database in WAL mode,
//! `user_data/stores/stores.db`.
//!
//! `synchronous=NORMAL` in WAL mode: a committed write survives the process being killed
//! (`kill -9`); only a power loss may drop the last commits. Values are JSON.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

/// Most keys in one `store.batch_get`.
pub const MAX_BATCH_KEYS: usize = 100;
/// Largest `store.batch_get` answer (values' JSON bytes).
pub const MAX_BATCH_BYTES: usize = 900 * 1024;
/// Largest value of `store.cas`, and default `max_value_bytes` of `store.set`.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Most keys one `store.list` returns.
pub const MAX_LIST: usize = 1000;

/// Why a store operation failed; each maps to a capability `error_type`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store_id must match ^[a-zA-Z0-9_-]{{1,64}}$")]
    BadStoreId,
    #[error("key must match ^[a-zA-Z0-9_/.:-]{{1,512}}$ without '..' segments or leading/trailing '/'")]
    BadKey,
    #[error("store not found")]
    NotFound,
    #[error("store already exists")]
    Exists,
    #[error("value is larger than {0} bytes")]
    TooLarge(usize),
    #[error("too many keys (at most {MAX_BATCH_KEYS})")]
    TooManyKeys,
    #[error("the stores of pack {owner:?} would hold {would} {what}, more than their quota of {quota} ({var})")]
    QuotaExceeded {
        owner: String,
        what: &'static str,
        would: u64,
        quota: u64,
        var: &'static str,
    },
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
}

impl StoreError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::BadStoreId | Self::BadKey | Self::TooManyKeys => "validation_error",
            Self::NotFound => "store_not_found",
            Self::Exists => "store_exists",
            Self::TooLarge(_) => "payload_too_large",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::Db(_) => "write_error",
        }
    }
}

/// A store's summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoreInfo {
    pub store_id: String,
    pub owner_pack: String,
    pub created_at: String,
    pub keys: u64,
}

/// What all the stores one pack owns may hold together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Bytes of keys plus JSON values.
    pub bytes: u64,
    pub keys: u64,
}

pub struct Stores {
    db: Mutex<Connection>,
    quota: Quota,
}

pub fn valid_store_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub fn valid_key(key: &str) -> bool {
    (1..=512).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"_/.:-".contains(&b))
        && !key.starts_with('/')
        && !key.ends_with('/')
        && !key.split('/').any(|seg| seg == ".." || seg == "." || seg.is_empty())
}

impl Stores {
    /// Opens (or creates) the database under `dir`.
    ///
    /// # Errors
    /// When the database cannot be opened or migrated.
    pub fn open(dir: &Path, quota: Quota) -> Result<Self, StoreError> {
        let db = Connection::open(dir.join("stores.db"))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.pragma_update(None, "foreign_keys", "ON")?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS stores (
                 store_id TEXT PRIMARY KEY,
                 owner_pack TEXT NOT NULL DEFAULT '',
                 created_at TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS entries (
                 store_id TEXT NOT NULL REFERENCES stores(store_id),
                 key TEXT NOT NULL,
                 value TEXT NOT NULL,
                 version INTEGER NOT NULL,
                 updated_at TEXT NOT NULL,
                 PRIMARY KEY (store_id, key)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS usage (
                 owner_pack TEXT PRIMARY KEY,
                 bytes INTEGER NOT NULL,
                 keys INTEGER NOT NULL);
             DELETE FROM usage;
             INSERT INTO usage (owner_pack, bytes, keys)
                 SELECT s.owner_pack, COALESCE(SUM(length(e.key) + length(e.value)), 0), COUNT(e.key)
                 FROM stores s JOIN entries e ON e.store_id = s.store_id GROUP BY s.owner_pack;",
        )?;
        Ok(Self {
            db: Mutex::new(db),
            quota,
        })
    }

    /// Writes `text` at `key` inside an open transaction, keeping the owner's usage and
    /// refusing a write past the owner's [`Quota`]. Usage is kept per owner in its own
    /// table, so the check costs the same however much the stores hold.
    fn put_counted(
        &self,
        tx: &rusqlite::Transaction<'_>,
        store_id: &str,
        key: &str,
        text: &str,
    ) -> Result<(), StoreError> {
        let owner: String = tx.query_row("SELECT owner_pack FROM stores WHERE store_id = ?1", [store_id], |r| {
            r.get(0)
        })?;
        let old: Option<i64> = tx
            .query_row(
                "SELECT length(key) + length(value) FROM entries WHERE store_id = ?1 AND key = ?2",
                [store_id, key],
                |r| r.get(0),
            )
            .optional()?;
        let (bytes, keys): (i64, i64) = tx
            .query_row("SELECT bytes, keys FROM usage WHERE owner_pack = ?1", [&owner], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?
            .unwrap_or((0, 0));
        let size = i64::try_from(key.len() + text.len()).unwrap_or(i64::MAX);
        let new_bytes = bytes - old.unwrap_or(0) + size;
        let new_keys = keys + i64::from(old.is_none());
        let over = |what: &'static str, would: i64, quota: u64, var: &'static str| StoreError::QuotaExceeded {
            owner: owner.clone(),
            what,
            would: u64::try_from(would).unwrap_or(0),
            quota,
            var,
        };
        // Growing past the quota is refused; a write that shrinks (or keeps) the usage of a
        // pack already over it (the quota was lowered) is let through.
        if new_bytes > bytes && u64::try_from(new_bytes).unwrap_or(0) > self.quota.bytes {
            return Err(over("bytes", new_bytes, self.quota.bytes, "RUMI_STORE_QUOTA_BYTES"));
        }
        if new_keys > keys && u64::try_from(new_keys).unwrap_or(0) > self.quota.keys {
            return Err(over("keys", new_keys, self.quota.keys, "RUMI_STORE_QUOTA_KEYS"));
        }
        let ts = rumi_common::time::now_rfc3339();
        tx.execute(
            "INSERT INTO entries (store_id, key, value, version, updated_at) VALUES (?1, ?2, ?3, 1, ?4)
             ON CONFLICT(store_id, key) DO UPDATE SET value = excluded.value, version = version + 1, updated_at = excluded.updated_at",
            params![store_id, key, text, ts],
        )?;
        tx.execute(
            "INSERT INTO usage (owner_pack, bytes, keys) VALUES (?1, ?2, ?3)
             ON CONFLICT(owner_pack) DO UPDATE SET bytes = excluded.bytes, keys = excluded.keys",
            params![owner, new_bytes, new_keys],
        )?;
        Ok(())
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a store.
    ///
    /// # Errors
    /// Bad id, an existing store, or a database error.
    pub fn create(&self, store_id: &str, owner_pack: &str) -> Result<StoreInfo, StoreError> {
        if !valid_store_id(store_id) {
            return Err(StoreError::BadStoreId);
        }
        let ts = rumi_common::time::now_rfc3339();
        let n = self.conn().execute(
            "INSERT OR IGNORE INTO stores (store_id, owner_pack, created_at) VALUES (?1, ?2, ?3)",
            params![store_id, owner_pack, ts],
        )?;
        if n == 0 {
            return Err(StoreError::Exists);
        }
        Ok(StoreInfo {
            store_id: store_id.to_owned(),
            owner_pack: owner_pack.to_owned(),
            created_at: ts,
            keys: 0,
        })
    }

    /// Every store with its key count.
    ///
    /// # Errors
    /// Database errors.
    pub fn list(&self) -> Result<Vec<StoreInfo>, StoreError> {
        let db = self.conn();
        let mut stmt = db.prepare(
            "SELECT s.store_id, s.owner_pack, s.created_at, COUNT(e.key) FROM stores s
             LEFT JOIN entries e ON e.store_id = s.store_id GROUP BY s.store_id ORDER BY s.store_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(StoreInfo {
                store_id: r.get(0)?,
                owner_pack: r.get(1)?,
                created_at: r.get(2)?,
                keys: r.get::<_, i64>(3)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The owner pack of a store (empty when unowned), or `None` when it does not exist.
    ///
    /// # Errors
    /// Database errors.
    pub fn owner(&self, store_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT owner_pack FROM stores WHERE store_id = ?1", [store_id], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn check(&self, db: &Connection, store_id: &str, key: &str) -> Result<(), StoreError> {
        if !valid_store_id(store_id) {
            return Err(StoreError::BadStoreId);
        }
        if !valid_key(key) {
            return Err(StoreError::BadKey);
        }
        let exists: Option<i64> = db
            .query_row("SELECT 1 FROM stores WHERE store_id = ?1", [store_id], |r| r.get(0))
            .optional()?;
        exists.map(|_| ()).ok_or(StoreError::NotFound)
    }

    /// # Errors
    /// Validation, missing store, database.
    pub fn get(&self, store_id: &str, key: &str) -> Result<Option<Value>, StoreError> {
        let db = self.conn();
        self.check(&db, store_id, key)?;
        let text: Option<String> = db
            .query_row(
                "SELECT value FROM entries WHERE store_id = ?1 AND key = ?2",
                [store_id, key],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// # Errors
    /// Validation, size, missing store, database.
    pub fn set(&self, store_id: &str, key: &str, value: &Value, max_bytes: usize) -> Result<(), StoreError> {
        let text = value.to_string();
        if text.len() > max_bytes {
            return Err(StoreError::TooLarge(max_bytes));
        }
        let mut db = self.conn();
        self.check(&db, store_id, key)?;
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        self.put_counted(&tx, store_id, key, &text)?;
        tx.commit()?;
        Ok(())
    }

    /// Returns whether the key existed.
    ///
    /// # Errors
    /// Validation, missing store, database.
    pub fn delete(&self, store_id: &str, key: &str) -> Result<bool, StoreError> {
        let mut db = self.conn();
        self.check(&db, store_id, key)?;
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let size: Option<i64> = tx
            .query_row(
                "SELECT length(key) + length(value) FROM entries WHERE store_id = ?1 AND key = ?2",
                [store_id, key],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(size) = size {
            tx.execute("DELETE FROM entries WHERE store_id = ?1 AND key = ?2", [store_id, key])?;
            tx.execute(
                "UPDATE usage SET bytes = MAX(bytes - ?2, 0), keys = MAX(keys - 1, 0)
                 WHERE owner_pack = (SELECT owner_pack FROM stores WHERE store_id = ?1)",
                params![store_id, size],
            )?;
        }
        tx.commit()?;
        Ok(size.is_some())
    }

    /// Keys with the given prefix, sorted, at most [`MAX_LIST`].
    ///
    /// # Errors
    /// Validation, missing store, database.
    pub fn list_keys(&self, store_id: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let db = self.conn();
        self.check(&db, store_id, "x")?;
        let mut stmt = db.prepare(
            "SELECT key FROM entries WHERE store_id = ?1 AND substr(key, 1, length(?2)) = ?2 ORDER BY key LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![store_id, prefix, MAX_LIST as i64], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Values of up to [`MAX_BATCH_KEYS`] keys (missing keys are `null`); stops adding
    /// values once [`MAX_BATCH_BYTES`] would be exceeded and says so.
    ///
    /// # Errors
    /// Validation, missing store, database.
    pub fn batch_get(
        &self,
        store_id: &str,
        keys: &[String],
    ) -> Result<(serde_json::Map<String, Value>, bool), StoreError> {
        if keys.len() > MAX_BATCH_KEYS {
            return Err(StoreError::TooManyKeys);
        }
        let db = self.conn();
        self.check(&db, store_id, "x")?;
        let mut out = serde_json::Map::new();
        let mut total = 0usize;
        let mut truncated = false;
        let mut stmt = db.prepare_cached("SELECT value FROM entries WHERE store_id = ?1 AND key = ?2")?;
        for key in keys {
            if !valid_key(key) {
                return Err(StoreError::BadKey);
            }
            let text: Option<String> = stmt.query_row([store_id, key.as_str()], |r| r.get(0)).optional()?;
            let size = text.as_ref().map_or(4, String::len);
            if total + size > MAX_BATCH_BYTES {
                truncated = true;
                break;
            }
            total += size;
            out.insert(
                key.clone(),
                text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null),
            );
        }
        Ok((out, truncated))
    }

    /// Compare-and-swap: writes `value` only if the current value equals `expected`
    /// (`None`: the key must be absent). Returns whether it swapped and the current value.
    ///
    /// # Errors
    /// Validation, size, missing store, database.
    pub fn cas(
        &self,
        store_id: &str,
        key: &str,
        expected: Option<&Value>,
        value: &Value,
    ) -> Result<(bool, Option<Value>), StoreError> {
        let text = value.to_string();
        if text.len() > MAX_VALUE_BYTES {
            return Err(StoreError::TooLarge(MAX_VALUE_BYTES));
        }
        let mut db = self.conn();
        self.check(&db, store_id, key)?;
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current: Option<Value> = tx
            .query_row(
                "SELECT value FROM entries WHERE store_id = ?1 AND key = ?2",
                [store_id, key],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .and_then(|t| serde_json::from_str(&t).ok());
        if current.as_ref() != expected {
            return Ok((false, current));
        }
        self.put_counted(&tx, store_id, key, &text)?;
        tx.commit()?;
        Ok((true, Some(value.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const QUOTA: Quota = Quota {
        bytes: 64 * 1024 * 1024,
        keys: 100_000,
    };

    #[test]
    fn quotas_bound_each_owner_and_count_rewrites_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let small = Quota { bytes: 100, keys: 3 };
        let s = Stores::open(dir.path(), small).unwrap();
        s.create("a1", "alpha").unwrap();
        s.create("a2", "alpha").unwrap();
        s.create("b", "beta").unwrap();
        // 1-byte key + 40-byte value = 41 bytes each.
        let v = json!("x".repeat(38));
        s.set("a1", "k", &v, MAX_VALUE_BYTES).unwrap();
        s.set("a2", "k", &v, MAX_VALUE_BYTES).unwrap();
        // Across both of alpha's stores: 123 bytes would exceed 100.
        assert!(matches!(
            s.set("a1", "m", &v, MAX_VALUE_BYTES),
            Err(StoreError::QuotaExceeded { what: "bytes", .. })
        ));
        // Rewriting a key counts its new size only.
        s.set("a1", "k", &v, MAX_VALUE_BYTES).unwrap();
        // Another owner has a quota of its own.
        s.set("b", "k", &v, MAX_VALUE_BYTES).unwrap();
        // Deleting frees the space.
        assert!(s.delete("a2", "k").unwrap());
        s.set("a1", "m", &v, MAX_VALUE_BYTES).unwrap();
        // Keys: three small ones fit, the fourth does not.
        s.delete("a1", "m").unwrap();
        s.delete("a1", "k").unwrap();
        for k in ["x", "y", "z"] {
            s.set("a1", k, &json!(1), MAX_VALUE_BYTES).unwrap();
        }
        assert!(matches!(
            s.set("a1", "w", &json!(1), MAX_VALUE_BYTES),
            Err(StoreError::QuotaExceeded { what: "keys", .. })
        ));
        assert!(matches!(
            s.cas("a1", "w", None, &json!(1)),
            Err(StoreError::QuotaExceeded { what: "keys", .. })
        ));
        // Usage survives a reopen (recounted from the entries).
        drop(s);
        let s = Stores::open(dir.path(), small).unwrap();
        assert!(matches!(
            s.set("a1", "w", &json!(1), MAX_VALUE_BYTES),
            Err(StoreError::QuotaExceeded { what: "keys", .. })
        ));
        s.set("a1", "x", &json!(2), MAX_VALUE_BYTES).unwrap();
    }

    #[test]
    fn stores_hold_json_values_with_cas_and_batches() {
        let dir = tempfile::tempdir().unwrap();
        let s = Stores::open(dir.path(), QUOTA).unwrap();
        assert!(matches!(s.get("nope", "k"), Err(StoreError::NotFound)));
        s.create("notes", "alpha").unwrap();
        assert!(matches!(s.create("notes", "alpha"), Err(StoreError::Exists)));
        assert!(matches!(s.create("../x", ""), Err(StoreError::BadStoreId)));
        s.set("notes", "a/b", &json!({"x": 1}), MAX_VALUE_BYTES).unwrap();
        assert_eq!(s.get("notes", "a/b").unwrap(), Some(json!({"x": 1})));
        for bad in ["", "/a", "a/", "a/../b", "a//b", "a b", "ä"] {
            assert!(matches!(s.get("notes", bad), Err(StoreError::BadKey)), "{bad}");
        }
        assert!(matches!(
            s.set("notes", "big", &json!("x".repeat(100)), 50),
            Err(StoreError::TooLarge(50))
        ));
        assert!(s.cas("notes", "c", None, &json!(1)).unwrap().0);
        assert_eq!(s.cas("notes", "c", None, &json!(2)).unwrap(), (false, Some(json!(1))));
        assert!(s.cas("notes", "c", Some(&json!(1)), &json!(2)).unwrap().0);
        assert_eq!(s.list_keys("notes", "a/").unwrap(), ["a/b"]);
        let (vals, truncated) = s
            .batch_get("notes", &["a/b".into(), "c".into(), "missing".into()])
            .unwrap();
        assert!(!truncated);
        assert_eq!(vals["c"], json!(2));
        assert_eq!(vals["missing"], Value::Null);
        assert!(s.delete("notes", "c").unwrap());
        assert!(!s.delete("notes", "c").unwrap());
        assert_eq!(s.list().unwrap()[0].keys, 1);
        let too_many: Vec<String> = (0..101).map(|i| format!("k{i}")).collect();
        assert!(matches!(s.batch_get("notes", &too_many), Err(StoreError::TooManyKeys)));
    }
}
