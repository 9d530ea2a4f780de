//! The tokens table (`names::tokens`): one bcrypt hash per user and room.

use async_trait::async_trait;

use super::StoreError;

mod dynamodb;
mod memory;

pub use dynamodb::DynamoTokenStore;
pub use memory::MemoryTokenStore;

/// A row of the tokens table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub user_id: String,
    pub room_id: String,
    /// bcrypt of the hex token.
    pub hash: String,
    /// Epoch seconds; absent on rows written by the seed.
    pub expires_at: Option<u64>,
    /// During a passcode rotation: the seal this row held before, which pages minted with the
    /// previous passcode still carry.
    pub previous: Option<PreviousSeal>,
}

/// A seal of the token composed with the previous passcode, accepted until `expires_at`
/// (the expiry of the row it came from: no JWT carrying it outlives that).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviousSeal {
    pub hash: String,
    pub expires_at: u64,
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn get(&self, user_id: &str, room_id: &str) -> Result<Option<TokenRecord>, StoreError>;
    async fn put(&self, record: &TokenRecord) -> Result<(), StoreError>;
    /// Returns whether a row was there.
    async fn delete(&self, user_id: &str, room_id: &str) -> Result<bool, StoreError>;
}
