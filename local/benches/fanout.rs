//! `cargo bench -p hermes-local --bench fanout` (release): one notification to a room of
//! 10,000 real WebSocket clients through a hermes-local process (memory store; the send
//! handler's lean, SigV4-signed PostToConnection over HTTP back to the gateway's management
//! API). Reports p50/p99 time from enqueue until the last client has the frame, the CPU each
//! delivered frame cost the gateway and the clients (the figure that moves less than wall time
//! on a shared machine), and the gateway's RSS per idle connection, measured again on a fresh
//! gateway with 10,000 connections from Python's `websockets` (another client: other headers,
//! a compression offer), when FANOUT_PYTHON names a Python that has it (script/bench-fanout
//! sets that up). `FANOUT_TRACE=1` also prints every message's time in order;
//! `FANOUT_CLIENTS` (10,000) and `FANOUT_MESSAGES` (100) size it. Loopback only; bounded: it
//! stops by itself. Needs `ulimit -n` above the clients plus 100.

use std::io::{Read, Write};
use std::net::TcpStream as StdTcp;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hermes_testkit::{cpu, env_num, free_port, percentile, rss_kib, wait_listening, Killed};

mod support;

fn post(port: u16, path: &str, body: &str) -> String {
    let mut s = StdTcp::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
}

/// A hermes-local process listening on a free loopback port (memory backend, warnings only),
/// killed when dropped.
fn gateway(bin: &str) -> (Killed, u16) {
    let port = free_port();
    let gw = Killed(
        Command::new(bin)
            .args(["--port", &port.to_string()])
            .env_remove("HERMES_BACKEND")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_listening(port, Duration::from_secs(20), "hermes-local");
    (gw, port)
}

fn main() {
    let clients = env_num("FANOUT_CLIENTS", 10_000);
    let messages = env_num("FANOUT_MESSAGES", 100);
    let bin = env!("CARGO_BIN_EXE_hermes-local");
    let (gw, port) = gateway(bin);
    // The clients share one thread, as browsers would share one core; a current-thread
    // runtime costs them the least per frame.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let token: serde_json::Value =
        serde_json::from_str(&post(port, "/_hermes/tokens", r#"{"user_id":1,"room_id":"BIG"}"#)).unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let before = rss_kib(gw.id());
    let received = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let tasks = support::counting_clients(port, &token, clients, &received).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = rss_kib(gw.id());
        println!(
            "gateway RSS: {before} KiB before, {after} KiB with {clients} idle connections (Rust clients, opened one at a time): {:.1} KiB per connection",
            (after.saturating_sub(before)) as f64 / clients as f64
        );
        let mut times = Vec::new();
        let (gw_cpu, own_cpu) = (cpu::process(gw.id()), cpu::own());
        let started = Instant::now();
        for i in 0..messages {
            let target = (i + 1) * clients;
            let t0 = Instant::now();
            let body = format!(r#"{{"user_id":1,"room_id":"BIG","data":{{"type":"info","data":{i}}}}}"#);
            tokio::task::spawn_blocking(move || post(port, "/_hermes/notifications", &body)).await.unwrap();
            while received.load(Ordering::Relaxed) < target {
                assert!(t0.elapsed() < Duration::from_secs(30), "message {i} not delivered to all in 30 s");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            times.push(t0.elapsed());
        }
        let wall = started.elapsed();
        let (gw_cpu, own_cpu) = (cpu::process(gw.id()) - gw_cpu, cpu::own() - own_cpu);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_post = |d: Duration| d.as_secs_f64() * 1e6 / (messages * clients) as f64;
        println!(
            "CPU per delivered frame: gateway {:.1} µs, the {clients} clients {:.1} µs ({:.0}% of {cores} cores for {:.1} s)",
            per_post(gw_cpu),
            per_post(own_cpu),
            (gw_cpu + own_cpu).as_secs_f64() * 100.0 / (cores as f64 * wall.as_secs_f64()),
            wall.as_secs_f64()
        );
        if std::env::var_os("FANOUT_TRACE").is_some() {
            println!("{:?}", times.iter().map(|t| t.as_millis()).collect::<Vec<_>>());
        }
        println!(
            "one message to {clients} clients, until the last has it ({messages} messages): p50 {:?}, p99 {:?}, min {:?}",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times.iter().min().unwrap()
        );
        for t in tasks {
            t.abort();
        }
    });
    drop(gw);
    python_clients(bin, clients);
}

/// Gateway memory per idle connection with Python `websockets` clients on a fresh gateway.
fn python_clients(bin: &str, clients: usize) {
    let Ok(python) = std::env::var("FANOUT_PYTHON") else {
        println!("(FANOUT_PYTHON unset: no second client implementation; script/bench-fanout sets it)");
        return;
    };
    let (gw, port) = gateway(bin);
    let token: serde_json::Value =
        serde_json::from_str(&post(port, "/_hermes/tokens", r#"{"user_id":2,"room_id":"PY"}"#)).unwrap();
    let url = format!(
        "ws://127.0.0.1:{port}/development?token={}",
        token["token"].as_str().unwrap()
    );
    let before = rss_kib(gw.id());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/ws_clients.py");
    let mut py = Killed(
        Command::new(python)
            .args([script, &url, &clients.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    let mut out = std::io::BufReader::new(py.0.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let after = rss_kib(gw.id());
    if line.trim() == format!("ready {clients}") {
        println!(
            "gateway RSS with {clients} idle Python `websockets` connections (opened {} at a time): {before} KiB before, {after} KiB after: {:.1} KiB per connection",
            std::env::var("WS_CONCURRENCY").unwrap_or_else(|_| "1".into()),
            (after.saturating_sub(before)) as f64 / clients as f64
        );
    } else {
        println!("python clients did not all connect: {line:?}");
    }
    drop(py.0.stdin.take());
}
