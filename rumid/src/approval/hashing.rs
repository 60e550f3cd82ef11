//! What an approval covers: the sha256 of every file of the pack.
//!
//! The walk never follows symlinks: a symlink is recorded by its target text, so retargeting
//! it is a change. Nothing is skipped: Python imports a stray `*.pyc` or a cached one in
//! `__pycache__/` as readily as source, so excluding caches (as the original did) would let
//! a pack change what runs without becoming `modified`. Pack code never writes into its own
//! directory (it is mounted read-only; host runs disable bytecode writing).
//! FIFOs, sockets and devices make the pack unhashable: reading a FIFO would block and a
//! device has no content an operator could review.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Path relative to the pack root (with `/`) → `"sha256:<hex>"` (files) or
/// `"symlink:<hex of the target's sha256>"` (symlinks).
pub type FileHashes = BTreeMap<String, String>;

/// Most entries a pack may hold; more is refused rather than hashed for minutes.
pub const MAX_PACK_FILES: usize = 50_000;
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
    #[error("more than {MAX_PACK_FILES} files")]
    TooManyFiles,
    #[error("directories nested deeper than {MAX_DEPTH}")]
    TooDeep,
}

/// Hashes every file below `root`.
///
/// # Errors
/// [`HashError`] on I/O errors, special files, or a pack that is too large or deep.
pub fn hash_pack(root: &Path) -> Result<FileHashes, HashError> {
    let mut out = FileHashes::new();
    let mut buf = vec![0u8; READ_BUF];
    walk(root, "", 0, &mut out, &mut buf)?;
    Ok(out)
}

fn walk(dir: &Path, rel: &str, depth: usize, out: &mut FileHashes, buf: &mut [u8]) -> Result<(), HashError> {
    if depth > MAX_DEPTH {
        return Err(HashError::TooDeep);
    }
    let io_err = |path: &str| {
        let path = path.to_owned();
        move |source| HashError::Io { path, source }
    };
    let shown = if rel.is_empty() { "." } else { rel };
    for entry in fs::read_dir(dir).map_err(io_err(shown))? {
        let entry = entry.map_err(io_err(shown))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let child_rel = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let kind = entry.file_type().map_err(io_err(&child_rel))?;
        if kind.is_dir() {
            walk(&entry.path(), &child_rel, depth + 1, out, buf)?;
            continue;
        }
        if out.len() >= MAX_PACK_FILES {
            return Err(HashError::TooManyFiles);
        }
        let value = if kind.is_symlink() {
            let target = fs::read_link(entry.path()).map_err(io_err(&child_rel))?;
            format!(
                "symlink:{}",
                hex::encode(Sha256::digest(target.as_os_str().as_encoded_bytes()))
            )
        } else if kind.is_file() {
            format!("sha256:{}", hash_file(&entry.path(), buf).map_err(io_err(&child_rel))?)
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
        out.insert(child_rel, value);
    }
    Ok(())
}

fn hash_file(path: &Path, buf: &mut [u8]) -> io::Result<String> {
    // O_NOFOLLOW | O_NONBLOCK: if the entry was swapped for a symlink or FIFO after the
    // directory was read, the open fails or returns at once instead of following or blocking.
    let flags = nix::fcntl::OFlag::O_NOFOLLOW.bits() | nix::fcntl::OFlag::O_NONBLOCK.bits();
    let mut file: File = OpenOptions::new().read(true).custom_flags(flags).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let mut hasher = Sha256::new();
    loop {
        let n = file.read(buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// How the current files differ from the approved ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    fn special_files_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(&tmp.path().join("pipe"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(
            hash_pack(tmp.path()),
            Err(HashError::SpecialFile { kind: "fifo", .. })
        ));
    }
}
