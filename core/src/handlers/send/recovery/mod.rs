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

mod channel;
mod limits;
#[cfg(test)]
mod tests;

use std::time::Instant;

use aws_lambda_events::apigw::ApiGatewayProxyResponse;

pub(super) use channel::Channel;
pub use limits::RecoveryLimits;
use limits::REPLAY_WORST_BYTES;

use super::request::{Position, StreamEntry};
use super::routes::tell;
use super::streams::Named;
use super::Sender;
use crate::frame::error_frame_with;
use crate::handlers::recover::{plan, replay, Plan, Recovery, MAX_RECOVERED};
use crate::handlers::response;
use crate::names::routes;
use crate::push::Pusher;
use crate::store::history::now_ms;
use crate::store::Connection;

/// Frames one `recover` (or `subscribe`) frame may replay across its room and streams; a
/// channel that would take it past this answers `recovered: false`.
pub const MAX_REPLAYED_PER_FRAME: usize = 2 * MAX_RECOVERED;

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
                    let Some(held) = self.recovery.hold(lease_end).await else {
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
        let lease_ms = self.recovery.lease().as_millis() as u64;
        match self
            .connections
            .lease_recovery(connection_id, now, now + lease_ms)
            .await
        {
            Ok(true) => Ok(Instant::now() + self.recovery.lease()),
            Ok(false) => {
                tracing::warn!(connection_id, "recover refused: the connection's lease is held");
                let why = format!(
                    "recover refused: one recovery per connection at a time, at most one every {} s",
                    self.recovery.lease().as_secs()
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
