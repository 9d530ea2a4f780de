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
//!
//! One frame recovers the room and the page's streams together (what the browser client sends
//! after every reopen), under one lease, at most `MAX_REPLAYED_PER_FRAME` frames in all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::request::{Position, StreamEntry};
use super::routes::tell;
use super::streams::Named;
use super::Sender;
use crate::frame::{error_frame_with, recovered_frame, recovered_stream_frame, MAX_MESSAGE_BYTES};
use crate::handlers::fanout::Audience;
use crate::handlers::recover::{plan, replay, Plan, Recovery, MAX_RECOVERED};
use crate::handlers::response;
use crate::names::routes;
use crate::push::Pusher;
use crate::store::history::now_ms;
use crate::store::Connection;

/// The most one replay holds: every frame it may post, at the largest size.
const REPLAY_WORST_BYTES: usize = MAX_RECOVERED * MAX_MESSAGE_BYTES;
/// Frames one `recover` (or `subscribe`) frame may replay across its room and streams; a
/// channel that would take it past this answers `recovered: false`.
pub const MAX_REPLAYED_PER_FRAME: usize = 2 * MAX_RECOVERED;

/// A room or a stream a page recovers: where it stood, and for a stream the signed name its
/// answer repeats.
pub(super) struct Channel {
    audience: Audience,
    since: u64,
    epoch: String,
    signed: Option<String>,
}

impl Channel {
    pub fn room(room_id: &str, at: Position) -> Self {
        Channel {
            audience: Audience::Room(room_id.to_owned()),
            since: at.since,
            epoch: at.epoch,
            signed: None,
        }
    }

    /// A stream named with a position.
    pub fn stream(n: Named) -> Self {
        let at = n.position.unwrap_or(Position {
            since: 0,
            epoch: String::new(),
        });
        Channel {
            audience: Audience::Stream(n.stream),
            since: at.since,
            epoch: at.epoch,
            signed: Some(n.signed),
        }
    }

    /// The `recovered` answer for this channel.
    fn answer(&self, recovered: bool, epoch: &str, seq: u64) -> Vec<u8> {
        match (&self.audience, &self.signed) {
            (Audience::Stream(stream), Some(signed)) => {
                recovered_stream_frame(stream, signed, recovered, epoch, seq)
            }
            _ => recovered_frame(recovered, epoch, seq),
        }
    }
}

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
    /// `recover`: the room (when the frame gives a position in it) and the listed streams, each
    /// subscribed first.
    pub(super) async fn route_recover(
        &self,
        pusher: &dyn Pusher,
        sender: &Connection,
        room: Option<Position>,
        streams: Vec<StreamEntry>,
    ) -> ApiGatewayProxyResponse {
        let mut channels: Vec<Channel> = room
            .into_iter()
            .map(|at| Channel::room(&sender.room_id, at))
            .collect();
        if !streams.is_empty() {
            let named = self
                .verify_names(pusher, &sender.connection_id, routes::RECOVER, streams)
                .await;
            if !named.is_empty() && self.subscribe(pusher, sender, routes::RECOVER, &named).await {
                let (at, fresh): (Vec<Named>, Vec<Named>) =
                    named.into_iter().partition(|n| n.position.is_some());
                if !fresh.is_empty() {
                    self.answer_subscribed(pusher, &sender.connection_id, &fresh)
                        .await;
                }
                channels.extend(at.into_iter().map(Channel::stream));
            }
        }
        if channels.is_empty() {
            return response(400, "Nothing to recover.");
        }
        self.recover_channels(pusher, sender, channels).await
    }

    /// Answers each channel, oldest frames first: from its counter alone when nothing is to
    /// be replayed, else from its history under the connection's lease.
    pub(super) async fn recover_channels(
        &self,
        pusher: &dyn Pusher,
        sender: &Connection,
        channels: Vec<Channel>,
    ) -> ApiGatewayProxyResponse {
        let connection_id = sender.connection_id.as_str();
        let failed = |e: &dyn std::fmt::Display| {
            tracing::error!(connection_id, error = %e, "recovery failed");
            async {
                let frame = error_frame_with("recovery failed; try again", action());
                tell(pusher, connection_id, &frame, routes::RECOVER).await;
                response(500, "Failed to recover.")
            }
        };
        let mut plans = Vec::with_capacity(channels.len());
        for c in channels {
            let Some((store, _)) = self.history_of(&c.audience) else {
                plans.push((c, None));
                continue;
            };
            match plan(&**store, c.audience.key(), c.since, &c.epoch).await {
                Ok(p) => plans.push((c, Some(p))),
                Err(e) => return failed(&e).await,
            }
        }
        let replays = plans.iter().any(|(_, p)| matches!(p, Some(Plan::Replay { .. })));
        let lease_end = if replays {
            match self.take_lease(pusher, connection_id).await {
                Ok(end) => Some(end),
                Err(refused) => return refused,
            }
        } else {
            None
        };
        let mut budget = MAX_REPLAYED_PER_FRAME;
        for (c, p) in plans {
            let r = match p {
                // No history for it: nothing can be recovered.
                None => Recovery {
                    frames: vec![],
                    recovered: false,
                    epoch: String::new(),
                    seq: 0,
                },
                Some(Plan::Answer(r)) => r,
                Some(Plan::Replay { since, counter }) => {
                    let (store, ttl) = self.history_of(&c.audience).expect("planned with a history");
                    let Some(held) = self.hold_bytes(lease_end).await else {
                        tracing::warn!(
                            connection_id,
                            "recover refused: the process's recovery bytes are taken"
                        );
                        let why = "recover refused: too many recoveries at once; try again later";
                        tell(
                            pusher,
                            connection_id,
                            &error_frame_with(why, action()),
                            routes::RECOVER,
                        )
                        .await;
                        return response(503, why);
                    };
                    let mut r = match replay(&**store, ttl, c.audience.key(), &sender.user_id, since, counter)
                        .await
                    {
                        Ok(r) => r,
                        Err(e) => return failed(&e).await,
                    };
                    if r.frames.len() > budget {
                        r = Recovery::lost_at(&r.epoch, r.seq);
                    }
                    budget -= r.frames.len();
                    // Only what is held stays taken.
                    let bytes: usize = r.frames.iter().map(Vec::len).sum();
                    let mut held = held;
                    drop(held.split((REPLAY_WORST_BYTES).saturating_sub(bytes)));
                    let answered = self.answer_channel(pusher, connection_id, &c, r, lease_end).await;
                    drop(held);
                    if let Err(r) = answered {
                        return r;
                    }
                    continue;
                }
            };
            if let Err(r) = self.answer_channel(pusher, connection_id, &c, r, None).await {
                return r;
            }
        }
        response(200, "Recovered.")
    }

    /// The connection's recovery lease, until when it is held; an error frame and the route's
    /// answer when it is not.
    async fn take_lease(
        &self,
        pusher: &dyn Pusher,
        connection_id: &str,
    ) -> Result<Instant, ApiGatewayProxyResponse> {
        let now = now_ms();
        let lease_ms = self.recovery.lease.as_millis() as u64;
        match self
            .connections
            .lease_recovery(connection_id, now, now + lease_ms)
            .await
        {
            Ok(true) => Ok(Instant::now() + self.recovery.lease),
            Ok(false) => {
                tracing::warn!(connection_id, "recover refused: the connection's lease is held");
                let why = format!(
                    "recover refused: one recovery per connection at a time, at most one every {} s",
                    self.recovery.lease.as_secs()
                );
                tell(
                    pusher,
                    connection_id,
                    &error_frame_with(&why, action()),
                    routes::RECOVER,
                )
                .await;
                Err(response(429, &why))
            }
            Err(e) => {
                tracing::error!(connection_id, error = %e, "recovery failed");
                let frame = error_frame_with("recovery failed; try again", action());
                tell(pusher, connection_id, &frame, routes::RECOVER).await;
                Err(response(500, "Failed to recover."))
            }
        }
    }

    /// One replay's worst case of the process's recovery bytes, waited for until `until`.
    async fn hold_bytes(&self, until: Option<Instant>) -> Option<OwnedSemaphorePermit> {
        let worst = u32::try_from(REPLAY_WORST_BYTES).expect("fits");
        let take = self.recovery.bytes.clone().acquire_many_owned(worst);
        let permit = match until {
            Some(t) => tokio::time::timeout_at(t.into(), take).await.ok()?,
            None => take.await,
        };
        Some(permit.expect("never closed"))
    }

    /// Posts the frames, then the channel's `recovered` answer; when `until` comes first, the
    /// rest is dropped and the answer says `recovered: false`.
    async fn answer_channel(
        &self,
        pusher: &dyn Pusher,
        connection_id: &str,
        c: &Channel,
        r: Recovery,
        until: Option<Instant>,
    ) -> Result<(), ApiGatewayProxyResponse> {
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
                return Err(response(500, "Failed to recover."));
            }
            replayed += 1;
        }
        if !tell(
            pusher,
            connection_id,
            &c.answer(recovered, &r.epoch, r.seq),
            routes::RECOVER,
        )
        .await
        {
            return Err(response(500, "Failed to recover."));
        }
        tracing::info!(
            connection_id,
            audience = %c.audience,
            since = c.since,
            replayed,
            recovered,
            "recovered"
        );
        Ok(())
    }
}

fn action() -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("action".into(), routes::RECOVER.into());
    m
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
        assert_eq!(
            limits.bytes.available_permits(),
            REPLAY_WORST_BYTES,
            "all given back"
        );
    }
}
