//! The frame format of pack sockets (egress and capability): a 4-byte unsigned big-endian
//! length, then that many bytes of UTF-8 JSON (one object). One request frame and one
//! response frame per connection. A zero length reads as `{}`.
//!
//! # Security
//! The declared length is checked against the reader's limit *before* any payload is read,
//! so a hostile peer cannot make the reader allocate more than the limit.

use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("connection closed mid-frame")]
    Truncated,
    #[error("frame is not a JSON object")]
    NotAnObject,
    #[error("i/o error: {0}")]
    Io(std::io::Error),
}

/// Reads one frame of at most `max` payload bytes and parses it as a JSON object.
///
/// # Errors
/// [`FrameError`] for oversize, truncated or non-object frames and I/O errors.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R, max: usize) -> Result<Map<String, Value>, FrameError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await.map_err(eof_or_io)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    if len == 0 {
        return Ok(Map::new());
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await.map_err(eof_or_io)?;
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
}
