//! `rumi-ctl packs …`.

use anyhow::Result;
use serde_json::{Value, json};

use crate::cli::{Cli, PacksCommand};
use crate::client::Client;
use crate::output::{self, field};

#[allow(clippy::print_stdout)]
pub fn run(cli: &Cli, cmd: &PacksCommand) -> Result<()> {
    let client = Client::new(cli)?;
    let data = match cmd {
        PacksCommand::List => client.call("GET", "/api/packs", None)?,
        PacksCommand::Pending => client.call("GET", "/api/packs/pending", None)?,
        PacksCommand::Status { pack_id } => client.call("GET", &format!("/api/packs/{pack_id}/status"), None)?,
        PacksCommand::Scan => client.call("POST", "/api/packs/scan", None)?,
        PacksCommand::Approve { pack_id } => client.call("POST", &format!("/api/packs/{pack_id}/approve"), None)?,
        PacksCommand::Reject { pack_id, reason } => client.call(
            "POST",
            &format!("/api/packs/{pack_id}/reject"),
            Some(json!({ "reason": reason })),
        )?,
        PacksCommand::Uninstall { pack_id } => client.call("DELETE", &format!("/api/packs/{pack_id}"), None)?,
        PacksCommand::Import { path, notes } => {
            let path = std::path::absolute(path)?;
            client.call(
                "POST",
                "/api/packs/import",
                Some(json!({ "path": path, "notes": notes })),
            )?
        }
        PacksCommand::Staging => client.call("GET", "/api/packs/staging", None)?,
        PacksCommand::Apply { staging_id } => client.call(
            "POST",
            "/api/packs/apply",
            Some(json!({ "staging_id": staging_id, "mode": "replace" })),
        )?,
        PacksCommand::Discard { staging_id } => {
            client.call("DELETE", &format!("/api/packs/staging/{staging_id}"), None)?
        }
    };
    if cli.json {
        output::json(&data);
        return Ok(());
    }
    match cmd {
        PacksCommand::List | PacksCommand::Pending => print_list(&data),
        PacksCommand::Status { .. } => print_status(&data),
        PacksCommand::Scan => {
            println!(
                "discovered {} pack(s); new: {}; modified: {}; invalid: {}",
                field(&data, "discovered"),
                join(&data["new"]),
                join(&data["modified"]),
                data["invalid"].as_array().map_or(0, Vec::len)
            );
            for bad in data["invalid"].as_array().into_iter().flatten() {
                println!(
                    "  invalid {}: {} {}",
                    field(bad, "dir"),
                    field(&bad["problem"], "code"),
                    field(&bad["problem"], "message")
                );
            }
        }
        PacksCommand::Approve { .. } | PacksCommand::Reject { .. } => {
            println!("{}: {}", field(&data, "pack_id"), field(&data, "status"));
        }
        PacksCommand::Uninstall { .. } => {
            println!(
                "{}: uninstalled (backup in {})",
                field(&data, "pack_id"),
                field(&data, "backup")
            );
        }
        PacksCommand::Import { .. } => {
            println!(
                "staged {} ({} files, {} bytes) as {}; install it with `rumi-ctl packs apply {}`",
                field(&data, "pack_id"),
                field(&data, "files"),
                field(&data, "bytes"),
                field(&data, "staging_id"),
                field(&data, "staging_id")
            );
        }
        PacksCommand::Staging => {
            let rows: Vec<Vec<String>> = data["staged"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    vec![
                        field(s, "staging_id"),
                        field(s, "pack_id"),
                        field(s, "input_type"),
                        field(s, "files"),
                        field(s, "imported_at"),
                    ]
                })
                .collect();
            output::table(&["STAGING ID", "PACK", "FROM", "FILES", "IMPORTED"], &rows);
        }
        PacksCommand::Apply { .. } => {
            let a = &data["applied"];
            if a["replaced"] == true {
                println!(
                    "{}: replaced (previous version in {}); now {}: review and approve it",
                    field(a, "pack_id"),
                    field(a, "backup"),
                    field(&data["pack"], "status")
                );
            } else {
                println!(
                    "{}: installed; now {}: review and approve it",
                    field(a, "pack_id"),
                    field(&data["pack"], "status")
                );
            }
        }
        PacksCommand::Discard { .. } => println!("{}: discarded", field(&data, "staging_id")),
    }
    Ok(())
}

fn join(v: &Value) -> String {
    let items: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect();
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

fn print_list(data: &Value) {
    let rows: Vec<Vec<String>> = data["packs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            vec![
                field(p, "pack_id"),
                field(p, "status"),
                field(p, "version"),
                field(p, "name"),
                p["error"]["code"].as_str().unwrap_or("").to_owned(),
            ]
        })
        .collect();
    output::table(&["PACK", "STATUS", "VERSION", "NAME", "ERROR"], &rows);
}

#[allow(clippy::print_stdout)]
fn print_status(d: &Value) {
    for key in [
        "pack_id",
        "status",
        "name",
        "version",
        "pack_identity",
        "path",
        "approved_at",
        "approved_files",
        "rejection_reason",
        "record_problem",
    ] {
        if !d[key].is_null() {
            println!("{key:<17} {}", field(d, key));
        }
    }
    if let Some(err) = d["error"].as_object() {
        println!(
            "{:<17} {} {}",
            "error",
            field(&Value::Object(err.clone()), "code"),
            field(&Value::Object(err.clone()), "message")
        );
    }
    if let Some(ch) = d["changes"].as_object() {
        for kind in ["added", "changed", "removed"] {
            for p in ch.get(kind).and_then(Value::as_array).into_iter().flatten() {
                println!("  {kind:<8} {}", p.as_str().unwrap_or_default());
            }
        }
    }
}
