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
//!   file handles (`open_by_handle_at`, the "shocker" escape), the clock and host names,
//!   NUMA memory policies, `process_madvise`, `pidfd_getfd` and obsolete calls;
//! - [`no_clone3`]: `ENOSYS` for `clone3`, whose flags live in memory a filter cannot read;
//!   `ENOSYS` makes the C library fall back to `clone`, which the deny list checks.
//!
//! Everything else is allowed: the sandbox's namespaces, read-only mounts and rlimits are
//! the other walls. [`engine_profile`] gives the same rules as a container engine profile,
//! for Podman, whose default profile lets containers create user namespaces.

use std::collections::BTreeMap;

use nix::libc;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

/// System calls refused with `EPERM`, whatever their arguments: `(name, number)`.
fn denied() -> Vec<(&'static str, libc::c_long)> {
    let mut calls = vec![
        ("ptrace", libc::SYS_ptrace),
        ("process_vm_readv", libc::SYS_process_vm_readv),
        ("process_vm_writev", libc::SYS_process_vm_writev),
        ("mount", libc::SYS_mount),
        ("umount2", libc::SYS_umount2),
        ("pivot_root", libc::SYS_pivot_root),
        ("chroot", libc::SYS_chroot),
        ("unshare", libc::SYS_unshare),
        ("setns", libc::SYS_setns),
        ("fsopen", libc::SYS_fsopen),
        ("fsconfig", libc::SYS_fsconfig),
        ("fsmount", libc::SYS_fsmount),
        ("fspick", libc::SYS_fspick),
        ("open_tree", libc::SYS_open_tree),
        ("move_mount", libc::SYS_move_mount),
        ("mount_setattr", libc::SYS_mount_setattr),
        ("keyctl", libc::SYS_keyctl),
        ("add_key", libc::SYS_add_key),
        ("request_key", libc::SYS_request_key),
        ("bpf", libc::SYS_bpf),
        ("perf_event_open", libc::SYS_perf_event_open),
        ("userfaultfd", libc::SYS_userfaultfd),
        ("io_uring_setup", libc::SYS_io_uring_setup),
        ("io_uring_enter", libc::SYS_io_uring_enter),
        ("io_uring_register", libc::SYS_io_uring_register),
        ("kexec_load", libc::SYS_kexec_load),
        ("kexec_file_load", libc::SYS_kexec_file_load),
        ("init_module", libc::SYS_init_module),
        ("finit_module", libc::SYS_finit_module),
        ("delete_module", libc::SYS_delete_module),
        ("swapon", libc::SYS_swapon),
        ("swapoff", libc::SYS_swapoff),
        ("reboot", libc::SYS_reboot),
        ("acct", libc::SYS_acct),
        ("quotactl", libc::SYS_quotactl),
        ("open_by_handle_at", libc::SYS_open_by_handle_at),
        ("name_to_handle_at", libc::SYS_name_to_handle_at),
        ("syslog", libc::SYS_syslog),
        ("settimeofday", libc::SYS_settimeofday),
        ("clock_settime", libc::SYS_clock_settime),
        ("clock_adjtime", libc::SYS_clock_adjtime),
        ("adjtimex", libc::SYS_adjtimex),
        ("sethostname", libc::SYS_sethostname),
        ("setdomainname", libc::SYS_setdomainname),
        ("vhangup", libc::SYS_vhangup),
        ("lookup_dcookie", libc::SYS_lookup_dcookie),
        ("mbind", libc::SYS_mbind),
        ("move_pages", libc::SYS_move_pages),
        ("migrate_pages", libc::SYS_migrate_pages),
        ("set_mempolicy", libc::SYS_set_mempolicy),
        ("process_madvise", libc::SYS_process_madvise),
        ("pidfd_getfd", libc::SYS_pidfd_getfd),
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([
        ("iopl", libc::SYS_iopl),
        ("ioperm", libc::SYS_ioperm),
        ("uselib", libc::SYS_uselib),
        ("ustat", libc::SYS_ustat),
        ("sysfs", libc::SYS_sysfs),
        ("_sysctl", libc::SYS__sysctl),
    ]);
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
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = denied().into_iter().map(|(_, c)| (c, Vec::new())).collect();
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

/// The same rules as a container engine's seccomp profile (the JSON that Docker's and
/// Podman's `--security-opt seccomp=` take), for engines whose default profile lets a
/// container create user namespaces (Podman's does).
pub fn engine_profile() -> serde_json::Value {
    use serde_json::json;
    let names: Vec<&str> = denied().iter().map(|(n, _)| *n).collect();
    let mut syscalls = vec![
        json!({"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EPERM}),
        json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS}),
    ];
    for flag in NAMESPACE_FLAGS {
        syscalls.push(json!({
            "names": ["clone"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": libc::EPERM,
            "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}],
        }));
    }
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": syscalls})
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
        let numbers: Vec<libc::c_long> = denied().iter().map(|(_, n)| *n).collect();
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
            assert!(numbers.contains(&call), "{call} is refused");
        }
        assert!(
            !numbers.contains(&libc::SYS_clone),
            "clone is refused only with namespace flags"
        );
        let profile = engine_profile();
        assert_eq!(profile["defaultAction"], "SCMP_ACT_ALLOW");
        assert_eq!(
            profile["syscalls"][0]["names"].as_array().unwrap().len(),
            denied().len()
        );
    }
}
