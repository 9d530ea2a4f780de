//! The send handler's management client, bounded: however many fan-outs run at once, at most
//! `Options::max_posts` posts are in flight across the gateway. The SDK's connection pool
//! opens a connection for every post it cannot put on an idle one, so without this bound a
//! burst of fan-outs opened thousands of connections (two descriptors each, both ends being
//! in this process). Wraps whatever `PusherFactory` the backends provide.

use std::sync::Arc;

use async_trait::async_trait;
use hermes_core::push::{PushError, Pusher, PusherFactory};
use tokio::sync::Semaphore;

pub(crate) struct BoundedPushers {
    inner: Arc<dyn PusherFactory>,
    in_flight: Arc<Semaphore>,
}

impl BoundedPushers {
    pub fn new(inner: Arc<dyn PusherFactory>, max_in_flight: usize) -> Self {
        BoundedPushers {
            inner,
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
        }
    }
}

impl PusherFactory for BoundedPushers {
    fn for_endpoint(&self, endpoint: &str) -> Arc<dyn Pusher> {
        Arc::new(BoundedPusher {
            inner: self.inner.for_endpoint(endpoint),
            in_flight: self.in_flight.clone(),
        })
    }
}

struct BoundedPusher {
    inner: Arc<dyn Pusher>,
    in_flight: Arc<Semaphore>,
}

#[async_trait]
impl Pusher for BoundedPusher {
    async fn post(&self, connection_id: &str, data: &[u8]) -> Result<(), PushError> {
        let _permit = self.in_flight.acquire().await.expect("never closed");
        self.inner.post(connection_id, data).await
    }

    async fn close(&self, connection_id: &str) -> Result<(), PushError> {
        let _permit = self.in_flight.acquire().await.expect("never closed");
        self.inner.close(connection_id).await
    }
}
