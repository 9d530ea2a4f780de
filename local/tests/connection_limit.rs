//! `--max-connections` under a concurrent burst: a place is reserved before the authorizer
//! runs, so upgrades in flight at once cannot all pass the limit.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{gateway, open, token, wait_for};
use hermes_local::Options;
use tokio_tungstenite::tungstenite;

const LIMIT: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_three_times_the_limit_gets_exactly_the_limit() {
    let gw = Arc::new(
        gateway(Options {
            max_connections: LIMIT,
            ..Options::default()
        })
        .await,
    );
    let mut tokens = Vec::new();
    for user in 0..3 * LIMIT as i64 {
        tokens.push(token(&gw, user, "BURST").await);
    }
    // What presence would say (the room's rows), sampled through the burst.
    let sampling = Arc::new(AtomicBool::new(true));
    let most = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (gw, sampling, most) = (gw.clone(), sampling.clone(), most.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                let rows = gw.connections().room("BURST").await.unwrap().len();
                most.fetch_max(rows.max(gw.live_connections()), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let start = Arc::new(tokio::sync::Barrier::new(tokens.len()));
    let attempts: Vec<_> = tokens
        .into_iter()
        .map(|t| {
            let (gw, start) = (gw.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                open(&gw, &t).await
            })
        })
        .collect();
    let (mut open_sockets, mut refused) = (Vec::new(), Vec::new());
    for a in attempts {
        match a.await.unwrap() {
            Ok(ws) => open_sockets.push(ws),
            Err(tungstenite::Error::Http(r)) => refused.push(r.status().as_u16()),
            Err(e) => panic!("neither 101 nor an HTTP refusal: {e}"),
        }
    }
    // The rows of the sockets that got in are written before their 101.
    wait_for(|| gw.live_connections() == open_sockets.len()).await;
    sampling.store(false, Ordering::Relaxed);
    sampler.await.unwrap();
    eprintln!(
        "burst of {}: {} upgraded, {} refused, at most {} at once",
        3 * LIMIT,
        open_sockets.len(),
        refused.len(),
        most.load(Ordering::Relaxed)
    );
    assert_eq!(open_sockets.len(), LIMIT, "101s");
    assert_eq!(refused, vec![429; 2 * LIMIT]);
    assert!(
        most.load(Ordering::Relaxed) <= LIMIT,
        "presence reached {}",
        most.load(Ordering::Relaxed)
    );
    assert_eq!(gw.connections().room("BURST").await.unwrap().len(), LIMIT);

    // The places come back when sockets close: as many new upgrades get in, no more.
    for ws in open_sockets.drain(..5) {
        drop(ws);
    }
    wait_for(|| gw.live_connections() == LIMIT - 5).await;
    for user in 100..105 {
        open_sockets.push(open(&gw, &token(&gw, user, "BURST").await).await.unwrap());
    }
    match open(&gw, &token(&gw, 200, "BURST").await).await {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 429),
        other => panic!("past the limit: {:?}", other.map(|_| "101")),
    }
}
