//! The catalogue of `RUMI-<CAT>-<NNN>` error codes.
//!
//! Codes are API: operators grep for them and scripts match on them. A code is never
//! renumbered or reused; a new failure gets a new number. `docs/error-codes.md` lists
//! them and a unit test keeps the two in step.

use std::fmt;

/// One stable error code, such as `RUMI-PACK-005`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Code(&'static str);

impl Code {
    /// The code as written in responses, logs and docs.
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal;)*) => {
        $( $(#[$doc])* pub const $name: Code = Code($code); )*
        /// Every code, in catalogue order.
        pub const ALL: &[Code] = &[$($name),*];
    };
}

codes! {
    /// The bearer token does not match the instance's token.
    AUTH_TOKEN_INVALID = "RUMI-AUTH-001";
    /// Reserved by the original for expired tokens; Rumi tokens do not expire.
    AUTH_TOKEN_EXPIRED = "RUMI-AUTH-002";
    /// The caller is authenticated but not allowed to do this.
    AUTH_PERMISSION_DENIED = "RUMI-AUTH-003";
    /// No `Authorization: Bearer` header was sent.
    AUTH_TOKEN_MISSING = "RUMI-AUTH-004";

    /// A pack id does not match `[A-Za-z0-9_-]{1,64}`.
    PACK_ID_INVALID = "RUMI-PACK-001";
    /// A pack's `ecosystem.json` is missing, unreadable or invalid.
    PACK_MANIFEST_INVALID = "RUMI-PACK-002";
    /// `ecosystem.json` names a different pack id than its directory.
    PACK_ID_MISMATCH = "RUMI-PACK-003";
    /// Reserved by the original (`${ctx}` reference outside `connectivity`).
    PACK_CONNECTIVITY = "RUMI-PACK-004";
    /// No installed pack has this id.
    PACK_NOT_FOUND = "RUMI-PACK-005";
    /// The pack cannot be approved in its current state (for example, its manifest is broken).
    PACK_NOT_APPROVABLE = "RUMI-PACK-006";
    /// The pack's files could not be hashed.
    PACK_HASH_FAILED = "RUMI-PACK-007";
    /// The pack is not approved, or changed since it was approved.
    PACK_NOT_APPROVED = "RUMI-PACK-008";
    /// The pack uses the legacy `ecosystem/packs/` location and
    /// `RUMI_DEPRECATION_LEVEL=error` refuses it.
    PACK_LEGACY_REFUSED = "RUMI-PACK-009";
    /// An import has too many files, too many bytes, or an entry that expands like a
    /// compression bomb.
    PACK_IMPORT_TOO_LARGE = "RUMI-PACK-010";
    /// No staged import has this id.
    PACK_STAGING_NOT_FOUND = "RUMI-PACK-011";
    /// The staged pack's `pack_identity` differs from the installed pack's.
    PACK_IDENTITY_MISMATCH = "RUMI-PACK-012";

    /// Reserved by the original (connection failed).
    NET_CONNECTION_FAILED = "RUMI-NET-001";
    /// Reserved by the original (request timed out).
    NET_TIMEOUT = "RUMI-NET-002";
    /// Reserved by the original (proxy error).
    NET_PROXY_ERROR = "RUMI-NET-003";
    /// The pack has no network grant.
    NET_GRANT_NOT_FOUND = "RUMI-NET-004";
    /// A helper daemon is not available right now.
    SYS_HELPER_UNAVAILABLE = "RUMI-SYS-007";

    /// Another live process (another instance's helper) holds a helper's control socket:
    /// this instance refuses to start.
    INST_PATHS_HELD = "RUMI-INST-001";
    /// The control channel's authentication failed: a caller without this instance's
    /// control token, or a helper that cannot prove the instance's control key.
    INST_CONTROL_AUTH = "RUMI-INST-002";
    /// A helper refused a policy older than the one it holds; it serves only what both
    /// allow.
    INST_POLICY_REFUSED = "RUMI-INST-003";

    /// A `requirements.lock` is invalid, or changed since it was scanned.
    PIP_LOCK_INVALID = "RUMI-PIP-001";
    /// Installing approved pip dependencies failed (download or install step).
    PIP_INSTALL_FAILED = "RUMI-PIP-002";
    /// No pip candidate has this key.
    PIP_NOT_FOUND = "RUMI-PIP-003";
    /// The pip candidate is in a state that does not allow this (blocked, installed, …).
    PIP_STATE = "RUMI-PIP-004";

    /// No capability handler candidate has this key (the guide's "capability not found").
    CAP_NOT_FOUND = "RUMI-CAP-001";
    /// The candidate is in a state that does not allow this (blocked, installed, not blocked).
    CAP_STATE = "RUMI-CAP-002";
    /// Approving the candidate failed: its handler changed since the scan, or did not verify.
    CAP_INSTALL_FAILED = "RUMI-CAP-003";
    /// The principal does not hold this capability grant.
    CAP_GRANT_NOT_FOUND = "RUMI-CAP-004";

    /// No published unit has this reference.
    UNIT_NOT_FOUND = "RUMI-UNIT-001";
    /// The unit cannot run this way (mode not allowed, kind not executable).
    UNIT_REFUSED = "RUMI-UNIT-002";
    /// The unit ran and failed (timeout, error, result over 1 MiB).
    UNIT_FAILED = "RUMI-UNIT-003";
    /// The unit's files changed since it was published, or a version is published already.
    UNIT_CONFLICT = "RUMI-UNIT-004";
    /// More than 30 unit executions per minute for this principal.
    UNIT_RATE_LIMITED = "RUMI-UNIT-005";

    /// No flow has this id.
    FLOW_NOT_FOUND = "RUMI-FLOW-001";
    /// The flow stopped at a failing step.
    FLOW_STEP_FAILED = "RUMI-FLOW-002";
    /// Reserved by the original (step failed: reason).
    FLOW_STEP_ERROR = "RUMI-FLOW-003";
    /// The flow did not finish within its timeout.
    FLOW_TIMEOUT = "RUMI-FLOW-004";
    /// Too many flows are running (`RUMI_MAX_CONCURRENT_FLOWS`).
    FLOW_BUSY = "RUMI-FLOW-005";
    /// A flow calls itself (directly or through sub-flows), or nests too deep.
    FLOW_RECURSION = "RUMI-FLOW-006";
    /// A step cannot run now (strict mode without Docker, a component still starting); retry later.
    FLOW_UNAVAILABLE = "RUMI-FLOW-007";
    /// A value the flow built or was given would pass `RUMI_MAX_CONTEXT_BYTES` or the nesting bound.
    FLOW_CONTEXT_TOO_LARGE = "RUMI-FLOW-008";
    /// The run took more steps than one run may, sub-flows included.
    FLOW_TOO_MANY_STEPS = "RUMI-FLOW-009";
    /// The flow's pack already runs its share of the flow slots (`RUMI_MAX_FLOWS_PER_PACK`).
    FLOW_PACK_BUSY = "RUMI-FLOW-010";

    /// A required value is empty.
    VAL_EMPTY = "RUMI-VAL-001";
    /// A value does not match its pattern or is too long.
    VAL_PATTERN = "RUMI-VAL-002";
    /// A path escapes its base directory.
    VAL_PATH_TRAVERSAL = "RUMI-VAL-003";
    /// A symlink was found where none is allowed.
    VAL_SYMLINK = "RUMI-VAL-004";
    /// An entrypoint is not in `file:func` form.
    VAL_ENTRYPOINT = "RUMI-VAL-005";
    /// A file does not exist.
    VAL_FILE_NOT_FOUND = "RUMI-VAL-006";
    /// The request body is larger than `RUMI_MAX_REQUEST_BODY_BYTES`.
    VAL_BODY_TOO_LARGE = "RUMI-VAL-007";
    /// The request body is not valid JSON, or not the expected shape.
    VAL_MALFORMED_JSON = "RUMI-VAL-008";
    /// The request body must be JSON (`Content-Type: application/json`).
    VAL_CONTENT_TYPE = "RUMI-VAL-009";

    /// Something failed inside Rumi; the log line with the same request id has the detail.
    SYS_INTERNAL = "RUMI-SYS-001";
    /// The configuration is invalid.
    SYS_CONFIG = "RUMI-SYS-002";
    /// A required directory is missing.
    SYS_DIRECTORY_MISSING = "RUMI-SYS-003";
    /// No endpoint exists at this path.
    SYS_NO_ROUTE = "RUMI-SYS-004";
    /// The endpoint exists but not for this HTTP method.
    SYS_METHOD_NOT_ALLOWED = "RUMI-SYS-005";
    /// A signed state file failed verification; it is treated as absent.
    SYS_STATE_TAMPERED = "RUMI-SYS-006";
    /// An operator action was refused before it started because its audit line could not be
    /// written (the audit file system is full or failing); nothing was changed.
    SYS_AUDIT_UNAVAILABLE = "RUMI-SYS-008";
    /// A file could not be read for lack of resources (descriptors, memory) or an I/O error;
    /// nothing was decided about it. Retry.
    SYS_RESOURCES_EXHAUSTED = "RUMI-SYS-009";
    /// The generation journal of the signed state is missing, damaged or behind the files:
    /// rumid does not start.
    SYS_STATE_JOURNAL = "RUMI-SYS-010";
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for code in ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            let parts: Vec<&str> = s.split('-').collect();
            assert_eq!(parts.len(), 3, "{s}");
            assert_eq!(parts[0], "RUMI");
            assert!((2..=5).contains(&parts[1].len()), "{s}");
            assert!(parts[1].bytes().all(|b| b.is_ascii_uppercase()), "{s}");
            assert_eq!(parts[2].len(), 3, "{s}");
            assert!(parts[2].bytes().all(|b| b.is_ascii_digit()), "{s}");
        }
    }

    #[test]
    fn every_code_is_documented() {
        let doc = include_str!("../../docs/error-codes.md");
        for code in ALL {
            assert!(doc.contains(code.as_str()), "{code} missing from docs/error-codes.md");
        }
    }
}
