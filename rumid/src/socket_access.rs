//! Whether each approved pack's sandbox can open its own helper sockets.
//!
//! A block reaches rumi-egressd and rumi-capd only through the two sockets mounted into its
//! sandbox, and the kernel decides whether it may open them from the socket's owner, group,
//! mode and ACL against the uid and groups the sandbox runs with. When they do not match
//! (helpers that are not root on a file system without POSIX ACLs, a socket mode without
//! group bits, gVisor, which judges host sockets by their mode alone, `RUMI_PACK_UID_RANGE=shared`
//! without a socket group…) every capability and egress call of the pack fails with
//! `permission_denied`. This check finds that before a block does: it backs the `sockets`
//! probe of `/api/health`, which `rumi-ctl setup doctor` reports.
//!
//! A missing socket counts only when `helpers_current` says both helpers are up and hold the
//! newest policy (then the helper failed to bind it, and the block gets `socket_not_found`);
//! otherwise it is the helpers' probes' business (helper down, approval not pushed yet).

use std::path::PathBuf;

use rumi_common::acl::{Access, RW};
use rumi_common::ids::PackId;

use crate::config::SecurityMode;
use crate::sandbox::Sandbox;

/// One socket a pack's sandbox cannot open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub pack: String,
    /// `egress` or `capability`.
    pub socket: &'static str,
    pub path: PathBuf,
    /// The socket as the sandbox sees it and who the sandbox is.
    pub reason: String,
}

/// Whether the ACLs of host sockets count for the sandboxes: gVisor's sentry checks a host
/// socket against its mode only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acls {
    Honoured,
    Ignored,
}

/// The sockets of `packs` their sandboxes cannot open (missing ones too when
/// `helpers_current`).
pub fn check(sandbox: &Sandbox, packs: &[PackId], acls: Acls, helpers_current: bool) -> Vec<Problem> {
    let mut out = Vec::new();
    for pack in packs {
        let Some((uid, gids)) = identity(sandbox, pack) else {
            continue;
        };
        for (socket, path) in [
            ("egress", sandbox.egress_socket(pack)),
            ("capability", sandbox.capability_socket(pack)),
        ] {
            let access = match Access::of(&path) {
                Ok(a) => a,
                Err(e) if helpers_current => {
                    out.push(Problem {
                        pack: pack.to_string(),
                        socket,
                        reason: format!(
                            "{} cannot be used ({e}) although the helper holds the current policy; see the helper's socket_failed audit line",
                            path.display()
                        ),
                        path,
                    });
                    continue;
                }
                Err(_) => continue,
            };
            if !access.is_socket() && helpers_current {
                out.push(Problem {
                    pack: pack.to_string(),
                    socket,
                    reason: format!("{} is not a socket", path.display()),
                    path,
                });
                continue;
            }
            let seen = match acls {
                Acls::Honoured => access,
                Acls::Ignored => access.without_acl(),
            };
            if !seen.allows(uid, &gids, RW) {
                out.push(Problem {
                    pack: pack.to_string(),
                    socket,
                    reason: format!(
                        "{} is {:04o} {}:{}{} and the sandbox runs as uid {uid} with groups {gids:?}",
                        path.display(),
                        seen.mode & 0o777,
                        seen.uid,
                        seen.gid,
                        match acls {
                            Acls::Ignored if access_names(&path, uid) =>
                                " (its ACL entry for the pack is ignored by gVisor)",
                            _ => "",
                        }
                    ),
                    path,
                });
            }
        }
    }
    out
}

fn access_names(path: &std::path::Path, uid: u32) -> bool {
    Access::of(path).is_ok_and(|a| a.names_user(uid))
}

/// The uid and groups a run of `pack` has on the host, as the kernel sees them when it opens
/// the sockets: the pack's uid and gid plus the socket groups where runs become the pack's
/// uid (containers; bubblewrap as root), rumid's own credentials otherwise.
fn identity(sandbox: &Sandbox, pack: &PackId) -> Option<(u32, Vec<u32>)> {
    let layout = sandbox.layout();
    if sandbox.mode() == SecurityMode::Strict || sandbox.backend().runs_as_pack_uid() {
        let uid = layout.uids.get(pack.as_str())?;
        let mut gids = vec![uid];
        gids.extend(&layout.group_add);
        Some((uid, gids))
    } else {
        let mut gids: Vec<u32> = nix::unistd::getgroups()
            .unwrap_or_default()
            .into_iter()
            .map(|g| g.as_raw())
            .collect();
        gids.push(nix::unistd::getegid().as_raw());
        Some((nix::unistd::geteuid().as_raw(), gids))
    }
}

/// The `sockets` probe's message for `problems` (empty: none).
pub fn summary(problems: &[Problem]) -> Option<String> {
    let first = problems.first()?;
    Some(format!(
        "{} socket(s) of approved packs cannot be opened by their sandboxes: pack {} cannot open its {} socket: {}{}",
        problems.len(),
        first.pack,
        first.socket,
        first.reason,
        if problems.len() > 1 { "; …" } else { "" }
    ))
}
