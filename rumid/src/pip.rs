//! pip dependencies of packs: `requirements.lock` candidates, their approval, and the
//! builder containers that install them.
//!
//! A scan reads `requirements.lock` (pack root, then `backend/`) of every installed pack.
//! The grammar is exactly `NAME==VERSION` (extras allowed), comments and blank lines; every
//! other form (`-e`, options, URLs, paths, `git+`, `name @ url`, ranges) is refused with its
//! line number. A valid file becomes a candidate keyed `{pack_id}:{relpath}:{sha256}`, so an
//! edited file is a new candidate. States: `pending` → `installed` | `failed` (with
//! `last_error`) | `rejected` (1 h cooldown, `pending` again on a later scan) → `blocked` at
//! the third rejection; unblocking returns to `pending` with the count reset (DECISIONS #11).
//!
//! Approval (only for an approved, unchanged pack) re-reads and re-hashes the lock file
//! (TOCTOU), then runs two builder containers from the runtime image, both read-only, as
//! 65534 with every capability dropped:
//! 1. **download** on the default bridge network: `pip download --no-deps` of exactly the
//!    locked pins into a private wheelhouse, wheels only unless `allow_sdist`, from an
//!    `https` index that is not an internal host, with the host's CA bundle mounted;
//! 2. **install** with `--network=none`: `pip install --no-index --no-deps` from the
//!    wheelhouse into a fresh target, which then replaces `user_data/pip/<pack>/site-packages`
//!    in one rename. Block containers mount it read-only at `/pip-packages`.
//!
//! Files (signed): `user_data/pip/requests/index.json`; events go to
//! `user_data/pip/requests/requests.jsonl`.

use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rumi_common::code;
use rumi_common::ids::PackId;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::approval::snapshot::PackSnapshot;
use crate::audit::{Audit, AuditEvent, Category};
use crate::candidates::Review;
use crate::error::{Error, Result};
use crate::sandbox::{BuilderRun, Mount, Network, Sandbox};
use crate::signed;

pub use crate::candidates::{COOLDOWN_SECS, REJECT_THRESHOLD};
/// Largest lock file read.
pub const MAX_LOCK_BYTES: u64 = 256 * 1024;
/// Default package index.
pub const DEFAULT_INDEX: &str = "https://pypi.org/simple";
/// Time limit of each builder container.
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);
/// Where the lock file may be, relative to the pack.
const LOCK_PATHS: &[&str] = &["requirements.lock", "backend/requirements.lock"];

/// Where a pack's lock file is read from.
pub enum LockSource {
    /// An approved pack: its approved snapshot (what an install uses).
    Approved(std::sync::Arc<PackSnapshot>),
    /// A pack not approved yet: its installed directory, read to list the candidate only.
    Installed(PathBuf),
}
/// The host's CA bundle, mounted into the download container when present.
const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A line of a lock file that is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockProblem {
    pub line: usize,
    pub reason: String,
}

/// Parses a lock file: the `NAME==VERSION` pins, or the first problem.
///
/// # Errors
/// The first refused line, with its number (1-based).
pub fn parse_lock(text: &str) -> std::result::Result<Vec<String>, LockProblem> {
    let mut pins = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let n = i + 1;
        let bad = |reason: &str| LockProblem {
            line: n,
            reason: reason.to_owned(),
        };
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let lower = line.to_ascii_lowercase();
        if line.starts_with("-e") || line.starts_with('-') {
            return Err(bad("options and editable installs (-e, --…) are not allowed"));
        }
        if lower.contains("git+") || lower.contains("http://") || lower.contains("https://") || lower.contains("file:")
        {
            return Err(bad("URLs and VCS references are not allowed"));
        }
        if line.contains("../") || line.starts_with('/') || line.contains(" @ ") || line.contains('@') {
            return Err(bad("paths and direct references (name @ url) are not allowed"));
        }
        let Some((name, version)) = line.split_once("==") else {
            return Err(bad("every line must pin one package exactly: NAME==VERSION"));
        };
        let (name, version) = (name.trim(), version.trim());
        let (base, extras) = match name.split_once('[') {
            Some((b, rest)) => match rest.strip_suffix(']') {
                Some(e) => (b, Some(e)),
                None => return Err(bad("malformed extras")),
            },
            None => (name, None),
        };
        let name_ok = !base.is_empty()
            && base.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            && base.as_bytes()[0].is_ascii_alphanumeric()
            && base.as_bytes()[base.len() - 1].is_ascii_alphanumeric();
        let extras_ok = extras
            .is_none_or(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_alphanumeric() || b",._-".contains(&b)));
        // PEP 440's characters only (epoch `!`, local `+`): no paths, markers or wildcards.
        let version_ok = version.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
            && version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+!-".contains(&b));
        if !name_ok || !extras_ok {
            return Err(bad("invalid package name"));
        }
        if !version_ok {
            return Err(bad(
                "the version must be one exact version (no ranges, wildcards or markers)",
            ));
        }
        pins.push(format!("{name}=={version}"));
    }
    if pins.is_empty() {
        return Err(LockProblem {
            line: 0,
            reason: "the lock file pins no package".into(),
        });
    }
    Ok(pins)
}

/// Checks `index_url`: `https`, and not an internal host (names are resolved).
///
/// # Errors
/// [`Error::Invalid`] naming the problem.
pub async fn check_index_url(url: &str) -> Result<()> {
    let bad = |reason: &str| Error::Invalid {
        field: "index_url",
        reason: reason.to_owned(),
    };
    let uri: axum::http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    if uri.scheme_str() != Some("https") {
        return Err(bad("must be an https URL"));
    }
    let host = uri.host().ok_or_else(|| bad("has no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return Err(bad("must not be an internal host"));
    }
    let port = uri.port_u16().unwrap_or(443);
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| bad(&format!("cannot resolve its host: {e}")))?
            .map(|a| a.ip())
            .collect(),
    };
    if addrs.is_empty() || addrs.into_iter().any(internal) {
        return Err(bad(
            "must not be an internal host (loopback, private, link-local or reserved)",
        ));
    }
    Ok(())
}

/// Loopback, private, link-local, shared (CGNAT), unspecified, multicast and reserved
/// addresses: where an index URL could reach services inside the operator's network. The
/// documentation ranges are not on the list: they are not routed to anyone's internal hosts
/// (and some sandboxes use them for their package mirror).
fn internal(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]))
                || v4.octets()[0] >= 240
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = PipCandidate)]
pub struct Candidate {
    pub pack_id: String,
    pub relpath: String,
    pub sha256: String,
    pub packages: Vec<String>,
}

impl Candidate {
    pub fn key(&self) -> String {
        format!("{}:{}:{}", self.pack_id, self.relpath, self.sha256)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = PipItem)]
pub struct Item {
    #[serde(flatten)]
    pub review: Review,
    pub candidate: Candidate,
    pub installed_at: Option<String>,
    pub allow_sdist: Option<bool>,
    pub index_url: Option<String>,
    pub last_error: Option<String>,
}

/// Called with every item after each change.
pub type OnChange = Box<dyn Fn(&BTreeMap<String, Item>) + Send + Sync>;

pub struct Pip {
    home: PathBuf,
    signer: signed::Signer,
    audit: Audit,
    items: Mutex<BTreeMap<String, Item>>,
    /// One install at a time.
    installing: tokio::sync::Mutex<()>,
    on_change: OnChange,
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn ts(t: DateTime<Utc>) -> String {
    rumi_common::time::rfc3339(t)
}

const INDEX: &str = "user_data/pip/requests/index.json";

impl Pip {
    /// Loads the index; a tampered file counts as empty (and is audited).
    ///
    /// # Errors
    /// The requests directory cannot be created.
    pub fn load(home: &Path, signer: signed::Signer, audit: Audit, on_change: OnChange) -> Result<Self> {
        let dir = home.join("user_data/pip/requests");
        rumi_common::fs::ensure_dir(&dir, 0o700).map_err(Error::io("cannot create", &dir))?;
        let path = home.join(INDEX);
        let items = signer.load_field(&path, "items", &audit, "pip_index_tampered");
        let this = Self {
            home: home.to_path_buf(),
            signer,
            audit,
            items: Mutex::new(items),
            installing: tokio::sync::Mutex::new(()),
            on_change,
        };
        (this.on_change)(&this.lock());
        Ok(this)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Item>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn persist(&self, items: &BTreeMap<String, Item>) -> Result<()> {
        let path = self.home.join(INDEX);
        self.signer
            .store_field(&path, "items", json!(items), 0o600)
            .map_err(Error::io("cannot write", &path))?;
        (self.on_change)(items);
        Ok(())
    }

    fn event(&self, event: &str, key: &str, reason: Option<&str>) {
        let line = json!({"ts": ts(now()), "event": format!("pip.{event}"), "candidate_key": key, "reason": reason});
        crate::candidates::append_journal(&self.home.join("user_data/pip/requests/requests.jsonl"), &line);
        let mut ev = AuditEvent::new(Category::Security, format!("pip_{event}"))
            .in_request()
            .detail("candidate_key", key);
        if let Some(pack) = key.split(':').next() {
            ev = ev.owner_pack(pack);
        }
        if let Some(r) = reason {
            ev = ev.rejection_reason(r);
        }
        self.audit.record_blocking(ev);
    }

    /// Items, optionally filtered by status.
    pub fn list(&self, status: Option<&str>) -> Vec<Item> {
        self.lock()
            .values()
            .filter(|i| status.is_none_or(|s| i.review.status == s))
            .cloned()
            .collect()
    }

    /// Reads a pack's lock file: (relpath, bytes).
    fn read_lock(src: &LockSource) -> Option<std::result::Result<(String, Vec<u8>), String>> {
        let dir = match src {
            LockSource::Approved(snap) => {
                let rel = LOCK_PATHS.iter().find(|r| snap.hashes().contains_key(**r))?;
                return Some(
                    snap.read(rel, MAX_LOCK_BYTES)
                        .map(|b| ((*rel).to_owned(), b))
                        .map_err(|e| e.to_string()),
                );
            }
            LockSource::Installed(dir) => dir,
        };
        for rel in LOCK_PATHS {
            let path = dir.join(rel);
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                return Some(Err(format!("{rel} must be a regular file")));
            }
            if meta.len() > MAX_LOCK_BYTES {
                return Some(Err(format!("{rel} is larger than {MAX_LOCK_BYTES} bytes")));
            }
            return Some(
                fs::read(&path)
                    .map(|b| ((*rel).to_owned(), b))
                    .map_err(|e| e.to_string()),
            );
        }
        None
    }

    fn candidate(pack: &PackId, src: &LockSource) -> Option<std::result::Result<Candidate, Value>> {
        let (relpath, bytes) = match Self::read_lock(src)? {
            Ok(x) => x,
            Err(e) => return Some(Err(json!({"pack_id": pack, "error": e}))),
        };
        let text = String::from_utf8_lossy(&bytes);
        Some(match parse_lock(&text) {
            Ok(packages) => Ok(Candidate {
                pack_id: pack.to_string(),
                relpath,
                sha256: hex::encode(Sha256::digest(&bytes)),
                packages,
            }),
            Err(p) => Err(json!({"pack_id": pack, "file": relpath, "line": p.line, "error": p.reason})),
        })
    }

    /// Scans every installed pack for a lock file.
    ///
    /// # Errors
    /// A failed write of the index.
    pub fn scan(&self, packs: &[(PackId, LockSource)]) -> Result<Value> {
        let mut items = self.lock();
        let (mut scanned, mut new, mut invalid) = (0, Vec::new(), Vec::new());
        let t = now();
        for (pack, dir) in packs {
            let Some(found) = Self::candidate(pack, dir) else {
                continue;
            };
            scanned += 1;
            let c = match found {
                Ok(c) => c,
                Err(problem) => {
                    invalid.push(problem);
                    continue;
                }
            };
            let key = c.key();
            match items.get_mut(&key) {
                Some(item) => {
                    if item.review.reopen_if_cooled_down(t) {
                        new.push(key);
                    }
                }
                None => {
                    items.insert(
                        key.clone(),
                        Item {
                            review: Review::pending(key.clone(), t),
                            candidate: c,
                            installed_at: None,
                            allow_sdist: None,
                            index_url: None,
                            last_error: None,
                        },
                    );
                    new.push(key);
                }
            }
        }
        self.persist(&items)?;
        let candidates: Vec<&Item> = new.iter().filter_map(|k| items.get(k)).collect();
        let report =
            json!({"scanned": scanned, "new_candidates": new.len(), "candidates": candidates, "invalid": invalid});
        drop(items);
        for k in &new {
            self.event("requested", k, None);
        }
        Ok(report)
    }

    fn item(&self, key: &str) -> Result<Item> {
        self.lock().get(key).cloned().ok_or_else(|| Error::Helper {
            code: code::PIP_NOT_FOUND,
            status: axum::http::StatusCode::NOT_FOUND,
            message: format!("no pip candidate {key:?}; run a scan"),
        })
    }

    fn conflict(message: String) -> Error {
        Error::Helper {
            code: code::PIP_STATE,
            status: axum::http::StatusCode::CONFLICT,
            message,
        }
    }

    fn set_status(&self, key: &str, f: impl FnOnce(&mut Item)) -> Result<Item> {
        let mut items = self.lock();
        let item = items.get_mut(key).ok_or_else(|| Error::Invalid {
            field: "candidate_key",
            reason: "unknown".into(),
        })?;
        f(item);
        item.review.last_event_ts = ts(now());
        let out = item.clone();
        self.persist(&items)?;
        Ok(out)
    }

    /// Approves and installs a candidate of an approved pack, from its approved snapshot
    /// (the lock file there must be the one scanned). Returns when the install finished; a
    /// failed install is recorded as `failed` and answered as an error.
    ///
    /// # Errors
    /// Unknown key, a state that cannot be approved, a lock file that changed, a refused
    /// `index_url`, or the failed install.
    pub async fn approve(
        &self,
        key: &str,
        snap: &std::sync::Arc<PackSnapshot>,
        allow_sdist: bool,
        index_url: Option<&str>,
        sandbox: &Sandbox,
    ) -> Result<Item> {
        let pack_dir = snap.dir();
        let _one = self.installing.lock().await;
        let item = self.item(key)?;
        if !matches!(item.review.status.as_str(), "pending" | "failed") {
            return Err(Self::conflict(format!(
                "the candidate is {}; only pending or failed candidates can be approved",
                item.review.status
            )));
        }
        let index = index_url.unwrap_or(DEFAULT_INDEX);
        check_index_url(index).await?;
        // TOCTOU: the file installed is the file approved.
        let c = &item.candidate;
        let pack = PackId::parse(&c.pack_id)?;
        let current = Self::candidate(&pack, &LockSource::Approved(snap.clone()));
        let unchanged = matches!(&current, Some(Ok(now)) if now.key() == key);
        if !unchanged {
            return Err(Error::Helper {
                code: code::PIP_LOCK_INVALID,
                status: axum::http::StatusCode::CONFLICT,
                message:
                    "the lock file changed or became invalid since the scan; scan again and approve the new candidate"
                        .into(),
            });
        }
        tokio::task::block_in_place(|| self.event("approved", key, None));
        let result = self.install(c, pack_dir, allow_sdist, index, sandbox).await;
        let t = ts(now());
        // File writes and audit lines block: this is a worker of the multi-threaded runtime.
        let updated = tokio::task::block_in_place(|| match &result {
            Ok(()) => self.set_status(key, |i| {
                i.review.status = "installed".into();
                i.installed_at = Some(t.clone());
                i.allow_sdist = Some(allow_sdist);
                i.index_url = Some(index.to_owned());
                i.last_error = None;
            }),
            Err(e) => self.set_status(key, |i| {
                i.review.status = "failed".into();
                i.allow_sdist = Some(allow_sdist);
                i.index_url = Some(index.to_owned());
                i.last_error = Some(e.clone());
            }),
        })?;
        match result {
            Ok(()) => {
                tokio::task::block_in_place(|| self.event("installed", key, None));
                Ok(updated)
            }
            Err(e) => {
                tokio::task::block_in_place(|| self.event("failed", key, Some(&e)));
                Err(Error::Helper {
                    code: code::PIP_INSTALL_FAILED,
                    status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    message: format!("pip install failed: {e}"),
                })
            }
        }
    }

    async fn install(
        &self,
        c: &Candidate,
        pack_dir: &Path,
        allow_sdist: bool,
        index: &str,
        sandbox: &Sandbox,
    ) -> std::result::Result<(), String> {
        let base = self.home.join("user_data/pip").join(&c.pack_id);
        rumi_common::fs::ensure_dir(&base, 0o700).map_err(|e| e.to_string())?;
        let build = tempfile::Builder::new()
            .prefix(".build-")
            .tempdir_in(&base)
            .map_err(|e| e.to_string())?;
        let wheelhouse = build.path().join("wheelhouse");
        let target = build.path().join("site-packages");
        for d in [&wheelhouse, &target] {
            fs::create_dir(d).map_err(|e| e.to_string())?;
            // The builders run as 65534; the parent (0700) keeps host users out.
            fs::set_permissions(d, fs::Permissions::from_mode(0o777)).map_err(|e| e.to_string())?;
        }
        let lock = format!("/src/{}", c.relpath);
        let mut download = vec![
            "python3".to_owned(),
            "-m".into(),
            "pip".into(),
            "download".into(),
            "--disable-pip-version-check".into(),
            "--no-input".into(),
            "--no-deps".into(),
            "-r".into(),
            lock.clone(),
            "-d".into(),
            "/wheelhouse".into(),
            "-i".into(),
            index.to_owned(),
        ];
        if !allow_sdist {
            download.push("--only-binary=:all:".into());
        }
        let mut mounts = vec![Mount::ro(pack_dir, "/src"), Mount::rw(&wheelhouse, "/wheelhouse")];
        let mut env: Vec<(String, String)> = [
            ("HOME", "/tmp"),
            ("PIP_NO_CACHE_DIR", "1"),
            ("PYTHONDONTWRITEBYTECODE", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if Path::new(HOST_CA_BUNDLE).is_file() {
            mounts.push(Mount::ro(HOST_CA_BUNDLE, "/rumi/ca-certificates.crt"));
            env.push(("PIP_CERT".into(), "/rumi/ca-certificates.crt".into()));
        }
        let pack = PackId::parse(&c.pack_id).map_err(|e| e.to_string())?;
        sandbox
            .run_builder(&BuilderRun {
                pack: pack.clone(),
                stage: "download",
                argv: download,
                mounts,
                env: env.clone(),
                network: Network::Download,
                timeout: BUILD_TIMEOUT,
            })
            .await?;
        let install = vec![
            "python3".to_owned(),
            "-m".into(),
            "pip".into(),
            "install".into(),
            "--disable-pip-version-check".into(),
            "--no-input".into(),
            "--no-index".into(),
            "--no-deps".into(),
            "--no-compile".into(),
            "--find-links".into(),
            "/wheelhouse".into(),
            "-r".into(),
            lock,
            "--target".into(),
            "/target".into(),
        ];
        sandbox
            .run_builder(&BuilderRun {
                pack,
                stage: "install",
                argv: install,
                mounts: vec![
                    Mount::ro(pack_dir, "/src"),
                    Mount::ro(&wheelhouse, "/wheelhouse"),
                    Mount::rw(&target, "/target"),
                ],
                env,
                network: Network::None,
                timeout: BUILD_TIMEOUT,
            })
            .await?;
        // Swap the new site-packages in with one rename; the old one goes with the build dir.
        let live = base.join("site-packages");
        if live.exists() {
            nix::fcntl::renameat2(
                nix::fcntl::AT_FDCWD,
                &target,
                nix::fcntl::AT_FDCWD,
                &live,
                nix::fcntl::RenameFlags::RENAME_EXCHANGE,
            )
            .map_err(|e| format!("cannot swap in the new packages: {e}"))?;
        } else {
            fs::rename(&target, &live).map_err(|e| format!("cannot move the new packages into place: {e}"))?;
        }
        let _ = fs::set_permissions(&live, fs::Permissions::from_mode(0o755));
        let _ = rumi_common::fs::sync_dir(&base);
        Ok(())
    }

    /// Rejects a candidate (cooldown; blocked at the third rejection).
    ///
    /// # Errors
    /// Unknown key, an empty reason, an installed or blocked candidate, or a failed write.
    pub fn reject(&self, key: &str, reason: &str) -> Result<Item> {
        if reason.trim().is_empty() {
            return Err(Error::EmptyValue { field: "reason" });
        }
        let item = self.item(key)?;
        if matches!(item.review.status.as_str(), "installed" | "blocked") {
            return Err(Self::conflict(format!(
                "cannot reject a candidate that is {}",
                item.review.status
            )));
        }
        let mut blocked = false;
        let out = self.set_status(key, |i| {
            blocked = i.review.reject();
        })?;
        self.event(if blocked { "blocked" } else { "rejected" }, key, Some(reason));
        Ok(out)
    }

    /// Unblocks: back to `pending` with the rejection count reset (DECISIONS #11).
    ///
    /// # Errors
    /// Unknown key, a candidate that is not blocked, or a failed write.
    pub fn unblock(&self, key: &str, reason: &str) -> Result<Item> {
        let item = self.item(key)?;
        if item.review.status != "blocked" {
            return Err(Self::conflict("the candidate is not blocked".into()));
        }
        let out = self.set_status(key, |i| {
            i.review.status = "pending".into();
            i.review.reject_count = 0;
            i.review.cooldown_until = None;
        })?;
        self.event("unblocked", key, Some(reason));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_grammar() {
        assert_eq!(
            parse_lock("# c\n\nsix==1.16.0\nrequests[socks]==2.31.0\n").unwrap(),
            ["six==1.16.0", "requests[socks]==2.31.0"]
        );
        for (text, line) in [
            ("six==1.16.0\n-e git+https://x/y\n", 2),
            ("--index-url https://evil\n", 1),
            ("git+https://github.com/x/y\n", 1),
            ("six @ https://x/six.whl\n", 1),
            ("../local.whl\n", 1),
            ("/abs/six.whl\n", 1),
            ("six>=1.0\n", 1),
            ("six==1.*\n", 1),
            ("six\n", 1),
            ("six==1.0 ; python_version>'3'\n", 1),
            ("file:six\n", 1),
            // Found by the fuzzer: a version with a path and parentheses in it.
            ("d==it+-----------/----------------(\n", 1),
            ("-r other.txt\n", 1),
            ("", 0),
        ] {
            assert_eq!(parse_lock(text).unwrap_err().line, line, "{text:?}");
        }
    }

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "::1",
            "fd00::1",
            "0.0.0.0",
            "::ffff:127.0.0.1",
            "100.64.0.1",
        ] {
            assert!(internal(ip.parse().unwrap()), "{ip}");
        }
        assert!(!internal("151.101.0.223".parse().unwrap()));
    }
}
