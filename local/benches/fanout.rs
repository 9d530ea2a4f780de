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
//!
//! `FANOUT_MODE=stream`: the same clients as pages of nobody (a streams token), each
//! subscribed to the stream `bench` (one name a frame) and then to 9 more (one frame), each
//! subscribe timed from the frame written to the `subscribed` answer; the gateway's RSS per
//! socket idle and with 10 streams; then broadcasts to `bench` (what `Hermes.broadcast` and
//! Turbo Streams send), timed and costed as the room's notifications are.

use std::io::{Read, Write};
use std::net::TcpStream as StdTcp;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hermes_core::stream_name::StreamKey;
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
    match std::env::var("FANOUT_MODE").as_deref() {
        Ok("stream") => stream_mode(bin, clients, messages),
        Ok("room") | Err(_) => {
            room_mode(bin, clients, messages);
            python_clients(bin, clients);
        }
        Ok(other) => panic!("FANOUT_MODE={other:?}: room (the default) or stream"),
    }
}

/// The clients share one thread, as browsers would share one core; a current-thread runtime
/// costs them the least per frame.
fn clients_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn token(port: u16, path: &str, body: &str) -> String {
    let answer: serde_json::Value = serde_json::from_str(&post(port, path, body)).unwrap();
    answer["token"].as_str().unwrap().to_owned()
}

fn per_connection(before: u64, after: u64, clients: usize) -> f64 {
    after.saturating_sub(before) as f64 / clients as f64
}

/// One notification to a room of `clients` sockets of user 1, `messages` times.
fn room_mode(bin: &str, clients: usize, messages: usize) {
    let (gw, port) = gateway(bin);
    let rt = clients_runtime();
    let token = token(port, "/_hermes/tokens", r#"{"user_id":1,"room_id":"BIG"}"#);
    let before = rss_kib(gw.id());
    let received = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let tasks = support::counting_clients(port, &token, clients, &received).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = rss_kib(gw.id());
        println!(
            "gateway RSS: {before} KiB before, {after} KiB with {clients} idle connections (Rust clients, opened one at a time): {:.1} KiB per connection",
            per_connection(before, after, clients)
        );
        fan_out(&gw, clients, messages, &received, move |i| {
            let body = format!(r#"{{"user_id":1,"room_id":"BIG","data":{{"type":"info","data":{i}}}}}"#);
            post(port, "/_hermes/notifications", &body);
        })
        .await;
        for t in tasks {
            t.abort();
        }
    });
}

/// Pages of nobody (streams tokens), each subscribed to the stream `bench` and to 9 others
/// (1,000 streams of `clients / 100` subscribers each): the subscribe round trip, the gateway's
/// memory per socket idle and with 10 streams, then one broadcast to `bench`, `messages` times.
fn stream_mode(bin: &str, clients: usize, messages: usize) {
    let (gw, port) = gateway(bin);
    let rt = clients_runtime();
    let token = token(port, "/_hermes/streams/token", "{}");
    let key = StreamKey::development();
    let bench = vec![key.sign("bench").unwrap()];
    let others = |i: usize| -> Vec<String> {
        (0..9)
            .map(|j| {
                key.sign(&format!("gid://bench/Board/{}", (i * 9 + j) % 1000))
                    .unwrap()
            })
            .collect()
    };
    let before = rss_kib(gw.id());
    let received = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let mut pages = support::open_clients(port, &token, clients).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = rss_kib(gw.id());
        let (mut one, mut sent) = (Vec::with_capacity(clients), Vec::with_capacity(clients));
        for ws in &mut pages {
            sent.push(Instant::now());
            one.push(support::subscribe(ws, &bench).await);
        }
        let mut nine = Vec::with_capacity(clients);
        for (i, ws) in pages.iter_mut().enumerate() {
            // A socket changes its streams at most every 100 ms (docs/protocol.md).
            tokio::time::sleep_until((sent[i] + Duration::from_millis(150)).into()).await;
            nine.push(support::subscribe(ws, &others(i)).await);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let subscribed = rss_kib(gw.id());
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        for (what, times) in [("1 name", &one), ("9 names", &nine)] {
            println!(
                "subscribe round trip, socket open, {what} a frame ({} frames, one at a time): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                times.len(),
                ms(percentile(times, 0.5)),
                ms(percentile(times, 0.99)),
                ms(*times.iter().max().unwrap())
            );
        }
        println!(
            "gateway RSS: {before} KiB before, {idle} KiB with {clients} idle connections ({:.1} KiB each), {subscribed} KiB once each holds 10 streams ({:.1} KiB each: {:.1} KiB more)",
            per_connection(before, idle, clients),
            per_connection(before, subscribed, clients),
            per_connection(idle, subscribed, clients)
        );
        let tasks = support::count_frames(pages, &received);
        fan_out(&gw, clients, messages, &received, move |i| {
            post(port, "/_hermes/broadcasts", &format!(r#"{{"stream":"bench","data":{i}}}"#));
        })
        .await;
        for t in tasks {
            t.abort();
        }
    });
}

/// `messages` times: `send(i)`, then wait until every client has one more frame. Prints the
/// CPU per delivered frame and the times.
async fn fan_out(
    gw: &Killed,
    clients: usize,
    messages: usize,
    received: &AtomicUsize,
    send: impl Fn(usize) + Clone + Send + 'static,
) {
    let base = received.load(Ordering::SeqCst);
    let mut times = Vec::new();
    let (gw_cpu, own_cpu) = (cpu::process(gw.id()), cpu::own());
    let started = Instant::now();
    for i in 0..messages {
        let target = base + (i + 1) * clients;
        let t0 = Instant::now();
        let send = send.clone();
        tokio::task::spawn_blocking(move || send(i)).await.unwrap();
        while received.load(Ordering::Relaxed) < target {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "message {i} not delivered to all in 30 s"
            );
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
