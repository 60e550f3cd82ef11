//! Binding Unix sockets with an exact mode and group.
//!
//! # Security
//! A stale path is removed only after checking what it is: a socket is replaced only when no
//! process listens on it any more (a connection attempt is refused); a symlink is removed
//! without being followed (an attacker could point it at a file to be clobbered) and
//! reported; anything else is refused. A socket a live process holds is never unlinked or
//! reused: a second Rumi instance started on the first one's paths used to delete the first
//! one's sockets and take them over, so its rumid talked to the first instance's helpers.
//! The error names the holder ([`Holder`], from the listening peer's credentials). Probing,
//! removing and binding happen under an exclusive lock of the directory, so two processes
//! starting at once cannot both find a path stale and both bind it. A process removes a
//! socket it bound itself only while the path is still that socket ([`Bound::remove`]).
//! The socket is bound inside a directory of mode 0750, so the short window between `bind`
//! and `chmod` exposes it to nobody outside the owner and group.

use std::fmt;
use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

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

/// The process listening on a live socket, as the kernel reports the listener's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: i32,
    pub uid: u32,
    /// `/proc/<pid>/comm`, when readable.
    pub name: Option<String>,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "pid {} ({n}), uid {}", self.pid, self.uid),
            None if self.pid == 0 => f.write_str("a process this one may not see"),
            None => write!(f, "pid {}, uid {}", self.pid, self.uid),
        }
    }
}

/// Whether a live process listens on the socket at `path`: `Some(holder)` when a connection
/// is accepted (or cannot be attempted for lack of permission, or the backlog is full), `None`
/// when nothing is there or the socket is stale (connection refused).
pub fn holder(path: &Path) -> Option<Holder> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(s) => {
            let cred = getsockopt(&s.as_fd(), PeerCredentials).ok();
            let pid = cred.map_or(0, |c| c.pid());
            Some(Holder {
                pid,
                uid: cred.map_or(u32::MAX, |c| c.uid()),
                name: (pid > 0)
                    .then(|| fs::read_to_string(format!("/proc/{pid}/comm")).ok())
                    .flatten()
                    .map(|n| n.trim().to_owned()),
            })
        }
        Err(e) => match e.raw_os_error().map(nix::errno::Errno::from_raw) {
            Some(nix::errno::Errno::ECONNREFUSED | nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTSOCK) => None,
            // Not a socket file at all, or gone: nothing listens. Anything else (no permission,
            // a full backlog) may be a live listener; keep it.
            _ if e.kind() == io::ErrorKind::NotFound => None,
            _ => Some(Holder {
                pid: 0,
                uid: u32::MAX,
                name: None,
            }),
        },
    }
}

/// The error for a path a live process holds.
fn held(path: &Path, holder: &Holder) -> io::Error {
    io::Error::new(
        io::ErrorKind::AddrInUse,
        format!(
            "{} is held by a live process ({holder}); refusing to remove or reuse it",
            path.display()
        ),
    )
}

/// Removes what stands at `path` if it is a stale socket or a symlink.
///
/// # Errors
/// When a live process holds the socket (`AddrInUse`, naming it), when something else (a
/// file, a directory) is there, or removal fails.
pub fn remove_stale(path: &Path) -> io::Result<Stale> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Stale::Nothing),
        Err(e) => Err(e),
        Ok(m) if m.file_type().is_symlink() => fs::remove_file(path).map(|()| Stale::Symlink),
        Ok(m) if m.file_type().is_socket() => match holder(path) {
            Some(h) => Err(held(path, &h)),
            None => fs::remove_file(path).map(|()| Stale::Socket),
        },
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket; refusing to replace it", path.display()),
        )),
    }
}

/// The identity of a socket file: device and inode. (Not its change time: a socket is
/// chowned or given ACLs after it is bound.) A live socket is never replaced by another
/// process, so the identity matters only in the moment between closing a listener and
/// removing its file; closers remove the file first.
pub type FileId = (u64, u64);

fn file_id(m: &fs::Metadata) -> FileId {
    (m.dev(), m.ino())
}

/// A socket this process bound: its listener, what stood at the path before, and the
/// identity of the socket file, so that it is removed only while it is ours.
#[derive(Debug)]
pub struct Bound {
    pub listener: tokio::net::UnixListener,
    pub stale: Stale,
    pub path: PathBuf,
    /// The identity of the socket file.
    pub file: FileId,
}

// === impl Bound ===

impl Bound {
    /// Removes the socket file if the path still names the socket bound here (never one
    /// another process bound there since).
    pub fn remove(path: &Path, file: FileId) {
        if let Ok(m) = fs::symlink_metadata(path)
            && m.file_type().is_socket()
            && file_id(&m) == file
        {
            let _ = fs::remove_file(path);
        }
    }
}

/// Holds an exclusive lock of a directory while a path in it is probed, removed and bound
/// (released on drop).
struct DirLock(#[allow(dead_code)] nix::fcntl::Flock<fs::File>);

impl DirLock {
    fn take(dir: &Path) -> io::Result<Self> {
        let f = fs::File::open(dir)?;
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
            .map(Self)
            .map_err(|(_, e)| io::Error::from(e))
    }
}

/// The lock file held beside a control socket (`<socket>.lock`) for as long as the socket
/// is served. It holds the holder's pid (for the error a second process gets); it is never
/// removed, because removing a lock file lets two processes each lock a different file of
/// the same name.
#[derive(Debug)]
pub struct SocketLock(#[allow(dead_code)] nix::fcntl::Flock<fs::File>);

/// The lock file of the socket at `path`: `path` with `.lock` appended.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// Who holds the lock file of the socket at `path`, if anyone: the pid written in it (and
/// the process name when visible). `None` when the lock is free or there is no lock file.
pub fn lock_holder(path: &Path) -> Option<Holder> {
    let lock = lock_path(path);
    // Read-only and never created: a probe leaves nothing behind.
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(&lock)
        .ok()?;
    match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        // Free: released again when dropped here.
        Ok(_) => None,
        Err((_, _)) => {
            let pid = fs::read_to_string(&lock)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
                .unwrap_or(0);
            let name = (pid > 0)
                .then(|| fs::read_to_string(format!("/proc/{pid}/comm")).ok())
                .flatten()
                .map(|n| n.trim().to_owned());
            let uid = fs::metadata(format!("/proc/{pid}")).map_or(u32::MAX, |m| m.uid());
            Some(Holder { pid, uid, name })
        }
    }
}

fn open_lock(lock: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(lock)
}

/// Takes the lock file beside the socket at `path` (exclusive, never waiting) and writes
/// this process's pid into it.
///
/// # Errors
/// `AddrInUse` naming the holder when another live process holds it; I/O errors.
pub fn lock_socket(path: &Path) -> io::Result<SocketLock> {
    use std::io::Write;
    let lock = lock_path(path);
    let f = open_lock(&lock)?;
    match nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(mut held) => {
            held.set_len(0)?;
            writeln!(held, "{}", std::process::id())?;
            Ok(SocketLock(held))
        }
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            let h = lock_holder(path).unwrap_or(Holder {
                pid: 0,
                uid: u32::MAX,
                name: None,
            });
            Err(held(path, &h))
        }
        Err((_, e)) => Err(io::Error::from(e)),
    }
}

/// Binds a control socket: first takes its lock file ([`lock_socket`]), then binds as
/// [`bind`] does. The lock is held as long as the returned value lives.
///
/// # Security
/// A second instance's helper started on the same control socket path stops here, before
/// it removes or binds anything: the lock is held by the first instance's live helper.
///
/// # Errors
/// `AddrInUse` naming the holder; errors of [`bind`].
pub fn bind_locked(path: &Path, mode: u32, gid: Option<u32>) -> io::Result<(Bound, SocketLock)> {
    let lock = lock_socket(path)?;
    let bound = bind(path, mode, gid)?;
    Ok((bound, lock))
}

/// Binds a listening socket at `path` with permission bits `mode` and group `gid`.
///
/// # Errors
/// I/O errors from removal, bind, chmod or chown (the socket is removed again on failure);
/// `AddrInUse` naming the holder when a live process holds the path.
pub fn bind(path: &Path, mode: u32, gid: Option<u32>) -> io::Result<Bound> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let _lock = DirLock::take(dir)?;
    let stale = remove_stale(path)?;
    let listener = tokio::net::UnixListener::bind(path)?;
    let finish = || -> io::Result<FileId> {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
        if let Some(g) = gid {
            chown(path, None, Some(Gid::from_raw(g))).map_err(io::Error::from)?;
        }
        Ok(file_id(&fs::symlink_metadata(path)?))
    };
    match finish() {
        Ok(file) => Ok(Bound {
            listener,
            stale,
            path: path.to_path_buf(),
            file,
        }),
        Err(e) => {
            let _ = fs::remove_file(path);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_live_socket_is_never_replaced_and_a_stale_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sock");
        let first = bind(&path, 0o600, None).unwrap();
        assert_eq!(first.stale, Stale::Nothing);
        // A second bind on a live socket names the holder: this very process.
        let e = bind(&path, 0o600, None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        let me = std::process::id();
        assert!(e.to_string().contains(&format!("pid {me}")), "{e}");
        assert!(remove_stale(&path).is_err(), "not removed either");
        assert_eq!(holder(&path).map(|h| h.pid as u32), Some(me));
        // Once the listener is gone the socket is stale and replaced.
        drop(first);
        assert_eq!(holder(&path), None);
        let second = bind(&path, 0o600, None).unwrap();
        assert_eq!(second.stale, Stale::Socket);
        // A clean-up for another socket file leaves this one alone.
        Bound::remove(&path, (0, 0));
        assert!(path.exists());
        Bound::remove(&path, second.file);
        assert!(!path.exists());
    }

    #[test]
    fn a_held_lock_file_names_its_holder_and_is_free_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sock");
        assert_eq!(lock_holder(&path), None);
        let lock = lock_socket(&path).unwrap();
        let h = lock_holder(&path).expect("held");
        assert_eq!(h.pid as u32, std::process::id());
        let e = lock_socket(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert!(e.to_string().contains(&format!("pid {}", std::process::id())), "{e}");
        drop(lock);
        assert_eq!(lock_holder(&path), None);
        assert!(lock_socket(&path).is_ok());
    }

    #[test]
    fn a_symlink_is_removed_unfollowed_and_a_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, "keep").unwrap();
        let link = dir.path().join("l.sock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(remove_stale(&link).unwrap(), Stale::Symlink);
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
        assert!(remove_stale(&target).is_err());
    }
}
