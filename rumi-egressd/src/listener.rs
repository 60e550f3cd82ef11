//! Per-pack sockets: one listener per approved pack, created and removed as policy changes.
//!
//! # Security
//! The pack is identified by the socket that accepted the connection, never by anything in
//! the request. A socket exists only while its pack is approved in the current policy.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rumi_common::ids::PackId;
use rumi_common::uds::Stale;
use serde_json::json;
use tokio::net::UnixStream;
use tokio::task::JoinHandle;

use crate::control::State;

/// Largest request frame: 1 MiB.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// How long a connected client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Listeners {
    by_pack: HashMap<String, JoinHandle<()>>,
}

/// The socket path of a pack.
pub fn socket_path(dir: &Path, pack: &PackId) -> PathBuf {
    dir.join(format!("{pack}.sock"))
}

/// Removes every `*.sock` in `dir` (at start: nothing may look alive before a policy).
pub fn clear_dir(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().ends_with(".sock") {
            let _ = rumi_common::uds::remove_stale(&e.path());
        }
    }
}

impl Listeners {
    pub fn len(&self) -> usize {
        self.by_pack.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_pack.is_empty()
    }

    /// Opens sockets for newly approved packs and closes those of packs no longer approved.
    /// Returns the number of open sockets.
    pub fn reconcile(&mut self, approved: &HashSet<String>, state: &Arc<State>) -> usize {
        let dir = &state.config.sock_dir;
        let gone: Vec<String> = self
            .by_pack
            .keys()
            .filter(|p| !approved.contains(*p))
            .cloned()
            .collect();
        for pack in gone {
            if let Some(handle) = self.by_pack.remove(&pack) {
                handle.abort();
            }
            if let Ok(id) = PackId::parse(&pack) {
                let _ = rumi_common::uds::remove_stale(&socket_path(dir, &id));
            }
            tracing::info!(pack_id = %pack, "pack socket closed");
        }
        for pack in approved {
            if self.by_pack.contains_key(pack) {
                continue;
            }
            let Ok(id) = PackId::parse(pack) else {
                tracing::error!(pack_id = %pack, "policy names an invalid pack id; ignored");
                continue;
            };
            let path = socket_path(dir, &id);
            match rumi_common::uds::bind(&path, state.config.socket_mode, state.config.socket_gid) {
                Ok((listener, stale)) => {
                    if stale == Stale::Symlink {
                        let mut d = serde_json::Map::new();
                        d.insert("socket".into(), json!(path.display().to_string()));
                        state
                            .audit
                            .security("egress_proxy_symlink_detected", "warning", pack, d);
                    }
                    let st = state.clone();
                    let pack_name = pack.clone();
                    let handle = tokio::spawn(async move {
                        loop {
                            match listener.accept().await {
                                Ok((stream, _)) => {
                                    let st = st.clone();
                                    let pack = pack_name.clone();
                                    tokio::spawn(async move { serve(st, pack, stream).await });
                                }
                                Err(e) => {
                                    tracing::warn!(pack_id = %pack_name, %e, "accept failed");
                                    tokio::time::sleep(Duration::from_millis(50)).await;
                                }
                            }
                        }
                    });
                    self.by_pack.insert(pack.clone(), handle);
                    tracing::info!(pack_id = %pack, socket = %path.display(), "pack socket open");
                }
                Err(e) => {
                    tracing::error!(pack_id = %pack, socket = %path.display(), %e, "cannot bind pack socket");
                    let mut d = serde_json::Map::new();
                    d.insert("error".into(), json!(e.to_string()));
                    state
                        .audit
                        .security("egress_proxy_socket_failed", "error", pack, d);
                }
            }
        }
        self.by_pack.len()
    }

    pub fn close_all(&mut self, dir: &Path) {
        for (pack, handle) in self.by_pack.drain() {
            handle.abort();
            if let Ok(id) = PackId::parse(&pack) {
                let _ = rumi_common::uds::remove_stale(&socket_path(dir, &id));
            }
        }
    }
}

/// One connection: one request frame in, one response frame out.
async fn serve(state: Arc<State>, pack: String, mut stream: UnixStream) {
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
