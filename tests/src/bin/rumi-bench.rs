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
use rumi_tests::upstream::Upstream;
use rumi_tests::{Rumid, TestHome, frame_call, wait_socket};
use serde_json::json;

/// Keep-alive connections used for the API load.
const CONNECTIONS: usize = 32;
/// Length of each load run.
const RUN: Duration = Duration::from_secs(5);
/// Packs installed for the API list benchmark.
const PACKS: usize = 100;

/// What `rumi-bench --help` prints; any other `--` argument not named here is refused, so a
/// mistyped mode never runs the whole default bench instead.
const USAGE: &str = "\
rumi-bench: starts the real daemons on a temp home and prints one table of figures.

usage: rumi-bench [MODE] [OPTIONS]

modes (none: the default figures: API load, RSS, egress, capabilities, flows, sandbox, hashing):
  --flows         the flow and sandbox figures only
  --snapshot      a small pack's block calls while a 600 MB pack is approved
  --spares        spares on and off at c = 1, 2, 4, 8 beside the raw engine churn
  --sandbox       the sandbox backends side by side, and spares under concurrency
  --hostile       helper memory, audit volume and a good pack's latency under hostile packs
  --fd-attack     only the descriptor-exhaustion figure
  --grants        grant writes per second with 0, 1,000 and 8,000 grants; RSS at 10,000
  --hashing       approval hashing against sha256sum

options of --spares and --sandbox:
  --rounds N      runs of each kind per level, medians of N (3)
  --level-secs N  seconds per run (10)
  --levels A,B    the concurrency levels (1,2,4,8)
";

#[allow(clippy::print_stdout)]
fn main() -> Result<()> {
    const MODES: [&str; 8] = [
        "--flows",
        "--snapshot",
        "--spares",
        "--sandbox",
        "--hostile",
        "--fd-attack",
        "--grants",
        "--hashing",
    ];
    const OPTIONS: [&str; 3] = ["--rounds", "--level-secs", "--levels"];
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return Ok(());
    }
    let mut rest = args.iter();
    while let Some(a) = rest.next() {
        if OPTIONS.contains(&a.as_str()) {
            let v = rest.next().with_context(|| format!("{a} needs a value (see --help)"))?;
            let ok = v.split(',').all(|n| n.trim().parse::<u64>().is_ok()) && (a == "--levels" || !v.contains(','));
            anyhow::ensure!(
                ok,
                "{a} {v:?}: not a number{} (see --help)",
                if a == "--levels" { " list" } else { "" }
            );
        } else if !MODES.contains(&a.as_str()) {
            anyhow::bail!("unknown argument {a:?} (see --help)");
        }
    }
    // `rumi-bench --flows`: only the flow and sandbox figures.
    if std::env::args().any(|a| a == "--flows") {
        for line in flows_bench()? {
            println!("{line}");
        }
        return Ok(());
    }
    // `rumi-bench --snapshot`: a small pack's block calls while a 600 MB pack is approved.
    if std::env::args().any(|a| a == "--snapshot") {
        for line in snapshot_bench()? {
            println!("{line}");
        }
        return Ok(());
    }
    // `rumi-bench --spares`: only spares on and off under concurrency, beside the raw churn.
    if std::env::args().any(|a| a == "--spares") {
        for line in spares_bench(&block_home())? {
            println!("{line}");
        }
        return Ok(());
    }
    // `rumi-bench --sandbox`: the backends side by side, and spares under concurrency.
    if std::env::args().any(|a| a == "--sandbox") {
        for line in sandbox_bench()? {
            println!("{line}");
        }
        return Ok(());
    }
    // `rumi-bench --hostile`: helper memory, audit volume and a good pack's latency under
    // hostile packs. `--fd-attack` alone: only the descriptor-exhaustion figure.
    if std::env::args().any(|a| a == "--hostile" || a == "--fd-attack") {
        println!("| figure | value | target |");
        println!("|---|---|---|");
        if !std::env::args().any(|a| a == "--fd-attack") {
            for line in hostile_bench()? {
                println!("{line}");
            }
        }
        for line in fd_attack_bench()? {
            println!("{line}");
        }
        return Ok(());
    }
    // `rumi-bench --grants`: grant writes per second with 0, 1,000 and 8,000 grants, and
    // the daemons' RSS at 10,000.
    if std::env::args().any(|a| a == "--grants") {
        println!("| figure | value | target |");
        println!("|---|---|---|");
        for line in grants_bench()? {
            println!("{line}");
        }
        return Ok(());
    }
    if std::env::args().any(|a| a == "--hashing") {
        for line in hashing_bench()? {
            println!("{line}");
        }
        return Ok(());
    }
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
    let helpers = rumid.wait_helpers_up()?;
    let helper_rss = |name: &str| -> Result<f64> {
        let pid = helpers[name]["pid"].as_u64().context("helper pid")? as u32;
        Ok(rss_kib(pid)? as f64 / 1024.0)
    };
    let (egressd_rss, capd_rss) = (helper_rss("egressd")?, helper_rss("capd")?);
    drop(rumid);
    let helpers_fig = helpers_bench()?;
    let flow_fig = flows_bench()?;
    let hash_fig = hashing_bench()?;

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
    println!("| rumi-egressd idle RSS | {egressd_rss:.1} MiB | ≤ 15 MB |");
    println!("| rumi-capd idle RSS | {capd_rss:.1} MiB | ≤ 15 MB |");
    for line in helpers_fig.into_iter().chain(flow_fig).chain(hash_fig) {
        println!("{line}");
    }
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

/// p50 and p99 of a sample, in milliseconds.
fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)].as_secs_f64() * 1000.0;
    (at(0.5), at(0.99))
}

/// Long-lived processes whose CPU the spares figures break out; the rest of the machine's
/// busy time is the short-lived ones (the engine's shims and runtimes, the containers).
const CPU_PARTS: [&str; 6] = [
    "dockerd",
    "containerd",
    "rumid",
    "rumi-capd",
    "rumi-egressd",
    "rumi-bench",
];

/// Clock ticks per second (the unit of `/proc`'s CPU times).
fn clock_ticks() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64
}

/// CPU seconds (user + system) used so far by the processes named in [`CPU_PARTS`], by name.
fn parts_cpu_secs() -> [f64; 6] {
    let hz = clock_ticks();
    let mut out = [0.0; 6];
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ...: comm may hold spaces; the fields follow the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let Some(i) = CPU_PARTS.iter().position(|n| *n == comm) else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat(5); 12 and 13 after "state".
        let ticks: f64 = fields
            .iter()
            .skip(11)
            .take(2)
            .filter_map(|t| t.parse::<f64>().ok())
            .sum();
        out[i] += ticks / hz;
    }
    out
}

/// A reading of the machine's busy CPU seconds and of each part of [`CPU_PARTS`].
type CpuReading = (f64, [f64; 6]);

fn cpu_reading() -> CpuReading {
    (machine_busy_secs(), parts_cpu_secs())
}

/// The machine's busy CPU per call between two readings (ms), and what it went to: each part
/// of [`CPU_PARTS`] and the rest.
fn cpu_per_call(before: CpuReading, after: CpuReading, calls: usize) -> (f64, String) {
    let per = |secs: f64| secs * 1e3 / calls.max(1) as f64;
    let mut parts = Vec::new();
    let mut named = 0.0;
    for (i, name) in CPU_PARTS.iter().enumerate() {
        let d = after.1[i] - before.1[i];
        named += d;
        parts.push(format!("{name} {:.0}", per(d)));
    }
    parts.push(format!(
        "shims, runtimes, containers {:.0}",
        per(after.0 - before.0 - named)
    ));
    (per(after.0 - before.0), parts.join(", "))
}

/// CPU time the whole machine has spent busy so far (every process: rumid, the engine, its
/// shims and runtimes, the containers, this bench), in seconds, from `/proc/stat`.
fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
    let busy: f64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    let hz = clock_ticks();
    busy / hz
}

/// Egress overhead and store.get round trips through the real helpers.
fn helpers_bench() -> Result<Vec<String>> {
    const N: usize = 1000;
    let up = Upstream::start();
    let home = TestHome::new();
    home.add_pack("bench");
    let rumid = Rumid::builder(&home)
        .env("RUMI_LOG_LEVEL", "WARNING")
        .env("RUMI_EGRESS_ALLOW_CIDRS", "127.0.0.1/32")
        .env("RUMI_EGRESS_RATE_LIMIT", "100000")
        .spawn()?;
    rumid.approve_and_grant("bench", &["127.0.0.1"], &[up.addr.port()]);
    let egress = rumid.egress_socket(&home, "bench");
    wait_socket(&egress)?;
    let url = up.url("/ok");
    // Direct: a new TCP connection and one HTTP/1.1 request each time, as the proxy does.
    let direct: Vec<Duration> = (0..N)
        .map(|_| {
            use std::io::{Read, Write};
            let t = Instant::now();
            let mut s = std::net::TcpStream::connect(up.addr).expect("connect");
            s.set_nodelay(true).ok();
            write!(s, "GET /ok HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", up.addr).expect("write");
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).expect("read");
            t.elapsed()
        })
        .collect();
    let proxied: Vec<Duration> = (0..N)
        .map(|_| {
            let t = Instant::now();
            let r = frame_call(&egress, &json!({"method": "GET", "url": url})).expect("egress");
            assert_eq!(r["success"], true, "{r}");
            t.elapsed()
        })
        .collect();
    let (d50, _) = percentiles(direct);
    let (p50, p99) = percentiles(proxied);

    let r = rumid.post(
        "/api/stores/create",
        Some(&json!({"store_id": "bench", "owner_pack": "bench"})),
    );
    anyhow::ensure!(r.status == 200, "store create: {:?}", r.body);
    rumid.grant_capability("bench", "store.get", json!({"allowed_store_ids": ["bench"]}));
    rumid.grant_capability("bench", "store.set", json!({"allowed_store_ids": ["bench"]}));
    let cap = rumid.capability_socket(&home, "bench");
    wait_socket(&cap)?;
    frame_call(
        &cap,
        &json!({"permission_id": "store.set", "args": {"store_id": "bench", "key": "k", "value": {"n": 1}}}),
    )?;
    let req = json!({"permission_id": "store.get", "args": {"store_id": "bench", "key": "k"}});
    let gets: Vec<Duration> = (0..N)
        .map(|_| {
            let t = Instant::now();
            let r = frame_call(&cap, &req).expect("store.get");
            assert_eq!(r["success"], true, "{r}");
            t.elapsed()
        })
        .collect();
    let (g50, g99) = percentiles(gets);
    let sdk = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/sdk/python");
    let script = format!(
        "import time, rumi_capability as c\nts=[]\nfor _ in range({N}):\n    t=time.perf_counter(); r=c.call('store.get', {{'store_id':'bench','key':'k'}}); ts.append(time.perf_counter()-t)\n    assert r['success'], r\nts.sort(); print('%.3f / %.3f ms' % (ts[len(ts)//2]*1000, ts[int(len(ts)*0.99)]*1000))"
    );
    let out = std::process::Command::new("python3")
        .env("PYTHONPATH", sdk)
        .env("RUMI_CAPABILITY_SOCKET", &cap)
        .args(["-c", &script])
        .output()?;
    let py = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok(vec![
        format!("| egress: direct GET to the local upstream (new connection each) p50 | {d50:.3} ms | — |"),
        format!("| egress: same GET through rumi-egressd p50 / p99 | {p50:.3} / {p99:.3} ms | — |"),
        format!(
            "| egress overhead p50 (proxied − direct) | {:.3} ms | ≤ 0.5 ms |",
            p50 - d50
        ),
        format!("| store.get round trip, Rust client p50 / p99 | {g50:.3} / {g99:.3} ms | ≤ 0.2 ms p50 |"),
        format!("| store.get round trip, Python SDK p50 / p99 | {py} | ≤ 1 ms p50 |"),
    ])
}

/// Flow engine and sandbox figures: a 100-step `set` flow, python_file_call cold in strict
/// and permissive mode, and a bare locked-down `docker run` of the same image.
fn flows_bench() -> Result<Vec<String>> {
    let mut out = Vec::new();
    let home = TestHome::new();
    home.add_pack("bench");
    home.write(
        "ecosystem/bench/backend/blocks/noop.py",
        "def run(data):\n    return {'ok': True}\n",
    );
    let mut set100 = String::from("flow_id: set100\nsteps:\n");
    for i in 0..100 {
        set100.push_str(&format!(
            "  - {{id: s{i:03}, type: set, input: {{key: k{i}, value: \"v{i}\"}}}}\n"
        ));
    }
    home.write("flows/set100.flow.yaml", &set100);
    home.write(
        "flows/block.flow.yaml",
        "flow_id: block\nsteps:\n  - {id: s, type: python_file_call, owner_pack: bench, file: noop.py, output: out}\n",
    );
    let server_times = |rumid: &Rumid, flow: &str, n: usize| -> Result<Vec<Duration>> {
        (0..n)
            .map(|_| {
                let r = rumid.run_flow(flow, json!({}), 60.0);
                anyhow::ensure!(r.status == 200, "{flow}: {:?}", r.body);
                let secs = r.body["execution_time"]
                    .as_f64()
                    .with_context(|| format!("{flow}: no execution_time in {:?}", r.body))?;
                Ok(Duration::from_secs_f64(secs))
            })
            .collect()
    };
    {
        let rumid = Rumid::builder(&home).env("RUMI_LOG_LEVEL", "WARNING").spawn()?;
        anyhow::ensure!(rumid.post("/api/packs/bench/approve", None).status == 200, "approve");
        let (s50, s99) = percentiles(server_times(&rumid, "set100", 200)?);
        out.push(format!(
            "| 100-step `set` flow, server execution time p50 / p99 | {s50:.3} / {s99:.3} ms | ≤ 10 ms |"
        ));
        let (h50, _) = percentiles(server_times(&rumid, "block", 30)?);
        out.push(format!(
            "| python_file_call, permissive (host python3) p50 | {h50:.1} ms | — |"
        ));
    }
    let docker = std::process::Command::new("docker")
        .args(["info"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !docker {
        out.push("| python_file_call strict / bare docker run | not measured: no Docker engine | — |".into());
        return Ok(out);
    }
    let (c50, c99) = {
        let rumid = Rumid::builder(&home)
            .strict()
            .env("RUMI_LOG_LEVEL", "WARNING")
            .env("RUMI_SPARES_PER_PACK", "0")
            .spawn()?;
        percentiles(server_times(&rumid, "block", 20)?)
    };
    let rumid = Rumid::builder(&home)
        .strict()
        .env("RUMI_LOG_LEVEL", "WARNING")
        .spawn()?;
    let spares_waiting = |rumid: &Rumid| rumid.get("/api/containers").body["data"]["spares"]["waiting"].as_u64();
    // With a spare: before each call the pool is full again and the previous container is
    // gone, so the figure is the cost of a call itself (the first, cold call makes the pack
    // "recently run").
    server_times(&rumid, "block", 1)?;
    let mut warm = Vec::new();
    for _ in 0..40 {
        rumi_tests::eventually("the spares waiting", Duration::from_secs(30), || {
            (spares_waiting(&rumid) >= Some(2)).then_some(())
        })?;
        std::thread::sleep(Duration::from_millis(150));
        warm.extend(server_times(&rumid, "block", 1)?);
    }
    let (w50, w99) = percentiles(warm);
    // Sustained: calls back to back for a few seconds; spares are claimed as they come up.
    let t = Instant::now();
    let mut calls = 0u32;
    while t.elapsed() < Duration::from_secs(10) {
        server_times(&rumid, "block", 1)?;
        calls += 1;
    }
    let sustained = f64::from(calls) / t.elapsed().as_secs_f64();
    let summary = rumid.get("/api/containers").body["data"]["spares"].clone();
    out.push(format!(
        "| python_file_call strict, with a spare p50 / p99 | {w50:.1} / {w99:.1} ms | ≤ 10 ms p50 |"
    ));
    out.push(format!(
        "| sustained strict block calls, one client, spares on | {sustained:.1} calls/s ({} claims, {} misses in total) | — |",
        summary["claims"], summary["misses"]
    ));
    let bare: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            let ok = std::process::Command::new("docker")
                .args([
                    "run",
                    "--rm",
                    "--network=none",
                    "--read-only",
                    "--cap-drop=ALL",
                    "--security-opt=no-new-privileges",
                    "--user=65534:65534",
                    "--pids-limit=100",
                    "--memory=256m",
                    "--memory-swap=256m",
                    "--tmpfs=/tmp:rw,size=64m,noexec,nosuid",
                    "rumi-runtime:bookworm",
                    "python3",
                    "-c",
                    "pass",
                ])
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(ok, "docker run failed");
            t.elapsed()
        })
        .collect();
    let (b50, _) = percentiles(bare);
    out.push(format!(
        "| python_file_call strict, cold container p50 / p99 | {c50:.1} / {c99:.1} ms | ≤ 1.0 × bare docker run |"
    ));
    out.push(format!(
        "| bare locked-down `docker run … python3 -c pass` p50 | {b50:.1} ms | — |"
    ));
    out.push(format!(
        "| cold strict call / bare docker run | {:.2} × | ≤ 1.0 |",
        c50 / b50
    ));
    Ok(out)
}

/// A home with one pack `bench` whose block does nothing, and its flow `block`.
fn block_home() -> TestHome {
    let home = TestHome::new();
    home.add_pack("bench");
    home.write(
        "ecosystem/bench/backend/blocks/noop.py",
        "def run(data):\n    return {'ok': True}\n",
    );
    home.write(
        "flows/block.flow.yaml",
        "flow_id: block\ndefaults: {fail_soft: false}\nsteps:\n  - {id: s, type: python_file_call, owner_pack: bench, file: noop.py, output: out}\n",
    );
    home
}

/// Client-side latencies of `n` sequential runs of `block`.
fn block_calls(rumid: &Rumid, n: usize) -> Result<Vec<Duration>> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            let r = rumid.run_flow("block", json!({}), 120.0);
            anyhow::ensure!(r.status == 200, "block: {:?}", r.body);
            Ok(t.elapsed())
        })
        .collect()
}

/// One concurrency level's figures: calls/s, p50 and p99 (ms), the machine's busy CPU per call
/// (ms) and where it went.
type Level = (f64, f64, f64, f64, String);

/// `c` clients calling `block` back to back for `dur`: calls/s, p50, p99 (ms) and the
/// machine's busy CPU per call (ms).
fn concurrent_calls(rumid: &Rumid, c: usize, dur: Duration) -> Result<Level> {
    let start = Instant::now();
    let cpu0 = cpu_reading();
    let all: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..c)
            .map(|_| {
                scope.spawn(|| {
                    let mut v = Vec::new();
                    while start.elapsed() < dur {
                        let t = Instant::now();
                        let r = rumid.run_flow("block", json!({}), 120.0);
                        if r.status == 200 {
                            v.push(t.elapsed());
                        }
                    }
                    v
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    anyhow::ensure!(!all.is_empty(), "no call succeeded at concurrency {c}");
    let rate = all.len() as f64 / start.elapsed().as_secs_f64();
    let (cpu_ms, parts) = cpu_per_call(cpu0, cpu_reading(), all.len());
    let (p50, p99) = percentiles(all);
    Ok((rate, p50, p99, cpu_ms, parts))
}

/// One request to the Docker API over its socket (HTTP/1.1, `Connection: close`).
fn docker_api(method: &str, path: &str, body: Option<&serde_json::Value>) -> Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect("/var/run/docker.sock")?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let code = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((code, out))
}

/// The engine's own churn: `c` clients doing create + start + wait + remove of a locked-down
/// `python3 -c pass` container through the Docker API, for `dur`: containers per second.
/// Also the machine's busy CPU per container (ms), and where it went.
fn raw_churn(c: usize, dur: Duration) -> Result<(f64, f64, String)> {
    let body = locked_down(&["python3", "-c", "pass"]);
    churn(c, dur, || {
        let id = create_container(&body)?;
        let ran = docker_api("POST", &format!("/containers/{id}/start"), None)
            .and_then(|_| docker_api("POST", &format!("/containers/{id}/wait"), None));
        docker_api("DELETE", &format!("/containers/{id}?force=1"), None)?;
        ran.map(drop)
    })
}

/// The create request of a locked-down container running `cmd`: no network, read-only root,
/// no capabilities, Rumi's memory, pids and CPU limits, a small `/tmp`.
fn locked_down(cmd: &[&str]) -> serde_json::Value {
    json!({
        "Image": "rumi-runtime:bookworm", "Cmd": cmd, "User": "65534:65534",
        "NetworkDisabled": true,
        "HostConfig": {"NetworkMode": "none", "ReadonlyRootfs": true, "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"], "Memory": 268435456, "MemorySwap": 268435456,
            "PidsLimit": 100, "NanoCpus": 1000000000, "Tmpfs": {"/tmp": "rw,size=64m,noexec,nosuid"}}
    })
}

/// Creates a container of `body` through the Docker API; its id.
fn create_container(body: &serde_json::Value) -> Result<String> {
    let (201, text) = docker_api("POST", "/containers/create", Some(body))? else {
        anyhow::bail!("create refused");
    };
    text.split("\"Id\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(str::to_owned)
        .context("no Id in the create answer")
}

/// `c` clients doing `one` back to back for `dur`: containers per second, the machine's busy
/// CPU per container (ms) and where it went.
fn churn(c: usize, dur: Duration, one: impl Fn() -> Result<()> + Sync) -> Result<(f64, f64, String)> {
    let start = Instant::now();
    let cpu0 = cpu_reading();
    let n: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..c)
            .map(|_| {
                scope.spawn(|| {
                    let mut n = 0;
                    while start.elapsed() < dur {
                        if one().is_ok() {
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    if n == 0 {
        // Every attempt failed: say why.
        one()?;
    }
    let (cpu_ms, parts) = cpu_per_call(cpu0, cpu_reading(), n);
    Ok((n as f64 / start.elapsed().as_secs_f64(), cpu_ms, parts))
}

/// The engine's churn of the work a block call does, without Rumi: `c` clients each create a
/// container shaped like a Rumi block container (the SDK and the block mounted read-only, two
/// more binds, Rumi's limits), attach to it, start it, send the runner its job on stdin, read
/// its result frame, and remove it. Containers per second and machine CPU per container (ms).
fn job_churn(c: usize, dur: Duration) -> Result<(f64, f64, String)> {
    use std::io::{Read, Write};
    let code = tempfile::tempdir()?;
    std::fs::write(code.path().join("noop.py"), "def run(data):\n    return {'ok': True}\n")?;
    // The container runs as nobody: the block must be readable by it.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(code.path(), std::fs::Permissions::from_mode(0o755))?;
        std::fs::set_permissions(code.path().join("noop.py"), std::fs::Permissions::from_mode(0o644))?;
    }
    let sdk = rumi_tests::sdk_dir();
    // As Rumi creates a block container: the SDK and the block mounted, its job on stdin.
    let mut body = locked_down(&["python3", "-B", "/opt/rumi/sdk/_rumi_runner.py"]);
    for (k, v) in [
        ("WorkingDir", json!("/opt/rumi/code")),
        (
            "Env",
            json!([
                "PYTHONPATH=/opt/rumi/sdk",
                "PYTHONDONTWRITEBYTECODE=1",
                "RUMI_PACK_ID=bench"
            ]),
        ),
        ("AttachStdin", json!(true)),
        ("AttachStdout", json!(true)),
        ("AttachStderr", json!(true)),
        ("OpenStdin", json!(true)),
        ("StdinOnce", json!(true)),
    ] {
        body[k] = v;
    }
    let host = &mut body["HostConfig"];
    host["ShmSize"] = json!(8388608);
    host["Ulimits"] = json!([{"Name": "nofile", "Soft": 256, "Hard": 256}]);
    host["Tmpfs"] = json!({"/tmp": "rw,size=67108864,nosuid,nodev,noexec"});
    host["Binds"] = json!([
        format!("{}:/opt/rumi/sdk:ro", sdk.display()),
        format!("{}:/opt/rumi/code:ro", code.path().display())
    ]);
    let job = b"{\"file\": \"/opt/rumi/code/noop.py\", \"input\": {}, \"context\": {}}\n";
    let one = || -> Result<()> {
        let id = create_container(&body)?;
        let ran = || -> Result<Vec<u8>> {
            let mut s = std::os::unix::net::UnixStream::connect("/var/run/docker.sock")?;
            write!(
                s,
                "POST /containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\nUpgrade: tcp\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n"
            )?;
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf)?;
                anyhow::ensure!(n > 0, "attach closed");
                seen.extend_from_slice(&buf[..n]);
            }
            docker_api("POST", &format!("/containers/{id}/start"), None)?;
            s.write_all(job)?;
            s.shutdown(std::net::Shutdown::Write)?;
            // The stream closes when the runner exits, after its result frame.
            let mut output = Vec::new();
            s.read_to_end(&mut output)?;
            Ok(output)
        };
        let output = ran();
        docker_api("DELETE", &format!("/containers/{id}?force=1"), None)?;
        let output = output?;
        anyhow::ensure!(
            output.windows(11).any(|w| w == b"RUMI-RESULT"),
            "no result frame: {}",
            String::from_utf8_lossy(&output)
        );
        Ok(())
    };
    churn(c, dur, one)
}

/// A small pack's block-call latency alone and while a 600 MB pack is being approved (and
/// its status read), in permissive mode. With `RUMI_BIN_DIR` pointing at an older build the
/// same figures show that build's behaviour (the bench only uses the API).
fn snapshot_bench() -> Result<Vec<String>> {
    const BIG_FILES: usize = 60;
    const BIG_FILE_BYTES: usize = 10 * 1024 * 1024;
    let home = block_home();
    home.add_pack("big");
    home.write(
        "flows/bigblock.flow.yaml",
        "flow_id: bigblock\ndefaults: {fail_soft: false}\nsteps:\n  - {id: s, type: python_file_call, owner_pack: big, file: main.py, output: out}\n",
    );
    let dir = home.path().join("ecosystem/big/backend/data");
    std::fs::create_dir_all(&dir)?;
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..BIG_FILES {
        let mut buf = vec![0u8; BIG_FILE_BYTES];
        for chunk in buf.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        std::fs::write(dir.join(format!("blob{i:02}.bin")), &buf)?;
    }
    let rumid = Rumid::builder(&home).env("RUMI_LOG_LEVEL", "WARNING").spawn()?;
    anyhow::ensure!(rumid.post("/api/packs/bench/approve", None).status == 200, "approve");
    block_calls(&rumid, 3)?;
    let (alone, _) = percentiles(block_calls(&rumid, 30)?);
    let status = |n: usize| -> Vec<Duration> {
        (0..n)
            .map(|_| {
                let t = Instant::now();
                let _ = rumid.get("/api/packs/bench/status");
                t.elapsed()
            })
            .collect()
    };
    let (status_alone, _) = percentiles(status(30));
    // Approve the big pack (a full hash, and a copy with snapshots) while the small pack runs.
    let mut during = Vec::new();
    let mut status_during = Vec::new();
    let approve_time = std::thread::scope(|scope| -> Result<Duration> {
        let approving = scope.spawn(|| {
            let t = Instant::now();
            let r = rumid.post("/api/packs/big/approve", None);
            (r.status, t.elapsed())
        });
        while !approving.is_finished() {
            during.extend(block_calls(&rumid, 1)?);
            status_during.extend(status(1));
        }
        let (code, took) = approving.join().map_err(|_| anyhow::anyhow!("approve thread"))?;
        anyhow::ensure!(code == 200, "big approve: {code}");
        Ok(took)
    })?;
    anyhow::ensure!(!during.is_empty(), "no call ran during the approval");
    let n_during = during.len();
    let (d50, _) = percentiles(during);
    let (s50, _) = percentiles(status_during);
    // Both approved: the small pack's calls while the big pack's blocks run back to back (a
    // design that re-hashes a pack before each of its calls hashes 600 MB each time).
    let stop = AtomicBool::new(false);
    let (after, big_calls) = std::thread::scope(|scope| -> Result<(f64, usize)> {
        let big = scope.spawn(|| {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                if rumid.run_flow("bigblock", json!({}), 120.0).status == 200 {
                    n += 1;
                }
            }
            n
        });
        let small = block_calls(&rumid, 30);
        stop.store(true, Ordering::Relaxed);
        let n = big.join().map_err(|_| anyhow::anyhow!("big thread"))?;
        Ok((percentiles(small?).0, n))
    })?;
    Ok(vec![
        format!(
            "| approve of a {} MB pack ({BIG_FILES} files) | {:.2} s | — |",
            BIG_FILES * BIG_FILE_BYTES / 1_000_000,
            approve_time.as_secs_f64()
        ),
        format!("| small pack's block call p50, alone | {alone:.1} ms | — |"),
        format!("| small pack's block call p50, during that approval ({n_during} calls) | {d50:.1} ms | ≤ 2 × alone |"),
        format!(
            "| small pack's block call p50, while the big pack's blocks run ({big_calls} big calls) | {after:.1} ms | ≤ 2 × alone |"
        ),
        format!(
            "| GET /api/packs/bench/status p50, alone / during the approval | {status_alone:.1} / {s50:.1} ms | — |"
        ),
    ])
}

/// The sandbox backends side by side: block-call latency cold and with spares for runc and
/// runsc, the bubblewrap host runner against an unisolated host run, and spares on and off at
/// several concurrency levels beside the engine's own container churn.
fn sandbox_bench() -> Result<Vec<String>> {
    let mut out = Vec::new();
    let home = block_home();
    // Host runs: bubblewrap against none.
    let mut host = Vec::new();
    for iso in ["none", "bwrap"] {
        let rumid = Rumid::builder(&home)
            .env("RUMI_LOG_LEVEL", "WARNING")
            .env("RUMI_HOST_ISOLATION", iso)
            .spawn()?;
        anyhow::ensure!(rumid.post("/api/packs/bench/approve", None).status == 200, "approve");
        block_calls(&rumid, 3)?;
        let (p50, p99) = percentiles(block_calls(&rumid, 40)?);
        out.push(format!(
            "| block call, permissive, host isolation `{iso}` p50 / p99 | {p50:.1} / {p99:.1} ms | — |"
        ));
        host.push(p50);
    }
    out.push(format!(
        "| bubblewrap host run ÷ unisolated host run (p50) | {:.2} × | ≤ 1.5 × |",
        host[1] / host[0]
    ));
    let docker = std::process::Command::new("docker")
        .args(["info", "--format", "{{json .Runtimes}}"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let Some(runtimes) = docker else {
        out.push("| strict-mode figures | not measured: no Docker engine | — |".into());
        return Ok(out);
    };
    let mut runtimes_to_test = vec!["runc"];
    if runtimes.contains("runsc") {
        runtimes_to_test.push("runsc");
    } else {
        out.push("| runsc figures | not measured: runsc is not registered (scripts/setup-backends) | — |".into());
    }
    let mut cold_by_runtime = Vec::new();
    for rt in runtimes_to_test {
        fn with_runtime<'a>(b: rumi_tests::RumidBuilder<'a>, rt: &str) -> rumi_tests::RumidBuilder<'a> {
            if rt == "runsc" {
                b.env("RUMI_DOCKER_RUNTIME", "runsc")
            } else {
                b
            }
        }
        let rumid = with_runtime(Rumid::builder(&home).strict(), rt)
            .env("RUMI_LOG_LEVEL", "WARNING")
            .env("RUMI_SPARES_PER_PACK", "0")
            .spawn()?;
        anyhow::ensure!(rumid.post("/api/packs/bench/approve", None).status == 200, "approve");
        block_calls(&rumid, 2)?;
        let (c50, c99) = percentiles(block_calls(&rumid, 20)?);
        drop(rumid);
        let rumid = with_runtime(Rumid::builder(&home).strict(), rt)
            .env("RUMI_LOG_LEVEL", "WARNING")
            .spawn()?;
        block_calls(&rumid, 1)?;
        let waiting = |r: &Rumid| r.get("/api/containers").body["data"]["spares"]["waiting"].as_u64();
        let mut warm = Vec::new();
        for _ in 0..20 {
            rumi_tests::eventually("spares", Duration::from_secs(60), || {
                (waiting(&rumid) >= Some(2)).then_some(())
            })?;
            warm.extend(block_calls(&rumid, 1)?);
        }
        let (w50, w99) = percentiles(warm);
        out.push(format!(
            "| block call, strict, {rt}, cold p50 / p99 | {c50:.1} / {c99:.1} ms | — |"
        ));
        out.push(format!(
            "| block call, strict, {rt}, with a spare p50 / p99 | {w50:.1} / {w99:.1} ms | — |"
        ));
        cold_by_runtime.push(c50);
    }
    if cold_by_runtime.len() == 2 {
        out.push(format!(
            "| runsc cold ÷ runc cold (p50) | {:.2} × | — |",
            cold_by_runtime[1] / cold_by_runtime[0]
        ));
    }
    out.extend(spares_bench(&home)?);
    Ok(out)
}

/// Spares on and off at c = 1, 2, 4, 8 (10 s per run), beside the engine's raw churn at the
/// same concurrency: each level runs churn, on and off in turn, three times, so drifting load
/// on this shared machine hits all three alike; medians of 3 (`--rounds N`: of N).
fn spares_bench(home: &TestHome) -> Result<Vec<String>> {
    let mut out = Vec::new();
    // `--level-secs N`: seconds per run (10 unless given; shorter for a quick look);
    // `--rounds N`: runs of each kind per level (3 unless given; more against a noisy machine).
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str, default: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let level = Duration::from_secs(flag("--level-secs", 10));
    let rounds = flag("--rounds", 3).max(1);
    // `--levels 1,2`: only these concurrency levels (all four unless given; for a quick look).
    let levels: Vec<usize> = args
        .iter()
        .position(|a| a == "--levels")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').filter_map(|l| l.trim().parse().ok()).collect())
        .filter(|l: &Vec<usize>| !l.is_empty())
        .unwrap_or_else(|| vec![1, 2, 4, 8]);
    let start = |home: &TestHome, spares: &str| -> Result<Rumid> {
        let rumid = Rumid::builder(home)
            .strict()
            .env("RUMI_LOG_LEVEL", "WARNING")
            .env("RUMI_SPARES_PER_PACK", spares)
            .env("RUMI_MAX_CONCURRENT_FLOWS", "64")
            .spawn()?;
        anyhow::ensure!(rumid.post("/api/packs/bench/approve", None).status == 200, "approve");
        block_calls(&rumid, 2)?;
        Ok(rumid)
    };
    let on = start(home, "2")?;
    let off_home = block_home();
    let off = start(&off_home, "0")?;
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (mut best_churn, mut best_on, mut best_job): (f64, f64, f64) = (0.0, 0.0, 0.0);
    for c in levels {
        let mut churn = Vec::new();
        let mut jobs = Vec::new();
        let mut runs: [Vec<Level>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..rounds {
            churn.push(raw_churn(c, level)?);
            jobs.push(job_churn(c, level)?);
            for (i, rumid) in [&on, &off].into_iter().enumerate() {
                runs[i].push(concurrent_calls(rumid, c, level)?);
            }
        }
        let churn_rate = median(churn.iter().map(|x| x.0).collect());
        out.push(format!(
            "| raw engine churn (API create+start+wait+remove), c={c}: rate, machine CPU per container (medians of {rounds}) | {churn_rate:.1} containers/s, {:.0} ms CPU | — |",
            median(churn.iter().map(|x| x.1).collect()),
        ));
        if let Some(last) = churn.last() {
            out.push(format!(
                "| raw churn, c={c}, CPU per container by process, last run (ms) | {} | — |",
                last.2
            ));
        }
        let job_rate = median(jobs.iter().map(|x| x.0).collect());
        out.push(format!(
            "| engine churn of a block call's work without Rumi (runner, job on stdin, result), c={c}: rate, machine CPU per container (medians of {rounds}) | {job_rate:.1} containers/s, {:.0} ms CPU | — |",
            median(jobs.iter().map(|x| x.1).collect()),
        ));
        best_job = best_job.max(job_rate);
        for (i, name) in ["on", "off"].into_iter().enumerate() {
            let r = &runs[i];
            let rate = median(r.iter().map(|x| x.0).collect());
            out.push(format!(
                "| spares {name}, c={c}: calls/s (÷ churn), p50, p99, machine CPU per call (medians of {rounds}) | {rate:.1} calls/s ({:.0} %), {:.0} ms, {:.0} ms, {:.0} ms CPU | on never worse than off |",
                rate / churn_rate.max(f64::EPSILON) * 100.0,
                median(r.iter().map(|x| x.1).collect()),
                median(r.iter().map(|x| x.2).collect()),
                median(r.iter().map(|x| x.3).collect()),
            ));
            if let Some(last) = r.last() {
                out.push(format!(
                    "| spares {name}, c={c}, CPU per call by process, last run (ms) | {} | — |",
                    last.4
                ));
            }
        }
        best_churn = best_churn.max(churn_rate);
        best_on = best_on.max(median(runs[0].iter().map(|x| x.0).collect()));
    }
    let summary = on.get("/api/containers").body["data"]["spares"].clone();
    out.push(format!(
        "| spares on: claims / misses over the levels | {} / {} | — |",
        summary["claims"], summary["misses"]
    ));
    out.push(format!(
        "| sustained calls/s with spares (best level) ÷ raw churn (best level) | {best_on:.1} ÷ {best_churn:.1} = {:.0} % | ≥ 90 % |",
        best_on / best_churn.max(f64::EPSILON) * 100.0
    ));
    out.push(format!(
        "| sustained calls/s with spares (best level) ÷ the same work's churn without Rumi (best level) | {best_on:.1} ÷ {best_job:.1} = {:.0} % | — |",
        best_on / best_job.max(f64::EPSILON) * 100.0
    ));
    Ok(out)
}

/// Approval hashing: the wall time of approving a pack of 256 MiB (every file hashed, the
/// record signed and written) against `sha256sum` of the same files, page cache warm.
fn hashing_bench() -> Result<Vec<String>> {
    const FILES: usize = 32;
    const FILE_BYTES: usize = 8 * 1024 * 1024;
    let home = TestHome::new();
    home.add_pack("hashbench");
    let dir = home.path().join("ecosystem/hashbench/backend/data");
    std::fs::create_dir_all(&dir)?;
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut paths = Vec::new();
    for i in 0..FILES {
        let mut buf = vec![0u8; FILE_BYTES];
        for chunk in buf.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        let p = dir.join(format!("blob{i:02}.bin"));
        std::fs::write(&p, &buf)?;
        paths.push(p);
    }
    let total_mib = (FILES * FILE_BYTES) as f64 / (1024.0 * 1024.0);
    let sha256sum = || -> Result<Duration> {
        let t = Instant::now();
        let ok = std::process::Command::new("sha256sum")
            .args(&paths)
            .stdout(std::process::Stdio::null())
            .status()?
            .success();
        anyhow::ensure!(ok, "sha256sum failed");
        Ok(t.elapsed())
    };
    sha256sum()?;
    let coreutils = (0..3).map(|_| sha256sum()).collect::<Result<Vec<_>>>()?;
    let coreutils = coreutils.into_iter().min().unwrap_or_default();
    let rumid = Rumid::builder(&home).env("RUMI_LOG_LEVEL", "WARNING").spawn()?;
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let r = rumid.post("/api/packs/hashbench/approve", None);
        anyhow::ensure!(r.status == 200, "approve: {:?}", r.body);
        best = best.min(t.elapsed());
    }
    let rumi = total_mib / best.as_secs_f64();
    let core = total_mib / coreutils.as_secs_f64();
    Ok(vec![
        format!(
            "| approval hashing, {total_mib:.0} MiB in {FILES} files (approve call, best of 3) | {rumi:.0} MiB/s | ≥ 50 % of sha256sum |"
        ),
        format!("| `sha256sum` of the same files (best of 3) | {core:.0} MiB/s | — |"),
        format!(
            "| approval hashing ÷ sha256sum | {:.0} % | ≥ 50 % |",
            100.0 * rumi / core
        ),
    ])
}

fn rss_kib(pid: u32) -> Result<u64> {
    rumi_tests::proc_kib(pid, "VmRSS").context("VmRSS not found")
}

/// Hostile packs against the helpers (`--hostile`): helper RSS while 100 connections hold
/// half-sent frames, and the audit bytes written per second under refusal floods.
fn hostile_bench() -> Result<Vec<String>> {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    const CONNS: usize = 100;
    const FLOOD: Duration = Duration::from_secs(5);
    const THREADS: usize = 4;
    let home = TestHome::new();
    home.add_pack("evil");
    home.add_pack("good");
    let rumid = Rumid::builder(&home).env("RUMI_LOG_LEVEL", "WARNING").spawn()?;
    for p in ["evil", "good"] {
        let r = rumid.post(&format!("/api/packs/{p}/approve"), None);
        anyhow::ensure!(r.status == 200, "approve {p}: {:?}", r.body);
    }
    rumid.wait_policy_applied();
    let helpers = rumid.wait_helpers_up()?;
    let pid = |name: &str| -> Result<u32> { Ok(helpers[name]["pid"].as_u64().context("helper pid")? as u32) };
    let (capd, egressd) = (pid("capd")?, pid("egressd")?);
    let cap = rumid.capability_socket(&home, "evil");
    let egress = rumid.egress_socket(&home, "evil");
    wait_socket(&cap)?;
    wait_socket(&egress)?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut out = Vec::new();

    // Half-sent frames: a length header, then `body` bytes of the payload, never the rest.
    let hold = |socket: &std::path::Path, declared: u32, body: usize| -> Result<Vec<UnixStream>> {
        let chunk = vec![b' '; body];
        (0..CONNS)
            .map(|_| {
                let mut s = UnixStream::connect(socket)?;
                s.set_write_timeout(Some(Duration::from_secs(10)))?;
                s.write_all(&declared.to_be_bytes())?;
                let _ = s.write_all(&chunk); // a refused frame is answered and closed
                Ok(s)
            })
            .collect()
    };
    for (name, pid, socket, max) in [
        ("rumi-capd", capd, &cap, 4u32 << 20),
        ("rumi-egressd", egressd, &egress, 1u32 << 20),
    ] {
        let idle = rss_kib(pid)?;
        let conns = hold(socket, max, 0)?;
        std::thread::sleep(Duration::from_secs(1));
        let header_only = rss_kib(pid)?;
        drop(conns);
        let conns = hold(socket, max, max as usize - 1024)?;
        std::thread::sleep(Duration::from_secs(1));
        let almost = rss_kib(pid)?;
        let buffered = rumid.get("/api/health").body["data"]["helpers"][if pid == capd { "capd" } else { "egressd" }]
            ["frame_bytes_buffered"]
            .as_u64()
            .unwrap_or(0);
        drop(conns);
        out.push(format!(
            "| {name} RSS, {CONNS} connections each sending a {} MiB length header and nothing more (idle {:.1} MiB) | {:.1} MiB | ≤ 64 MiB |",
            max >> 20,
            mib(idle),
            mib(header_only)
        ));
        out.push(format!(
            "| {name} RSS, {CONNS} connections each sending all but the last KiB of a {} MiB frame | {:.1} MiB ({:.1} MiB buffered) | ≤ 64 MiB |",
            max >> 20,
            mib(almost),
            buffered as f64 / 1048576.0
        ));
    }

    // Refusal floods: THREADS threads of refused calls for FLOOD; audit bytes per second.
    let audit_bytes = || -> u64 {
        std::fs::read_dir(home.path().join("user_data/audit"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum()
    };
    let settle = || {
        // The last summary line comes within one summary period (5 s) of the flood's end.
        std::thread::sleep(Duration::from_secs(6));
    };
    let floods: [(&str, std::path::PathBuf, serde_json::Value); 2] = [
        (
            "capability call to a permission that does not exist",
            cap.clone(),
            json!({"permission_id": "no.such.permission", "args": {"pad": "x".repeat(900)}}),
        ),
        (
            "egress request to an ungranted host",
            egress.clone(),
            json!({"method": "GET", "url": format!("http://example.com/{}", "x".repeat(900))}),
        ),
    ];
    for (what, socket, request) in floods {
        settle();
        let before = audit_bytes();
        let sent = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (sent, stop, socket, request) = (sent.clone(), stop.clone(), socket.clone(), request.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if frame_call(&socket, &request).is_ok() {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(FLOOD);
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            let _ = t.join();
        }
        let t = Instant::now();
        let r = rumid.get("/api/audit/recent?limit=5");
        let recent_ms = t.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(r.status == 200, "audit/recent: {:?}", r.body);
        settle();
        let written = audit_bytes() - before;
        let n = sent.load(Ordering::Relaxed);
        out.push(format!(
            "| audit written under a refusal flood: {THREADS} threads, {what}, {}s ({n} refused, {:.0}/s) | {:.1} KiB/s | ≤ 1 MiB/s |",
            FLOOD.as_secs(),
            n as f64 / FLOOD.as_secs_f64(),
            written as f64 / 1024.0 / FLOOD.as_secs_f64()
        ));
        out.push(format!(
            "| `GET /api/audit/recent?limit=5` right after that flood | {recent_ms:.1} ms | — |"
        ));
    }
    Ok(out)
}

/// Descriptor exhaustion (`--hostile`, `--fd-attack`): a well-behaved pack's `store.get`
/// (a new connection per call, as the SDK makes) while another pack opens and holds as many
/// connections as it can to its own egress and capability sockets, the helpers running with
/// 4096 descriptors. Prints p50 / p99 / max before and during the attack, and failed calls.
fn fd_attack_bench() -> Result<Vec<String>> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    use std::os::unix::net::UnixStream;
    const HELPER_FILES: u64 = 4096;
    const ATTACK: Duration = Duration::from_secs(15);
    const CALLS_BEFORE: usize = 500;
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE)?;
    let per_socket = usize::try_from(soft.saturating_sub(1000))
        .unwrap_or(usize::MAX)
        .min(20_000)
        / 2;
    anyhow::ensure!(
        per_socket >= 4000,
        "raise the open-file limit (ulimit -n) to at least 10000"
    );

    let home = TestHome::new();
    home.add_pack("evil");
    home.add_pack("good");
    let rumid = Rumid::builder(&home)
        .open_files(HELPER_FILES)
        .env("RUMI_LOG_LEVEL", "WARNING")
        .spawn()?;
    for p in ["evil", "good"] {
        let r = rumid.post(&format!("/api/packs/{p}/approve"), None);
        anyhow::ensure!(r.status == 200, "approve {p}: {:?}", r.body);
    }
    let r = rumid.post(
        "/api/stores/create",
        Some(&json!({"store_id": "notes", "owner_pack": "good"})),
    );
    anyhow::ensure!(r.status == 200, "store: {:?}", r.body);
    rumid.grant_capability("good", "store.get", json!({"allowed_store_ids": ["notes"]}));
    rumid.grant_capability("good", "store.set", json!({"allowed_store_ids": ["notes"]}));
    let good = rumid.capability_socket(&home, "good");
    wait_socket(&good)?;
    let set = json!({"permission_id": "store.set", "args": {"store_id": "notes", "key": "k", "value": "v"}});
    anyhow::ensure!(frame_call(&good, &set)?["success"] == true, "store.set");
    let sockets = [
        rumid.egress_socket(&home, "evil"),
        rumid.capability_socket(&home, "evil"),
    ];
    for s in &sockets {
        wait_socket(s)?;
    }
    let get = json!({"permission_id": "store.get", "args": {"store_id": "notes", "key": "k"}});
    let call = || -> (Duration, bool) {
        let t = Instant::now();
        let ok = rumi_tests::frame_call_within(&good, &get, Duration::from_secs(5)).is_ok_and(|r| r["success"] == true);
        (t.elapsed(), ok)
    };
    let baseline: Vec<Duration> = (0..CALLS_BEFORE).map(|_| call().0).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = sockets
        .iter()
        .cloned()
        .map(|socket| {
            let (stop, opened) = (stop.clone(), opened.clone());
            std::thread::spawn(move || {
                let mut held = Vec::with_capacity(per_socket);
                while !stop.load(Ordering::Relaxed) {
                    match UnixStream::connect(&socket) {
                        Ok(s) => {
                            held.push(s);
                            opened.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(1)),
                    }
                    if held.len() >= per_socket {
                        held.clear();
                    }
                }
            })
        })
        .collect();
    while opened.load(Ordering::Relaxed) < 2000 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = Instant::now();
    let (mut during, mut failed) = (Vec::new(), 0usize);
    while started.elapsed() < ATTACK {
        let (took, ok) = call();
        during.push(took);
        failed += usize::from(!ok);
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let refused: u64 = ["egressd", "capd"]
        .iter()
        .map(|h| {
            rumid.get("/api/health").body["data"]["helpers"][h]["connections_refused"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum();
    let max_ms = |v: &[Duration]| v.iter().max().map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    let (b50, b99) = percentiles(baseline.clone());
    let n = during.len();
    let worst = max_ms(&during);
    let (d50, d99) = percentiles(during);
    Ok(vec![
        format!(
            "| good pack `store.get` (new connection per call), no attack: p50 / p99 / max ({CALLS_BEFORE} calls) | {b50:.2} / {b99:.2} / {:.2} ms | — |",
            max_ms(&baseline)
        ),
        format!(
            "| good pack `store.get` during the fd attack ({per_socket} connections held per socket, 2 sockets, helpers at {HELPER_FILES} descriptors, {}s; {} connections opened, {refused} refused): p50 / p99 / max ({n} calls, {failed} failed) | {d50:.2} / {d99:.2} / {worst:.2} ms | ≤ 50 ms p99 |",
            ATTACK.as_secs(),
            opened.load(Ordering::Relaxed)
        ),
    ])
}

/// Grant writes against a growing number of grants (`--grants`): at each level, `WRITES`
/// sequential network grant writes (the same pack's grant rewritten, so the count stays
/// put), as writes per second and p50 / p99 latency; then the RSS of rumid and the helpers
/// once 10,000 grants are held and pushed.
fn grants_bench() -> Result<Vec<String>> {
    const WRITES: usize = 400;
    const LEVELS: [usize; 3] = [0, 1_000, 8_000];
    const HELD: usize = 10_000;
    const FILLERS: usize = 4;
    let home = TestHome::new();
    home.add_pack("bench");
    let rumid = Rumid::builder(&home).env("RUMI_LOG_LEVEL", "WARNING").spawn()?;
    anyhow::ensure!(rumid.post("/api/packs/bench/approve", None).status == 200, "approve");
    let grant = |pack: &str, port: u64| -> Result<()> {
        let r = rumid.post(
            "/api/network/grant",
            Some(&json!({"pack_id": pack, "allowed_domains": ["api.example.com", "*.cdn.example.net"], "allowed_ports": [443, port]})),
        );
        anyhow::ensure!(r.status == 200, "grant {pack}: {:?}", r.body);
        Ok(())
    };
    // Grants of packs that are not installed: stored, signed and pushed like any other.
    let fill = |from: usize, to: usize| -> Result<()> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..FILLERS)
                .map(|t| {
                    scope.spawn(move || -> Result<()> {
                        for i in (from + t..to).step_by(FILLERS) {
                            grant(&format!("filler-{i:05}"), 8000 + (i % 1000) as u64)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().map_err(|_| anyhow::anyhow!("filler panicked"))?)
        })
    };
    let mut out = Vec::new();
    let mut held = 0;
    for level in LEVELS {
        fill(held, level)?;
        held = level;
        rumid.wait_policy_applied();
        let t = Instant::now();
        let times: Vec<Duration> = (0..WRITES)
            .map(|i| {
                let t = Instant::now();
                grant("bench", 1000 + i as u64).map(|()| t.elapsed())
            })
            .collect::<Result<_>>()?;
        let rate = WRITES as f64 / t.elapsed().as_secs_f64();
        let (p50, p99) = percentiles(times);
        out.push(format!(
            "| network grant writes, {WRITES} sequential, with {level} other grants | {rate:.0} writes/s (p50 / p99 {p50:.2} / {p99:.2} ms) | same at every level |"
        ));
    }
    fill(held, HELD)?;
    rumid.wait_policy_applied();
    std::thread::sleep(Duration::from_secs(2));
    let helpers = rumid.wait_helpers_up()?;
    let mib = |pid: u32| -> Result<f64> { Ok(rss_kib(pid)? as f64 / 1024.0) };
    let helper = |name: &str| -> Result<f64> { mib(helpers[name]["pid"].as_u64().context("helper pid")? as u32) };
    out.push(format!(
        "| RSS with {HELD} network grants: rumid / rumi-egressd / rumi-capd | {:.1} / {:.1} / {:.1} MiB | — |",
        mib(rumid.pid())?,
        helper("egressd")?,
        helper("capd")?
    ));
    Ok(out)
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
