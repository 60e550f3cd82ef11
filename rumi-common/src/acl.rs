//! POSIX access ACLs of socket files: how a helper that is not root lets one pack's uid open
//! that pack's socket, and how rumid checks who can open a socket.
//!
//! A helper running as root gives a pack's socket to the pack's uid (chown). A helper running
//! as its own user cannot, but as the socket's owner it may set the socket's access ACL
//! (`system.posix_acl_access`, written with `lsetxattr`; no capability needed): one named
//! entry `user:<pack uid>:rw-` beside the entries the mode gives. The kernel then lets that uid
//! connect whatever the socket's group, so a sandbox running as the pack's uid needs no group
//! of its own; nobody else gains anything.
//!
//! [`Access::allows`] is the kernel's check (owner, named users under the mask, the owning
//! and named groups, other), so rumid and `rumi-ctl setup doctor` can say whether a sandbox
//! will reach its sockets before a block fails on them.
//!
//! # Security
//! Symlinks are never followed (`l*xattr`): a socket path replaced by a link cannot make the
//! helper put an ACL on another file. The mode's group bits become the ACL mask, so the entry
//! is written with a mask of `rw-` and the owning group keeps exactly the mode's group bits.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The extended attribute that holds the access ACL.
const XATTR: &str = "system.posix_acl_access";
/// Version of the ACL xattr format (`POSIX_ACL_XATTR_VERSION`).
const VERSION: u32 = 2;
/// An ACL entry on the wire: tag (u16), permissions (u16), id (u32), little-endian.
const ENTRY_BYTES: usize = 8;
/// The largest ACL read back; real ones on sockets hold a handful of entries.
const MAX_ACL_BYTES: usize = 4 + 64 * ENTRY_BYTES;
/// The id of entries that name no one (owner, owning group, mask, other).
const UNDEFINED_ID: u32 = u32::MAX;

const TAG_USER_OBJ: u16 = 0x01;
const TAG_USER: u16 = 0x02;
const TAG_GROUP_OBJ: u16 = 0x04;
const TAG_GROUP: u16 = 0x08;
const TAG_MASK: u16 = 0x10;
const TAG_OTHER: u16 = 0x20;

/// Read and write permission bits (`rw-`), what connecting to a socket needs.
pub const RW: u16 = 0o6;

/// One entry of an access ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    tag: u16,
    perm: u16,
    id: u32,
}

/// Gives `uid` read and write access to the socket at `path` (owned by us, mode `mode`)
/// through a named ACL entry, keeping the owner, group and other permissions of `mode`.
///
/// # Errors
/// I/O errors; `Unsupported` (EOPNOTSUPP) when the file system has no POSIX ACLs.
pub fn grant_user(path: &Path, mode: u32, uid: u32) -> io::Result<()> {
    let bits = |shift: u32| ((mode >> shift) & 0o7) as u16;
    let entries = [
        Entry {
            tag: TAG_USER_OBJ,
            perm: bits(6),
            id: UNDEFINED_ID,
        },
        Entry {
            tag: TAG_USER,
            perm: RW,
            id: uid,
        },
        Entry {
            tag: TAG_GROUP_OBJ,
            perm: bits(3),
            id: UNDEFINED_ID,
        },
        Entry {
            tag: TAG_MASK,
            perm: RW | bits(3),
            id: UNDEFINED_ID,
        },
        Entry {
            tag: TAG_OTHER,
            perm: bits(0),
            id: UNDEFINED_ID,
        },
    ];
    let mut value = Vec::with_capacity(4 + entries.len() * ENTRY_BYTES);
    value.extend_from_slice(&VERSION.to_le_bytes());
    for e in entries {
        value.extend_from_slice(&e.tag.to_le_bytes());
        value.extend_from_slice(&e.perm.to_le_bytes());
        value.extend_from_slice(&e.id.to_le_bytes());
    }
    rustix::fs::lsetxattr(path, XATTR, &value, rustix::fs::XattrFlags::empty()).map_err(io::Error::from)
}

/// Who may open a file: its owner, group, mode and access ACL, as read from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    /// Named user and group entries and the mask (`None`: no ACL beyond the mode).
    acl: Option<Vec<Entry>>,
    socket: bool,
}

impl Access {
    /// Reads the owner, mode and access ACL of `path` (not following symlinks).
    ///
    /// # Errors
    /// I/O errors of `lstat`; an unreadable or malformed ACL counts as none.
    pub fn of(path: &Path) -> io::Result<Self> {
        let meta = std::fs::symlink_metadata(path)?;
        let mut buf = vec![0u8; MAX_ACL_BYTES];
        let acl = rustix::fs::lgetxattr(path, XATTR, &mut buf[..])
            .ok()
            .and_then(|n| parse(&buf[..n]));
        use std::os::unix::fs::FileTypeExt;
        Ok(Self {
            uid: meta.uid(),
            gid: meta.gid(),
            mode: meta.mode() & 0o7777,
            acl,
            socket: meta.file_type().is_socket(),
        })
    }

    /// Whether the file is a socket.
    pub fn is_socket(&self) -> bool {
        self.socket
    }

    /// The same file as a reader that ignores ACLs sees it (gVisor's sentry judges a host
    /// socket by its mode alone).
    pub fn without_acl(&self) -> Self {
        Self {
            acl: None,
            ..self.clone()
        }
    }

    /// Whether the ACL names `uid`.
    pub fn names_user(&self, uid: u32) -> bool {
        self.acl.iter().flatten().any(|e| e.tag == TAG_USER && e.id == uid)
    }

    /// Whether a process of `uid` with the groups `gids` (primary group included) is granted
    /// every bit of `want` (for example [`RW`]), by the kernel's POSIX ACL algorithm. No
    /// capability (root's DAC override) is assumed: sandboxes have none.
    pub fn allows(&self, uid: u32, gids: &[u32], want: u16) -> bool {
        let bits = |shift: u32| ((self.mode >> shift) & 0o7) as u16;
        let granted = |perm: u16| perm & want == want;
        if uid == self.uid {
            return granted(bits(6));
        }
        let Some(acl) = &self.acl else {
            return if gids.contains(&self.gid) {
                granted(bits(3))
            } else {
                granted(bits(0))
            };
        };
        // With an ACL, the mode's group bits are the mask.
        let mask = acl.iter().find(|e| e.tag == TAG_MASK).map_or(0o7, |e| e.perm);
        if let Some(e) = acl.iter().find(|e| e.tag == TAG_USER && e.id == uid) {
            return granted(e.perm & mask);
        }
        let group_obj = acl.iter().find(|e| e.tag == TAG_GROUP_OBJ).map_or(bits(3), |e| e.perm);
        let mut matched = false;
        if gids.contains(&self.gid) {
            matched = true;
            if granted(group_obj & mask) {
                return true;
            }
        }
        for e in acl.iter().filter(|e| e.tag == TAG_GROUP && gids.contains(&e.id)) {
            matched = true;
            if granted(e.perm & mask) {
                return true;
            }
        }
        if matched {
            return false;
        }
        granted(bits(0))
    }
}

/// Parses an access ACL xattr; `None` when it is not one.
fn parse(bytes: &[u8]) -> Option<Vec<Entry>> {
    let (version, rest) = bytes.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*version) != VERSION || rest.len() % ENTRY_BYTES != 0 {
        return None;
    }
    Some(
        rest.chunks_exact(ENTRY_BYTES)
            .map(|c| Entry {
                tag: u16::from_le_bytes([c[0], c[1]]),
                perm: u16::from_le_bytes([c[2], c[3]]),
                id: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(uid: u32, gid: u32, mode: u32, acl: Option<&[(u16, u16, u32)]>) -> Access {
        Access {
            uid,
            gid,
            mode,
            acl: acl.map(|a| a.iter().map(|&(tag, perm, id)| Entry { tag, perm, id }).collect()),
            socket: true,
        }
    }

    #[test]
    fn the_mode_alone_decides_without_an_acl() {
        let a = access(1000, 1000, 0o660, None);
        assert!(a.allows(1000, &[1000], RW), "owner");
        assert!(a.allows(2000, &[2000, 1000], RW), "in the group");
        assert!(!a.allows(2000, &[2000], RW), "other");
        assert!(access(1000, 1000, 0o666, None).allows(2000, &[2000], RW));
        assert!(
            !access(1000, 1000, 0o640, None).allows(2000, &[1000], RW),
            "group may only read"
        );
    }

    #[test]
    fn a_named_user_entry_grants_under_the_mask() {
        let granted = [
            (TAG_USER_OBJ, 6, UNDEFINED_ID),
            (TAG_USER, 6, 200_001),
            (TAG_GROUP_OBJ, 0, UNDEFINED_ID),
            (TAG_MASK, 6, UNDEFINED_ID),
            (TAG_OTHER, 0, UNDEFINED_ID),
        ];
        let a = access(1000, 1000, 0o660, Some(&granted));
        assert!(a.allows(200_001, &[200_001], RW), "the pack's uid");
        assert!(!a.allows(200_002, &[200_002], RW), "another pack's uid");
        assert!(!a.allows(200_002, &[1000], RW), "owning group entry is ---");
        assert!(a.names_user(200_001) && !a.names_user(200_002));
        assert!(
            !a.without_acl().allows(200_001, &[200_001], RW),
            "gVisor sees the mode only"
        );
        let mut masked = granted;
        masked[3].1 = 0;
        assert!(
            !access(1000, 1000, 0o600, Some(&masked)).allows(200_001, &[200_001], RW),
            "mask ---"
        );
    }

    #[test]
    fn only_acl_xattrs_parse() {
        let mut v = VERSION.to_le_bytes().to_vec();
        v.extend_from_slice(&[TAG_USER as u8, 0, 6, 0, 1, 0, 0, 0]);
        assert_eq!(
            parse(&v),
            Some(vec![Entry {
                tag: TAG_USER,
                perm: 6,
                id: 1
            }])
        );
        assert_eq!(parse(&v[..7]), None, "truncated");
        assert_eq!(parse(b""), None);
        let mut bad = 1u32.to_le_bytes().to_vec();
        bad.extend_from_slice(&v[4..]);
        assert_eq!(parse(&bad), None, "another version");
    }

    #[test]
    fn a_granted_socket_is_reported_as_the_kernel_sees_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        match grant_user(&path, 0o600, 200_001) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Unsupported || e.raw_os_error() == Some(95) => {
                eprintln!("the temp file system has no POSIX ACLs: {e}");
                return;
            }
            Err(e) => panic!("{e}"),
        }
        let a = Access::of(&path).unwrap();
        assert!(a.names_user(200_001), "{a:?}");
        assert!(a.allows(200_001, &[200_001], RW));
        assert!(
            !a.allows(200_002, &[a.gid], RW),
            "the owning group keeps the mode's ---"
        );
    }
}
