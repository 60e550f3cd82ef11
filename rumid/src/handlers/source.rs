//! The source of a capability handler candidate, read for the operator's review
//! (`GET /api/capability/requests/{key}/source`). Read only: nothing here changes a
//! candidate or the trust list.
//!
//! # Security
//! The files are a pack's, so they are hostile until approved. The entry file is opened
//! with `O_NOFOLLOW` (a symlinked entry file could show `/etc/shadow` or rumid's key as if it
//! were the handler), and the path the open descriptor really names (`/proc/self/fd/N`) must
//! lie in the handler directory, which must lie in the pack: a symlinked directory on the
//! way, or one swapped in between the check and the open, is refused rather than followed.
//! `O_NONBLOCK` keeps a FIFO from hanging the request, and at most [`MAX_SOURCE_BYTES`] are
//! read whatever the file's size.

use std::fs;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rumi_common::code::{self, Code};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Candidate;

/// Largest part of an entry file shown: a larger file is cut here and marked `truncated`,
/// so one answer stays small (and the console responsive) whatever a pack ships. Handlers are
/// short scripts; 256 KiB is several thousand lines.
pub const MAX_SOURCE_BYTES: u64 = 256 * 1024;

/// What the review shows of a candidate's entry file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = HandlerSource)]
pub struct Source {
    pub candidate_key: String,
    /// The entry file, relative to the handler directory.
    pub file: String,
    /// The file's size now, in bytes.
    pub size: u64,
    /// Only the first [`MAX_SOURCE_BYTES`] are in `content`.
    pub truncated: bool,
    /// SHA-256 of the file as read now; null when truncated (not all of it was read).
    pub sha256: Option<String>,
    /// The file read now is the one the candidate was scanned with (same SHA-256): what the
    /// operator reads is what approval installs. False when it changed or was truncated.
    pub matches_candidate: bool,
    /// The bytes read, as UTF-8 (invalid sequences replaced).
    pub content: String,
}

/// Why a source cannot be shown: the RUMI code and the reason.
pub type Refusal = (Code, String);

/// Reads the entry file of `candidate`, whose pack lives in `pack_dir`.
///
/// # Errors
/// A refusal with `RUMI-VAL-003` (the file or its directory lies outside the handler
/// directory or the pack), `RUMI-VAL-004` (a symlink, or not a regular file), `RUMI-VAL-006`
/// (missing) or `RUMI-SYS-001` (another read error).
pub fn read(key: &str, candidate: &Candidate, pack_dir: &Path) -> Result<Source, Refusal> {
    let file = candidate
        .entrypoint
        .split_once(':')
        .map_or(candidate.entrypoint.as_str(), |(f, _)| f);
    if file.is_empty() || file.starts_with('/') || file.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err((
            code::VAL_PATH_TRAVERSAL,
            "the entry file escapes the handler directory".into(),
        ));
    }
    let pack_root = canonical(pack_dir, "the pack directory")?;
    let dir = canonical(Path::new(&candidate.source_dir), "the handler directory")?;
    if !dir.starts_with(&pack_root) {
        return Err((
            code::VAL_PATH_TRAVERSAL,
            format!("the handler directory is outside pack {}", candidate.pack_id),
        ));
    }
    let path = dir.join(file);
    let mut f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| match e.raw_os_error() {
            Some(nix::libc::ELOOP) => (code::VAL_SYMLINK, "the entry file is a symlink".to_owned()),
            _ if e.kind() == std::io::ErrorKind::NotFound => {
                (code::VAL_FILE_NOT_FOUND, "the entry file does not exist".to_owned())
            }
            _ => (code::SYS_INTERNAL, format!("cannot open the entry file: {e}")),
        })?;
    // The check that holds whatever was swapped in before the open: the descriptor's real path.
    let real = fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd()))
        .map_err(|e| (code::SYS_INTERNAL, format!("cannot resolve the open entry file: {e}")))?;
    if !real.starts_with(&dir) {
        return Err((
            code::VAL_PATH_TRAVERSAL,
            "the entry file resolves outside the handler directory".into(),
        ));
    }
    let meta = f
        .metadata()
        .map_err(|e| (code::SYS_INTERNAL, format!("cannot stat the entry file: {e}")))?;
    if !meta.is_file() {
        return Err((code::VAL_SYMLINK, "the entry file is not a regular file".into()));
    }
    let mut bytes = Vec::new();
    (&mut f)
        .take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| (code::SYS_INTERNAL, format!("cannot read the entry file: {e}")))?;
    let truncated = bytes.len() as u64 > MAX_SOURCE_BYTES;
    bytes.truncate(MAX_SOURCE_BYTES as usize);
    let sha256 = (!truncated).then(|| hex::encode(Sha256::digest(&bytes)));
    Ok(Source {
        candidate_key: key.to_owned(),
        file: file.to_owned(),
        size: meta.len(),
        truncated,
        matches_candidate: sha256.as_deref() == Some(candidate.sha256.as_str()),
        sha256,
        content: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

fn canonical(p: &Path, what: &str) -> Result<PathBuf, Refusal> {
    fs::canonicalize(p).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => (code::VAL_FILE_NOT_FOUND, format!("{what} does not exist")),
        _ => (code::SYS_INTERNAL, format!("cannot resolve {what}: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn candidate(pack: &Path, slug: &str, entrypoint: &str) -> Candidate {
        Candidate {
            pack_id: "tools".into(),
            slug: slug.into(),
            handler_id: "tools.echo".into(),
            permission_id: "tools.echo".into(),
            entrypoint: entrypoint.into(),
            source_dir: pack.join("share/capability_handlers").join(slug).display().to_string(),
            sha256: hex::encode(Sha256::digest(b"def execute(c, a):\n    return a\n")),
            description: None,
            risk: None,
        }
    }

    fn pack_with_handler() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let pack = tmp.path().join("tools");
        let dir = pack.join("share/capability_handlers/echo");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("handler.py"), "def execute(c, a):\n    return a\n").unwrap();
        (tmp, pack)
    }

    #[test]
    fn the_scanned_entry_file_is_shown_whole() {
        let (_tmp, pack) = pack_with_handler();
        let s = read("k", &candidate(&pack, "echo", "handler.py:execute"), &pack).unwrap();
        assert_eq!(s.content, "def execute(c, a):\n    return a\n");
        assert!(s.matches_candidate && !s.truncated);
        assert_eq!(s.size, s.content.len() as u64);
    }

    #[test]
    fn a_changed_file_is_shown_as_not_the_candidate() {
        let (_tmp, pack) = pack_with_handler();
        fs::write(pack.join("share/capability_handlers/echo/handler.py"), "import os\n").unwrap();
        let s = read("k", &candidate(&pack, "echo", "handler.py:execute"), &pack).unwrap();
        assert!(!s.matches_candidate);
        assert_eq!(s.content, "import os\n");
    }

    #[test]
    fn a_large_file_is_cut_at_the_cap() {
        let (_tmp, pack) = pack_with_handler();
        let big = "#".repeat(MAX_SOURCE_BYTES as usize + 10);
        fs::write(pack.join("share/capability_handlers/echo/handler.py"), &big).unwrap();
        let s = read("k", &candidate(&pack, "echo", "handler.py:execute"), &pack).unwrap();
        assert!(s.truncated && !s.matches_candidate && s.sha256.is_none());
        assert_eq!(s.content.len() as u64, MAX_SOURCE_BYTES);
        assert_eq!(s.size, MAX_SOURCE_BYTES + 10);
    }

    #[test]
    fn paths_that_leave_the_handler_directory_are_refused() {
        let (tmp, pack) = pack_with_handler();
        let outside = tmp.path().join("outside");
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret.py"), "KEY = 1\n").unwrap();
        let dir = pack.join("share/capability_handlers/echo");
        symlink(outside.join("secret.py"), dir.join("link.py")).unwrap();
        symlink(&outside, dir.join("sub")).unwrap();
        symlink(&outside, pack.join("share/capability_handlers/away")).unwrap();
        fs::create_dir_all(dir.join("fifo_dir")).unwrap();
        nix::unistd::mkfifo(&dir.join("fifo_dir/f.py"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let cases = [
            (
                "echo",
                "../../../../outside/secret.py:execute",
                code::VAL_PATH_TRAVERSAL,
            ),
            ("echo", "/etc/passwd:execute", code::VAL_PATH_TRAVERSAL),
            ("echo", "./handler.py:execute", code::VAL_PATH_TRAVERSAL),
            ("echo", "link.py:execute", code::VAL_SYMLINK),
            ("echo", "sub/secret.py:execute", code::VAL_PATH_TRAVERSAL),
            ("away", "secret.py:execute", code::VAL_PATH_TRAVERSAL),
            ("echo", "fifo_dir/f.py:execute", code::VAL_SYMLINK),
            ("echo", "missing.py:execute", code::VAL_FILE_NOT_FOUND),
        ];
        for (slug, entrypoint, want) in cases {
            let got = read("k", &candidate(&pack, slug, entrypoint), &pack);
            assert_eq!(
                got.as_ref().err().map(|e| e.0),
                Some(want),
                "{slug} {entrypoint}: {got:?}"
            );
        }
    }
}
