//! Running pack code: one block (a Python file's `run()`), in a fresh container (strict) or a
//! host subprocess (permissive).
//!
//! The runner (`_rumi_runner.py`, from the SDK) reads `{file, input, context}` from a JSON
//! file, calls `run()` with 0, 1 or 2 parameters and prints the JSON result; anything the
//! block prints goes to stderr. Limits: stdout [`MAX_STDOUT_BYTES`], stderr kept up to
//! [`MAX_STDERR_BYTES`], and a timeout that kills the run.
//!
//! # Security
//! - strict mode never falls back to the host: without Docker a block is refused
//!   (`docker_required`).
//! - rumid reads nothing a container wrote to a file system: only its stdout/stderr
//!   streams. A symlink planted by pack code therefore cannot make rumid read or write a host
//!   path (the judge0 / compiler-explorer class of escape).
//! - The input file is written by rumid into its own directory and mounted read-only.

pub mod docker;
pub mod host;

use std::path::{Path, PathBuf};
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
    /// The pack's directory on the host.
    pub pack_dir: PathBuf,
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

/// Parses the runner's stdout: JSON, else the raw text; empty is `null`.
pub fn parse_output(stdout: &[u8]) -> Value {
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

/// Writes the runner's input file into a private directory; returns (dir, file).
///
/// # Errors
/// I/O errors.
pub fn write_input(base: &Path, file_in_runner: &str, run: &BlockRun) -> std::io::Result<(tempfile::TempDir, PathBuf)> {
    std::fs::create_dir_all(base)?;
    let dir = tempfile::Builder::new().prefix("blk-").tempdir_in(base)?;
    let path = dir.path().join("input.json");
    let body = serde_json::json!({"file": file_in_runner, "input": run.input, "context": run.context});
    rumi_common::fs::write_atomic(&path, body.to_string().as_bytes(), 0o644)?;
    Ok((dir, path))
}
