//! Built-in capabilities: `secrets.get`, `store.*`. They skip the trust check (they are part
//! of Rumi) but, like every capability, need a grant, and each checks its own grant config
//! fail-closed: a missing or empty `allowed_keys` / `allowed_store_ids` denies everything.

pub mod exchange;

use serde_json::{Value, json};

use crate::capability::{Denied, Outcome};
use crate::policy::{Policy, root_pack};
use crate::stores::{self, StoreError, Stores};

/// Every built-in permission id.
pub use rumi_common::ids::BUILTIN_PERMISSIONS as BUILTINS;

/// The one answer to every refused or failed `secrets.get`, so a pack cannot tell a missing
/// key from a denied one.
pub const SECRET_DENIED: &str = "Access denied or secret not found";

fn list_contains(config: &Value, key: &str, item: &str) -> bool {
    config[key]
        .as_array()
        .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(item)))
}

/// `secrets.get {key}` → `{value}`.
pub fn secrets_get(secrets: &crate::secrets::Secrets, config: &Value, args: &Value) -> (Outcome, Option<String>) {
    let key = args["key"].as_str().unwrap_or_default();
    let deny = || Err(Denied::new("access_denied", SECRET_DENIED));
    if !crate::secrets::valid_key(key) || !list_contains(config, "allowed_keys", key) {
        return (deny(), Some(format!("key {key:?} not in allowed_keys")));
    }
    match secrets.get(key) {
        (Some(v), _) => (Ok(json!({"value": v.0})), None),
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
        return (
            Err(Denied::new("validation_error", "store_id is missing or invalid")),
            None,
        );
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
    let key = args["key"].as_str().unwrap_or_default();
    let result: Result<Value, StoreError> = match permission {
        "store.get" => stores
            .get(store_id, key)
            .map(|v| json!({"found": v.is_some(), "value": v})),
        "store.set" => {
            let max = config["max_value_bytes"]
                .as_u64()
                .map_or(stores::MAX_VALUE_BYTES, |n| (n as usize).min(stores::MAX_VALUE_BYTES));
            stores
                .set(store_id, key, &args["value"], max)
                .map(|()| json!({"stored": true}))
        }
        "store.delete" => stores.delete(store_id, key).map(|existed| json!({"deleted": existed})),
        "store.list" => stores
            .list_keys(store_id, args["prefix"].as_str().unwrap_or(""))
            .map(|keys| json!({"keys": keys})),
        "store.batch_get" => {
            let keys: Vec<String> = args["keys"]
                .as_array()
                .map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            stores
                .batch_get(store_id, &keys)
                .map(|(values, truncated)| json!({"values": values, "truncated": truncated}))
        }
        "store.cas" => {
            let expected = args.get("expected").filter(|v| !v.is_null());
            stores
                .cas(store_id, key, expected, &args["value"])
                .map(|(swapped, current)| json!({"swapped": swapped, "current": current}))
        }
        _ => return (Err(Denied::new("handler_not_found", "Permission denied")), None),
    };
    (result.map_err(|e| Denied::new(e.error_type(), &e.to_string())), None)
}
