//! What an approval covers: the sha256 of every file of the pack.
//!
//! The walk never follows symlinks: a symlink is recorded by its target text, so retargeting
//! it is a change. Nothing is skipped: Python imports a stray `*.pyc` or a cached one in
//! `__pycache__/` as readily as source, so excluding caches (as the original did) would let
//! a pack change what runs without becoming `modified`.
//! FIFOs, sockets and devices make the pack unhashable: reading a FIFO would block and a
//! device has no content an operator could review. So does a name that is not UTF-8: the
//! record keys are text, and two such names must never collapse into one key (which would
//! let one of the files change unnoticed).
//!
//! One walker ([`walk`]) serves the three users: hashing in place ([`hash_pack`]),
//! re-checking in place with a stat cache ([`hash_pack_cached`]), and copying into an
//! approved snapshot while hashing the bytes copied (`super::snapshot`).

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// Path relative to the pack root (with `/`) → `"sha256:<hex>"` (files) or
/// `"symlink:<hex of the target's sha256>"` (symlinks).
pub type FileHashes = BTreeMap<String, String>;

/// Most entries a pack may hold; more is refused rather than hashed for minutes.
pub const MAX_PACK_FILES: usize = 50_000;
/// Most bytes a pack may hold (every file together): an approval copies the pack, so this
/// bounds the disk one approval can take.
pub const MAX_PACK_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Deepest directory nesting walked.
const MAX_DEPTH: usize = 64;
const READ_BUF: usize = 256 * 1024;

/// Why a pack could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path} is a {kind}; packs may only hold files, directories and symlinks")]
    SpecialFile { path: String, kind: &'static str },
    #[error("{path:?} is not a UTF-8 file name; rename it")]
    NonUtf8Name { path: String },
    #[error("more than {MAX_PACK_FILES} files")]
    TooManyFiles,
    #[error("more than {MAX_PACK_BYTES} bytes")]
    TooLarge,
    #[error("directories nested deeper than {MAX_DEPTH}")]
    TooDeep,
}

impl HashError {
    /// Whether the failure says nothing about the pack itself: the host ran out of file
    /// descriptors or memory, or a disk failed. Such a failure is an error of the check,
    /// never a verdict that the pack changed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Io { source, .. } => {
                !matches!(
                    source.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied | io::ErrorKind::InvalidData
                ) && source.raw_os_error() != Some(nix::libc::ELOOP)
                    && source.raw_os_error() != Some(nix::libc::ENOTDIR)
            }
            Self::SpecialFile { .. }
            | Self::NonUtf8Name { .. }
            | Self::TooManyFiles
            | Self::TooLarge
            | Self::TooDeep => false,
        }
    }
}

/// One entry of a walk, in a stable order (names sorted, parents before children).
pub enum Entry<'a> {
    Dir {
        rel: &'a str,
    },
    /// A regular file, opened without following symlinks, with its metadata (from the
    /// open descriptor).
    File {
        rel: &'a str,
        file: File,
        meta: fs::Metadata,
    },
    Symlink {
        rel: &'a str,
        target: PathBuf,
    },
}

/// Walks `root` without following symlinks, calling `visit` for every directory, file and
/// symlink below it; `visit` returns the record value for files and symlinks.
///
/// # Errors
/// [`HashError`] on I/O errors, special files, non-UTF-8 names, or a pack that is too large
/// or deep; and whatever `visit` returns.
pub fn walk(
    root: &Path,
    visit: &mut dyn FnMut(Entry<'_>) -> Result<Option<String>, HashError>,
) -> Result<FileHashes, HashError> {
    let mut out = FileHashes::new();
    let mut bytes = 0u64;
    walk_dir(root, "", 0, &mut out, &mut bytes, visit)?;
    Ok(out)
}

fn walk_dir(
    dir: &Path,
    rel: &str,
    depth: usize,
    out: &mut FileHashes,
    bytes: &mut u64,
    visit: &mut dyn FnMut(Entry<'_>) -> Result<Option<String>, HashError>,
) -> Result<(), HashError> {
    if depth > MAX_DEPTH {
        return Err(HashError::TooDeep);
    }
    let io_err = |path: &str| {
        let path = path.to_owned();
        move |source| HashError::Io { path, source }
    };
    let shown = if rel.is_empty() { "." } else { rel };
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(shown))? {
        entries.push(entry.map_err(io_err(shown))?);
    }
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let raw = entry.file_name();
        let Some(name) = raw.to_str() else {
            return Err(HashError::NonUtf8Name {
                path: format!("{}/{}", shown, raw.to_string_lossy()),
            });
        };
        let child_rel = if rel.is_empty() {
            name.to_owned()
        } else {
            format!("{rel}/{name}")
        };
        let kind = entry.file_type().map_err(io_err(&child_rel))?;
        if kind.is_dir() {
            visit(Entry::Dir { rel: &child_rel })?;
            walk_dir(&entry.path(), &child_rel, depth + 1, out, bytes, visit)?;
            continue;
        }
        if out.len() >= MAX_PACK_FILES {
            return Err(HashError::TooManyFiles);
        }
        let value = if kind.is_symlink() {
            let target = fs::read_link(entry.path()).map_err(io_err(&child_rel))?;
            visit(Entry::Symlink {
                rel: &child_rel,
                target,
            })?
        } else if kind.is_file() {
            let file = open_nofollow(&entry.path()).map_err(io_err(&child_rel))?;
            let meta = file.metadata().map_err(io_err(&child_rel))?;
            if !meta.is_file() {
                return Err(HashError::Io {
                    path: child_rel,
                    source: io::Error::other("not a regular file"),
                });
            }
            *bytes = bytes.saturating_add(meta.len());
            if *bytes > MAX_PACK_BYTES {
                return Err(HashError::TooLarge);
            }
            visit(Entry::File {
                rel: &child_rel,
                file,
                meta,
            })?
        } else {
            let kind = if kind.is_fifo() {
                "fifo"
            } else if kind.is_socket() {
                "socket"
            } else {
                "device"
            };
            return Err(HashError::SpecialFile { path: child_rel, kind });
        };
        if let Some(v) = value {
            out.insert(child_rel, v);
        }
    }
    Ok(())
}

/// Opens a regular file for reading. O_NOFOLLOW | O_NONBLOCK: if the entry was swapped for
/// a symlink or FIFO after the directory was read, the open fails or returns at once
/// instead of following or blocking.
fn open_nofollow(path: &Path) -> io::Result<File> {
    let flags = nix::fcntl::OFlag::O_NOFOLLOW.bits() | nix::fcntl::OFlag::O_NONBLOCK.bits();
    OpenOptions::new().read(true).custom_flags(flags).open(path)
}

/// The record value of a symlink.
pub fn symlink_value(target: &Path) -> String {
    format!(
        "symlink:{}",
        hex::encode(Sha256::digest(target.as_os_str().as_encoded_bytes()))
    )
}

/// Reads `file` to its end, feeding every chunk to `sink` as well as to the hash; returns
/// the record value (`sha256:<hex>`).
///
/// # Errors
/// I/O errors of the read or of `sink`.
pub fn hash_reader(
    file: &mut File,
    buf: &mut [u8],
    sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<String> {
    let mut hasher = Sha256::new();
    loop {
        let n = file.read(buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        sink(&buf[..n])?;
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// Hashes every file below `root`.
///
/// # Errors
/// [`HashError`] on I/O errors, special files, or a pack that is too large or deep.
pub fn hash_pack(root: &Path) -> Result<FileHashes, HashError> {
    let mut buf = vec![0u8; READ_BUF];
    walk(root, &mut |entry| match entry {
        Entry::Dir { .. } => Ok(None),
        Entry::Symlink { target, .. } => Ok(Some(symlink_value(&target))),
        Entry::File { rel, mut file, .. } => {
            hash_reader(&mut file, &mut buf, &mut |_| Ok(()))
                .map(Some)
                .map_err(|source| HashError::Io {
                    path: rel.to_owned(),
                    source,
                })
        }
    })
}

/// What identifies the content of a file without reading it, as git's index does: a
/// change of content changes the size, the mtime or the ctime (which no unprivileged call
/// can set back), and a replaced file has another inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        }
    }
}

/// A file changed this recently is hashed again next time: a write within the same clock
/// tick as the hash could leave the stamp unchanged (git's "racy" entries).
const RACY: Duration = Duration::from_secs(2);

/// Hashes of files of one pack directory by their [`Stamp`], so re-checking an unchanged
/// pack costs a `stat` per file instead of reading it.
///
/// # Security
/// The cache only serves the check of `ecosystem/`, which decides whether a pack is shown
/// `modified`. What runs is always the approved snapshot, hashed as it was copied, so a
/// stale cache entry can never make unapproved bytes run.
#[derive(Debug, Default)]
pub struct StatCache {
    files: HashMap<String, (Stamp, String)>,
}

/// Hashes every file below `root`, reading only files whose stamp is not in `cache`; the
/// cache is replaced by what this walk saw.
///
/// # Errors
/// As [`hash_pack`].
pub fn hash_pack_cached(root: &Path, cache: &mut StatCache) -> Result<FileHashes, HashError> {
    hash_cached(root, cache, RACY)
}

fn hash_cached(root: &Path, cache: &mut StatCache, racy: Duration) -> Result<FileHashes, HashError> {
    let mut buf = vec![0u8; READ_BUF];
    let mut next = HashMap::new();
    let now = SystemTime::now();
    let hashes = walk(root, &mut |entry| match entry {
        Entry::Dir { .. } => Ok(None),
        Entry::Symlink { target, .. } => Ok(Some(symlink_value(&target))),
        Entry::File { rel, mut file, meta } => {
            let stamp = Stamp::of(&meta);
            if let Some((s, v)) = cache.files.get(rel)
                && *s == stamp
            {
                next.insert(rel.to_owned(), (stamp, v.clone()));
                return Ok(Some(v.clone()));
            }
            let io_err = |source| HashError::Io {
                path: rel.to_owned(),
                source,
            };
            let value = hash_reader(&mut file, &mut buf, &mut |_| Ok(())).map_err(io_err)?;
            let after = file.metadata().map(|m| Stamp::of(&m)).map_err(io_err)?;
            // The ctime, not the mtime: a pack's own tools can set the mtime back.
            let changed = SystemTime::UNIX_EPOCH
                + Duration::new(
                    u64::try_from(meta.ctime()).unwrap_or(0),
                    u32::try_from(meta.ctime_nsec()).unwrap_or(0),
                );
            let settled = now.duration_since(changed).is_ok_and(|age| age >= racy);
            if after == stamp && settled {
                next.insert(rel.to_owned(), (stamp, value.clone()));
            }
            Ok(Some(value))
        }
    });
    cache.files = next;
    hashes
}

/// How the current files differ from the approved ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Diff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl Diff {
    /// Compares `approved` with `current`.
    pub fn between(approved: &FileHashes, current: &FileHashes) -> Self {
        let mut d = Self::default();
        for (path, hash) in current {
            match approved.get(path) {
                None => d.added.push(path.clone()),
                Some(h) if h != hash => d.changed.push(path.clone()),
                Some(_) => {}
            }
        }
        d.removed = approved.keys().filter(|p| !current.contains_key(*p)).cloned().collect();
        d
    }

    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }

    /// Keeps at most `n` paths per list (for records and audit lines).
    pub fn truncated(mut self, n: usize) -> Self {
        self.added.truncate(n);
        self.changed.truncate(n);
        self.removed.truncate(n);
        self
    }
}

/// One digest over all file hashes, for history entries.
pub fn tree_digest(hashes: &FileHashes) -> String {
    let mut h = Sha256::new();
    for (path, value) in hashes {
        h.update(path.as_bytes());
        h.update([0]);
        h.update(value.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_cover_every_file_including_caches_and_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join("backend/blocks/__pycache__")).unwrap();
        fs::create_dir_all(root.join(".github")).unwrap();
        fs::write(root.join("ecosystem.json"), "{}").unwrap();
        fs::write(root.join("backend/blocks/a.py"), "x = 1").unwrap();
        fs::write(root.join("backend/blocks/a.pyc"), "junk").unwrap();
        fs::write(root.join("backend/blocks/__pycache__/a.cpython.pyc"), "junk").unwrap();
        fs::write(root.join(".github/ci.yml"), "on: push").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
        let h = hash_pack(root).unwrap();
        let keys: Vec<&str> = h.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                ".github/ci.yml",
                "backend/blocks/__pycache__/a.cpython.pyc",
                "backend/blocks/a.py",
                "backend/blocks/a.pyc",
                "ecosystem.json",
                "link"
            ]
        );
        assert_eq!(
            h["ecosystem.json"],
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        assert!(h["link"].starts_with("symlink:"));

        fs::write(root.join("backend/blocks/a.py"), "x = 2").unwrap();
        fs::write(root.join("new.py"), "").unwrap();
        fs::remove_file(root.join(".github/ci.yml")).unwrap();
        let d = Diff::between(&h, &hash_pack(root).unwrap());
        assert_eq!(d.added, ["new.py"]);
        assert_eq!(d.changed, ["backend/blocks/a.py"]);
        assert_eq!(d.removed, [".github/ci.yml"]);
    }

    #[test]
    fn non_utf8_names_are_refused_not_collapsed() {
        use std::os::unix::ffi::OsStrExt;
        let tmp = tempfile::tempdir().unwrap();
        // Two names that a lossy conversion would turn into the same key.
        fs::write(tmp.path().join(std::ffi::OsStr::from_bytes(b"a\xff.py")), "1").unwrap();
        fs::write(tmp.path().join(std::ffi::OsStr::from_bytes(b"a\xfe.py")), "2").unwrap();
        assert!(matches!(hash_pack(tmp.path()), Err(HashError::NonUtf8Name { .. })));
    }

    #[test]
    fn the_stat_cache_sees_every_change_of_content() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::write(root.join("a.py"), "one").unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(root.join("a.py"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let mut cache = StatCache::default();
        // No racy window: every file is cached at once.
        let first = hash_cached(root, &mut cache, Duration::ZERO).unwrap();
        assert_eq!(first, hash_pack(root).unwrap());
        assert_eq!(cache.files.len(), 1);
        // Same size, mtime set back to the cached value: the ctime still moves (after a
        // tick of the kernel's coarse clock, which is what RACY guards against).
        std::thread::sleep(Duration::from_millis(50));
        fs::write(root.join("a.py"), "two").unwrap();
        File::options()
            .write(true)
            .open(root.join("a.py"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let second = hash_cached(root, &mut cache, Duration::ZERO).unwrap();
        assert_eq!(second, hash_pack(root).unwrap());
        assert_ne!(first, second);
    }

    #[test]
    fn special_files_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(&tmp.path().join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(
            hash_pack(tmp.path()),
            Err(HashError::SpecialFile { kind: "fifo", .. })
        ));
    }
}
