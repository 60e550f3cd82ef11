//! Per-pack sockets: `{RUMI_EGRESS_SOCK_DIR}/{pack_id}.sock`, one per approved pack
//! (opened and closed by [`rumi_common::helper::SocketSet`] as policy changes).
//!
//! # Security
//! The pack is identified by the socket that accepted the connection, never by anything in
//! the request.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rumi_common::ids::PackId;
use tokio::net::UnixStream;

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
pub async fn serve(state: Arc<State>, pack: String, mut stream: UnixStream) {
    let response = match tokio::time::timeout(
        READ_TIMEOUT,
        rumi_common::framing::read_frame(&mut stream, MAX_REQUEST_BYTES),
    )
    .await
    {
        Ok(Ok(request)) => state.proxy.handle(&state, &pack, request).await,
        Ok(Err(e)) => {
            tracing::debug!(pack_id = %pack, %e, "bad frame");
            crate::proxy::protocol_error()
        }
        Err(_) => crate::proxy::protocol_error(),
    };
    let _ = rumi_common::framing::write_frame(&mut stream, &response).await;
}
