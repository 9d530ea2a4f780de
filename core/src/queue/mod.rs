//! The notification queue: SQS in production, memory for tests and the local demo.

use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

use crate::frame::{Broadcast, Control, Notification, PayloadTooLarge};

pub mod memory;
pub mod sqs;

pub use memory::MemoryQueue;
pub use sqs::SqsQueue;

/// A message taken off the queue, to be deleted once handled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// When it was sent (ms since 1970): SQS's `SentTimestamp`.
    pub sent_at: Option<u64>,
}

/// The event SQS's event source mapping makes of a batch: how hermes-local's poller and the
/// tests feed the send handler, as Lambda would.
pub fn sqs_event(got: &[Received], region: &str) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = got
        .iter()
        .map(|m| {
            let mut r = SqsMessage::default();
            r.message_id = Some(m.message_id.clone());
            r.receipt_handle = Some(m.receipt_handle.clone());
            r.body = Some(m.body.clone());
            r.event_source = Some("aws:sqs".into());
            r.aws_region = Some(region.to_owned());
            if let Some(at) = m.sent_at {
                r.attributes.insert("SentTimestamp".into(), at.to_string());
            }
            r
        })
        .collect();
    event
}

/// The receipt handles of the records `resp` does not report failed: what the event source
/// mapping deletes (the failures come back after the visibility timeout).
pub fn handled(got: &[Received], resp: &SqsBatchResponse) -> Vec<String> {
    got.iter()
        .filter(|m| {
            !resp
                .batch_item_failures
                .iter()
                .any(|f| f.item_identifier == m.message_id)
        })
        .map(|m| m.receipt_handle.clone())
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    TooLarge(#[from] PayloadTooLarge),
    /// An entry of a batch is too large; nothing of the batch was sent.
    #[error("entry #{index}: {error}")]
    TooLargeAt { index: usize, error: PayloadTooLarge },
    #[error("SQS {op} on queue {queue} failed: {message}")]
    Backend {
        op: &'static str,
        queue: String,
        message: String,
    },
    /// Some entries of a batch were queued, some were not: the caller learns which.
    #[error("{} of {} entries were not queued: {}", failed.len(), failed.len() + sent.len(), failed.iter().map(|(i, m)| format!("#{i}: {m}")).collect::<Vec<_>>().join("; "))]
    Partial {
        /// (index in the batch, message id)
        sent: Vec<(usize, String)>,
        /// (index in the batch, reason)
        failed: Vec<(usize, String)>,
    },
}

/// A record to queue: its body, and its group (a FIFO queue orders a group's records: a room's,
/// or a stream's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub body: String,
    pub group: String,
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Queues one notification and returns its message id.
    async fn send(&self, n: &Notification) -> Result<String, QueueError> {
        n.check_size()?;
        self.send_body(&n.to_body(), &n.room_id, Duration::ZERO).await
    }
    /// Queues many records, in order (SQS: batches of 10); returns one message id each, or
    /// which were queued and which were not.
    async fn send_many(&self, records: &[Outgoing]) -> Result<Vec<String>, QueueError>;
    /// Queues many notifications, in order; none if one is too large.
    async fn send_batch(&self, ns: &[Notification]) -> Result<Vec<String>, QueueError> {
        check_all(ns)?;
        let records: Vec<Outgoing> = ns
            .iter()
            .map(|n| Outgoing {
                body: n.to_body(),
                group: n.room_id.clone(),
            })
            .collect();
        self.send_many(&records).await
    }
    /// Queues broadcasts to streams, in order; none if one is too large.
    async fn send_broadcasts(&self, bs: &[Broadcast]) -> Result<Vec<String>, QueueError> {
        for (index, b) in bs.iter().enumerate() {
            b.check_size()
                .map_err(|error| QueueError::TooLargeAt { index, error })?;
        }
        let records: Vec<Outgoing> = bs
            .iter()
            .map(|b| Outgoing {
                body: b.to_body(),
                group: b.stream.clone(),
            })
            .collect();
        self.send_many(&records).await
    }
    /// Queues a control record (a disconnect) and returns its message id. On a FIFO queue it
    /// shares the room's message group, so it is ordered with the room's notifications.
    async fn send_control(&self, c: &Control) -> Result<String, QueueError>;
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError>;
    /// Queues a body as it is (a fan-out continuation: handlers/fanout), visible after `delay`.
    /// `group` orders it on a FIFO queue, which has no per-message delay.
    async fn send_body(&self, body: &str, group: &str, delay: Duration) -> Result<String, QueueError>;
    /// Deletes handled messages together (SQS: DeleteMessageBatch, 10 a call). An error says
    /// how many were not deleted; those come back after the visibility timeout.
    async fn delete(&self, receipt_handles: &[String]) -> Result<(), QueueError>;
}

/// SQS's message size limit (the classic one: newer queues accept more, older ones do not).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Every entry is checked before any is sent, so a batch with one oversize entry sends nothing.
pub fn check_all(ns: &[Notification]) -> Result<(), QueueError> {
    for (i, n) in ns.iter().enumerate() {
        n.check_size()
            .map_err(|error| QueueError::TooLargeAt { index: i, error })?;
    }
    Ok(())
}
