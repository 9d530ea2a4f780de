//! What recovering may cost: the connection's lease, and the bytes replays hold.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::frame::MAX_MESSAGE_BYTES;
use crate::handlers::recover::MAX_RECOVERED;

/// The most one replay holds: every frame it may post, at the largest size.
pub(super) const REPLAY_WORST_BYTES: usize = MAX_RECOVERED * MAX_MESSAGE_BYTES;

/// What recovering may cost (see the module's doc).
#[derive(Clone, Debug)]
pub struct RecoveryLimits {
    lease: Duration,
    max_bytes: usize,
    bytes: Arc<Semaphore>,
}

impl RecoveryLimits {
    /// `max_bytes` is raised to one replay's worst case, so a replay can always run.
    pub fn new(lease: Duration, max_bytes: usize) -> Self {
        let max_bytes = max_bytes.max(REPLAY_WORST_BYTES);
        RecoveryLimits {
            lease,
            max_bytes,
            bytes: Arc::new(Semaphore::new(max_bytes)),
        }
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

impl Default for RecoveryLimits {
    /// 10 s: the browser client's own wait for an answer; 64 MiB: five worst-case replays.
    fn default() -> Self {
        RecoveryLimits::new(Duration::from_secs(10), 64 << 20)
    }
}

impl RecoveryLimits {
    /// One replay's worst case of the process's recovery bytes, waited for until `until`.
    pub(super) async fn hold(&self, until: Option<Instant>) -> Option<OwnedSemaphorePermit> {
        let worst = u32::try_from(REPLAY_WORST_BYTES).expect("fits");
        let take = self.bytes.clone().acquire_many_owned(worst);
        let permit = match until {
            Some(t) => tokio::time::timeout_at(t.into(), take).await.ok()?,
            None => take.await,
        };
        Some(permit.expect("never closed"))
    }

    /// The bytes no replay holds now.
    #[cfg(test)]
    pub(super) fn available(&self) -> usize {
        self.bytes.available_permits()
    }
}
