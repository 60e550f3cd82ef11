//! Trusted capability handlers: operator-approved Python files under
//! `user_data/capabilities/handlers/<slug>/`, run as subprocesses.
//!
//! # Security
//! Before each run the installed entry file is re-hashed and must equal the trusted sha256
//! (an edited copy is refused), must not be a symlink, and must resolve inside its handler
//! directory. The subprocess gets an empty environment (`env_clear`) plus a fixed `PATH`,
//! runs with Python's isolated mode, a timeout (default 30 s, at most 120 s) and an output
//! cap (1 MiB); it is killed when either is exceeded. rumi-capd itself has no network, and
//! neither do its children.
//!
//! stdin is fed, and stdout and stderr are drained, at the same time: a handler that wrote
//! more than a pipe holds (64 KiB) to stderr before finishing its stdout used to block
//! until the timeout, since stderr was read only after stdout ended. stderr is read to its
//! end but only its last [`STDERR_TAIL_BYTES`] are kept.
//!
//! The re-hash reads the whole file: callers run [`verify`] on a blocking thread.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rumi_proto::control::TrustedHandler;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::capability::{Denied, Outcome};

pub const DEFAULT_TIMEOUT: f64 = 30.0;
pub const MAX_TIMEOUT: f64 = 120.0;
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// How much of a handler's stderr is kept (its end, for the error message).
pub const STDERR_TAIL_BYTES: usize = 4096;

/// The runner: loads the entry file as a module and calls `func(context, args)`.
const RUNNER: &str = r#"
import importlib.util, json, sys
req = json.load(sys.stdin)
spec = importlib.util.spec_from_file_location("rumi_handler", req["file"])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
out = getattr(mod, req["func"])(req["context"], req["args"])
sys.stdout.write(json.dumps(out))
"#;

/// Checks the installed entry file against the trusted hash; returns its path.
///
/// # Errors
/// The audit-only reason when the file is missing, a symlink, outside its directory, or
/// changed.
pub fn verify(h: &TrustedHandler) -> Result<PathBuf, String> {
    let (file, _) = h.entrypoint.split_once(':').ok_or("entrypoint is not file:func")?;
    let dir = Path::new(&h.dir);
    let path = dir.join(file);
    let meta = std::fs::symlink_metadata(&path).map_err(|e| format!("entry file unreadable: {e}"))?;
    if !meta.is_file() {
        return Err("entry file is a symlink or not a regular file".into());
    }
    let real = path.canonicalize().map_err(|e| e.to_string())?;
    let real_dir = dir.canonicalize().map_err(|e| e.to_string())?;
    if !real.starts_with(&real_dir) {
        return Err("entry file escapes its handler directory".into());
    }
    // Streamed: a large handler file must not cost its size in memory on every call.
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(&real).map_err(|e| e.to_string())?;
    std::io::copy(&mut file, &mut hasher).map_err(|e| e.to_string())?;
    let sha = hex::encode(hasher.finalize());
    if sha != h.sha256.to_ascii_lowercase() {
        return Err("installed handler no longer matches its trusted sha256".into());
    }
    Ok(real)
}

/// Runs a handler whose entry file [`verify`] returned as `file`.
///
/// # Errors
/// `handler_error`, `timeout`, `response_too_large` or `invalid_json_output`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    python: &Path,
    h: &TrustedHandler,
    file: &Path,
    principal: &str,
    permission: &str,
    request_id: &str,
    config: &Value,
    args: &Value,
    timeout: Option<f64>,
) -> Outcome {
    let func = h.entrypoint.split_once(':').map_or("execute", |(_, f)| f);
    let secs = timeout.filter(|t| *t > 0.0).unwrap_or(DEFAULT_TIMEOUT).min(MAX_TIMEOUT);
    let input = json!({
        "file": file,
        "func": func,
        "args": args,
        "context": {
            "principal_id": principal,
            "permission_id": permission,
            "handler_id": h.handler_id,
            "grant_config": config,
            // The caller's id for the call (a flow's `function` step sends
            // `flow:<flow_id>:<step_id>`), as the original gives it (one is made up when the call sent none).
            "request_id": request_id,
            "ts": chrono::Utc::now().to_rfc3339(),
        },
    });
    let mut child = tokio::process::Command::new(python)
        .args(["-I", "-S", "-c", RUNNER])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(&h.dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Denied::new("handler_error", &format!("cannot start handler: {e}")))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let input = input.to_string().into_bytes();
    let work = async {
        let feed = async move {
            // A handler that exits without reading its input closes the pipe: not an error.
            let _ = stdin.write_all(&input).await;
        };
        let out = async {
            let mut out = Vec::new();
            let read = (&mut stdout)
                .take(MAX_OUTPUT_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .await
                .map_err(|e| Denied::new("handler_error", &e.to_string()));
            if read.is_ok() && out.len() > MAX_OUTPUT_BYTES {
                // Stop it now rather than at the timeout: nobody reads the rest.
                let _ = child.start_kill();
                return Err(Denied::new("response_too_large", "Response too large"));
            }
            read.map(|_| out)
        };
        let (_, out, err) = tokio::join!(feed, out, read_tail(&mut stderr, STDERR_TAIL_BYTES));
        let out = out?;
        let status = child
            .wait()
            .await
            .map_err(|e| Denied::new("handler_error", &e.to_string()))?;
        if !status.success() {
            let tail = String::from_utf8_lossy(&err);
            let last = tail.lines().last().unwrap_or("").chars().take(300).collect::<String>();
            return Err(Denied::new("handler_error", &format!("handler failed: {last}")));
        }
        let text = String::from_utf8_lossy(&out).into_owned();
        Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    };
    match tokio::time::timeout(Duration::from_secs_f64(secs), work).await {
        Ok(r) => r,
        Err(_) => Err(Denied::new("timeout", &format!("handler timed out after {secs}s"))),
    }
}

/// Reads `r` to its end, keeping only its last `keep` bytes.
async fn read_tail<R: tokio::io::AsyncRead + Unpin>(r: &mut R, keep: usize) -> Vec<u8> {
    let mut tail = Vec::with_capacity(keep * 2);
    let mut buf = vec![0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > keep {
                    tail.drain(..tail.len() - keep);
                }
            }
        }
    }
    tail
}
