//! Pack import (into staging) and apply (from staging into `ecosystem/`).
//!
//! Import reads a folder, a `.zip` or a `.rumipack` (a zip) named by the operator and copies
//! it into `user_data/pack_staging/<staging_id>/payload/<pack_id>/`; nothing is installed.
//! Apply swaps a staged pack into `ecosystem/<pack_id>/` atomically, after a backup.
//!
//! # Security
//! - Archive entries are checked before anything is written: no absolute path, no `..`, `.`
//!   or empty segment, no backslash, NUL or non-UTF-8 name, no symlink, device or FIFO,
//!   exactly one top-level directory whose name is a valid pack id. Folders are walked
//!   without following symlinks and refuse the same things.
//! - Limits count the bytes actually written, not the sizes the archive declares: at most
//!   [`MAX_FILES`] entries, [`MAX_FILE_BYTES`] per file, [`MAX_TOTAL_BYTES`] in total, and an
//!   entry that expands more than [`MAX_RATIO`] times (past 1 MiB) is a compression bomb.
//! - Everything is extracted into a private temporary directory, created with `O_EXCL` (no
//!   entry can be written twice or through anything planted earlier), and renamed into place
//!   only when the whole import succeeded; on any failure it is deleted.
//! - Apply keeps the old pack until the new one is in place: `renameat2(RENAME_EXCHANGE)`
//!   swaps the two directories in one step, then the old one moves to the backups. A pack
//!   whose `pack_identity` differs from the installed one is refused.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chrono::Utc;
use rumi_common::code::{self, Code};
use rumi_common::ids::PackId;
use serde::Serialize;

use crate::approval::discovery;

/// Most entries (files and directories) an import may hold.
pub const MAX_FILES: usize = 2000;
/// Largest file in an import.
pub const MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;
/// Largest import in total.
pub const MAX_TOTAL_BYTES: u64 = 500 * 1024 * 1024;
/// Largest expansion of one zip entry (uncompressed ÷ compressed) past 1 MiB.
pub const MAX_RATIO: u64 = 100;
/// Deepest nesting of an import.
const MAX_DEPTH: usize = 32;

/// Why an import or apply was refused.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The content cannot be a pack or breaks a rule (the code says which).
    #[error("{message}")]
    Refused {
        code: Code,
        message: String,
        /// A refusal that looks like an attack (zip slip, symlink, bomb): audited as a
        /// security event.
        security: bool,
    },
    /// Too many files, too many bytes, or a compression bomb.
    #[error("{0}")]
    TooLarge(String),
    #[error("the path to import does not exist or is not readable: {0}")]
    SourceMissing(String),
    #[error("no staged import has id {0}")]
    StagingNotFound(String),
    #[error("pack_identity mismatch: the installed pack {pack_id} is {installed:?}, the staged one is {staged:?}")]
    IdentityMismatch {
        pack_id: String,
        installed: String,
        staged: String,
    },
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

impl ImportError {
    fn refused(code: Code, message: impl Into<String>) -> Self {
        Self::Refused {
            code,
            message: message.into(),
            security: false,
        }
    }

    fn attack(code: Code, message: impl Into<String>) -> Self {
        Self::Refused {
            code,
            message: message.into(),
            security: true,
        }
    }

    fn io(context: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io { context, path, source }
    }

    /// Whether this refusal is a security event.
    pub fn is_security(&self) -> bool {
        matches!(self, Self::Refused { security: true, .. } | Self::TooLarge(_))
    }
}

/// A staged import.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Staged {
    pub staging_id: String,
    pub pack_id: String,
    pub pack_identity: String,
    pub input_type: String,
    pub source_path: String,
    pub files: usize,
    pub bytes: u64,
    pub imported_at: String,
}

/// What an apply did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Applied {
    pub staging_id: String,
    pub pack_id: String,
    pub replaced: bool,
    /// The previous version's backup, relative to the home.
    pub backup: Option<String>,
}

/// Import and apply under one home.
pub struct Importer {
    home: PathBuf,
    staging: PathBuf,
    ecosystem: PathBuf,
    backups: PathBuf,
}

/// Counts what has been written so far.
#[derive(Default)]
struct Budget {
    entries: usize,
    bytes: u64,
}

impl Budget {
    fn entry(&mut self) -> Result<(), ImportError> {
        self.entries += 1;
        if self.entries > MAX_FILES {
            return Err(ImportError::TooLarge(format!("more than {MAX_FILES} files")));
        }
        Ok(())
    }

    /// Copies at most the limits from `src` into a new file `dest`.
    fn copy(&mut self, src: &mut dyn Read, dest: &Path, shown: &str) -> Result<u64, ImportError> {
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc_nofollow())
            .open(dest)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    ImportError::attack(code::VAL_PATH_TRAVERSAL, format!("{shown}: the entry appears twice"))
                } else {
                    ImportError::io("cannot create", dest)(e)
                }
            })?;
        let room = MAX_FILE_BYTES.min(MAX_TOTAL_BYTES - self.bytes);
        // Read and write separately: a read error is the source's fault (an archive entry
        // whose data is corrupt or longer than its header says), a write error is ours.
        let mut src = src.take(room + 1);
        let mut buf = vec![0u8; 64 * 1024];
        let mut n = 0u64;
        loop {
            let got = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ImportError::refused(
                        code::VAL_PATTERN,
                        format!("{shown} cannot be read: {e} (a corrupt entry, or one whose size lies)"),
                    ));
                }
            };
            out.write_all(&buf[..got])
                .map_err(ImportError::io("cannot write", dest))?;
            n += got as u64;
        }
        if n > room {
            return Err(ImportError::TooLarge(if n > MAX_FILE_BYTES {
                format!("{shown} is larger than {MAX_FILE_BYTES} bytes")
            } else {
                format!("the import is larger than {MAX_TOTAL_BYTES} bytes")
            }));
        }
        out.flush().map_err(ImportError::io("cannot write", dest))?;
        self.bytes += n;
        Ok(n)
    }
}

fn libc_nofollow() -> i32 {
    nix::fcntl::OFlag::O_NOFOLLOW.bits()
}

/// Checks one archive entry name; returns its segments.
fn entry_segments(raw: &[u8]) -> Result<Vec<String>, ImportError> {
    let name =
        std::str::from_utf8(raw).map_err(|_| ImportError::attack(code::VAL_PATTERN, "an entry name is not UTF-8"))?;
    let shown: String = name.chars().take(200).collect();
    if name.contains('\0') || name.contains('\\') {
        return Err(ImportError::attack(
            code::VAL_PATH_TRAVERSAL,
            format!("{shown:?}: NUL or backslash in an entry name"),
        ));
    }
    if name.starts_with('/') || name.get(1..2) == Some(":") {
        return Err(ImportError::attack(
            code::VAL_PATH_TRAVERSAL,
            format!("{shown:?}: absolute entry name"),
        ));
    }
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    let segments: Vec<String> = trimmed.split('/').map(str::to_owned).collect();
    if segments.iter().any(|s| s.is_empty() || s == "." || s == "..") {
        return Err(ImportError::attack(
            code::VAL_PATH_TRAVERSAL,
            format!("{shown:?}: '..', '.' or an empty segment in an entry name"),
        ));
    }
    if segments.len() > MAX_DEPTH {
        return Err(ImportError::refused(
            code::VAL_PATTERN,
            format!("{shown:?}: nested deeper than {MAX_DEPTH}"),
        ));
    }
    Ok(segments)
}

fn new_staging_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn valid_staging_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Importer {
    pub fn new(home: &Path) -> Self {
        Self {
            home: home.to_path_buf(),
            staging: home.join("user_data/pack_staging"),
            ecosystem: home.join("ecosystem"),
            backups: home.join("user_data/backups/packs"),
        }
    }

    /// Imports `source` (an absolute path to a folder, `.zip` or `.rumipack`) into staging.
    ///
    /// # Errors
    /// [`ImportError`]; nothing is left in staging then.
    pub fn import(&self, source: &Path) -> Result<Staged, ImportError> {
        if !source.is_absolute() {
            return Err(ImportError::refused(code::VAL_PATTERN, "path must be absolute"));
        }
        let meta =
            fs::symlink_metadata(source).map_err(|_| ImportError::SourceMissing(source.display().to_string()))?;
        let input_type = if meta.file_type().is_symlink() {
            return Err(ImportError::attack(
                code::VAL_SYMLINK,
                "the path to import is a symlink",
            ));
        } else if meta.is_dir() {
            "folder"
        } else if meta.is_file() {
            match source.extension().and_then(|e| e.to_str()) {
                Some("zip") => "zip",
                Some("rumipack") => "rumipack",
                _ => {
                    return Err(ImportError::refused(
                        code::VAL_PATTERN,
                        "only a folder, a .zip or a .rumipack can be imported",
                    ));
                }
            }
        } else {
            return Err(ImportError::attack(
                code::VAL_PATTERN,
                "the path to import is not a folder or a regular file",
            ));
        };
        rumi_common::fs::ensure_dir(&self.staging, 0o700).map_err(ImportError::io("cannot create", &self.staging))?;
        let staging_id = new_staging_id();
        let tmp = self.staging.join(format!(".{staging_id}.tmp"));
        fs::create_dir(&tmp).map_err(ImportError::io("cannot create", &tmp))?;
        let result = self.import_into(source, input_type, &tmp, &staging_id);
        match result {
            Ok(staged) => {
                let dest = self.staging.join(&staging_id);
                fs::rename(&tmp, &dest).map_err(ImportError::io("cannot move into place", &dest))?;
                let _ = rumi_common::fs::sync_dir(&self.staging);
                Ok(staged)
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                Err(e)
            }
        }
    }

    fn import_into(
        &self,
        source: &Path,
        input_type: &str,
        tmp: &Path,
        staging_id: &str,
    ) -> Result<Staged, ImportError> {
        let payload = tmp.join("payload");
        fs::create_dir(&payload).map_err(ImportError::io("cannot create", &payload))?;
        let mut budget = Budget::default();
        let top = if input_type == "folder" {
            let name = source
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| ImportError::refused(code::VAL_PATTERN, "the folder has no usable name"))?
                .to_owned();
            let top = pack_dir_name(&name)?;
            let dest = payload.join(&top);
            fs::create_dir(&dest).map_err(ImportError::io("cannot create", &dest))?;
            copy_tree(source, &dest, 0, &mut budget)?;
            top
        } else {
            extract_zip(source, &payload, &mut budget)?
        };
        let id = PackId::parse(&top).map_err(|e| ImportError::refused(code::PACK_ID_INVALID, e.to_string()))?;
        let manifest = discovery::read_manifest(&payload.join(&top), &id)
            .map_err(|p| ImportError::refused(p.code, format!("{top}: {}", p.message)))?;
        let staged = Staged {
            staging_id: staging_id.to_owned(),
            pack_id: manifest.pack_id.to_string(),
            pack_identity: manifest.pack_identity,
            input_type: input_type.to_owned(),
            source_path: source.display().to_string(),
            files: budget.entries,
            bytes: budget.bytes,
            imported_at: rumi_common::time::now_rfc3339(),
        };
        let meta = serde_json::to_vec_pretty(&staged).unwrap_or_default();
        let path = tmp.join("meta.json");
        rumi_common::fs::write_atomic(&path, &meta, 0o600).map_err(ImportError::io("cannot write", &path))?;
        Ok(staged)
    }

    /// Staged imports, newest first.
    pub fn list(&self) -> Vec<Staged> {
        let mut out: Vec<Staged> = fs::read_dir(&self.staging)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| valid_staging_id(&e.file_name().to_string_lossy()))
            .filter_map(|e| fs::read(e.path().join("meta.json")).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect();
        out.sort_by(|a: &Staged, b| b.imported_at.cmp(&a.imported_at));
        out
    }

    /// A staged import and its directory.
    ///
    /// # Errors
    /// A malformed id, or no such staged import.
    pub fn staged(&self, staging_id: &str) -> Result<(Staged, PathBuf), ImportError> {
        if !valid_staging_id(staging_id) {
            return Err(ImportError::refused(
                code::VAL_PATTERN,
                "staging_id is 16 lower-case hex digits",
            ));
        }
        let dir = self.staging.join(staging_id);
        let meta: Staged = fs::read(dir.join("meta.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| ImportError::StagingNotFound(staging_id.to_owned()))?;
        Ok((meta, dir))
    }

    /// Removes a staged import.
    ///
    /// # Errors
    /// Unknown id or I/O.
    pub fn discard(&self, staging_id: &str) -> Result<(), ImportError> {
        let (_, dir) = self.staged(staging_id)?;
        fs::remove_dir_all(&dir).map_err(ImportError::io("cannot remove", &dir))
    }

    /// Installs a staged pack: a new pack is moved into `ecosystem/`; an installed one (same
    /// `pack_identity`) is backed up and swapped atomically. The pack then needs approval
    /// again if anything changed (the caller rescans).
    ///
    /// # Errors
    /// [`ImportError`]; the installed pack is untouched then.
    pub fn apply(&self, staging_id: &str) -> Result<Applied, ImportError> {
        let (meta, dir) = self.staged(staging_id)?;
        let id =
            PackId::parse(&meta.pack_id).map_err(|e| ImportError::refused(code::PACK_ID_INVALID, e.to_string()))?;
        let new = dir.join("payload").join(id.as_str());
        // Re-read: the staged manifest is what gets installed.
        let manifest = discovery::read_manifest(&new, &id)
            .map_err(|p| ImportError::refused(p.code, format!("staged pack: {}", p.message)))?;
        let existing = discovery::find(&self.ecosystem, &id);
        let target = match &existing {
            Some(found) => {
                let installed = found.manifest.as_ref().map_err(|p| {
                    ImportError::refused(
                        p.code,
                        format!(
                            "the installed pack's ecosystem.json cannot be read ({}); uninstall it first to replace it",
                            p.message
                        ),
                    )
                })?;
                if installed.pack_identity != manifest.pack_identity {
                    return Err(ImportError::IdentityMismatch {
                        pack_id: id.to_string(),
                        installed: installed.pack_identity.clone(),
                        staged: manifest.pack_identity,
                    });
                }
                found.dir.clone()
            }
            None => self.ecosystem.join(id.as_str()),
        };
        // Same file system as the target, so the swap is a rename.
        let incoming = self.ecosystem.join(format!(".apply-{staging_id}"));
        fs::rename(&new, &incoming).map_err(ImportError::io("cannot move the staged pack to", &incoming))?;
        let put_back = |e: ImportError| {
            let _ = fs::rename(&incoming, &new);
            e
        };
        let backup = if existing.is_some() {
            nix::fcntl::renameat2(
                nix::fcntl::AT_FDCWD,
                &incoming,
                nix::fcntl::AT_FDCWD,
                &target,
                nix::fcntl::RenameFlags::RENAME_EXCHANGE,
            )
            .map_err(|e| put_back(ImportError::io("cannot swap in", &target)(io::Error::from(e))))?;
            // `incoming` now holds the previous version.
            rumi_common::fs::ensure_dir(&self.backups, 0o700)
                .map_err(ImportError::io("cannot create", &self.backups))?;
            let backup = self
                .backups
                .join(format!("{id}-{}-apply", Utc::now().format("%Y%m%dT%H%M%S%.6fZ")));
            fs::rename(&incoming, &backup).map_err(ImportError::io("cannot move the previous version to", &backup))?;
            Some(backup.strip_prefix(&self.home).unwrap_or(&backup).display().to_string())
        } else {
            nix::fcntl::renameat2(
                nix::fcntl::AT_FDCWD,
                &incoming,
                nix::fcntl::AT_FDCWD,
                &target,
                nix::fcntl::RenameFlags::RENAME_NOREPLACE,
            )
            .map_err(|e| put_back(ImportError::io("cannot move into place", &target)(io::Error::from(e))))?;
            None
        };
        let _ = rumi_common::fs::sync_dir(&self.ecosystem);
        let _ = fs::remove_dir_all(&dir);
        Ok(Applied {
            staging_id: staging_id.to_owned(),
            pack_id: id.to_string(),
            replaced: existing.is_some(),
            backup,
        })
    }
}

/// The top-level directory name, which becomes the pack id.
fn pack_dir_name(name: &str) -> Result<String, ImportError> {
    let id = PackId::parse(name).map_err(|e| {
        ImportError::refused(
            code::PACK_ID_INVALID,
            format!("the top-level directory {name:?} is not a pack id: {e}"),
        )
    })?;
    if id.as_str() == discovery::LOCAL_PACK {
        return Err(ImportError::refused(
            code::PACK_ID_INVALID,
            "local_pack is a reserved id",
        ));
    }
    Ok(id.to_string())
}

fn copy_tree(src: &Path, dest: &Path, depth: usize, budget: &mut Budget) -> Result<(), ImportError> {
    if depth > MAX_DEPTH {
        return Err(ImportError::refused(
            code::VAL_PATTERN,
            format!("nested deeper than {MAX_DEPTH}"),
        ));
    }
    let mut entries: Vec<_> = fs::read_dir(src)
        .map_err(ImportError::io("cannot read", src))?
        .collect::<Result<_, _>>()
        .map_err(ImportError::io("cannot read", src))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for e in entries {
        budget.entry()?;
        let path = e.path();
        let shown = path.display().to_string();
        let kind = e.file_type().map_err(ImportError::io("cannot read", &path))?;
        let to = dest.join(e.file_name());
        if kind.is_symlink() {
            return Err(ImportError::attack(code::VAL_SYMLINK, format!("{shown} is a symlink")));
        } else if kind.is_dir() {
            fs::create_dir(&to).map_err(ImportError::io("cannot create", &to))?;
            copy_tree(&path, &to, depth + 1, budget)?;
        } else if kind.is_file() {
            let mut f = OpenOptions::new()
                .read(true)
                .custom_flags(libc_nofollow())
                .open(&path)
                .map_err(ImportError::io("cannot read", &path))?;
            budget.copy(&mut f, &to, &shown)?;
        } else {
            let what = if kind.is_fifo() {
                "a FIFO"
            } else if kind.is_socket() {
                "a socket"
            } else {
                "a device"
            };
            return Err(ImportError::attack(code::VAL_PATTERN, format!("{shown} is {what}")));
        }
    }
    Ok(())
}

/// Extracts a zip into `payload`; returns the one top-level directory's name.
fn extract_zip(source: &Path, payload: &Path, budget: &mut Budget) -> Result<String, ImportError> {
    let file = File::open(source).map_err(ImportError::io("cannot read", source))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| ImportError::refused(code::VAL_PATTERN, format!("not a valid zip archive: {e}")))?;
    // The archive's index keeps one entry per name: a second entry of a name would replace
    // the first unseen, so the operator could review one file and install another.
    if zip.has_duplicate_names() {
        return Err(ImportError::attack(
            code::VAL_PATH_TRAVERSAL,
            "the archive holds two entries of the same name",
        ));
    }
    if zip.is_empty() {
        return Err(ImportError::refused(code::VAL_EMPTY, "the archive is empty"));
    }
    if zip.len() > MAX_FILES {
        return Err(ImportError::TooLarge(format!("more than {MAX_FILES} entries")));
    }
    // First pass: names, kinds and declared sizes, before anything is written.
    let mut top: Option<String> = None;
    let mut declared: u64 = 0;
    for i in 0..zip.len() {
        let entry = zip
            .by_index_raw(i)
            .map_err(|e| ImportError::refused(code::VAL_PATTERN, format!("unreadable entry: {e}")))?;
        let segments = entry_segments(entry.name_raw())?;
        let shown = segments.join("/");
        if entry.is_symlink() {
            return Err(ImportError::attack(code::VAL_SYMLINK, format!("{shown} is a symlink")));
        }
        if let Some(mode) = entry.unix_mode() {
            let kind = mode & 0o170_000;
            if kind != 0 && kind != 0o100_000 && kind != 0o040_000 {
                return Err(ImportError::attack(
                    code::VAL_PATTERN,
                    format!("{shown} is not a regular file or directory"),
                ));
            }
        }
        match &top {
            None => top = Some(segments[0].clone()),
            Some(t) if *t != segments[0] => {
                return Err(ImportError::refused(
                    code::VAL_PATTERN,
                    format!(
                        "the archive must hold exactly one top-level directory (found {t:?} and {:?})",
                        segments[0]
                    ),
                ));
            }
            Some(_) => {}
        }
        if segments.len() == 1 && !entry.is_dir() {
            return Err(ImportError::refused(
                code::VAL_PATTERN,
                format!("{shown} is a file at the top level; the archive must hold one directory"),
            ));
        }
        if entry.size() > MAX_FILE_BYTES {
            return Err(ImportError::TooLarge(format!(
                "{shown} is larger than {MAX_FILE_BYTES} bytes"
            )));
        }
        if entry.size() > 1024 * 1024 && entry.size() / entry.compressed_size().max(1) > MAX_RATIO {
            return Err(ImportError::TooLarge(format!(
                "{shown} expands more than {MAX_RATIO} times (a compression bomb)"
            )));
        }
        declared = declared.saturating_add(entry.size());
        if declared > MAX_TOTAL_BYTES {
            return Err(ImportError::TooLarge(format!(
                "the archive is larger than {MAX_TOTAL_BYTES} bytes"
            )));
        }
    }
    let top = top.unwrap_or_default();
    let top = pack_dir_name(&top)?;
    fs::create_dir(payload.join(&top)).map_err(ImportError::io("cannot create", payload))?;
    // Second pass: write, counting what is really decompressed.
    for i in 0..zip.len() {
        budget.entry()?;
        let mut entry = zip
            .by_index(i)
            .map_err(|e| ImportError::refused(code::VAL_PATTERN, format!("unreadable entry: {e}")))?;
        let segments = entry_segments(entry.name_raw())?;
        if segments.len() == 1 {
            continue;
        }
        let dest = segments.iter().fold(payload.to_path_buf(), |p, s| p.join(s));
        let shown = segments.join("/");
        // A name used both as a file and as a directory ("a", then "a/b" or "a/") is the
        // archive's fault, not a failure of ours.
        let both = || {
            ImportError::refused(
                code::VAL_PATTERN,
                format!("{shown}: a path of the archive is both a file and a directory"),
            )
        };
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(|e| {
                if matches!(e.kind(), io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory) {
                    both()
                } else {
                    ImportError::io("cannot create", parent)(e)
                }
            })?;
        }
        if entry.is_dir() {
            match fs::create_dir(&dest) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dest.is_dir() => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(both()),
                Err(e) => return Err(ImportError::io("cannot create", &dest)(e)),
            }
        } else if fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
            return Err(both());
        } else {
            let declared = entry.size();
            let written = budget.copy(&mut entry, &dest, &shown)?;
            if written != declared {
                return Err(ImportError::refused(
                    code::VAL_PATTERN,
                    format!("{shown} holds {written} bytes but its header says {declared} (a size that lies)"),
                ));
            }
        }
    }
    Ok(top)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_are_checked() {
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "a\\b",
            "C:/x",
            "a\0b",
        ] {
            assert!(entry_segments(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert_eq!(entry_segments(b"p/backend/x.py").unwrap(), ["p", "backend", "x.py"]);
        assert_eq!(entry_segments(b"p/").unwrap(), ["p"]);
        assert!(entry_segments(&[0xff, b'a']).is_err());
    }

    #[test]
    fn staging_ids_are_strict() {
        assert!(valid_staging_id(&new_staging_id()));
        for bad in ["", "../../etc", "ABCDEF0123456789", "0123456789abcdef0"] {
            assert!(!valid_staging_id(bad), "{bad}");
        }
    }
}
