//! Built-in capabilities: `secrets.get`, `store.*`. They skip the trust check (they are part
//! of Rumi) but, like every capability, need a grant, and each checks its own grant config
//! fail-closed: a missing or empty `allowed_keys` / `allowed_store_ids` denies everything.
//!
//! Their answers have the original system's shapes (DECISIONS #21), so packs written for it
//! run unchanged: every success is an object with `"success": true` and the operation's
//! fields (`store.get` → `{success, value}`), and every failure is a [`Denied`] whose
//! `error_type` is the original's (`key_not_found`, `conflict`, `read_error`, …).

pub mod exchange;

use serde_json::{Map, Value, json};

use crate::capability::{Denied, Outcome};
use crate::policy::{Policy, root_pack};
use crate::stores::{self, StoreError, Stores};

/// Every built-in permission id.
pub use rumi_common::ids::BUILTIN_PERMISSIONS as BUILTINS;

/// The one answer to every refused or failed `secrets.get`, so a pack cannot tell a missing
/// key from a denied one.
pub const SECRET_DENIED: &str = "Access denied or secret not found";

/// `store.list` page size when the caller asks for pages (`limit` or `cursor`) without a
/// `limit`; the original's default.
const LIST_DEFAULT_LIMIT: usize = 100;

fn list_contains(config: &Value, key: &str, item: &str) -> bool {
    config[key]
        .as_array()
        .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(item)))
}

/// A success answer: `{"success": true}` plus `fields`.
fn success(fields: Value) -> Value {
    let mut out = Map::new();
    out.insert("success".into(), Value::Bool(true));
    if let Value::Object(m) = fields {
        out.extend(m);
    }
    Value::Object(out)
}

fn invalid(message: &str) -> Denied {
    Denied::new("validation_error", message)
}

/// `secrets.get {key}` → `{success, value}`.
///
/// # Security
/// Every refusal, a malformed key included, is the same `access_denied`
/// [`SECRET_DENIED`], so a pack cannot probe which keys exist.
pub fn secrets_get(secrets: &crate::secrets::Secrets, config: &Value, args: &Value) -> (Outcome, Option<String>) {
    let key = args["key"].as_str().unwrap_or_default();
    let deny = || Err(Denied::new("access_denied", SECRET_DENIED));
    if !crate::secrets::valid_key(key) || !list_contains(config, "allowed_keys", key) {
        return (deny(), Some(format!("key {key:?} not in allowed_keys")));
    }
    match secrets.get(key) {
        (Some(v), _) => (Ok(success(json!({"value": v.0}))), None),
        (None, true) => (deny(), Some("plaintext value refused by policy".into())),
        (None, false) => (deny(), Some("secret missing or deleted".into())),
    }
}

/// `store.*`: checks `allowed_store_ids`, ownership or an approved share, then runs the op.
pub fn store(
    stores: &Stores,
    policy: &Policy,
    principal: &str,
    permission: &str,
    config: &Value,
    args: &Value,
) -> (Outcome, Option<String>) {
    let store_id = args["store_id"].as_str().unwrap_or_default();
    if !stores::valid_store_id(store_id) {
        return (Err(invalid("store_id is missing or invalid")), None);
    }
    if !list_contains(config, "allowed_store_ids", store_id) {
        return (
            Err(Denied::permission()),
            Some(format!("store {store_id} not in allowed_store_ids")),
        );
    }
    let pack = root_pack(principal);
    match stores.owner(store_id) {
        Ok(None) => return (Err(Denied::new("store_not_found", "store not found")), None),
        Ok(Some(owner)) if !owner.is_empty() && owner != pack && !policy.shared(store_id, &owner, pack) => {
            return (
                Err(Denied::permission()),
                Some(format!("store {store_id} belongs to {owner} and is not shared")),
            );
        }
        Ok(Some(_)) => {}
        Err(e) => return (Err(Denied::new(e.error_type(), &e.to_string())), None),
    }
    let outcome = match permission {
        "store.get" => store_get(stores, store_id, args),
        "store.set" => store_set(stores, store_id, config, args),
        "store.delete" => store_delete(stores, store_id, args),
        "store.list" => store_list(stores, store_id, args),
        "store.batch_get" => store_batch_get(stores, store_id, args),
        "store.cas" => store_cas(stores, store_id, args),
        _ => Err(Denied::new("handler_not_found", "Permission denied")),
    };
    (outcome, None)
}

/// A store failure as the caller sees it; a database failure is named after the operation
/// (`read_error`, `write_error`, `delete_error`, …), as the original's handlers did.
fn store_error(e: &StoreError, db_error_type: &str) -> Denied {
    match e {
        StoreError::Db(_) => Denied::new(db_error_type, &e.to_string()),
        _ => Denied::new(e.error_type(), &e.to_string()),
    }
}

fn key_arg(args: &Value) -> Result<&str, Denied> {
    args["key"]
        .as_str()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| invalid("Missing or invalid key"))
}

fn key_not_found(key: &str) -> Denied {
    Denied::new("key_not_found", &format!("Key not found: {key}"))
}

/// `store.get {store_id, key}` → `{success, value}`; a missing key is `key_not_found`.
fn store_get(stores: &Stores, store_id: &str, args: &Value) -> Outcome {
    let key = key_arg(args)?;
    match stores.get(store_id, key) {
        Ok(Some(value)) => Ok(success(json!({"value": value}))),
        Ok(None) => Err(key_not_found(key)),
        Err(e) => Err(store_error(&e, "read_error")),
    }
}

/// `store.set {store_id, key, value}` → `{success, path}` (`path` is `<store_id>/<key>`,
/// the entry's name; stores are not files). A missing or `null` value is refused.
fn store_set(stores: &Stores, store_id: &str, config: &Value, args: &Value) -> Outcome {
    let key = key_arg(args)?;
    let value = args
        .get("value")
        .filter(|v| !v.is_null())
        .ok_or_else(|| invalid("Missing value"))?;
    let max = config["max_value_bytes"].as_u64().map_or(stores::MAX_VALUE_BYTES, |n| {
        usize::try_from(n).unwrap_or(usize::MAX).min(stores::MAX_VALUE_BYTES)
    });
    stores
        .set(store_id, key, value, max)
        .map(|()| success(json!({"path": format!("{store_id}/{key}")})))
        .map_err(|e| store_error(&e, "write_error"))
}

/// `store.delete {store_id, key}` → `{success}`; a missing key is `key_not_found`.
fn store_delete(stores: &Stores, store_id: &str, args: &Value) -> Outcome {
    let key = key_arg(args)?;
    match stores.delete(store_id, key) {
        Ok(true) => Ok(success(json!({}))),
        Ok(false) => Err(key_not_found(key)),
        Err(e) => Err(store_error(&e, "delete_error")),
    }
}

/// `store.list {store_id, prefix?, limit?, cursor?}` →
/// `{success, keys, next_cursor, has_more, total_estimate}`. Without `limit` and `cursor`
/// every key (of the first [`stores::MAX_LIST`]); otherwise a page of `limit` keys (default
/// 100, clamped to 1–1000) after `cursor`, whose `next_cursor` is its last key.
fn store_list(stores: &Stores, store_id: &str, args: &Value) -> Outcome {
    let limit = match args.get("limit") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| invalid("Invalid limit (must be integer)"))?),
    };
    let cursor = match args.get("cursor") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_str().ok_or_else(|| invalid("Invalid cursor (must be string)"))?),
    };
    let prefix = args["prefix"].as_str().unwrap_or("");
    let all = stores
        .list_keys(store_id, prefix)
        .map_err(|e| store_error(&e, "internal_error"))?;
    let total = all.len();
    if limit.is_none() && cursor.is_none() {
        return Ok(success(
            json!({"keys": all, "next_cursor": null, "has_more": false, "total_estimate": total}),
        ));
    }
    let limit = limit.map_or(LIST_DEFAULT_LIMIT, |n| {
        usize::try_from(n.clamp(1, stores::MAX_LIST as i64)).unwrap_or(1)
    });
    let after: Vec<String> = all
        .into_iter()
        .filter(|k| cursor.is_none_or(|c| k.as_str() > c))
        .collect();
    let has_more = after.len() > limit;
    let keys: Vec<String> = after.into_iter().take(limit).collect();
    let next_cursor = if has_more { keys.last().cloned() } else { None };
    Ok(success(
        json!({"keys": keys, "next_cursor": next_cursor, "has_more": has_more, "total_estimate": total}),
    ))
}

/// `store.batch_get {store_id, keys}` → `{success, results, found, not_found, truncated,
/// warnings}`: `results` maps every requested key to its value or `null`; `found`,
/// `not_found` and `truncated` count keys; once the values reach 900 KiB the remaining keys
/// are `null`, counted in `truncated`, with a warning.
fn store_batch_get(stores: &Stores, store_id: &str, args: &Value) -> Outcome {
    let keys: Vec<String> = args["keys"]
        .as_array()
        .filter(|a| !a.is_empty())
        .and_then(|a| a.iter().map(|k| k.as_str().map(str::to_owned)).collect())
        .ok_or_else(|| invalid("Missing or invalid keys"))?;
    let (values, _) = stores
        .batch_get(store_id, &keys)
        .map_err(|e| store_error(&e, "internal_error"))?;
    let mut results = Map::new();
    let (mut found, mut not_found, mut truncated) = (0usize, 0usize, 0usize);
    let mut warnings = Vec::new();
    for key in &keys {
        if results.contains_key(key) {
            continue;
        }
        match values.get(key) {
            Some(Value::Null) => not_found += 1,
            Some(_) => found += 1,
            None => {
                if truncated == 0 {
                    warnings.push(format!(
                        "Response size limit (900KB) exceeded at key '{key}'. Remaining keys returned as null."
                    ));
                }
                truncated += 1;
            }
        }
        results.insert(key.clone(), values.get(key).cloned().unwrap_or(Value::Null));
    }
    Ok(success(json!({
        "results": results, "found": found, "not_found": not_found,
        "truncated": truncated, "warnings": warnings,
    })))
}

/// `store.cas {store_id, key, expected_value?, new_value}` → `{success, store_id, key}`.
/// The write happens only if the current value equals `expected_value`; an absent or
/// `null` `expected_value` means "only if the key does not exist". Otherwise `conflict`.
/// Rumi's earlier names `expected` and `value` are accepted too.
fn store_cas(stores: &Stores, store_id: &str, args: &Value) -> Outcome {
    let key = key_arg(args)?;
    let new_value = args
        .get("new_value")
        .or_else(|| args.get("value"))
        .ok_or_else(|| invalid("new_value is required"))?;
    let expected = args
        .get("expected_value")
        .or_else(|| args.get("expected"))
        .filter(|v| !v.is_null());
    match stores.cas(store_id, key, expected, new_value) {
        Ok((true, _)) => Ok(success(json!({"store_id": store_id, "key": key}))),
        Ok((false, current)) => Err(Denied::new(
            "conflict",
            match (expected, current) {
                (None, _) => "Key already exists but expected it to be missing",
                (Some(_), None) => "Key does not exist but expected_value was provided",
                (Some(_), Some(_)) => "Value mismatch (conflict)",
            },
        )),
        Err(e) => Err(store_error(&e, "io_error")),
    }
}

#[cfg(test)]
mod tests;
