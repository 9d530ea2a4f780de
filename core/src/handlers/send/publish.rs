//! A notification (or a stream's broadcast) made a frame and fanned out. With a history: the
//! room's (or stream's) next seq (one atomic counter update), the frame written to the history,
//! then the fan-out; the history write and the read of the first page of connections go out
//! together, so the first client gets the frame one DynamoDB round trip later than without a
//! history.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::RawValue;

use super::{Budget, SendError, Sender};
use crate::frame::{
    encode_origin_frame, origin_sequenced_len, Origin, PayloadTooLarge, MAX_EPOCH_BYTES, MAX_MESSAGE_BYTES,
};
use crate::handlers::fanout::{Audience, Delivery, Job};
use crate::store::{HistoryItem, HistoryStore};
use crate::token::now_secs;

/// One message to publish: who it is from, where it goes, and its SQS message id (the frame's
/// `id`).
pub(super) struct Message<'a> {
    pub audience: Audience,
    pub target_user: Option<&'a str>,
    /// A user (a notification, `sendMessage`) or the stream itself (a broadcast).
    pub origin: Origin<'a>,
    pub data: &'a RawValue,
    pub id: Option<&'a str>,
    /// `id` is an SQS message id, whose redelivery replays the frame (see `Sender::publish`).
    pub dedup: bool,
}

impl Sender {
    /// The history of `audience` and how long its frames stay recoverable, if it has one.
    pub(super) fn history_of(&self, audience: &Audience) -> Option<(&Arc<dyn HistoryStore>, u64)> {
        let h = self.history.as_ref()?;
        match audience {
            Audience::Room(_) => Some((&h.store, h.ttl_secs)),
            Audience::Stream(_) => self.streams.as_ref().map(|s| (&s.history, h.ttl_secs)),
        }
    }

    /// `dedup`: when the record will fail and come back after the frame was sequenced
    /// (connections not reached with no queue to carry them, or the fan-out failed), a claim
    /// maps the message id to the seq just delivered, and the redelivery replays that frame
    /// (same seq, same bytes) rather than sequencing it again. Other redeliveries (a Lambda
    /// that died mid-fan-out, SQS's rare duplicates) get a new seq; browsers still drop the
    /// copy by its `id`.
    pub(super) async fn publish(
        &self,
        endpoint: &str,
        m: Message<'_>,
        budget: Budget,
    ) -> Result<Delivery, SendError> {
        let target = m.target_user.map(str::to_owned);
        let Some((store, ttl_secs)) = self.history_of(&m.audience) else {
            let frame = encode_origin_frame(m.origin, m.data, m.id, None);
            let job = Job::post(m.audience, target, Bytes::from(frame));
            return self.fan_out(endpoint, job, None, budget).await;
        };
        // Refused before a seq is spent on it.
        let bytes = origin_sequenced_len(m.origin, m.data, m.id);
        if bytes > MAX_MESSAGE_BYTES {
            return Err(PayloadTooLarge {
                bytes,
                limit: MAX_MESSAGE_BYTES,
            }
            .into());
        }
        let key = m.audience.key().to_owned();
        let key = key.as_str();
        let claim = m.id.filter(|_| m.dedup);
        let (counter, prior) = futures::join!(store.next_seq(key), async {
            store
                .claimed(key, claim?)
                .await
                .inspect_err(|e| tracing::warn!(audience = %m.audience, error = %e, "claim lookup failed; sequencing anew"))
                .ok()
                .flatten()
        });
        let counter = counter.map_err(SendError::History)?;
        let expires_at = now_secs() + ttl_secs;
        if let Some(prior) = prior.filter(|p| p.epoch == counter.epoch && p.frame.is_some()) {
            let marker = HistoryItem {
                seq: counter.last_seq,
                epoch: counter.epoch,
                frame: None,
                target_user_id: None,
                expires_at,
            };
            return self
                .replay(endpoint, &**store, m.audience, prior, marker, budget)
                .await;
        }
        let frame = encode_origin_frame(m.origin, m.data, m.id, Some((counter.last_seq, &counter.epoch)));
        if counter.epoch.len() > MAX_EPOCH_BYTES || frame.len() > MAX_MESSAGE_BYTES {
            return Err(SendError::BadRecord(format!(
                "the history's epoch is {} bytes; at most {MAX_EPOCH_BYTES} fit the frame size check",
                counter.epoch.len()
            )));
        }
        let frame = Bytes::from(frame);
        let item = HistoryItem {
            seq: counter.last_seq,
            epoch: counter.epoch,
            frame: Some(frame.to_vec()),
            target_user_id: target.clone(),
            expires_at,
        };
        let job = Job::post(m.audience, target, frame);
        // The write is polled first: on the memory store it is done before the room is read.
        let (written, first) = futures::join!(store.put(key, &item), self.first_page(&job.audience));
        // A frame that is not in the history is not delivered: the record fails and comes back.
        written.map_err(SendError::History)?;
        let d = match first {
            Ok(page) => self.fan_out(endpoint, job, Some(page), budget).await,
            Err(e) => Err(SendError::Fanout(e.into())),
        };
        // The record fails and comes back: its redelivery replays this seq.
        let fails = d.as_ref().map_or(true, |d| d.retryable_failures > 0);
        if let (true, Some(id)) = (fails, claim) {
            if let Err(e) = store.claim(key, id, &item).await {
                tracing::warn!(audience = %key, error = %e, "claim not written; the redelivery gets a new seq");
            }
        }
        d
    }

    /// The first page of connections of `audience`, read beside the history write.
    async fn first_page(
        &self,
        audience: &Audience,
    ) -> Result<crate::store::RoomPage, crate::store::StoreError> {
        match audience {
            Audience::Room(room) => {
                self.connections
                    .room_page(room, None, self.settings.page_size)
                    .await
            }
            Audience::Stream(stream) => match &self.streams {
                Some(s) => s.subscriptions.page(stream, None, self.settings.page_size).await,
                None => Ok(crate::store::RoomPage::default()),
            },
        }
    }

    /// A redelivery of a message already delivered at `prior.seq`: those bytes again (clients
    /// that have them drop them by `id`), and `marker` (the seq just taken, with no frame)
    /// written, so a recovery does not wait for that seq.
    async fn replay(
        &self,
        endpoint: &str,
        store: &dyn HistoryStore,
        audience: Audience,
        prior: HistoryItem,
        marker: HistoryItem,
        budget: Budget,
    ) -> Result<Delivery, SendError> {
        tracing::info!(
            audience = %audience,
            seq = prior.seq,
            "redelivery of a sequenced message: replaying it"
        );
        let key = audience.key().to_owned();
        let frame = Bytes::from(prior.frame.unwrap_or_default());
        let job = Job::post(audience, prior.target_user_id, frame);
        let (marked, delivered) = futures::join!(
            store.put(&key, &marker),
            self.fan_out(endpoint, job, None, budget)
        );
        if let Err(e) = marked {
            tracing::warn!(audience = %key, seq = marker.seq, error = %e, "skip marker not written");
        }
        delivered
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::frame::raw;
    use crate::handlers::deadline::Deadline;
    use crate::push::memory::{MemoryPusher, MemoryPusherFactory};
    use crate::store::{HistoryStore, MemoryHistoryStore};

    async fn sender(history: Arc<dyn HistoryStore>) -> (Sender, Arc<MemoryPusher>) {
        let conns = super::super::fixtures::connections(&[("a", "R", "1")]).await;
        let pusher = MemoryPusher::new();
        let s = Sender::new(conns, Arc::new(MemoryPusherFactory(pusher.clone())), None)
            .with_history(history, Duration::from_secs(60));
        (s, pusher)
    }

    fn message<'a>(data: &'a RawValue) -> Message<'a> {
        Message {
            audience: Audience::Room("R".into()),
            target_user: None,
            origin: Origin::User("1"),
            data,
            id: Some("m1"),
            dedup: true,
        }
    }

    const BUDGET: Budget = Budget {
        concurrency: 4,
        deadline: Deadline::NONE,
        enqueued_at: None,
    };

    #[tokio::test]
    async fn an_oversize_message_spends_no_seq() {
        let history = Arc::new(MemoryHistoryStore::default());
        let (s, pusher) = sender(history.clone()).await;
        let big = raw(&serde_json::json!("x".repeat(MAX_MESSAGE_BYTES)));
        let e = s
            .publish("https://e/dev", message(&big), BUDGET)
            .await
            .unwrap_err();
        assert!(matches!(e, SendError::TooLarge(_)), "{e}");
        assert_eq!(history.position("R").await.unwrap(), None, "no counter made");
        assert_eq!(pusher.total(), 0);
    }
}
