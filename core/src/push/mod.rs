//! Posting frames to connections: the API Gateway management API, or memory in tests.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

pub mod apigw;
pub mod lean;
pub mod memory;
pub mod sigv4;

pub use apigw::ApiGwPusherFactory;
pub use memory::MemoryPusher;

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
    /// PostToConnection, retried on throttling and 5xx with backoff.
    async fn post(&self, connection_id: &str, data: &[u8]) -> Result<(), PushError>;
    /// One PostToConnection attempt, not retried: the fan-out paces and retries itself
    /// (handlers/fanout). The frame is shared, not copied, across a room's posts.
    async fn post_once(&self, connection_id: &str, data: &Bytes) -> Result<(), PushError> {
        self.post(connection_id, data).await
    }
    /// The management API's DeleteConnection: closes the client's socket.
    async fn close(&self, connection_id: &str) -> Result<(), PushError>;
}

/// One pusher per management endpoint (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`).
pub trait PusherFactory: Send + Sync {
    fn for_endpoint(&self, endpoint: &str) -> Arc<dyn Pusher>;
}
