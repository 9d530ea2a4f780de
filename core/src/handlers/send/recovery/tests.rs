//! The `recover` route over the memory stores: leases, cuts, the bytes held.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::Value;

use super::*;
use crate::frame::{encode_frame_at, raw};
use crate::push::memory::{MemoryPusher, MemoryPusherFactory};
use crate::push::PushError;
use crate::store::{HistoryItem, HistoryStore, MemoryHistoryStore};
use crate::token::now_secs;

/// The memory pusher, taking `delay` per post and noting the recovery bytes still free.
struct Slow {
    inner: Arc<MemoryPusher>,
    delay: Duration,
    limits: RecoveryLimits,
    free: Mutex<Vec<usize>>,
}

#[async_trait]
impl Pusher for Slow {
    async fn post_once(&self, id: &str, data: &Bytes) -> Result<(), PushError> {
        self.free.lock().unwrap().push(self.limits.available());
        tokio::time::sleep(self.delay).await;
        self.inner.post_once(id, data).await
    }
    async fn close(&self, id: &str) -> Result<(), PushError> {
        self.inner.close(id).await
    }
}

struct World {
    sender: Sender,
    pusher: Slow,
    epoch: String,
    frame_bytes: usize,
}

/// Room R with `messages` frames of about `size` bytes, a connection "a" of user 1 in it.
async fn world(messages: u64, size: usize, limits: RecoveryLimits, delay: Duration) -> World {
    let conns = super::super::fixtures::connections(&[("a", "R", "1")]).await;
    let history = Arc::new(MemoryHistoryStore::default());
    let data = raw(&Value::String("x".repeat(size)));
    let (mut epoch, mut frame_bytes) = (String::new(), 0);
    for _ in 0..messages {
        let c = history.next_seq("R").await.unwrap();
        let frame = encode_frame_at("1", &data, Some("m"), Some((c.last_seq, &c.epoch)));
        frame_bytes = frame.len();
        let item = HistoryItem {
            seq: c.last_seq,
            epoch: c.epoch.clone(),
            frame: Some(frame),
            target_user_id: None,
            expires_at: now_secs() + 60,
        };
        history.put("R", &item).await.unwrap();
        epoch = c.epoch;
    }
    let inner = MemoryPusher::new();
    let sender = Sender::new(conns, Arc::new(MemoryPusherFactory(inner.clone())), None)
        .with_history(history, Duration::from_secs(60))
        .with_recovery_limits(limits.clone());
    World {
        sender,
        pusher: Slow {
            inner,
            delay,
            limits,
            free: Mutex::default(),
        },
        epoch,
        frame_bytes,
    }
}

impl World {
    async fn recover(&self, since: u64, epoch: &str) -> i64 {
        let row = self.sender.connections.get("a").await.unwrap().unwrap();
        let at = Position {
            since,
            epoch: epoch.into(),
        };
        self.sender
            .route_recover(&self.pusher, &row, Some(at), vec![])
            .await
            .status_code
    }

    /// What connection "a" got, as JSON, and forgets it.
    fn took(&self) -> Vec<Value> {
        let got = self.pusher.inner.frames("a");
        self.pusher.inner.clear();
        got.iter().map(|f| serde_json::from_slice(f).unwrap()).collect()
    }
}

fn answer(frames: &[Value]) -> &Value {
    frames.last().expect("an answer")
}

#[tokio::test]
async fn a_connection_replays_once_per_lease() {
    let w = world(
        5,
        10,
        RecoveryLimits::new(Duration::from_millis(300), 0),
        Duration::ZERO,
    )
    .await;
    assert_eq!(w.recover(1, &w.epoch).await, 200);
    let got = w.took();
    assert_eq!(got.len(), 5, "4 frames and the answer");
    assert_eq!(answer(&got)["recovered"], true);
    // A second replay within the lease is refused, with an error frame.
    assert_eq!(w.recover(1, &w.epoch).await, 429);
    let got = w.took();
    assert_eq!(got.len(), 1);
    assert!(
        answer(&got)["error"]
            .as_str()
            .unwrap()
            .starts_with("recover refused"),
        "{got:?}"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(w.recover(3, &w.epoch).await, 200);
    assert_eq!(w.took().len(), 3);
}

#[tokio::test]
async fn answers_from_the_counter_take_no_lease() {
    let w = world(
        5,
        10,
        RecoveryLimits::new(Duration::from_secs(60), 0),
        Duration::ZERO,
    )
    .await;
    // A page rendered before the room's first message asks in no epoch, then in the one it
    // learns: both answered.
    for _ in 0..3 {
        assert_eq!(w.recover(0, "").await, 200);
        assert_eq!(answer(&w.took())["recovered"], false);
        assert_eq!(w.recover(5, &w.epoch).await, 200, "nothing missed");
        assert_eq!(answer(&w.took())["recovered"], true);
    }
    assert_eq!(w.recover(0, &w.epoch).await, 200);
    assert_eq!(w.took().len(), 6);
}

#[tokio::test]
async fn a_replay_stops_at_its_leases_end() {
    let lease = Duration::from_millis(250);
    let w = world(20, 10, RecoveryLimits::new(lease, 0), Duration::from_millis(50)).await;
    assert_eq!(w.recover(1, &w.epoch).await, 200);
    let got = w.took();
    assert!(got.len() < 10, "cut short: {} frames", got.len() - 1);
    assert_eq!(answer(&got)["recovered"], false);
}

#[tokio::test]
async fn only_the_frames_held_count_against_the_process_budget() {
    let limits = RecoveryLimits::new(Duration::from_secs(10), 0);
    let w = world(4, 1000, limits.clone(), Duration::ZERO).await;
    assert_eq!(limits.max_bytes(), REPLAY_WORST_BYTES);
    assert_eq!(w.recover(1, &w.epoch).await, 200);
    let held = 3 * w.frame_bytes;
    let free = w.pusher.free.lock().unwrap().clone();
    assert_eq!(free.len(), 4, "3 frames and the answer");
    assert!(
        free.iter().all(|f| *f == REPLAY_WORST_BYTES - held),
        "{free:?} vs {held} held"
    );
    assert_eq!(limits.available(), REPLAY_WORST_BYTES, "all given back");
}
