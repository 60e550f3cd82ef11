//! `rumi-ctl network|capability|secrets|stores|flows|docker|image|privileges|pip …`.

use std::io::{IsTerminal, Read};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::cli::{
    CapabilityCommand, Cli, DockerCommand, FlowsCommand, ImageCommand, NetworkCommand, PipCommand, PrivilegesCommand,
    RoutesCommand, SecretsCommand, StoresCommand, UnitsCommand,
};
use crate::client::{Client, seg as enc};
use crate::output::{self, Column, col, errln, field, outln, pairs, text, time};

/// Prints `data` as JSON, or the array `rows_key` as a table of `columns`, or `ok` for a
/// command that changed something (nothing with `-q`).
fn show(cli: &Cli, data: &Value, rows_key: Option<&str>, columns: &[Column]) -> Result<()> {
    if cli.json {
        return output::json(data);
    }
    match rows_key {
        Some(k) => output::table(cli.style(), columns, data[k].as_array().map_or(&[], Vec::as_slice)),
        None => output::done(cli.style(), "ok"),
    }
}

/// Prints load diagnostics on stderr as `level: path: message` (not with `--json`, where
/// they are part of the data).
fn diagnostics(cli: &Cli, data: &Value) {
    if cli.json {
        return;
    }
    for diag in data["diagnostics"].as_array().into_iter().flatten() {
        errln!(
            "{}: {}: {}",
            field(diag, "level"),
            field(diag, "path"),
            field(diag, "message")
        );
    }
}

pub fn network(cli: &Cli, cmd: &NetworkCommand) -> Result<()> {
    let c = Client::new(cli)?;
    match cmd {
        NetworkCommand::List => {
            let d = c.call("GET", "/api/network/list", None)?;
            show(
                cli,
                &d,
                Some("grants"),
                &[
                    col("PACK", "pack_id"),
                    col("ENABLED", "enabled"),
                    col("DOMAINS", "allowed_domains"),
                    col("PORTS", "allowed_ports"),
                    time("UPDATED", "updated_at"),
                ],
            )?;
        }
        NetworkCommand::Grant {
            pack_id,
            domains,
            ports,
            notes,
        } => {
            let body = json!({"pack_id": pack_id, "allowed_domains": domains, "allowed_ports": ports, "notes": notes});
            show(cli, &c.call("POST", "/api/network/grant", Some(body))?, None, &[])?;
        }
        NetworkCommand::Revoke { pack_id, reason } => {
            let body = json!({"pack_id": pack_id, "reason": reason});
            show(cli, &c.call("POST", "/api/network/revoke", Some(body))?, None, &[])?;
        }
        NetworkCommand::Check { pack_id, domain, port } => {
            let d = c.call(
                "POST",
                "/api/network/check",
                Some(json!({"pack_id": pack_id, "domain": domain, "port": port})),
            )?;
            if cli.json {
                output::json(&d)?;
            } else {
                outln!(
                    "{}: {}",
                    if d["allowed"] == true { "allowed" } else { "denied" },
                    field(&d, "reason")
                )?;
            }
        }
    }
    Ok(())
}

pub fn capability(cli: &Cli, cmd: &CapabilityCommand) -> Result<()> {
    let c = Client::new(cli)?;
    let items = [
        col("KEY", "candidate_key"),
        col("STATUS", "status"),
        col("PERMISSION", "candidate.permission_id"),
        col("REJECTS", "reject_count"),
        text("LAST_ERROR", "last_error"),
    ];
    match cmd {
        CapabilityCommand::Scan => {
            let d = c.call("POST", "/api/capability/candidates/scan", None)?;
            show(cli, &d, Some("candidates"), &items)?;
        }
        CapabilityCommand::Requests { status } => {
            let path = match status {
                Some(s) => format!("/api/capability/requests?status={}", enc(s)),
                None => "/api/capability/requests".into(),
            };
            show(cli, &c.call("GET", &path, None)?, Some("items"), &items)?;
        }
        CapabilityCommand::Approve { candidate_key, notes } => {
            let path = format!("/api/capability/requests/{}/approve", enc(candidate_key));
            show(cli, &c.call("POST", &path, Some(json!({"notes": notes})))?, None, &[])?;
        }
        CapabilityCommand::Reject { candidate_key, reason } => {
            let path = format!("/api/capability/requests/{}/reject", enc(candidate_key));
            show(cli, &c.call("POST", &path, Some(json!({"reason": reason})))?, None, &[])?;
        }
        CapabilityCommand::Blocked => show(
            cli,
            &c.call("GET", "/api/capability/blocked", None)?,
            Some("items"),
            &items,
        )?,
        CapabilityCommand::Unblock { candidate_key, reason } => {
            let path = format!("/api/capability/blocked/{}/unblock", enc(candidate_key));
            show(cli, &c.call("POST", &path, Some(json!({"reason": reason})))?, None, &[])?;
        }
        CapabilityCommand::Grants { principal } => {
            let path = match principal {
                Some(p) => format!("/api/capability/grants?principal_id={}", enc(p)),
                None => "/api/capability/grants".into(),
            };
            show(
                cli,
                &c.call("GET", &path, None)?,
                Some("grants"),
                &[
                    col("PRINCIPAL", "principal_id"),
                    col("ENABLED", "enabled"),
                    col("PERMISSIONS", "permissions"),
                ],
            )?;
        }
        CapabilityCommand::Grant {
            principal_id,
            permission_id,
            config,
        } => {
            let config: Option<Value> = config
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .context("--config must be a JSON object")?;
            let body = json!({"principal_id": principal_id, "permission_id": permission_id, "config": config});
            show(
                cli,
                &c.call("POST", "/api/capability/grants/grant", Some(body))?,
                None,
                &[],
            )?;
        }
        CapabilityCommand::Revoke {
            principal_id,
            permission_id,
        } => {
            let body = json!({"principal_id": principal_id, "permission_id": permission_id});
            show(
                cli,
                &c.call("POST", "/api/capability/grants/revoke", Some(body))?,
                None,
                &[],
            )?;
        }
    }
    Ok(())
}

/// Reads a secret value: a hidden prompt on a terminal, else all of stdin (one trailing
/// newline removed). Never from argv, so it stays out of shell history and `ps`.
fn read_secret(key: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password(format!("value for {key}: ")).context("cannot read the value");
    }
    let mut value = String::new();
    std::io::stdin()
        .read_to_string(&mut value)
        .context("cannot read the value from stdin")?;
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    if value.is_empty() {
        bail!("empty value on stdin");
    }
    Ok(value)
}

pub fn secrets(cli: &Cli, cmd: &SecretsCommand) -> Result<()> {
    let c = Client::new(cli)?;
    match cmd {
        SecretsCommand::List => {
            show(
                cli,
                &c.call("GET", "/api/secrets", None)?,
                Some("keys"),
                &[
                    col("KEY", "key"),
                    col("VALUE", "value"),
                    col("EXISTS", "exists"),
                    time("UPDATED", "updated_at"),
                    time("DELETED", "deleted_at"),
                ],
            )?;
        }
        SecretsCommand::Set { key } => {
            let value = read_secret(key)?;
            show(
                cli,
                &c.call("POST", "/api/secrets/set", Some(json!({"key": key, "value": value})))?,
                None,
                &[],
            )?;
        }
        SecretsCommand::Delete { key } => {
            show(
                cli,
                &c.call("POST", "/api/secrets/delete", Some(json!({"key": key})))?,
                None,
                &[],
            )?;
        }
    }
    Ok(())
}

pub fn stores(cli: &Cli, cmd: &StoresCommand) -> Result<()> {
    let c = Client::new(cli)?;
    match cmd {
        StoresCommand::List => show(
            cli,
            &c.call("GET", "/api/stores", None)?,
            Some("stores"),
            &[
                col("STORE", "store_id"),
                col("OWNER", "owner_pack"),
                col("KEYS", "keys"),
                time("CREATED", "created_at"),
            ],
        )?,
        StoresCommand::Create { store_id, owner } => {
            show(
                cli,
                &c.call(
                    "POST",
                    "/api/stores/create",
                    Some(json!({"store_id": store_id, "owner_pack": owner})),
                )?,
                None,
                &[],
            )?;
        }
        StoresCommand::Shared => show(
            cli,
            &c.call("GET", "/api/stores/shared", None)?,
            Some("shared_stores"),
            &[
                col("STORE", "store_id"),
                col("OWNER", "owner_pack"),
                col("SHARED WITH", "shared_with"),
                col("STATUS", "status"),
                time("APPROVED", "approved_at"),
            ],
        )?,
        StoresCommand::ShareApprove {
            store_id,
            owner_pack,
            target_pack,
        } => {
            let body = json!({"store_id": store_id, "owner_pack": owner_pack, "target_pack": target_pack});
            show(
                cli,
                &c.call("POST", "/api/stores/shared/approve", Some(body))?,
                None,
                &[],
            )?;
        }
        StoresCommand::ShareRevoke {
            store_id,
            owner_pack,
            target_pack,
        } => {
            let body = json!({"store_id": store_id, "owner_pack": owner_pack, "target_pack": target_pack});
            show(
                cli,
                &c.call("POST", "/api/stores/shared/revoke", Some(body))?,
                None,
                &[],
            )?;
        }
    }
    Ok(())
}

pub fn flows(cli: &Cli, cmd: &FlowsCommand) -> Result<()> {
    let c = Client::new(cli)?;
    match cmd {
        FlowsCommand::List => {
            let d = c.call("GET", "/api/flows", None)?;
            show(
                cli,
                &d,
                Some("flows"),
                &[
                    col("FLOW", "flow_id"),
                    col("SOURCE", "source.kind"),
                    col("PACK", "source.pack_id"),
                    col("STEPS", "steps"),
                    pairs("SCHEDULE", "schedule"),
                ],
            )?;
            diagnostics(cli, &d);
        }
        FlowsCommand::Run {
            flow_id,
            inputs,
            timeout,
        } => {
            let inputs: Value = serde_json::from_str(inputs).context("--inputs must be a JSON object")?;
            let d = c.call(
                "POST",
                &format!("/api/flows/{}/run", enc(flow_id)),
                Some(json!({"inputs": inputs, "timeout": timeout})),
            )?;
            if cli.json {
                output::json(&d)?;
            } else {
                output::json(&d["result"])?;
                errln!(
                    "({} in {} s{})",
                    field(&d, "flow_id"),
                    field(&d, "execution_time"),
                    if d["truncated"] == true { ", truncated" } else { "" }
                );
            }
        }
        FlowsCommand::Reload => show(cli, &c.call("POST", "/api/flows/reload", None)?, None, &[])?,
    }
    Ok(())
}

pub fn docker(cli: &Cli, cmd: &DockerCommand) -> Result<()> {
    let c = Client::new(cli)?;
    match cmd {
        DockerCommand::Status => {
            let d = c.call("GET", "/api/docker/status", None)?;
            if cli.json {
                output::json(&d)?;
            } else {
                outln!(
                    "available: {}\ndetail: {}\nimage: {}",
                    field(&d, "available"),
                    field(&d, "detail"),
                    field(&d, "image")
                )?;
            }
        }
        DockerCommand::Containers => {
            show(
                cli,
                &c.call("GET", "/api/containers", None)?,
                Some("containers"),
                &[
                    col("NAME", "name"),
                    col("PACK", "pack_id"),
                    col("TYPE", "type"),
                    col("STATE", "state"),
                    col("SPARE", "spare"),
                ],
            )?;
        }
        DockerCommand::Start { pack_id } => {
            let d = c.call("POST", &format!("/api/containers/{}/start", enc(pack_id)), None)?;
            if cli.json {
                output::json(&d)?;
            } else {
                outln!(
                    "{}: {} in {} ms{}",
                    field(&d, "pack_id"),
                    if d["ok"] == true { "ok" } else { "FAILED" },
                    field(&d, "duration_ms"),
                    d["error"].as_str().map(|e| format!(" ({e})")).unwrap_or_default()
                )?;
            }
            if d["ok"] != true {
                return crate::failure::reported(format!("the sandbox of {pack_id} cannot start"));
            }
        }
        DockerCommand::Remove { pack_id } => {
            show(
                cli,
                &c.call("DELETE", &format!("/api/containers/{}", enc(pack_id)), None)?,
                None,
                &[],
            )?;
        }
    }
    Ok(())
}

/// The image recipe, shipped inside the binary so `rumi-ctl image build` works anywhere.
const IMAGE_RECIPE: &str = include_str!("../../../packaging/image/build.sh");

pub fn image(cmd: &ImageCommand) -> Result<()> {
    match cmd {
        ImageCommand::Build { name } => {
            let status = std::process::Command::new("bash")
                .arg("-c")
                .arg(IMAGE_RECIPE)
                .arg("rumi-image-build")
                .arg(name)
                .status()
                .context("cannot run bash")?;
            if !status.success() {
                // The recipe printed the cause (a missing tool, no engine, the mirror, the
                // disk) and the end of debootstrap's log.
                bail!("image build failed ({status}); the cause is printed above");
            }
            Ok(())
        }
    }
}

pub fn privileges(cli: &Cli, cmd: &PrivilegesCommand) -> Result<()> {
    let c = Client::new(cli)?;
    match cmd {
        PrivilegesCommand::List => {
            let d = c.call("GET", "/api/privileges", None)?;
            show(
                cli,
                &d,
                Some("privileges"),
                &[
                    col("PRIVILEGE", "privilege_id"),
                    col("PACKS", "granted_packs"),
                    text("DESCRIPTION", "description"),
                ],
            )?;
        }
        PrivilegesCommand::Grant { pack_id, privilege_id } => {
            let d = c.call("POST", &format!("/api/privileges/{pack_id}/grant/{privilege_id}"), None)?;
            show(cli, &d, None, &[])?;
        }
        PrivilegesCommand::Revoke { pack_id, privilege_id } => {
            let d = c.call(
                "POST",
                &format!("/api/privileges/{pack_id}/revoke/{privilege_id}"),
                None,
            )?;
            show(cli, &d, None, &[])?;
        }
        PrivilegesCommand::Execute {
            pack_id,
            privilege_id,
            args,
        } => {
            let args: Value = serde_json::from_str(args).context("--args must be a JSON object")?;
            if !args.is_object() {
                bail!("--args must be a JSON object");
            }
            let d = c.call(
                "POST",
                &format!("/api/privileges/{pack_id}/execute/{privilege_id}"),
                Some(json!({ "args": args })),
            )?;
            // The result is free-form: always shown as JSON.
            output::json(&d["result"])?;
        }
    }
    Ok(())
}

pub fn pip(cli: &Cli, cmd: &PipCommand) -> Result<()> {
    let c = Client::new(cli)?;
    let items = [
        col("KEY", "candidate_key"),
        col("STATUS", "status"),
        text("PACKAGES", "candidate.packages"),
        col("REJECTS", "reject_count"),
        text("LAST_ERROR", "last_error"),
    ];
    match cmd {
        PipCommand::Scan => {
            let d = c.call("POST", "/api/pip/candidates/scan", None)?;
            show(cli, &d, Some("candidates"), &items)?;
            if !cli.json {
                for bad in d["invalid"].as_array().into_iter().flatten() {
                    outln!(
                        "invalid {} {} line {}: {}",
                        field(bad, "pack_id"),
                        field(bad, "file"),
                        field(bad, "line"),
                        field(bad, "error")
                    )?;
                }
            }
        }
        PipCommand::List { status } => {
            let path = match status {
                Some(s) => format!("/api/pip/requests?status={}", enc(s)),
                None => "/api/pip/requests".into(),
            };
            show(cli, &c.call("GET", &path, None)?, Some("items"), &items)?;
        }
        PipCommand::Approve {
            candidate_key,
            allow_sdist,
            index_url,
        } => {
            if !cli.json {
                errln!(
                    "approving {candidate_key}: downloading ({}) on the bridge network, then installing with no network…",
                    if *allow_sdist {
                        "wheels and sdists"
                    } else {
                        "wheels only"
                    }
                );
            }
            let path = format!("/api/pip/requests/{}/approve", enc(candidate_key));
            let d = c.call(
                "POST",
                &path,
                Some(json!({"allow_sdist": allow_sdist, "index_url": index_url})),
            )?;
            if cli.json {
                output::json(&d)?;
            } else {
                outln!(
                    "{}: {} ({})",
                    field(&d, "candidate_key"),
                    field(&d, "status"),
                    output::cell(&d, &text("PACKAGES", "candidate.packages"))
                )?;
            }
        }
        PipCommand::Reject { candidate_key, reason } => {
            let path = format!("/api/pip/requests/{}/reject", enc(candidate_key));
            show(cli, &c.call("POST", &path, Some(json!({"reason": reason})))?, None, &[])?;
        }
        PipCommand::Blocked => show(cli, &c.call("GET", "/api/pip/blocked", None)?, Some("items"), &items)?,
        PipCommand::Unblock { candidate_key, reason } => {
            let path = format!("/api/pip/blocked/{}/unblock", enc(candidate_key));
            show(cli, &c.call("POST", &path, Some(json!({"reason": reason})))?, None, &[])?;
        }
    }
    Ok(())
}

pub fn units(cli: &Cli, cmd: &UnitsCommand) -> Result<()> {
    let c = Client::new(cli)?;
    match cmd {
        UnitsCommand::List { store_id } => {
            let path = match store_id {
                Some(s) => format!("/api/units?store_id={}", enc(s)),
                None => "/api/units".into(),
            };
            show(
                cli,
                &c.call("GET", &path, None)?,
                Some("units"),
                &[
                    col("STORE", "store_id"),
                    col("NAMESPACE", "namespace"),
                    col("NAME", "name"),
                    col("VERSION", "version"),
                    col("KIND", "kind"),
                    col("PERMISSION", "permission_id"),
                    col("DECLARED_BY", "declared_by_pack_id"),
                ],
            )?;
        }
        UnitsCommand::Publish {
            store_id,
            source_dir,
            namespace,
            name,
            version,
        } => {
            let body = json!({"store_id": store_id, "source_dir": source_dir, "namespace": namespace, "name": name, "version": version});
            show(cli, &c.call("POST", "/api/units/publish", Some(body))?, None, &[])?;
        }
        UnitsCommand::Execute {
            principal_id,
            store_id,
            namespace,
            name,
            version,
            args,
            mode,
            timeout,
        } => {
            let args: Value = serde_json::from_str(args).context("--args must be a JSON object")?;
            let body = json!({
                "principal_id": principal_id,
                "unit_ref": {"store_id": store_id, "namespace": namespace, "name": name, "version": version},
                "args": args,
                "mode": mode,
                "timeout": timeout,
            });
            let d = c.call("POST", "/api/units/execute", Some(body))?;
            output::json(&d["output"])?;
        }
    }
    Ok(())
}

pub fn routes(cli: &Cli, cmd: &RoutesCommand) -> Result<()> {
    let c = Client::new(cli)?;
    let d = match cmd {
        RoutesCommand::List => c.call("GET", "/api/routes", None)?,
        RoutesCommand::Reload => c.call("POST", "/api/routes/reload", None)?,
    };
    show(
        cli,
        &d,
        Some("routes"),
        &[
            col("METHOD", "method"),
            col("PATH", "path"),
            col("FLOW", "flow_id"),
            col("PACK", "pack_id"),
        ],
    )?;
    diagnostics(cli, &d);
    Ok(())
}
