//! What a fan-out did, counted once its gone connections' rows are deleted.

use std::time::Instant;

use futures::stream::{self, StreamExt};

use super::engine::Outcome;
use super::job::Audience;
use crate::handlers::connect::forget_gone;
use crate::store::{ConnectionStore, Deleted, SubscriptionStore};

/// Gone rows deleted at once.
const DELETES_IN_FLIGHT: usize = 16;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Posts that succeeded (for a close: sockets closed).
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
    /// Given up after `Settings::max_rounds` carry-overs (logged).
    pub abandoned: usize,
    /// When the message was first queued (ms since 1970), when known: its job's.
    pub enqueued_at: Option<u64>,
    /// The job closed sockets rather than posting (`delivered` counts sockets closed).
    pub closed: bool,
}

impl Delivery {
    /// Posts given up on: rejected, out of attempts with nowhere to carry them, abandoned.
    pub fn failed(&self) -> usize {
        self.rejected + self.retryable_failures + self.abandoned
    }
}

/// Forgets the connections that answered 410, their rows and subscriptions (until `until`:
/// what is left then expires by TTL, or goes at the next 410), and counts the outcome.
pub(super) async fn settle(
    store: &dyn ConnectionStore,
    subscriptions: Option<&dyn SubscriptionStore>,
    audience: &Audience,
    out: &Outcome,
    until: Option<Instant>,
) -> Delivery {
    // Owned ids: a closure over borrowed ones would make the future not Send for every
    // lifetime, and callers spawn it.
    let deletes = stream::iter(out.gone.iter().cloned())
        .map(|id| async move {
            tracing::info!(connection_id = id, "stale connection, deleting");
            let kept = match forget_gone(store, subscriptions, &id).await {
                Ok(d) => d == Deleted::Kept,
                Err(e) => {
                    tracing::warn!(connection_id = id, error = %e, "could not delete stale connection");
                    false
                }
            };
            if kept {
                tracing::info!(connection_id = id, "a connection still opening: its row stays");
                return;
            }
            // Its row may be gone already (or never have named this stream): the item that
            // brought the post goes in any case, or every broadcast would post to it again.
            if let (Audience::Stream(stream), Some(subs)) = (audience, subscriptions) {
                if let Err(e) = subs.delete(&id, std::slice::from_ref(stream)).await {
                    tracing::warn!(connection_id = id, error = %e, "could not delete a stale subscription");
                }
            }
        })
        .buffer_unordered(DELETES_IN_FLIGHT)
        .collect::<Vec<()>>();
    match until {
        Some(t) => {
            let _ = tokio::time::timeout_at(t.into(), deletes).await;
        }
        None => {
            deletes.await;
        }
    }
    Delivery {
        delivered: out.delivered,
        gone: out.gone.len(),
        rejected: out.rejected,
        throttled: out.throttled,
        ..Delivery::default()
    }
}
