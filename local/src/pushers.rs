//! The send handler's management client, bounded: however many fan-outs run at once, at most
//! `Options::max_posts` posts are in flight across the gateway. The SDK's connection pool
//! opens a connection for every post it cannot put on an idle one, so without this bound a
//! burst of fan-outs opened thousands of connections (two descriptors each, both ends being
//! in this process). Wraps whatever `PusherFactory` the backends provide.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
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

/// Holds a permit for each attempt, not across a retry's backoff: a retried post
/// (`dyn Pusher::post`) retries over this pusher's single attempts.
struct BoundedPusher {
    inner: Arc<dyn Pusher>,
    in_flight: Arc<Semaphore>,
}

#[async_trait]
impl Pusher for BoundedPusher {
    async fn post_once(&self, connection_id: &str, frame: &Bytes) -> Result<(), PushError> {
        let _permit = self.in_flight.acquire().await.expect("never closed");
        self.inner.post_once(connection_id, frame).await
    }

    async fn close(&self, connection_id: &str) -> Result<(), PushError> {
        let _permit = self.in_flight.acquire().await.expect("never closed");
        self.inner.close(connection_id).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Answers every call with 429 after a short wait, counting calls and the most at once.
    #[derive(Default)]
    struct Throttled {
        calls: AtomicUsize,
        now: AtomicUsize,
        most: AtomicUsize,
    }

    impl Throttled {
        async fn call(&self) -> Result<(), PushError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            Err(PushError::Throttled("LimitExceededException".into()))
        }
    }

    #[async_trait]
    impl Pusher for Throttled {
        async fn post_once(&self, _: &str, _: &Bytes) -> Result<(), PushError> {
            self.call().await
        }
        async fn close(&self, _: &str) -> Result<(), PushError> {
            self.call().await
        }
    }

    struct Factory(Arc<Throttled>);
    impl PusherFactory for Factory {
        fn for_endpoint(&self, _: &str) -> Arc<dyn Pusher> {
            self.0.clone()
        }
    }

    #[tokio::test]
    async fn single_attempts_stay_single_and_bounded() {
        let inner = Arc::new(Throttled::default());
        let bounded = BoundedPushers::new(Arc::new(Factory(inner.clone())), 2);
        let pusher = bounded.for_endpoint("http://127.0.0.1:1/dev");
        let frame = Bytes::from_static(b"{}");
        let posts = (0..6).map(|i| {
            let pusher = pusher.clone();
            let frame = frame.clone();
            async move { pusher.post_once(&format!("c{i}"), &frame).await }
        });
        let closes = (0..4).map(|i| {
            let pusher = pusher.clone();
            async move { pusher.close(&format!("d{i}")).await }
        });
        let (posted, closed) = tokio::join!(
            futures::future::join_all(posts),
            futures::future::join_all(closes)
        );
        assert!(posted.iter().chain(&closed).all(|r| r.is_err()));
        assert_eq!(
            inner.calls.load(Ordering::SeqCst),
            10,
            "one inner attempt per post_once and per close: no retry underneath the fan-out's own"
        );
        assert_eq!(
            inner.most.load(Ordering::SeqCst),
            2,
            "at most max_in_flight at once"
        );
    }
}
