//! `rumi-bench`: starts the real daemons on a temp home and prints one table of figures.
//!
//! Run with `cargo run --release -p rumi-tests --bin rumi-bench` (after
//! `cargo build --release --workspace --bins`). Figures and the machine they ran on belong in
//! `docs/performance.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rumi_tests::{Rumid, TestHome};

/// Keep-alive connections used for the API load.
const CONNECTIONS: usize = 32;
/// Length of each load run.
const RUN: Duration = Duration::from_secs(5);
/// Packs installed for the API list benchmark.
const PACKS: usize = 100;

#[allow(clippy::print_stdout)]
fn main() -> Result<()> {
    let home = TestHome::new();
    for i in 0..PACKS {
        home.add_pack(&format!("bench-pack-{i:03}"));
    }
    let rumid = Rumid::builder(&home).env("RUMI_LOG_LEVEL", "INFO").spawn()?;
    for i in (0..PACKS).step_by(2) {
        let r = rumid.post(&format!("/api/packs/bench-pack-{i:03}/approve"), None);
        anyhow::ensure!(r.status == 200, "approve failed: {:?}", r.body);
    }
    std::thread::sleep(Duration::from_secs(2));
    let idle_rss = rss_kib(rumid.pid())?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let addr = rumid.base.trim_start_matches("http://").to_owned();
    let (rps_own, bytes) = rt.block_on(load(&addr, &rumid.token, "/api/packs"))?;
    let rps_wrk = wrk(&rumid.base, &rumid.token, "/api/packs");
    let (rps_health, _) = rt.block_on(load(&addr, &rumid.token, "/health"))?;
    let loaded_rss = rss_kib(rumid.pid())?;

    println!("| figure | value | target |");
    println!("|---|---|---|");
    match rps_wrk {
        Some(rps) => println!(
            "| authenticated GET /api/packs ({PACKS} packs, {bytes} B body), wrk 1 thread {CONNECTIONS} conns | {rps:.0} req/s | ≥ 50,000 req/s |"
        ),
        None => println!(
            "| authenticated GET /api/packs, wrk | not measured: install wrk (apt-get install wrk) | ≥ 50,000 req/s |"
        ),
    }
    println!(
        "| authenticated GET /api/packs, built-in Rust client {CONNECTIONS} conns (client shares the 2 cores) | {rps_own:.0} req/s | — |"
    );
    println!("| unauthenticated GET /health (runs 3 probes) | {rps_health:.0} req/s | — |");
    println!(
        "| rumid idle RSS ({PACKS} packs) | {:.1} MiB | ≤ 30 MB |",
        idle_rss as f64 / 1024.0
    );
    println!("| rumid RSS after load | {:.1} MiB | — |", loaded_rss as f64 / 1024.0);
    Ok(())
}

/// Measures with wrk (a C load generator, cheaper than our own client, so more of the two
/// cores go to rumid). `None` when wrk is not installed.
fn wrk(base: &str, token: &str, path: &str) -> Option<f64> {
    let out = std::process::Command::new("wrk")
        .args(["-t1", &format!("-c{CONNECTIONS}"), &format!("-d{}s", RUN.as_secs())])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("{base}{path}"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let non_2xx = text.lines().any(|l| l.contains("Non-2xx"));
    if non_2xx {
        return None;
    }
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .context("VmRSS not found")
}

/// Runs `CONNECTIONS` keep-alive clients for `RUN`; returns requests per second and body size.
async fn load(addr: &str, token: &str, path: &str) -> Result<(f64, usize)> {
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let body_len = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let (done, count, body_len) = (done.clone(), count.clone(), body_len.clone());
        let auth = format!("Bearer {token}");
        let uri = format!("http://{addr}{path}");
        tasks.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let req = hyper::Request::get(&uri)
                    .header("authorization", &auth)
                    .header("host", "bench")
                    .body(Empty::<Bytes>::new())?;
                let resp = send.send_request(req).await?;
                anyhow::ensure!(resp.status() == 200, "status {}", resp.status());
                let body = resp.into_body().collect().await?.to_bytes();
                body_len.store(body.len() as u64, Ordering::Relaxed);
                count.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    let start = Instant::now();
    tokio::time::sleep(RUN).await;
    done.store(true, Ordering::Relaxed);
    let n = count.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    for t in tasks {
        t.await??;
    }
    Ok((n as f64 / elapsed, body_len.load(Ordering::Relaxed) as usize))
}
