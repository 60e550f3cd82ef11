//! Approved snapshots: what runs is exactly what the operator approved.
//!
//! At approval a pack's files are copied into `user_data/snapshots/<pack_id>/<digest>/`
//! and hashed *as they are copied*: the approval record lists the hashes of the bytes in the
//! snapshot, not of files that may change after they were read. `<digest>` is the
//! [`super::hashing::tree_digest`] of those hashes, so a snapshot is content-addressed: the
//! record names its snapshot, and approving identical files again reuses it.
//!
//! A snapshot is never written again: files are created `0444`, directories end `0555`,
//! everything is owned by rumid, and sandboxes mount it read-only at `/pack`. Every use of a
//! pack reads from its snapshot — blocks, lib scripts, flows, modifiers, routes, handler
//! candidates, lock files and units — so an edit in `ecosystem/` can only make the pack
//! `modified`; it can never run, and no use of a pack needs to re-hash it.
//!
//! # Security
//! - Time of check to time of use: nothing reads `ecosystem/` between an approval and a run.
//! - Symlinks: a snapshot keeps a pack's symlinks (recorded by target), but rumid never
//!   follows one when it reads a pack's configuration: [`PackSnapshot::read`] serves only
//!   regular files listed in the record (the walk never descends into a symlink, so no listed
//!   file has a symlink above it) and opens them with `openat2(RESOLVE_BENEATH |
//!   RESOLVE_NO_SYMLINKS)`. A `routes.json` pointing into `/data` is refused, not followed.
//! - Garbage: a snapshot no approved pack names is removed, but never while a run still holds
//!   it (the store keeps a weak reference to every snapshot handed out).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use rumi_common::ids::PackId;

use super::hashing::{self, Entry, FileHashes, HashError};

/// Name prefix of a snapshot being copied (removed at start if a crash left one).
const TEMP_PREFIX: &str = ".tmp-";
const COPY_BUF: usize = 256 * 1024;

/// The approved files of one pack, as copied at approval.
#[derive(Debug)]
pub struct PackSnapshot {
    pack: PackId,
    dir: PathBuf,
    digest: String,
    files: FileHashes,
}

/// Why a file of a snapshot cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0} is not a regular file of the approved snapshot")]
    NotAFile(String),
    #[error("{path} is larger than {max} bytes")]
    TooLarge { path: String, max: u64 },
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
}

// === impl PackSnapshot ===

impl PackSnapshot {
    pub fn pack(&self) -> &PackId {
        &self.pack
    }

    /// The snapshot's directory (read-only; what sandboxes mount at `/pack`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The digest of the approved file list (the record's tree digest).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The approved file list.
    pub fn hashes(&self) -> &FileHashes {
        &self.files
    }

    /// Relative paths of the regular files, sorted.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.files
            .iter()
            .filter(|(_, v)| v.starts_with("sha256:"))
            .map(|(k, _)| k.as_str())
    }

    /// Regular files below the directory `prefix` (relative, without a trailing `/`).
    pub fn files_under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.files()
            .filter(move |f| prefix.is_empty() || f.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/')))
    }

    /// Whether `rel` is a regular file of the snapshot (never a symlink, never below one).
    pub fn is_file(&self, rel: &str) -> bool {
        self.files.get(rel).is_some_and(|v| v.starts_with("sha256:"))
    }

    /// Reads a regular file of the snapshot, at most `max` bytes.
    ///
    /// # Errors
    /// [`ReadError::NotAFile`] for anything the record does not list as a regular file
    /// (symlinks included), [`ReadError::TooLarge`], or an I/O error.
    ///
    /// # Security
    /// No symlink is followed, whatever the path: see the module documentation.
    pub fn read(&self, rel: &str, max: u64) -> Result<Vec<u8>, ReadError> {
        if !self.is_file(rel) {
            return Err(ReadError::NotAFile(rel.to_owned()));
        }
        let io_err = |source| ReadError::Io {
            path: rel.to_owned(),
            source,
        };
        let file = open_beneath(&self.dir, rel).map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        if !meta.is_file() {
            return Err(ReadError::NotAFile(rel.to_owned()));
        }
        if meta.len() > max {
            return Err(ReadError::TooLarge {
                path: rel.to_owned(),
                max,
            });
        }
        let mut bytes = Vec::new();
        file.take(max + 1).read_to_end(&mut bytes).map_err(io_err)?;
        if bytes.len() as u64 > max {
            return Err(ReadError::TooLarge {
                path: rel.to_owned(),
                max,
            });
        }
        Ok(bytes)
    }

    /// A view of an installed, unapproved pack directory, read with the same rules (only
    /// listed regular files, no symlink followed). For `rumid --validate` only: nothing read
    /// through it ever runs, and the directory may change under it.
    ///
    /// # Errors
    /// [`HashError`] when the directory cannot be listed and hashed.
    pub fn installed(pack: &PackId, dir: &Path) -> Result<Self, HashError> {
        let files = hashing::hash_pack(dir)?;
        Ok(Self {
            pack: pack.clone(),
            dir: dir.to_path_buf(),
            digest: hashing::tree_digest(&files),
            files,
        })
    }

    /// Reads a file as UTF-8 text.
    ///
    /// # Errors
    /// As [`PackSnapshot::read`], and text that is not UTF-8.
    pub fn read_text(&self, rel: &str, max: u64) -> Result<String, ReadError> {
        String::from_utf8(self.read(rel, max)?).map_err(|_| ReadError::Io {
            path: rel.to_owned(),
            source: io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"),
        })
    }
}

/// Opens `rel` below `dir` without following any symlink and without leaving `dir`.
fn open_beneath(dir: &Path, rel: &str) -> io::Result<File> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
    let root = File::open(dir)?;
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    match nix::fcntl::openat2(root.as_fd(), rel, how) {
        Ok(fd) => Ok(File::from(fd)),
        // Kernels before 5.6: the record already guarantees that no directory above `rel`
        // is a symlink, and the snapshot never changes; O_NOFOLLOW covers the file itself.
        Err(nix::errno::Errno::ENOSYS) => OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
            .open(dir.join(rel)),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// Where snapshots live, and which ones are in use.
pub struct SnapshotStore {
    root: PathBuf,
    /// Every snapshot handed out, weakly: one a run still holds is never removed.
    live: Mutex<HashMap<PathBuf, Weak<PackSnapshot>>>,
}

// === impl SnapshotStore ===

impl SnapshotStore {
    /// Opens (or creates) the store at `root`, removing copies a crash left unfinished.
    ///
    /// # Errors
    /// When `root` cannot be created.
    pub fn open(root: PathBuf) -> io::Result<Self> {
        rumi_common::fs::ensure_dir(&root, 0o700)?;
        for pack in fs::read_dir(&root)?.flatten() {
            if !pack.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            for child in fs::read_dir(pack.path()).into_iter().flatten().flatten() {
                if child.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    let _ = remove_tree(&child.path());
                }
            }
        }
        Ok(Self {
            root,
            live: Mutex::default(),
        })
    }

    fn dir_of(&self, pack: &PackId, digest: &str) -> PathBuf {
        self.root.join(pack.as_str()).join(digest)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Weak<PackSnapshot>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn hand_out(&self, snap: PackSnapshot) -> Arc<PackSnapshot> {
        let mut live = self.lock();
        if let Some(existing) = live.get(&snap.dir).and_then(Weak::upgrade) {
            return existing;
        }
        let snap = Arc::new(snap);
        live.insert(snap.dir.clone(), Arc::downgrade(&snap));
        snap
    }

    /// The existing snapshot of `files`, if it is on disk.
    pub fn existing(&self, pack: &PackId, files: &FileHashes) -> Option<Arc<PackSnapshot>> {
        let digest = hashing::tree_digest(files);
        let dir = self.dir_of(pack, &digest);
        fs::symlink_metadata(&dir).ok().filter(fs::Metadata::is_dir)?;
        Some(self.hand_out(PackSnapshot {
            pack: pack.clone(),
            dir,
            digest,
            files: files.clone(),
        }))
    }

    /// Copies the pack at `src` into a new snapshot, hashing every byte as it is copied.
    ///
    /// # Errors
    /// [`HashError`] as for hashing, or a failed write (nothing is left behind then).
    pub fn take(&self, pack: &PackId, src: &Path) -> Result<Arc<PackSnapshot>, HashError> {
        let pack_dir = self.root.join(pack.as_str());
        let io_at = |path: &str| {
            let path = path.to_owned();
            move |source| HashError::Io { path, source }
        };
        rumi_common::fs::ensure_dir(&pack_dir, 0o700).map_err(io_at("user_data/snapshots"))?;
        let tmp = pack_dir.join(format!("{TEMP_PREFIX}{:016x}", rand::random::<u64>()));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .map_err(io_at("user_data/snapshots"))?;
        let copied = copy_tree(src, &tmp);
        let files = match copied {
            Ok(f) => f,
            Err(e) => {
                let _ = remove_tree(&tmp);
                return Err(e);
            }
        };
        let digest = hashing::tree_digest(&files);
        let dir = self.dir_of(pack, &digest);
        let settle = || -> io::Result<()> {
            // One syncfs for the whole copy instead of an fsync per file: the record that
            // names this snapshot is written only after it is durable.
            let fd = File::open(&tmp)?;
            nix::unistd::syncfs(fd.as_fd()).map_err(io::Error::from)?;
            if fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
                // The same content was approved before; that copy is complete (only
                // finished copies are renamed into place).
                remove_tree(&tmp)?;
            } else {
                fs::rename(&tmp, &dir)?;
            }
            rumi_common::fs::sync_dir(&pack_dir)
        };
        if let Err(e) = settle() {
            let _ = remove_tree(&tmp);
            return Err(HashError::Io {
                path: "user_data/snapshots".into(),
                source: e,
            });
        }
        Ok(self.hand_out(PackSnapshot {
            pack: pack.clone(),
            dir,
            digest,
            files,
        }))
    }

    /// Removes every snapshot that is neither in `keep` nor held by a run.
    pub fn retain(&self, keep: &[(PackId, String)]) -> usize {
        let keep: HashSet<PathBuf> = keep.iter().map(|(p, d)| self.dir_of(p, d)).collect();
        let mut live = self.lock();
        live.retain(|_, w| w.strong_count() > 0);
        let mut removed = 0;
        for pack in fs::read_dir(&self.root).into_iter().flatten().flatten() {
            if !pack.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            for child in fs::read_dir(pack.path()).into_iter().flatten().flatten() {
                let path = child.path();
                let name = child.file_name();
                if name.to_string_lossy().starts_with(TEMP_PREFIX) || keep.contains(&path) || live.contains_key(&path) {
                    continue;
                }
                match remove_tree(&path) {
                    Ok(()) => removed += 1,
                    Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot remove an old snapshot"),
                }
            }
            // An empty pack directory (the pack is gone) goes too; a non-empty one fails.
            let _ = fs::remove_dir(pack.path());
        }
        removed
    }
}

/// Copies `src` into the empty directory `dest`, returning the hashes of what was written.
fn copy_tree(src: &Path, dest: &Path) -> Result<FileHashes, HashError> {
    let mut buf = vec![0u8; COPY_BUF];
    let mut dirs = Vec::new();
    let files = hashing::walk(src, &mut |entry| {
        let io_at = |rel: &str| {
            let path = rel.to_owned();
            move |source| HashError::Io { path, source }
        };
        match entry {
            Entry::Dir { rel } => {
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(dest.join(rel))
                    .map_err(io_at(rel))?;
                dirs.push(rel.to_owned());
                Ok(None)
            }
            Entry::Symlink { rel, target } => {
                std::os::unix::fs::symlink(&target, dest.join(rel)).map_err(io_at(rel))?;
                Ok(Some(hashing::symlink_value(&target)))
            }
            Entry::File { rel, mut file, .. } => {
                // Created read-only (the descriptor still writes), exclusively, never
                // through a symlink: no mode bit of the source survives, setuid included.
                let mut out = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o444)
                    .custom_flags(nix::libc::O_NOFOLLOW)
                    .open(dest.join(rel))
                    .map_err(io_at(rel))?;
                let value =
                    hashing::hash_reader(&mut file, &mut buf, &mut |chunk| out.write_all(chunk)).map_err(io_at(rel))?;
                Ok(Some(value))
            }
        }
    })?;
    // Directories become read-only last, children first.
    for rel in dirs.iter().rev() {
        fs::set_permissions(dest.join(rel), fs::Permissions::from_mode(0o555)).map_err(|source| HashError::Io {
            path: rel.clone(),
            source,
        })?;
    }
    fs::set_permissions(dest, fs::Permissions::from_mode(0o555)).map_err(|source| HashError::Io {
        path: ".".into(),
        source,
    })?;
    Ok(files)
}

/// Removes a snapshot tree, whose directories are read-only.
fn remove_tree(path: &Path) -> io::Result<()> {
    fn writable(dir: &Path) {
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                writable(&e.path());
            }
        }
    }
    if fs::symlink_metadata(path)?.is_dir() {
        writable(path);
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> PackId {
        PackId::parse(s).unwrap()
    }

    #[test]
    fn a_snapshot_holds_exactly_the_hashed_bytes_and_reads_no_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("backend/blocks")).unwrap();
        fs::write(src.join("ecosystem.json"), "{}").unwrap();
        fs::write(src.join("backend/blocks/a.py"), "x = 1").unwrap();
        fs::set_permissions(src.join("backend/blocks/a.py"), fs::Permissions::from_mode(0o4755)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("routes.json")).unwrap();
        std::os::unix::fs::symlink("backend", src.join("linked")).unwrap();
        let store = SnapshotStore::open(tmp.path().join("snapshots")).unwrap();
        let snap = store.take(&id("p"), &src).unwrap();
        assert_eq!(snap.hashes(), &hashing::hash_pack(&src).unwrap());
        assert_eq!(snap.hashes(), &hashing::hash_pack(snap.dir()).unwrap());
        assert_eq!(snap.read("backend/blocks/a.py", 100).unwrap(), b"x = 1");
        // No setuid, no write bit survives.
        let mode = fs::metadata(snap.dir().join("backend/blocks/a.py"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o444);
        assert_eq!(
            fs::metadata(snap.dir().join("backend")).unwrap().permissions().mode() & 0o777,
            0o555
        );
        // Symlinks are kept but never followed by a read, directly or as a directory.
        assert!(matches!(snap.read("routes.json", 100), Err(ReadError::NotAFile(_))));
        assert!(matches!(
            snap.read("linked/blocks/a.py", 100),
            Err(ReadError::NotAFile(_))
        ));
        assert!(matches!(
            snap.read("../src/ecosystem.json", 100),
            Err(ReadError::NotAFile(_))
        ));
        assert!(matches!(
            snap.read("backend/blocks/a.py", 2),
            Err(ReadError::TooLarge { .. })
        ));
        // Editing the source changes nothing in the snapshot.
        fs::write(src.join("backend/blocks/a.py"), "x = 2").unwrap();
        assert_eq!(snap.read("backend/blocks/a.py", 100).unwrap(), b"x = 1");
        // Identical content is the same snapshot.
        fs::write(src.join("backend/blocks/a.py"), "x = 1").unwrap();
        let again = store.take(&id("p"), &src).unwrap();
        assert_eq!(again.dir(), snap.dir());
        assert_eq!(store.existing(&id("p"), snap.hashes()).unwrap().dir(), snap.dir());
    }

    #[test]
    fn old_snapshots_are_removed_only_once_no_run_holds_them() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("d")).unwrap();
        fs::write(src.join("d/a.py"), "1").unwrap();
        let store = SnapshotStore::open(tmp.path().join("snapshots")).unwrap();
        let old = store.take(&id("p"), &src).unwrap();
        fs::write(src.join("d/a.py"), "2").unwrap();
        let new = store.take(&id("p"), &src).unwrap();
        let keep = [(id("p"), new.digest().to_owned())];
        // A run still holds the old one.
        assert_eq!(store.retain(&keep), 0);
        assert!(old.dir().is_dir());
        let old_dir = old.dir().to_path_buf();
        drop(old);
        assert_eq!(store.retain(&keep), 1);
        assert!(!old_dir.exists());
        assert!(new.dir().is_dir());
        // A crash mid-copy leaves a temp directory; the next start removes it.
        fs::create_dir_all(tmp.path().join("snapshots/p/.tmp-0000/x")).unwrap();
        drop(store);
        SnapshotStore::open(tmp.path().join("snapshots")).unwrap();
        assert!(!tmp.path().join("snapshots/p/.tmp-0000").exists());
    }

    #[test]
    fn a_failed_copy_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("a.py"), "1").unwrap();
        nix::unistd::mkfifo(&src.join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let store = SnapshotStore::open(tmp.path().join("snapshots")).unwrap();
        assert!(matches!(store.take(&id("p"), &src), Err(HashError::SpecialFile { .. })));
        assert_eq!(fs::read_dir(tmp.path().join("snapshots/p")).unwrap().count(), 0);
    }
}
