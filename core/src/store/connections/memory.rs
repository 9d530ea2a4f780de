//! The connections table in memory: rows by id plus a room index, like the table and its GSI
//! (sparse like it: a socket of nobody, with no room, is in no room).

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{
    check_add, distinct, rate_check, Connection, ConnectionStore, Deleted, RoomMember, RoomPage,
    StreamsChange,
};
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
    /// When the streams last changed (ms since 1970), once they did.
    subscribed_at: Option<u64>,
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
        let mut connection = c.clone();
        connection.streams = distinct(&c.streams);
        let row = Row {
            connection,
            recovery_until: None,
            subscribed_at: None,
        };
        if let Some(old) = g.rows.insert(c.connection_id.clone(), row) {
            g.unlink(&old.connection);
        }
        if !c.room_id.is_empty() {
            g.rooms
                .entry(c.room_id.clone())
                .or_default()
                .insert(c.connection_id.clone(), c.user_id.clone());
        }
        Ok(())
    }

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        let g = self.inner.lock().unwrap();
        Ok(g.rows.get(connection_id).map(|r| r.connection.clone()))
    }

    async fn delete(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        let mut g = self.inner.lock().unwrap();
        let old = g.rows.remove(connection_id);
        if let Some(old) = &old {
            g.unlink(&old.connection);
        }
        Ok(old.map(|r| r.connection))
    }

    async fn delete_established(
        &self,
        connection_id: &str,
        connected_since: u64,
    ) -> Result<Deleted, StoreError> {
        let mut g = self.inner.lock().unwrap();
        match g.rows.get(connection_id) {
            None => Ok(Deleted::NoRow),
            Some(r) if r.connection.connected_at >= connected_since => Ok(Deleted::Kept),
            Some(_) => {
                let old = g.rows.remove(connection_id).expect("just seen");
                g.unlink(&old.connection);
                Ok(Deleted::Row(old.connection))
            }
        }
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

    async fn add_streams(
        &self,
        connection_id: &str,
        streams: &[String],
        max: usize,
        now_ms: u64,
        min_interval_ms: u64,
    ) -> Result<StreamsChange, StoreError> {
        let mut g = self.inner.lock().unwrap();
        let Some(row) = g.rows.get_mut(connection_id) else {
            return Ok(StreamsChange::NoConnection);
        };
        let new = distinct(streams);
        let held = &mut row.connection.streams;
        if let Err(refused) = check_add(held, row.subscribed_at, &new, max, now_ms, min_interval_ms) {
            return Ok(refused);
        }
        held.extend(new);
        *held = distinct(held);
        row.subscribed_at = Some(now_ms);
        Ok(StreamsChange::Done)
    }

    async fn remove_streams(
        &self,
        connection_id: &str,
        streams: &[String],
        now_ms: u64,
        min_interval_ms: u64,
    ) -> Result<StreamsChange, StoreError> {
        let mut g = self.inner.lock().unwrap();
        let Some(row) = g.rows.get_mut(connection_id) else {
            return Ok(StreamsChange::NoConnection);
        };
        if let Err(refused) = rate_check(row.subscribed_at, now_ms, min_interval_ms) {
            return Ok(refused);
        }
        row.connection.streams.retain(|s| !streams.contains(s));
        row.subscribed_at = Some(now_ms);
        Ok(StreamsChange::Done)
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
            streams: vec![],
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
        assert_eq!(
            store.delete("c1").await.unwrap(),
            Some(conn("c1", "A", "7")),
            "the row as it was"
        );
        assert_eq!(store.delete("nope").await.unwrap(), None);
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

    #[tokio::test]
    async fn a_socket_of_nobody_is_in_no_room() {
        let store = store_with(&[("n1", "", ""), ("c1", "A", "7")]).await;
        assert_eq!(store.get("n1").await.unwrap(), Some(conn("n1", "", "")));
        assert!(store.room("").await.unwrap().is_empty(), "the index is sparse");
        assert_eq!(store.delete("n1").await.unwrap(), Some(conn("n1", "", "")));
        assert_eq!(ids(&store.room("A").await.unwrap()), ["c1"]);
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    async fn streams_of(store: &MemoryConnectionStore, id: &str) -> Vec<String> {
        store.get(id).await.unwrap().unwrap().streams
    }

    #[tokio::test]
    async fn streams_are_added_within_the_bound_and_the_rate() {
        use StreamsChange::*;
        let store = store_with(&[("c1", "A", "7")]).await;
        let add = |names: Vec<String>, max: usize, now: u64| {
            let store = &store;
            async move { store.add_streams("c1", &names, max, now, 100).await.unwrap() }
        };
        assert_eq!(
            add(names(&["b", "a", "a"]), 3, 50).await,
            Done,
            "a first change is never too soon"
        );
        assert_eq!(streams_of(&store, "c1").await, ["a", "b"], "once each, in order");
        assert_eq!(add(names(&["c"]), 3, 149).await, TooSoon { retry_after_ms: 1 });
        assert_eq!(
            add(names(&["c"]), 3, 150).await,
            Done,
            "exactly the interval later"
        );
        assert_eq!(add(names(&["d"]), 3, 250).await, TooMany { held: 3, max: 3 });
        assert_eq!(
            add(names(&["d"]), 3, 260).await,
            TooMany { held: 3, max: 3 },
            "a refused change leaves the time of the last one"
        );
        assert_eq!(
            add(names(&["w", "x", "y", "z"]), 3, 270).await,
            TooMany { held: 3, max: 3 }
        );
        assert_eq!(
            add(names(&["a", "c"]), 3, 280).await,
            Done,
            "names already held count once"
        );
        assert_eq!(
            add(names(&["d"]), 3, 300).await,
            TooSoon { retry_after_ms: 80 },
            "the rate is told before the bound"
        );
        assert_eq!(add(vec![], 3, 380).await, Done, "no names: only the time moves");
        assert_eq!(add(names(&["d"]), 9, 400).await, TooSoon { retry_after_ms: 80 });
        assert_eq!(streams_of(&store, "c1").await, ["a", "b", "c"]);
        assert_eq!(
            store
                .add_streams("nope", &names(&["a"]), 3, 1_000, 100)
                .await
                .unwrap(),
            NoConnection
        );
        assert_eq!(store.len(), 1, "no row made");
    }

    #[tokio::test]
    async fn streams_are_removed_under_the_rate_and_read_back_from_the_deleted_row() {
        use StreamsChange::*;
        let store = store_with(&[("c1", "A", "7")]).await;
        let all = names(&["a", "b", "c"]);
        assert_eq!(store.add_streams("c1", &all, 50, 1_000, 100).await.unwrap(), Done);
        let remove = |names: Vec<String>, now: u64| {
            let store = &store;
            async move { store.remove_streams("c1", &names, now, 100).await.unwrap() }
        };
        assert_eq!(remove(names(&["a"]), 1_099).await, TooSoon { retry_after_ms: 1 });
        assert_eq!(
            remove(names(&["a", "zz", "a"]), 1_100).await,
            Done,
            "unheld names are no error"
        );
        assert_eq!(streams_of(&store, "c1").await, ["b", "c"]);
        assert_eq!(remove(names(&["b"]), 1_150).await, TooSoon { retry_after_ms: 50 });
        assert_eq!(
            store
                .add_streams("c1", &names(&["d"]), 50, 1_150, 100)
                .await
                .unwrap(),
            TooSoon { retry_after_ms: 50 },
            "one rate for both"
        );
        assert_eq!(
            store.remove_streams("nope", &all, 5_000, 100).await.unwrap(),
            NoConnection
        );
        let gone = store.delete("c1").await.unwrap().unwrap();
        assert_eq!(gone.streams, ["b", "c"], "what disconnect unsubscribes");
        assert_eq!(remove(names(&["b"]), 9_000).await, NoConnection);
    }

    #[tokio::test]
    async fn a_row_put_with_streams_holds_them_once_each() {
        let store = MemoryConnectionStore::new();
        let mut c = conn("c1", "", "");
        c.streams = names(&["y", "x", "y"]);
        store.put(&c).await.unwrap();
        assert_eq!(streams_of(&store, "c1").await, ["x", "y"]);
    }

    #[tokio::test]
    async fn a_young_connection_is_kept_by_delete_established() {
        let store = MemoryConnectionStore::new();
        let mut young = conn("young", "R", "1");
        young.connected_at = 100;
        let mut old = conn("old", "R", "2");
        old.connected_at = 99;
        store.put(&young).await.unwrap();
        store.put(&old).await.unwrap();
        assert_eq!(
            store.delete_established("young", 100).await.unwrap(),
            Deleted::Kept
        );
        assert_eq!(
            store.delete_established("old", 100).await.unwrap(),
            Deleted::Row(old)
        );
        assert_eq!(
            store.delete_established("old", 100).await.unwrap(),
            Deleted::NoRow
        );
        assert_eq!(
            store.room("R").await.unwrap().len(),
            1,
            "the young one is still in its room"
        );
    }
}
