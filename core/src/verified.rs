//! (stored hash, token) pairs this process has already checked with bcrypt, so a reconnect
//! or a repeat page view with the same token skips the ~60 ms hash. Only SHA-256 digests of
//! the pairs are kept: the cache holds no token.

use std::collections::HashSet;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

pub struct VerifiedPairs {
    set: Mutex<HashSet<[u8; 32]>>,
    capacity: usize,
}

impl Default for VerifiedPairs {
    fn default() -> Self {
        Self::with_capacity(50_000)
    }
}

impl VerifiedPairs {
    pub fn with_capacity(capacity: usize) -> Self {
        VerifiedPairs {
            set: Mutex::new(HashSet::new()),
            capacity: capacity.max(1),
        }
    }

    fn key(hash: &str, token: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(hash.as_bytes());
        h.update([0u8]);
        h.update(token.as_bytes());
        h.finalize().into()
    }

    pub fn contains(&self, hash: &str, token: &str) -> bool {
        self.set.lock().unwrap().contains(&Self::key(hash, token))
    }

    pub fn insert(&self, hash: &str, token: &str) {
        let mut s = self.set.lock().unwrap();
        // Dropping everything at the cap is crude but bounded; the cost is one bcrypt per
        // user on their next connect.
        if s.len() >= self.capacity {
            s.clear();
        }
        s.insert(Self::key(hash, token));
    }

    pub fn len(&self) -> usize {
        self.set.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Checks with the cache first, bcrypt off the async threads second.
pub async fn verify_cached(cache: &VerifiedPairs, token: &str, hash: &str) -> bool {
    if cache.contains(hash, token) {
        return true;
    }
    let (t, h) = (token.to_owned(), hash.to_owned());
    let ok = tokio::task::spawn_blocking(move || crate::token::unseal_matches(&t, &h))
        .await
        .unwrap_or(false);
    if ok {
        cache.insert(hash, token);
    }
    ok
}
