use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;

use super::{PushError, Pusher, PusherFactory};

/// Records what it is asked to post; ids marked gone answer like API Gateway's 410.
#[derive(Default)]
pub struct MemoryPusher {
    delivered: Mutex<HashMap<String, Vec<Vec<u8>>>>,
    gone: Mutex<HashSet<String>>,
    failing: Mutex<HashMap<String, PushError>>,
    /// Answers given a set number of times, then posts succeed.
    failing_for: Mutex<HashMap<String, (PushError, usize)>>,
    endpoints: Mutex<Vec<String>>,
}

impl MemoryPusher {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    pub fn mark_gone(&self, id: &str) {
        self.gone.lock().unwrap().insert(id.to_owned());
    }
    pub fn fail_with(&self, id: &str, e: PushError) {
        self.failing.lock().unwrap().insert(id.to_owned(), e);
    }
    /// The next `times` posts (or closes) to `id` fail with `e`, then they succeed: a 429
    /// that a retry gets past.
    pub fn fail_times(&self, id: &str, e: PushError, times: usize) {
        self.failing_for.lock().unwrap().insert(id.to_owned(), (e, times));
    }
    /// The next failure of `fail_times` for `id`, used up.
    fn next_failure(&self, id: &str) -> Option<PushError> {
        let mut f = self.failing_for.lock().unwrap();
        let (e, left) = f.get_mut(id)?;
        let e = e.clone();
        *left -= 1;
        if *left == 0 {
            f.remove(id);
        }
        Some(e)
    }
    /// Posts to `id` succeed again.
    pub fn heal(&self, id: &str) {
        self.failing.lock().unwrap().remove(id);
    }
    pub fn frames(&self, id: &str) -> Vec<Vec<u8>> {
        self.delivered
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .unwrap_or_default()
    }
    /// What `id` was sent, removed.
    pub fn take(&self, id: &str) -> Vec<Vec<u8>> {
        self.delivered.lock().unwrap().remove(id).unwrap_or_default()
    }
    pub fn total(&self) -> usize {
        self.delivered.lock().unwrap().values().map(Vec::len).sum()
    }
    pub fn endpoints(&self) -> Vec<String> {
        self.endpoints.lock().unwrap().clone()
    }
    pub fn clear(&self) {
        self.delivered.lock().unwrap().clear();
    }
}

#[async_trait]
impl Pusher for MemoryPusher {
    async fn post_once(&self, id: &str, frame: &Bytes) -> Result<(), PushError> {
        if self.gone.lock().unwrap().contains(id) {
            return Err(PushError::Gone);
        }
        if let Some(e) = self.failing.lock().unwrap().get(id) {
            return Err(e.clone());
        }
        if let Some(e) = self.next_failure(id) {
            return Err(e);
        }
        self.delivered
            .lock()
            .unwrap()
            .entry(id.to_owned())
            .or_default()
            .push(frame.to_vec());
        Ok(())
    }
    async fn close(&self, id: &str) -> Result<(), PushError> {
        if let Some(e) = self.failing.lock().unwrap().get(id) {
            return Err(e.clone());
        }
        if let Some(e) = self.next_failure(id) {
            return Err(e);
        }
        if !self.gone.lock().unwrap().insert(id.to_owned()) {
            return Err(PushError::Gone);
        }
        Ok(())
    }
}

/// Hands out the same pusher for every endpoint, remembering which endpoints were asked for.
pub struct MemoryPusherFactory(pub Arc<MemoryPusher>);

impl PusherFactory for MemoryPusherFactory {
    fn for_endpoint(&self, endpoint: &str) -> Arc<dyn Pusher> {
        self.0.endpoints.lock().unwrap().push(endpoint.to_owned());
        self.0.clone()
    }
}
