//! Forwarding one pack request, with every check in order.
//!
//! Order per hop: URL → network grant → (first hop) rate limit → resolve → every address
//! checked against [`AddrPolicy`] → connect to a checked address → request → redirect
//! (GET/HEAD, at most [`MAX_REDIRECTS`], each hop re-checked) or response (bounded).
//!
//! # Security
//! - DNS rebinding: the name is resolved once; the connection goes to an address that
//!   passed the check; no library resolves it again.
//! - Domain fronting: `Host` always comes from the URL, whatever the pack sends.
//! - The audit line carries the URL without its query string and never a body.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use base64::Engine as _;
use bytes::Bytes;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http_body_util::{BodyExt, Full};
use hyper::header::{HOST, HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use url::Url;

use crate::control::State;
use crate::policy::{Denial, Policy};
use crate::ssrf::{AddrPolicy, INTERNAL_IP_BLOCKED};
use rumi_common::helper::Event;

pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"];
pub const MAX_REDIRECTS: u32 = 3;
pub const MAX_HEADERS: usize = 100;
pub const MAX_HEADER_NAME: usize = 256;
pub const MAX_HEADER_VALUE: usize = 8192;
pub const MAX_TIMEOUT_SECS: f64 = 120.0;
pub const DEFAULT_TIMEOUT_SECS: f64 = 30.0;
/// DNS answers must arrive within this.
const DNS_TIMEOUT: Duration = Duration::from_secs(5);
/// Headers a pack may not set: hop-by-hop headers, and `Host` (always from the URL).
const DROPPED_HEADERS: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];
const BLOCKED_MESSAGE: &str = "Request blocked by security policy";

/// Why a request failed; each maps to the documented `error_type`.
#[derive(Debug)]
enum Fail {
    Validation(String),
    NotApproved,
    Grant(Denial),
    Blocked(&'static str),
    RateLimited,
    PoolExhausted,
    TooLarge(u64),
    TooManyRedirects,
    Timeout,
    Tls(String),
    Refused,
    Connection(String),
}

impl Fail {
    fn error_type(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_error",
            Self::NotApproved => "approval_denied",
            Self::Grant(_) => "grant_denied",
            Self::Blocked(_) => "blocked",
            Self::RateLimited => "rate_limited",
            Self::PoolExhausted => "pool_exhausted",
            Self::TooLarge(_) => "response_too_large",
            Self::TooManyRedirects => "too_many_redirects",
            Self::Timeout => "timeout",
            Self::Tls(_) => "ssl_error",
            Self::Refused => "connection_refused",
            Self::Connection(_) => "connection_error",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Validation(m) => format!("Invalid request: {m}"),
            Self::NotApproved => "Pack is not approved".into(),
            Self::Grant(d) => format!("Network access denied: {}", d.reason()),
            Self::Blocked(_) => BLOCKED_MESSAGE.into(),
            Self::RateLimited => "Rate limit exceeded".into(),
            Self::PoolExhausted => "Too many concurrent requests".into(),
            Self::TooLarge(max) => format!("Response larger than {max} bytes"),
            Self::TooManyRedirects => format!("More than {MAX_REDIRECTS} redirects"),
            Self::Timeout => "Request timed out".into(),
            Self::Tls(m) => format!("TLS error: {m}"),
            Self::Refused => "Connection refused".into(),
            Self::Connection(m) => format!("Connection failed: {m}"),
        }
    }

    fn blocked_reason(&self) -> Option<&'static str> {
        match self {
            Self::Blocked(r) => Some(r),
            Self::Grant(_) => Some("grant_denied"),
            Self::RateLimited => Some("rate_limited"),
            _ => None,
        }
    }
}

/// The answer to a protocol error (bad frame).
pub fn protocol_error() -> Value {
    json!({"success": false, "error": "Invalid request", "error_type": "protocol_error", "latency_ms": 0})
}

/// The answer to a frame refused because the pack's or the helper's frame buffers are full.
pub fn busy() -> Value {
    json!({"success": false, "error": "Too many bytes in flight; retry later", "error_type": "busy", "latency_ms": 0})
}

/// What the audit line records about a request.
#[derive(Default)]
struct Trace {
    method: String,
    url: String,
    final_url: String,
    domain: String,
    port: u16,
    hops: u32,
    bytes_read: u64,
    status: Option<u16>,
}

struct Outcome {
    status: u16,
    headers: Map<String, Value>,
    body: Value,
}

/// The upstream side: address policy, TLS configuration and the rate limiter.
pub struct Proxy {
    addrs: AddrPolicy,
    tls: tokio_rustls::TlsConnector,
    limiter: ArcSwap<(u32, DefaultKeyedRateLimiter<String>)>,
}

fn limiter(per_minute: u32) -> DefaultKeyedRateLimiter<String> {
    RateLimiter::keyed(Quota::per_minute(
        NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN),
    ))
}

impl Proxy {
    pub fn new(addrs: AddrPolicy) -> Self {
        let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            addrs,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            limiter: ArcSwap::from_pointee((60, limiter(60))),
        }
    }

    /// Applies a new per-pack rate (a change resets the buckets).
    pub fn set_rate(&self, per_minute: u32) {
        if self.limiter.load().0 != per_minute {
            self.limiter.store(Arc::new((per_minute, limiter(per_minute))));
        }
    }

    /// Handles one request from `pack`; always returns the response object.
    pub async fn handle(&self, state: &State, pack: &str, req: Map<String, Value>) -> Value {
        let started = Instant::now();
        let mut trace = Trace::default();
        let result = match state.slots(pack).try_acquire_owned() {
            Ok(_permit) => self.run(state, pack, req, &mut trace).await,
            Err(_) => Err(Fail::PoolExhausted),
        };
        let latency_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        let mut details = Map::new();
        details.insert("check_type".into(), json!("proxy_request"));
        details.insert("domain".into(), json!(trace.domain));
        details.insert("port".into(), json!(trace.port));
        details.insert("allowed".into(), json!(result.is_ok()));
        details.insert("method".into(), json!(trace.method));
        details.insert("url".into(), json!(trace.url));
        details.insert("final_url".into(), json!(trace.final_url));
        details.insert("latency_ms".into(), json!(latency_ms));
        details.insert("redirect_hops".into(), json!(trace.hops));
        details.insert("bytes_read".into(), json!(trace.bytes_read));
        if let Some(s) = trace.status {
            details.insert("status_code".into(), json!(s));
        }
        match result {
            Ok(out) => {
                state.audit.emit(Event {
                    category: "network",
                    severity: "info",
                    action: "network_request",
                    success: true,
                    owner_pack: pack,
                    details,
                    error: None,
                    error_type: None,
                    rejection_reason: None,
                });
                json!({
                    "success": true,
                    "status_code": out.status,
                    "headers": out.headers,
                    "body": out.body,
                    "error": null,
                    "error_type": null,
                    "latency_ms": latency_ms,
                    "redirect_hops": trace.hops,
                    "bytes_read": trace.bytes_read,
                    "final_url": trace.final_url,
                })
            }
            Err(fail) => {
                if let Some(r) = fail.blocked_reason() {
                    details.insert("blocked_reason".into(), json!(r));
                }
                details.insert("error_type".into(), json!(fail.error_type()));
                let denied = fail.blocked_reason().is_some() || matches!(fail, Fail::NotApproved);
                state.audit.emit(Event {
                    category: "network",
                    severity: if denied { "warning" } else { "info" },
                    action: "network_request",
                    success: false,
                    owner_pack: pack,
                    details,
                    error: Some(fail.message()),
                    error_type: Some(fail.error_type()),
                    rejection_reason: denied.then(|| fail.message()),
                });
                json!({
                    "success": false,
                    "status_code": trace.status,
                    "error": fail.message(),
                    "error_type": fail.error_type(),
                    "latency_ms": latency_ms,
                    "redirect_hops": trace.hops,
                    "bytes_read": trace.bytes_read,
                    "final_url": trace.final_url,
                })
            }
        }
    }

    async fn run(
        &self,
        state: &State,
        pack: &str,
        req: Map<String, Value>,
        trace: &mut Trace,
    ) -> Result<Outcome, Fail> {
        let mut parsed = validate(&req)?;
        trace.method.clone_from(&parsed.method);
        let policy: Arc<Policy> = state.policy.load_full().ok_or(Fail::NotApproved)?;
        let mut url = parsed.url.clone();
        trace.url = redacted(&url);
        let budget = Duration::from_secs_f64(parsed.timeout);
        let deadline = Instant::now() + budget;
        loop {
            trace.final_url = redacted(&url);
            let host = url.host_str().unwrap_or_default().to_owned();
            let port = url.port_or_known_default().unwrap_or(0);
            trace.domain = rumi_common::domain::normalize(&host);
            trace.port = port;
            policy.check(pack, &host, port).map_err(|d| match d {
                Denial::NotApproved => Fail::NotApproved,
                other => Fail::Grant(other),
            })?;
            if trace.hops == 0 && self.limiter.load().1.check_key(&pack.to_owned()).is_err() {
                return Err(Fail::RateLimited);
            }
            let addr = self.resolve(&url, port).await?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let response = tokio::time::timeout(
                remaining,
                self.exchange(&url, addr, &parsed, policy.max_response_bytes, trace),
            )
            .await
            .map_err(|_| Fail::Timeout)??;
            match response {
                Exchange::Redirect(location) => {
                    if trace.hops >= MAX_REDIRECTS {
                        return Err(Fail::TooManyRedirects);
                    }
                    trace.hops += 1;
                    let next = url
                        .join(&location)
                        .map_err(|_| Fail::Validation("redirect Location is not a URL".into()))?;
                    if !matches!(next.scheme(), "http" | "https") || next.host_str().is_none() {
                        return Err(Fail::Blocked(INTERNAL_IP_BLOCKED));
                    }
                    if !next.username().is_empty() || next.password().is_some() {
                        return Err(Fail::Validation("redirect Location carries credentials".into()));
                    }
                    // Credentials meant for one host never follow a redirect to another.
                    if next.host_str() != url.host_str() || next.port_or_known_default() != url.port_or_known_default()
                    {
                        parsed
                            .headers
                            .retain(|(n, _)| !matches!(n.as_str(), "authorization" | "cookie" | "proxy-authorization"));
                    }
                    url = next;
                }
                Exchange::Done(out) => return Ok(out),
            }
        }
    }

    /// Resolves once and checks every answer; returns the address to connect to.
    async fn resolve(&self, url: &Url, port: u16) -> Result<SocketAddr, Fail> {
        let addrs: Vec<SocketAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(ip.into(), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(ip.into(), port)],
            Some(url::Host::Domain(name)) => {
                let lookup = tokio::time::timeout(DNS_TIMEOUT, tokio::net::lookup_host((name, port))).await;
                match lookup {
                    Ok(Ok(it)) => {
                        let mut v: Vec<SocketAddr> = it.collect();
                        v.dedup();
                        if v.is_empty() {
                            return Err(Fail::Blocked("dns_blocked"));
                        }
                        if v.iter().any(|a| !self.addrs.allows(a.ip())) {
                            return Err(Fail::Blocked("dns_rebinding_blocked"));
                        }
                        return Ok(v[0]);
                    }
                    _ => return Err(Fail::Blocked("dns_blocked")),
                }
            }
            None => return Err(Fail::Validation("URL has no host".into())),
        };
        let addr = addrs[0];
        if !self.addrs.allows(addr.ip()) {
            return Err(Fail::Blocked(INTERNAL_IP_BLOCKED));
        }
        Ok(addr)
    }

    async fn exchange(
        &self,
        url: &Url,
        addr: SocketAddr,
        req: &Parsed,
        max: u64,
        trace: &mut Trace,
    ) -> Result<Exchange, Fail> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => Fail::Refused,
            _ => Fail::Connection(e.to_string()),
        })?;
        let _ = tcp.set_nodelay(true);
        let request = build_request(url, req)?;
        let response = if url.scheme() == "https" {
            let host = url
                .host_str()
                .unwrap_or_default()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let name = rustls::pki_types::ServerName::try_from(host).map_err(|e| Fail::Tls(e.to_string()))?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| Fail::Tls(e.to_string()))?;
            send(tls, request).await?
        } else {
            send(tcp, request).await?
        };
        let status = response.status().as_u16();
        trace.status = Some(status);
        let is_redirect = matches!(status, 301 | 302 | 303 | 307 | 308);
        if is_redirect
            && (req.method == "GET" || req.method == "HEAD")
            && let Some(loc) = response
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|v| v.to_str().ok())
        {
            return Ok(Exchange::Redirect(loc.to_owned()));
        }
        let mut headers = Map::new();
        for (k, v) in response.headers() {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            match headers.get_mut(k.as_str()) {
                Some(Value::String(existing)) => {
                    existing.push_str(", ");
                    existing.push_str(&v);
                }
                _ => {
                    headers.insert(k.as_str().to_owned(), Value::String(v));
                }
            }
        }
        if let Some(len) = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            && len > max
        {
            return Err(Fail::TooLarge(max));
        }
        let mut body = response.into_body();
        let mut buf: Vec<u8> = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Fail::Connection(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                if buf.len() as u64 + data.len() as u64 > max {
                    trace.bytes_read = buf.len() as u64 + data.len() as u64;
                    return Err(Fail::TooLarge(max));
                }
                buf.extend_from_slice(&data);
            }
        }
        trace.bytes_read = buf.len() as u64;
        let body = match String::from_utf8(buf) {
            Ok(text) => Value::String(text),
            Err(e) => {
                headers.insert("X-Proxy-Body-Encoding".into(), json!("base64"));
                Value::String(base64::engine::general_purpose::STANDARD.encode(e.into_bytes()))
            }
        };
        Ok(Exchange::Done(Outcome { status, headers, body }))
    }
}

enum Exchange {
    Redirect(String),
    Done(Outcome),
}

async fn send<S>(io: S, request: hyper::Request<Full<Bytes>>) -> Result<hyper::Response<hyper::body::Incoming>, Fail>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| Fail::Connection(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| Fail::Connection(e.to_string()))
}

fn build_request(url: &Url, req: &Parsed) -> Result<hyper::Request<Full<Bytes>>, Fail> {
    let host = url.host_str().unwrap_or_default();
    let host_header = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let mut builder = hyper::Request::builder().method(req.method.as_str()).uri(path);
    let headers = builder
        .headers_mut()
        .ok_or_else(|| Fail::Validation("bad request line".into()))?;
    headers.insert(
        HOST,
        HeaderValue::from_str(&host_header).map_err(|_| Fail::Validation("bad host".into()))?,
    );
    for (name, value) in &req.headers {
        headers.append(name.clone(), value.clone());
    }
    builder
        .body(Full::new(Bytes::from(req.body.clone())))
        .map_err(|e| Fail::Validation(e.to_string()))
}

/// A validated request.
struct Parsed {
    method: String,
    url: Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Vec<u8>,
    timeout: f64,
}

fn validate(req: &Map<String, Value>) -> Result<Parsed, Fail> {
    let v = |m: &str| Fail::Validation(m.to_owned());
    let method = req
        .get("method")
        .and_then(Value::as_str)
        .ok_or_else(|| v("method is required"))?
        .to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(v("method not allowed"));
    }
    let raw_url = req
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| v("url is required"))?;
    let url = Url::parse(raw_url).map_err(|_| v("url is not valid"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(v("only http and https URLs are allowed"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(v("url has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(v(
            "credentials in the URL are not allowed; send an Authorization header",
        ));
    }
    let mut headers = Vec::new();
    match req.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            if map.len() > MAX_HEADERS {
                return Err(v("too many headers"));
            }
            for (name, value) in map {
                let Value::String(value) = value else {
                    return Err(v("header values must be strings"));
                };
                if name.len() > MAX_HEADER_NAME || value.len() > MAX_HEADER_VALUE {
                    return Err(v("header too long"));
                }
                let lower = name.to_ascii_lowercase();
                if DROPPED_HEADERS.contains(&lower.as_str()) {
                    continue;
                }
                let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| v("invalid header name"))?;
                let val = HeaderValue::from_str(value).map_err(|_| v("invalid header value"))?;
                headers.push((n, val));
            }
        }
        Some(_) => return Err(v("headers must be an object")),
    }
    let body = match req.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(_) => return Err(v("body must be a string or null")),
    };
    let timeout = match req.get("timeout_seconds") {
        None | Some(Value::Null) => DEFAULT_TIMEOUT_SECS,
        Some(Value::Number(n)) => {
            let t = n.as_f64().unwrap_or(0.0);
            if !(t > 0.0 && t <= MAX_TIMEOUT_SECS) {
                return Err(v("timeout_seconds must be greater than 0 and at most 120"));
            }
            t
        }
        Some(_) => return Err(v("timeout_seconds must be a number")),
    };
    Ok(Parsed {
        method,
        url,
        headers,
        body,
        timeout,
    })
}

/// `scheme://host[:port]/path` without query or fragment (queries often carry keys).
fn redacted(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn requests_are_validated_before_anything_else() {
        let bad = [
            json!({"url": "http://a.com/"}),
            json!({"method": "CONNECT", "url": "http://a.com/"}),
            json!({"method": "GET"}),
            json!({"method": "GET", "url": "ftp://a.com/"}),
            json!({"method": "GET", "url": "file:///etc/passwd"}),
            json!({"method": "GET", "url": "http://user:pw@a.com/"}),
            json!({"method": "GET", "url": "http://"}),
            json!({"method": "GET", "url": "http://a.com/", "headers": []}),
            json!({"method": "GET", "url": "http://a.com/", "headers": {"x": 1}}),
            json!({"method": "GET", "url": "http://a.com/", "headers": {"x": "a".repeat(8193)}}),
            json!({"method": "GET", "url": "http://a.com/", "headers": {"x\ny": "1"}}),
            json!({"method": "GET", "url": "http://a.com/", "timeout_seconds": 0}),
            json!({"method": "GET", "url": "http://a.com/", "timeout_seconds": 121}),
            json!({"method": "GET", "url": "http://a.com/", "timeout_seconds": "5"}),
            json!({"method": "POST", "url": "http://a.com/", "body": {"a": 1}}),
        ];
        for b in bad {
            assert!(matches!(validate(&req(b.clone())), Err(Fail::Validation(_))), "{b}");
        }
        let many: Map<String, Value> = (0..101).map(|i| (format!("h{i}"), json!("v"))).collect();
        assert!(validate(&req(json!({"method": "GET", "url": "http://a.com/", "headers": many}))).is_err());
        let ok = validate(&req(json!({"method": "get", "url": "https://a.com/x?q=1", "headers": {"Host": "evil", "X-A": "1"}, "timeout_seconds": 120}))).unwrap();
        assert_eq!(ok.method, "GET");
        assert_eq!(ok.headers.len(), 1, "Host is dropped");
        assert_eq!(redacted(&ok.url), "https://a.com/x");
    }
}
