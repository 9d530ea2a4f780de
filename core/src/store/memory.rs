//! In-process stores: unit tests, benchmarks and the local gateway's default backend.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Connection, ConnectionStore, RoomMember, RoomPage, StoreError, TokenRecord, TokenStore};

#[derive(Default)]
pub struct MemoryTokenStore {
    rows: Mutex<HashMap<(String, String), TokenRecord>>,
}

impl MemoryTokenStore {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.rows.lock().unwrap().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn get(&self, user_id: &str, room_id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let rows = self.rows.lock().unwrap();
        Ok(rows.get(&(user_id.to_owned(), room_id.to_owned())).cloned())
    }
    async fn put(&self, record: &TokenRecord) -> Result<(), StoreError> {
        let key = (record.user_id.clone(), record.room_id.clone());
        self.rows.lock().unwrap().insert(key, record.clone());
        Ok(())
    }
    async fn delete(&self, user_id: &str, room_id: &str) -> Result<bool, StoreError> {
        let key = (user_id.to_owned(), room_id.to_owned());
        Ok(self.rows.lock().unwrap().remove(&key).is_some())
    }
}

/// Rows by id plus a room index, like the table and its GSI.
#[derive(Default)]
pub struct MemoryConnectionStore {
    inner: Mutex<Conns>,
}

#[derive(Default)]
struct Conns {
    rows: HashMap<String, Connection>,
    rooms: HashMap<String, BTreeMap<String, String>>,
}

impl MemoryConnectionStore {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().rows.len()
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
        if let Some(old) = g.rows.insert(c.connection_id.clone(), c.clone()) {
            g.unlink(&old);
        }
        g.rooms
            .entry(c.room_id.clone())
            .or_default()
            .insert(c.connection_id.clone(), c.user_id.clone());
        Ok(())
    }
    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        Ok(self.inner.lock().unwrap().rows.get(connection_id).cloned())
    }
    async fn delete(&self, connection_id: &str) -> Result<(), StoreError> {
        let mut g = self.inner.lock().unwrap();
        if let Some(old) = g.rows.remove(connection_id) {
            g.unlink(&old);
        }
        Ok(())
    }
    async fn room(&self, room_id: &str) -> Result<Vec<RoomMember>, StoreError> {
        let g = self.inner.lock().unwrap();
        Ok(g.rooms
            .get(room_id)
            .map(|m| {
                m.iter()
                    .map(|(c, u)| RoomMember {
                        connection_id: c.clone(),
                        user_id: u.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default())
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
}
