//! What a fan-out did, counted once its gone connections' rows are deleted.

use std::time::Instant;

use futures::stream::{self, StreamExt};

use super::engine::Outcome;
use crate::store::ConnectionStore;

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
}

/// Deletes the rows of the connections that answered 410 (until `until`: rows left then
/// expire by TTL, or go at their next 410), and counts the outcome.
pub(super) async fn settle(store: &dyn ConnectionStore, out: &Outcome, until: Option<Instant>) -> Delivery {
    // Owned ids: a closure over borrowed ones would make the future not Send for every
    // lifetime, and callers spawn it.
    let deletes = stream::iter(out.gone.iter().cloned())
        .map(|id| async move {
            tracing::info!(connection_id = id, "stale connection, deleting");
            if let Err(e) = store.delete(&id).await {
                tracing::warn!(connection_id = id, error = %e, "could not delete stale connection");
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
