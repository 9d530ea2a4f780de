//! The connections table (`names::connections`): one row per open socket, read by room
//! through the `room_id-index` GSI.

use async_trait::async_trait;

use super::StoreError;

mod dynamodb;
mod memory;

pub use dynamodb::DynamoConnectionStore;
pub use memory::MemoryConnectionStore;

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

/// API Gateway closes a WebSocket after 2 hours; the row outlives it by a margin so a late
/// `$disconnect` still finds it, and DynamoDB's TTL sweeps rows whose disconnect never came.
pub const CONNECTION_ROW_TTL_SECS: u64 = 2 * 3600 + 15 * 60;

#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Writes the row whole (a row already there for the id is replaced, lease included).
    async fn put(&self, connection: &Connection) -> Result<(), StoreError>;
    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, StoreError>;
    async fn delete(&self, connection_id: &str) -> Result<(), StoreError>;

    /// At most `limit` of the room's connections after `after` (all when `None`), in id order
    /// (the room index's sort key, so a connection id is also a Query cursor). A page may hold
    /// fewer than `limit` and still have a `next` (DynamoDB stops a page at 1 MB).
    async fn room_page(
        &self,
        room_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<RoomPage, StoreError>;

    /// Every connection in the room: its pages read one after another.
    async fn room(&self, room_id: &str) -> Result<Vec<RoomMember>, StoreError> {
        let mut members = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.room_page(room_id, after.as_deref(), usize::MAX).await?;
            members.extend(page.members);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(members),
            }
        }
    }

    /// Takes the connection's recovery lease until `until_ms` (ms since 1970) if no lease is
    /// held at `now_ms`: at most one recovery per connection runs, and none starts before the
    /// previous one's lease ends (the rate). `Ok(false)`: held, or the connection has no row.
    async fn lease_recovery(
        &self,
        connection_id: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out pages of at most two, as DynamoDB stops a page at 1 MB whatever was asked.
    struct SmallPages(MemoryConnectionStore);

    #[async_trait]
    impl ConnectionStore for SmallPages {
        async fn put(&self, c: &Connection) -> Result<(), StoreError> {
            self.0.put(c).await
        }
        async fn get(&self, id: &str) -> Result<Option<Connection>, StoreError> {
            self.0.get(id).await
        }
        async fn delete(&self, id: &str) -> Result<(), StoreError> {
            self.0.delete(id).await
        }
        async fn room_page(
            &self,
            room: &str,
            after: Option<&str>,
            limit: usize,
        ) -> Result<RoomPage, StoreError> {
            self.0.room_page(room, after, limit.min(2)).await
        }
        async fn lease_recovery(&self, id: &str, now_ms: u64, until_ms: u64) -> Result<bool, StoreError> {
            self.0.lease_recovery(id, now_ms, until_ms).await
        }
    }

    #[tokio::test]
    async fn room_reads_every_page() {
        let store = SmallPages(MemoryConnectionStore::new());
        for i in 0..7 {
            let room = if i == 3 { "B" } else { "A" };
            store
                .put(&Connection {
                    connection_id: format!("c{i}"),
                    room_id: room.into(),
                    user_id: i.to_string(),
                    connected_at: 1,
                    expires_at: 2,
                })
                .await
                .unwrap();
        }
        let got: Vec<String> = store
            .room("A")
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.connection_id)
            .collect();
        assert_eq!(
            got,
            ["c0", "c1", "c2", "c4", "c5", "c6"],
            "three full pages, then an empty one"
        );
        assert!(store.room("none").await.unwrap().is_empty());
    }
}
