//! Pack lib scripts: `lib/install.py` runs once when a pack is first approved, and
//! `lib/update.py` (else `install.py`) whenever the approved files change. They run in the
//! pack's sandbox with one extra permission: `user_data/packs/<id>/` mounted writable at
//! `/data` (the only writable place a pack ever gets, besides its tmpfs).
//!
//! Records (`user_data/settings/lib_records.json`, signed) say which approved digest each
//! pack's scripts last ran for; the kernel handlers `kernel:lib.list_records` and
//! `kernel:lib.clear_record` show them and force a re-run at the next approval.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use rumi_common::ids::PackId;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::approval::Packs;
use crate::audit::{Audit, AuditEvent, Category, Severity};
use crate::flow::FlowEngine;
use crate::sandbox::BlockRun;
use crate::signed;

/// Time budget of a lib script.
pub const LIB_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub digest: String,
    pub lib_type: String,
    pub ts: String,
    pub success: bool,
    pub error: Option<String>,
}

pub struct LibScripts {
    path: PathBuf,
    signer: signed::Signer,
    records: Mutex<BTreeMap<String, Record>>,
    audit: Audit,
}

impl LibScripts {
    pub fn load(home: &Path, signer: signed::Signer, audit: Audit) -> Self {
        let path = home.join("user_data/settings/lib_records.json");
        // A tampered file is not used: install scripts then run again.
        let records = signer.load_field(&path, "records", &audit, "lib_records_tampered");
        Self {
            path,
            signer,
            records: Mutex::new(records),
            audit,
        }
    }

    fn save(&self, records: &BTreeMap<String, Record>) {
        if let Err(e) = self.signer.store_field(&self.path, "records", json!(records), 0o600) {
            tracing::error!(%e, "cannot write lib records");
        }
    }

    /// Every record.
    pub fn list(&self) -> Value {
        json!(*self.records.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Forgets a pack's record, so its install script runs again at the next approval.
    pub fn clear(&self, pack: &str) -> bool {
        let mut r = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let existed = r.remove(pack).is_some();
        self.save(&r);
        existed
    }

    /// Runs what is due for every approved pack.
    pub async fn run_due(&self, packs: &Packs, engine: &FlowEngine) {
        for snap in packs.approved() {
            let id = snap.pack().clone();
            let digest = snap.digest().to_owned();
            let previous = self
                .records
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(id.as_str())
                .cloned();
            if previous.as_ref().is_some_and(|r| r.digest == digest) {
                continue;
            }
            // Only regular files of the approved snapshot: a symlinked install.py is not run.
            let find = |name: &str| {
                [format!("backend/lib/{name}"), format!("lib/{name}")]
                    .into_iter()
                    .find(|rel| snap.is_file(rel))
            };
            let (lib_type, file) = match previous {
                None => ("install", find("install.py")),
                Some(_) => ("update", find("update.py").or_else(|| find("install.py"))),
            };
            let Some(file) = file else {
                // Nothing to run: remember the digest so the check is not repeated.
                self.remember(&id, &digest, lib_type, true, None);
                continue;
            };
            let outcome = self.run_one(engine, &snap, &file, lib_type).await;
            let (success, error) = match &outcome {
                Ok(_) => (true, None),
                Err(e) => (false, Some(e.clone())),
            };
            // Only a success settles this digest; a failure (Docker down, a bug in the script)
            // is retried at the next approval change or restart.
            if success {
                self.remember(&id, &digest, lib_type, true, None);
            } else {
                tracing::warn!(pack_id = %id, lib_type, error = ?error, "lib script failed; will retry");
            }
            let mut ev = AuditEvent::new(Category::System, format!("lib_{lib_type}")).owner_pack(id.as_str());
            if let Some(e) = error {
                ev = ev.failed(Severity::Warning, "lib_failed", e);
            }
            self.audit.record(ev).await;
        }
    }

    fn remember(&self, id: &PackId, digest: &str, lib_type: &str, success: bool, error: Option<String>) {
        let mut r = self.records.lock().unwrap_or_else(|p| p.into_inner());
        r.insert(
            id.to_string(),
            Record {
                digest: digest.to_owned(),
                lib_type: lib_type.to_owned(),
                ts: rumi_common::time::now_rfc3339(),
                success,
                error,
            },
        );
        self.save(&r);
    }

    async fn run_one(
        &self,
        engine: &FlowEngine,
        snap: &Arc<crate::approval::snapshot::PackSnapshot>,
        rel: &str,
        lib_type: &str,
    ) -> Result<Value, String> {
        let id = snap.pack();
        let sandbox = engine.sandbox();
        let data = sandbox.data_dir(id);
        let uid = tokio::task::block_in_place(|| sandbox.layout().uids.uid(id.as_str()))
            .ok_or("no sandbox uid for this pack")?;
        prepare_data_dir(&data, uid, sandbox.backend().runs_as_pack_uid())
            .map_err(|e| format!("cannot prepare the data directory: {e}"))?;
        let data_in = if sandbox.backend().maps_paths() {
            crate::sandbox::paths::DATA.to_owned()
        } else {
            data.display().to_string()
        };
        let ctx = json!({"pack_id": id, "lib_type": lib_type, "ts": Utc::now().to_rfc3339(), "data_dir": data_in});
        let block = BlockRun {
            pack: id.clone(),
            pack_dir: snap.dir().to_path_buf(),
            snapshot: Some(snap.clone()),
            file_rel: rel.into(),
            input: ctx.clone(),
            context: ctx,
            timeout: LIB_TIMEOUT,
            hold: None,
        };
        let result = engine.run_lib_script(block).await;
        // The script is the only writer of the data directory and it has ended (its whole
        // sandbox is gone): make what it left inert on the host.
        let stripped = tokio::task::block_in_place(|| strip_special_bits(&data));
        if stripped > 0 {
            tracing::warn!(pack_id = %id, entries = stripped, "setuid/setgid bits removed from the data directory");
        }
        result.map_err(|e| format!("{}: {e}", e.error_type()))
    }
}

/// Clears the setuid, setgid and sticky bits of everything below `dir` (the pack's data
/// directory), without following symlinks; returns how many entries had one.
///
/// # Security
/// A lib script may leave a copy of a shell with the setuid bit in `/data`. Inside the
/// sandbox the bit is inert (no_new_privs, nosuid binds), but on the host the file belongs
/// to the pack's uid: any local user able to reach it would run as that uid, and the
/// helpers serve that uid on the pack's sockets. Each entry is opened `O_NOFOLLOW` and
/// changed through its descriptor, so a symlink swapped in cannot redirect the change to a
/// host file (and nothing of the pack runs any more while this happens).
fn strip_special_bits(dir: &Path) -> usize {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut n = 0;
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    for e in entries.flatten() {
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_symlink() {
            continue;
        }
        let path = e.path();
        if kind.is_dir() {
            n += strip_special_bits(&path);
        }
        if !(kind.is_dir() || kind.is_file()) {
            continue;
        }
        let Ok(f) = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
            .open(&path)
        else {
            continue;
        };
        let Ok(meta) = f.metadata() else { continue };
        let mode = meta.permissions().mode();
        if mode & 0o7000 != 0 && f.set_permissions(std::fs::Permissions::from_mode(mode & 0o777)).is_ok() {
            n += 1;
        }
    }
    n
}

/// Gives the pack's sandbox user (`uid`) the pack's data directory. As root, rumid hands it
/// over (mode 0700); otherwise it can only open it to everyone, and says so.
fn prepare_data_dir(dir: &Path, uid: u32, pack_uid: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    if !pack_uid {
        // The sandbox runs as rumid's own uid on the host.
        return std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let owner = Some(nix::unistd::Uid::from_raw(uid));
    let group = Some(nix::unistd::Gid::from_raw(uid));
    if nix::unistd::chown(dir, owner, group).is_ok() {
        return std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    tracing::warn!(dir = %dir.display(), uid, "cannot hand the data directory to the pack's uid (rumid is not root); opening it to all local users");
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))
}

/// Runs lib scripts whenever approval state changes.
pub fn spawn(lib: Arc<LibScripts>, packs: Arc<Packs>, engine: Arc<FlowEngine>, notify: Arc<tokio::sync::Notify>) {
    tokio::spawn(async move {
        loop {
            lib.run_due(&packs, &engine).await;
            notify.notified().await;
        }
    });
}
