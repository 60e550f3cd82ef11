//! rumid, the core daemon of Rumi.
//!
//! rumid owns policy: which packs are approved (and whether their files still match), the
//! audit log, and the operator HTTP API. It never runs pack code itself.
//!
//! Layout of the crate:
//! - [`config`]: every setting, parsed once at start (the only reader of the environment);
//! - [`api`]: the HTTP router, its layers and handlers (the only module that knows axum);
//! - [`approval`]: pack discovery, hashing and the signed approval records;
//! - [`audit`]: the single audit writer;
//! - [`keys`] and [`signed`]: the instance key and HMAC-signed state files;
//! - [`health`], [`metrics`], [`pending`]: what operators and tools observe;
//! - [`validate`] and [`probe`]: the `--validate` and `--health` commands.
//!
//! [`run`] is the one entry point shared by `main` and the tests: it binds, serves until
//! the shutdown future resolves, then returns.
#![forbid(unsafe_code)]

pub mod api;
pub mod approval;
pub mod audit;
pub mod candidates;
pub mod config;
pub mod error;
pub mod flow;
pub mod grants;
pub mod handlers;
pub mod health;
pub mod import;
mod instance;
pub mod keys;
pub mod lib_scripts;
pub mod metrics;
pub mod pack_uids;
pub mod pending;
pub mod pip;
pub mod policy;
pub mod privileges;
pub mod probe;
pub mod routes;
pub mod sandbox;
pub mod shared_dict;
pub mod signed;
pub mod socket_access;
pub mod supervisor;
pub mod units;
pub mod validate;

use std::future::Future;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::api::AppState;
use crate::approval::{Packs, Paths};
use crate::audit::{Audit, AuditEvent, Category, Severity};
use crate::config::{Config, HelperMode, SecurityMode};
use crate::grants::capability::CapabilityGrants;
use crate::grants::network::NetworkGrants;
use crate::grants::stores::StoreShares;
use crate::handlers::Handlers;
use crate::metrics::Metrics;
use crate::policy::PolicyHub;
use crate::supervisor::{HelperSpec, SupervisorHandle};

/// Where rumid records the address it bound, for `rumi-ctl`, `--health` and tests.
pub const ADDR_FILE: &str = "user_data/run/api.addr";

/// Why rumid could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot prepare {path}: {source}")]
    Layout { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Key(#[from] keys::KeyLoadError),
    #[error(transparent)]
    State(#[from] error::Error),
    #[error("RUMI-SYS-010: {0}")]
    Journal(#[from] signed::JournalError),
    #[error("cannot bind the API to {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("API server failed: {0}")]
    Serve(std::io::Error),
    #[error("start-up task failed: {0}")]
    Task(String),
    #[error(transparent)]
    ControlKey(#[from] rumi_common::control_key::ControlKeyError),
    /// Another live process holds a helper's control socket (another instance on the same
    /// paths).
    #[error(
        "RUMI-INST-001: the {helper} control socket {path} is held by {holder}: another Rumi instance runs on these paths; stop it, or give this instance its own RUMI_EGRESSD_SOCKET, RUMI_CAPD_SOCKET, RUMI_EGRESS_SOCK_DIR and RUMI_CAPABILITY_SOCK_DIR"
    )]
    InstanceConflict {
        helper: &'static str,
        path: PathBuf,
        holder: String,
    },
}

/// Creates the directories of a Rumi home (owner-only where they hold state).
fn prepare_layout(home: &Path) -> Result<(), RunError> {
    rumi_common::fs::prepare_home(home).map_err(|(path, source)| RunError::Layout { path, source })
}

/// Runs rumid until `shutdown` resolves.
///
/// # Errors
/// [`RunError`] when the home cannot be prepared, the key is unusable, or the API cannot bind.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), RunError> {
    let mut config = config;
    approval::discovery::enable_local_pack(config.local_pack_mode == config::LocalPackMode::RequireApproval);
    prepare_layout(&config.home)?;
    // Helpers get the home as an absolute path; they do not share our working directory.
    config.home = config.home.canonicalize().map_err(|source| RunError::Layout {
        path: config.home.clone(),
        source,
    })?;
    let config = Arc::new(config);
    let home = config.home.clone();
    let journal = rumi_common::telemetry::Journal::for_stream(config.journal_stream.as_ref(), "rumid");
    let audit = Audit::spawn_with_reserve(&home.join("user_data/audit"), config.audit_reserve_bytes, journal).map_err(
        |source| RunError::Layout {
            path: home.join("user_data/audit"),
            source,
        },
    )?;
    let metrics = Arc::new(Metrics::new());

    let lib_notify = Arc::new(tokio::sync::Notify::new());
    let lib_notify_task = lib_notify.clone();
    // The approved packs and their snapshots' digests: what flows, routes, modifiers and
    // schedules are loaded from.
    let (approved_tx, approved_rx) = tokio::sync::watch::channel(Vec::<(rumi_common::ids::PackId, String)>::new());
    let epoch = {
        let settings = config.home.join("user_data/settings");
        tokio::task::spawn_blocking(move || {
            policy::advance_epoch(&settings).map_err(|source| RunError::Layout {
                path: settings.join(policy::EPOCH_FILE),
                source,
            })
        })
        .await
        .map_err(|e| RunError::Task(e.to_string()))??
    };
    tracing::info!(epoch, "policy epoch raised");
    let (hub, policy_rx) = PolicyHub::new(
        epoch,
        config.egress_rate_limit,
        config.max_response_bytes,
        config.secret_get_rate_limit,
    );
    let (key, signer, packs, grants, capability, shares, handlers, privileges, pip, units, pack_uids) = {
        let config = config.clone();
        let audit = audit.clone();
        let metrics = metrics.clone();
        let hub = hub.clone();
        tokio::task::spawn_blocking(move || -> Result<_, RunError> {
            let settings = config.home.join("user_data/settings");
            let key = keys::load_or_create(&settings, config.hmac_rotate, &audit)?;
            let signer = signed::Signer::open(&config.home, key.signing_key(), &audit)?;
            let export = Arc::new(pending::Export::new(config.home.join("user_data/pending/summary.json")));
            let packs_export = export.clone();
            let pip_export = export.clone();
            let packs_hub = hub.clone();
            let lib_notify = lib_notify.clone();
            let pack_uids = Arc::new(pack_uids::PackUids::load(
                settings.join("pack_uids.json"),
                signer.clone(),
                config.pack_uids,
                audit.clone(),
            ));
            let uids = pack_uids.clone();
            let on_change = Box::new(move |snap: &approval::Snapshot| {
                lib_notify.notify_one();
                approved_tx.send_if_modified(|v| {
                    let now = snap.approved_digests();
                    let changed = *v != now;
                    *v = now;
                    changed
                });
                packs_export.set_packs(snap);
                metrics.observe_packs(snap);
                let approved: Vec<String> = snap
                    .ids_in(approval::PackState::Approved)
                    .into_iter()
                    .map(ToString::to_string)
                    .collect();
                // Uids first: a pack's socket never opens before its uid check is known.
                packs_hub.set_pack_uids(uids.for_packs(&approved));
                packs_hub.set_approved(approved);
            });
            let packs = Packs::load(
                Paths::under(&config.home),
                signer.clone(),
                config.deprecation_level,
                audit.clone(),
                on_change,
            )?;
            let net_hub = hub.clone();
            let grants = NetworkGrants::load(
                settings.join("grants/network"),
                signer.clone(),
                audit.clone(),
                Box::new(move |g: &[grants::network::NetworkGrant]| net_hub.put_grants(g)),
            )?;
            let cap_hub = hub.clone();
            let capability = CapabilityGrants::load(
                settings.join("grants/capability"),
                signer.clone(),
                audit.clone(),
                Box::new(move |g: &[grants::capability::PrincipalGrants]| cap_hub.put_capability_grants(g)),
            )?;
            let share_hub = hub.clone();
            let shares = StoreShares::load(
                settings.join("store_shares.json"),
                signer.clone(),
                audit.clone(),
                Box::new(move |s| share_hub.set_shares(s)),
            );
            let handlers_dir = config.home.join("user_data/capabilities/handlers");
            let handlers = Handlers::load(
                &config.home,
                signer.clone(),
                audit.clone(),
                Box::new(move |trusted, items| {
                    export.set_capability(items);
                    hub.set_handlers(
                        trusted
                            .iter()
                            .map(|t| rumi_proto::control::TrustedHandler {
                                handler_id: t.handler_id.clone(),
                                permission_id: t.permission_id.clone(),
                                sha256: t.sha256.clone(),
                                dir: handlers_dir.join(&t.slug).display().to_string(),
                                entrypoint: t.entrypoint.clone(),
                            })
                            .collect(),
                    );
                }),
            )?;
            let pip = pip::Pip::load(
                &config.home,
                signer.clone(),
                audit.clone(),
                Box::new(move |items| pip_export.set_pip(items)),
            )?;
            let units = units::Units::load(&config.home, signer.clone(), audit.clone());
            let privileges = privileges::Privileges::load(settings.join("privileges.json"), signer.clone(), audit);
            Ok((
                key, signer, packs, grants, capability, shares, handlers, privileges, pip, units, pack_uids,
            ))
        })
        .await
        .map_err(|e| RunError::Task(e.to_string()))??
    };
    let packs = Arc::new(packs);
    spawn_reverify(packs.clone());
    let paths = runtime_paths(&config);
    let control_key = match &config.control_key_file {
        Some(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || rumi_common::control_key::ControlKey::read_or_create(&path))
                .await
                .map_err(|e| RunError::Task(e.to_string()))??
        }
        None => rumi_common::control_key::ControlKey::derive(&key),
    };
    instance::claim_helper_paths(&config, &paths, &control_key).await?;
    let helpers = start_helpers(&config, &paths, policy_rx.clone(), &audit, &control_key);
    let engine = Arc::new(
        start_flows(
            &config,
            &paths,
            packs.clone(),
            pack_uids,
            &audit,
            policy_rx.clone(),
            metrics.clone(),
        )
        .await,
    );
    let handlers = Arc::new(handlers);
    let _ = engine.capability_handlers.set(handlers.clone());
    let _ = engine.shared_dict.set(Arc::new({
        let (home, signer, audit) = (config.home.clone(), signer.clone(), audit.clone());
        tokio::task::spawn_blocking(move || shared_dict::SharedDict::load(&home, signer, &audit))
            .await
            .map_err(|e| RunError::Task(e.to_string()))?
    }));
    {
        let e = engine.clone();
        let n = tokio::task::spawn_blocking(move || e.reload())
            .await
            .map_err(|e| RunError::Task(e.to_string()))?;
        tracing::info!(flows = n, "flows loaded");
    }
    watch_flows(engine.clone(), policy_rx, approved_rx);
    // Blocking: reading the records may write a critical audit line.
    let lib = Arc::new({
        let (home, signer, audit) = (config.home.clone(), signer.clone(), audit.clone());
        tokio::task::spawn_blocking(move || lib_scripts::LibScripts::load(&home, signer, audit))
            .await
            .map_err(|e| RunError::Task(e.to_string()))?
    });
    let _ = engine.lib_records.set(lib.clone());

    lib_scripts::spawn(lib, packs.clone(), engine.clone(), lib_notify_task);
    flow::schedule::spawn(engine.clone());
    let token = key.api_token();

    let addr = SocketAddr::new(config.bind_address, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| RunError::Bind { addr, source })?;
    let addr_file = home.join(ADDR_FILE);
    rumi_common::fs::write_atomic(&addr_file, format!("{bound}\n").as_bytes(), 0o640).map_err(|source| {
        RunError::Layout {
            path: addr_file.clone(),
            source,
        }
    })?;

    let snap = packs.snapshot();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        mode = ?config.security_mode,
        home = %home.display(),
        api = %bound,
        packs = snap.packs.len(),
        pending = snap.packs.iter().filter(|p| p.status.is_pending()).count(),
        "rumid started"
    );
    if config.security_mode == SecurityMode::Permissive {
        tracing::warn!("permissive mode: pack code may run on the host without Docker; do not use in production");
    }
    if !config.bind_address.is_loopback() {
        tracing::warn!(bind = %config.bind_address, "API bound to a non-loopback address; it is reachable from the network");
    }
    announce_token(&token, bound, config.headless);
    rumi_common::notify::ready();
    rumi_common::notify::spawn_watchdog();
    audit
        .record(
            AuditEvent::new(Category::System, "rumid_started")
                .detail("version", env!("CARGO_PKG_VERSION"))
                .detail("security_mode", format!("{:?}", config.security_mode).to_lowercase())
                .detail("api", bound.to_string()),
        )
        .await;
    if config.security_mode == SecurityMode::Permissive {
        audit
            .record(AuditEvent::new(Category::Security, "permissive_mode").severity(Severity::Warning))
            .await;
    }

    let stopping_engine = engine.clone();
    let state = AppState {
        config: config.clone(),
        token: Arc::new(token),
        packs,
        flows: engine,
        audit: audit.clone(),
        metrics,
        probe_cache: Arc::default(),
        grants: Arc::new(grants),
        capability: Arc::new(capability),
        shares: Arc::new(shares),
        handlers,
        helpers: Arc::new(helpers),
        policy: hub,
        privileges: Arc::new(privileges),
        pip: Arc::new(pip),
        units: Arc::new(units),
    };
    let metrics = state.metrics.clone();
    let limits = api::ConnectionLimits {
        header_read_timeout: config.api_header_read_timeout,
        max_unauthenticated: config.api_max_unauthenticated_connections,
    };
    let served = api::serve(listener, api::router(state), limits, metrics, shutdown).await;
    rumi_common::notify::stopping();
    // Spares are not left running (or waiting for the next start's clean-up).
    // Nothing is left running: spares (also those still starting) and cut-short runs.
    let removed = stopping_engine.sandbox().shutdown().await;
    if removed > 0 {
        tracing::info!(removed, "sandboxes removed at stop");
    }
    let _ = std::fs::remove_file(&addr_file);
    audit.record(AuditEvent::new(Category::System, "rumid_stopped")).await;
    tracing::info!("rumid stopped");
    served.map_err(RunError::Serve)
}

/// `rumid --adopt-signed-state`: accepts every validly signed state file as it is and
/// rebuilds the generation journal from them (see [`signed::journal`]). For an operator who
/// restored files from a backup without their journal. Returns how many files the journal
/// now holds.
///
/// # Errors
/// rumid is running on this home, or the key or a file cannot be read or written.
pub fn adopt_signed_state(config: &Config) -> Result<usize, RunError> {
    // A running rumid appends to the journal: rewriting it underneath would lose lines.
    let running = std::fs::read_to_string(config.home.join(ADDR_FILE))
        .ok()
        .and_then(|a| a.trim().parse::<SocketAddr>().ok())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(1)).is_ok());
    if running {
        return Err(RunError::Task("rumid is running on this home; stop it first".into()));
    }
    let layout = |source| RunError::Layout {
        path: config.home.join(signed::journal::JOURNAL_FILE),
        source,
    };
    let settings = config.home.join("user_data/settings");
    if !settings.join(keys::KEY_FILE).is_file() {
        return Err(layout(std::io::Error::other("no instance key: nothing is signed here")));
    }
    let audit = Audit::spawn(&config.home.join("user_data/audit"), None).map_err(layout)?;
    let key = keys::load_or_create(&settings, false, &audit)?;
    let files = signed::Journal::adopt(&config.home, key.signing_key()).map_err(layout)?;
    tracing::warn!(
        files,
        "signed state adopted as it is; the generation journal was rebuilt"
    );
    audit.record_blocking(
        AuditEvent::new(Category::Security, "signed_state_adopted")
            .severity(Severity::Warning)
            .detail("files", files)
            .detail("file", signed::journal::JOURNAL_FILE),
    );
    Ok(files)
}

/// Where the helpers' sockets go.
#[derive(Clone)]
pub(crate) struct RuntimePaths {
    egress_dir: PathBuf,
    egressd_socket: PathBuf,
    capability_dir: PathBuf,
    capd_socket: PathBuf,
}

/// Explicit settings win; otherwise `/run/rumi/…`, falling back to `/tmp/rumi-<uid>/…` when
/// `/run/rumi` cannot be created (a development machine without root), so a standalone
/// rumid works out of the box.
fn runtime_paths(config: &Config) -> RuntimePaths {
    let mut p = RuntimePaths {
        egress_dir: config.egress_sock_dir.clone(),
        egressd_socket: config.egressd_socket.clone(),
        capability_dir: config.capability_sock_dir.clone(),
        capd_socket: config.capd_socket.clone(),
    };
    // /run/rumi must exist *and* be writable by us (a probe file), else fall back.
    let run_ok = std::fs::create_dir_all("/run/rumi").is_ok() && tempfile::tempfile_in("/run/rumi").is_ok();
    if !run_ok && config.helpers == HelperMode::Spawn {
        let base = PathBuf::from(format!("/tmp/rumi-{}", nix::unistd::getuid()));
        match private_dir(&base) {
            Ok(()) => {
                if !config.egress_sock_dir_explicit {
                    p.egress_dir = base.join("egress/packs");
                }
                if !config.capability_sock_dir_explicit {
                    p.capability_dir = base.join("capability/principals");
                }
                if p.egressd_socket == Path::new(config::DEFAULT_EGRESSD_SOCKET) {
                    p.egressd_socket = base.join("egressd.sock");
                }
                if p.capd_socket == Path::new(config::DEFAULT_CAPD_SOCKET) {
                    p.capd_socket = base.join("capd.sock");
                }
                tracing::warn!(dir = %base.display(), "/run/rumi is not writable; helper sockets go under a private /tmp directory");
            }
            Err(e) => {
                tracing::error!(dir = %base.display(), error = %e, "/run/rumi is not writable and the private fallback directory is unsafe; helpers will fail to start")
            }
        }
    }
    p
}

/// Creates (or accepts) a directory that only we can use: ours, mode 0700, not a symlink.
///
/// # Security
/// `/tmp/rumi-<uid>` has a predictable name: another local user could create it first and
/// plant a socket that rumid would then talk to (and hand secrets to).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    let ours = meta.uid() == nix::unistd::getuid().as_raw();
    if !meta.is_dir() || !ours || meta.permissions().mode() & 0o077 != 0 {
        return Err(std::io::Error::other(
            "exists but is not a directory owned by us with mode 0700",
        ));
    }
    Ok(())
}

/// Starts the supervisors of the helper daemons (each gets a clean environment).
fn start_helpers(
    config: &Config,
    paths: &RuntimePaths,
    policy: tokio::sync::watch::Receiver<Arc<rumi_proto::control::PolicySnapshot>>,
    audit: &Audit,
    control_key: &rumi_common::control_key::ControlKey,
) -> Vec<SupervisorHandle> {
    let paths = paths.clone();
    let bin_dir = config.helper_bin_dir.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."))
    });
    let mut common: Vec<(String, String)> = vec![
        ("RUMI_LOG_LEVEL".into(), config.log_level.as_str().into()),
        ("RUMI_LOG_FORMAT".into(), config.log_format.as_str().into()),
        ("RUMI_CONTROL_UID".into(), nix::unistd::getuid().to_string()),
        ("RUMI_HELPER_PARENT_PID".into(), std::process::id().to_string()),
    ];
    // Spawned helpers share rumid's stderr: under systemd, the same journal stream.
    if let Some(stream) = &config.journal_stream {
        common.push((rumi_common::telemetry::ENV_JOURNAL_STREAM.into(), stream.to_string()));
    }
    common.extend(config.helper_limits.to_env());
    if config.helpers == HelperMode::Spawn {
        // The child's environment is readable only by our uid (and root), as the secrets
        // key already is; an external helper reads RUMI_CONTROL_KEY_FILE instead.
        common.push((rumi_common::control_key::ENV_CONTROL_KEY.into(), control_key.to_hex()));
    }
    let mut egress = common.clone();
    egress.extend([
        ("RUMI_EGRESSD_SOCKET".into(), paths.egressd_socket.display().to_string()),
        ("RUMI_EGRESS_SOCK_DIR".into(), paths.egress_dir.display().to_string()),
        (
            "RUMI_EGRESS_SOCKET_MODE".into(),
            format!("{:o}", config.egress_socket_mode),
        ),
    ]);
    if let Some(gid) = config.egress_socket_gid {
        egress.push(("RUMI_EGRESS_SOCKET_GID".into(), gid.to_string()));
    }
    if let Some(cidrs) = &config.egress_allow_cidrs {
        egress.push(("RUMI_EGRESS_ALLOW_CIDRS".into(), cidrs.clone()));
    }
    let mut cap = common;
    let mode = match config.security_mode {
        SecurityMode::Strict => "strict",
        SecurityMode::Permissive => "permissive",
    };
    cap.extend([
        ("RUMI_CAPD_SOCKET".into(), paths.capd_socket.display().to_string()),
        (
            "RUMI_CAPABILITY_SOCK_DIR".into(),
            paths.capability_dir.display().to_string(),
        ),
        (
            "RUMI_CAPABILITY_SOCKET_MODE".into(),
            format!("{:o}", config.capability_socket_mode),
        ),
        ("RUMI_HOME".into(), config.home.display().to_string()),
        (
            "RUMI_SECRETS_ALLOW_PLAINTEXT".into(),
            config.secrets_plaintext.as_str().into(),
        ),
        ("RUMI_SECURITY_MODE".into(), mode.into()),
        ("RUMI_HANDLER_PYTHON".into(), config.python.display().to_string()),
    ]);
    if let Some(gid) = config.capability_socket_gid {
        cap.push(("RUMI_CAPABILITY_SOCKET_GID".into(), gid.to_string()));
    }
    if let Some(key) = &config.secrets_key {
        cap.push(("RUMI_SECRETS_KEY".into(), key.expose().to_owned()));
    }
    let specs = [
        HelperSpec {
            name: "egressd",
            binary: bin_dir.join("rumi-egressd"),
            control_socket: paths.egressd_socket,
            env: egress,
            mode: config.helpers,
            audit_max_message_bytes: config.helper_audit_max_message_bytes,
            control_key: control_key.clone(),
        },
        HelperSpec {
            name: "capd",
            binary: bin_dir.join("rumi-capd"),
            control_socket: paths.capd_socket,
            env: cap,
            mode: config.helpers,
            audit_max_message_bytes: config.helper_audit_max_message_bytes,
            control_key: control_key.clone(),
        },
    ];
    specs
        .into_iter()
        .map(|spec| supervisor::spawn(spec, policy.clone(), audit.clone()))
        .collect()
}

/// Finds the Python pack SDK: `RUMI_SDK_DIR`, else next to the installed binaries, else
/// the source tree (development builds).
fn find_sdk(config: &Config) -> Option<PathBuf> {
    if let Some(d) = &config.sdk_dir {
        return Some(d.clone());
    }
    let exe_dir = std::env::current_exe().ok()?.parent()?.to_path_buf();
    [
        exe_dir.join("../share/rumi/sdk/python"),
        PathBuf::from("/usr/share/rumi/sdk/python"),
        exe_dir.join("../../packaging/sdk/python"),
    ]
    .into_iter()
    .find(|p| p.join("_rumi_runner.py").is_file())
    .and_then(|p| p.canonicalize().ok())
}

/// Builds the flow engine, loads flows, cleans container leftovers, and reloads flows
/// whenever the set of approved packs changes.
async fn start_flows(
    config: &Config,
    paths: &RuntimePaths,
    packs: Arc<Packs>,
    uids: Arc<pack_uids::PackUids>,
    audit: &Audit,
    mut policy: tokio::sync::watch::Receiver<Arc<rumi_proto::control::PolicySnapshot>>,
    metrics: Arc<Metrics>,
) -> flow::FlowEngine {
    let mut group_add: Vec<u32> = [config.egress_socket_gid, config.capability_socket_gid]
        .into_iter()
        .flatten()
        .collect();
    group_add.sort_unstable();
    group_add.dedup();
    let sdk_dir = find_sdk(config);
    if sdk_dir.is_none() {
        tracing::error!("the Python pack SDK was not found; set RUMI_SDK_DIR; blocks cannot run");
    }
    let spares = sandbox::docker::spares::Spares::new(
        sandbox::docker::spares::SpareLimits {
            per_pack: if config.security_mode == SecurityMode::Strict {
                config.spares_per_pack
            } else {
                0
            },
            total: config.spares_total,
            ttl: config.spare_ttl,
        },
        metrics.spares.clone(),
    );
    spares.spawn_expiry();
    let docker: Arc<dyn sandbox::Backend> = Arc::new(sandbox::docker::DockerBackend::new(
        &config.docker_socket,
        config.runtime_image.clone(),
        config.docker_runtime.clone(),
        &config.home,
        spares,
    ));
    let available = docker.check().await;
    metrics.docker_available.set(i64::from(available.is_ok()));
    match &available {
        Ok(v) => tracing::info!(docker = %v, image = %config.runtime_image, "docker available"),
        Err(e) if config.security_mode == SecurityMode::Strict => {
            tracing::error!(error = %e, "strict mode: Docker is not available; pack code will be refused until it is");
        }
        Err(_) => {}
    }
    let blocks = match config.security_mode {
        SecurityMode::Strict => docker.clone(),
        SecurityMode::Permissive => host_backend(config, sdk_dir.as_deref()).await,
    };
    // Helpers that are not root let each pack's uid open its sockets through an ACL entry,
    // which gVisor does not honour (it judges a host socket by its mode alone).
    if config.security_mode == SecurityMode::Strict
        && config.docker_runtime.as_deref() == Some("runsc")
        && group_add.is_empty()
        && !nix::unistd::geteuid().is_root()
    {
        tracing::warn!(
            "RUMI_DOCKER_RUNTIME=runsc with helpers that are not root and no RUMI_EGRESS_SOCKET_GID / RUMI_CAPABILITY_SOCKET_GID: gVisor ignores the sockets' ACLs, so containers cannot open the helper sockets"
        );
    }
    let sandbox = Arc::new(sandbox::Sandbox::new(
        config.security_mode,
        blocks,
        docker,
        sandbox::Layout {
            sdk_dir,
            egress_dir: paths.egress_dir.clone(),
            capability_dir: paths.capability_dir.clone(),
            group_add,
            data_root: config.home.join("user_data/packs"),
            pip_root: config.home.join("user_data/pip"),
            uids,
        },
    ));
    if available.is_ok() {
        let removed = sandbox.remove_leftovers().await;
        if removed > 0 {
            tracing::info!(removed, "containers an earlier run left behind removed");
        }
    }
    flush_spares_on_policy_change(sandbox.clone(), policy.clone());
    let engine = flow::FlowEngine::new(
        config.home.clone(),
        packs,
        audit.clone(),
        sandbox,
        flow::Limits {
            max_concurrent_flows: config.max_concurrent_flows as usize,
            max_response_bytes: config.max_response_bytes as usize,
            max_context_bytes: config.max_context_bytes as usize,
            max_flows_per_pack: config.max_flows_per_pack as usize,
            max_running_containers: config.max_running_containers as usize,
            max_containers_per_pack: config.max_containers_per_pack as usize,
        },
        metrics,
    );
    let _ = policy.borrow_and_update();
    engine
}

/// The host runner of permissive mode, isolated as `RUMI_HOST_ISOLATION` says: bubblewrap
/// when it works here (`auto`) or always (`bwrap`: a failing bubblewrap then fails every
/// run), else no isolation at all, loudly.
async fn host_backend(config: &Config, sdk: Option<&Path>) -> Arc<dyn sandbox::Backend> {
    use crate::config::HostIsolation;
    use sandbox::host::{HostBackend, Isolation};
    let unisolated =
        || -> Arc<dyn sandbox::Backend> { Arc::new(HostBackend::new(config.python.clone(), Isolation::None)) };
    if config.host_isolation == HostIsolation::None {
        tracing::warn!(
            "RUMI_HOST_ISOLATION=none: pack code runs on the host WITHOUT ANY ISOLATION, as rumid's own user"
        );
        return unisolated();
    }
    let probe = sandbox::host::probe_bwrap(&config.bwrap, &config.python, sdk).await;
    match (probe, config.host_isolation) {
        (Ok(v), mode) => match HostBackend::bwrap(config.bwrap.clone()) {
            Ok(iso) => {
                tracing::info!(sandbox = %v, "permissive mode: pack code runs on the host in bubblewrap sandboxes");
                Arc::new(HostBackend::new(config.python.clone(), iso))
            }
            // `bwrap` means bubblewrap with its seccomp filter or nothing runs at all.
            Err(e) if mode == HostIsolation::Bwrap => {
                tracing::error!(error = %e, "RUMI_HOST_ISOLATION=bwrap but the seccomp filters cannot be built here; every pack run is refused");
                Arc::new(sandbox::Refusing::new(
                    "bwrap",
                    format!("cannot build the seccomp filters: {e}"),
                ))
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot build the seccomp filters: pack code runs on the host WITHOUT ANY ISOLATION, as rumid's own user (use strict mode)");
                unisolated()
            }
        },
        (Err(e), HostIsolation::Bwrap) => {
            tracing::error!(error = %e, "RUMI_HOST_ISOLATION=bwrap but bubblewrap does not work here; pack code will fail until it does");
            match HostBackend::bwrap(config.bwrap.clone()) {
                Ok(iso) => Arc::new(HostBackend::new(config.python.clone(), iso)),
                Err(_) => Arc::new(sandbox::Refusing::new("bwrap", e)),
            }
        }
        (Err(e), _) => {
            tracing::warn!(error = %e, "bubblewrap does not work here: pack code runs on the host WITHOUT ANY ISOLATION, as rumid's own user (install bubblewrap, or use strict mode)");
            unisolated()
        }
    }
}

/// How often approved packs are re-hashed in the background, so a pack edited on disk
/// loses its sockets even when nothing of it runs.
const REVERIFY_PERIOD: std::time::Duration = std::time::Duration::from_secs(30);

fn spawn_reverify(packs: Arc<Packs>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REVERIFY_PERIOD);
        tick.tick().await;
        loop {
            tick.tick().await;
            let p = packs.clone();
            if let Ok(n) = tokio::task::spawn_blocking(move || p.reverify_approved()).await
                && n > 0
            {
                tracing::warn!(packs = n, "approved packs changed on disk; disabled until re-approved");
            }
        }
    });
}

/// Destroys every spare container whenever approvals or grants change: a spare must never
/// outlive the policy it was started under.
fn flush_spares_on_policy_change(
    spares: Arc<sandbox::Sandbox>,
    mut policy: tokio::sync::watch::Receiver<Arc<rumi_proto::control::PolicySnapshot>>,
) {
    let mut version = policy.borrow_and_update().version;
    tokio::spawn(async move {
        while policy.changed().await.is_ok() {
            let now = policy.borrow_and_update().version;
            if now != version {
                version = now;
                let n = spares.flush();
                if n > 0 {
                    tracing::debug!(destroyed = n, "policy changed: spare containers destroyed");
                }
            }
        }
    });
}

/// Reloads flows whenever what they are loaded from changes: the approved packs and their
/// snapshots (pack flows, routes, modifiers, schedules: re-approving changed files loads
/// exactly the new files), and the trusted handlers' permissions (modifiers'
/// `requires.capabilities`).
fn watch_flows(
    engine: Arc<flow::FlowEngine>,
    mut policy: tokio::sync::watch::Receiver<Arc<rumi_proto::control::PolicySnapshot>>,
    mut approved: tokio::sync::watch::Receiver<Vec<(rumi_common::ids::PackId, String)>>,
) {
    fn perms(p: &rumi_proto::control::PolicySnapshot) -> Vec<String> {
        let mut perms: Vec<String> = p.handlers.iter().map(|h| h.permission_id.clone()).collect();
        perms.sort();
        perms
    }
    // Read the current state now, not inside the task: an approval between this call and
    // the task's first poll must still count as a change.
    let mut last = (approved.borrow_and_update().clone(), perms(&policy.borrow_and_update()));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                r = policy.changed() => if r.is_err() { break },
                r = approved.changed() => if r.is_err() { break },
            }
            let now = (approved.borrow_and_update().clone(), perms(&policy.borrow_and_update()));
            if now != last {
                last = now;
                let e = engine.clone();
                let _ = tokio::task::spawn_blocking(move || e.reload()).await;
            }
        }
    });
}

/// Tells the operator the token: in full on an interactive terminal, otherwise only a
/// fingerprint (logs are often shipped elsewhere; `rumi-ctl token` prints the full token).
/// A closed or failing stdout loses the banner, nothing else (`println!` would panic).
fn announce_token(token: &rumi_common::token::ApiToken, bound: SocketAddr, headless: bool) {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = if out.is_terminal() && !headless {
        writeln!(out, "Rumi API on http://{bound}\nAPI token: {}", token.expose())
    } else {
        writeln!(
            out,
            "Rumi API on http://{bound}; token {}… (run `rumi-ctl token` for the full token)",
            token.fingerprint()
        )
    };
}
