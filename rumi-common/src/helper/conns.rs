//! The one accept loop of a helper: every socket it serves (pack and principal sockets, the
//! control socket) accepts through [`accept`], and every pack connection holds a
//! [`ConnPermit`] of the helper's [`ConnBudget`] for as long as it is open.
//!
//! # Security
//! A connection is a file descriptor, and a helper has a fixed number of them. One container
//! opened ~20,000 connections to its own sockets and used them all: `accept` failed with
//! `EMFILE` for every socket, so another pack's egress timed out, the operator's `secrets set`
//! failed (the control socket could not accept either), and "accept failed" was logged every
//! 50 ms. Here:
//! - each pack holds at most `per_pack` connections and all packs together at most `total`,
//!   which [`fit_open_files`] keeps below the open-file limit with a reserve for the control
//!   channel and the helper's own files; a connection past a bound is accepted and closed at
//!   once (after a one-frame `busy` answer when the socket takes it without waiting), so it
//!   costs its descriptor only for that moment;
//! - a pack connection that makes no progress for `idle` while the helper waits for its request
//!   or for it to read the answer fails with `TimedOut` ([`Conn`]), freeing its permit;
//! - the control socket has its own [`CONTROL_CONNECTIONS`] outside the packs' budget;
//! - an `accept` that fails (out of descriptors after all, or the kernel out of memory) backs
//!   off from 5 ms to 1 s, and is logged once when it starts failing, then at most every 10 s
//!   with the count, and once when it recovers.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::time::Sleep;

/// Connections the control socket accepts at once (rumid keeps one or two).
pub const CONTROL_CONNECTIONS: usize = 32;
/// Descriptors kept out of the pack connections' reach: control connections, listening
/// sockets, the helper's own files (capd's database and secrets), the runtime's own.
pub const RESERVED_FDS: u64 = 256;
/// First back-off after a failed `accept`; doubles up to [`ACCEPT_BACKOFF_MAX`].
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// While `accept` keeps failing, one log line per this period.
const ACCEPT_LOG_PERIOD: Duration = Duration::from_secs(10);

/// The connection bounds of one helper, as fitted to its open-file limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    pub per_pack: usize,
    pub total: usize,
    pub idle: Duration,
}

// === impl ConnLimits ===

impl ConnLimits {
    /// The configured bounds (`RUMI_HELPER_CONNECTIONS_*`, `RUMI_HELPER_IDLE_TIMEOUT_SECS`).
    pub fn configured(l: &crate::limits::HelperLimits) -> Self {
        Self {
            per_pack: l.connections_per_pack,
            total: l.connections_total,
            idle: l.idle_timeout,
        }
    }
}

/// The budget of a helper's pack connections: `wanted` fitted to the open-file limit by
/// [`fit_open_files`] (a warning when that lowers it), logged once at start.
pub fn fitted_budget(wanted: ConnLimits, fds_per_conn: u64) -> Arc<ConnBudget> {
    let (limits, open_files) = fit_open_files(wanted, fds_per_conn);
    if limits != wanted {
        tracing::warn!(
            open_files,
            total = limits.total,
            per_pack = limits.per_pack,
            "the open-file limit is too low for the configured connection bounds; lowered them (raise LimitNOFILE= or ulimit -n)"
        );
    }
    tracing::info!(
        open_files,
        total = limits.total,
        per_pack = limits.per_pack,
        idle_secs = limits.idle.as_secs(),
        "pack connections bounded"
    );
    ConnBudget::new(limits)
}

/// Raises the soft open-file limit to the hard one where allowed, then lowers `total` (and
/// `per_pack`, to at most half of it) so that `total` connections of `fds_per_conn`
/// descriptors each fit next to [`RESERVED_FDS`]. Returns the limits and the open-file limit.
pub fn fit_open_files(wanted: ConnLimits, fds_per_conn: u64) -> (ConnLimits, u64) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let soft = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            // A seccomp filter (the systemd units' ~@resources) may refuse; keep the soft one.
            Err(_) => soft,
        },
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    };
    (fit(wanted, fds_per_conn, soft), soft)
}

fn fit(wanted: ConnLimits, fds_per_conn: u64, open_files: u64) -> ConnLimits {
    let room = open_files.saturating_sub(RESERVED_FDS) / fds_per_conn.max(1);
    let total = wanted.total.min(usize::try_from(room).unwrap_or(usize::MAX)).max(2);
    ConnLimits {
        total,
        per_pack: wanted.per_pack.min(total / 2).max(1),
        idle: wanted.idle,
    }
}

/// Which bound refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The pack holds its share.
    Pack,
    /// All packs together hold the helper's connections.
    Helper,
}

// === impl Refusal ===

impl Refusal {
    /// The word audit lines use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pack => "pack",
            Self::Helper => "helper",
        }
    }
}

/// The open connections of a helper, bounded per pack and in all.
#[derive(Debug)]
pub struct ConnBudget {
    limits: ConnLimits,
    open: AtomicUsize,
    refused: AtomicU64,
    packs: Mutex<HashMap<String, usize>>,
}

// === impl ConnBudget ===

impl ConnBudget {
    pub fn new(limits: ConnLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            open: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
            packs: Mutex::default(),
        })
    }

    pub fn limits(&self) -> ConnLimits {
        self.limits
    }

    /// A permit for one more connection of `pack`.
    ///
    /// # Errors
    /// The bound that has no room (counted in [`ConnBudget::refused`]).
    pub fn try_acquire(self: &Arc<Self>, pack: &str) -> Result<ConnPermit, Refusal> {
        let mut packs = self.packs.lock().unwrap_or_else(|p| p.into_inner());
        let mine = packs.get(pack).copied().unwrap_or(0);
        let refusal = if mine >= self.limits.per_pack {
            Some(Refusal::Pack)
        } else if self.open.load(Ordering::Acquire) >= self.limits.total {
            Some(Refusal::Helper)
        } else {
            None
        };
        if let Some(r) = refusal {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(r);
        }
        packs.insert(pack.to_owned(), mine + 1);
        self.open.fetch_add(1, Ordering::AcqRel);
        Ok(ConnPermit {
            budget: self.clone(),
            pack: Some(pack.to_owned()),
        })
    }

    /// Open connections, all packs together.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Open connections of one pack.
    pub fn open_of(&self, pack: &str) -> usize {
        let packs = self.packs.lock().unwrap_or_else(|p| p.into_inner());
        packs.get(pack).copied().unwrap_or(0)
    }

    /// Connections refused since the start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn release(&self, pack: &str) {
        let mut packs = self.packs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = packs.get_mut(pack) {
            *n -= 1;
            if *n == 0 {
                packs.remove(pack);
            }
        }
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One open connection's share of a [`ConnBudget`]; given back on drop.
#[derive(Debug)]
pub struct ConnPermit {
    budget: Arc<ConnBudget>,
    pack: Option<String>,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        if let Some(pack) = self.pack.take() {
            self.budget.release(&pack);
        }
    }
}

/// A pack connection: the stream, its permit, and its idle timer.
///
/// A read or write that stays pending for the idle timeout fails with
/// [`io::ErrorKind::TimedOut`]. The timer runs only while an operation is pending, so the
/// time the helper spends answering never counts against the pack.
pub struct Conn {
    io: UnixStream,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    armed: bool,
    _permit: ConnPermit,
}

// === impl Conn ===

impl Conn {
    pub fn new(io: UnixStream, permit: ConnPermit, idle: Duration) -> Self {
        Self {
            io,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            armed: false,
            _permit: permit,
        }
    }

    fn watch<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if r.is_ready() {
            self.armed = false;
            return r;
        }
        if !self.armed {
            self.timer.as_mut().reset(tokio::time::Instant::now() + self.idle);
            self.armed = true;
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle past the helper's idle timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        this.watch(cx, r)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        this.watch(cx, r)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_flush(cx);
        this.watch(cx, r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The failures of one listener's `accept`, for back-off and quiet logging.
#[derive(Debug)]
pub struct AcceptErrors {
    /// What the listener serves, for log lines (a pack id, `control`).
    what: String,
    failing_since: Option<Instant>,
    failures: u64,
    logged_failures: u64,
    last_log: Option<Instant>,
    delay: Duration,
}

// === impl AcceptErrors ===

impl AcceptErrors {
    pub fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            failing_since: None,
            failures: 0,
            logged_failures: 0,
            last_log: None,
            delay: ACCEPT_BACKOFF_MIN,
        }
    }

    /// Records a failure; returns how long to wait before the next `accept`.
    fn failed(&mut self, e: &io::Error) -> Duration {
        let now = Instant::now();
        self.failures += 1;
        if self.failing_since.is_none() {
            self.failing_since = Some(now);
            self.last_log = Some(now);
            self.logged_failures = self.failures;
            tracing::warn!(socket = %self.what, error = %e, "accept failing; backing off (logged again at most every 10 s)");
        } else if self
            .last_log
            .is_some_and(|t| now.duration_since(t) >= ACCEPT_LOG_PERIOD)
        {
            let since = self.failures - self.logged_failures;
            self.last_log = Some(now);
            self.logged_failures = self.failures;
            tracing::warn!(socket = %self.what, error = %e, failures = since, "accept still failing");
        }
        let delay = self.delay;
        self.delay = (self.delay * 2).min(ACCEPT_BACKOFF_MAX);
        delay
    }

    fn recovered(&mut self) {
        if let Some(since) = self.failing_since.take() {
            tracing::info!(
                socket = %self.what,
                failures = self.failures,
                after_ms = since.elapsed().as_millis() as u64,
                "accept recovered"
            );
            self.failures = 0;
            self.delay = ACCEPT_BACKOFF_MIN;
        }
    }

    /// Failures of the current episode (0 while accepting works).
    pub fn failures(&self) -> u64 {
        self.failures
    }
}

/// The next connection of `listener`, backing off while `accept` fails.
pub async fn accept(listener: &UnixListener, errors: &mut AcceptErrors) -> UnixStream {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                errors.recovered();
                return stream;
            }
            Err(e) => tokio::time::sleep(errors.failed(&e)).await,
        }
    }
}

/// Answers a refused connection with one `busy` frame if the socket takes it without
/// waiting, then closes it.
pub fn refuse(stream: UnixStream, why: Refusal) {
    let body = serde_json::json!({
        "success": false,
        "output": null,
        "error": match why {
            Refusal::Pack => "Too many open connections for this pack; close some and retry",
            Refusal::Helper => "Too many open connections; retry later",
        },
        "error_type": "busy",
        "latency_ms": 0,
    });
    let _ = stream.try_write(&crate::framing::encode(&body));
    drop(stream);
}

/// A control connection: the stream and its place among [`CONTROL_CONNECTIONS`].
pub struct ControlConn {
    io: UnixStream,
    _permit: ConnPermit,
}

impl AsyncRead for ControlConn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for ControlConn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for ControlConn {
    type ConnectInfo = tonic::transport::server::UdsConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::Connected::connect_info(&self.io)
    }
}

/// The control socket's connections for tonic's `serve_with_incoming_shutdown`: accepted
/// through [`accept`], at most [`CONTROL_CONNECTIONS`] at once (more are closed at once).
pub fn control_incoming(
    listener: UnixListener,
) -> tokio_stream::wrappers::ReceiverStream<Result<ControlConn, io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let budget = ConnBudget::new(ConnLimits {
        per_pack: CONTROL_CONNECTIONS,
        total: CONTROL_CONNECTIONS,
        idle: Duration::MAX,
    });
    tokio::spawn(async move {
        let mut errors = AcceptErrors::new("control");
        loop {
            let stream = tokio::select! {
                s = accept(&listener, &mut errors) => s,
                () = tx.closed() => break,
            };
            match budget.try_acquire("control") {
                Ok(permit) => {
                    let conn = ControlConn {
                        io: stream,
                        _permit: permit,
                    };
                    if tx.send(Ok(conn)).await.is_err() {
                        break;
                    }
                }
                Err(_) => {
                    tracing::debug!("control connection refused: {CONTROL_CONNECTIONS} open");
                    drop(stream);
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn limits(per_pack: usize, total: usize) -> ConnLimits {
        ConnLimits {
            per_pack,
            total,
            idle: Duration::from_secs(10),
        }
    }

    #[test]
    fn limits_fit_the_open_file_limit_and_a_pack_never_gets_half() {
        let wanted = limits(64, 1024);
        assert_eq!(fit(wanted, 3, 1_048_576), wanted, "room enough: as configured");
        // 1024 descriptors: 768 left after the reserve, 256 connections of 3.
        assert_eq!(fit(wanted, 3, 1024), limits(64, 256));
        // Very little room: the pack's share shrinks with the total.
        assert_eq!(fit(wanted, 4, 512), limits(32, 64));
        assert_eq!(fit(wanted, 4, 100), limits(1, 2), "never zero");
    }

    #[test]
    fn a_pack_holds_its_share_and_all_packs_the_total() {
        let budget = ConnBudget::new(limits(2, 3));
        let a1 = budget.try_acquire("a").unwrap();
        let _a2 = budget.try_acquire("a").unwrap();
        assert_eq!(budget.try_acquire("a").unwrap_err(), Refusal::Pack);
        let _b1 = budget.try_acquire("b").unwrap();
        assert_eq!(budget.try_acquire("c").unwrap_err(), Refusal::Helper);
        assert_eq!((budget.open(), budget.open_of("a"), budget.refused()), (3, 2, 2));
        drop(a1);
        assert_eq!(budget.open_of("a"), 1);
        let _c1 = budget.try_acquire("c").expect("a closed connection frees its place");
        assert_eq!(budget.open(), 3);
    }

    #[tokio::test]
    async fn a_silent_connection_times_out_but_a_slow_answer_does_not() {
        let idle = Duration::from_millis(200);
        let budget = ConnBudget::new(limits(4, 8));
        let (server, _client) = UnixStream::pair().unwrap();
        let mut conn = Conn::new(server, budget.try_acquire("p").unwrap(), idle);
        let mut buf = [0u8; 4];
        let e = conn.read_exact(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        drop(conn);
        assert_eq!(budget.open(), 0, "the permit goes with the connection");

        let (server, mut client) = UnixStream::pair().unwrap();
        let mut conn = Conn::new(server, budget.try_acquire("p").unwrap(), idle);
        client.write_all(b"ping").await.unwrap();
        conn.read_exact(&mut buf).await.unwrap();
        // The helper takes longer than the idle timeout to answer: nothing is pending in
        // between, so nothing times out.
        tokio::time::sleep(idle * 3).await;
        conn.write_all(b"pong").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
    }

    #[test]
    fn accept_failures_back_off_and_are_counted() {
        let mut e = AcceptErrors::new("p");
        let err = io::Error::from_raw_os_error(24);
        let delays: Vec<Duration> = (0..10).map(|_| e.failed(&err)).collect();
        assert_eq!(delays[0], ACCEPT_BACKOFF_MIN);
        assert!(delays.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(*delays.last().unwrap(), ACCEPT_BACKOFF_MAX);
        assert_eq!(e.failures(), 10);
        e.recovered();
        assert_eq!(e.failures(), 0);
        assert_eq!(e.failed(&err), ACCEPT_BACKOFF_MIN, "a new episode starts over");
    }
}
