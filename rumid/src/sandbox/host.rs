//! Permissive mode: the runner as a host `python3` subprocess with an empty environment
//! (plus the SDK path and this pack's socket paths), a timeout and output limits. Egress and
//! capabilities still go only through the helpers' sockets, so grants still hold; nothing
//! else isolates the code, which is why permissive mode is for development only.

use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{BlockRun, MAX_STDERR_BYTES, MAX_STDOUT_BYTES, SandboxError};

/// Sockets and SDK a host run uses.
pub struct HostEnv<'a> {
    pub python: &'a Path,
    pub sdk_dir: &'a Path,
    pub egress_socket: &'a Path,
    pub capability_socket: &'a Path,
}

/// Runs one block on the host.
///
/// # Errors
/// [`SandboxError`] for timeouts, oversize output, a failing block or a spawn error.
pub async fn run(env: &HostEnv<'_>, block: &BlockRun) -> Result<serde_json::Value, SandboxError> {
    let file = block.pack_dir.join(&block.file_rel);
    let job = super::job_line(&file.display().to_string(), block)?;
    let mut child = tokio::process::Command::new(env.python)
        .arg("-B")
        .arg(env.sdk_dir.join("_rumi_runner.py"))
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("PYTHONPATH", env.sdk_dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("RUMI_PACK_ID", block.pack.as_str())
        .env("RUMI_EGRESS_SOCKET", env.egress_socket)
        .env("RUMI_CAPABILITY_SOCKET", env.capability_socket)
        .current_dir(&block.pack_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| SandboxError::Internal(format!("cannot start python3: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let work = async {
        // The job is one line; the runner reads it before touching the pack. A runner that
        // died early makes this fail, and its exit status tells why.
        let _ = stdin.write_all(&job).await;
        drop(stdin);
        let mut out = Vec::new();
        let mut err = Vec::new();
        let read_out = async {
            (&mut stdout)
                .take(MAX_STDOUT_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .await
        };
        let read_err = async {
            let mut buf = [0u8; 8192];
            loop {
                match stderr.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) if err.len() < MAX_STDERR_BYTES => err.extend_from_slice(&buf[..n]),
                    Ok(_) => {}
                }
            }
        };
        let (r, ()) = tokio::join!(read_out, read_err);
        r.map_err(|e| SandboxError::Internal(e.to_string()))?;
        if out.len() > MAX_STDOUT_BYTES {
            return Err(SandboxError::TooLarge);
        }
        let status = child.wait().await.map_err(|e| SandboxError::Internal(e.to_string()))?;
        if !status.success() {
            return Err(SandboxError::Failed {
                code: i64::from(status.code().unwrap_or(-1)),
                stderr: super::stderr_tail(&err),
            });
        }
        Ok(super::parse_output(&out))
    };
    match tokio::time::timeout(block.timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(SandboxError::Timeout(block.timeout)),
    }
}
