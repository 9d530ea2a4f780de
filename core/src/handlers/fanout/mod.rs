//! One frame to a room: reading it, posting with bounded concurrency at the pace the account
//! allows, retrying, and handing what one invocation cannot finish to others.
//!
//! A room is read once, whoever posts to it. With a queue at hand, the invocation that reads a
//! room (one Query page at a time, in connection-id order: the room index's sort key) keeps the
//! first `chunk` connections for itself and queues the rest as it reads them, `chunk` ids per
//! continuation record (continuation.rs), while it posts: a large room is spread at once over
//! invocations that post in parallel, and since the ids travel in the records nobody queries
//! the room again. When the Lambda's deadline comes, reading and posting stop and what is left
//! goes back to the queue too: the ids not posted to, and the cursor where reading stopped (the
//! last id read). Every id read is posted to or carried on exactly once and the cursor only
//! moves past ids read, so each connection gets the frame once.
//!
//! Without a queue (the local gateway, tests) one run reads the room page by page as it posts
//! and finishes it, however long that takes.

pub mod continuation;
mod engine;
pub mod pacer;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};

pub use continuation::{ContinuationError, Cursor, Job};
pub use pacer::Pacer;

use crate::push::lean::RetryPolicy;
use crate::push::{PushError, Pusher};
use crate::queue::Queue;
use crate::store::{ConnectionStore, RoomMember, RoomPage, StoreError};

/// How a sender fans out.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Posts in flight at once. API Gateway's management API allows far more per account,
    /// but one Lambda's outbound connections and memory do not.
    pub concurrency: usize,
    /// Connections asked for per Query (DynamoDB also stops a page at 1 MB). With a queue, a
    /// page is best about a `chunk`: the reader's first page is its own share, and a Query's
    /// time grows with the page it returns.
    pub page_size: usize,
    /// With a queue: the connections of a room the invocation that reads it posts to itself,
    /// and the most one continuation record hands on. The rest of the room is split into
    /// records of this many as it is read, for other invocations to post in parallel.
    pub chunk: usize,
    /// Stop starting posts this long before the deadline: time to finish the ones in flight,
    /// delete gone rows and queue the continuation. At most a quarter of the invocation (a
    /// function with Lambda's default 3 s timeout keeps 0.75 s).
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
            page_size: 5_000,
            // About 2 s of posting at 64 in flight and 20 ms a post: a batch of ten such
            // records (the event source's batch size) fits a 30 s invocation.
            chunk: 5_000,
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
    #[error("reading the room outlasted the invocation")]
    SlowStore,
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
    /// `Settings::reserve`, scaled to the invocation.
    pub reserve: Duration,
}

/// The connection ids of a page the job wants (all, or the target user's).
pub(crate) fn wanted(target_user: Option<&str>, m: RoomMember) -> Option<String> {
    target_user
        .is_none_or(|u| m.user_id == u)
        .then_some(m.connection_id)
}

/// When an invocation stops starting work (`stop_at`), and when it stops waiting for work
/// started (`hard_stop`): the time between them finishes posts in flight, and the rest of the
/// reserve deletes gone rows and queues what is left.
#[derive(Clone, Copy)]
struct Times {
    stop_at: Option<Instant>,
    hard_stop: Option<Instant>,
}

impl Times {
    fn new(deadline: Option<Instant>, reserve: Duration) -> Self {
        Times {
            stop_at: deadline.map(|t| t.checked_sub(reserve).unwrap_or(t)),
            hard_stop: deadline.map(|t| t.checked_sub(reserve / 4).unwrap_or(t)),
        }
    }

    fn stopped(&self) -> bool {
        self.stop_at.is_some_and(|t| Instant::now() >= t)
    }
}

impl Run<'_> {
    /// `first`: the page `job.read` starts with, when the caller has read it already.
    pub async fn run(&self, job: Job, first: Option<RoomPage>) -> Result<Delivery, FanoutError> {
        match self.queue {
            Some(queue) => self.run_shared(queue, job, first).await,
            None => self.run_alone(job, first).await,
        }
    }

    /// Nothing can be handed on: post to everyone, however long it takes.
    async fn run_alone(&self, mut job: Job, first: Option<RoomPage>) -> Result<Delivery, FanoutError> {
        let mut pending = std::mem::take(&mut job.pending);
        let mut read = job.read.take();
        if let (Some(page), Some(_)) = (first, &read) {
            pending.extend(
                page.members
                    .into_iter()
                    .filter_map(|m| wanted(job.target_user.as_deref(), m)),
            );
            read = page.next.map(|n| Cursor { after: Some(n) });
        }
        let out = self
            .engine(&job, Times::new(None, Duration::ZERO))
            .post(pending, read)
            .await;
        let mut d = self.tally(&out, None).await;
        if let Some(e) = out.fatal {
            return Err(FanoutError::Push(e));
        }
        if let Some(e) = out.store_error {
            return Err(e.into());
        }
        d.retryable_failures += out.exhausted.len();
        Ok(d)
    }

    async fn run_shared(
        &self,
        queue: &dyn Queue,
        mut job: Job,
        first: Option<RoomPage>,
    ) -> Result<Delivery, FanoutError> {
        let times = Times::new(self.deadline, self.reserve);
        let chunk = self.settings.chunk.max(1);
        let mut own = std::mem::take(&mut job.pending);
        let mut split = None;
        if let Some(cursor) = job.read.take() {
            let began = Instant::now();
            let page = match first {
                Some(page) => Some(Ok(page)),
                None => self.read(&job, cursor.after.as_deref(), times).await,
            };
            match page {
                Some(Ok(page)) => {
                    own.extend(
                        page.members
                            .into_iter()
                            .filter_map(|m| wanted(job.target_user.as_deref(), m)),
                    );
                    let rest = own.split_off(own.len().min(chunk));
                    split = Some((rest, page.next, began.elapsed()));
                }
                // Nothing done yet: the record fails as it is, and SQS delivers it again (and
                // after maxReceiveCount times, to the dead-letter queue). Handing the cursor on
                // instead would loop for ever if the store is always slower than the time an
                // invocation has.
                Some(Err(e)) => return Err(e.into()),
                None => return Err(FanoutError::SlowStore),
            }
        }

        // This invocation's share, posted while the rest of the room is read and queued.
        let posting = self.engine(&job, times).post(own, None);
        let splitting = async {
            match split {
                Some((rest, next, took)) => self.split(queue, &job, rest, next, took, times).await,
                None => Ok(0),
            }
        };
        let (out, split) = futures::join!(posting, splitting);
        let mut d = self.tally(&out, times.hard_stop).await;
        if let Some(e) = out.fatal {
            return Err(FanoutError::Push(e));
        }
        // The deadline came first: what is left of this share, at once.
        if !out.unfinished.is_empty() {
            let rest = Job {
                read: None,
                pending: out.unfinished,
                ..job.clone()
            };
            d.continued += self.hand_on(queue, &rest, Duration::ZERO).await?;
        }
        d.continued += split?;
        // Connections that used up their attempts: later, a bounded number of times.
        if !out.exhausted.is_empty() {
            if job.round >= self.settings.max_rounds {
                tracing::error!(
                    room_id = job.room_id,
                    connections = out.exhausted.len(),
                    rounds = job.round,
                    "giving up on connections that failed every attempt"
                );
                d.abandoned += out.exhausted.len();
            } else {
                let later = Job {
                    read: None,
                    pending: out.exhausted,
                    round: job.round + 1,
                    ..job.clone()
                };
                d.continued += self.hand_on(queue, &later, retry_delay(job.round)).await?;
            }
        }
        Ok(d)
    }

    /// Reads the rest of the room after the first page and queues it, `chunk` ids a record,
    /// until the room ends or the deadline nears (then the ids read and the cursor go on
    /// together). `last_read`: how long the first page took. Returns the records queued.
    async fn split(
        &self,
        queue: &dyn Queue,
        job: &Job,
        mut ids: Vec<String>,
        mut next: Option<String>,
        mut last_read: Duration,
        times: Times,
    ) -> Result<usize, FanoutError> {
        let chunk = self.settings.chunk.max(1);
        let mut queued = 0;
        loop {
            while ids.len() >= chunk || (next.is_none() && !ids.is_empty()) {
                let rest = ids.split_off(ids.len().min(chunk));
                let part = Job {
                    read: None,
                    pending: std::mem::replace(&mut ids, rest),
                    ..job.clone()
                };
                queued += self.hand_on(queue, &part, Duration::ZERO).await?;
            }
            let Some(after) = next.take() else {
                return Ok(queued);
            };
            // A read likely to outlast the invocation is not started: it would be given up,
            // and read again by the next one.
            let began = Instant::now();
            let page = match times.hard_stop {
                _ if times.stopped() => None,
                Some(h) if began + last_read.mul_f32(1.5) >= h => None,
                _ => self.read(job, Some(&after), times).await,
            };
            last_read = began.elapsed();
            let (delay, round) = match page {
                Some(Ok(page)) => {
                    ids.extend(
                        page.members
                            .into_iter()
                            .filter_map(|m| wanted(job.target_user.as_deref(), m)),
                    );
                    next = page.next;
                    continue;
                }
                None => (Duration::ZERO, job.round),
                // Part of the room is on its way already: failing the record would post that
                // part again. The rest waits and tries again, a bounded number of times.
                Some(Err(e)) if job.round < self.settings.max_rounds => {
                    tracing::warn!(room_id = job.room_id, error = %e, "reading the room failed; trying again later");
                    (retry_delay(job.round), job.round + 1)
                }
                Some(Err(e)) => return Err(e.into()),
            };
            let rest = Job {
                read: Some(Cursor { after: Some(after) }),
                pending: ids,
                round,
                ..job.clone()
            };
            return Ok(queued + self.hand_on(queue, &rest, delay).await?);
        }
    }

    /// One page, given up at the hard stop (`None`).
    async fn read(
        &self,
        job: &Job,
        after: Option<&str>,
        times: Times,
    ) -> Option<Result<RoomPage, StoreError>> {
        let read = self.store.room_page(&job.room_id, after, self.settings.page_size);
        match times.hard_stop {
            Some(t) => tokio::time::timeout_at(t.into(), read).await.ok(),
            None => Some(read.await),
        }
    }

    fn engine<'a>(&'a self, job: &'a Job, times: Times) -> engine::Engine<'a, 'a> {
        engine::Engine {
            run: self,
            room_id: &job.room_id,
            target_user: job.target_user.as_deref(),
            frame: &job.frame,
            stop_at: times.stop_at,
            hard_stop: times.hard_stop,
        }
    }

    /// The posting's counts, once the gone rows are deleted (until `until`).
    async fn tally(&self, out: &engine::Outcome, until: Option<Instant>) -> Delivery {
        self.delete_gone(&out.gone, until).await;
        Delivery {
            delivered: out.delivered,
            gone: out.gone.len(),
            rejected: out.rejected,
            throttled: out.throttled,
            ..Delivery::default()
        }
    }

    /// Queues `job` as continuation records; returns how many.
    async fn hand_on(&self, queue: &dyn Queue, job: &Job, delay: Duration) -> Result<usize, FanoutError> {
        let records = continuation::encode(job)?;
        for (i, body) in records.iter().enumerate() {
            if let Err(e) = queue.send_body(body, &job.room_id, delay).await {
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
                return Err(e.into());
            }
        }
        Ok(records.len())
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

/// Before carrying connections over again after round `round`: 2 s, 4 s, 8 s, ...
fn retry_delay(round: u32) -> Duration {
    Duration::from_secs(2u64 << round.min(8))
}
