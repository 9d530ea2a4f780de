//! Requests whose body trickles in: whole headers with `Content-Length: 1000`, then a byte
//! every so often. The body has a deadline (`--body-timeout`): past it the request is answered
//! 408, the connection closed and the client's address logged. And the gateway's own
//! management client has a listener of its own, so while clients hold every place of theirs,
//! notifications are still delivered.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{gateway, next_json_within, open, token, wait_for};
use hermes_core::Notification;
use hermes_local::Options;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;

/// A development call whose 1000-byte body comes one byte every `every` (the headers at once);
/// the end the gateway's answer is read from.
async fn slow_body(addr: std::net::SocketAddr, every: Duration) -> OwnedReadHalf {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = tcp.into_split();
    tokio::spawn(async move {
        let head = format!(
            "POST /_hermes/notifications HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: 1000\r\n\r\n"
        );
        if write.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for b in "trickled-body-".bytes().cycle().take(1000) {
            if write.write_all(&[b]).await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    });
    read
}

/// Everything the gateway sends until it closes the connection; panics after `within`.
async fn answer(read: &mut OwnedReadHalf, within: Duration) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(within, read.read_to_end(&mut out))
        .await
        .expect("the gateway answered and closed in time")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_body_that_trickles_in_is_cut_off_at_its_deadline() {
    let gw = gateway(Options {
        body_read_timeout: Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let began = Instant::now();
    let mut read = slow_body(gw.addr, Duration::from_millis(200)).await;
    let text = answer(&mut read, Duration::from_secs(10)).await;
    let took = began.elapsed();
    eprintln!("a trickling body: answered and closed after {took:?}");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    wait_for(|| gw.open_connections() == 0).await;
}

/// 99 trickling bodies against a cap of 36 connections (20 WebSockets and 16 more): each is
/// cut off at its deadline, so the ones waiting in the kernel's backlog, then a WebSocket,
/// get their turn.
#[tokio::test]
async fn trickling_bodies_held_to_the_connection_cap_do_not_lock_out_new_clients() {
    let gw = gateway(Options {
        max_connections: 20,
        body_read_timeout: Duration::from_secs(2),
        ..Options::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..99 {
        held.push(slow_body(gw.addr, Duration::from_secs(1)).await);
    }
    wait_for(|| gw.open_connections() == 36).await;
    let t = token(&gw, 1, "LATE").await;
    let began = Instant::now();
    let ws = tokio::time::timeout(Duration::from_secs(30), open(&gw, &t))
        .await
        .expect("a new client got in while 99 trickling bodies came and went");
    eprintln!(
        "99 trickling bodies, 36 places: a new WebSocket got in after {:?}",
        began.elapsed()
    );
    assert!(ws.is_ok(), "{ws:?}");
}

/// Every place of the clients' listener held by a trickling body (its deadline far off): a
/// notification is still delivered at once, the management client posting to a listener of
/// its own.
#[tokio::test]
async fn the_gateways_own_posts_do_not_wait_behind_client_connections() {
    let gw = gateway(Options {
        max_connections: 20,
        body_read_timeout: Duration::from_secs(60),
        ..Options::default()
    })
    .await;
    let mut page = open(&gw, &token(&gw, 1, "R").await).await.unwrap();
    wait_for(|| gw.live_connections() == 1).await;
    let mut held = Vec::new();
    for _ in 0..99 {
        held.push(slow_body(gw.addr, Duration::from_secs(1)).await);
    }
    wait_for(|| gw.open_connections() == 36).await;
    let began = Instant::now();
    let note = Notification::new(1, "R", json!({"type": "info", "data": "through"}));
    gw.queue().unwrap().send(&note).await.unwrap();
    let frame = next_json_within(&mut page, Duration::from_secs(5)).await;
    eprintln!(
        "every client place held: the notification was delivered in {:?}",
        began.elapsed()
    );
    assert_eq!(frame["data"]["data"], "through");
    assert_eq!(
        gw.open_connections(),
        36,
        "the trickling bodies still hold theirs"
    );
}

/// The binary logs a missed deadline once, with the client's address, never the body.
#[tokio::test]
async fn a_missed_deadline_is_logged_once_with_the_client_address_and_not_the_body() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hermes-local"))
        .args(["--port", "0", "--body-timeout", "1"])
        .env_remove("HERMES_BACKEND")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let next_line = |within: Duration| rx.recv_timeout(within).ok();
    let addr: std::net::SocketAddr = loop {
        let line = next_line(Duration::from_secs(30)).expect("hermes-local started");
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().parse().unwrap();
        }
        lines.push(line);
    };
    let mut read = slow_body(addr, Duration::from_millis(100)).await;
    let client = read.local_addr().unwrap();
    let text = answer(&mut read, Duration::from_secs(10)).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    // Give the log a moment, then stop the gateway.
    while let Some(line) = next_line(Duration::from_secs(1)) {
        lines.push(line);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let missed: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("request body not received in time"))
        .collect();
    assert_eq!(missed.len(), 1, "{lines:#?}");
    assert!(missed[0].contains(&client.to_string()), "{}", missed[0]);
    assert!(!lines.iter().any(|l| l.contains("trickled-body")), "{lines:#?}");
}
