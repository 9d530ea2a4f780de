//! Fan-out beyond one invocation and under the account's rate limit: continuation records
//! through the queue (memory backends here; tests/large_room.rs does it on moto), records the
//! deadline leaves no time for, and the pacer against a loopback API Gateway that answers 429
//! above a set rate.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use common::config;
use common::counting_store::Counting;
use common::fake_api_gateway::{self, Options};
use hermes_core::events::sqs::SqsEvent;
use hermes_core::handlers::fanout::is_continuation;
use hermes_core::handlers::fanout::Settings;
use hermes_core::handlers::Sender;
use hermes_core::push::memory::MemoryPusherFactory;
use hermes_core::push::{ApiGwPusherFactory, MemoryPusher, PushError, Pusher, PusherFactory};
use hermes_core::queue::{handled, sqs_event, MemoryQueue, Queue};
use hermes_core::store::{
    Connection, ConnectionStore, HistoryStore, MemoryConnectionStore, MemoryHistoryStore,
};
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
                streams: Vec::new(),
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
    async fn post_once(&self, id: &str, frame: &Bytes) -> Result<(), PushError> {
        tokio::time::sleep(self.1).await;
        self.0.post_once(id, frame).await
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

fn event(got: &[hermes_core::queue::Received]) -> SqsEvent {
    sqs_event(got, "eu-west-1")
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
        let resp = sender
            .handle_sqs_until(event(&got), Some(Instant::now() + budget))
            .await;
        // As SQS does: what succeeded goes; a record reported back (one the deadline left no
        // time to start) comes back after the visibility timeout.
        queue.delete(&handled(&got, &resp)).await.unwrap();
    }
}

#[tokio::test]
async fn a_room_larger_than_one_invocation_is_continued_until_each_connection_has_it_once() {
    let store = Arc::new(Counting::new(MemoryConnectionStore::new()));
    let big = room(&store.inner, "BIG", 3_000, 40).await;
    let other = room(&store.inner, "OTHER", 50, 5).await;
    let pusher = MemoryPusher::new();
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(1)));
    let history = Arc::new(MemoryHistoryStore::default());
    // 16 posts in flight of 10 ms each: 1,600 a second at best, so a 600 ms invocation
    // (400 ms of posting) cannot finish a chunk of 1,000.
    let sender = Sender::new(
        store.clone(),
        Arc::new(SlowFactory(Arc::new(Slow(
            pusher.clone(),
            Duration::from_millis(10),
        )))),
        Some("https://e/dev".into()),
    )
    .with_history(history.clone(), Duration::from_secs(3600))
    .with_queue(Some(queue.clone() as Arc<dyn Queue>))
    .with_settings(Settings {
        concurrency: 16,
        page_size: 700,
        chunk: 1_000,
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
    // Sequenced once, when the notification became a frame: every continuation posts those
    // bytes and takes no seq of its own.
    let counter = history.counter("BIG").await.unwrap();
    assert_eq!(
        counter.last_seq, 1,
        "one seq for the message, none for its continuations"
    );
    let first = pusher.frames(&big[0]);
    assert_eq!(first.len(), 1);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&first[0]).unwrap(),
        json!({"user_id": "7", "data": {"type": "info", "data": "big news"}, "id": id,
               "seq": 1, "epoch": counter.epoch})
    );
    for c in &big {
        assert_eq!(pusher.frames(c), first, "{c}: once, the same bytes");
    }
    for c in &other {
        assert!(pusher.frames(c).is_empty(), "{c} is in another room");
    }
    assert_eq!(pusher.total(), big.len());
    // The room was read once, by one invocation, whatever the continuations.
    let reads = store.reads.lock().unwrap();
    assert_eq!(
        reads.ids.len(),
        big.len(),
        "only the room's connections were read"
    );
    assert!(reads.ids.values().all(|&n| n == 1), "each connection read once");
    assert_eq!(reads.pages, 5, "3,000 connections in pages of 700");
    // Two records for the chunks split off, and at least one per chunk for a deadline.
    assert!(
        continuations >= 5,
        "{continuations} continuations in {invocations} invocations"
    );
}

#[tokio::test]
async fn a_continuation_keeps_the_target_user() {
    let store = Arc::new(Counting::new(MemoryConnectionStore::new()));
    let ids = room(&store.inner, "R", 600, 3).await;
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
        chunk: 30,
        ..Settings::default()
    });
    let mut n = Notification::new(1, "R", json!("dm"));
    n.target_user_id = Some("2".into());
    queue.send(&n).await.unwrap();
    // The second page read fails once: the rest of the room is read by a later invocation,
    // from a continuation's cursor.
    store.reads.lock().unwrap().fail.insert(2);
    let (_, continuations) = drain(&sender, &queue, Duration::from_secs(10)).await;
    // Records of at most 30 of user 2's ids (the readers post a page's worth themselves),
    // and the cursor.
    assert!(
        (200 / 30..=200 / 30 + 3).contains(&continuations),
        "{continuations}"
    );
    let reads = store.reads.lock().unwrap();
    assert_eq!(
        reads.pages, 13,
        "600 connections in pages of 50, and the read that failed"
    );
    assert!(reads.ids.values().all(|&n| n == 1), "each connection read once");
    for (i, c) in ids.iter().enumerate() {
        assert_eq!(pusher.frames(c).len(), usize::from(i % 3 == 2), "{c}");
    }
}

#[tokio::test]
async fn a_room_read_that_fails_half_way_is_read_on_later_from_where_it_stopped() {
    let store = Arc::new(Counting::new(MemoryConnectionStore::new()));
    let ids = room(&store.inner, "R", 500, 7).await;
    store.reads.lock().unwrap().fail.insert(3);
    let pusher = MemoryPusher::new();
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(1)));
    let sender = Sender::new(
        store.clone(),
        Arc::new(MemoryPusherFactory(pusher.clone())),
        Some("https://e/dev".into()),
    )
    .with_queue(Some(queue.clone() as Arc<dyn Queue>))
    .with_settings(Settings {
        page_size: 100,
        chunk: 150,
        ..Settings::default()
    });
    queue.send(&Notification::new(1, "R", json!("x"))).await.unwrap();
    let (invocations, _) = drain(&sender, &queue, Duration::from_secs(10)).await;
    for c in &ids {
        assert_eq!(pusher.frames(c).len(), 1, "{c}");
    }
    let reads = store.reads.lock().unwrap();
    assert!(reads.ids.values().all(|&n| n == 1), "each connection read once");
    assert_eq!(reads.pages, 6, "five pages, and the read that failed");
    assert!(invocations >= 2, "{invocations}");
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
    let resp = sender.handle_sqs(event(&got)).await;
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

/// A batch of two notifications to one room (so they run one after the other) with a deadline
/// the first uses up: the second gets no time to start.
async fn batch_with_no_time_for_the_second(
    fifo: bool,
    budget: Duration,
) -> (
    Vec<usize>,
    Arc<MemoryQueue>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
) {
    let store = Arc::new(MemoryConnectionStore::new());
    let members = room(&store, "R", 400, 4).await;
    let pusher = MemoryPusher::new();
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30)));
    let sender = Sender::new(
        store.clone(),
        Arc::new(SlowFactory(Arc::new(Slow(
            pusher.clone(),
            Duration::from_millis(20),
        )))),
        Some("https://e/dev".into()),
    )
    .with_queue(Some(queue.clone() as Arc<dyn Queue>))
    .with_settings(Settings {
        concurrency: 8,
        reserve: Duration::from_millis(300),
        ..Settings::default()
    });
    queue
        .send(&Notification::new(1, "R", json!("first")))
        .await
        .unwrap();
    queue
        .send(&Notification::new(1, "R", json!("second")))
        .await
        .unwrap();
    let got = queue.receive(10, Duration::ZERO).await.unwrap();
    let mut ev = event(&got);
    if fifo {
        for r in &mut ev.records {
            r.attributes.insert("MessageGroupId".into(), "R".into());
        }
    }
    let resp = sender.handle_sqs_until(ev, Some(Instant::now() + budget)).await;
    let failed = resp
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    let ids = got.iter().map(|m| m.message_id.clone()).collect();
    let bodies = got.into_iter().map(|m| m.body).collect();
    // Frames per message: the first's and the second's.
    let mut posted = vec![0, 0];
    for f in members.iter().flat_map(|c| pusher.frames(c)) {
        posted[usize::from(String::from_utf8_lossy(&f).contains("second"))] += 1;
    }
    (posted, queue, ids, failed, bodies)
}

#[tokio::test]
async fn a_record_the_deadline_leaves_no_time_for_goes_back_unstarted_without_a_failed_receive() {
    let (posted, queue, ids, failed, bodies) =
        batch_with_no_time_for_the_second(false, Duration::from_millis(800)).await;
    assert!(failed.is_empty(), "nothing counts towards the DLQ: {failed:?}");
    assert!(
        posted[0] > 0 && posted[0] < 400,
        "the first was cut short: {posted:?}"
    );
    assert_eq!(posted[1], 0, "the second was not started");
    let queued = queue.pending();
    // The first one's rest (a continuation) and the second as it was, under a new id.
    assert!(queued.iter().any(|b| is_continuation(b)), "{queued:?}");
    assert_eq!(
        queued.iter().filter(|b| !is_continuation(b)).collect::<Vec<_>>(),
        vec![&bodies[1]],
        "the second record's body, byte for byte"
    );
    let again = queue.receive(10, Duration::ZERO).await.unwrap();
    assert!(again.iter().all(|m| m.message_id != ids[1]), "a new message");
}

#[tokio::test]
async fn on_a_fifo_queue_a_record_with_no_time_fails_instead_to_keep_the_order() {
    let (_, queue, ids, failed, _) =
        batch_with_no_time_for_the_second(true, Duration::from_millis(800)).await;
    assert_eq!(
        failed,
        vec![ids[1].clone()],
        "FIFO: the failure keeps the room's order"
    );
    assert!(queue.pending().iter().all(|b| is_continuation(b)));
}

#[tokio::test]
async fn an_invocation_shorter_than_the_reserve_still_starts_its_first_record() {
    // 200 ms against a 300 ms reserve: the reserve shrinks to a quarter of the invocation, so
    // the first record posts for 150 ms; the second is put back, and nothing circles unstarted.
    let (posted, queue, _, failed, bodies) =
        batch_with_no_time_for_the_second(false, Duration::from_millis(200)).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert!(posted[0] > 0 && posted[0] < 400, "{posted:?}");
    assert_eq!(posted[1], 0);
    assert!(queue.pending().contains(&bodies[1]));
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
