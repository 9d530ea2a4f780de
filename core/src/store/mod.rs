//! The tables behind traits: DynamoDB in production, memory for tests and the local demo.
//!
//! One module per table (`tokens`, `connections`, `history`, `subscriptions`; the stream
//! history is the history store keyed by `stream`), each holding the table's trait
//! and row types in its `mod.rs`, its DynamoDB store in `dynamodb.rs` and its memory store
//! (with the unit tests of the trait's semantics) in `memory.rs`. A new table gets a module of
//! the same shape and a line below. `dynamo` holds the attribute helpers the DynamoDB stores
//! share; the DynamoDB stores themselves are exercised against moto by `core/tests/aws.rs`.

pub mod connections;
mod dynamo;
pub mod history;
pub mod subscriptions;
pub mod tokens;

pub use connections::{
    Connection, ConnectionStore, Deleted, DynamoConnectionStore, MemoryConnectionStore, RoomMember, RoomPage,
    StreamsChange, CONNECTION_ROW_TTL_SECS,
};
pub use history::{Counter, DynamoHistoryStore, HistoryItem, HistoryStore, MemoryHistoryStore};
pub use subscriptions::{DynamoSubscriptionStore, MemorySubscriptionStore, Subscription, SubscriptionStore};
pub use tokens::{DynamoTokenStore, MemoryTokenStore, PreviousSeal, TokenRecord, TokenStore};

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
    /// A memory store at its bound.
    #[error("{table} is full: {message}")]
    Full { table: String, message: String },
}
