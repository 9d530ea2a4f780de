//! Fan-out beyond one invocation and under the account's rate limit: continuation records
//! through the queue (memory backends here; tests/large_room.rs does it on moto) and the
//! pacer against a loopback API Gateway that answers 429 above a set rate.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::config;
use common::fake_api_gateway::{self, Options};
use hermes_core::events::sqs::{SqsEvent, SqsMessage};
use hermes_core::handlers::fanout::continuation::is_continuation;
use hermes_core::handlers::fanout::Settings;
use hermes_core::handlers::Sender;
use hermes_core::push::memory::MemoryPusherFactory;
use hermes_core::push::{ApiGwPusherFactory, MemoryPusher, PushError, Pusher, PusherFactory};
use hermes_core::queue::{MemoryQueue, Queue};
use hermes_core::store::{Connection, ConnectionStore, MemoryConnectionStore};
use hermes_core::Notification;
use serde_json::json;

async fn room(store: &MemoryConnectionStore, room: &str, n: usize, users: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        // Ids in no particular order, like API Gateway's.
        let id = format!(
            "{:08x}{room}{i:06}=",
            (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32
        );
        store
            .put(&Connection {
                connection_id: id.clone(),
                room_id: room.into(),
                user_id: (i % users).to_string(),
                connected_at: 1,
                expires_at: 2,
            })
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

/// Each post takes a while, as a real round trip does.
struct Slow(Arc<MemoryPusher>, Duration);

#[async_trait]
impl Pusher for Slow {
    async fn post(&self, id: &str, data: &[u8]) -> Result<(), PushError> {
        tokio::time::sleep(self.1).await;
        self.0.post(id, data).await
    }
    async fn close(&self, id: &str) -> Result<(), PushError> {
        self.0.close(id).await
    }
}

struct SlowFactory(Arc<Slow>);
impl PusherFactory for SlowFactory {
    fn for_endpoint(&self, _: &str) -> Arc<dyn Pusher> {
        self.0.clone()
    }
}

/// Feeds the queue to the sender, one invocation per batch with `budget` to live, until the
/// queue is empty. Returns how many invocations it took and how many continuation records
/// they were given.
async fn drain(sender: &Sender, queue: &MemoryQueue, budget: Duration) -> (usize, usize) {
    let (mut invocations, mut continuations) = (0, 0);
    let give_up = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < give_up, "queue not drained in 120 s");
        let got = queue.receive(10, Duration::from_millis(600)).await.unwrap();
        if got.is_empty() {
            if queue.pending().is_empty() {
                return (invocations, continuations);
            }
            continue;
        }
        invocations += 1;
        continuations += got.iter().filter(|m| is_continuation(&m.body)).count();
        let mut ev = SqsEvent::default();
        ev.records = got
            .iter()
            .map(|m| {
                let mut r = SqsMessage::default();
                r.message_id = Some(m.message_id.clone());
                r.body = Some(m.body.clone());
                r
            })
            .collect();
        let resp = sender.handle_sqs_until(ev, Some(Instant::now() + budget)).await;
        // As SQS does: what succeeded goes; a record reported back (one the deadline left no
        // time to start) comes back after the visibility timeout.
        let failed: Vec<&str> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let handles: Vec<String> = got
            .iter()
            .filter(|m| !failed.contains(&m.message_id.as_str()))
            .map(|m| m.receipt_handle.clone())
            .collect();
        queue.delete(&handles).await.unwrap();
    }
}

#[tokio::test]
async fn a_room_larger_than_one_invocation_is_continued_until_each_connection_has_it_once() {
    let store = Arc::new(MemoryConnectionStore::new());
    let big = room(&store, "BIG", 3_000, 40).await;
    let other = room(&store, "OTHER", 50, 5).await;
    let pusher = MemoryPusher::new();
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(1)));
    // 16 posts in flight of 10 ms each: 1,600 a second at best, so a 600 ms invocation
    // (400 ms of posting) cannot finish a page of 1,000.
    let sender = Sender::new(
        store.clone(),
        Arc::new(SlowFactory(Arc::new(Slow(
            pusher.clone(),
            Duration::from_millis(10),
        )))),
        Some("https://e/dev".into()),
    )
    .with_queue(Some(queue.clone() as Arc<dyn Queue>))
    .with_settings(Settings {
        concurrency: 16,
        page_size: 1_000,
        reserve: Duration::from_millis(200),
        ..Settings::default()
    });
    let id = queue
        .send(&Notification::new(
            7,
            "BIG",
            json!({"type": "info", "data": "big news"}),
        ))
        .await
        .unwrap();
    let (invocations, continuations) = drain(&sender, &queue, Duration::from_millis(600)).await;

    let missing: Vec<&String> = big.iter().filter(|c| pusher.frames(c).is_empty()).collect();
    let twice: Vec<&String> = big.iter().filter(|c| pusher.frames(c).len() > 1).collect();
    assert!(
        missing.is_empty() && twice.is_empty(),
        "{} missing (first {:?}), {} twice (first {:?}); {invocations} invocations",
        missing.len(),
        missing.first(),
        twice.len(),
        twice.first()
    );
    let first = pusher.frames(&big[0]);
    assert_eq!(first.len(), 1);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&first[0]).unwrap(),
        json!({"user_id": "7", "data": {"type": "info", "data": "big news"}, "id": id})
    );
    for c in &big {
        assert_eq!(pusher.frames(c), first, "{c}: once, the same bytes");
    }
    for c in &other {
        assert!(pusher.frames(c).is_empty(), "{c} is in another room");
    }
    assert_eq!(pusher.total(), big.len());
    // Two for the pages split off up front, the others for deadlines.
    assert!(
        continuations > 2,
        "{continuations} continuations in {invocations} invocations"
    );
}

#[tokio::test]
async fn a_continuation_keeps_the_target_user() {
    let store = Arc::new(MemoryConnectionStore::new());
    let ids = room(&store, "R", 600, 3).await;
    let pusher = MemoryPusher::new();
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(1)));
    let sender = Sender::new(
        store.clone(),
        Arc::new(MemoryPusherFactory(pusher.clone())),
        Some("https://e/dev".into()),
    )
    .with_queue(Some(queue.clone() as Arc<dyn Queue>))
    .with_settings(Settings {
        page_size: 50,
        ..Settings::default()
    });
    let mut n = Notification::new(1, "R", json!("dm"));
    n.target_user_id = Some("2".into());
    queue.send(&n).await.unwrap();
    let (_, continuations) = drain(&sender, &queue, Duration::from_secs(10)).await;
    assert_eq!(continuations, 11, "12 pages");
    for (i, c) in ids.iter().enumerate() {
        assert_eq!(pusher.frames(c).len(), usize::from(i % 3 == 2), "{c}");
    }
}

#[tokio::test]
async fn connections_that_fail_every_attempt_are_tried_again_later_without_failing_the_record() {
    let store = Arc::new(MemoryConnectionStore::new());
    let ids = room(&store, "R", 20, 20).await;
    let pusher = MemoryPusher::new();
    pusher.fail_with(&ids[3], PushError::Unavailable("503".into()));
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(1)));
    let sender = Sender::new(
        store.clone(),
        Arc::new(MemoryPusherFactory(pusher.clone())),
        Some("https://e/dev".into()),
    )
    .with_queue(Some(queue.clone() as Arc<dyn Queue>));
    queue.send(&Notification::new(1, "R", json!("x"))).await.unwrap();
    let got = queue.receive(10, Duration::ZERO).await.unwrap();
    let mut ev = SqsEvent::default();
    let mut r = SqsMessage::default();
    r.message_id = Some(got[0].message_id.clone());
    r.body = Some(got[0].body.clone());
    ev.records = vec![r];
    let resp = sender.handle_sqs(ev).await;
    assert!(resp.batch_item_failures.is_empty(), "the record is done");
    queue.delete(&[got[0].receipt_handle.clone()]).await.unwrap();
    assert_eq!(pusher.total(), 19, "everyone else has it, once");
    assert!(
        queue.receive(10, Duration::ZERO).await.unwrap().is_empty(),
        "the retry waits"
    );

    pusher.heal(&ids[3]);
    drain(&sender, &queue, Duration::from_secs(10)).await;
    for c in &ids {
        assert_eq!(pusher.frames(c).len(), 1, "{c}");
    }
}

async fn lean_factory(endpoint: &str) -> ApiGwPusherFactory {
    let cfg = config(&[("HERMES_AWS_ENDPOINT_URL", endpoint)]);
    ApiGwPusherFactory::new(hermes_core::aws::sdk_config(&cfg).await)
}

#[tokio::test]
async fn under_the_rate_limit_the_sender_slows_down_and_everyone_gets_the_frame() {
    // 400 posts a second, 40 in a burst: API Gateway's 10,000/5,000 scaled down.
    let fake = fake_api_gateway::start(Options {
        rate: Some((400.0, 40.0)),
        ..Options::default()
    })
    .await;
    let store = Arc::new(MemoryConnectionStore::new());
    let ids = room(&store, "R", 2_000, 100).await;
    let sender = Sender::new(store.clone(), Arc::new(lean_factory(&fake.endpoint).await), None);
    let frame = hermes_core::frame::encode_frame("1", &hermes_core::frame::raw(&json!("hi")), Some("m"));
    let t0 = Instant::now();
    let d = sender.deliver(&fake.endpoint, "R", None, &frame).await.unwrap();
    let took = t0.elapsed();
    let g = fake.seen.lock().unwrap();
    println!(
        "2,000 posts against a 400/s limit: {:.1} s, {} answered 429 ({:.1}% of {} requests), {:.0} delivered/s, pacer at {:?}/s",
        took.as_secs_f64(),
        g.throttled,
        g.throttled as f64 * 100.0 / g.requests as f64,
        g.requests,
        ids.len() as f64 / took.as_secs_f64(),
        sender.paced_rate().map(|r| r.round())
    );
    assert_eq!((d.delivered, d.retryable_failures, d.rejected), (2_000, 0, 0));
    assert_eq!(d.throttled, g.throttled);
    let counts: HashMap<&String, usize> = ids
        .iter()
        .map(|i| (i, g.delivered.get(i).copied().unwrap_or(0)))
        .collect();
    assert!(counts.values().all(|&n| n == 1), "every connection once");
    // Without pacing, 64 posts in flight against 400/s draw thousands of 429s and posts
    // run out of attempts; paced, a 429 is rare.
    assert!(g.throttled <= 400, "{} throttled attempts", g.throttled);
    assert!(sender.paced_rate().is_some(), "the limit was met and paced");
}
