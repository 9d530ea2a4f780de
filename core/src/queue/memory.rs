use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{Outgoing, Queue, QueueError, Received};
use crate::frame::Control;

/// An SQS-like queue in memory: received messages stay in flight until deleted, and come
/// back after the visibility timeout if they are not.
pub struct MemoryQueue {
    inner: Mutex<State>,
    ready: Notify,
    /// Random per queue: message ids never repeat across queues, processes or restarts (a
    /// browser drops ids it has seen, so a restarted hermes-local must not reuse them).
    prefix: u64,
    next: AtomicU64,
    visibility: Duration,
}

#[derive(Default)]
struct State {
    queued: VecDeque<(String, String)>,
    in_flight: HashMap<String, (String, String, Instant)>,
    /// Sent with a delay: (visible at, id, body).
    delayed: Vec<(Instant, String, String)>,
    /// When each message not yet deleted was sent (ms since 1970), by id.
    sent: HashMap<String, u64>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

impl Default for MemoryQueue {
    fn default() -> Self {
        Self::new(Duration::from_secs(30))
    }
}

impl MemoryQueue {
    pub fn new(visibility: Duration) -> Self {
        MemoryQueue {
            inner: Mutex::default(),
            ready: Notify::new(),
            prefix: random_u64(),
            next: AtomicU64::new(1),
            visibility,
        }
    }

    /// Messages queued and not yet received, delayed ones included (in flight ones excluded).
    pub fn pending(&self) -> Vec<String> {
        let g = self.inner.lock().unwrap();
        g.queued
            .iter()
            .map(|(_, b)| b.clone())
            .chain(g.delayed.iter().map(|(_, _, b)| b.clone()))
            .collect()
    }

    fn push(&self, body: String) -> String {
        let id = format!(
            "mem-{:016x}-{:08x}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let mut g = self.inner.lock().unwrap();
        g.sent.insert(id.clone(), now_ms());
        g.queued.push_back((id.clone(), body));
        drop(g);
        self.ready.notify_waiters();
        id
    }

    fn push_delayed(&self, body: String, delay: Duration) -> String {
        let id = format!(
            "mem-{:016x}-{:08x}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let at = Instant::now() + delay;
        let mut g = self.inner.lock().unwrap();
        g.sent.insert(id.clone(), now_ms());
        g.delayed.push((at, id.clone(), body));
        id
    }

    fn take(&self, max: usize) -> Vec<Received> {
        let mut g = self.inner.lock().unwrap();
        let now = Instant::now();
        let expired: Vec<String> = g
            .in_flight
            .iter()
            .filter(|(_, (_, _, t))| *t <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for r in expired {
            if let Some((id, body, _)) = g.in_flight.remove(&r) {
                g.queued.push_front((id, body));
            }
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut g.delayed)
            .into_iter()
            .partition(|(t, _, _)| *t <= now);
        g.delayed = later;
        g.queued.extend(due.into_iter().map(|(_, id, body)| (id, body)));
        let mut out = Vec::new();
        while out.len() < max {
            let Some((id, body)) = g.queued.pop_front() else {
                break;
            };
            let receipt = format!("{id}-r{}", self.next.fetch_add(1, Ordering::Relaxed));
            g.in_flight
                .insert(receipt.clone(), (id.clone(), body.clone(), now + self.visibility));
            let sent_at = g.sent.get(&id).copied();
            out.push(Received {
                message_id: id,
                receipt_handle: receipt,
                body,
                sent_at,
            });
        }
        out
    }
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the OS random source is available");
    u64::from_le_bytes(b)
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send_many(&self, records: &[Outgoing]) -> Result<Vec<String>, QueueError> {
        Ok(records.iter().map(|r| self.push(r.body.clone())).collect())
    }

    async fn send_body(&self, body: &str, _group: &str, delay: Duration) -> Result<String, QueueError> {
        if body.len() > super::MAX_BODY_BYTES {
            return Err(QueueError::Backend {
                op: "SendMessage",
                queue: "memory".into(),
                message: format!(
                    "body is {} bytes; SQS takes {}",
                    body.len(),
                    super::MAX_BODY_BYTES
                ),
            });
        }
        if delay.is_zero() {
            Ok(self.push(body.to_owned()))
        } else {
            Ok(self.push_delayed(body.to_owned(), delay))
        }
    }

    async fn send_control(&self, c: &Control) -> Result<String, QueueError> {
        Ok(self.push(c.to_body()))
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        let deadline = Instant::now() + wait;
        loop {
            let notified = self.ready.notified();
            let got = self.take(max.max(1));
            if !got.is_empty() {
                return Ok(got);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(got);
            }
            // Wake for new messages, or in time for an in-flight one to become visible again.
            let _ = tokio::time::timeout(left.min(Duration::from_millis(500)), notified).await;
        }
    }

    async fn delete(&self, receipt_handles: &[String]) -> Result<(), QueueError> {
        let mut g = self.inner.lock().unwrap();
        for h in receipt_handles {
            if let Some((id, _, _)) = g.in_flight.remove(h) {
                g.sent.remove(&id);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Notification;
    use serde_json::json;

    #[tokio::test]
    async fn receive_delete_and_redelivery() {
        let q = MemoryQueue::new(Duration::from_millis(50));
        let id = q.send(&Notification::new(1, "r", json!(1))).await.unwrap();
        let got = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message_id, id);
        assert!(
            q.receive(10, Duration::ZERO).await.unwrap().is_empty(),
            "in flight is invisible"
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
        let again = q.receive(10, Duration::ZERO).await.unwrap();
        assert_eq!(again[0].message_id, id, "undeleted message comes back");
        q.delete(&[again[0].receipt_handle.clone()]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(q.receive(10, Duration::ZERO).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn batch_with_one_oversize_entry_sends_nothing() {
        let q = MemoryQueue::default();
        let big = Notification::new(1, "r", json!("x".repeat(200_000)));
        let err = q
            .send_batch(&[Notification::new(1, "r", json!(1)), big])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("#1"), "{err}");
        assert!(q.pending().is_empty());
    }

    #[tokio::test]
    async fn message_ids_differ_across_queues() {
        // A restarted hermes-local is a new queue: its first id must not be one a page saw.
        let n = Notification::new(1, "r", json!(1));
        let (a, b) = (MemoryQueue::default(), MemoryQueue::default());
        let first_a = a.send(&n).await.unwrap();
        let first_b = b.send(&n).await.unwrap();
        assert_ne!(first_a, first_b);
        assert_ne!(first_a, a.send(&n).await.unwrap());
    }

    #[tokio::test]
    async fn long_poll_wakes_on_send() {
        let q = std::sync::Arc::new(MemoryQueue::default());
        let q2 = q.clone();
        let t = tokio::spawn(async move { q2.receive(1, Duration::from_secs(5)).await.unwrap() });
        tokio::time::sleep(Duration::from_millis(20)).await;
        q.send(&Notification::new(1, "r", json!("hi"))).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(2), t)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.len(), 1);
    }
}
