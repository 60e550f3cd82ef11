//! Per-pack sockets: `{RUMI_EGRESS_SOCK_DIR}/{pack_id}.sock`, one per approved pack
//! (opened and closed by [`rumi_common::helper::SocketSet`] as policy changes).
//!
//! # Security
//! The pack is identified by the socket that accepted the connection, never by anything in
//! the request.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rumi_common::framing::FrameError;
use rumi_common::helper::Conn;
use rumi_common::ids::PackId;

use crate::control::State;

/// Largest request frame: 1 MiB.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// How long a connected client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The socket file names of the approved packs (`{pack_id}.sock`); invalid ids are dropped.
pub fn wanted(approved: &HashSet<String>) -> BTreeMap<String, String> {
    approved
        .iter()
        .filter_map(|p| match PackId::parse(p) {
            Ok(id) => Some((p.clone(), format!("{id}.sock"))),
            Err(_) => {
                tracing::error!(pack_id = %p, "policy names an invalid pack id; ignored");
                None
            }
        })
        .collect()
}

/// One connection: one request frame in, one response frame out.
///
/// # Security
/// The frame is read incrementally against the pack's and the helper's buffer budgets
/// (`RUMI_FRAME_BUFFER_*`), and the bytes stay charged until the response is written; a
/// frame past a budget is refused with `busy` (audited `security/frame_buffer_full`).
pub async fn serve(state: Arc<State>, pack: String, mut stream: Conn) {
    let mut lease = state.frames.lease(&pack);
    let read = tokio::time::timeout(
        READ_TIMEOUT,
        rumi_common::framing::read_frame_within(&mut stream, MAX_REQUEST_BYTES, &mut lease),
    )
    .await;
    let response = match read {
        Ok(Ok(request)) => state.proxy.handle(&state, &pack, request).await,
        Ok(Err(FrameError::OverBudget { limit })) => {
            rumi_common::helper::audit::frame_buffer_full(&state.audit, &pack, limit);
            crate::proxy::busy()
        }
        Ok(Err(e)) => {
            tracing::debug!(pack_id = %pack, %e, "bad frame");
            crate::proxy::protocol_error()
        }
        Err(_) => crate::proxy::protocol_error(),
    };
    let _ = rumi_common::framing::write_frame(&mut stream, &response).await;
    drop(lease);
}
