//! `rumi-ctl setup --web`: the checks, init, doctor and recover as a browser page.
//!
//! A small blocking HTTP/1.1 server (std's `TcpListener`, requests parsed by `httparse`,
//! one request per connection, a thread per connection up to [`MAX_CONNECTIONS`]); the page,
//! its script and its style sheet are embedded in the binary, so nothing is fetched from
//! anywhere else. The server acts as the operator who started it: it writes the home and
//! holds the instance key's token for doctor and recover. So, on this trust boundary:
//!
//! - it binds 127.0.0.1 unless `--bind` says otherwise (and then warns);
//! - every API request must carry the token printed on the terminal, a new random one each
//!   time the server starts, in the [`TOKEN_HEADER`] header. The page reads it from the URL's
//!   fragment, which browsers never send to a server or in a Referer, and never from a query
//!   string (logged, cached and sent onwards). A custom header also means a cross-site page
//!   cannot send it without a CORS preflight, which this server never grants;
//! - the Host header must name the bound address: a DNS-rebinding page (`evil.example`
//!   resolving to 127.0.0.1) sends its own name and is refused before anything else;
//! - an `Origin` other than the page's own is refused;
//! - actions (init, recover) are POST only, and recover needs `{"confirm": true}`;
//! - the request head and body are bounded and must arrive within [`READ_TIMEOUT`];
//! - every answer carries a strict Content-Security-Policy, `nosniff` and no caching.
//!
//! The static page itself needs no token: it holds no data, only the script that asks for it.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use crate::cli::{Cli, SetupArgs};
use crate::client;
use crate::output::{errln, outln};

/// The original setup tool's port.
pub const DEFAULT_PORT: u16 = 8080;
/// The header that carries the token.
pub const TOKEN_HEADER: &str = "x-rumi-setup-token";
/// The largest request line plus headers. The page's requests are a few hundred bytes; a
/// browser with many cookies for `localhost` stays well under this.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The most headers a request may have.
const MAX_HEADERS: usize = 64;
/// The largest body: the options of init and recover are a few dozen bytes.
const MAX_BODY_BYTES: usize = 4 * 1024;
/// How long a client may take to send its request (and to read the answer), so a silent
/// connection cannot hold a thread.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the rest of a refused request before closing.
const LINGER: Duration = Duration::from_secs(1);
/// How much of a refused request's rest is read and dropped before closing.
const MAX_LINGER_BYTES: u64 = 1024 * 1024;
/// Connections served at once; more are closed at once. The page makes one or two at a time,
/// and doctor may wait a few seconds on rumid.
const MAX_CONNECTIONS: usize = 8;
/// Only what the embedded page needs: its own script, style sheet and API; no inline code,
/// no framing, no form posts elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!("web/index.html");
const APP_JS: &str = include_str!("web/app.js");
const APP_CSS: &str = include_str!("web/app.css");

/// A parsed request.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// The first value of a header (names compare case-insensitively).
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer.
struct Response {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    allow: Option<&'static str>,
}

impl Response {
    fn json(status: u16, v: &Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(v).unwrap_or_default(),
            allow: None,
        }
    }

    fn error(status: u16, message: &str) -> Self {
        Self::json(status, &json!({ "error": message }))
    }

    fn asset(content_type: &'static str, text: &str) -> Self {
        Self {
            status: 200,
            content_type,
            body: text.as_bytes().to_vec(),
            allow: None,
        }
    }

    fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::error(405, &format!("method not allowed here (allowed: {allow})"))
        }
    }

    fn write_to(&self, stream: &mut TcpStream) -> std::io::Result<()> {
        let reason = match self.status {
            200 => "OK",
            204 => "No Content",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            411 => "Length Required",
            413 => "Content Too Large",
            431 => "Request Header Fields Too Large",
            501 => "Not Implemented",
            _ => "Internal Server Error",
        };
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}; charset=utf-8\r\nContent-Length: {}\r\nContent-Security-Policy: {CSP}\r\nX-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\nCross-Origin-Opener-Policy: same-origin\r\nCross-Origin-Resource-Policy: same-origin\r\nCache-Control: no-store\r\nConnection: close\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        if let Some(allow) = self.allow {
            head.push_str(&format!("Allow: {allow}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(&self.body)?;
        stream.flush()
    }
}

/// Reads one request, bounded in size; the error is the status to answer.
fn read_request(stream: &mut TcpStream) -> Result<Request, (u16, &'static str)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let head_len = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err((431, "request head too large"));
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Err((400, "connection closed before the request was complete")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return Err((408, "the request did not arrive in time")),
        }
    };
    if head_len > MAX_HEAD_BYTES {
        return Err((431, "request head too large"));
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(&buf[..head_len]) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => return Err((431, "too many headers")),
        _ => return Err((400, "not an HTTP/1.1 request")),
    }
    let method = parsed.method.unwrap_or_default().to_owned();
    let path = parsed.path.unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
        .collect();
    let mut req = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    // No chunked bodies: a length known up front is what makes the bound simple.
    if req.header("transfer-encoding").is_some() {
        return Err((501, "chunked request bodies are not accepted; send Content-Length"));
    }
    let length = match req.header("content-length") {
        None => 0,
        Some(v) => v.trim().parse::<usize>().map_err(|_| (400, "bad Content-Length"))?,
    };
    if length > MAX_BODY_BYTES {
        return Err((413, "request body too large"));
    }
    let mut body = buf[head_len..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk) {
            Ok(0) => return Err((400, "connection closed before the body was complete")),
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(_) => return Err((408, "the body did not arrive in time")),
        }
    }
    body.truncate(length);
    req.body = body;
    Ok(req)
}

/// Compares in time independent of where the strings differ, so the token cannot be
/// guessed one character at a time from answer times.
fn same_secret(given: &str, token: &str) -> bool {
    given.len() == token.len() && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The server's state: what it serves and what it accepts.
struct Server<'a> {
    cli: &'a Cli,
    args: &'a SetupArgs,
    token: String,
    addr: SocketAddr,
}

impl Server<'_> {
    /// Whether the Host header names this server: its address, `localhost` when bound to
    /// loopback, and with an unspecified bind (0.0.0.0) any address literal on its port. A
    /// DNS name other than localhost is what a rebinding attack sends, so none is accepted.
    fn host_allowed(&self, host: &str) -> bool {
        let port = self.addr.port();
        let with_default_port = if (port == 80 && !host.contains(':')) || (host.starts_with('[') && host.ends_with(']'))
        {
            format!("{host}:80")
        } else {
            host.to_owned()
        };
        if self.addr.ip().is_loopback() && with_default_port.eq_ignore_ascii_case(&format!("localhost:{port}")) {
            return true;
        }
        match with_default_port.parse::<SocketAddr>() {
            Ok(a) if a.port() == port => a.ip() == self.addr.ip() || self.addr.ip().is_unspecified(),
            _ => false,
        }
    }

    fn handle(&self, mut stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
        let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
        let peer = stream.peer_addr().map_or_else(|_| "?".to_owned(), |a| a.to_string());
        let (line, response, unread) = match read_request(&mut stream) {
            Ok(req) => (format!("{} {}", req.method, req.path), self.respond(&req), false),
            Err((status, message)) => (
                "(unreadable request)".to_owned(),
                Response::error(status, message),
                true,
            ),
        };
        errln!("setup web: {peer} {line} -> {}", response.status);
        let _ = response.write_to(&mut stream);
        if unread {
            // Closing with unread input makes the kernel send a reset, which can destroy the
            // answer before the client reads it; read (and drop) a bounded amount first.
            let _ = stream.shutdown(std::net::Shutdown::Write);
            let _ = stream.set_read_timeout(Some(LINGER));
            let _ = std::io::copy(&mut (&stream).take(MAX_LINGER_BYTES), &mut std::io::sink());
        }
    }

    fn respond(&self, req: &Request) -> Response {
        // Host first: a rebinding page learns nothing, not even which paths exist.
        let Some(host) = req.header("host").filter(|h| self.host_allowed(h.trim())) else {
            return Response::error(403, "unexpected Host header: open the address rumi-ctl printed");
        };
        if let Some(origin) = req.header("origin")
            && origin != format!("http://{}", host.trim())
        {
            return Response::error(403, "cross-origin requests are refused");
        }
        let path = req.path.split('?').next().unwrap_or_default();
        let get = req.method == "GET";
        match path {
            "/" | "/index.html" if get => Response::asset("text/html", INDEX_HTML),
            "/app.js" if get => Response::asset("text/javascript", APP_JS),
            "/app.css" if get => Response::asset("text/css", APP_CSS),
            // Browsers ask for it unprompted; no icon, and no 404 line in the log for it.
            "/favicon.ico" if get => Response {
                status: 204,
                content_type: "image/x-icon",
                body: Vec::new(),
                allow: None,
            },
            "/" | "/index.html" | "/app.js" | "/app.css" => Response::method_not_allowed("GET"),
            p if p.starts_with("/api/") => {
                if !req
                    .header(TOKEN_HEADER)
                    .is_some_and(|t| same_secret(t.trim(), &self.token))
                {
                    return Response::error(
                        401,
                        "missing or wrong token: open the URL rumi-ctl printed (it carries the token after #)",
                    );
                }
                self.api(req, p)
            }
            _ => Response::error(404, "no such page"),
        }
    }

    fn api(&self, req: &Request, path: &str) -> Response {
        let home = client::home(self.cli);
        let engine = &self.args.engine;
        match (req.method.as_str(), path) {
            ("GET", "/api/check") => findings(&super::check(&home, &engine.docker_socket, &engine.image)),
            ("GET", "/api/doctor") => findings(&crate::commands::setup_doctor(self.cli, engine)),
            ("POST", "/api/init") => {
                let options = match body_json(&req.body) {
                    Ok(v) => v,
                    Err(r) => return r,
                };
                let example = options["example"].as_bool().unwrap_or(true);
                match super::init(&home, example) {
                    Ok(done) => Response::json(200, &crate::commands::init_json(&home, &done)),
                    Err(e) => Response::error(500, &crate::failure::message(&e)),
                }
            }
            ("POST", "/api/recover") => {
                let options = match body_json(&req.body) {
                    Ok(v) => v,
                    Err(r) => return r,
                };
                if options["confirm"] != true {
                    return Response::error(400, "recover changes the home: send {\"confirm\": true}");
                }
                let restore = options["restore_pack"].as_str().filter(|s| !s.is_empty());
                let repairs = crate::commands::recover_home(self.cli, restore);
                Response::json(200, &json!({ "repairs": crate::commands::repairs_json(&repairs) }))
            }
            ("POST", "/api/check" | "/api/doctor") => Response::method_not_allowed("GET"),
            (_, "/api/init" | "/api/recover") => Response::method_not_allowed("POST"),
            _ => Response::error(404, "no such endpoint"),
        }
    }
}

/// Findings as the page shows them.
fn findings(found: &[super::Finding]) -> Response {
    let errors = found.iter().filter(|f| f.level == "error").count();
    Response::json(
        200,
        &json!({
            "findings": found.iter().map(super::Finding::to_json).collect::<Vec<_>>(),
            "errors": errors,
        }),
    )
}

/// An action's options: an empty body or a JSON object.
fn body_json(body: &[u8]) -> Result<Value, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(Response::error(400, "the body must be a JSON object")),
    }
}

/// Serves the page until the process is interrupted.
///
/// # Errors
/// The address cannot be bound.
pub fn serve(cli: &Cli, args: &SetupArgs) -> Result<()> {
    let ip = args.bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let listener = TcpListener::bind((ip, args.port))
        .with_context(|| format!("cannot bind {ip} port {} (in use? pick another with --port)", args.port))?;
    let addr = listener.local_addr().context("cannot read the bound address")?;
    let server = Server {
        cli,
        args,
        token: hex::encode(rand::random::<[u8; 32]>()),
        addr,
    };
    if !ip.is_loopback() {
        errln!(
            "!!! the setup page listens on {addr}, reachable from the network; anyone with the token can change this home"
        );
    }
    outln!(
        "rumi-ctl setup: the setup page for {} (Ctrl-C stops it)",
        client::home(cli).display()
    )?;
    outln!("open http://{addr}/#token={}", server.token)?;
    std::io::stdout().flush()?;
    let active = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            if active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                active.fetch_sub(1, Ordering::SeqCst);
                // Busy: close rather than queue, so a flood cannot pin memory or threads.
                drop(stream);
                continue;
            }
            let (server, active) = (&server, &active);
            scope.spawn(move || {
                server.handle(stream);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn server_at<'a>(cli: &'a Cli, args: &'a SetupArgs, addr: &str) -> Server<'a> {
        Server {
            cli,
            args,
            token: "t".repeat(64),
            addr: addr.parse().unwrap(),
        }
    }

    fn setup_args(cli: &Cli) -> &SetupArgs {
        match &cli.command {
            crate::cli::Command::Setup(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn only_the_bound_address_is_an_accepted_host() {
        let cli = Cli::parse_from(["rumi-ctl", "setup", "--web"]);
        let args = setup_args(&cli);
        let s = server_at(&cli, args, "127.0.0.1:8080");
        for ok in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080"] {
            assert!(s.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "127.0.0.1:8081",
            "127.0.0.1",
            "localhost",
            "127.0.0.2:8080",
            "[::1]:8080",
            "",
            "127.0.0.1:8080.evil.example",
        ] {
            assert!(!s.host_allowed(bad), "{bad}");
        }
        let s = server_at(&cli, args, "0.0.0.0:9000");
        assert!(s.host_allowed("192.0.2.7:9000"));
        assert!(!s.host_allowed("localhost:9000"), "not loopback-bound");
        assert!(!s.host_allowed("rumi.example:9000"));
        let s = server_at(&cli, args, "[::1]:80");
        assert!(s.host_allowed("[::1]") && s.host_allowed("[::1]:80") && s.host_allowed("localhost:80"));
    }

    #[test]
    fn tokens_compare_whole() {
        let t = "ab".repeat(32);
        assert!(same_secret(&t, &t));
        assert!(!same_secret(&t[..63], &t));
        assert!(!same_secret("", &t));
        assert!(!same_secret(&format!("{}c", &t[..63]), &t));
    }

    #[test]
    fn action_bodies_are_empty_or_an_object() {
        assert_eq!(body_json(b"").ok(), Some(json!({})));
        assert_eq!(body_json(b" \n").ok(), Some(json!({})));
        assert_eq!(body_json(br#"{"confirm":true}"#).ok(), Some(json!({"confirm": true})));
        for bad in [&b"[]"[..], b"true", b"{", b"\"x\""] {
            assert!(body_json(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for asset in [INDEX_HTML, APP_JS, APP_CSS] {
            assert!(
                !asset.contains("http://") && !asset.contains("https://"),
                "external URL in an asset"
            );
        }
        assert!(
            !INDEX_HTML.contains("<script>") && !INDEX_HTML.contains(" style="),
            "inline code breaks the CSP"
        );
        assert!(!APP_JS.contains("innerHTML"), "findings are text, never markup");
    }
}
