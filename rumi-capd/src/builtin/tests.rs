//! The built-ins' answer shapes, which packs written for the original system rely on.

use rumi_common::env::MapEnv;
use serde_json::{Value, json};

use super::*;
use crate::secrets::{Secret, Secrets};

const ALPHA: &str = "alpha";

fn open_stores() -> (tempfile::TempDir, Stores) {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::open(
        dir.path(),
        crate::stores::Quota {
            bytes: 1 << 30,
            keys: 1 << 20,
        },
    )
    .unwrap();
    stores.create("notes", ALPHA).unwrap();
    (dir, stores)
}

fn grant() -> Value {
    json!({"allowed_store_ids": ["notes"]})
}

/// Calls a store built-in as `alpha` and returns its output or `(error_type, error)`.
fn call(stores: &Stores, permission: &str, args: Value) -> Result<Value, (String, String)> {
    let (outcome, _) = store(stores, &Policy::default(), ALPHA, permission, &grant(), &args);
    outcome.map_err(|d| (d.error_type, d.message))
}

fn error_type(r: Result<Value, (String, String)>) -> String {
    r.expect_err("a failure").0
}

#[test]
fn get_set_and_delete_answer_with_success_and_the_original_fields() {
    let (_dir, s) = open_stores();
    let set = call(
        &s,
        "store.set",
        json!({"store_id": "notes", "key": "k/1", "value": {"n": 1}}),
    );
    assert_eq!(set.unwrap(), json!({"success": true, "path": "notes/k/1"}));
    let got = call(&s, "store.get", json!({"store_id": "notes", "key": "k/1"}));
    assert_eq!(got.unwrap(), json!({"success": true, "value": {"n": 1}}));
    let missing = call(&s, "store.get", json!({"store_id": "notes", "key": "nope"}));
    assert_eq!(
        missing.unwrap_err(),
        ("key_not_found".to_owned(), "Key not found: nope".to_owned())
    );
    assert_eq!(
        call(&s, "store.delete", json!({"store_id": "notes", "key": "k/1"})).unwrap(),
        json!({"success": true})
    );
    let again = call(&s, "store.delete", json!({"store_id": "notes", "key": "k/1"}));
    assert_eq!(error_type(again), "key_not_found");
}

#[test]
fn bad_arguments_are_validation_errors_listed_one_by_one() {
    let (_dir, s) = open_stores();
    for (permission, args) in [
        ("store.get", json!({"store_id": "notes"})),
        ("store.get", json!({"store_id": "notes", "key": "../x"})),
        ("store.set", json!({"store_id": "notes", "key": "k"})),
        ("store.set", json!({"store_id": "notes", "key": "k", "value": null})),
        ("store.list", json!({"store_id": "notes", "limit": "ten"})),
        ("store.list", json!({"store_id": "notes", "cursor": 5})),
        ("store.batch_get", json!({"store_id": "notes", "keys": []})),
        ("store.batch_get", json!({"store_id": "notes", "keys": ["a", 1]})),
        ("store.cas", json!({"store_id": "notes", "key": "c"})),
        ("store.get", json!({"store_id": "../etc", "key": "k"})),
    ] {
        let r = call(&s, permission, args.clone());
        assert_eq!(error_type(r), "validation_error", "{permission} {args}");
    }
    let r = call(&s, "store.set", json!({"store_id": "other", "key": "k", "value": 1}));
    assert_eq!(error_type(r), "grant_denied", "store not in allowed_store_ids");
}

#[test]
fn list_returns_every_key_or_pages_with_a_cursor() {
    let (_dir, s) = open_stores();
    for k in ["a/1", "a/2", "a/3", "b"] {
        call(&s, "store.set", json!({"store_id": "notes", "key": k, "value": k})).unwrap();
    }
    let all = call(&s, "store.list", json!({"store_id": "notes", "prefix": "a/"})).unwrap();
    assert_eq!(
        all,
        json!({"success": true, "keys": ["a/1", "a/2", "a/3"], "next_cursor": null, "has_more": false, "total_estimate": 3})
    );
    let page = call(&s, "store.list", json!({"store_id": "notes", "limit": 2})).unwrap();
    assert_eq!(
        (
            page["keys"].clone(),
            page["next_cursor"].clone(),
            page["has_more"].clone()
        ),
        (json!(["a/1", "a/2"]), json!("a/2"), json!(true))
    );
    assert_eq!(page["total_estimate"], 4);
    let next = call(
        &s,
        "store.list",
        json!({"store_id": "notes", "limit": 2, "cursor": "a/2"}),
    )
    .unwrap();
    assert_eq!(
        (
            next["keys"].clone(),
            next["next_cursor"].clone(),
            next["has_more"].clone()
        ),
        (json!(["a/3", "b"]), Value::Null, json!(false))
    );
    let clamped = call(&s, "store.list", json!({"store_id": "notes", "limit": 0})).unwrap();
    assert_eq!(clamped["keys"], json!(["a/1"]), "limit is at least 1");
}

#[test]
fn batch_get_maps_every_key_and_counts_found_and_missing() {
    let (_dir, s) = open_stores();
    call(&s, "store.set", json!({"store_id": "notes", "key": "a", "value": 1})).unwrap();
    let r = call(
        &s,
        "store.batch_get",
        json!({"store_id": "notes", "keys": ["a", "none"]}),
    )
    .unwrap();
    assert_eq!(
        r,
        json!({"success": true, "results": {"a": 1, "none": null}, "found": 1, "not_found": 1, "truncated": 0, "warnings": []})
    );
    let big = "x".repeat(600 * 1024);
    for k in ["b1", "b2"] {
        call(&s, "store.set", json!({"store_id": "notes", "key": k, "value": big})).unwrap();
    }
    let r = call(
        &s,
        "store.batch_get",
        json!({"store_id": "notes", "keys": ["b1", "b2", "a"]}),
    )
    .unwrap();
    assert_eq!((r["found"].clone(), r["truncated"].clone()), (json!(1), json!(2)));
    assert_eq!(r["results"]["b2"], Value::Null);
    assert_eq!(r["warnings"].as_array().map(Vec::len), Some(1));
}

#[test]
fn cas_takes_the_original_argument_names_and_conflicts_as_a_failure() {
    let (_dir, s) = open_stores();
    let create = call(
        &s,
        "store.cas",
        json!({"store_id": "notes", "key": "c", "new_value": 1}),
    );
    assert_eq!(
        create.unwrap(),
        json!({"success": true, "store_id": "notes", "key": "c"})
    );
    let exists = call(
        &s,
        "store.cas",
        json!({"store_id": "notes", "key": "c", "new_value": 2}),
    );
    assert_eq!(error_type(exists), "conflict");
    let stale = call(
        &s,
        "store.cas",
        json!({"store_id": "notes", "key": "c", "expected_value": 5, "new_value": 2}),
    );
    assert_eq!(stale.unwrap_err().1, "Value mismatch (conflict)");
    let swap = call(
        &s,
        "store.cas",
        json!({"store_id": "notes", "key": "c", "expected_value": 1, "new_value": 2}),
    );
    assert_eq!(swap.unwrap()["success"], true);
    // Rumi's earlier names still work.
    let swap = call(
        &s,
        "store.cas",
        json!({"store_id": "notes", "key": "c", "expected": 2, "value": 3}),
    );
    assert_eq!(swap.unwrap()["success"], true);
    let got = call(&s, "store.get", json!({"store_id": "notes", "key": "c"})).unwrap();
    assert_eq!(got["value"], 3);
}

#[test]
fn secrets_get_answers_the_value_or_one_uniform_denial() {
    let home = tempfile::tempdir().unwrap();
    let config = crate::config::Config::load(&MapEnv::from_pairs(vec![
        ("RUMI_HOME", home.path().to_str().unwrap()),
        ("RUMI_CONTROL_KEY", &"ab".repeat(32)),
    ]))
    .unwrap();
    let secrets = Secrets::open(&config).unwrap();
    secrets.set("API_KEY", &Secret("sk-1".into())).unwrap();
    secrets.set("OTHER", &Secret("sk-2".into())).unwrap();
    let grant = json!({"allowed_keys": ["API_KEY", "GONE"]});
    let get = |key: Value| secrets_get(&secrets, &grant, &json!({ "key": key })).0;

    assert_eq!(
        get(json!("API_KEY")).unwrap(),
        json!({"success": true, "value": "sk-1"})
    );
    // Not granted, missing, and malformed keys all get the same answer.
    for key in [json!("OTHER"), json!("GONE"), json!("lower"), json!(""), json!(null)] {
        let d = get(key.clone()).unwrap_err();
        assert_eq!(
            (d.error_type.as_str(), d.message.as_str()),
            ("access_denied", SECRET_DENIED),
            "{key}"
        );
    }
}
