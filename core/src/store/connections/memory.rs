//! The connections table in memory: rows by id plus a room index, like the table and its GSI.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Connection, ConnectionStore, RoomMember, RoomPage};
use crate::store::StoreError;

#[derive(Default)]
pub struct MemoryConnectionStore {
    inner: Mutex<Conns>,
}

#[derive(Default)]
struct Conns {
    rows: HashMap<String, Row>,
    rooms: HashMap<String, BTreeMap<String, String>>,
}

struct Row {
    connection: Connection,
    /// The recovery lease's end (ms since 1970), once one was taken.
    recovery_until: Option<u64>,
}

impl MemoryConnectionStore {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().rows.len()
    }
    pub fn clear(&self) {
        *self.inner.lock().unwrap() = Conns::default();
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Conns {
    fn unlink(&mut self, c: &Connection) {
        if let Some(room) = self.rooms.get_mut(&c.room_id) {
            room.remove(&c.connection_id);
            if room.is_empty() {
                self.rooms.remove(&c.room_id);
            }
        }
    }
}

#[async_trait]
impl ConnectionStore for MemoryConnectionStore {
    async fn put(&self, c: &Connection) -> Result<(), StoreError> {
        let mut g = self.inner.lock().unwrap();
        let row = Row {
            connection: c.clone(),
            recovery_until: None,
        };
        if let Some(old) = g.rows.insert(c.connection_id.clone(), row) {
            g.unlink(&old.connection);
        }
        g.rooms
            .entry(c.room_id.clone())
            .or_default()
            .insert(c.connection_id.clone(), c.user_id.clone());
        Ok(())
    }

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        let g = self.inner.lock().unwrap();
        Ok(g.rows.get(connection_id).map(|r| r.connection.clone()))
    }

    async fn delete(&self, connection_id: &str) -> Result<(), StoreError> {
        let mut g = self.inner.lock().unwrap();
        if let Some(old) = g.rows.remove(connection_id) {
            g.unlink(&old.connection);
        }
        Ok(())
    }

    async fn room_page(
        &self,
        room_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<RoomPage, StoreError> {
        let g = self.inner.lock().unwrap();
        let Some(room) = g.rooms.get(room_id) else {
            return Ok(RoomPage::default());
        };
        let lo = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut it = room.range::<str, _>((lo, Bound::Unbounded));
        let members: Vec<RoomMember> = it
            .by_ref()
            .take(limit.max(1))
            .map(|(c, u)| RoomMember {
                connection_id: c.clone(),
                user_id: u.clone(),
            })
            .collect();
        // Like DynamoDB's LastEvaluatedKey: set when the page stopped at its limit.
        let next = it.next().and(members.last().map(|m| m.connection_id.clone()));
        Ok(RoomPage { members, next })
    }

    async fn lease_recovery(
        &self,
        connection_id: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut g = self.inner.lock().unwrap();
        let Some(row) = g.rows.get_mut(connection_id) else {
            return Ok(false);
        };
        if row.recovery_until.is_some_and(|held| held > now_ms) {
            return Ok(false);
        }
        row.recovery_until = Some(until_ms);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(id: &str, room: &str, user: &str) -> Connection {
        Connection {
            connection_id: id.into(),
            room_id: room.into(),
            user_id: user.into(),
            connected_at: 1,
            expires_at: 2,
        }
    }

    fn ids(members: &[RoomMember]) -> Vec<&str> {
        members.iter().map(|m| m.connection_id.as_str()).collect()
    }

    async fn store_with(rows: &[(&str, &str, &str)]) -> MemoryConnectionStore {
        let store = MemoryConnectionStore::new();
        for (id, room, user) in rows {
            store.put(&conn(id, room, user)).await.unwrap();
        }
        store
    }

    #[tokio::test]
    async fn rows_read_back_and_leave_their_room_when_deleted() {
        let store = store_with(&[("c1", "A", "7"), ("c2", "A", "8"), ("c3", "B", "7")]).await;
        assert_eq!(store.get("c2").await.unwrap(), Some(conn("c2", "A", "8")));
        assert_eq!(store.get("nope").await.unwrap(), None);
        store.delete("c1").await.unwrap();
        store.delete("nope").await.unwrap();
        assert_eq!(store.get("c1").await.unwrap(), None);
        assert_eq!(ids(&store.room("A").await.unwrap()), ["c2"]);
        assert_eq!(store.len(), 2);
        store.delete("c2").await.unwrap();
        assert!(store.room("A").await.unwrap().is_empty());
        assert!(store.room("nobody").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_row_put_again_moves_to_its_new_room() {
        let store = store_with(&[("c1", "A", "7"), ("c1", "B", "9")]).await;
        assert!(store.room("A").await.unwrap().is_empty());
        assert_eq!(
            store.room("B").await.unwrap(),
            [RoomMember {
                connection_id: "c1".into(),
                user_id: "9".into()
            }]
        );
        assert_eq!(store.len(), 1);
    }

    #[tokio::test]
    async fn pages_go_in_id_order_and_say_where_the_next_starts() {
        let store = store_with(&[
            ("c3", "A", "1"),
            ("c1", "A", "1"),
            ("c5", "A", "2"),
            ("c2", "B", "1"),
        ])
        .await;
        let first = store.room_page("A", None, 2).await.unwrap();
        assert_eq!(ids(&first.members), ["c1", "c3"]);
        assert_eq!(first.next.as_deref(), Some("c3"));
        let last = store.room_page("A", first.next.as_deref(), 2).await.unwrap();
        assert_eq!(ids(&last.members), ["c5"]);
        assert_eq!(last.next, None, "a short page ends the range");
        let exact = store.room_page("A", Some("c1"), 2).await.unwrap();
        assert_eq!(ids(&exact.members), ["c3", "c5"]);
        assert_eq!(exact.next, None, "nothing after the page's last id");
        assert_eq!(
            store.room_page("A", None, 0).await.unwrap().members.len(),
            1,
            "limit at least 1"
        );
        assert_eq!(
            store.room_page("none", None, 5).await.unwrap(),
            RoomPage::default()
        );
        assert_eq!(ids(&store.room("A").await.unwrap()), ["c1", "c3", "c5"]);
    }

    #[tokio::test]
    async fn one_recovery_lease_at_a_time_per_connection() {
        let store = store_with(&[("c1", "A", "7"), ("c2", "A", "7")]).await;
        assert!(
            store.lease_recovery("c1", 1_000, 6_000).await.unwrap(),
            "first lease"
        );
        assert!(
            !store.lease_recovery("c1", 5_999, 10_999).await.unwrap(),
            "held until 6000"
        );
        assert!(
            store.lease_recovery("c2", 5_999, 10_999).await.unwrap(),
            "leases are per connection"
        );
        assert!(
            store.lease_recovery("c1", 6_000, 11_000).await.unwrap(),
            "expired at 6000"
        );
        assert!(
            !store.lease_recovery("c1", 10_000, 15_000).await.unwrap(),
            "the new lease holds"
        );
        assert!(
            !store.lease_recovery("gone", 1_000, 6_000).await.unwrap(),
            "no row, no lease"
        );
        store.delete("c1").await.unwrap();
        assert!(
            !store.lease_recovery("c1", 20_000, 25_000).await.unwrap(),
            "deleted row"
        );
        assert_eq!(store.len(), 1, "a lease never makes a row");
    }
}
