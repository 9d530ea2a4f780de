//! Recovery as an amplifier: a `recover` frame is ~70 bytes, a recovery up to 100 frames of
//! 128 KB. A room held 100 notifications of 120 KB; 32 sockets sent 8 `recover` frames each
//! from `since: 0` (256 frames, 18 KB): the clients read 3.07 GB and the gateway grew from
//! 57 MiB to 3.3 GiB. Here at a smaller scale: the send handler runs one recovery per
//! connection at a time, at a bounded rate (its recovery lease), so 8 asks in a row get one
//! recovery's worth; and what the recoveries post counts against the gateway's cap on
//! queued bytes.

mod common;

use std::time::{Duration, Instant};

use common::{gateway, open, token, wait_for};
use futures::{SinkExt, StreamExt};
use hermes_core::Notification;
use hermes_local::{Gateway, Options};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const MIB: usize = 1024 * 1024;
const NOTES: usize = 20;
const SOCKETS: usize = 16;
const ASKS: usize = 8;
const PAD: usize = 120_000;

/// What one socket read after asking `ASKS` times.
#[derive(Debug, Default)]
struct Read {
    /// Notification frames (they carry a `seq`).
    frames: usize,
    /// `{"hermes": "recovered", ...}` answers.
    recovered: usize,
    /// Anything else (the answers to refused asks).
    other: usize,
    bytes: usize,
    /// The close code, if the gateway closed the socket.
    closed: Option<u16>,
}

/// `NOTES` notifications of 120 KB in the room's history; its epoch.
async fn history(gw: &Gateway, room: &str) -> String {
    let queue = gw.queue().unwrap();
    let pad = "x".repeat(PAD);
    for n in 0..NOTES {
        let note = Notification::new(1, room, json!({"type": "info", "data": n, "pad": pad}));
        queue.send(&note).await.unwrap();
    }
    let body = json!({ "room_id": room }).to_string();
    for _ in 0..1000 {
        let (status, answer) = common::http(
            gw,
            "POST",
            "/_hermes/position",
            &[("Content-Type", "application/json")],
            &body,
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        let at: Value = serde_json::from_str(&answer).unwrap();
        if at["seq"] == NOTES {
            return at["epoch"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the history did not reach {NOTES} in 20 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn eight_recovers_in_a_row_get_one_recoverys_worth() {
    let cap = 64 * MIB;
    let gw = gateway(Options {
        max_total_queued_bytes: cap,
        ..Options::default()
    })
    .await;
    let epoch = history(&gw, "AMP").await;
    let mut sockets = Vec::new();
    for user in 0..SOCKETS as i64 {
        sockets.push(open(&gw, &token(&gw, user, "AMP").await).await.unwrap());
    }
    wait_for(|| gw.live_connections() == SOCKETS).await;

    let ask = json!({"action": "recover", "since": 0, "epoch": epoch}).to_string();
    let began = Instant::now();
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| {
            let ask = ask.clone();
            tokio::spawn(async move {
                for _ in 0..ASKS {
                    ws.feed(Message::Text(ask.clone().into())).await.unwrap();
                }
                ws.flush().await.unwrap();
                // Everything that comes, until nothing has for 3 s.
                let mut r = Read::default();
                while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(3), ws.next()).await {
                    match m {
                        Message::Text(t) => {
                            r.bytes += t.len();
                            let v: Value = serde_json::from_str(&t).unwrap();
                            if v.get("seq").is_some() && v.get("hermes").is_none() {
                                r.frames += 1;
                            } else if v["hermes"] == "recovered" {
                                r.recovered += 1;
                            } else {
                                r.other += 1;
                            }
                        }
                        Message::Close(f) => {
                            r.closed = f.map(|f| u16::from(f.code));
                            break;
                        }
                        _ => {}
                    }
                }
                r
            })
        })
        .collect();
    let mut reads = Vec::new();
    for r in readers {
        reads.push(r.await.unwrap());
    }
    let took = began.elapsed();
    let (_, peak) = gw.queued_bytes();
    let frames: usize = reads.iter().map(|r| r.frames).sum();
    let bytes: usize = reads.iter().map(|r| r.bytes).sum();
    eprintln!(
        "{SOCKETS} sockets x {ASKS} recovers of {NOTES} frames of 120 KB: {frames} frames, {} MiB \
         read in {took:?} (one recovery each: {} frames); peak queued {peak} bytes (cap {cap}); \
         per socket: {:?}",
        bytes / MIB,
        SOCKETS * NOTES,
        reads
            .iter()
            .map(|r| (r.frames, r.recovered, r.other, r.closed))
            .collect::<Vec<_>>()
    );
    assert!(peak <= cap, "queued {peak} bytes, cap {cap}");
    for (i, r) in reads.iter().enumerate() {
        assert_eq!(r.closed, None, "socket {i} was closed: {r:?}");
        assert_eq!(
            r.recovered, 1,
            "socket {i}: one recovery per lease, not {ASKS}: {r:?}"
        );
        assert_eq!(r.frames, NOTES, "socket {i}: one recovery's worth: {r:?}");
        assert!(r.other < ASKS, "socket {i}: {r:?}");
    }
    // One recovery's worth each, and the refusals' few bytes: not 8 times that.
    let one_round = SOCKETS * NOTES * (PAD + 1024);
    assert!(
        bytes <= one_round,
        "clients read {bytes} bytes; one recovery each is {one_round}"
    );
}
