//! The history table in memory, with the DynamoDB store's semantics.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{new_epoch, now_ms, Counter, HistoryItem, HistoryStore};
use crate::store::StoreError;

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
    claim_order: VecDeque<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn item(seq: u64, epoch: &str, expires_at: u64) -> HistoryItem {
        HistoryItem {
            seq,
            epoch: epoch.into(),
            frame: Some(format!("{{\"n\":{seq}}}").into_bytes()),
            target_user_id: None,
            expires_at,
        }
    }

    fn later() -> u64 {
        crate::token::now_secs() + 3600
    }

    #[tokio::test]
    async fn the_counter_counts_in_one_epoch_until_it_is_lost() {
        let store = MemoryHistoryStore::default();
        assert_eq!(
            store.position("R").await.unwrap(),
            None,
            "position never creates it"
        );
        let zero = store.counter("R").await.unwrap();
        assert_eq!((zero.last_seq, zero.updated_at_ms), (0, 0));
        assert_eq!(store.position("R").await.unwrap(), Some(zero.clone()));
        let one = store.next_seq("R").await.unwrap();
        let two = store.next_seq("R").await.unwrap();
        assert_eq!((one.last_seq, two.last_seq), (1, 2));
        assert_eq!((&one.epoch, &two.epoch), (&zero.epoch, &zero.epoch));
        assert!(two.updated_at_ms > 0);
        assert_eq!(store.counter("R").await.unwrap(), two);
        assert_eq!(
            store.next_seq("other").await.unwrap().last_seq,
            1,
            "rooms count apart"
        );

        store.lose_counter("R");
        let again = store.next_seq("R").await.unwrap();
        assert_eq!(again.last_seq, 1);
        assert_ne!(
            again.epoch, zero.epoch,
            "a lost counter comes back in a new epoch"
        );
    }

    #[tokio::test]
    async fn items_are_bounded_and_expire_oldest_first() {
        let store = MemoryHistoryStore::new(3);
        for seq in 1..=5 {
            store.put("R", &item(seq, "e", later())).await.unwrap();
        }
        assert_eq!(store.len("R"), 3);
        let seqs = |items: Vec<HistoryItem>| items.iter().map(|i| i.seq).collect::<Vec<_>>();
        assert_eq!(seqs(store.range("R", 0, 10, 10).await.unwrap()), [3, 4, 5]);

        let store = MemoryHistoryStore::new(10);
        store.put("R", &item(1, "e", 1)).await.unwrap();
        store.put("R", &item(2, "e", later())).await.unwrap();
        assert_eq!(
            seqs(store.range("R", 1, 2, 10).await.unwrap()),
            [2],
            "expired item swept"
        );
    }

    #[tokio::test]
    async fn ranges_are_inclusive_ordered_and_limited() {
        let store = MemoryHistoryStore::default();
        for seq in [4, 1, 3, 2, 5] {
            store.put("R", &item(seq, "e", later())).await.unwrap();
        }
        let seqs = |items: Vec<HistoryItem>| items.iter().map(|i| i.seq).collect::<Vec<_>>();
        assert_eq!(seqs(store.range("R", 2, 4, 10).await.unwrap()), [2, 3, 4]);
        assert_eq!(seqs(store.range("R", 2, 5, 2).await.unwrap()), [2, 3]);
        assert!(store.range("R", 4, 2, 10).await.unwrap().is_empty());
        assert!(store.range("none", 1, 5, 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_claim_finds_its_item_only_in_the_same_epoch() {
        let store = MemoryHistoryStore::default();
        let delivered = item(7, "e1", later());
        store.put("R", &delivered).await.unwrap();
        store.claim("R", "m-1", &delivered).await.unwrap();
        assert_eq!(store.claimed("R", "m-1").await.unwrap(), Some(delivered));
        assert_eq!(store.claimed("R", "m-2").await.unwrap(), None);
        assert_eq!(store.claimed("S", "m-1").await.unwrap(), None);

        store.put("R", &item(7, "e2", later())).await.unwrap();
        assert_eq!(
            store.claimed("R", "m-1").await.unwrap(),
            None,
            "seq 7 of another epoch"
        );
    }

    #[tokio::test]
    async fn claims_are_bounded_oldest_first() {
        let store = MemoryHistoryStore::new(2);
        for (seq, id) in [(1, "m-1"), (2, "m-2"), (3, "m-3")] {
            let it = item(seq, "e", later());
            store.put("R", &it).await.unwrap();
            store.claim("R", id, &it).await.unwrap();
        }
        assert_eq!(store.claimed("R", "m-1").await.unwrap(), None);
        assert_eq!(store.claimed("R", "m-3").await.unwrap().map(|i| i.seq), Some(3));
    }
}
