//! Crash-safe file writes.
//!
//! Every state file goes through [`write_atomic`]: a temporary file in the same directory,
//! written and fsynced, renamed over the target, then the directory fsynced. A crash at any
//! point leaves either the old or the new content, never a torn file.

use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Prefix of the temporary files [`write_atomic`] creates.
const TEMP_PREFIX: &str = ".tmp-";

/// Atomically replaces `path` with `contents`, with permission bits `mode`.
///
/// The parent directory must exist.
///
/// # Errors
/// Any I/O error; on error the previous content of `path` is untouched.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .permissions(Permissions::from_mode(mode))
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    // The umask may have narrowed the mode at creation; set it exactly.
    tmp.as_file().set_permissions(Permissions::from_mode(mode))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Removes temp files [`write_atomic`] left in `dir` when a process died mid-write.
pub fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let is_temp = entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX);
        if is_temp && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Fsyncs a directory so a rename or unlink inside it survives a crash.
///
/// # Errors
/// Any I/O error from opening or syncing the directory.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directories of a Rumi home, with their modes (owner-only where they hold state).
pub const HOME_LAYOUT: &[(&str, u32)] = &[
    ("flows", 0o755),
    ("ecosystem", 0o755),
    ("user_data", 0o750),
    ("user_data/settings", 0o700),
    ("user_data/audit", 0o700),
    ("user_data/pending", 0o750),
    ("user_data/run", 0o750),
    ("user_data/shared/flows", 0o750),
];

/// Creates the missing directories of a Rumi home ([`HOME_LAYOUT`]); existing ones are
/// left as they are.
///
/// # Errors
/// The first directory that cannot be created, with its error.
pub fn prepare_home(home: &Path) -> Result<(), (std::path::PathBuf, io::Error)> {
    for (rel, mode) in HOME_LAYOUT {
        let path = home.join(rel);
        if !path.is_dir() {
            ensure_dir(&path, *mode).map_err(|e| (path, e))?;
        }
    }
    Ok(())
}

/// Creates `dir` (and parents) and sets its mode exactly.
///
/// # Errors
/// Any I/O error.
pub fn ensure_dir(dir: &Path, mode: u32) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_content_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one", 0o600).unwrap();
        write_atomic(&path, b"two", 0o640).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "state.json")
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    }

    #[test]
    fn write_atomic_fails_without_touching_target_when_dir_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("state.json");
        assert!(write_atomic(&path, b"x", 0o600).is_err());
        assert!(!path.exists());
    }
}
