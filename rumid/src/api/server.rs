//! Serving the API: the accept loop and HTTP/1.1 on each connection, with the limits that keep
//! connections from using up rumid's file descriptors.
//!
//! - **Header read timeout.** A connection must send the whole head of a request within
//!   `RUMI_API_HEADER_READ_TIMEOUT` of opening, or of its previous response (so it also bounds
//!   an idle keep-alive connection); otherwise it is closed, with no answer.
//! - **Unauthenticated connections.** A connection is unauthenticated until one of its requests
//!   passes the token check. At most `RUMI_API_MAX_UNAUTHENTICATED_CONNECTIONS` are open; one
//!   more closes the *oldest* unauthenticated connection, not the new one, so the operator's
//!   new connection gets through however many an attacker holds open (it only has to send its
//!   head before the attacker opens that many more).
//! - **Out of descriptors.** When accepting fails with `EMFILE`/`ENFILE` and a connection is
//!   really waiting (the kernel says so before it looks at the queue), the oldest
//!   unauthenticated connection is closed and accepting is tried again shortly.
//!
//! # Security
//! Before these limits, 1,100 connections that sent `GET / HTTP/1.1\r\n` and nothing more were
//! held for over a minute; under systemd's default 1024 descriptors the API and `/health` timed
//! out, and rumid's own file reads failed meanwhile (an approved pack read as `modified`).

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::metrics::Metrics;

/// How long the accept loop waits after running out of descriptors (an evicted connection
/// gives its descriptor back once its task has run).
const EXHAUSTED_PAUSE: Duration = Duration::from_millis(10);
/// How long it waits after any other accept error.
const ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The connection limits (from `RUMI_API_HEADER_READ_TIMEOUT` and
/// `RUMI_API_MAX_UNAUTHENTICATED_CONNECTIONS`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_unauthenticated: usize,
}

/// The open connections that have not authenticated yet, oldest first.
struct Unauthenticated {
    cap: usize,
    inner: Mutex<Waiting>,
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct Waiting {
    next: u64,
    by_age: BTreeMap<u64, Arc<Notify>>,
}

impl Unauthenticated {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new connection, closing the oldest one when the cap is reached.
    fn enter(self: &Arc<Self>) -> Arc<Slot> {
        let evict = Arc::new(Notify::new());
        let mut w = self.lock();
        while w.by_age.len() >= self.cap {
            let Some((_, oldest)) = w.by_age.pop_first() else { break };
            oldest.notify_one();
            self.metrics.api_connections_evicted.inc();
        }
        let id = w.next;
        w.next += 1;
        w.by_age.insert(id, evict.clone());
        self.metrics.api_unauthenticated_connections.set(w.by_age.len() as i64);
        Arc::new(Slot {
            id,
            pool: self.clone(),
            evict,
            authenticated: AtomicBool::new(false),
        })
    }

    /// Closes the oldest unauthenticated connection; `false` when there is none.
    fn evict_oldest(&self) -> bool {
        let mut w = self.lock();
        let Some((_, oldest)) = w.by_age.pop_first() else {
            return false;
        };
        oldest.notify_one();
        self.metrics.api_connections_evicted.inc();
        self.metrics.api_unauthenticated_connections.set(w.by_age.len() as i64);
        true
    }

    fn leave(&self, id: u64) {
        let mut w = self.lock();
        if w.by_age.remove(&id).is_some() {
            self.metrics.api_unauthenticated_connections.set(w.by_age.len() as i64);
        }
    }
}

/// One connection's place among the unauthenticated ones, until it authenticates or closes.
pub struct Slot {
    id: u64,
    pool: Arc<Unauthenticated>,
    evict: Arc<Notify>,
    authenticated: AtomicBool,
}

impl Slot {
    /// Called when a request of this connection passed the token check: it can no longer be
    /// closed to make room.
    pub fn authenticated(&self) {
        if !self.authenticated.swap(true, Ordering::AcqRel) {
            self.pool.leave(self.id);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pool.leave(self.id);
    }
}

/// The request extension through which the auth layer reaches its connection's [`Slot`].
#[derive(Clone)]
pub struct Connection(pub Arc<Slot>);

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish (idle connections close at once; one still sending its head gets until its header
/// timeout).
///
/// # Errors
/// None in practice: accept errors are retried; the signature leaves room for a fatal one.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let pool = Arc::new(Unauthenticated {
        cap: limits.max_unauthenticated.max(1),
        inner: Mutex::default(),
        metrics: metrics.clone(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) if matches!(e.raw_os_error(), Some(nix::libc::EMFILE | nix::libc::ENFILE)) => {
                // accept(2) fails for lack of a descriptor before it looks at the queue, so
                // this may be a retry with nothing waiting: then closing a connection would
                // only lose it.
                if connection_waiting(&listener) {
                    let evicted = pool.evict_oldest();
                    tracing::warn!(error = %e, evicted, "out of file descriptors accepting a connection");
                }
                tokio::time::sleep(EXHAUSTED_PAUSE).await;
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(ERROR_PAUSE).await;
                continue;
            }
        };
        // Small JSON responses on keep-alive connections: send them at once rather than wait
        // for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let slot = pool.enter();
        tasks.spawn(connection(
            stream,
            peer,
            router.clone(),
            slot,
            limits,
            metrics.clone(),
            stop_rx.clone(),
        ));
    }
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Whether a connection is waiting to be accepted (asks the kernel; needs no descriptor).
fn connection_waiting(listener: &TcpListener) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0)
}

/// Serves one connection until it closes, is evicted, or shutdown has let it finish.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    slot: Arc<Slot>,
    limits: Limits,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let evict = slot.evict.clone();
    let ext = Connection(slot);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(ext.clone());
        router.clone().oneshot(req)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let outcome = tokio::select! {
        r = conn.as_mut() => r,
        () = evict.notified() => return,
        _ = async { stop.wait_for(|s| *s).await.map(|_| ()) } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = outcome {
        if e.is_timeout() {
            metrics.api_header_timeouts.inc();
        }
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_unauthenticated_connection_makes_room_and_authenticated_ones_never_do() {
        let pool = Arc::new(Unauthenticated {
            cap: 2,
            inner: Mutex::default(),
            metrics: Arc::new(Metrics::new()),
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let evicted = |slot: &Arc<Slot>| {
            let evict = slot.evict.clone();
            rt.block_on(async {
                tokio::time::timeout(Duration::from_millis(20), evict.notified())
                    .await
                    .is_ok()
            })
        };
        let operator = pool.enter();
        operator.authenticated();
        let a = pool.enter();
        let b = pool.enter();
        assert!(!evicted(&a) && !evicted(&b), "within the cap");
        let c = pool.enter();
        assert!(evicted(&a), "the oldest goes");
        assert!(!evicted(&b) && !evicted(&c) && !evicted(&operator));
        drop(b);
        let d = pool.enter();
        assert!(!evicted(&c) && !evicted(&d), "a closed connection freed its place");
        assert!(
            pool.evict_oldest() && evicted(&c),
            "out of descriptors: the oldest goes"
        );
        assert_eq!(pool.metrics.api_connections_evicted.get(), 2);
        assert_eq!(pool.metrics.api_unauthenticated_connections.get(), 1);
        assert!(
            !evicted(&operator),
            "an authenticated connection is never closed to make room"
        );
    }
}
