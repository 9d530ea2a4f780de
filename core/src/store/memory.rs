//! In-process stores: unit tests, benchmarks, the local gateway's default backend and the
//! gem's memory backend.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Mutex;

use async_trait::async_trait;

use super::history::{new_epoch, now_ms, Counter, HistoryItem, HistoryStore};
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
    leases: HashMap<String, u64>,
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
    async fn lease_recovery(
        &self,
        connection_id: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut g = self.inner.lock().unwrap();
        if !g.rows.contains_key(connection_id) || g.leases.get(connection_id).is_some_and(|u| *u > now_ms) {
            return Ok(false);
        }
        g.leases.insert(connection_id.to_owned(), until_ms);
        Ok(true)
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

/// The room history in memory, with the DynamoDB store's semantics (counter, items, claims,
/// TTL read back), bounded: at most `max_items` items and claims per room, oldest dropped first.
pub struct MemoryHistoryStore {
    rooms: Mutex<HashMap<String, RoomHistory>>,
    max_items: usize,
}

#[derive(Default)]
struct RoomHistory {
    counter: Option<Counter>,
    items: BTreeMap<u64, HistoryItem>,
    claims: HashMap<String, (u64, String)>,
    claim_order: std::collections::VecDeque<String>,
}

impl RoomHistory {
    /// The room's counter, made with a new epoch on first use (as DynamoDB's `if_not_exists`).
    fn counter(&mut self) -> &mut Counter {
        self.counter.get_or_insert_with(|| Counter {
            last_seq: 0,
            epoch: new_epoch(),
            updated_at_ms: 0,
        })
    }
}

impl Default for MemoryHistoryStore {
    fn default() -> Self {
        Self::new(2_000)
    }
}

impl MemoryHistoryStore {
    pub fn new(max_items: usize) -> Self {
        MemoryHistoryStore {
            rooms: Mutex::default(),
            max_items: max_items.max(1),
        }
    }

    /// Drops the room's counter (not its items), as if the counter item were lost: the next
    /// message starts a new epoch.
    pub fn lose_counter(&self, room_id: &str) {
        if let Some(r) = self.rooms.lock().unwrap().get_mut(room_id) {
            r.counter = None;
        }
    }

    /// Items held for the room (markers included).
    pub fn len(&self, room_id: &str) -> usize {
        self.rooms
            .lock()
            .unwrap()
            .get(room_id)
            .map_or(0, |r| r.items.len())
    }
}

#[async_trait]
impl HistoryStore for MemoryHistoryStore {
    async fn next_seq(&self, room_id: &str) -> Result<Counter, StoreError> {
        let mut g = self.rooms.lock().unwrap();
        let c = g.entry(room_id.to_owned()).or_default().counter();
        c.last_seq += 1;
        c.updated_at_ms = now_ms();
        Ok(c.clone())
    }

    async fn counter(&self, room_id: &str) -> Result<Counter, StoreError> {
        let mut g = self.rooms.lock().unwrap();
        Ok(g.entry(room_id.to_owned()).or_default().counter().clone())
    }

    async fn position(&self, room_id: &str) -> Result<Option<Counter>, StoreError> {
        let g = self.rooms.lock().unwrap();
        Ok(g.get(room_id).and_then(|r| r.counter.clone()))
    }

    async fn put(&self, room_id: &str, item: &HistoryItem) -> Result<(), StoreError> {
        let now = crate::token::now_secs();
        let mut g = self.rooms.lock().unwrap();
        let r = g.entry(room_id.to_owned()).or_default();
        r.items.insert(item.seq, item.clone());
        // The TTL sweep and the bound: expired or surplus items go, oldest first.
        while let Some((&first, oldest)) = r.items.first_key_value() {
            if r.items.len() > self.max_items || oldest.expires_at <= now {
                r.items.remove(&first);
            } else {
                break;
            }
        }
        Ok(())
    }

    async fn claim(&self, room_id: &str, message_id: &str, item: &HistoryItem) -> Result<(), StoreError> {
        let mut g = self.rooms.lock().unwrap();
        let r = g.entry(room_id.to_owned()).or_default();
        if r.claims
            .insert(message_id.to_owned(), (item.seq, item.epoch.clone()))
            .is_none()
        {
            r.claim_order.push_back(message_id.to_owned());
        }
        while r.claim_order.len() > self.max_items {
            if let Some(old) = r.claim_order.pop_front() {
                r.claims.remove(&old);
            }
        }
        Ok(())
    }

    async fn claimed(&self, room_id: &str, message_id: &str) -> Result<Option<HistoryItem>, StoreError> {
        let g = self.rooms.lock().unwrap();
        let Some(r) = g.get(room_id) else { return Ok(None) };
        Ok(r.claims.get(message_id).and_then(|(seq, epoch)| {
            r.items
                .get(seq)
                .filter(|i| &i.epoch == epoch && i.expires_at > crate::token::now_secs())
                .cloned()
        }))
    }

    async fn range(
        &self,
        room_id: &str,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<HistoryItem>, StoreError> {
        let g = self.rooms.lock().unwrap();
        let Some(r) = g.get(room_id) else {
            return Ok(vec![]);
        };
        if from > to {
            return Ok(vec![]);
        }
        Ok(r.items
            .range(from..=to)
            .take(limit)
            .map(|(_, i)| i.clone())
            .collect())
    }
}
