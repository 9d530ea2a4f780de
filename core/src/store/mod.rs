//! The three tables behind traits: DynamoDB in production, memory for tests and the local demo.

use async_trait::async_trait;

pub mod dynamodb;
pub mod history;
pub mod memory;

pub use dynamodb::{DynamoConnectionStore, DynamoHistoryStore, DynamoTokenStore};
pub use history::{Counter, HistoryItem, HistoryStore};
pub use memory::{MemoryConnectionStore, MemoryHistoryStore, MemoryTokenStore};

/// A row of the tokens table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub user_id: String,
    pub room_id: String,
    /// bcrypt of the hex token.
    pub hash: String,
    /// Epoch seconds; absent on rows written by the seed.
    pub expires_at: Option<u64>,
}

/// A row of the connections table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub connection_id: String,
    pub room_id: String,
    pub user_id: String,
    pub connected_at: u64,
    pub expires_at: u64,
}

/// What fan-out needs of each connection in a room (what the room index projects).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RoomMember {
    pub connection_id: String,
    pub user_id: String,
}

/// One page of a room, in id order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomPage {
    pub members: Vec<RoomMember>,
    /// More may follow after this id (DynamoDB's LastEvaluatedKey); `None`: the range is done.
    pub next: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB {op} on table {table} failed: {message}")]
    Backend {
        op: &'static str,
        table: String,
        message: String,
    },
    #[error("table {table} holds a malformed item: {message}")]
    Malformed { table: String, message: String },
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn get(&self, user_id: &str, room_id: &str) -> Result<Option<TokenRecord>, StoreError>;
    async fn put(&self, record: &TokenRecord) -> Result<(), StoreError>;
    /// Returns whether a row was there.
    async fn delete(&self, user_id: &str, room_id: &str) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait ConnectionStore: Send + Sync {
    async fn put(&self, connection: &Connection) -> Result<(), StoreError>;
    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, StoreError>;
    async fn delete(&self, connection_id: &str) -> Result<(), StoreError>;
    /// Takes the connection's recovery lease until `until_ms` if none is held at `now_ms`.
    /// `Ok(false)`: held, or the connection has no row.
    async fn lease_recovery(
        &self,
        connection_id: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<bool, StoreError>;
    /// Every connection in the room, all pages read.
    async fn room(&self, room_id: &str) -> Result<Vec<RoomMember>, StoreError>;
    /// At most `limit` of the room's connections after `after` (all when `None`), in id order
    /// (the room index's sort key, so a connection id is also a Query cursor). This default
    /// reads the whole room; the stores read just the page.
    async fn room_page(
        &self,
        room_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<RoomPage, StoreError> {
        let limit = limit.max(1);
        let mut members: Vec<RoomMember> = self
            .room(room_id)
            .await?
            .into_iter()
            .filter(|m| after.is_none_or(|a| m.connection_id.as_str() > a))
            .collect();
        members.sort();
        let next = (members.len() > limit).then(|| members[limit - 1].connection_id.clone());
        members.truncate(limit);
        Ok(RoomPage { members, next })
    }
}

/// API Gateway closes a WebSocket after 2 hours; the row outlives it by a margin so a late
/// `$disconnect` still finds it, and DynamoDB's TTL sweeps rows whose disconnect never came.
pub const CONNECTION_ROW_TTL_SECS: u64 = 2 * 3600 + 15 * 60;
