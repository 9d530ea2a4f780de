//! The bound on bytes queued across the whole gateway (`--max-total-queued-bytes`): clients
//! that never read cannot make it hold more, whether the frames are posted to them directly
//! or answer their own `recover`; the slowest is closed (1008) to make room, a client that
//! reads keeps getting its frames, and a closed socket's bytes are given back.
//!
//! What is measured is the gateway's own count of queued bytes (`Gateway::queued_bytes`):
//! every frame is counted from its post until it has been written or its socket dropped its
//! queue. The process's resident memory is printed alongside (`--nocapture`) but not
//! asserted: the test's clients, the kernel's buffers and the allocator's retention move it
//! too.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{
    client_frame, gateway, management_client, next_json_within, non_reading_client, non_reading_socket, open,
    rss_bytes, token, wait_for,
};
use hermes_core::push::PushError;
use hermes_core::Notification;
use hermes_local::Options;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

const MIB: usize = 1024 * 1024;

/// What one socket's flood came to.
#[derive(Default, Debug)]
struct Flood {
    accepted: usize,
    throttled: usize,
    gone: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_that_never_read_cannot_take_the_gateway_past_its_cap() {
    const SLOW: usize = 12;
    const FRAMES: usize = 160;
    const FRAME: usize = 64 * 1024;
    let cap = 8 * MIB;
    let gw = gateway(Options {
        max_queued_bytes: cap,
        max_total_queued_bytes: cap,
        ..Options::default()
    })
    .await;
    let rss_start = rss_bytes();
    let mut quiet = open(&gw, &token(&gw, 1000, "QUIET").await).await.unwrap();
    let mut slow = Vec::new();
    for i in 0..SLOW {
        slow.push(non_reading_client(&gw, i as i64, &format!("SLOW{i}")).await);
    }
    wait_for(|| gw.live_connections() == SLOW + 1).await;

    // Each socket that never reads is posted 10 MiB: more than the kernel's buffers take
    // between the two ends (the gateway's send buffer grows to 4 MiB at most), so at least
    // 6 MiB each would wait in the gateway's queue, 72 MiB in all: 9 times the cap.
    let pusher = management_client(&gw).await;
    let began = Instant::now();
    let floods: Vec<_> = slow
        .iter()
        .map(|(_, id)| {
            let (pusher, id) = (pusher.clone(), id.clone());
            tokio::spawn(async move {
                let frame = vec![b'x'; FRAME];
                let mut f = Flood::default();
                for _ in 0..FRAMES {
                    match pusher.post(&id, &frame).await {
                        Ok(()) => f.accepted += 1,
                        Err(PushError::Gone) => {
                            f.gone = true;
                            break;
                        }
                        Err(PushError::Throttled(_)) => f.throttled += 1,
                        Err(e) => panic!("post to {id}: {e}"),
                    }
                }
                f
            })
        })
        .collect();

    // Meanwhile another room's notifications go through the send handler to a client that
    // reads: every one arrives.
    let queue = gw.queue().unwrap();
    for n in 0..20 {
        let note = Notification::new(1000, "QUIET", json!({"type": "info", "data": n}));
        queue.send(&note).await.unwrap();
    }
    let mut got = HashSet::new();
    while got.len() < 20 {
        let f = next_json_within(&mut quiet, Duration::from_secs(30)).await;
        got.insert(f["data"]["data"].as_u64().unwrap());
    }
    let quiet_took = began.elapsed();

    let mut total = Flood::default();
    let mut closed = 0;
    for f in floods {
        let f = f.await.unwrap();
        total.accepted += f.accepted;
        total.throttled += f.throttled;
        closed += usize::from(f.gone);
    }
    let (_, peak) = gw.queued_bytes();
    let rss_peak = rss_bytes();
    eprintln!(
        "flood: {} posts of 64 KiB accepted ({} MiB), {} answered 429 after the client's retries, \
         {closed} of {SLOW} sockets closed; peak queued {peak} bytes (cap {cap}); the quiet room's 20 frames in {quiet_took:?}; \
         RSS {} -> {} MiB",
        total.accepted,
        total.accepted * FRAME / MIB,
        total.throttled,
        rss_start / MIB,
        rss_peak / MIB,
    );
    assert!(peak <= cap, "queued {peak} bytes, cap {cap}");
    assert!(closed > 0, "slow consumers were closed to make room");

    // The sockets go: every byte they held is given back.
    drop(slow);
    wait_for(|| gw.live_connections() == 1).await;
    wait_for(|| gw.queued_bytes().0 == 0).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    eprintln!(
        "after the sockets closed: queued {} bytes, RSS {} MiB 3 s later",
        gw.queued_bytes().0,
        rss_bytes() / MIB
    );
    assert_eq!(gw.live_connections(), 1, "the reading client is still there");
}

/// The room's position (what a page is rendered at).
async fn position(gw: &hermes_local::Gateway, room: &str) -> Value {
    let body = json!({ "room_id": room }).to_string();
    let (status, answer) = common::http(
        gw,
        "POST",
        "/_hermes/position",
        &[("Content-Type", "application/json")],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    serde_json::from_str(&answer).unwrap()
}

/// 60 notifications of 120 KB in a room's history, for the room's clients to recover.
async fn history_of_60_large_frames(gw: &hermes_local::Gateway, room: &str) -> String {
    let queue = gw.queue().unwrap();
    let big = "x".repeat(120_000);
    for n in 0..60 {
        let note = Notification::new(1, room, json!({"type": "info", "data": n, "pad": big}));
        queue.send(&note).await.unwrap();
    }
    for _ in 0..1000 {
        let at = position(gw, room).await;
        if at["seq"] == 60 {
            return at["epoch"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the history did not reach 60 in 20 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovered_frames_count_against_the_gateways_cap() {
    const SLOW: usize = 6;
    let cap = 8 * MIB;
    let gw = gateway(Options {
        max_queued_bytes: cap,
        max_total_queued_bytes: cap,
        ..Options::default()
    })
    .await;
    let epoch = history_of_60_large_frames(&gw, "HIST").await;
    let recover = json!({"action": "recover", "since": 0, "epoch": epoch}).to_string();

    // Each recovery is 60 frames of 120 KB (7.2 MB, under one socket's limit); six clients
    // that ask for one and never read would make the gateway hold 43 MB.
    let mut slow = Vec::new();
    for i in 0..SLOW {
        let mut tcp = non_reading_socket(&gw, i as i64, "HIST").await;
        tcp.write_all(&client_frame(true, 0x1, recover.as_bytes(), true))
            .await
            .unwrap();
        slow.push(tcp);
    }
    // Then a client that reads asks for the same: it gets all of it.
    let mut page = open(&gw, &token(&gw, 99, "HIST").await).await.unwrap();
    let began = Instant::now();
    futures::SinkExt::send(&mut page, Message::Text(recover.clone().into()))
        .await
        .unwrap();
    let mut seqs = Vec::new();
    let answer = loop {
        let f = next_json_within(&mut page, Duration::from_secs(60)).await;
        if f["hermes"] == "recovered" {
            break f;
        }
        seqs.push(f["seq"].as_u64().unwrap());
    };
    let page_took = began.elapsed();
    assert_eq!(seqs, (1..=60).collect::<Vec<_>>());
    assert_eq!(answer["recovered"], true, "{answer}");

    let (_, peak) = gw.queued_bytes();
    let still_open = gw.live_connections() - 1;
    eprintln!(
        "recovery: {SLOW} non-reading clients asked for 7.2 MB each; peak queued {peak} bytes \
         (cap {cap}); {} of them closed; the reading page's 60 frames in {page_took:?}",
        SLOW - still_open
    );
    assert!(peak <= cap, "queued {peak} bytes, cap {cap}");
    assert!(still_open < SLOW, "a slow consumer was closed to make room");
    drop(slow);
    wait_for(|| gw.live_connections() == 1).await;
    // What the page has read is no longer counted.
    wait_for(|| gw.queued_bytes().0 == 0).await;
}
