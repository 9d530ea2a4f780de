//! A socket's outgoing side. Frames posted through the management API wait here until the
//! socket's task writes them. The queue is bounded in bytes: a client that stops reading is
//! closed as a slow consumer (1008) rather than growing the gateway without limit. The close
//! signal is apart from the queue, so DeleteConnection, the limits and shutdown reach a task
//! that is blocked writing to a client that does not read.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, Notify};

use crate::peer::Peer;

/// What a queued frame costs besides its bytes (channel node, buffer header), so a flood of
/// empty frames is bounded too.
const FRAME_OVERHEAD: usize = 64;

/// The connection is gone or closing: the management API answers 410, as API Gateway does.
#[derive(Debug)]
pub(crate) struct Gone;

/// Why a socket is being closed, as its close frame says it.
pub(crate) type Closing = (u16, &'static str);

pub(crate) struct Live {
    pub peer: Peer,
    pub last_active: Mutex<SystemTime>,
    frames: mpsc::UnboundedSender<Utf8Bytes>,
    queued: AtomicUsize,
    limit: usize,
    closing: OnceLock<Closing>,
    wake: Notify,
}

impl Live {
    /// A socket's shared half, and the receiving end its task writes from.
    pub fn new(peer: Peer, max_queued_bytes: usize) -> (Arc<Live>, mpsc::UnboundedReceiver<Utf8Bytes>) {
        let (frames, rx) = mpsc::unbounded_channel();
        let live = Live {
            peer,
            last_active: Mutex::new(SystemTime::now()),
            frames,
            queued: AtomicUsize::new(0),
            limit: max_queued_bytes,
            closing: OnceLock::new(),
            wake: Notify::new(),
        };
        (Arc::new(live), rx)
    }

    /// Queues a frame for the client; a frame that would take the queue past its limit closes
    /// the connection instead.
    pub fn push(&self, frame: Utf8Bytes) -> Result<(), Gone> {
        if self.closing.get().is_some() {
            return Err(Gone);
        }
        let cost = frame.len() + FRAME_OVERHEAD;
        let before = self.queued.fetch_add(cost, Ordering::AcqRel);
        if before + cost > self.limit {
            self.queued.fetch_sub(cost, Ordering::AcqRel);
            tracing::warn!(
                queued_bytes = before,
                limit = self.limit,
                "slow consumer: the client is not reading its frames; closing it"
            );
            self.close(1008, "Slow consumer");
            return Err(Gone);
        }
        // Fails once the socket's task has ended.
        self.frames.send(frame).map_err(|_| Gone)
    }

    /// The socket's task took `frame` off the queue.
    pub fn took(&self, frame: &Utf8Bytes) {
        self.queued
            .fetch_sub(frame.len() + FRAME_OVERHEAD, Ordering::AcqRel);
    }

    /// Asks the socket's task to close with `code`; the first reason given wins.
    pub fn close(&self, code: u16, reason: &'static str) {
        if self.closing.set((code, reason)).is_ok() {
            self.wake.notify_one();
        }
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
