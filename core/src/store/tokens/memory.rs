//! The tokens table in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{TokenRecord, TokenStore};
use crate::store::StoreError;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(user: &str, room: &str, hash: &str) -> TokenRecord {
        TokenRecord {
            user_id: user.into(),
            room_id: room.into(),
            hash: hash.into(),
            expires_at: Some(1_900_000_000),
            previous: None,
        }
    }

    #[tokio::test]
    async fn rows_are_keyed_by_user_and_room() {
        let store = MemoryTokenStore::new();
        store.put(&record("7", "A", "h1")).await.unwrap();
        store.put(&record("7", "B", "h2")).await.unwrap();
        assert_eq!(store.get("7", "A").await.unwrap(), Some(record("7", "A", "h1")));
        assert_eq!(store.get("7", "C").await.unwrap(), None);
        assert_eq!(store.get("8", "A").await.unwrap(), None);
        assert_eq!(store.len(), 2);

        store.put(&record("7", "A", "h3")).await.unwrap();
        assert_eq!(
            store.get("7", "A").await.unwrap().unwrap().hash,
            "h3",
            "a put replaces the row"
        );
        assert_eq!(store.len(), 2);
    }

    #[tokio::test]
    async fn delete_says_whether_a_row_was_there() {
        let store = MemoryTokenStore::new();
        store.put(&record("7", "A", "h")).await.unwrap();
        assert!(store.delete("7", "A").await.unwrap());
        assert!(!store.delete("7", "A").await.unwrap());
        assert_eq!(store.get("7", "A").await.unwrap(), None);
        assert!(store.is_empty());
    }
}
