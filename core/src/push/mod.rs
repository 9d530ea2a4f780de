//! Posting frames to connections: the API Gateway management API, or memory in tests.
//!
//! A [`Pusher`] makes single attempts; [`retry`] retries over any of them. The management
//! API client is split by concern: `apigw` (the pusher and its factory), `lean` (the poster
//! PostToConnection goes through), `transport`, `credentials`, `endpoint`, `sigv4`, and
//! `classify` (what an answer means).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

pub mod apigw;
mod classify;
mod credentials;
mod endpoint;
pub mod lean;
pub mod memory;
pub mod retry;
pub mod sigv4;
pub mod transport;

pub use apigw::ApiGwPusherFactory;
pub use memory::MemoryPusher;
pub use retry::RetryPolicy;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PushError {
    /// 410: the client went away; its row should go too.
    #[error("connection is gone")]
    Gone,
    /// 429 that outlasted the retries.
    #[error("throttled: {0}")]
    Throttled(String),
    /// 5xx or a transport failure that outlasted the retries.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Any other 4xx: retrying will not help.
    #[error("rejected with status {status}: {message}")]
    Rejected { status: u16, message: String },
    /// The endpoint, region or credentials set-up cannot work: no post will.
    #[error("cannot post: {0}")]
    Misconfigured(String),
}

impl PushError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, PushError::Throttled(_) | PushError::Unavailable(_))
    }
}

#[async_trait]
pub trait Pusher: Send + Sync {
    /// One PostToConnection attempt, not retried: the fan-out paces and retries itself
    /// (handlers/fanout), and [`retry::post`] (or `post` on a `dyn Pusher`) retries for the
    /// rest. The frame is shared, not copied, across a room's posts.
    async fn post_once(&self, connection_id: &str, frame: &Bytes) -> Result<(), PushError>;
    /// The management API's DeleteConnection, one attempt: closes the client's socket.
    async fn close(&self, connection_id: &str) -> Result<(), PushError>;
}

impl<'p> dyn Pusher + 'p {
    /// PostToConnection, retried on throttling and 5xx with backoff ([`RetryPolicy::default`]):
    /// for a frame to one connection, where no fan-out paces the posts.
    pub async fn post(&self, connection_id: &str, frame: &[u8]) -> Result<(), PushError> {
        let frame = Bytes::copy_from_slice(frame);
        retry::post(self, &RetryPolicy::default(), connection_id, &frame).await
    }
}

/// One pusher per management endpoint (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`).
pub trait PusherFactory: Send + Sync {
    fn for_endpoint(&self, endpoint: &str) -> Arc<dyn Pusher>;
}
