//! A socket's outgoing side. Frames posted through the management API wait here until the
//! socket's task writes them. Bounded twice in bytes: per socket (a client that stops reading
//! is closed as a slow consumer, 1008) and across the gateway (`budget.rs`; `sockets.rs`
//! decides what to close when it is full). A frame's bytes count until it has been written,
//! the one being written to a client that does not read included, and a closed socket's queue
//! is dropped at once, its bytes given back, not when its task gets round to it. The close
//! signal is apart from the queue, so DeleteConnection, the limits and shutdown reach a task
//! that is blocked writing to a client that does not read.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

use crate::budget::Budget;
use crate::peer::Peer;

/// What a queued frame costs besides its bytes (queue slot, buffer header), so a flood of
/// empty frames is bounded too.
const FRAME_OVERHEAD: usize = 64;

pub(crate) fn cost(frame: &Utf8Bytes) -> usize {
    frame.len() + FRAME_OVERHEAD
}

/// Why a frame was not queued.
pub(crate) enum Refused {
    /// The connection is gone or closing: the management API answers 410, as API Gateway does.
    Gone,
    /// The gateway's queues are full: the frame is handed back.
    OverBudget(Utf8Bytes),
}

/// Why a socket is being closed, as its close frame says it.
pub(crate) type Closing = (u16, &'static str);

struct Queue {
    frames: VecDeque<Utf8Bytes>,
    /// The cost of `frames`.
    queued: usize,
    /// The cost of the frame the socket's task is writing.
    writing: usize,
    /// Closed or ended: nothing more is queued.
    shut: bool,
}

pub(crate) struct Live {
    pub peer: Peer,
    pub last_active: Mutex<SystemTime>,
    queue: Mutex<Queue>,
    limit: usize,
    budget: Arc<Budget>,
    ready: Notify,
    closing: OnceLock<Closing>,
    wake: Notify,
}

/// The socket task's end of the queue; dropping it gives back whatever is still counted.
pub(crate) struct Outbox {
    live: Arc<Live>,
}

impl Live {
    /// A socket's shared half, and the end its task writes from.
    pub fn new(peer: Peer, max_queued_bytes: usize, budget: Arc<Budget>) -> (Arc<Live>, Outbox) {
        let live = Arc::new(Live {
            peer,
            last_active: Mutex::new(SystemTime::now()),
            queue: Mutex::new(Queue {
                frames: VecDeque::new(),
                queued: 0,
                writing: 0,
                shut: false,
            }),
            limit: max_queued_bytes,
            budget,
            ready: Notify::new(),
            closing: OnceLock::new(),
            wake: Notify::new(),
        });
        (live.clone(), Outbox { live })
    }

    /// Queues a frame for the client. A frame that would take this socket's queue past its
    /// limit closes the connection instead; one the gateway's queues have no room for is
    /// handed back.
    pub fn push(&self, frame: Utf8Bytes) -> Result<(), Refused> {
        let cost = cost(&frame);
        let mut q = self.queue.lock().unwrap();
        if q.shut {
            return Err(Refused::Gone);
        }
        let held = q.queued + q.writing;
        if held + cost > self.limit {
            drop(q);
            tracing::warn!(
                queued_bytes = held,
                limit = self.limit,
                "slow consumer: the client is not reading its frames; closing it"
            );
            self.close(1008, "Slow consumer");
            return Err(Refused::Gone);
        }
        if !self.budget.take(cost) {
            return Err(Refused::OverBudget(frame));
        }
        q.frames.push_back(frame);
        q.queued += cost;
        drop(q);
        self.ready.notify_one();
        Ok(())
    }

    /// The bytes waiting, not counting the frame being written: what closing the socket gives
    /// back at once.
    pub fn queued_bytes(&self) -> usize {
        self.queue.lock().unwrap().queued
    }

    /// Asks the socket's task to close with `code` (the first reason given wins) and drops
    /// what is still queued: a closing socket writes nothing more but its close frame.
    pub fn close(&self, code: u16, reason: &'static str) {
        let first = self.closing.set((code, reason)).is_ok();
        drop(self.shut(false));
        if first {
            self.wake.notify_one();
        }
    }

    /// Takes no more frames and gives back the queued ones' bytes (and the one being written's,
    /// `with_writing`); returns the frames, to be dropped outside the lock.
    fn shut(&self, with_writing: bool) -> VecDeque<Utf8Bytes> {
        let mut q = self.queue.lock().unwrap();
        q.shut = true;
        let mut released = std::mem::take(&mut q.queued);
        if with_writing {
            released += std::mem::take(&mut q.writing);
        }
        self.budget.give_back(released);
        std::mem::take(&mut q.frames)
    }

    /// Resolves once `close` has been called, with its code and reason.
    pub async fn closed(&self) -> Closing {
        loop {
            if let Some(c) = self.closing.get() {
                return *c;
            }
            // notify_one leaves a permit when nobody waits, so a close between the check
            // above and this wait is not missed.
            self.wake.notified().await;
        }
    }
}

impl Outbox {
    /// The next frame to write; its bytes stay counted until `written`.
    pub async fn next(&mut self) -> Utf8Bytes {
        loop {
            {
                let mut q = self.live.queue.lock().unwrap();
                if let Some(frame) = q.frames.pop_front() {
                    let c = cost(&frame);
                    q.queued -= c;
                    q.writing += c;
                    return frame;
                }
            }
            // A push between the check above and this wait left a permit: not missed.
            self.live.ready.notified().await;
        }
    }

    /// The frame `next` gave has been written (or will never be).
    pub fn written(&mut self) {
        let mut q = self.live.queue.lock().unwrap();
        self.live.budget.give_back(std::mem::take(&mut q.writing));
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        drop(self.live.shut(true));
    }
}
