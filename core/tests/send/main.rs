//! The send handler on the memory stores, by behaviour: sequencing into the room history,
//! recovery, presence, disconnects and streams (the same handler on DynamoDB: aws.rs,
//! aws_streams.rs).

#[path = "../common/mod.rs"]
mod common;
mod disconnects;
mod presence;
mod recovery;
mod sequencing;
mod streams;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use common::fixture;
use hermes_core::events::apigw::ApiGatewayWebsocketProxyRequest;
use hermes_core::events::sqs::SqsEvent;
use hermes_core::frame::Control;
use hermes_core::handlers::send::StreamLimits;
use hermes_core::handlers::{recover, Sender};
use hermes_core::push::memory::MemoryPusherFactory;
use hermes_core::push::{MemoryPusher, PushError, Pusher};
use hermes_core::store::{
    ConnectionStore, Counter, HistoryItem, HistoryStore, MemoryConnectionStore, MemoryHistoryStore,
    MemorySubscriptionStore, StoreError, SubscriptionStore,
};
use hermes_core::stream_name::StreamKey;
use hermes_core::token::now_secs;
use serde_json::{json, Value};

const TTL: Duration = Duration::from_secs(3600);

struct World {
    conns: Arc<MemoryConnectionStore>,
    subscriptions: Arc<MemorySubscriptionStore>,
    pusher: Arc<MemoryPusher>,
    history: Arc<MemoryHistoryStore>,
    stream_history: Arc<MemoryHistoryStore>,
    key: StreamKey,
    sender: Sender,
}

fn world() -> World {
    world_over(Arc::new(MemoryHistoryStore::default()), None)
}

/// `store` defaults to `history`; tests wrap it to inject faults or watch calls.
fn world_over(history: Arc<MemoryHistoryStore>, store: Option<Arc<dyn HistoryStore>>) -> World {
    world_with(history, store, StreamLimits::default())
}

fn world_with(
    history: Arc<MemoryHistoryStore>,
    store: Option<Arc<dyn HistoryStore>>,
    limits: StreamLimits,
) -> World {
    let conns = Arc::new(MemoryConnectionStore::new());
    let subscriptions = Arc::new(MemorySubscriptionStore::default());
    let stream_history = Arc::new(MemoryHistoryStore::default());
    let key = StreamKey::from_text("the test app's stream key");
    let pusher = MemoryPusher::new();
    let sender = Sender::new(
        conns.clone(),
        Arc::new(MemoryPusherFactory(pusher.clone())),
        Some("https://abcdef1234.execute-api.eu-west-1.amazonaws.com/development".into()),
    )
    .with_history(store.unwrap_or_else(|| history.clone()), TTL)
    .with_streams(subscriptions.clone(), stream_history.clone(), key.clone(), limits);
    World {
        conns,
        subscriptions,
        pusher,
        history,
        stream_history,
        key,
        sender,
    }
}

async fn join(w: &World, id: &str, room: &str, user: &str) {
    common::join(&*w.conns, id, room, user).await
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
