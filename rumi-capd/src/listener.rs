//! Per-principal sockets: `{RUMI_CAPABILITY_SOCK_DIR}/{sha256(principal_id)[:32]}.sock`.
//! One request frame in, one response frame out.

use std::sync::Arc;
use std::time::Duration;

use rumi_common::helper::Conn;
use serde_json::json;

use rumi_common::framing::FrameError;

use crate::control::State;
use crate::policy::root_pack;

/// Largest request frame: 4 MiB.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// How long a connected client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// One connection: one request frame in, one response frame out.
///
/// # Security
/// The frame is read incrementally against the budgets of the principal's pack and of the
/// helper (`RUMI_FRAME_BUFFER_*`), charged until the response is written; a frame past a
/// budget is refused with `busy` (audited `security/frame_buffer_full`).
pub async fn serve(state: Arc<State>, principal: String, mut stream: Conn) {
    let pack = root_pack(&principal).to_owned();
    let mut lease = state.frames.lease(&pack);
    let read = tokio::time::timeout(
        READ_TIMEOUT,
        rumi_common::framing::read_frame_within(&mut stream, MAX_REQUEST_BYTES, &mut lease),
    )
    .await;
    let response = match read {
        Ok(Ok(request)) => crate::capability::handle(&state, &principal, request).await,
        Ok(Err(FrameError::OverBudget { limit })) => {
            rumi_common::helper::audit::frame_buffer_full(&state.audit, &pack, limit);
            refusal("Too many bytes in flight; retry later", "busy")
        }
        _ => refusal("Invalid request", "protocol_error"),
    };
    let _ = rumi_common::framing::write_frame(&mut stream, &response).await;
    drop(lease);
}

fn refusal(error: &str, error_type: &str) -> serde_json::Value {
    json!({"success": false, "output": null, "error": error, "error_type": error_type, "latency_ms": 0})
}
