//! One frame to a room or a stream (or one user's sockets closed): reading it, posting with bounded concurrency at the pace the account
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

//!
//! | file | what |
//! |---|---|
//! | `job.rs` | what is left of a fan-out, in memory |
//! | `continuation.rs` | a job as a queue record |
//! | `engine.rs` | the posting loop: concurrency, pacing, retries, the deadline |
//! | `split.rs` | reading the rest of a room and queueing it for other invocations |
//! | `tally.rs` | the counts, and gone connections' rows deleted |
//! | `pacer.rs` | the sender's rate after 429s |

mod continuation;
mod engine;
mod job;
mod pacer;
mod settings;
mod split;
mod tally;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use continuation::{decode, encode, is_continuation, ContinuationError};
pub use job::{Action, Audience, Cursor, Job};
pub use pacer::Pacer;
pub use settings::Settings;
pub use tally::Delivery;

use super::deadline::Deadline;
use crate::push::{PushError, Pusher};
use crate::queue::Queue;
use crate::store::{ConnectionStore, RoomPage, StoreError, SubscriptionStore};

#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    #[error("reading the room failed: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Continuation(#[from] ContinuationError),
    #[error("queueing the rest of the room failed: {0}")]
    Queue(#[from] crate::queue::QueueError),
    #[error(transparent)]
    Push(PushError),
    #[error("reading the room outlasted the invocation")]
    SlowStore,
}

/// One job's fan-out inside one invocation.
pub struct Fanout<'a> {
    pub store: &'a dyn ConnectionStore,
    /// `None` when streams are not set up (then no job is for a stream, and no row has any).
    pub subscriptions: Option<&'a dyn SubscriptionStore>,
    pub pusher: Arc<dyn Pusher>,
    /// Where what this invocation cannot finish goes; `None`: finish it here.
    pub queue: Option<&'a dyn Queue>,
    pub pacer: &'a Pacer,
    pub settings: &'a Settings,
    /// Posts in flight for this job (a batch's records share the sender's).
    pub concurrency: usize,
    pub deadline: Deadline,
}

impl Fanout<'_> {
    /// Reaches the job's connections. `first`: the page reading the room starts with, when
    /// the caller has read it already (beside the history write).
    pub async fn deliver(&self, job: Job, first: Option<RoomPage>) -> Result<Delivery, FanoutError> {
        let (enqueued_at, closed) = (job.enqueued_at, job.action == Action::Close);
        let d = match self.queue {
            Some(queue) => self.post_share_and_hand_on(queue, job, first).await,
            None => self.post_whole_room(job, first).await,
        }?;
        Ok(Delivery {
            enqueued_at,
            closed,
            ..d
        })
    }

    /// Nothing can be handed on: every connection, however long it takes.
    async fn post_whole_room(&self, mut job: Job, first: Option<RoomPage>) -> Result<Delivery, FanoutError> {
        let mut pending = std::mem::take(&mut job.pending);
        let mut read = job.read.take();
        if let (Some(page), Some(_)) = (first, &read) {
            pending.extend(job.wanted(page.members));
            read = page.next.map(|n| Cursor { after: Some(n) });
        }
        let out = self.engine(&job, Deadline::NONE).reach_all(pending, read).await;
        let mut d = tally::settle(self.store, self.subscriptions, &job.audience, &out, None).await;
        if let Some(e) = out.fatal {
            return Err(FanoutError::Push(e));
        }
        if let Some(e) = out.store_error {
            return Err(e.into());
        }
        d.retryable_failures += out.exhausted.len();
        Ok(d)
    }

    /// This invocation's share of the room (the first `chunk` connections read), posted while
    /// the rest is read and queued for other invocations; what the deadline leaves, and
    /// connections that used up their attempts, are queued too.
    async fn post_share_and_hand_on(
        &self,
        queue: &dyn Queue,
        mut job: Job,
        first: Option<RoomPage>,
    ) -> Result<Delivery, FanoutError> {
        let chunk = self.settings.chunk.max(1);
        let mut own = std::mem::take(&mut job.pending);
        let mut rest = None;
        if let Some(cursor) = job.read.take() {
            let began = Instant::now();
            let page = match first {
                Some(page) => Some(Ok(page)),
                None => self.read_page(&job, cursor.after.as_deref()).await,
            };
            match page {
                Some(Ok(page)) => {
                    own.extend(job.wanted(page.members));
                    let more = own.split_off(own.len().min(chunk));
                    rest = Some((more, page.next, began.elapsed()));
                }
                // Nothing done yet: the record fails as it is, and SQS delivers it again (and
                // after maxReceiveCount times, to the dead-letter queue). Handing the cursor on
                // instead would loop for ever if the store is always slower than the time an
                // invocation has.
                Some(Err(e)) => return Err(e.into()),
                None => return Err(FanoutError::SlowStore),
            }
        }

        let posting = self.engine(&job, self.deadline).reach_all(own, None);
        let splitting = async {
            match rest {
                Some((ids, next, took)) => self.split(queue, &job, ids, next, took).await,
                None => Ok(0),
            }
        };
        let (out, split) = futures::join!(posting, splitting);
        let mut d = tally::settle(
            self.store,
            self.subscriptions,
            &job.audience,
            &out,
            self.deadline.hard_stop(),
        )
        .await;
        if let Some(e) = out.fatal {
            return Err(FanoutError::Push(e));
        }
        // The deadline came first: what is left of this share, at once.
        if !out.unfinished.is_empty() {
            let left = job.part(out.unfinished, None, job.round);
            d.continued += self.hand_on(queue, &left, Duration::ZERO).await?;
        }
        d.continued += split?;
        // Connections that used up their attempts: later, a bounded number of times.
        if !out.exhausted.is_empty() {
            if job.round >= self.settings.max_rounds {
                tracing::error!(
                    audience = %job.audience,
                    connections = out.exhausted.len(),
                    rounds = job.round,
                    "giving up on connections that failed every attempt"
                );
                d.abandoned += out.exhausted.len();
            } else {
                let later = job.part(out.exhausted, None, job.round + 1);
                d.continued += self.hand_on(queue, &later, retry_delay(job.round)).await?;
            }
        }
        Ok(d)
    }

    /// At most `limit` of the audience's connections after `after`, in id order.
    async fn page(
        &self,
        audience: &Audience,
        after: Option<&str>,
        limit: usize,
    ) -> Result<RoomPage, StoreError> {
        match audience {
            Audience::Room(room) => self.store.room_page(room, after, limit).await,
            Audience::Stream(stream) => match self.subscriptions {
                Some(s) => s.page(stream, after, limit).await,
                // The send function refuses a stream's job when it has no streams.
                None => Ok(RoomPage::default()),
            },
        }
    }

    fn engine<'a>(&'a self, job: &'a Job, deadline: Deadline) -> engine::Engine<'a, 'a> {
        engine::Engine {
            fanout: self,
            job,
            deadline,
        }
    }
}

/// Before carrying connections over again after round `round`: 2 s, 4 s, 8 s, ...
fn retry_delay(round: u32) -> Duration {
    Duration::from_secs(2u64 << round.min(8))
}
