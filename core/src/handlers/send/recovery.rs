//! The `recover` route: the frames a reconnecting page missed, posted to it one by one, oldest
//! first (concurrent posts to one connection would not keep their order), then the
//! `recovered` answer. A 70-byte frame can make the sender post up to 100 frames of 128 KB,
//! so what one connection, and all of them together, can ask is bounded:
//! - a connection holds a lease while its history is replayed (its connection row's
//!   `recovery_until`, one conditional write): one replay per connection at a time, none
//!   sooner than `RecoveryLimits::lease` after the previous one began, and a replay stops
//!   posting when its lease ends. Recoveries answered from the counter alone (nothing missed,
//!   another epoch) replay nothing and take no lease, so a page's first recover, which may
//!   be followed at once by a second in the epoch it learns, is never refused.
//! - the frames held for replays, across the process, stay under `RecoveryLimits::max_bytes`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use tokio::sync::Semaphore;

use super::routes::tell;
use super::Sender;
use crate::frame::{error_frame, recovered_frame, MAX_MESSAGE_BYTES};
use crate::handlers::recover::{plan, replay, Plan, Recovery, MAX_RECOVERED};
use crate::handlers::response;
use crate::push::Pusher;
use crate::store::history::now_ms;
use crate::store::Connection;

/// The most one replay holds: every frame it may post, at the largest size.
const REPLAY_WORST_BYTES: usize = MAX_RECOVERED * MAX_MESSAGE_BYTES;

/// What recovering may cost (see the module's doc).
#[derive(Clone, Debug)]
pub struct RecoveryLimits {
    lease: Duration,
    max_bytes: usize,
    bytes: Arc<Semaphore>,
}

impl RecoveryLimits {
    /// `max_bytes` is raised to one replay's worst case, so a replay can always run.
    pub fn new(lease: Duration, max_bytes: usize) -> Self {
        let max_bytes = max_bytes.max(REPLAY_WORST_BYTES);
        RecoveryLimits {
            lease,
            max_bytes,
            bytes: Arc::new(Semaphore::new(max_bytes)),
        }
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

impl Default for RecoveryLimits {
    /// 10 s: the browser client's own wait for an answer; 64 MiB: five worst-case replays.
    fn default() -> Self {
        RecoveryLimits::new(Duration::from_secs(10), 64 << 20)
    }
}

impl Sender {
    pub(super) async fn route_recover(
        &self,
        pusher: &dyn Pusher,
        sender: &Connection,
        since: u64,
        epoch: &str,
    ) -> ApiGatewayProxyResponse {
        let connection_id = sender.connection_id.as_str();
        let Some(h) = &self.history else {
            let frame = recovered_frame(false, "", 0);
            tell(pusher, connection_id, &frame, "recover").await;
            return response(200, "Recovered.");
        };
        let failed = |e: &dyn std::fmt::Display| {
            tracing::error!(connection_id, error = %e, "recovery failed");
            async {
                tell(
                    pusher,
                    connection_id,
                    &error_frame("recovery failed; try again"),
                    "recover",
                )
                .await;
                response(500, "Failed to recover.")
            }
        };
        let (since, counter) = match plan(&*h.store, &sender.room_id, since, epoch).await {
            Ok(Plan::Answer(r)) => return self.answer_recovery(pusher, sender, since, r, None).await,
            Ok(Plan::Replay { since, counter }) => (since, counter),
            Err(e) => return failed(&e).await,
        };
        let now = now_ms();
        let lease_ms = self.recovery.lease.as_millis() as u64;
        match self
            .connections
            .lease_recovery(connection_id, now, now + lease_ms)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(connection_id, "recover refused: the connection's lease is held");
                let why = format!(
                    "recover refused: one recovery per connection at a time, at most one every {} s",
                    self.recovery.lease.as_secs()
                );
                tell(pusher, connection_id, &error_frame(&why), "recover").await;
                return response(429, &why);
            }
            Err(e) => return failed(&e).await,
        }
        let lease_end = Instant::now() + self.recovery.lease;
        let worst = u32::try_from(REPLAY_WORST_BYTES).expect("fits");
        let held = match tokio::time::timeout_at(
            lease_end.into(),
            self.recovery.bytes.clone().acquire_many_owned(worst),
        )
        .await
        {
            Ok(p) => p.expect("never closed"),
            Err(_) => {
                tracing::warn!(
                    connection_id,
                    "recover refused: the process's recovery bytes are taken"
                );
                let why = "recover refused: too many recoveries at once; try again later";
                tell(pusher, connection_id, &error_frame(why), "recover").await;
                return response(503, why);
            }
        };
        let r = match replay(
            &*h.store,
            h.ttl_secs,
            &sender.room_id,
            &sender.user_id,
            since,
            counter,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => return failed(&e).await,
        };
        // Only what is held stays taken.
        let bytes: usize = r.frames.iter().map(Vec::len).sum();
        let mut held = held;
        drop(held.split((worst as usize).saturating_sub(bytes)));
        let answer = self
            .answer_recovery(pusher, sender, since, r, Some(lease_end))
            .await;
        drop(held);
        answer
    }

    /// Posts the frames, then the `recovered` answer; when `until` comes first, the rest is
    /// dropped and the answer says `recovered: false`.
    async fn answer_recovery(
        &self,
        pusher: &dyn Pusher,
        sender: &Connection,
        since: u64,
        r: Recovery,
        until: Option<Instant>,
    ) -> ApiGatewayProxyResponse {
        let connection_id = sender.connection_id.as_str();
        let mut replayed = 0;
        let mut recovered = r.recovered;
        for frame in &r.frames {
            if until.is_some_and(|t| Instant::now() >= t) {
                tracing::warn!(connection_id, replayed, "recovery outlasted its lease; cut short");
                recovered = false;
                break;
            }
            if let Err(e) = pusher.post(connection_id, frame).await {
                tracing::warn!(connection_id, error = %e, "recovery cut short");
                return response(500, "Failed to recover.");
            }
            replayed += 1;
        }
        if !tell(
            pusher,
            connection_id,
            &recovered_frame(recovered, &r.epoch, r.seq),
            "recover",
        )
        .await
        {
            return response(500, "Failed to recover.");
        }
        tracing::info!(
            connection_id,
            room_id = sender.room_id,
            since,
            replayed,
            recovered,
            "recovered"
        );
        response(200, "Recovered.")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

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
            self.free
                .lock()
                .unwrap()
                .push(self.limits.bytes.available_permits());
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
            self.sender
                .route_recover(&self.pusher, &row, since, epoch)
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
        assert_eq!(
            limits.bytes.available_permits(),
            REPLAY_WORST_BYTES,
            "all given back"
        );
    }
}
