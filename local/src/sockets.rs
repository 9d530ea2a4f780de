//! The open sockets: the registry the management API posts through, the connection limit,
//! and the gateway-wide bound on the bytes queued for them.
//!
//! A place under `Options::max_connections` is reserved before anything is awaited (the
//! authorizer, the connect handler, the upgrade), so a burst of upgrades cannot all pass a
//! count that only grows once their sockets are running.
//!
//! When a post would take the queues past `Options::max_total_queued_bytes`, the socket
//! holding the most queued bytes is closed as a slow consumer (1008) and its queue dropped,
//! rather than refusing every room for the sake of one client that does not read. When
//! that cannot make room (no queue is that large: the bytes are spread over clients that do
//! read, or are being written), the post is answered as API Gateway answers throttling (429
//! LimitExceededException) and the management client retries it later: a post is never held.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::budget::Budget;
use crate::options::Options;
use crate::outbox::{cost, Live, Outbox, Refused};
use crate::peer::Peer;

pub(crate) struct Sockets {
    open: Mutex<HashMap<String, Arc<Live>>>,
    slots: Arc<Semaphore>,
    budget: Arc<Budget>,
    max_queued_bytes: usize,
    /// Held while making room, so posts short of it at once do not each close a socket for
    /// the same shortage; and the refusals not yet logged.
    making_room: Mutex<Refusals>,
}

/// Posts answered 429, logged at most once a second.
#[derive(Default)]
struct Refusals {
    unlogged: u64,
    logged_at: Option<Instant>,
}

/// Why a post was not queued, as the management API answers it.
pub(crate) enum PostRefused {
    /// 410 GoneException.
    Gone,
    /// 429 LimitExceededException.
    Throttled,
}

/// A reserved place among `Options::max_connections`, held from before the authorizer until
/// the socket's `$disconnect` has run; dropping it (a refused or failed upgrade included)
/// frees the place.
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Sockets {
    pub fn new(opts: &Options) -> Self {
        Sockets {
            open: Mutex::default(),
            slots: Arc::new(Semaphore::new(opts.max_connections)),
            budget: Arc::new(Budget::new(opts.max_total_queued_bytes)),
            max_queued_bytes: opts.max_queued_bytes,
            making_room: Mutex::default(),
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

    /// A new socket, reachable by the management API from now on (only a socket holding a
    /// slot can be); its task writes from the `Outbox`.
    pub fn open(&self, _slot: &Slot, connection_id: &str, peer: Peer) -> (Arc<Live>, Outbox) {
        let (live, outbox) = Live::new(peer, self.max_queued_bytes, self.budget.clone());
        self.open
            .lock()
            .unwrap()
            .insert(connection_id.to_owned(), live.clone());
        (live, outbox)
    }

    /// The socket is closing: the management API answers 410 from now on.
    pub fn remove(&self, connection_id: &str) {
        self.open.lock().unwrap().remove(connection_id);
    }

    pub fn get(&self, connection_id: &str) -> Option<Arc<Live>> {
        self.open.lock().unwrap().get(connection_id).cloned()
    }

    /// Every open socket (at most `Options::max_connections`), for the console.
    pub fn all(&self) -> Vec<(String, Arc<Live>)> {
        let open = self.open.lock().unwrap();
        open.iter().map(|(id, l)| (id.clone(), l.clone())).collect()
    }

    pub fn len(&self) -> usize {
        self.open.lock().unwrap().len()
    }

    /// Queues a frame for `live`, closing the slowest consumer first if the gateway's queues
    /// are full.
    pub fn post(&self, live: &Live, frame: Utf8Bytes) -> Result<(), PostRefused> {
        let frame = match live.push(frame) {
            Ok(()) => return Ok(()),
            Err(Refused::Gone) => return Err(PostRefused::Gone),
            Err(Refused::OverBudget(frame)) => frame,
        };
        let mut refusals = self.making_room.lock().unwrap();
        // Another post may have made room while this one waited.
        let frame = match live.push(frame) {
            Ok(()) => return Ok(()),
            Err(Refused::Gone) => return Err(PostRefused::Gone),
            Err(Refused::OverBudget(frame)) => frame,
        };
        let needed = self.budget.shortfall(cost(&frame));
        // Only a queue whose bytes make room is closed: closing a smaller one would refuse the
        // post all the same and cut off a client for nothing.
        if let Some((id, victim, queued)) = self.largest_queue().filter(|(_, _, q)| *q >= needed) {
            tracing::warn!(
                connection_id = id,
                queued_bytes = queued,
                gateway_queued_bytes = self.budget.used(),
                limit = self.budget.cap(),
                "slow consumer: the gateway's queues are full; closing the socket holding the most"
            );
            victim.close(1008, "Slow consumer");
            match live.push(frame) {
                Ok(()) => return Ok(()),
                Err(Refused::Gone) => return Err(PostRefused::Gone),
                Err(Refused::OverBudget(_)) => {}
            }
        }
        refusals.unlogged += 1;
        if refusals
            .logged_at
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            tracing::warn!(
                refused = refusals.unlogged,
                gateway_queued_bytes = self.budget.used(),
                limit = self.budget.cap(),
                "the gateway's queues are full: posts answered 429 LimitExceededException"
            );
            refusals.unlogged = 0;
            refusals.logged_at = Some(Instant::now());
        }
        Err(PostRefused::Throttled)
    }

    /// The open socket with the most bytes waiting, and how many.
    fn largest_queue(&self) -> Option<(String, Arc<Live>, usize)> {
        let open = self.open.lock().unwrap();
        open.iter()
            .map(|(id, l)| (id, l, l.queued_bytes()))
            .max_by_key(|(_, _, q)| *q)
            .map(|(id, l, q)| (id.clone(), l.clone(), q))
    }

    /// Bytes queued across the gateway now, and at most so far.
    pub fn queued_bytes(&self) -> (usize, usize) {
        (self.budget.used(), self.budget.peak())
    }

    /// Closes every open socket (a deployment going away, as API Gateway does it: 1001).
    pub fn close_all(&self, code: u16, reason: &'static str) {
        let live: Vec<Arc<Live>> = self.open.lock().unwrap().values().cloned().collect();
        for l in live {
            l.close(code, reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use futures::FutureExt;

    use super::*;

    const FRAME: usize = 1000;

    fn frame() -> Utf8Bytes {
        "x".repeat(FRAME).into()
    }

    fn peer() -> Peer {
        Peer {
            connected_at: SystemTime::now(),
            source_ip: "127.0.0.1".into(),
            user_agent: String::new(),
        }
    }

    /// Room for exactly `frames` frames across the gateway.
    fn sockets(frames: usize) -> Sockets {
        let cap = frames * cost(&frame());
        Sockets::new(&Options {
            max_queued_bytes: cap,
            max_total_queued_bytes: cap,
            ..Options::default()
        })
    }

    #[test]
    fn a_full_gateway_closes_the_largest_queue_to_make_room() {
        let s = sockets(4);
        let slot = s.reserve().unwrap();
        let (slow, _slow_out) = s.open(&slot, "slow", peer());
        let (other, _other_out) = s.open(&slot, "other", peer());
        for _ in 0..3 {
            assert!(s.post(&slow, frame()).is_ok());
        }
        assert!(s.post(&other, frame()).is_ok());
        assert_eq!(s.queued_bytes().0, 4 * cost(&frame()));
        // Full: the socket holding 3 frames goes, the post to the other is taken.
        assert!(s.post(&other, frame()).is_ok());
        assert_eq!(slow.closed().now_or_never(), Some((1008, "Slow consumer")));
        assert_eq!(slow.queued_bytes(), 0);
        assert_eq!(s.queued_bytes().0, 2 * cost(&frame()));
        assert!(matches!(s.post(&slow, frame()), Err(PostRefused::Gone)));
    }

    #[test]
    fn when_closing_a_queue_cannot_make_room_the_post_is_throttled() {
        let s = sockets(2);
        let slot = s.reserve().unwrap();
        let (a, mut a_out) = s.open(&slot, "a", peer());
        let (b, mut b_out) = s.open(&slot, "b", peer());
        // Both frames are being written: counted, but no queue holds them.
        assert!(s.post(&a, frame()).is_ok());
        assert!(s.post(&b, frame()).is_ok());
        assert!(a_out.next().now_or_never().is_some());
        assert!(b_out.next().now_or_never().is_some());
        assert!(matches!(s.post(&a, frame()), Err(PostRefused::Throttled)));
        assert_eq!(a.closed().now_or_never(), None, "nobody closed for nothing");
        assert_eq!(b.closed().now_or_never(), None);
        // Written: the room is back.
        a_out.written();
        assert!(s.post(&b, frame()).is_ok());
        // A socket's end dropped gives back all it held.
        drop(b_out);
        assert_eq!(s.queued_bytes().0, 0);
        assert_eq!(s.queued_bytes().1, 2 * cost(&frame()));
    }
}
