//! A client that floods its room: 2,000 `sendMessage` frames as fast as TCP takes them. The
//! gateway bounds the frames it handles at once (per socket and overall) and the management
//! posts in flight, so its file descriptors stay bounded, nothing is lost, and a client in
//! another room still gets through. Alone in its own test binary: it counts the process's
//! open descriptors, which other tests would disturb.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{gateway, next_json_within, open, token, wait_for};
use futures::{SinkExt, StreamExt};
use hermes_local::Options;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

const FRAMES: usize = 2_000;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_is_held_back_and_other_rooms_get_through() {
    let opts = Options {
        max_posts: 8,
        max_routes: 32,
        max_routes_per_connection: 4,
        ..Options::default()
    };
    let gw = gateway(opts.clone()).await;
    let flooder = open(&gw, &token(&gw, 1, "FLOOD").await).await.unwrap();
    let mut reader = open(&gw, &token(&gw, 2, "FLOOD").await).await.unwrap();
    let mut other = open(&gw, &token(&gw, 3, "QUIET").await).await.unwrap();
    wait_for(|| gw.live_connections() == 3).await;

    // Descriptors, sampled from a plain thread so a busy runtime cannot hide a peak.
    let baseline = open_fds();
    let peak = Arc::new(AtomicUsize::new(baseline));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(open_fds(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };

    let (mut sink, mut echoes) = flooder.split();
    // The flooder reads its own echoes, as a browser would.
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = echoes.next().await {} });
    let flood = tokio::spawn(async move {
        for i in 0..FRAMES {
            let frame = json!({"action": "sendMessage", "data": i}).to_string();
            sink.feed(Message::Text(frame.into())).await.unwrap();
        }
        sink.flush().await.unwrap();
        sink
    });

    // Another room, mid-flood: its message goes through in good time.
    other
        .send(Message::Text(
            r#"{"action":"sendMessage","data":"still here"}"#.into(),
        ))
        .await
        .unwrap();
    let answer = next_json_within(&mut other, Duration::from_secs(20)).await;
    assert_eq!(answer["data"], "still here");

    // Every flooded frame reaches the flooder's room, none lost.
    let mut seen = BTreeSet::new();
    while seen.len() < FRAMES {
        let f = next_json_within(&mut reader, Duration::from_secs(60)).await;
        seen.insert(f["data"].as_u64().expect("a flooded frame"));
    }
    assert_eq!(seen, (0..FRAMES as u64).collect());

    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    // Each post in flight may hold two descriptors (the management client's connection and
    // the gateway's end of it); the rest is slack for the runtime and the test's clients.
    let grown = peak.load(Ordering::Relaxed).saturating_sub(baseline);
    let bound = 2 * opts.max_posts + 64;
    assert!(
        grown <= bound,
        "descriptors grew by {grown} during the flood (bound {bound})"
    );
    let _sink = flood.await.unwrap();
    drain.abort();
}
