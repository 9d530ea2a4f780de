//! The subscriptions table in memory, with the DynamoDB store's semantics, bounded.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{distinct, Subscription, SubscriptionStore};
use crate::store::{RoomMember, RoomPage, StoreError};

/// The subscriptions in memory: per stream, its subscribers in connection-id order. At most
/// `max_items` in all: expired ones (the TTL) make room first, and a put that still would not
/// fit is refused whole. Sockets hold few streams each and `$disconnect` deletes them, so the
/// bound is only reached by a leak.
pub struct MemorySubscriptionStore {
    streams: Mutex<HashMap<String, BTreeMap<String, Entry>>>,
    max_items: usize,
}

#[derive(Clone)]
struct Entry {
    user_id: Option<String>,
    expires_at: u64,
}

impl Default for MemorySubscriptionStore {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl MemorySubscriptionStore {
    pub fn new(max_items: usize) -> Self {
        MemorySubscriptionStore {
            streams: Mutex::default(),
            max_items: max_items.max(1),
        }
    }

    /// Subscriptions held, over every stream.
    pub fn len(&self) -> usize {
        count(&self.streams.lock().unwrap())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every subscription (the gem's test surface, between two tests).
    pub fn clear(&self) {
        self.streams.lock().unwrap().clear();
    }
}

fn count(streams: &HashMap<String, BTreeMap<String, Entry>>) -> usize {
    streams.values().map(BTreeMap::len).sum()
}

#[async_trait]
impl SubscriptionStore for MemorySubscriptionStore {
    async fn put(&self, subscriptions: &[Subscription]) -> Result<(), StoreError> {
        let mut g = self.streams.lock().unwrap();
        let new = |g: &HashMap<String, BTreeMap<String, Entry>>| {
            let mut keys: Vec<(&str, &str)> = subscriptions
                .iter()
                .map(|s| (s.stream.as_str(), s.connection_id.as_str()))
                .filter(|(st, c)| g.get(*st).is_none_or(|m| !m.contains_key(*c)))
                .collect();
            keys.sort();
            keys.dedup();
            keys.len()
        };
        if count(&g) + new(&g) > self.max_items {
            let now = crate::token::now_secs();
            for subs in g.values_mut() {
                subs.retain(|_, e| e.expires_at > now);
            }
            g.retain(|_, subs| !subs.is_empty());
            let (held, adding) = (count(&g), new(&g));
            if held + adding > self.max_items {
                return Err(StoreError::Full {
                    table: "subscriptions (memory)".into(),
                    message: format!(
                        "{adding} new subscriptions do not fit: {held} held, at most {}",
                        self.max_items
                    ),
                });
            }
        }
        for sub in subscriptions {
            g.entry(sub.stream.clone()).or_default().insert(
                sub.connection_id.clone(),
                Entry {
                    user_id: sub.user_id.clone().filter(|u| !u.is_empty()),
                    expires_at: sub.expires_at,
                },
            );
        }
        Ok(())
    }

    async fn delete(&self, connection_id: &str, streams: &[String]) -> Result<(), StoreError> {
        let mut g = self.streams.lock().unwrap();
        for stream in distinct(streams) {
            if let Some(subs) = g.get_mut(stream) {
                subs.remove(connection_id);
                if subs.is_empty() {
                    g.remove(stream);
                }
            }
        }
        Ok(())
    }

    async fn page(&self, stream: &str, after: Option<&str>, limit: usize) -> Result<RoomPage, StoreError> {
        let g = self.streams.lock().unwrap();
        let Some(subs) = g.get(stream) else {
            return Ok(RoomPage::default());
        };
        let lo = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut it = subs.range::<str, _>((lo, Bound::Unbounded));
        let members: Vec<RoomMember> = it
            .by_ref()
            .take(limit.max(1))
            .map(|(c, e)| RoomMember {
                connection_id: c.clone(),
                user_id: e.user_id.clone().unwrap_or_default(),
            })
            .collect();
        // Like DynamoDB's LastEvaluatedKey: set when the page stopped at its limit.
        let next = it.next().and(members.last().map(|m| m.connection_id.clone()));
        Ok(RoomPage { members, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(stream: &str, conn: &str, user: Option<&str>) -> Subscription {
        Subscription {
            stream: stream.into(),
            connection_id: conn.into(),
            user_id: user.map(Into::into),
            expires_at: crate::token::now_secs() + 3600,
        }
    }

    fn member(conn: &str, user: &str) -> RoomMember {
        RoomMember {
            connection_id: conn.into(),
            user_id: user.into(),
        }
    }

    fn ids(page: &RoomPage) -> Vec<&str> {
        page.members.iter().map(|m| m.connection_id.as_str()).collect()
    }

    #[tokio::test]
    async fn subscribers_page_in_connection_order_anonymous_ones_with_no_user() {
        let store = MemorySubscriptionStore::default();
        store
            .put(&[
                sub("board", "c3", Some("7")),
                sub("board", "c1", None),
                sub("board", "c5", Some("")),
                sub("other", "c2", Some("8")),
            ])
            .await
            .unwrap();
        let first = store.page("board", None, 2).await.unwrap();
        assert_eq!(first.members, [member("c1", ""), member("c3", "7")]);
        assert_eq!(first.next.as_deref(), Some("c3"));
        let last = store.page("board", first.next.as_deref(), 2).await.unwrap();
        assert_eq!(
            (ids(&last), last.next.as_deref()),
            (vec!["c5"], None),
            "a short page ends it"
        );
        assert_eq!(store.page("board", Some("c1"), 2).await.unwrap().next, None);
        assert_eq!(
            store.page("board", None, 0).await.unwrap().members.len(),
            1,
            "limit at least 1"
        );
        assert_eq!(store.page("none", None, 5).await.unwrap(), RoomPage::default());
        assert_eq!(store.all("board").await.unwrap().len(), 3);
        assert_eq!(store.len(), 4);
    }

    #[tokio::test]
    async fn a_subscription_put_again_is_replaced_and_deletes_take_only_the_named_ones() {
        let store = MemorySubscriptionStore::default();
        store
            .put(&[
                sub("a", "c1", Some("7")),
                sub("b", "c1", Some("7")),
                sub("a", "c2", None),
            ])
            .await
            .unwrap();
        store.put(&[sub("a", "c1", Some("9"))]).await.unwrap();
        assert_eq!(
            store.all("a").await.unwrap(),
            [member("c1", "9"), member("c2", "")]
        );
        assert_eq!(store.len(), 3);
        let names = ["a".to_owned(), "a".to_owned(), "nope".to_owned()];
        store.delete("c1", &names).await.unwrap();
        assert_eq!(store.all("a").await.unwrap(), [member("c2", "")]);
        assert_eq!(
            store.all("b").await.unwrap(),
            [member("c1", "7")],
            "not named: kept"
        );
        store.delete("c2", &["a".to_owned()]).await.unwrap();
        store.delete("c9", &[]).await.unwrap();
        assert!(store.all("a").await.unwrap().is_empty());
        assert_eq!(store.len(), 1);
    }

    #[tokio::test]
    async fn the_bound_sweeps_expired_items_then_refuses_a_put_whole() {
        let store = MemorySubscriptionStore::new(3);
        let mut old = sub("s", "old", None);
        old.expires_at = crate::token::now_secs() - 1;
        store
            .put(&[old, sub("s", "c1", None), sub("s", "c2", None)])
            .await
            .unwrap();
        store.put(&[sub("s", "c3", None)]).await.unwrap();
        assert_eq!(
            store.all("s").await.unwrap().len(),
            3,
            "the expired one made room"
        );
        store
            .put(&[sub("s", "c3", Some("1"))])
            .await
            .expect("a replaced item takes no room");
        let err = store
            .put(&[sub("t", "c1", None), sub("t", "c2", None)])
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2 new subscriptions") && err.contains("at most 3"),
            "{err}"
        );
        assert!(store.all("t").await.unwrap().is_empty(), "nothing half-written");
    }
}
