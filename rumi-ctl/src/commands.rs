//! One function per command group.

pub mod audit;
mod completions;
mod groups;
mod man;
mod packs;
mod scaffold;
pub mod setup;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::client::{self, Client};
use crate::failure;
use crate::output::{self, col, outln, text};

pub fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Token => token(cli),
        Command::Health => health(cli),
        Command::Packs(cmd) => packs::run(cli, cmd),
        Command::Network(cmd) => groups::network(cli, cmd),
        Command::Capability(cmd) => groups::capability(cli, cmd),
        Command::Secrets(cmd) => groups::secrets(cli, cmd),
        Command::Stores(cmd) => groups::stores(cli, cmd),
        Command::Flows(cmd) => groups::flows(cli, cmd),
        Command::Docker(cmd) => groups::docker(cli, cmd),
        Command::Privileges(cmd) => groups::privileges(cli, cmd),
        Command::Pip(cmd) => groups::pip(cli, cmd),
        Command::Units(cmd) => groups::units(cli, cmd),
        Command::Routes(cmd) => groups::routes(cli, cmd),
        Command::Image(cmd) => groups::image(cmd),
        Command::Audit {
            categories,
            pack,
            action,
            failed,
            since,
            limit,
            follow,
            source,
        } => audit::run(
            cli,
            &audit::Options {
                filter: audit::Filter {
                    categories: categories.clone(),
                    pack: pack.clone(),
                    action: action.clone(),
                    failed: *failed,
                    since: *since,
                },
                limit: *limit,
                follow: *follow,
                source,
            },
        ),
        Command::Setup(args) => match &args.command {
            Some(cmd) => setup_command(cli, cmd),
            None if args.web => setup::web::serve(cli, args),
            None => setup::menu::run(cli, args),
        },
        Command::Scaffold {
            pack_id,
            template,
            output_dir,
        } => scaffold_cmd(cli, pack_id, *template, output_dir.as_deref()),
        Command::Completions { shell, dir } => match (shell, dir) {
            (_, Some(dir)) => written(cli, &completions::write_all(dir)?),
            (Some(shell), None) => output::write_bytes(&completions::script(*shell)),
            (None, None) => anyhow::bail!("name a shell, or --dir"),
        },
        Command::Man { command, dir } => match dir {
            Some(dir) => written(cli, &man::write_all(dir)?),
            None => output::write_bytes(&man::page(command.as_deref())?),
        },
    }
}

/// Lists the files a `--dir` command wrote.
fn written(cli: &Cli, files: &[String]) -> Result<()> {
    if cli.json {
        return output::json(&serde_json::json!({ "written": files }));
    }
    files.iter().try_for_each(|f| output::done(cli.style(), f))
}

fn token(cli: &Cli) -> Result<()> {
    let token = client::token(cli)?;
    if cli.json {
        output::json(&serde_json::json!({ "token": token }))
    } else {
        outln!("{token}")
    }
}

fn health(cli: &Cli) -> Result<()> {
    let data = Client::new(cli)?.call("GET", "/api/health", None)?;
    if cli.json {
        output::json(&data)?;
    } else if !cli.quiet {
        // -q: the exit code says it all.
        outln!("status: {}", output::field(&data, "status"))?;
        let probes: Vec<serde_json::Value> = data["probes"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, p)| {
                let mut p = p.clone();
                p["name"] = serde_json::json!(name);
                p
            })
            .collect();
        output::table(
            cli.style(),
            &[
                col("PROBE", "name"),
                col("STATUS", "status"),
                text("MESSAGE", "message"),
            ],
            &probes,
        )?;
    }
    if data["status"] == "UP" {
        Ok(())
    } else {
        failure::reported(format!("instance is {}", output::field(&data, "status")))
    }
}

fn scaffold_cmd(
    cli: &Cli,
    pack_id: &str,
    template: crate::cli::Template,
    output_dir: Option<&std::path::Path>,
) -> Result<()> {
    let parent = output_dir.map_or_else(|| client::home(cli).join("ecosystem"), std::path::Path::to_path_buf);
    let dir = scaffold::scaffold(pack_id, template, &parent)?;
    if cli.json {
        output::json(&serde_json::json!({ "pack_dir": dir.display().to_string() }))
    } else {
        output::done(
            cli.style(),
            &format!(
                "created {}; review it, then `rumi-ctl packs scan` and `rumi-ctl packs approve {pack_id}`",
                dir.display()
            ),
        )
    }
}

/// One `rumi-ctl setup` command (also what the menu runs).
fn setup_command(cli: &Cli, cmd: &crate::cli::SetupCommand) -> Result<()> {
    use crate::cli::SetupCommand;
    match cmd {
        SetupCommand::Check { engine } => report(
            cli,
            &setup::check(&client::home(cli), &engine.docker_socket, &engine.image),
        ),
        SetupCommand::Doctor { engine } => report(cli, &setup_doctor(cli, engine)),
        SetupCommand::Init { no_example } => setup_init(cli, !no_example),
        SetupCommand::Recover { restore_pack } => setup_recover(cli, restore_pack.as_deref()),
        SetupCommand::Run {
            engine,
            port,
            mode,
            force,
        } => setup::run::run(
            cli,
            &setup::run::Options {
                engine,
                port: *port,
                mode: *mode,
                force: *force,
            },
        ),
    }
}

/// `setup doctor`'s findings, with the running instance's health when one answers.
fn setup_doctor(cli: &Cli, engine: &crate::cli::Engine) -> Vec<setup::Finding> {
    let health = Client::new(cli)
        .ok()
        .and_then(|c| c.call("GET", "/api/health", None).ok());
    setup::doctor(
        &client::home(cli),
        &engine.docker_socket,
        &engine.image,
        health.as_ref(),
    )
}

/// `setup init` as JSON (what `--json` prints and the web page shows).
fn init_json(home: &std::path::Path, done: &setup::Init) -> serde_json::Value {
    serde_json::json!({
        "home": home.display().to_string(),
        "created_dirs": done.created_dirs,
        "key_created": done.key_created,
        "example_pack": done.example.as_ref().map(|p| p.display().to_string()),
    })
}

/// `setup recover` as JSON: one object per repair.
fn repairs_json(repairs: &[setup::Repair]) -> serde_json::Value {
    serde_json::Value::Array(
        repairs
            .iter()
            .map(|r| serde_json::json!({"repair": r.what, "ok": r.ok}))
            .collect(),
    )
}

/// Repairs through `setup recover`, asking the running instance (if any) to rebuild the
/// pending export.
fn recover_home(cli: &Cli, restore_pack: Option<&str>) -> Vec<setup::Repair> {
    let scan = || -> Result<()> {
        Client::new(cli)?.call("POST", "/api/packs/scan", None)?;
        Ok(())
    };
    setup::recover(&client::home(cli), restore_pack, &scan)
}

fn setup_init(cli: &Cli, example: bool) -> Result<()> {
    let home = client::home(cli);
    let done = setup::init(&home, example)?;
    let token = client::token(cli)?;
    if cli.json {
        return output::json(&init_json(&home, &done));
    }
    if cli.quiet {
        return Ok(());
    }
    outln!("home {}", home.display())?;
    for d in &done.created_dirs {
        outln!("  created {d}/")?;
    }
    if done.key_created {
        outln!(
            "  created user_data/settings/.hmac_key (0600); API token {}…",
            token.get(..8).unwrap_or_default()
        )?;
    } else {
        outln!("  kept the existing instance key")?;
    }
    if let Some(p) = &done.example {
        outln!("  wrote the example pack {}", p.display())?;
    }
    outln!(
        "next: rumid --home {0} (add --permissive without Docker), then rumi-ctl --home {0} packs approve hello",
        home.display()
    )
}

fn setup_recover(cli: &Cli, restore_pack: Option<&str>) -> Result<()> {
    let repairs = recover_home(cli, restore_pack);
    if cli.json {
        output::json(&repairs_json(&repairs))?;
    } else if repairs.is_empty() {
        output::done(cli.style(), "nothing to repair")?;
    } else if !cli.quiet {
        for r in &repairs {
            outln!("{:<7} {}", if r.ok { "done" } else { "FAILED" }, r.what)?;
        }
    }
    let failed = repairs.iter().filter(|r| !r.ok).count();
    if failed > 0 {
        return failure::reported(format!("{failed} repair(s) failed"));
    }
    Ok(())
}

fn report(cli: &Cli, findings: &[setup::Finding]) -> Result<()> {
    print_findings(cli, findings)?;
    let errors = findings.iter().filter(|f| f.level == "error").count();
    if errors > 0 {
        return failure::reported(format!("{errors} error(s) found"));
    }
    Ok(())
}

/// Findings as `LEVEL CHECK MESSAGE` lines with their `fix:` (or a JSON array).
fn print_findings(cli: &Cli, findings: &[setup::Finding]) -> Result<()> {
    if cli.json {
        output::json(&serde_json::Value::Array(
            findings.iter().map(setup::Finding::to_json).collect(),
        ))?;
    } else {
        for f in findings {
            // -q keeps the problems only.
            if cli.quiet && f.level == "ok" {
                continue;
            }
            outln!("{:<8} {:<14} {}", f.level, f.check, f.message)?;
            if !f.fix.is_empty() {
                outln!("{:<8} {:<14} fix: {}", "", "", f.fix)?;
            }
        }
    }
    Ok(())
}
