//! The connections table (`names::connections`): one row per open socket, read by room
//! through the `room_id-index` GSI. A row also holds the socket's streams (`streams`, a string
//! set) and when it last changed them (`subscribed_at`): the per-socket bound and rate of
//! `subscribe`/`unsubscribe` are one conditional write on it (docs/protocol.md, "Streams").

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
    /// Empty for a socket of nobody: the row is then written without `room_id`, so the
    /// `room_id-index` stays sparse and no room read finds it.
    pub room_id: String,
    /// Empty for a socket of nobody (written without `user_id`).
    pub user_id: String,
    pub connected_at: u64,
    pub expires_at: u64,
    /// The streams the socket is subscribed to, once each in byte order; empty when it has
    /// none.
    pub streams: Vec<String>,
}

/// The outcome of changing a connection's streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamsChange {
    Done,
    /// With the new streams the socket would hold more than `max`; it holds `held`.
    TooMany {
        held: usize,
        max: usize,
    },
    /// The socket changed its streams less than the minimum interval ago.
    TooSoon {
        retry_after_ms: u64,
    },
    /// The connection has no row (gone, or never connected).
    NoConnection,
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

/// What `delete_established` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// The row, as it was.
    Row(Connection),
    /// There was none.
    NoRow,
    /// The connection is too young: its row stays.
    Kept,
}

/// API Gateway closes a WebSocket after 2 hours; the row outlives it by a margin so a late
/// `$disconnect` still finds it, and DynamoDB's TTL sweeps rows whose disconnect never came.
pub const CONNECTION_ROW_TTL_SECS: u64 = 2 * 3600 + 15 * 60;

#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Writes the row whole (a row already there for the id is replaced, lease included).
    async fn put(&self, connection: &Connection) -> Result<(), StoreError>;
    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, StoreError>;
    /// Deletes the row and returns it as it was (`None`: there was none), so the caller
    /// can delete the subscriptions its `streams` name.
    async fn delete(&self, connection_id: &str) -> Result<Option<Connection>, StoreError>;
    /// `delete`, unless the connection was made at or after `connected_since` (seconds): API
    /// Gateway answers 410 to a post to a connection it has not established yet (its `$connect`
    /// still running), and that connection's row must stay.
    async fn delete_established(
        &self,
        connection_id: &str,
        connected_since: u64,
    ) -> Result<Deleted, StoreError>;

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

    /// Adds `streams` to the connection's set, if with them it holds at most `max` and its
    /// last change was at least `min_interval_ms` before `now_ms` (then `subscribed_at = now_ms`).
    /// Names it already holds, or given twice, count once; no names at all only move
    /// `subscribed_at`. When both rules refuse, the rate is told (`TooSoon`, exactly how long).
    async fn add_streams(
        &self,
        connection_id: &str,
        streams: &[String],
        max: usize,
        now_ms: u64,
        min_interval_ms: u64,
    ) -> Result<StreamsChange, StoreError>;

    /// Removes them, under the same rate rule (names it does not hold are no error).
    async fn remove_streams(
        &self,
        connection_id: &str,
        streams: &[String],
        now_ms: u64,
        min_interval_ms: u64,
    ) -> Result<StreamsChange, StoreError>;
}

/// The rules of a streams change, one copy for both stores. A change at `now_ms` after one at
/// `last_ms`: refused with how long to wait while the interval has not passed.
fn rate_check(last_ms: Option<u64>, now_ms: u64, min_interval_ms: u64) -> Result<(), StreamsChange> {
    match last_ms.map(|last| last.saturating_add(min_interval_ms)) {
        Some(allowed) if now_ms < allowed => Err(StreamsChange::TooSoon {
            retry_after_ms: allowed - now_ms,
        }),
        _ => Ok(()),
    }
}

/// Adding `new` (distinct) to a socket holding `held`, last changed at `last_ms`: `Ok` with
/// how many of `new` it does not hold yet, or the outcome that refuses it (the rate first).
fn check_add(
    held: &[String],
    last_ms: Option<u64>,
    new: &[String],
    max: usize,
    now_ms: u64,
    min_interval_ms: u64,
) -> Result<usize, StreamsChange> {
    rate_check(last_ms, now_ms, min_interval_ms)?;
    let fresh = new.iter().filter(|s| !held.contains(s)).count();
    if held.len() + fresh > max {
        return Err(StreamsChange::TooMany {
            held: held.len(),
            max,
        });
    }
    Ok(fresh)
}

/// The names once each, in byte order (a string set holds no duplicate, and DynamoDB refuses
/// a set written with one).
fn distinct(streams: &[String]) -> Vec<String> {
    let mut v = streams.to_vec();
    v.sort();
    v.dedup();
    v
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
        async fn delete(&self, id: &str) -> Result<Option<Connection>, StoreError> {
            self.0.delete(id).await
        }
        async fn delete_established(&self, id: &str, since: u64) -> Result<Deleted, StoreError> {
            self.0.delete_established(id, since).await
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
        async fn add_streams(
            &self,
            id: &str,
            streams: &[String],
            max: usize,
            now_ms: u64,
            min_interval_ms: u64,
        ) -> Result<StreamsChange, StoreError> {
            self.0
                .add_streams(id, streams, max, now_ms, min_interval_ms)
                .await
        }
        async fn remove_streams(
            &self,
            id: &str,
            streams: &[String],
            now_ms: u64,
            min_interval_ms: u64,
        ) -> Result<StreamsChange, StoreError> {
            self.0.remove_streams(id, streams, now_ms, min_interval_ms).await
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
                    streams: vec![],
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
