//! Per-principal sockets: `{RUMI_CAPABILITY_SOCK_DIR}/{sha256(principal_id)[:32]}.sock`.
//! One request frame in, one response frame out.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::net::UnixStream;

use crate::control::State;

/// Largest request frame: 4 MiB.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// How long a connected client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn serve(state: Arc<State>, principal: String, mut stream: UnixStream) {
    let response = match tokio::time::timeout(
        READ_TIMEOUT,
        rumi_common::framing::read_frame(&mut stream, MAX_REQUEST_BYTES),
    )
    .await
    {
        Ok(Ok(request)) => crate::capability::handle(&state, &principal, request).await,
        _ => {
            json!({"success": false, "output": null, "error": "Invalid request", "error_type": "protocol_error", "latency_ms": 0})
        }
    };
    let _ = rumi_common::framing::write_frame(&mut stream, &response).await;
}
