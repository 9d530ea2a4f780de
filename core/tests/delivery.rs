//! History, recovery, presence and revocation (SPEC §7) through the send handler, on the
//! memory stores; the same handler on DynamoDB is in aws.rs.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use common::fixture;
use hermes_core::events::apigw::ApiGatewayWebsocketProxyRequest;
use hermes_core::events::sqs::SqsEvent;
use hermes_core::frame::Control;
use hermes_core::handlers::{recover, Sender};
use hermes_core::push::memory::MemoryPusherFactory;
use hermes_core::push::{MemoryPusher, PushError, Pusher};
use hermes_core::store::{
    Connection, ConnectionStore, Counter, HistoryItem, HistoryStore, MemoryConnectionStore,
    MemoryHistoryStore, StoreError,
};
use hermes_core::token::now_secs;
use serde_json::{json, Value};

const TTL: Duration = Duration::from_secs(3600);

struct World {
    conns: Arc<MemoryConnectionStore>,
    pusher: Arc<MemoryPusher>,
    history: Arc<MemoryHistoryStore>,
    sender: Sender,
}

fn world() -> World {
    world_over(Arc::new(MemoryHistoryStore::default()), None)
}

/// `store` defaults to `history`; tests wrap it to inject faults or watch calls.
fn world_over(history: Arc<MemoryHistoryStore>, store: Option<Arc<dyn HistoryStore>>) -> World {
    let conns = Arc::new(MemoryConnectionStore::new());
    let pusher = MemoryPusher::new();
    let sender = Sender::new(
        conns.clone(),
        Arc::new(MemoryPusherFactory(pusher.clone())),
        Some("https://abcdef1234.execute-api.eu-west-1.amazonaws.com/development".into()),
    )
    .with_history(store.unwrap_or_else(|| history.clone()), TTL);
    World {
        conns,
        pusher,
        history,
        sender,
    }
}

async fn join(w: &World, id: &str, room: &str, user: &str) {
    w.conns
        .put(&Connection {
            connection_id: id.into(),
            room_id: room.into(),
            user_id: user.into(),
            connected_at: now_secs(),
            expires_at: now_secs() + 60,
        })
        .await
        .unwrap();
}

fn sqs(records: &[(&str, Value)]) -> SqsEvent {
    let records: Vec<Value> = records
        .iter()
        .map(|(id, body)| json!({"messageId": id, "body": body.to_string(), "eventSource": "aws:sqs"}))
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn note(room: &str, n: u64) -> Value {
    json!({"user_id": 7, "room_id": room, "data": {"type": "info", "data": n}})
}

fn raw_frames(w: &World, id: &str) -> Vec<Vec<u8>> {
    w.pusher.frames(id)
}

fn frames(w: &World, id: &str) -> Vec<Value> {
    raw_frames(w, id)
        .iter()
        .map(|f| serde_json::from_slice(f).unwrap())
        .collect()
}

/// A route event from `connection_id` with `body`.
fn route(connection_id: &str, body: Value) -> ApiGatewayWebsocketProxyRequest {
    let mut ev: Value = fixture("send-message.json", None);
    ev["requestContext"]["connectionId"] = json!(connection_id);
    ev["requestContext"]["routeKey"] = json!(body["action"].as_str().unwrap_or("$default"));
    ev["body"] = json!(body.to_string());
    serde_json::from_value(ev).unwrap()
}

async fn send_all(w: &World, room: &str, range: std::ops::RangeInclusive<u64>) {
    for n in range {
        let id = format!("m-{room}-{n}");
        let r = w.sender.handle_sqs(sqs(&[(&id, note(room, n))])).await;
        assert!(r.batch_item_failures.is_empty());
    }
}

#[tokio::test]
async fn frames_carry_seq_and_epoch_and_the_history_keeps_their_bytes() {
    let w = world();
    join(&w, "a", "ACME", "1").await;
    join(&w, "o", "OTHER", "2").await;
    let r = w
        .sender
        .handle_sqs(sqs(&[
            ("m1", note("ACME", 1)),
            ("m2", note("ACME", 2)),
            ("m3", note("OTHER", 3)),
        ]))
        .await;
    assert!(r.batch_item_failures.is_empty());
    let got = frames(&w, "a");
    assert_eq!(got.len(), 2);
    let epoch = got[0]["epoch"].as_str().unwrap().to_owned();
    assert_eq!(epoch.len(), 16);
    assert_eq!(
        got[0],
        json!({"user_id": "7", "data": {"type": "info", "data": 1}, "id": "m1", "seq": 1, "epoch": epoch})
    );
    assert_eq!(
        (got[1]["seq"].clone(), got[1]["epoch"].clone()),
        (json!(2), json!(epoch))
    );
    let other = frames(&w, "o");
    assert_eq!(other[0]["seq"], 1, "each room counts on its own");
    assert_ne!(other[0]["epoch"], json!(epoch), "and has its own epoch");

    let stored = w.history.range("ACME", 1, 10, 10).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].frame.as_deref(), Some(&raw_frames(&w, "a")[0][..]));
    assert!(stored[0].expires_at > now_secs() + TTL.as_secs() - 60);
}

#[tokio::test]
async fn a_record_that_failed_after_its_frame_went_out_is_replayed_with_its_seq() {
    let w = world();
    join(&w, "a", "ACME", "1").await;
    join(&w, "b", "ACME", "2").await;
    send_all(&w, "ACME", 1..=1).await;
    // m2 reaches a; b is throttled past the retries: the record fails and SQS brings it back.
    w.pusher
        .fail_with("b", PushError::Throttled("LimitExceededException".into()));
    let r = w.sender.handle_sqs(sqs(&[("m2", note("ACME", 2))])).await;
    assert_eq!(r.batch_item_failures.len(), 1);
    w.pusher.fail_with("b", PushError::Gone);
    join(&w, "b2", "ACME", "2").await;
    let r = w.sender.handle_sqs(sqs(&[("m2", note("ACME", 2))])).await;
    assert!(r.batch_item_failures.is_empty());
    let got = raw_frames(&w, "a");
    assert_eq!(got.len(), 3);
    assert_eq!(got[2], got[1], "the same bytes: same id, same seq");
    assert_eq!(raw_frames(&w, "b2"), vec![got[1].clone()]);
    // The seq the redelivery took is marked, so no recovery waits for it.
    let items = w.history.range("ACME", 1, 10, 10).await.unwrap();
    assert_eq!(items.iter().map(|i| i.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(items[2].frame.is_none(), "seq 3 is a skip marker");
    send_all(&w, "ACME", 4..=4).await;
    assert_eq!(frames(&w, "a")[3]["seq"], 4);
    // A page that saw seq 1 gets seq 2 once, and seq 4.
    let epoch = frames(&w, "a")[0]["epoch"].as_str().unwrap().to_owned();
    let r = recover(&*w.history, TTL.as_secs(), "ACME", "1", 1, &epoch)
        .await
        .unwrap();
    assert!(r.recovered);
    assert_eq!(r.frames, vec![got[1].clone(), raw_frames(&w, "a")[3].clone()]);
}

#[tokio::test]
async fn other_redeliveries_get_a_new_seq_under_the_same_id() {
    let w = world();
    join(&w, "a", "ACME", "1").await;
    // Delivered in full, then handed out again (its delete was lost): no claim was written,
    // so it is sequenced anew; the page drops it by its id.
    send_all(&w, "ACME", 1..=1).await;
    send_all(&w, "ACME", 1..=1).await;
    let f = frames(&w, "a");
    assert_eq!(
        (f[0]["id"].clone(), f[0]["seq"].clone()),
        (json!("m-ACME-1"), json!(1))
    );
    assert_eq!(
        (f[1]["id"].clone(), f[1]["seq"].clone()),
        (json!("m-ACME-1"), json!(2))
    );
}

/// Fails the first `fail_puts` history writes, like DynamoDB going away mid-stream.
struct Flaky {
    inner: Arc<MemoryHistoryStore>,
    fail_puts: AtomicUsize,
    ranges: AtomicUsize,
    counter_age_ms: u64,
}

impl Flaky {
    fn new(inner: Arc<MemoryHistoryStore>, fail_puts: usize) -> Self {
        Flaky {
            inner,
            fail_puts: AtomicUsize::new(fail_puts),
            ranges: AtomicUsize::new(0),
            counter_age_ms: 0,
        }
    }
}

#[async_trait]
impl HistoryStore for Flaky {
    async fn next_seq(&self, room_id: &str) -> Result<Counter, StoreError> {
        self.inner.next_seq(room_id).await
    }
    async fn counter(&self, room_id: &str) -> Result<Counter, StoreError> {
        let mut c = self.inner.counter(room_id).await?;
        c.updated_at_ms = c.updated_at_ms.saturating_sub(self.counter_age_ms);
        Ok(c)
    }
    async fn position(&self, room_id: &str) -> Result<Option<Counter>, StoreError> {
        self.inner.position(room_id).await
    }
    async fn put(&self, room_id: &str, item: &HistoryItem) -> Result<(), StoreError> {
        if self
            .fail_puts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StoreError::Backend {
                op: "PutItem",
                table: "hermesHistory".into(),
                message: "connection refused".into(),
            });
        }
        self.inner.put(room_id, item).await
    }
    async fn claim(&self, room_id: &str, message_id: &str, item: &HistoryItem) -> Result<(), StoreError> {
        self.inner.claim(room_id, message_id, item).await
    }
    async fn claimed(&self, room_id: &str, message_id: &str) -> Result<Option<HistoryItem>, StoreError> {
        self.inner.claimed(room_id, message_id).await
    }
    async fn range(
        &self,
        room_id: &str,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<HistoryItem>, StoreError> {
        self.ranges.fetch_add(1, Ordering::SeqCst);
        self.inner.range(room_id, from, to, limit).await
    }
}

#[tokio::test]
async fn a_frame_that_is_not_in_the_history_is_not_delivered_and_comes_back_once() {
    let history = Arc::new(MemoryHistoryStore::default());
    let flaky = Arc::new(Flaky::new(history.clone(), 1));
    let w = world_over(history, Some(flaky));
    join(&w, "a", "ACME", "1").await;
    let r = w.sender.handle_sqs(sqs(&[("m1", note("ACME", 1))])).await;
    assert_eq!(r.batch_item_failures.len(), 1, "the record fails");
    assert!(frames(&w, "a").is_empty(), "nothing was posted");
    let r = w.sender.handle_sqs(sqs(&[("m1", note("ACME", 1))])).await;
    assert!(r.batch_item_failures.is_empty());
    let got = frames(&w, "a");
    assert_eq!(got.len(), 1, "delivered once");
    assert_eq!(got[0]["seq"], 2, "seq 1 was spent on the failed attempt");
}

#[tokio::test]
async fn recovery_replays_what_the_user_may_see_byte_for_byte_then_says_recovered() {
    let w = world();
    join(&w, "watcher", "ACME", "1").await;
    join(&w, "page", "ACME", "2").await;
    send_all(&w, "ACME", 1..=3).await;
    let epoch = frames(&w, "page")[0]["epoch"].as_str().unwrap().to_owned();
    // The page drops off; the room goes on: 20 messages, one of them for user 9 only.
    w.conns.delete("page").await.unwrap();
    send_all(&w, "ACME", 4..=13).await;
    let mut dm = note("ACME", 99);
    dm["target_user_id"] = json!("9");
    assert!(w
        .sender
        .handle_sqs(sqs(&[("dm", dm)]))
        .await
        .batch_item_failures
        .is_empty());
    send_all(&w, "ACME", 14..=23).await;
    // It reconnects (a new connection id) and asks from the last seq it saw.
    join(&w, "page2", "ACME", "2").await;
    let ev = route("page2", json!({"action": "recover", "since": 3, "epoch": epoch}));
    assert_eq!(w.sender.handle_route(&ev).await.status_code, 200);
    let got = raw_frames(&w, "page2");
    assert_eq!(got.len(), 21, "20 frames, then the answer");
    let watcher = raw_frames(&w, "watcher");
    let missed: Vec<Vec<u8>> = watcher[3..]
        .iter()
        .filter(|f| !String::from_utf8_lossy(f).contains("\"dm\""))
        .cloned()
        .collect();
    assert_eq!(missed.len(), 20);
    assert_eq!(got[..20], missed[..], "the very bytes first posted, oldest first");
    let end: Value = serde_json::from_slice(&got[20]).unwrap();
    assert_eq!(
        end,
        json!({"hermes": "recovered", "recovered": true, "epoch": epoch, "seq": 24})
    );
    assert!(frames(&w, "watcher").iter().all(|f| f.get("hermes").is_none()));

    // Up to date: nothing replayed, recovered.
    let ev = route("page2", json!({"action": "recover", "since": 24, "epoch": epoch}));
    w.sender.handle_route(&ev).await;
    assert_eq!(frames(&w, "page2")[21], end);
}

#[tokio::test]
async fn recovery_is_false_on_another_epoch_overflow_expiry_or_a_future_seq() {
    let w = world();
    join(&w, "p", "R", "1").await;
    send_all(&w, "R", 1..=3).await;
    let epoch = frames(&w, "p")[0]["epoch"].as_str().unwrap().to_owned();
    let ttl = TTL.as_secs();
    let check = |r: hermes_core::handlers::Recovery, why: &str| {
        assert!(!r.recovered && r.frames.is_empty(), "{why}: {r:?}");
        assert_eq!((r.epoch.as_str(), r.seq), (epoch.as_str(), 3), "{why}");
    };
    check(
        recover(&*w.history, ttl, "R", "1", 1, "other").await.unwrap(),
        "epoch",
    );
    check(
        recover(&*w.history, ttl, "R", "1", 0, "").await.unwrap(),
        "first contact",
    );
    check(
        recover(&*w.history, ttl, "R", "1", 9, &epoch).await.unwrap(),
        "future seq",
    );

    // 101 missed: overflow. 100: all of them.
    send_all(&w, "R", 4..=104).await;
    check_overflow(&w, &epoch).await;

    // The anchor expired (the TTL sweep is late, so the item is still there, but expired).
    join(&w, "e", "E", "1").await;
    send_all(&w, "E", 1..=3).await;
    let e_epoch = frames(&w, "e")[0]["epoch"].as_str().unwrap().to_owned();
    assert!(
        recover(&*w.history, ttl, "E", "1", 2, &e_epoch)
            .await
            .unwrap()
            .recovered
    );
    let mut old = w.history.range("E", 2, 2, 1).await.unwrap().remove(0);
    old.expires_at = now_secs() - 1;
    w.history.put("E", &old).await.unwrap();
    let r = recover(&*w.history, ttl, "E", "1", 2, &e_epoch).await.unwrap();
    assert!(
        !r.recovered && r.frames.is_empty(),
        "anchor expired: what followed may have too"
    );
    let r = recover(&*w.history, ttl, "E", "1", 1, &e_epoch).await.unwrap();
    assert!(!r.recovered, "a missed item expired");
    assert!(
        recover(&*w.history, ttl, "E", "1", 3, &e_epoch)
            .await
            .unwrap()
            .recovered,
        "nothing missed"
    );
}

async fn check_overflow(w: &World, epoch: &str) {
    let ttl = TTL.as_secs();
    let r = recover(&*w.history, ttl, "R", "1", 3, epoch).await.unwrap();
    assert!(!r.recovered && r.frames.is_empty() && r.seq == 104, "101 missed");
    let r = recover(&*w.history, ttl, "R", "1", 4, epoch).await.unwrap();
    assert!(r.recovered && r.frames.len() == 100, "100 missed");
}

#[tokio::test]
async fn a_lost_counter_starts_a_new_epoch_and_old_items_do_not_leak_into_it() {
    let w = world();
    join(&w, "p", "R", "1").await;
    send_all(&w, "R", 1..=5).await;
    let old = frames(&w, "p")[0]["epoch"].as_str().unwrap().to_owned();
    w.history.lose_counter("R");
    send_all(&w, "R", 6..=7).await;
    let f = frames(&w, "p");
    let new = f[5]["epoch"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!((f[5]["seq"].clone(), f[6]["seq"].clone()), (json!(1), json!(2)));
    let r = recover(&*w.history, TTL.as_secs(), "R", "1", 3, &old)
        .await
        .unwrap();
    assert!(!r.recovered && r.epoch == new && r.seq == 2, "{r:?}");
    // From the new epoch's seq 1: seq 2 only, not the old epoch's 3..5 still stored.
    let r = recover(&*w.history, TTL.as_secs(), "R", "1", 1, &new)
        .await
        .unwrap();
    assert!(r.recovered);
    assert_eq!(r.frames, vec![raw_frames(&w, "p")[6].clone()]);
}

#[tokio::test]
async fn a_seq_handed_out_moments_ago_is_waited_for_an_old_gap_is_not() {
    let history = Arc::new(MemoryHistoryStore::default());
    let flaky = Arc::new(Flaky::new(history.clone(), 0));
    let w = world_over(history.clone(), Some(flaky.clone()));
    join(&w, "p", "R", "1").await;
    send_all(&w, "R", 1..=2).await;
    let epoch = frames(&w, "p")[0]["epoch"].as_str().unwrap().to_owned();
    // Message 3 has its seq; its history write is still on the way when the page recovers.
    let c = history.next_seq("R").await.unwrap();
    let late = HistoryItem {
        seq: c.last_seq,
        epoch: c.epoch.clone(),
        frame: Some(b"{\"late\":true}".to_vec()),
        target_user_id: None,
        expires_at: now_secs() + TTL.as_secs(),
    };
    let writer = {
        let history = history.clone();
        let late = late.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            history.put("R", &late).await.unwrap();
        })
    };
    let r = recover(&*flaky, TTL.as_secs(), "R", "1", 2, &epoch)
        .await
        .unwrap();
    writer.await.unwrap();
    assert!(r.recovered);
    assert_eq!(
        r.frames,
        vec![late.frame.clone().unwrap()],
        "the late write was waited for"
    );

    // A gap whose seq was handed out long ago (its write failed): read once, skipped.
    let _spent = history.next_seq("R").await.unwrap();
    send_all(&w, "R", 5..=5).await;
    let mut five = history.range("R", 5, 5, 1).await.unwrap().remove(0);
    five.expires_at -= 120; // written two minutes ago
    history.put("R", &five).await.unwrap();
    flaky.ranges.store(0, Ordering::SeqCst);
    let r = recover(&*flaky, TTL.as_secs(), "R", "1", 3, &epoch)
        .await
        .unwrap();
    assert!(r.recovered);
    assert_eq!(r.frames, vec![five.frame.unwrap()]);
    assert_eq!(
        flaky.ranges.load(Ordering::SeqCst),
        1,
        "no second read for an old gap"
    );
}

#[tokio::test]
async fn a_tail_gap_is_waited_for_only_while_the_counter_is_recent() {
    let history = Arc::new(MemoryHistoryStore::default());
    let mut flaky = Flaky::new(history.clone(), 0);
    flaky.counter_age_ms = 60_000;
    let flaky = Arc::new(flaky);
    let w = world_over(history.clone(), Some(flaky.clone()));
    join(&w, "p", "R", "1").await;
    send_all(&w, "R", 1..=1).await;
    let epoch = frames(&w, "p")[0]["epoch"].as_str().unwrap().to_owned();
    history.next_seq("R").await.unwrap(); // seq 2, never written
    let r = recover(&*flaky, TTL.as_secs(), "R", "1", 1, &epoch)
        .await
        .unwrap();
    assert!(r.recovered && r.frames.is_empty() && r.seq == 2);
    assert_eq!(flaky.ranges.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn bad_recover_frames_get_an_error_frame() {
    let w = world();
    join(&w, "p", "R", "1").await;
    for body in [
        json!({"action": "recover"}),
        json!({"action": "recover", "since": -1, "epoch": "e"}),
        json!({"action": "recover", "since": 1.5, "epoch": "e"}),
        json!({"action": "recover", "since": "3", "epoch": "e"}),
        json!({"action": "recover", "since": 3, "epoch": 7}),
        json!({"action": "recover", "since": 3, "epoch": "e".repeat(33)}),
    ] {
        assert_eq!(
            w.sender.handle_route(&route("p", body.clone())).await.status_code,
            400,
            "{body}"
        );
    }
    let got = frames(&w, "p");
    assert_eq!(got.len(), 6);
    for f in got {
        assert_eq!(f["hermes"], "error");
        assert!(f["error"].as_str().unwrap().contains("since"), "{f}");
        assert!(f.get("data").is_none());
    }
}

#[tokio::test]
async fn presence_lists_distinct_users_sorted_and_counts_connections() {
    let w = world();
    join(&w, "c1", "ACME", "42").await;
    join(&w, "c2", "ACME", "42").await;
    join(&w, "c3", "ACME", "7").await;
    join(&w, "x", "OTHER", "99").await;
    let ev = route("c3", json!({"action": "presence"}));
    assert_eq!(w.sender.handle_route(&ev).await.status_code, 200);
    assert_eq!(
        frames(&w, "c3"),
        vec![json!({"hermes": "presence", "room_id": "ACME", "users": ["42", "7"], "connections": 3})]
    );
    assert!(frames(&w, "c1").is_empty(), "only the asker is answered");
}

#[tokio::test]
async fn a_disconnect_record_closes_only_that_users_sockets_in_that_room() {
    let w = world();
    join(&w, "u1a", "ACME", "1").await;
    join(&w, "u1b", "ACME", "1").await;
    join(&w, "u2", "ACME", "2").await;
    join(&w, "u1-other-room", "OTHER", "1").await;
    let body: Value =
        serde_json::from_str(&Control::disconnect("1", "ACME", Some("revoked")).to_body()).unwrap();
    let r = w.sender.handle_sqs(sqs(&[("c1", body.clone())])).await;
    assert!(r.batch_item_failures.is_empty());
    // MemoryPusher::close marks the id gone, as API Gateway answers 410 after DeleteConnection.
    for (id, closed) in [
        ("u1a", true),
        ("u1b", true),
        ("u2", false),
        ("u1-other-room", false),
    ] {
        assert_eq!(
            w.pusher.post_once(id, &Bytes::from_static(b"x")).await == Err(PushError::Gone),
            closed,
            "{id}"
        );
    }
    assert!(
        w.history.range("ACME", 1, 10, 10).await.unwrap().is_empty(),
        "never sequenced"
    );
    // Closing again: the sockets are already gone, the rows go too, the record succeeds.
    let r = w.sender.handle_sqs(sqs(&[("c2", body.clone())])).await;
    assert!(r.batch_item_failures.is_empty());
    assert!(w.conns.get("u1a").await.unwrap().is_none());
    // A throttled close fails the record, so SQS tries again.
    w.pusher
        .fail_with("u2", PushError::Throttled("LimitExceededException".into()));
    let body: Value = serde_json::from_str(&Control::disconnect("2", "ACME", None).to_body()).unwrap();
    let r = w.sender.handle_sqs(sqs(&[("c3", body)])).await;
    assert_eq!(r.batch_item_failures.len(), 1);
}

#[tokio::test]
async fn sequenced_frames_are_checked_for_size_before_a_seq_is_spent() {
    let w = world();
    join(&w, "c", "R", "1").await;
    let big = json!({"user_id": 1, "room_id": "R", "data": "x".repeat(131_000)});
    let r = w.sender.handle_sqs(sqs(&[("big", big)])).await;
    assert_eq!(r.batch_item_failures.len(), 1);
    assert_eq!(w.history.counter("R").await.unwrap().last_seq, 0);
}

#[tokio::test]
async fn the_send_route_sequences_too() {
    let w = world();
    join(&w, "a", "R", "1").await;
    join(&w, "b", "R", "2").await;
    let ev = route(
        "a",
        json!({"action": "sendMessage", "data": {"type": "chat", "data": "hi"}}),
    );
    assert_eq!(w.sender.handle_route(&ev).await.status_code, 200);
    let f = frames(&w, "b");
    assert_eq!(f[0]["seq"], 1);
    assert_eq!(f[0]["data"], json!({"type": "chat", "data": "hi"}));
    assert_eq!(w.history.len("R"), 1);
}

/// A page rendered at the room's position and connected later gets what was sent in between:
/// from the position (its seq and epoch), or, when the room had no message at render, from
/// seq 0 of the epoch its first answer names.
#[tokio::test]
async fn a_page_recovers_from_the_position_it_was_rendered_at() {
    let w = world();
    let h: &dyn HistoryStore = &*w.history;
    assert_eq!(h.position("NEW").await.unwrap(), None);
    assert_eq!(
        h.position("NEW").await.unwrap(),
        None,
        "reading does not create the counter"
    );
    send_all(&w, "NEW", 1..=2).await;
    // The page rendered before any message: its first answer (since 0, no epoch) names the
    // epoch, then it asks from 0 in it.
    let first = recover(h, 3600, "NEW", "1", 0, "").await.unwrap();
    assert!(!first.recovered && first.frames.is_empty() && first.seq == 2);
    let all = recover(h, 3600, "NEW", "1", 0, &first.epoch).await.unwrap();
    assert!(all.recovered);
    assert_eq!(all.frames.len(), 2);

    send_all(&w, "R", 1..=3).await;
    let at_render = h.position("R").await.unwrap().unwrap();
    assert_eq!(at_render.last_seq, 3);
    send_all(&w, "R", 4..=5).await;
    let got = recover(h, 3600, "R", "1", at_render.last_seq, &at_render.epoch)
        .await
        .unwrap();
    assert!(got.recovered);
    let seqs: Vec<u64> = got
        .frames
        .iter()
        .map(|f| {
            serde_json::from_slice::<Value>(f).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, [4, 5]);
}
