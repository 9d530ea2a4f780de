use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use sha2::{Digest, Sha256};

use super::{Outgoing, Queue, QueueError, Received};
use crate::frame::Control;

/// SendMessageBatch takes at most 10 entries and 256 KiB in all (the classic limit; newer
/// queues accept more, older ones do not).
const BATCH_ENTRIES: usize = 10;
const BATCH_BYTES: usize = 256 * 1024;

pub struct SqsQueue {
    client: Client,
    url: String,
    /// The queue's name (the URL's last segment), for error messages.
    name: String,
    fifo: bool,
    seq: AtomicU64,
}

/// The queue's name in its URL (`https://sqs.{region}.amazonaws.com/{account}/{name}`).
fn queue_name(url: &str) -> String {
    url.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or(url)
        .to_owned()
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        let url = url.into();
        let fifo = url.ends_with(".fifo");
        SqsQueue {
            client,
            name: queue_name(&url),
            url,
            fifo,
            seq: AtomicU64::new(0),
        }
    }

    fn backend_err<E>(&self, op: &'static str, e: SdkError<E, HttpResponse>) -> QueueError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.failed(op, crate::aws::describe_sdk_error(&e))
    }

    fn failed(&self, op: &'static str, message: String) -> QueueError {
        QueueError::Backend {
            op,
            queue: self.name.clone(),
            message,
        }
    }

    /// FIFO queues order per room; the dedup id is unique per call so two identical
    /// notifications sent on purpose are both delivered.
    fn fifo_ids(&self, group: &str) -> (Option<String>, Option<String>) {
        if !self.fifo {
            return (None, None);
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut h = Sha256::new();
        h.update(nanos.to_le_bytes());
        h.update(self.seq.fetch_add(1, Ordering::Relaxed).to_le_bytes());
        h.update(std::process::id().to_le_bytes());
        (Some(group.to_owned()), Some(hex::encode(&h.finalize()[..16])))
    }

    /// One SendMessage; `delay` only on a standard queue (FIFO queues have no per-message
    /// delay: the group orders it instead).
    async fn send_one(&self, body: &str, group: &str, delay: Duration) -> Result<String, QueueError> {
        let mut req = self.client.send_message().queue_url(&self.url).message_body(body);
        if self.fifo {
            let (g, dedup) = self.fifo_ids(group);
            req = req.set_message_group_id(g).set_message_deduplication_id(dedup);
        } else if !delay.is_zero() {
            req = req.delay_seconds(delay.as_secs().clamp(1, 900) as i32);
        }
        let out = req.send().await.map_err(|e| self.backend_err("SendMessage", e))?;
        out.message_id
            .ok_or_else(|| self.failed("SendMessage", "reply has no MessageId".into()))
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send_control(&self, c: &Control) -> Result<String, QueueError> {
        self.send_one(&c.to_body(), c.room_id(), Duration::ZERO).await
    }

    async fn send_many(&self, records: &[Outgoing]) -> Result<Vec<String>, QueueError> {
        let mut sent: Vec<(usize, String)> = Vec::with_capacity(records.len());
        let mut failed: Vec<(usize, String)> = Vec::new();
        let mut start = 0;
        while start < records.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < records.len()
                && end - start < BATCH_ENTRIES
                && (end == start || bytes + records[end].body.len() <= BATCH_BYTES)
            {
                bytes += records[end].body.len();
                end += 1;
            }
            let mut req = self.client.send_message_batch().queue_url(&self.url);
            for (i, r) in records.iter().enumerate().take(end).skip(start) {
                let (group, dedup) = self.fifo_ids(&r.group);
                let entry = SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&r.body)
                    .set_message_group_id(group)
                    .set_message_deduplication_id(dedup)
                    .build()
                    .map_err(|e| self.failed("SendMessageBatch", e.to_string()))?;
                req = req.entries(entry);
            }
            match req.send().await {
                Ok(out) => {
                    for ok in out.successful {
                        sent.push((ok.id.parse().unwrap_or(usize::MAX), ok.message_id));
                    }
                    for bad in out.failed {
                        let reason = format!(
                            "{}{}",
                            bad.code,
                            bad.message.map(|m| format!(": {m}")).unwrap_or_default()
                        );
                        failed.push((bad.id.parse().unwrap_or(usize::MAX), reason));
                    }
                }
                Err(e) => {
                    let reason = crate::aws::describe_sdk_error(&e);
                    failed.extend((start..end).map(|i| (i, reason.clone())));
                }
            }
            start = end;
        }
        sent.sort();
        failed.sort();
        if !failed.is_empty() {
            return Err(QueueError::Partial { sent, failed });
        }
        Ok(sent.into_iter().map(|(_, id)| id).collect())
    }

    async fn send_body(&self, body: &str, group: &str, delay: Duration) -> Result<String, QueueError> {
        if body.len() > super::MAX_BODY_BYTES {
            return Err(self.failed(
                "SendMessage",
                format!(
                    "body is {} bytes; SQS takes {}",
                    body.len(),
                    super::MAX_BODY_BYTES
                ),
            ));
        }
        self.send_one(body, group, delay).await
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| self.backend_err("ReceiveMessage", e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| Received {
                sent_at: m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                    .and_then(|t| t.parse().ok()),
                message_id: m.message_id.unwrap_or_default(),
                receipt_handle: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
            })
            .collect())
    }

    async fn delete(&self, receipt_handles: &[String]) -> Result<(), QueueError> {
        let mut failed = Vec::new();
        for chunk in receipt_handles.chunks(10) {
            let mut req = self.client.delete_message_batch().queue_url(&self.url);
            for (i, h) in chunk.iter().enumerate() {
                let entry = DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(h)
                    .build()
                    .map_err(|e| self.failed("DeleteMessageBatch", e.to_string()))?;
                req = req.entries(entry);
            }
            let out = req
                .send()
                .await
                .map_err(|e| self.backend_err("DeleteMessageBatch", e))?;
            failed.extend(out.failed.into_iter().map(|f| f.code));
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(self.failed(
                "DeleteMessageBatch",
                format!(
                    "{} of {} not deleted ({})",
                    failed.len(),
                    receipt_handles.len(),
                    failed.join(", ")
                ),
            ))
        }
    }
}
