//! The frame format of pack sockets (egress and capability): a 4-byte unsigned big-endian
//! length, then that many bytes of UTF-8 JSON (one object). One request frame and one
//! response frame per connection. A zero length reads as `{}`.
//!
//! # Security
//! A hostile peer controls the length header. Two attacks follow from trusting it:
//! - *Oversize*: the declared length is checked against the reader's limit before any
//!   payload is read.
//! - *Half-sent frames*: a peer declares 4 MiB and then sends nothing, on many connections
//!   at once. Allocating the buffer when the header arrives made 100 such connections cost
//!   400 MiB. The reader here takes no memory until payload bytes arrive, then grows its
//!   buffer only as they do (doubling from [`CHUNK`], never past the declared length), and
//!   charges every byte of capacity to a
//!   [`Lease`] on one or more [`ByteBudget`]s (a helper holds one per pack and one for
//!   itself). When a budget is spent the frame is refused ([`FrameError::OverBudget`]);
//!   nothing is allocated past it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// First buffer size of a frame's payload; the buffer doubles from here as bytes arrive.
pub const CHUNK: usize = 64 * 1024;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("frame buffers are full ({limit} bytes in use)")]
    OverBudget { limit: usize },
    #[error("connection closed mid-frame")]
    Truncated,
    #[error("frame is not a JSON object")]
    NotAnObject,
    #[error("i/o error: {0}")]
    Io(std::io::Error),
}

/// A bound on the bytes that frame readers sharing it may hold at once.
#[derive(Debug)]
pub struct ByteBudget {
    limit: usize,
    used: AtomicUsize,
}

// === impl ByteBudget ===

impl ByteBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// Bytes held right now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The bound.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Takes `n` bytes if they fit.
    fn try_take(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    fn give_back(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }
}

/// Bytes held against a set of budgets on behalf of one connection; given back on drop.
///
/// A listener keeps the lease until its response is written, so the bytes of a request
/// count for as long as the request (and the JSON parsed from it) lives.
#[derive(Debug, Default)]
pub struct Lease {
    budgets: Vec<Arc<ByteBudget>>,
    held: usize,
}

// === impl Lease ===

impl Lease {
    /// A lease bounded by nothing (a reader that trusts its peer, such as rumid reading a
    /// helper's answer).
    pub fn unbounded() -> Self {
        Self::default()
    }

    /// A lease charged to every budget in `budgets` (all must have room).
    pub fn on(budgets: Vec<Arc<ByteBudget>>) -> Self {
        Self { budgets, held: 0 }
    }

    /// Bytes held by this lease.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Takes `n` more bytes from every budget, or from none.
    ///
    /// # Errors
    /// [`FrameError::OverBudget`] naming the limit of the first budget without room.
    pub fn grow(&mut self, n: usize) -> Result<(), FrameError> {
        for (i, b) in self.budgets.iter().enumerate() {
            if !b.try_take(n) {
                for taken in &self.budgets[..i] {
                    taken.give_back(n);
                }
                return Err(FrameError::OverBudget { limit: b.limit });
            }
        }
        self.held += n;
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        for b in &self.budgets {
            b.give_back(self.held);
        }
    }
}

/// Reads one frame of at most `max` payload bytes and parses it as a JSON object, trusting
/// the peer with memory up to `max` (see [`read_frame_within`] for hostile peers).
///
/// # Errors
/// [`FrameError`] for oversize, truncated or non-object frames and I/O errors.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> Result<Map<String, Value>, FrameError> {
    read_frame_within(r, max, &mut Lease::unbounded()).await
}

/// Reads one frame of at most `max` payload bytes, growing its buffer only as bytes arrive
/// and charging its capacity to `lease`, and parses it as a JSON object.
///
/// # Errors
/// [`FrameError`] for oversize, over-budget, truncated or non-object frames and I/O errors.
pub async fn read_frame_within<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
    lease: &mut Lease,
) -> Result<Map<String, Value>, FrameError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await.map_err(eof_or_io)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    if len == 0 {
        return Ok(Map::new());
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut scratch = [0u8; 4096];
    while buf.len() < len {
        if buf.len() == buf.capacity() {
            // Wait for bytes before taking memory: a connection that declares a length and
            // then goes quiet holds nothing.
            let want = (len - buf.len()).min(scratch.len());
            let n = r.read(&mut scratch[..want]).await.map_err(FrameError::Io)?;
            if n == 0 {
                return Err(FrameError::Truncated);
            }
            let target = (buf.capacity() * 2).clamp(CHUNK.min(len), len);
            lease.grow(target - buf.capacity())?;
            buf.reserve_exact(target - buf.len());
            buf.extend_from_slice(&scratch[..n]);
            continue;
        }
        let room = (buf.capacity() - buf.len()).min(len - buf.len()) as u64;
        let n = (&mut *r).take(room).read_buf(&mut buf).await.map_err(FrameError::Io)?;
        if n == 0 {
            return Err(FrameError::Truncated);
        }
    }
    match serde_json::from_slice(&buf) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(FrameError::NotAnObject),
    }
}

fn eof_or_io(e: std::io::Error) -> FrameError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        FrameError::Truncated
    } else {
        FrameError::Io(e)
    }
}

/// Encodes a value as one frame (length prefix and payload in one buffer).
pub fn encode(value: &Value) -> Vec<u8> {
    let payload = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Writes one frame.
///
/// # Errors
/// I/O errors.
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, value: &Value) -> std::io::Result<()> {
    w.write_all(&encode(value)).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn frames_round_trip_and_limits_hold() {
        block_on(async {
            let v = json!({"method": "GET", "url": "https://例え.jp/"});
            let bytes = encode(&v);
            assert_eq!(&bytes[..4], &((bytes.len() - 4) as u32).to_be_bytes());
            let got = read_frame(&mut &bytes[..], 1024).await.unwrap();
            assert_eq!(Value::Object(got), v);
            // Empty frame is {}.
            assert!(read_frame(&mut &[0u8, 0, 0, 0][..], 10).await.unwrap().is_empty());
            // Oversize is refused before the payload is read.
            let big = 2_000_000u32.to_be_bytes();
            assert!(matches!(
                read_frame(&mut &big[..], 1024).await,
                Err(FrameError::TooLarge { .. })
            ));
            // EOF in the prefix and in the payload.
            assert!(matches!(
                read_frame(&mut &[0u8, 0][..], 10).await,
                Err(FrameError::Truncated)
            ));
            assert!(matches!(
                read_frame(&mut &[0u8, 0, 0, 9, b'{'][..], 10).await,
                Err(FrameError::Truncated)
            ));
            // Not an object.
            let arr = encode(&json!([1, 2]));
            assert!(matches!(
                read_frame(&mut &arr[..], 10).await,
                Err(FrameError::NotAnObject)
            ));
        });
    }

    #[test]
    fn a_half_sent_frame_holds_only_the_bytes_that_arrived() {
        block_on(async {
            let pack = ByteBudget::new(8 * 1024 * 1024);
            let (mut client, mut server) = tokio::io::duplex(1024 * 1024);
            let read = tokio::spawn({
                let pack = pack.clone();
                async move {
                    let mut lease = Lease::on(vec![pack]);
                    let r = read_frame_within(&mut server, 4 * 1024 * 1024, &mut lease).await;
                    (r.map(|m| m.len()), lease.held())
                }
            });
            // Declare 4 MiB and wait: the reader holds nothing.
            client.write_all(&(4u32 * 1024 * 1024).to_be_bytes()).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            assert_eq!(pack.used(), 0, "nothing is reserved before a byte of payload arrives");
            // Send 10 bytes: the reader holds one chunk, not 4 MiB.
            client.write_all(b"{\"a\": \"xxx").await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            assert_eq!(pack.used(), CHUNK, "one chunk reserved for the first bytes");
            drop(client);
            let (result, held) = read.await.unwrap();
            assert!(matches!(result, Err(FrameError::Truncated)), "{result:?}");
            assert_eq!(held, CHUNK);
            assert_eq!(pack.used(), 0, "the lease gave its bytes back");
        });
    }

    #[test]
    fn a_spent_budget_refuses_the_frame_and_gives_everything_back() {
        block_on(async {
            let pack = ByteBudget::new(256 * 1024);
            let helper = ByteBudget::new(1024 * 1024);
            let payload = format!("{{\"a\": \"{}\"}}", "x".repeat(300 * 1024));
            let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(payload.as_bytes());
            let mut lease = Lease::on(vec![pack.clone(), helper.clone()]);
            let r = read_frame_within(&mut &frame[..], 1024 * 1024, &mut lease).await;
            assert!(matches!(r, Err(FrameError::OverBudget { limit: 262_144 })), "{r:?}");
            assert!(lease.held() <= 256 * 1024);
            assert_eq!(helper.used(), pack.used(), "both budgets carry the same bytes");
            drop(lease);
            assert_eq!((pack.used(), helper.used()), (0, 0));
            // The same frame fits a larger budget, and the lease then holds exactly its length.
            let mut lease = Lease::on(vec![ByteBudget::new(1024 * 1024)]);
            let m = read_frame_within(&mut &frame[..], 1024 * 1024, &mut lease)
                .await
                .unwrap();
            assert_eq!(m["a"].as_str().map(str::len), Some(300 * 1024));
            assert_eq!(lease.held(), payload.len());
        });
    }
}
