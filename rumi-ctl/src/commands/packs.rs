//! `rumi-ctl packs …`.

use anyhow::Result;
use serde_json::{Value, json};

use crate::cli::{Cli, PacksCommand};
use crate::client::{Client, seg};
use crate::output::{self, col, field, outln, text, time};

pub fn run(cli: &Cli, cmd: &PacksCommand) -> Result<()> {
    let client = Client::new(cli)?;
    let data = match cmd {
        PacksCommand::List => client.call("GET", "/api/packs", None)?,
        PacksCommand::Pending => client.call("GET", "/api/packs/pending", None)?,
        PacksCommand::Status { pack_id } => client.call("GET", &format!("/api/packs/{}/status", seg(pack_id)), None)?,
        PacksCommand::Scan => client.call("POST", "/api/packs/scan", None)?,
        PacksCommand::Approve { pack_id } => {
            client.call("POST", &format!("/api/packs/{}/approve", seg(pack_id)), None)?
        }
        PacksCommand::Reject { pack_id, reason } => client.call(
            "POST",
            &format!("/api/packs/{}/reject", seg(pack_id)),
            Some(json!({ "reason": reason })),
        )?,
        PacksCommand::Uninstall { pack_id } => client.call("DELETE", &format!("/api/packs/{}", seg(pack_id)), None)?,
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
            client.call("DELETE", &format!("/api/packs/staging/{}", seg(staging_id)), None)?
        }
    };
    if cli.json {
        return output::json(&data);
    }
    let style = cli.style();
    match cmd {
        PacksCommand::List | PacksCommand::Pending => output::table(style, &PACK_COLUMNS, items(&data["packs"]))?,
        PacksCommand::Status { .. } => print_status(&data)?,
        PacksCommand::Scan if cli.quiet => {}
        PacksCommand::Scan => {
            outln!(
                "discovered {} pack(s); new: {}; modified: {}; invalid: {}",
                field(&data, "discovered"),
                join(&data["new"]),
                join(&data["modified"]),
                data["invalid"].as_array().map_or(0, Vec::len)
            )?;
            for bad in data["invalid"].as_array().into_iter().flatten() {
                outln!(
                    "  invalid {}: {} {}",
                    field(bad, "dir"),
                    field(&bad["problem"], "code"),
                    field(&bad["problem"], "message")
                )?;
            }
        }
        PacksCommand::Approve { .. } | PacksCommand::Reject { .. } => {
            output::done(
                style,
                &format!("{}: {}", field(&data, "pack_id"), field(&data, "status")),
            )?;
        }
        PacksCommand::Uninstall { .. } => output::done(
            style,
            &format!(
                "{}: uninstalled (backup in {})",
                field(&data, "pack_id"),
                field(&data, "backup")
            ),
        )?,
        // With -q only the staging id, for `id=$(rumi-ctl -q packs import …)`.
        PacksCommand::Import { .. } if cli.quiet => outln!("{}", field(&data, "staging_id"))?,
        PacksCommand::Import { .. } => outln!(
            "staged {} ({} files, {} bytes) as {}; install it with `rumi-ctl packs apply {}`",
            field(&data, "pack_id"),
            field(&data, "files"),
            field(&data, "bytes"),
            field(&data, "staging_id"),
            field(&data, "staging_id")
        )?,
        PacksCommand::Staging => output::table(
            style,
            &[
                col("STAGING_ID", "staging_id"),
                col("PACK", "pack_id"),
                col("FROM", "input_type"),
                col("FILES", "files"),
                time("IMPORTED", "imported_at"),
            ],
            items(&data["staged"]),
        )?,
        PacksCommand::Apply { .. } => {
            let a = &data["applied"];
            let message = if a["replaced"] == true {
                format!(
                    "{}: replaced (previous version in {}); now {}: review and approve it",
                    field(a, "pack_id"),
                    field(a, "backup"),
                    field(&data["pack"], "status")
                )
            } else {
                format!(
                    "{}: installed; now {}: review and approve it",
                    field(a, "pack_id"),
                    field(&data["pack"], "status")
                )
            };
            output::done(style, &message)?;
        }
        PacksCommand::Discard { .. } => output::done(style, &format!("{}: discarded", field(&data, "staging_id")))?,
    }
    Ok(())
}

/// The columns of `packs list` and `packs pending`.
const PACK_COLUMNS: [output::Column; 5] = [
    col("PACK", "pack_id"),
    col("STATUS", "status"),
    col("VERSION", "version"),
    col("ERROR", "error.code"),
    text("NAME", "name"),
];

/// The items of a JSON array (none if it is not one).
fn items(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
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

fn print_status(d: &Value) -> Result<()> {
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
            outln!("{key:<17} {}", field(d, key))?;
        }
    }
    if d["error"].is_object() {
        outln!(
            "{:<17} {} {}",
            "error",
            field(&d["error"], "code"),
            field(&d["error"], "message")
        )?;
    }
    if let Some(ch) = d["changes"].as_object() {
        for kind in ["added", "changed", "removed"] {
            for p in ch.get(kind).and_then(Value::as_array).into_iter().flatten() {
                outln!("  {kind:<8} {}", p.as_str().unwrap_or_default())?;
            }
        }
    }
    Ok(())
}
