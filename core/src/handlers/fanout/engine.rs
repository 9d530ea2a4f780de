//! The posting loop: the connections given first, then (when it reads the room itself) the
//! room's pages in id order; at most `concurrency` posts (or closes) in flight, started at the
//! pacer's rate; retries after a backoff with jitter; nothing new started once the deadline
//! stops work, in-flight posts abandoned at its hard stop.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use futures::stream::{FuturesUnordered, StreamExt};

use super::job::{Action, Cursor, Job};
use super::Fanout;
use crate::handlers::deadline::Deadline;
use crate::push::PushError;
use crate::store::{RoomPage, StoreError};

pub(super) struct Engine<'a, 'r> {
    pub fanout: &'a Fanout<'r>,
    pub job: &'a Job,
    pub deadline: Deadline,
}

#[derive(Default)]
pub(super) struct Outcome {
    pub delivered: usize,
    pub rejected: usize,
    pub throttled: usize,
    pub gone: Vec<String>,
    /// Failed every attempt this invocation allows.
    pub exhausted: Vec<String>,
    /// Read but not posted to when posting stopped.
    pub unfinished: Vec<String>,
    /// No post can work (misconfiguration): the job stops.
    pub fatal: Option<PushError>,
    pub store_error: Option<StoreError>,
}

struct Item {
    id: String,
    throttles: u32,
    failures: u32,
}

impl Item {
    fn new(id: String) -> Self {
        Item {
            id,
            throttles: 0,
            failures: 0,
        }
    }
}

/// A retry, ordered by when it is due (then by arrival).
struct Retry {
    due: Instant,
    seq: u64,
    item: Item,
}
impl PartialEq for Retry {
    fn eq(&self, o: &Self) -> bool {
        (self.due, self.seq) == (o.due, o.seq)
    }
}
impl Eq for Retry {}
impl PartialOrd for Retry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Retry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(o.due, o.seq))
    }
}

type Posting<'a> = Pin<Box<dyn Future<Output = (u64, Item, Instant, Result<(), PushError>)> + Send + 'a>>;
type Fetching<'a> = Pin<Box<dyn Future<Output = Result<RoomPage, StoreError>> + Send + 'a>>;

impl Engine<'_, '_> {
    /// Reaches `pending` first, then the room's pages from `more` (when this invocation reads
    /// the room as it goes: no queue to share it), until every connection is done or the
    /// deadline stops it; the outcome says which connections were not reached.
    pub async fn reach_all(self, pending: Vec<String>, mut more: Option<Cursor>) -> Outcome {
        let settings = self.fanout.settings;
        let pacer = self.fanout.pacer;
        let concurrency = self.fanout.concurrency.max(1);
        let (stop_at, hard_stop) = (self.deadline.stop_at(), self.deadline.hard_stop());
        let audience = &self.job.audience;
        let mut out = Outcome::default();
        let mut pending: VecDeque<Item> = pending.into_iter().map(Item::new).collect();
        let mut members: VecDeque<String> = VecDeque::new();
        let mut retries: BinaryHeap<Reverse<Retry>> = BinaryHeap::new();
        let mut in_flight: FuturesUnordered<Posting<'_>> = FuturesUnordered::new();
        let mut flying: HashMap<u64, String> = HashMap::new();
        let mut fetch: Option<Fetching<'_>> = None;
        let mut fetching: Option<Cursor> = None;
        let (mut seq, mut started) = (0u64, 0usize);
        let mut halted = false;

        loop {
            let now = Instant::now();
            // Every invocation starts at least a window's worth, so a chain of continuations
            // always moves on, however little time each is given.
            let stopping = halted || (self.deadline.stopped(now) && started >= concurrency);
            if stopping {
                if let Some(r) = fetching.take() {
                    fetch = None;
                    more = Some(r);
                }
            } else if fetch.is_none() && members.len() < concurrency {
                if let Some(c) = more.take() {
                    let (fanout, n) = (self.fanout, settings.page_size);
                    fetching = Some(c.clone());
                    fetch = Some(Box::pin(async move {
                        fanout.page(audience, c.after.as_deref(), n).await
                    }));
                }
            }

            let mut wake: Option<Instant> = None;
            if !stopping {
                while in_flight.len() < concurrency {
                    let retry_due = retries.peek().is_some_and(|r| r.0.due <= now);
                    if !retry_due && pending.is_empty() && members.is_empty() {
                        break;
                    }
                    if let Some(t) = pacer.take(now) {
                        wake = Some(t);
                        break;
                    }
                    let item = if retry_due {
                        retries.pop().expect("peeked").0.item
                    } else if let Some(i) = pending.pop_front() {
                        i
                    } else {
                        Item::new(members.pop_front().expect("checked"))
                    };
                    seq += 1;
                    started += 1;
                    flying.insert(seq, item.id.clone());
                    in_flight.push(self.attempt(seq, item));
                }
                if let Some(r) = retries.peek() {
                    wake = earliest(wake, r.0.due);
                }
                if let Some(s) = stop_at.filter(|s| *s > now) {
                    wake = earliest(wake, s);
                }
            } else if let Some(h) = hard_stop {
                wake = earliest(wake, h);
            }

            let idle = pending.is_empty()
                && members.is_empty()
                && more.is_none()
                && fetch.is_none()
                && retries.is_empty();
            if in_flight.is_empty() && (idle || stopping) {
                break;
            }
            if stopping && hard_stop.is_some_and(|h| now >= h) {
                // Still in flight: their answers will not be waited for. They may have been
                // delivered; the continuation posts them again (the client drops duplicates).
                tracing::warn!(
                    audience = %audience,
                    abandoned = flying.len(),
                    "deadline: posts still in flight are handed on"
                );
                break;
            }

            tokio::select! {
                Some((token, item, began, r)) = in_flight.next(), if !in_flight.is_empty() => {
                    flying.remove(&token);
                    let now = Instant::now();
                    match r {
                        Ok(()) => out.delivered += 1,
                        Err(PushError::Gone) => out.gone.push(item.id),
                        Err(PushError::Throttled(e)) => {
                            out.throttled += 1;
                            pacer.throttled(began, now);
                            let mut item = item;
                            item.throttles += 1;
                            if item.throttles >= settings.throttled_attempts {
                                tracing::warn!(connection_id = item.id, error = %e, attempts = item.throttles, "post throttled at every attempt");
                                out.exhausted.push(item.id);
                            } else if stopping {
                                out.unfinished.push(item.id);
                            } else {
                                seq += 1;
                                let due = now + settings.retry.backoff(item.throttles);
                                retries.push(Reverse(Retry { due, seq, item }));
                            }
                        }
                        Err(PushError::Unavailable(e)) => {
                            let mut item = item;
                            item.failures += 1;
                            if item.failures >= settings.retry.max_attempts {
                                tracing::warn!(connection_id = item.id, error = %e, attempts = item.failures, "post failed at every attempt");
                                out.exhausted.push(item.id);
                            } else if stopping {
                                out.unfinished.push(item.id);
                            } else {
                                seq += 1;
                                let due = now + settings.retry.backoff(item.failures);
                                retries.push(Reverse(Retry { due, seq, item }));
                            }
                        }
                        Err(e @ PushError::Rejected { .. }) => {
                            out.rejected += 1;
                            tracing::warn!(connection_id = item.id, error = %e, "post rejected");
                        }
                        Err(e @ PushError::Misconfigured(_)) => {
                            tracing::error!(audience = %audience, error = %e, "no post can succeed");
                            out.unfinished.push(item.id);
                            out.fatal = Some(e);
                            halted = true;
                        }
                    }
                }
                page = async { match fetch.as_mut() { Some(f) => f.await, None => std::future::pending().await } }, if fetch.is_some() => {
                    fetch = None;
                    fetching = None;
                    match page {
                        Ok(p) => {
                            members.extend(self.job.wanted(p.members));
                            more = p.next.map(|n| Cursor { after: Some(n) });
                        }
                        Err(e) => {
                            out.store_error = Some(e);
                            halted = true;
                        }
                    }
                }
                _ = sleep_until(wake), if wake.is_some() => {}
            }
        }

        out.unfinished.extend(flying.into_values());
        out.unfinished.extend(pending.into_iter().map(|i| i.id));
        out.unfinished.extend(retries.into_iter().map(|r| r.0.item.id));
        out.unfinished.extend(members);
        out
    }

    /// One attempt, not retried here: retries are the loop's, paced and bounded.
    fn attempt(&self, token: u64, item: Item) -> Posting<'static> {
        let pusher = self.fanout.pusher.clone();
        let action = self.job.action.clone();
        Box::pin(async move {
            let began = Instant::now();
            let r = match &action {
                Action::Post(frame) => pusher.post_once(&item.id, frame).await,
                Action::Close => pusher.close(&item.id).await,
            };
            (token, item, began, r)
        })
    }
}

fn earliest(a: Option<Instant>, b: Instant) -> Option<Instant> {
    Some(a.map_or(b, |a| a.min(b)))
}

async fn sleep_until(t: Option<Instant>) {
    if let Some(t) = t {
        tokio::time::sleep_until(t.into()).await;
    }
}
