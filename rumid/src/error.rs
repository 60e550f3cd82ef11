//! rumid's error type and its mapping to RUMI codes, HTTP statuses and suggestions.
//!
//! [`Error::code`], [`Error::status`] and [`Error::suggestion`] are exhaustive matches: a
//! new variant does not compile until someone decides how the operator sees it.

use std::io;
use std::path::PathBuf;

use axum::http::StatusCode;
use rumi_common::code::{self, Code};
use rumi_common::ids::{PackId, PackIdError};

use crate::import::ImportError;

/// Result with rumid's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in rumid.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("missing bearer token")]
    AuthMissing,
    #[error("invalid bearer token")]
    AuthInvalid,
    #[error("invalid pack id: {0}")]
    InvalidPackId(#[from] PackIdError),
    #[error("pack {pack_id} is not installed")]
    PackNotFound { pack_id: PackId },
    #[error("pack {pack_id} cannot be approved: {reason}")]
    PackNotApprovable { pack_id: PackId, reason: String },
    #[error("pack {pack_id} is not approved (state {state})")]
    PackNotApproved { pack_id: PackId, state: &'static str },
    #[error("cannot hash pack {pack_id}: {reason}")]
    HashFailed { pack_id: PackId, reason: String },
    #[error("request body is larger than RUMI_MAX_REQUEST_BODY_BYTES")]
    BodyTooLarge,
    #[error("malformed JSON body: {detail}")]
    MalformedJson { detail: String },
    #[error("request body must be JSON (Content-Type: application/json)")]
    ContentType,
    #[error("{field} must not be empty")]
    EmptyValue { field: &'static str },
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("pack {pack_id} has no network grant")]
    GrantNotFound { pack_id: PackId },
    #[error("{helper} is not available; retry shortly (GET /api/health shows helper status)")]
    HelperUnavailable { helper: &'static str },
    /// An error answered by a helper, carrying the RUMI code it chose.
    #[error("{message}")]
    Helper {
        code: Code,
        status: StatusCode,
        message: String,
    },
    /// A refusal with its own code and suggestion (capability candidates and grants).
    #[error("{message}")]
    Coded {
        code: Code,
        status: StatusCode,
        message: String,
        suggestion: &'static str,
    },
    #[error(transparent)]
    Flow(#[from] crate::flow::FlowError),
    #[error("no endpoint at this path")]
    NoRoute,
    #[error("method not allowed on this endpoint")]
    MethodNotAllowed,
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("background task failed: {0}")]
    Task(String),
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    #[error("{0}")]
    Forbidden(String),
    /// A capability handler's source cannot be shown for review (the code says why: outside
    /// the pack, a symlink or not a regular file, missing).
    #[error("cannot show the handler source: {reason}")]
    SourceRefused { code: Code, reason: String },
    /// A file could not be read for a reason that says nothing about the file (out of
    /// descriptors or memory, an I/O error): nothing was decided.
    #[error("cannot read {what} now: {reason}")]
    Transient { what: String, reason: String },
    /// An operator action refused before it started: its audit line could not be written.
    #[error("the audit log cannot be written ({reason}); the action was refused and nothing was changed")]
    AuditUnavailable { reason: String },
    /// A signed state file the call needs was refused at load (tampered, or an old copy put
    /// back); it grants nothing.
    #[error("the signed file {file} was refused ({reason}); it grants nothing")]
    StateRefused { file: String, reason: String },
}

/// Whether an I/O error says nothing about the file it was about: the process or the system
/// is out of descriptors or memory, the call was interrupted, or the device failed. Such an
/// error must never be read as a verdict on the file (tampered, modified, missing): the check
/// failed, not the file, and is made again later.
pub fn is_transient_io(e: &io::Error) -> bool {
    use nix::libc;
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::EAGAIN | libc::EINTR | libc::ENOBUFS | libc::EIO)
    ) || e.kind() == io::ErrorKind::OutOfMemory
}

impl Error {
    /// Wraps an I/O error with what was being done and to which path.
    pub fn io(context: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { context, path, source }
    }

    /// The stable RUMI code.
    pub fn code(&self) -> Code {
        match self {
            Self::AuthMissing => code::AUTH_TOKEN_MISSING,
            Self::AuthInvalid => code::AUTH_TOKEN_INVALID,
            Self::InvalidPackId(_) => code::PACK_ID_INVALID,
            Self::PackNotFound { .. } => code::PACK_NOT_FOUND,
            Self::PackNotApprovable { .. } => code::PACK_NOT_APPROVABLE,
            Self::PackNotApproved { .. } => code::PACK_NOT_APPROVED,
            Self::HashFailed { .. } => code::PACK_HASH_FAILED,
            Self::BodyTooLarge => code::VAL_BODY_TOO_LARGE,
            Self::MalformedJson { .. } => code::VAL_MALFORMED_JSON,
            Self::ContentType => code::VAL_CONTENT_TYPE,
            Self::EmptyValue { .. } => code::VAL_EMPTY,
            Self::TooLong { .. } | Self::Invalid { .. } => code::VAL_PATTERN,
            Self::GrantNotFound { .. } => code::NET_GRANT_NOT_FOUND,
            Self::HelperUnavailable { .. } => code::SYS_HELPER_UNAVAILABLE,
            Self::Helper { code, .. } | Self::Coded { code, .. } => *code,
            Self::Flow(e) => match e {
                crate::flow::FlowError::NotFound(_) => code::FLOW_NOT_FOUND,
                crate::flow::FlowError::Timeout(_) => code::FLOW_TIMEOUT,
                crate::flow::FlowError::Busy => code::FLOW_BUSY,
                crate::flow::FlowError::PackBusy { .. } => code::FLOW_PACK_BUSY,
                crate::flow::FlowError::Step { .. } => code::FLOW_STEP_FAILED,
                crate::flow::FlowError::Recursion(_) => code::FLOW_RECURSION,
                crate::flow::FlowError::Unavailable { .. } => code::FLOW_UNAVAILABLE,
                crate::flow::FlowError::ContextTooLarge { .. } => code::FLOW_CONTEXT_TOO_LARGE,
                crate::flow::FlowError::TooManySteps => code::FLOW_TOO_MANY_STEPS,
            },
            Self::NoRoute => code::SYS_NO_ROUTE,
            Self::MethodNotAllowed => code::SYS_METHOD_NOT_ALLOWED,
            Self::Io { .. } | Self::Task(_) => code::SYS_INTERNAL,
            Self::Forbidden(_) => code::AUTH_PERMISSION_DENIED,
            Self::SourceRefused { code, .. } => *code,
            Self::StateRefused { .. } => code::SYS_STATE_TAMPERED,
            Self::AuditUnavailable { .. } => code::SYS_AUDIT_UNAVAILABLE,
            Self::Transient { .. } => code::SYS_RESOURCES_EXHAUSTED,
            Self::Import(e) => match e {
                ImportError::Refused { code, .. } => *code,
                ImportError::TooLarge(_) => code::PACK_IMPORT_TOO_LARGE,
                ImportError::SourceMissing(_) => code::VAL_FILE_NOT_FOUND,
                ImportError::StagingNotFound(_) => code::PACK_STAGING_NOT_FOUND,
                ImportError::IdentityMismatch { .. } => code::PACK_IDENTITY_MISMATCH,
                ImportError::Io { .. } => code::SYS_INTERNAL,
            },
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::AuthMissing | Self::AuthInvalid => StatusCode::UNAUTHORIZED,
            Self::InvalidPackId(_)
            | Self::MalformedJson { .. }
            | Self::EmptyValue { .. }
            | Self::TooLong { .. }
            | Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::PackNotFound { .. } | Self::NoRoute | Self::GrantNotFound { .. } => StatusCode::NOT_FOUND,
            Self::PackNotApprovable { .. } | Self::PackNotApproved { .. } => StatusCode::CONFLICT,
            Self::HashFailed { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::HelperUnavailable { .. } | Self::AuditUnavailable { .. } | Self::Transient { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Flow(e) => match e {
                crate::flow::FlowError::NotFound(_) => StatusCode::NOT_FOUND,
                crate::flow::FlowError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
                crate::flow::FlowError::Busy | crate::flow::FlowError::PackBusy { .. } => StatusCode::TOO_MANY_REQUESTS,
                crate::flow::FlowError::Step { .. } | crate::flow::FlowError::Recursion(_) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                crate::flow::FlowError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
                crate::flow::FlowError::ContextTooLarge { .. } | crate::flow::FlowError::TooManySteps => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
            },
            Self::Helper { status, .. } | Self::Coded { status, .. } => *status,
            Self::Io { .. } | Self::Task(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::SourceRefused { code, .. } if *code == code::VAL_FILE_NOT_FOUND => StatusCode::NOT_FOUND,
            Self::SourceRefused { code, .. } if *code == code::SYS_INTERNAL => StatusCode::INTERNAL_SERVER_ERROR,
            Self::SourceRefused { .. } => StatusCode::BAD_REQUEST,
            Self::StateRefused { .. } => StatusCode::CONFLICT,
            Self::Import(e) => match e {
                ImportError::Refused { .. } => StatusCode::BAD_REQUEST,
                ImportError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                ImportError::SourceMissing(_) | ImportError::StagingNotFound(_) => StatusCode::NOT_FOUND,
                ImportError::IdentityMismatch { .. } => StatusCode::CONFLICT,
                ImportError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// What the operator can do about it.
    pub fn suggestion(&self) -> &'static str {
        match self {
            Self::AuthMissing => "send 'Authorization: Bearer <token>'; `rumi-ctl token` prints the token",
            Self::AuthInvalid => {
                "the token is wrong or was rotated; `rumi-ctl token --home <dir>` prints the current one"
            }
            Self::InvalidPackId(_) => "pack ids are 1-64 characters of letters, digits, '_' and '-'",
            Self::PackNotFound { .. } => "`rumi-ctl packs list` shows installed packs; run a scan after adding one",
            Self::PackNotApprovable { .. } => {
                "fix the pack's ecosystem.json (`rumid --validate` lists the problems), then scan and approve again"
            }
            Self::PackNotApproved { .. } => "approve the pack (`rumi-ctl packs approve <id>`) after reviewing it",
            Self::HashFailed { .. } => {
                "packs may hold only regular files, directories and symlinks with UTF-8 names (at most 50,000 entries and 4 GiB); fix what the message names and retry"
            }
            Self::BodyTooLarge => "send a smaller body or raise RUMI_MAX_REQUEST_BODY_BYTES",
            Self::MalformedJson { .. } => "send a JSON object matching the endpoint's documented shape",
            Self::ContentType => "set 'Content-Type: application/json'",
            Self::EmptyValue { .. } => "provide a non-empty value",
            Self::TooLong { .. } => "shorten the value",
            Self::Invalid { .. } => "see docs/api.md for the accepted values",
            Self::GrantNotFound { .. } => "`rumi-ctl network list` shows existing grants",
            Self::StateRefused { .. } => {
                "the security audit (hmac_verification_failed) says why; grant again to write a fresh signed file, and find out who put the file there"
            }
            Self::HelperUnavailable { .. } => "rumid restarts helpers automatically; check its log if this persists",
            Self::Helper { .. } => "see docs/api.md and docs/error-codes.md for this code",
            Self::Coded { suggestion, .. } => suggestion,
            Self::Flow(e) => match e {
                crate::flow::FlowError::NotFound(_) => {
                    "`GET /api/flows` lists flows; pack flows load only while their pack is approved"
                }
                crate::flow::FlowError::Timeout(_) => {
                    "raise the run's timeout (at most 600 s) or make the steps faster"
                }
                crate::flow::FlowError::Busy => "retry later or raise RUMI_MAX_CONCURRENT_FLOWS",
                crate::flow::FlowError::PackBusy { .. } => {
                    "this pack's other flows hold its share of the slots; retry once they end, or raise RUMI_MAX_FLOWS_PER_PACK (it stays below RUMI_MAX_CONCURRENT_FLOWS)"
                }
                crate::flow::FlowError::Step { .. } => "see the step's error_type and the python_file_call audit log",
                crate::flow::FlowError::Recursion(_) => "remove the cycle between the flows",
                crate::flow::FlowError::Unavailable { .. } => {
                    "retry later; for docker_required start Docker (`GET /api/docker/status` shows why it is unavailable)"
                }
                crate::flow::FlowError::ContextTooLarge { .. } => {
                    "make the flow build smaller values (each sub-flow call copies the whole context), or raise RUMI_MAX_CONTEXT_BYTES"
                }
                crate::flow::FlowError::TooManySteps => {
                    "split the work over several runs: one run takes at most 10000 steps, sub-flows included"
                }
            },
            Self::NoRoute => "see docs/api.md for the list of endpoints",
            Self::MethodNotAllowed => "see docs/api.md for the methods each endpoint accepts",
            Self::Io { .. } | Self::Task(_) => {
                "see rumid's log for the line with this request id; check disk space and permissions under RUMI_HOME"
            }
            Self::Transient { .. } => {
                "rumid could not read its state or a pack's files for lack of resources (file descriptors, memory) or an I/O error; nothing was decided: retry shortly, and see rumid's log for the line with this request id"
            }
            Self::AuditUnavailable { .. } => {
                "free space on the file system of user_data/audit (the audit probe of GET /api/health says why it cannot be written; RUMI_AUDIT_RESERVE_BYTES must fit too), then retry"
            }
            Self::SourceRefused { .. } => {
                "a handler's entry file must be a regular file inside its handler directory, inside the pack; scan again (`POST /api/capability/candidates/scan`) after fixing the pack"
            }
            Self::Forbidden(_) => {
                "an operator grants it first: `rumi-ctl privileges grant <pack_id> <privilege_id>` for privileges, `rumi-ctl capability grant <pack_id> <permission_id>` for a unit's permission"
            }
            Self::Import(e) => match e {
                ImportError::Refused { .. } => {
                    "a pack import is one directory named after the pack, holding only regular files and directories, with a valid ecosystem.json"
                }
                ImportError::TooLarge(_) => "packs may hold at most 2000 files, 100 MiB per file and 500 MiB in total",
                ImportError::SourceMissing(_) => {
                    "give the absolute path of a folder, .zip or .rumipack that rumid can read"
                }
                ImportError::StagingNotFound(_) => "`GET /api/packs/staging` lists staged imports; import again",
                ImportError::IdentityMismatch { .. } => {
                    "this is a different pack with the same id; to replace it on purpose, uninstall the installed pack first, then apply again"
                }
                ImportError::Io { .. } => {
                    "see rumid's log for the line with this request id; check disk space and permissions under RUMI_HOME"
                }
            },
        }
    }

    /// Turns a helper's gRPC status (`"RUMI-XXX-NNN: message"`) back into an error.
    pub fn from_helper(status: &tonic::Status) -> Self {
        let msg = status.message();
        let (code, message) = match msg.split_once(": ") {
            Some((c, m)) => match code::ALL.iter().find(|k| k.as_str() == c) {
                Some(k) => (*k, m.to_owned()),
                None => (code::SYS_INTERNAL, msg.to_owned()),
            },
            None => (code::SYS_INTERNAL, msg.to_owned()),
        };
        let http = match status.code() {
            tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
            tonic::Code::NotFound => StatusCode::NOT_FOUND,
            tonic::Code::AlreadyExists | tonic::Code::FailedPrecondition => StatusCode::CONFLICT,
            tonic::Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::Helper {
            code,
            status: http,
            message,
        }
    }

    /// Whether the detail must stay out of responses (5xx: generic message, detail in the log).
    pub fn is_internal(&self) -> bool {
        // A failed flow step is the pack's failure, not Rumi's: its message is useful. An
        // unwritable audit log is the operator's to fix, and its reason names no path.
        self.status().is_server_error() && !matches!(self, Self::Flow(_) | Self::AuditUnavailable { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_that_say_nothing_about_the_file_are_transient() {
        use nix::libc;
        for errno in [
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOMEM,
            libc::EAGAIN,
            libc::EINTR,
            libc::EIO,
        ] {
            assert!(is_transient_io(&io::Error::from_raw_os_error(errno)), "{errno}");
        }
        for errno in [
            libc::ENOENT,
            libc::EACCES,
            libc::ELOOP,
            libc::ENOTDIR,
            libc::EISDIR,
            libc::EPERM,
        ] {
            assert!(!is_transient_io(&io::Error::from_raw_os_error(errno)), "{errno}");
        }
        assert!(!is_transient_io(&io::Error::from(io::ErrorKind::InvalidData)));
    }
}
