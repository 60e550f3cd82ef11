//! The seccomp filters of the host runner, compiled in Rust (seccompiler, as firecracker
//! builds its own) and handed to bubblewrap, which installs them before it executes the
//! pack's program.
//!
//! Two filters, because one filter has one action on a match:
//! - [`deny_list`]: `EPERM` for the system calls a block never needs and an escape would:
//!   debugging other processes (`ptrace`, `process_vm_*`), mounting and namespaces (`mount`,
//!   the new mount API, `pivot_root`, `chroot`, `unshare`, `setns`, and `clone` with any
//!   namespace flag), the kernel keyring (`keyctl`, `add_key`, `request_key`), `bpf`,
//!   `perf_event_open`, `userfaultfd`, `io_uring_*` (a second system call interface that
//!   seccomp does not see into), kernel modules and `kexec`, swap, reboot, accounting,
//!   file handles (`open_by_handle_at`, the "shocker" escape), the clock and host names;
//! - [`no_clone3`]: `ENOSYS` for `clone3`, whose flags live in memory a filter cannot read;
//!   `ENOSYS` makes the C library fall back to `clone`, which the deny list checks.
//!
//! Everything else is allowed: the sandbox's namespaces, read-only mounts and rlimits are
//! the other walls.

use std::collections::BTreeMap;

use nix::libc;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

/// System calls refused with `EPERM`, whatever their arguments.
fn denied() -> Vec<libc::c_long> {
    let mut calls = vec![
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_open_tree,
        libc::SYS_move_mount,
        libc::SYS_mount_setattr,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_reboot,
        libc::SYS_acct,
        libc::SYS_quotactl,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_syslog,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_adjtimex,
        libc::SYS_sethostname,
        libc::SYS_setdomainname,
        libc::SYS_vhangup,
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([libc::SYS_iopl, libc::SYS_ioperm, libc::SYS_uselib, libc::SYS_kexec_load]);
    calls.sort_unstable();
    calls.dedup();
    calls
}

/// `clone` flags that create namespaces.
const NAMESPACE_FLAGS: [libc::c_int; 7] = [
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWCGROUP,
];

fn arch() -> Result<TargetArch, String> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| format!("no seccomp filter for this architecture: {e}"))
}

fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>, action: SeccompAction) -> Result<BpfProgram, String> {
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, action, arch()?).map_err(|e| e.to_string())?;
    BpfProgram::try_from(filter).map_err(|e| e.to_string())
}

/// The deny list (see the module documentation).
///
/// # Errors
/// An architecture seccompiler does not know.
pub fn deny_list() -> Result<BpfProgram, String> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = denied().into_iter().map(|c| (c, Vec::new())).collect();
    // clone's first argument holds the flags on x86_64 and aarch64 alike.
    let clone_rules = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            let flag = u64::try_from(flag).map_err(|e| e.to_string())?;
            let cond = SeccompCondition::new(0, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(flag), flag)
                .map_err(|e| e.to_string())?;
            SeccompRule::new(vec![cond]).map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    rules.insert(libc::SYS_clone, clone_rules);
    compile(rules, SeccompAction::Errno(u32::try_from(libc::EPERM).unwrap_or(1)))
}

/// `clone3` answered `ENOSYS`.
///
/// # Errors
/// An architecture seccompiler does not know.
pub fn no_clone3() -> Result<BpfProgram, String> {
    let rules = [(libc::SYS_clone3, Vec::new())].into_iter().collect();
    compile(rules, SeccompAction::Errno(u32::try_from(libc::ENOSYS).unwrap_or(38)))
}

/// A program as the bytes of its `struct sock_filter` array, as bubblewrap reads it from a
/// file descriptor.
pub fn to_bytes(program: &BpfProgram) -> Vec<u8> {
    let mut out = Vec::with_capacity(program.len() * 8);
    for ins in program {
        out.extend_from_slice(&ins.code.to_ne_bytes());
        out.push(ins.jt);
        out.push(ins.jf);
        out.extend_from_slice(&ins.k.to_ne_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_filters_compile_and_cover_the_escape_calls() {
        let deny = deny_list().unwrap();
        let clone3 = no_clone3().unwrap();
        assert!(deny.len() > denied().len(), "one comparison per call at least");
        assert_eq!(to_bytes(&deny).len(), deny.len() * 8);
        assert!(!clone3.is_empty());
        for call in [
            libc::SYS_ptrace,
            libc::SYS_mount,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_keyctl,
            libc::SYS_bpf,
            libc::SYS_perf_event_open,
            libc::SYS_kexec_load,
            libc::SYS_init_module,
            libc::SYS_finit_module,
        ] {
            assert!(denied().contains(&call), "{call} is refused");
        }
        assert!(
            !denied().contains(&libc::SYS_clone),
            "clone is refused only with namespace flags"
        );
    }
}
