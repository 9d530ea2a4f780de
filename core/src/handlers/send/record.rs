//! One queue record: a notification (sequenced, written to the room's history, fanned out), a
//! broadcast (the same, for a stream's subscribers), a control record (a user's sockets in a
//! room closed) or a continuation (the rest of a fan-out another invocation started).

use std::time::Instant;

use aws_lambda_events::sqs::SqsMessage;

use super::publish::Message;
use super::{Budget, SendError, Sender};
use crate::frame::{Control, Origin, Record};
use crate::handlers::fanout::{decode, is_continuation, Action, Audience, Delivery, Job};

impl Sender {
    pub(super) async fn handle_record(
        &self,
        record: &SqsMessage,
        mut budget: Budget,
    ) -> Result<Delivery, SendError> {
        // Too close to the deadline to start: handed back untouched (batch.rs).
        if budget.deadline.stopped(Instant::now()) {
            return Err(SendError::NoTime);
        }
        let body = record
            .body
            .as_deref()
            .ok_or_else(|| SendError::BadRecord("empty body".into()))?;
        let endpoint = self.endpoint.as_deref().ok_or(SendError::NoEndpoint)?;
        budget.enqueued_at = sent_timestamp(record);
        let d = if is_continuation(body) {
            // The rest of a fan-out: its frame is posted as it is, never made (or sequenced,
            // or written to the history) again.
            let job = decode(body).map_err(|e| SendError::BadRecord(e.to_string()))?;
            self.fan_out(endpoint, job, None, budget).await?
        } else {
            match Record::parse(body).map_err(|e| SendError::BadRecord(e.to_string()))? {
                Record::Notification(n) => {
                    let sender = n.user_id.to_string();
                    let m = Message {
                        audience: Audience::Room(n.room_id.clone()),
                        target_user: n.target_user_id.as_deref(),
                        origin: Origin::User(&sender),
                        data: &n.data,
                        id: record.message_id.as_deref(),
                        dedup: true,
                    };
                    self.publish(endpoint, m, budget).await?
                }
                Record::Broadcast(b) => {
                    crate::stream_name::check_name(&b.stream)
                        .map_err(|e| SendError::BadRecord(e.to_string()))?;
                    let m = Message {
                        audience: Audience::Stream(b.stream.clone()),
                        target_user: None,
                        origin: Origin::Stream(&b.stream),
                        data: &b.data,
                        id: record.message_id.as_deref(),
                        dedup: true,
                    };
                    self.publish(endpoint, m, budget).await?
                }
                Record::Control(c) => self.control(endpoint, &c, budget).await?,
            }
        };
        if d.retryable_failures > 0 {
            return Err(SendError::Undelivered(d));
        }
        Ok(d)
    }

    /// A control record: closes (DeleteConnection) the target user's sockets in the room, the
    /// way a notification is fanned out (the room read once, paced, carried on by
    /// continuations). `delivered` counts the sockets closed.
    async fn control(&self, endpoint: &str, c: &Control, budget: Budget) -> Result<Delivery, SendError> {
        c.check().map_err(SendError::BadRecord)?;
        let Control::Disconnect { target, reason } = c;
        let job = Job::new(
            Audience::Room(target.room_id.clone()),
            Some(target.user_id.clone()),
            Action::Close,
        );
        let d = self.fan_out(endpoint, job, None, budget).await?;
        tracing::info!(
            room_id = target.room_id,
            user_id = target.user_id,
            reason = reason.as_deref().unwrap_or(""),
            closed = d.delivered,
            "disconnected"
        );
        Ok(d)
    }
}

/// SQS's `SentTimestamp` attribute: when the record was queued, in ms since 1970.
pub(super) fn sent_timestamp(record: &SqsMessage) -> Option<u64> {
    record.attributes.get("SentTimestamp")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::handlers::deadline::Deadline;
    use crate::push::memory::{MemoryPusher, MemoryPusherFactory};
    use crate::store::{ConnectionStore, MemoryConnectionStore, MemoryHistoryStore};

    struct World {
        sender: Sender,
        pusher: Arc<MemoryPusher>,
        conns: Arc<MemoryConnectionStore>,
    }

    async fn world(members: &[(&str, &str, &str)]) -> World {
        let conns = super::super::fixtures::connections(members).await;
        let pusher = MemoryPusher::new();
        let sender = Sender::new(
            conns.clone(),
            Arc::new(MemoryPusherFactory(pusher.clone())),
            Some("https://e/dev".into()),
        )
        .with_history(Arc::new(MemoryHistoryStore::default()), Duration::from_secs(60));
        World {
            sender,
            pusher,
            conns,
        }
    }

    fn record(id: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m
    }

    fn budget() -> Budget {
        Budget {
            concurrency: 4,
            deadline: Deadline::NONE,
            enqueued_at: None,
        }
    }

    fn text(frames: Vec<Vec<u8>>) -> Vec<String> {
        frames
            .into_iter()
            .map(|f| String::from_utf8(f).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn a_notification_is_sequenced_and_reaches_its_room_only() {
        let w = world(&[("a", "R", "1"), ("b", "R", "2"), ("x", "S", "1")]).await;
        let body = r#"{"user_id":7,"room_id":"R","data":{"k":1}}"#;
        let d = w
            .sender
            .handle_record(&record("m1", body), budget())
            .await
            .unwrap();
        assert_eq!((d.delivered, d.gone), (2, 0));
        let a = text(w.pusher.frames("a"));
        assert_eq!(a.len(), 1);
        assert!(
            a[0].starts_with(r#"{"user_id":"7","data":{"k":1},"id":"m1","seq":1,"epoch":""#),
            "{}",
            a[0]
        );
        assert_eq!(text(w.pusher.frames("b")), a);
        assert!(w.pusher.frames("x").is_empty());
    }

    #[tokio::test]
    async fn a_continuation_posts_its_frame_as_it_is_to_its_connections() {
        let w = world(&[("a", "R", "1"), ("b", "R", "1")]).await;
        let body =
            r#"{"hermes":"continuation","target":{"room_id":"R"},"pending":["b"],"frame":{"data": 1}}"#;
        let d = w
            .sender
            .handle_record(&record("c1", body), budget())
            .await
            .unwrap();
        assert_eq!(d.delivered, 1);
        assert!(w.pusher.frames("a").is_empty());
        assert_eq!(text(w.pusher.frames("b")), [r#"{"data": 1}"#]);
    }

    #[tokio::test]
    async fn a_disconnect_closes_the_users_sockets_in_that_room_only() {
        let w = world(&[("a", "R", "1"), ("b", "R", "2"), ("c", "S", "1")]).await;
        let body = r#"{"hermes":"disconnect","target":{"room_id":"R","user_id":"1"},"reason":"revoked"}"#;
        let d = w
            .sender
            .handle_record(&record("d1", body), budget())
            .await
            .unwrap();
        assert_eq!(d.delivered, 1);
        // Closed once: a second close of "a" is a 410, whose row is then deleted.
        let d = w
            .sender
            .handle_record(&record("d2", body), budget())
            .await
            .unwrap();
        assert_eq!((d.delivered, d.gone), (0, 1));
        assert_eq!(w.conns.get("a").await.unwrap(), None);
        assert!(w.conns.get("b").await.unwrap().is_some());
        assert!(w.conns.get("c").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn unreadable_records_fail_and_name_why() {
        let w = world(&[]).await;
        for (body, why) in [
            ("not json", "record body is not a notification"),
            (r#"{"user_id":1,"room_id":"R"}"#, "missing field `data`"),
            (
                r#"{"hermes":"disconnect","target":{"room_id":"","user_id":"1"}}"#,
                "needs a user_id and a room_id",
            ),
            (
                r#"{"hermes":"continuation","target":{"room_id":"R"}}"#,
                "either a frame",
            ),
        ] {
            let e = w
                .sender
                .handle_record(&record("m", body), budget())
                .await
                .unwrap_err();
            assert!(e.to_string().contains(why), "{body}: {e}");
        }
    }

    #[tokio::test]
    async fn nothing_starts_once_the_deadline_stops_work() {
        let w = world(&[("a", "R", "1")]).await;
        let now = Instant::now();
        let late = Budget {
            concurrency: 4,
            deadline: Deadline::new(
                Some(now + Duration::from_millis(100)),
                Duration::from_secs(3),
                now - Duration::from_secs(10),
            ),
            enqueued_at: None,
        };
        let body = r#"{"user_id":7,"room_id":"R","data":1}"#;
        assert!(matches!(
            w.sender.handle_record(&record("m1", body), late).await,
            Err(SendError::NoTime)
        ));
        assert!(w.pusher.frames("a").is_empty());
    }
}
