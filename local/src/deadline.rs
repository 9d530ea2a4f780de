//! The request body's deadline. hyper times a request's headers only: a client that sent
//! whole headers, then its body one byte every few seconds, held its connection (and its
//! place under the connection cap) for as long as it liked. Every body must now arrive whole
//! within `Options::body_read_timeout` of its headers; past it, reading it fails, and
//! `server.rs` answers 408 and closes the connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::Sleep;

/// Whether a request's body missed its deadline; shared by the body and the server loop.
#[derive(Clone, Default)]
pub(crate) struct Missed(Arc<AtomicBool>);

impl Missed {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A request body that fails once its deadline passes.
pub(crate) struct Timed {
    inner: Incoming,
    deadline: Pin<Box<Sleep>>,
    missed: Missed,
}

impl Timed {
    /// `within` counts from now: from the moment the headers were read.
    pub fn new(inner: Incoming, within: Duration, missed: Missed) -> Self {
        Timed {
            inner,
            deadline: Box::pin(tokio::time::sleep(within)),
            missed,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct TooSlow;

impl Body for Timed {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        // What has arrived is taken first, so a body read late but whole is not refused.
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.missed.0.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(TooSlow.into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
