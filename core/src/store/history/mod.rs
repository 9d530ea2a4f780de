//! The room history table (`names::history`; the protocol is in `docs/protocol.md`): per
//! room, a counter that hands out `seq` with one atomic ADD and fixes an `epoch` when it is
//! created, and the exact frame bytes delivered at each `seq` (kept `HERMES_HISTORY_TTL`
//! seconds). A message whose record is about to fail after its frame went out also gets a
//! claim (its SQS message id -> its seq), so the redelivery replays that frame instead of
//! sequencing it again. Claims are written only then: a third write on every message would
//! cost half as much again as the history itself.
//!
//! A stream's history (`names::stream_history`) is the same, per stream: a second store
//! (`DynamoHistoryStore::for_streams`, or another `MemoryHistoryStore`) given stream names
//! where this trait says room.

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::StoreError;

mod dynamodb;
mod memory;

pub use dynamodb::DynamoHistoryStore;
pub use memory::MemoryHistoryStore;

/// The room's counter (the item at `seq = 0`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counter {
    /// The last seq handed out; 0 when none was.
    pub last_seq: u64,
    /// Fixed when the counter is created: a lost counter comes back with another epoch, and
    /// clients holding a seq of the old one learn it means nothing.
    pub epoch: String,
    /// When the last seq was handed out (ms since 1970); 0 when none was.
    pub updated_at_ms: u64,
}

/// One history item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryItem {
    pub seq: u64,
    pub epoch: String,
    /// The frame as posted; `None` marks a seq consumed without a message of its own (a
    /// redelivery that found its claim), so recovery knows the gap is not a write in flight.
    pub frame: Option<Vec<u8>>,
    pub target_user_id: Option<String>,
    /// Epoch seconds (DynamoDB TTL; read back too, since the TTL sweep runs late).
    pub expires_at: u64,
}

impl HistoryItem {
    /// Whether `user_id`'s connections were sent this frame: untargeted, or targeted to them.
    pub fn visible_to(&self, user_id: &str) -> bool {
        self.frame.is_some() && self.target_user_id.as_deref().is_none_or(|t| t == user_id)
    }
}

#[async_trait]
pub trait HistoryStore: Send + Sync {
    /// The next seq of the room and its epoch: one atomic increment of the counter, which is
    /// created (seq 1, a new epoch) if absent.
    async fn next_seq(&self, room_id: &str) -> Result<Counter, StoreError>;

    /// The counter as it stands (a strongly consistent read), created with seq 0 and a new
    /// epoch if the room has none yet, so a client's first position means something.
    async fn counter(&self, room_id: &str) -> Result<Counter, StoreError>;

    /// Where the room stands, for a page rendered now to recover from once its socket opens:
    /// the counter as one eventually consistent read, never created. `None` when the room
    /// has had no message yet (every frame it gets from now on is one the page has not seen).
    async fn position(&self, room_id: &str) -> Result<Option<Counter>, StoreError>;

    /// Writes the item (TTL `expires_at`).
    async fn put(&self, room_id: &str, item: &HistoryItem) -> Result<(), StoreError>;

    /// Records that `message_id` was delivered as `item` (same TTL), for its redelivery.
    async fn claim(&self, room_id: &str, message_id: &str, item: &HistoryItem) -> Result<(), StoreError>;

    /// The item `message_id` was delivered as, if its claim and the item are both there.
    async fn claimed(&self, room_id: &str, message_id: &str) -> Result<Option<HistoryItem>, StoreError>;

    /// Items with `from <= seq <= to`, oldest first, at most `limit`, strongly consistent.
    async fn range(
        &self,
        room_id: &str,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<HistoryItem>, StoreError>;
}

/// A new epoch: 16 hex characters from the OS random source.
pub fn new_epoch() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the OS random source is available");
    hex::encode(b)
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Where a message id's claim lives in its room's partition: a negative sort key, so claims
/// never meet a recovery's `seq > since` nor the counter at 0. 62 bits of SHA-256; the claim
/// also stores the id itself, and a mismatch counts as no claim.
pub fn claim_key(message_id: &str) -> i64 {
    let h = Sha256::digest(message_id.as_bytes());
    let n = u64::from_be_bytes(h[..8].try_into().expect("8 bytes")) >> 2;
    -(n as i64) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_keys_are_negative_and_stable() {
        let a = claim_key("059f36b4-87a3-44ab-83d2-661622600101");
        assert!(a < 0);
        assert_eq!(a, claim_key("059f36b4-87a3-44ab-83d2-661622600101"));
        assert_ne!(a, claim_key("059f36b4-87a3-44ab-83d2-661622600102"));
        assert!(claim_key("") < 0);
    }

    #[test]
    fn epochs_differ() {
        let (a, b) = (new_epoch(), new_epoch());
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
    }
}
