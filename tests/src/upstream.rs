//! A local HTTP upstream standing in for the internet (which cannot exist in tests).
//!
//! Routes: `/ok` → 200 `hello`; `/echo` → 200 with a JSON echo of method, Host, headers and
//! body; `/redirect?to=<url>` → 302 to `<url>`; `/loop` → 302 to itself; `/big?n=<bytes>` →
//! `n` bytes of `x`; `/binary` → bytes that are not UTF-8. Every request is counted.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// A running upstream; stops when dropped.
pub struct Upstream {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    _rt: tokio::runtime::Runtime,
}

impl Upstream {
    pub fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        handle(req, addr)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self { addr, hits, _rt: rt }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn query_param(req: &Request<Incoming>, key: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.replace("%3A", ":").replace("%2F", "/"))
    })
}

async fn handle(req: Request<Incoming>, me: SocketAddr) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let resp = |status: u16, body: Vec<u8>| {
        Response::builder()
            .status(status)
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from(body)))
            .expect("response")
    };
    Ok(match path.as_str() {
        "/ok" => resp(200, b"hello".to_vec()),
        "/echo" => {
            let method = req.method().to_string();
            let headers: serde_json::Map<String, serde_json::Value> = req
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        serde_json::Value::String(v.to_str().unwrap_or("").to_owned()),
                    )
                })
                .collect();
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let echo =
                serde_json::json!({"method": method, "headers": headers, "body": String::from_utf8_lossy(&body)});
            resp(200, echo.to_string().into_bytes())
        }
        "/redirect" => {
            let to = query_param(&req, "to").unwrap_or_else(|| "/ok".into());
            Response::builder()
                .status(302)
                .header("location", to)
                .body(Full::new(Bytes::new()))
                .expect("response")
        }
        "/loop" => Response::builder()
            .status(302)
            .header("location", format!("http://{me}/loop"))
            .body(Full::new(Bytes::new()))
            .expect("response"),
        "/big" => {
            let n: usize = query_param(&req, "n").and_then(|n| n.parse().ok()).unwrap_or(1024);
            resp(200, vec![b'x'; n])
        }
        "/binary" => resp(200, vec![0xff, 0xfe, 0x00, 0x80]),
        _ => resp(404, b"not found".to_vec()),
    })
}
