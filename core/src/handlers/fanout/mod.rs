//! One frame to a room: reading it page by page, posting with bounded concurrency at the pace
//! the account allows, retrying, and handing what one invocation cannot finish to the next.
//!
//! A room is read in connection-id order (the room index's sort key), so "the rest of the room"
//! is an id range and the Query's cursor is the last id started. When a page ends with more to
//! come and a queue is at hand, the rest of the room goes back to the queue at once as a
//! continuation record (continuation.rs), before this page is posted: a large room is split
//! into pages that several invocations post in parallel. When the Lambda's deadline comes
//! first, posting stops and what is left (the unread range, plus the connections read but not
//! yet posted to) goes back too. Ranges never overlap and every id read is either posted or
//! carried on, so each connection gets the frame once.

pub mod continuation;
mod engine;
pub mod pacer;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};

pub use continuation::{ContinuationError, Job};
pub use pacer::Pacer;

use crate::push::lean::RetryPolicy;
use crate::push::{PushError, Pusher};
use crate::queue::Queue;
use crate::store::{ConnectionStore, IdRange};

/// How a sender fans out.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Posts in flight at once. API Gateway's management API allows far more per account,
    /// but one Lambda's outbound connections and memory do not.
    pub concurrency: usize,
    /// Connections read per Query, and so the most one invocation posts to before the rest
    /// of the room is handed to another (when there is a queue).
    pub page_size: usize,
    /// Stop starting posts this long before the deadline: time to finish the ones in flight,
    /// delete gone rows and queue the continuation.
    pub reserve: Duration,
    /// Attempts per connection after 429s (the pacer slows the sender down meanwhile).
    pub throttled_attempts: u32,
    /// Attempts and backoff after 5xx and transport failures.
    pub retry: RetryPolicy,
    /// Connections that used up their attempts are carried over (after a delay) this many times.
    pub max_rounds: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: 64,
            page_size: 10_000,
            reserve: Duration::from_secs(3),
            throttled_attempts: 6,
            retry: RetryPolicy {
                max_backoff: Duration::from_secs(1),
                ..RetryPolicy::default()
            },
            max_rounds: 3,
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub delivered: usize,
    /// 410 answers; their rows were deleted.
    pub gone: usize,
    /// Throttled or unavailable after every attempt, with no queue to carry them on: the
    /// record fails and SQS delivers it again.
    pub retryable_failures: usize,
    /// Other 4xx: logged and dropped.
    pub rejected: usize,
    /// 429 answers met on the way (each retried at the pacer's rate).
    pub throttled: usize,
    /// Continuation records queued.
    pub continued: usize,
    /// Given up after `max_rounds` carry-overs (logged).
    pub abandoned: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    #[error("reading the room failed: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Continuation(#[from] ContinuationError),
    #[error("queueing the rest of the room failed: {0}")]
    Queue(#[from] crate::queue::QueueError),
    #[error(transparent)]
    Push(PushError),
    #[error("{0}; the record fails and SQS delivers it again")]
    NotQueued(&'static str),
}

/// One job's run inside one invocation.
pub(crate) struct Run<'a> {
    pub store: &'a dyn ConnectionStore,
    pub pusher: Arc<dyn Pusher>,
    pub queue: Option<&'a dyn Queue>,
    pub pacer: &'a Pacer,
    pub settings: &'a Settings,
    /// Posts in flight for this job (the batch's records share the sender's).
    pub concurrency: usize,
    pub deadline: Option<Instant>,
}

impl Run<'_> {
    pub async fn run(&self, mut job: Job) -> Result<Delivery, FanoutError> {
        let mut d = Delivery::default();
        // Without a queue nothing can be handed on: post everything, however long it takes.
        let deadline = self.deadline.filter(|_| self.queue.is_some());
        let stop_at = deadline.map(|t| t.checked_sub(self.settings.reserve).unwrap_or(t));
        let hard_stop = deadline.map(|t| t.checked_sub(self.settings.reserve / 4).unwrap_or(t));

        // The first page, and the rest of the room to another invocation when there is more.
        let mut first = None;
        let mut more = None;
        if let Some(range) = job.range.take() {
            let read = self
                .store
                .room_page(&job.room_id, &range, self.settings.page_size);
            let page = match hard_stop {
                Some(t) => match tokio::time::timeout_at(t.into(), read).await {
                    Ok(page) => page?,
                    Err(_) => {
                        // The store is too slow for this invocation: the next one reads it.
                        tracing::warn!(room_id = job.room_id, "reading the room outlasted the invocation");
                        job.range = Some(range.clone());
                        let (range, pending) = (job.range.take(), std::mem::take(&mut job.pending));
                        if self.hand_on(&job, range, pending, Duration::ZERO, &mut d).await {
                            return Ok(d);
                        }
                        return Err(FanoutError::NotQueued("the rest of the room could not be queued"));
                    }
                },
                None => read.await?,
            };
            let mut own = range.clone();
            if let Some(next) = page.next.clone() {
                let rest = IdRange {
                    after: Some(next.clone()),
                    until: range.until.clone(),
                };
                if self
                    .hand_on(&job, Some(rest.clone()), Vec::new(), Duration::ZERO, &mut d)
                    .await
                {
                    own.until = Some(next);
                } else {
                    more = Some(rest);
                }
            }
            first = Some((own, page.members));
        }

        let out = engine::Engine {
            run: self,
            room_id: &job.room_id,
            target_user: job.target_user.as_deref(),
            frame: &job.frame,
            stop_at,
            hard_stop,
        }
        .post(std::mem::take(&mut job.pending), first, more)
        .await;
        d.delivered += out.delivered;
        d.rejected += out.rejected;
        d.throttled += out.throttled;
        d.gone += out.gone.len();
        self.delete_gone(&out.gone, hard_stop).await;
        if let Some(e) = out.fatal {
            return Err(FanoutError::Push(e));
        }
        if let Some(e) = out.store_error {
            if self.queue.is_none() {
                return Err(e.into());
            }
            tracing::warn!(room_id = job.room_id, error = %e, "reading the room failed; the rest goes back to the queue");
        }

        // The deadline came first: the rest, at once.
        let more_to_do = out.left.is_some() || !out.unfinished.is_empty();
        if more_to_do
            && !self
                .hand_on(&job, out.left, out.unfinished, Duration::ZERO, &mut d)
                .await
        {
            return Err(FanoutError::NotQueued("the rest of the room could not be queued"));
        }
        // Connections that used up their attempts: later, a bounded number of times.
        if !out.exhausted.is_empty() {
            if self.queue.is_none() {
                d.retryable_failures += out.exhausted.len();
            } else if job.round >= self.settings.max_rounds {
                tracing::error!(
                    room_id = job.room_id,
                    connections = out.exhausted.len(),
                    rounds = job.round,
                    "giving up on connections that failed every attempt"
                );
                d.abandoned += out.exhausted.len();
            } else {
                let mut later = job.clone();
                later.round += 1;
                let delay = Duration::from_secs(2u64 << job.round.min(8));
                if !self.hand_on(&later, None, out.exhausted, delay, &mut d).await {
                    return Err(FanoutError::NotQueued("connections to retry could not be queued"));
                }
            }
        }
        Ok(d)
    }

    /// Queues a continuation of `job` with this range and pending list. False when there is
    /// no queue or it refused (the caller then keeps the work or fails the record).
    async fn hand_on(
        &self,
        job: &Job,
        range: Option<IdRange>,
        pending: Vec<String>,
        delay: Duration,
        d: &mut Delivery,
    ) -> bool {
        let Some(queue) = self.queue else { return false };
        let next = Job {
            range,
            pending,
            ..job.clone()
        };
        let records = match continuation::encode(&next) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(room_id = job.room_id, error = %e, "cannot continue this fan-out");
                return false;
            }
        };
        for (i, body) in records.iter().enumerate() {
            if let Err(e) = queue.send_body(body, &job.room_id, delay).await {
                tracing::error!(room_id = job.room_id, error = %e, "queueing a continuation failed");
                if i > 0 {
                    // Part of it queued: the record fails, SQS delivers it again and some
                    // connections may get the frame twice (the browser client drops
                    // duplicates by id).
                    tracing::warn!(
                        room_id = job.room_id,
                        queued = i,
                        "continuation only partly queued"
                    );
                }
                return false;
            }
            d.continued += 1;
        }
        true
    }

    async fn delete_gone(&self, ids: &[String], until: Option<Instant>) {
        let store = self.store;
        // Owned ids: a closure over borrowed ones would make the future not Send for every
        // lifetime, and callers spawn it.
        let deletes = stream::iter(ids.iter().cloned())
            .map(move |id| async move {
                tracing::info!(connection_id = id, "stale connection, deleting");
                if let Err(e) = store.delete(&id).await {
                    tracing::warn!(connection_id = id, error = %e, "could not delete stale connection");
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<()>>();
        match until {
            // Rows left now expire by TTL, or go at the next 410.
            Some(t) => {
                let _ = tokio::time::timeout_at(t.into(), deletes).await;
            }
            None => {
                deletes.await;
            }
        }
    }
}
