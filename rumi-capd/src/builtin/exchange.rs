//! Built-ins through which packs talk to other packs, always as proposals that a human or
//! the receiving pack acts on: `pack.inbox.send` (a message into the target's inbox) and
//! `pack.update.propose_patch` (a staged change to the target's files; never applied here).
//!
//! # Security
//! Both need `allowed_target_packs` in the grant config (fail closed). The inbox also needs
//! the *receiving* pack's consent: an `addon_policy` in its `ecosystem.json` with
//! `mode: "allow"` and `editable_files` globs (anything else denies). `file_replace_json`
//! is denied unless that policy allows it, JSON-patch `move`/`copy` are refused, and every
//! file path is checked against traversal. Proposals are capped per target when the grant
//! sets `max_proposals_per_target`, and expire with `expires_at_epoch`.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::capability::{Denied, Outcome};
use crate::policy::root_pack;

/// Largest payload or change set accepted: 1 MiB.
const MAX_BYTES: usize = 1024 * 1024;
/// Most files in one proposal.
const MAX_CHANGES: usize = 50;

fn deny(reason: &str) -> (Outcome, Option<String>) {
    (Err(Denied::permission()), Some(reason.to_owned()))
}

fn invalid(msg: &str) -> (Outcome, Option<String>) {
    (Err(Denied::new("validation_error", msg)), None)
}

fn allowed_target(config: &Value, target: &str) -> bool {
    config["allowed_target_packs"]
        .as_array()
        .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(target)))
}

/// A relative path without traversal, absolute parts or empty segments.
fn safe_rel(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\0')
        && !p.split('/').any(|s| s.is_empty() || s == "." || s == "..")
}

fn pack_dir(home: &Path, pack: &str) -> Option<PathBuf> {
    let id = rumi_common::ids::PackId::parse(pack).ok()?;
    [
        home.join("ecosystem").join(id.as_str()),
        home.join("ecosystem/packs").join(id.as_str()),
    ]
    .into_iter()
    .find(|d| fs::symlink_metadata(d).is_ok_and(|m| m.is_dir()))
}

fn stamp() -> (String, String) {
    let now = Utc::now();
    let id = format!("{}-{:08x}", now.format("%Y%m%dT%H%M%S%6fZ"), rand::random::<u32>());
    (rumi_common::time::rfc3339(now), id)
}

/// `pack.inbox.send`.
pub fn inbox_send(home: &Path, principal: &str, config: &Value, args: &Value) -> (Outcome, Option<String>) {
    let to = args["to_pack_id"].as_str().unwrap_or_default();
    if !allowed_target(config, to) {
        return deny(&format!("{to:?} not in allowed_target_packs"));
    }
    let Some(target_dir) = pack_dir(home, to) else {
        return invalid("to_pack_id is not an installed pack");
    };
    let payload = &args["payload"];
    let kind = payload["kind"].as_str().unwrap_or_default();
    if !matches!(kind, "manifest_json_patch" | "file_json_patch" | "file_replace_json") {
        return invalid("payload.kind must be manifest_json_patch, file_json_patch or file_replace_json");
    }
    if payload.to_string().len() > MAX_BYTES {
        return invalid("payload larger than 1 MiB");
    }
    if let Some(ops) = payload["patch"].as_array()
        && ops.iter().any(|op| matches!(op["op"].as_str(), Some("move" | "copy")))
    {
        return deny("JSON patch move/copy operations are forbidden");
    }
    // The receiver's consent.
    let manifest: Value = fs::read(target_dir.join("ecosystem.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let policy = &manifest["addon_policy"];
    if !policy.is_object() || policy["mode"] != "allow" {
        return deny("the receiving pack has no addon_policy accepting messages");
    }
    if kind == "file_replace_json" && policy["allow_file_replace"] != true {
        return deny("file_replace_json is not allowed by the receiving pack");
    }
    if kind != "manifest_json_patch" {
        let file = payload["file"].as_str().unwrap_or_default();
        if !safe_rel(file) {
            return invalid("payload.file must be a relative path inside the pack");
        }
        let globs: Vec<&str> = policy["editable_files"]
            .as_array()
            .map(|l| l.iter().filter_map(|e| e["path_glob"].as_str()).collect())
            .unwrap_or_default();
        let editable = globs
            .iter()
            .any(|g| glob::Pattern::new(g).is_ok_and(|p| p.matches(file)));
        if !editable {
            return deny("payload.file is not in the receiving pack's editable_files");
        }
    }
    let (ts, id) = stamp();
    let message = json!({
        "schema": "inbox_request.v1",
        "id": id,
        "ts": ts,
        "from_principal": principal,
        "from_pack": root_pack(principal),
        "to_pack_id": to,
        "target_component": args["target_component"],
        "payload": payload,
        "priority": args["priority"].as_i64().unwrap_or(100),
        "request_id": args["request_id"],
        "notes": args["notes"].as_str().map(|s| s.chars().take(2000).collect::<String>()),
    });
    // Not under user_data/packs/<to>/: lib scripts can write there (and plant symlinks).
    let dir = home.join("user_data/inbox").join(to).join("v1");
    let write = rumi_common::fs::ensure_dir(&dir, 0o750).and_then(|()| {
        rumi_common::fs::write_atomic(&dir.join(format!("{id}.json")), message.to_string().as_bytes(), 0o640)
    });
    match write {
        // The original's shape; Rumi keeps no usage counters, so `consumed` is null.
        Ok(()) => (
            Ok(json!({
                "success": true,
                "stored_path": format!("user_data/inbox/{to}/v1/{id}.json"),
                "consumed": null,
                "rejected_ops": 0,
            })),
            None,
        ),
        Err(e) => (
            Err(Denied::new("write_error", "cannot write the message")),
            Some(e.to_string()),
        ),
    }
}

/// A change's target path: `path`, or the original's `file_path`.
fn change_path(change: &Value) -> &str {
    change["path"]
        .as_str()
        .or_else(|| change["file_path"].as_str())
        .unwrap_or_default()
}

/// `pack.update.propose_patch`: stages the proposal under `user_data/patches/<target>/<id>/`.
pub fn propose_patch(home: &Path, principal: &str, config: &Value, args: &Value) -> (Outcome, Option<String>) {
    let target = args["target_pack_id"].as_str().unwrap_or_default();
    if !allowed_target(config, target) {
        return deny(&format!("{target:?} not in allowed_target_packs"));
    }
    if let Some(exp) = config["expires_at_epoch"].as_i64()
        && Utc::now().timestamp() > exp
    {
        return deny("grant expired (expires_at_epoch)");
    }
    let Some(target_dir) = pack_dir(home, target) else {
        return invalid("target_pack_id is not an installed pack");
    };
    let Some(changes) = args["changes"]
        .as_array()
        .filter(|c| !c.is_empty() && c.len() <= MAX_CHANGES)
    else {
        return invalid("changes must be a list of 1-50 {path, content, sha256_before?}");
    };
    if args["changes"].to_string().len() > MAX_BYTES {
        return invalid("changes larger than 1 MiB");
    }
    let globs: Vec<glob::Pattern> = config["allowed_path_globs"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|g| g.as_str().and_then(|g| glob::Pattern::new(g).ok()))
                .collect()
        })
        .unwrap_or_default();
    for change in changes {
        let path = change_path(change);
        if !safe_rel(path) || !change["content"].is_string() {
            return invalid("each change needs a relative path and string content");
        }
        if !globs.iter().any(|g| g.matches(path)) {
            return deny(&format!("{path} not in allowed_path_globs"));
        }
        if let Some(before) = change["sha256_before"].as_str() {
            let current = fs::read(target_dir.join(path))
                .map(|b| hex::encode(Sha256::digest(b)))
                .unwrap_or_default();
            if current != before.to_ascii_lowercase() {
                return (
                    Err(Denied::new(
                        "hash_mismatch",
                        "sha256_before does not match the current file",
                    )),
                    None,
                );
            }
        }
    }
    let base = home.join("user_data/patches").join(target);
    if let Some(max) = config["max_proposals_per_target"].as_u64() {
        let existing = fs::read_dir(&base)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                fs::read(e.path().join("proposal.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .is_some_and(|p| p["from_principal"] == principal)
            })
            .count() as u64;
        if existing >= max {
            return deny("max_proposals_per_target reached");
        }
    }
    let (ts, id) = stamp();
    let proposal = json!({
        "schema": "patch_proposal.v1",
        "id": id,
        "ts": ts,
        "from_principal": principal,
        "target_pack_id": target,
        "status": "staged",
        "changes": changes.iter().map(|c| json!({"path": change_path(c), "sha256_before": c["sha256_before"], "sha256_after": hex::encode(Sha256::digest(c["content"].as_str().unwrap_or_default().as_bytes()))})).collect::<Vec<_>>(),
        "notes": args["notes"].as_str().map(|s| s.chars().take(2000).collect::<String>()),
    });
    let dir = base.join(&id);
    let write = || -> std::io::Result<()> {
        rumi_common::fs::ensure_dir(&dir.join("files"), 0o750)?;
        for c in changes {
            let dest = dir.join("files").join(change_path(c));
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent)?;
            }
            rumi_common::fs::write_atomic(&dest, c["content"].as_str().unwrap_or_default().as_bytes(), 0o640)?;
        }
        rumi_common::fs::write_atomic(&dir.join("proposal.json"), proposal.to_string().as_bytes(), 0o640)
    };
    match write() {
        Ok(()) => {
            let changed: Vec<&str> = changes.iter().map(change_path).collect();
            let total_bytes: usize = changes.iter().map(|c| c["content"].as_str().map_or(0, str::len)).sum();
            (
                Ok(json!({"success": true, "staging_id": id, "changed_paths": changed, "total_bytes": total_bytes})),
                None,
            )
        }
        Err(e) => (
            Err(Denied::new("write_error", "cannot stage the proposal")),
            Some(e.to_string()),
        ),
    }
}
