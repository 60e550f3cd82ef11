//! Running pack code: one block (a Python file's `run()`), in a fresh container (strict) or a
//! host subprocess (permissive).
//!
//! The runner (`_rumi_runner.py`, from the SDK) reads `{file, input, context}` (from stdin in
//! a container, from a file on the host), calls `run()` with 0, 1 or 2 parameters and prints the JSON result; anything the
//! block prints goes to stderr. Limits: stdout [`MAX_STDOUT_BYTES`], stderr kept up to
//! [`MAX_STDERR_BYTES`], and a timeout that kills the run.
//!
//! # Security
//! - strict mode never falls back to the host: without Docker a block is refused
//!   (`docker_required`).
//! - rumid reads nothing a container wrote to a file system: only its stdout/stderr
//!   streams. A symlink planted by pack code therefore cannot make rumid read or write a host
//!   path (the judge0 / compiler-explorer class of escape).
//! - In a container the job arrives on stdin; on the host the input file is written by rumid
//!   into its own directory.

pub mod docker;
pub mod host;
pub mod spares;

use std::path::PathBuf;
use std::time::Duration;

use rumi_common::ids::PackId;
use serde_json::Value;

/// Largest stdout (the result) accepted: 4 MiB; more kills the run.
pub const MAX_STDOUT_BYTES: usize = 4 * 1024 * 1024;
/// stderr kept for error messages.
pub const MAX_STDERR_BYTES: usize = 64 * 1024;
/// Default block timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// One block to run.
#[derive(Debug, Clone)]
pub struct BlockRun {
    pub pack: PackId,
    /// The pack's code on the host: its approved snapshot (or a unit's directory).
    pub pack_dir: PathBuf,
    /// The snapshot `pack_dir` belongs to, held for the run so it is not removed meanwhile.
    pub snapshot: Option<std::sync::Arc<crate::approval::snapshot::PackSnapshot>>,
    /// The block file, relative to the pack directory (already checked to stay inside it).
    pub file_rel: PathBuf,
    pub input: Value,
    pub context: Value,
    pub timeout: Duration,
}

/// Why a block did not produce a result; each maps to an `error_type`.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("strict mode requires Docker and it is not available: {0}")]
    DockerRequired(String),
    #[error("block timed out after {0:?}")]
    Timeout(Duration),
    #[error("block output is larger than {MAX_STDOUT_BYTES} bytes")]
    TooLarge,
    #[error("block failed (exit {code}): {stderr}")]
    Failed { code: i64, stderr: String },
    #[error("sandbox error: {0}")]
    Internal(String),
}

impl SandboxError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::DockerRequired(_) => "docker_required",
            Self::Timeout(_) => "timeout",
            Self::TooLarge => "response_too_large",
            Self::Failed { .. } => "container_execution_error",
            Self::Internal(_) => "sandbox_error",
        }
    }
}

/// Start of the runner's result frame on stdout: `\x1eRUMI-RESULT <len>\n<len bytes of JSON>`.
/// With the frame complete, the result is known before the container has exited.
pub const RESULT_HEADER: &[u8] = b"\x1eRUMI-RESULT ";

/// The result, once a complete frame is at the start of `stdout`.
pub fn framed_result(stdout: &[u8]) -> Option<Value> {
    let rest = stdout.strip_prefix(RESULT_HEADER)?;
    let nl = rest.iter().take(24).position(|&b| b == b'\n')?;
    let len: usize = std::str::from_utf8(&rest[..nl]).ok()?.parse().ok()?;
    let body = rest.get(nl + 1..nl + 1 + len)?;
    Some(serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned())))
}

/// Parses the runner's stdout after it exited: the result frame, else JSON, else the raw
/// text; empty is `null`.
pub fn parse_output(stdout: &[u8]) -> Value {
    if let Some(v) = framed_result(stdout) {
        return v;
    }
    let text = String::from_utf8_lossy(stdout);
    let text = text.trim();
    if text.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Keeps the last part of stderr (where tracebacks end).
pub fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().rev().take(20).collect();
    let mut out: Vec<&str> = lines.into_iter().rev().collect();
    if out.is_empty() {
        out.push("(no output)");
    }
    out.join("\n")
        .chars()
        .rev()
        .take(2000)
        .collect::<String>()
        .chars()
        .rev()
        .collect()
}

/// The job line the runner reads on stdin: `{file, input, context}` and a newline.
///
/// # Errors
/// [`SandboxError::Internal`] if the job cannot be encoded.
pub fn job_line(file_in_runner: &str, run: &BlockRun) -> Result<Vec<u8>, SandboxError> {
    let mut job = serde_json::to_vec(&serde_json::json!({
        "file": file_in_runner,
        "input": run.input,
        "context": run.context,
    }))
    .map_err(|e| SandboxError::Internal(format!("cannot encode the job: {e}")))?;
    job.push(b'\n');
    Ok(job)
}
