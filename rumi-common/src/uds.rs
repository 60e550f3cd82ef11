//! Binding Unix sockets with an exact mode and group.
//!
//! # Security
//! A stale path is removed only after checking what it is: a socket is replaced; a symlink
//! is removed without being followed (an attacker could point it at a file to be clobbered)
//! and reported; anything else is refused. The socket is bound inside a directory of mode
//! 0750, so the short window between `bind` and `chmod` exposes it to nobody outside the
//! owner and group.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use nix::unistd::{Gid, chown};

/// What was found at a socket path before binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    Nothing,
    Socket,
    /// A symlink was removed: worth an audit event.
    Symlink,
}

/// Creates `dir` with mode 0750 (and group `gid`).
///
/// # Errors
/// I/O errors.
pub fn prepare_dir(dir: &Path, gid: Option<u32>) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o750))?;
    if let Some(g) = gid {
        chown(dir, None, Some(Gid::from_raw(g))).map_err(io::Error::from)?;
    }
    Ok(())
}

/// Removes what stands at `path` if it is a socket or a symlink.
///
/// # Errors
/// When something else (a file, a directory) is there, or removal fails.
pub fn remove_stale(path: &Path) -> io::Result<Stale> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Stale::Nothing),
        Err(e) => Err(e),
        Ok(m) if m.file_type().is_symlink() => fs::remove_file(path).map(|()| Stale::Symlink),
        Ok(m) if m.file_type().is_socket() => fs::remove_file(path).map(|()| Stale::Socket),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket; refusing to replace it", path.display()),
        )),
    }
}

/// Binds a listening socket at `path` with permission bits `mode` and group `gid`.
///
/// # Errors
/// I/O errors from removal, bind, chmod or chown (the socket is removed again on failure).
pub fn bind(path: &Path, mode: u32, gid: Option<u32>) -> io::Result<(tokio::net::UnixListener, Stale)> {
    let stale = remove_stale(path)?;
    let listener = tokio::net::UnixListener::bind(path)?;
    let finish = || -> io::Result<()> {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
        if let Some(g) = gid {
            chown(path, None, Some(Gid::from_raw(g))).map_err(io::Error::from)?;
        }
        Ok(())
    };
    if let Err(e) = finish() {
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok((listener, stale))
}
