//! The subscriptions table (`names::subscriptions`): one item per socket subscribed to a
//! stream, keyed by the stream so fan-out to it is a Query, a page at a time
//! (docs/protocol.md, "Streams: many per socket"). The connection row names the socket's
//! streams too, so `$disconnect` knows which items to delete.

use async_trait::async_trait;

use super::{RoomMember, RoomPage, StoreError};

mod dynamodb;
mod memory;

pub use dynamodb::DynamoSubscriptionStore;
pub use memory::MemorySubscriptionStore;

/// An item of the subscriptions table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub stream: String,
    pub connection_id: String,
    /// `None` for a socket of nobody (the item has no `user_id`).
    pub user_id: Option<String>,
    /// Epoch seconds (DynamoDB TTL).
    pub expires_at: u64,
}

#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// One item per subscription (BatchWriteItem, 25 per request, UnprocessedItems retried
    /// with backoff, bounded). An item already there for the stream and connection is replaced.
    async fn put(&self, subscriptions: &[Subscription]) -> Result<(), StoreError>;

    /// Deletes the connection's items of these streams (BatchWriteItem likewise); streams it
    /// has no item for are no error.
    async fn delete(&self, connection_id: &str, streams: &[String]) -> Result<(), StoreError>;

    /// At most `limit` of the stream's subscribers after `after` (all when `None`), in
    /// connection-id order (a Query on the key), as the room index gives them: anonymous
    /// subscribers have `user_id` "". A page may hold fewer than `limit` and still have a
    /// `next` (DynamoDB stops a page at 1 MB).
    async fn page(&self, stream: &str, after: Option<&str>, limit: usize) -> Result<RoomPage, StoreError>;

    /// Every subscriber of the stream: its pages read one after another.
    async fn all(&self, stream: &str) -> Result<Vec<RoomMember>, StoreError> {
        let mut members = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.page(stream, after.as_deref(), usize::MAX).await?;
            members.extend(page.members);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(members),
            }
        }
    }
}

/// The stream names once each: one request may not name an item twice.
fn distinct(streams: &[String]) -> Vec<&String> {
    let mut v: Vec<&String> = streams.iter().collect();
    v.sort();
    v.dedup();
    v
}
