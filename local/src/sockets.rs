//! The open sockets: the registry the management API posts through, and the connection
//! limit. A place under `Options::max_connections` is reserved before anything is awaited
//! (the authorizer, the connect handler, the upgrade), so a burst of upgrades cannot all pass
//! a count that only grows once their sockets are running.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::outbox::Live;

pub(crate) struct Sockets {
    open: Mutex<HashMap<String, Arc<Live>>>,
    slots: Arc<Semaphore>,
}

/// A reserved place among `Options::max_connections`, held from before the authorizer until
/// the socket's `$disconnect` has run; dropping it (a refused or failed upgrade included)
/// frees the place.
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Sockets {
    pub fn new(max_connections: usize) -> Self {
        Sockets {
            open: Mutex::default(),
            slots: Arc::new(Semaphore::new(max_connections)),
        }
    }

    /// A place for one more socket, or `None` at the limit.
    pub fn reserve(&self) -> Option<Slot> {
        self.slots
            .clone()
            .try_acquire_owned()
            .ok()
            .map(|p| Slot { _permit: p })
    }

    /// Makes the socket reachable by the management API; only a socket holding a slot can be.
    pub fn insert(&self, _slot: &Slot, connection_id: &str, live: Arc<Live>) {
        self.open.lock().unwrap().insert(connection_id.to_owned(), live);
    }

    /// The socket is closing: the management API answers 410 from now on.
    pub fn remove(&self, connection_id: &str) {
        self.open.lock().unwrap().remove(connection_id);
    }

    pub fn get(&self, connection_id: &str) -> Option<Arc<Live>> {
        self.open.lock().unwrap().get(connection_id).cloned()
    }

    pub fn len(&self) -> usize {
        self.open.lock().unwrap().len()
    }

    /// Closes every open socket (a deployment going away, as API Gateway does it: 1001).
    pub fn close_all(&self, code: u16, reason: &'static str) {
        let live: Vec<Arc<Live>> = self.open.lock().unwrap().values().cloned().collect();
        for l in live {
            l.close(code, reason);
        }
    }
}
