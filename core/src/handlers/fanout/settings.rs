//! How a sender fans out: concurrency, page and chunk sizes, the deadline's reserve, retries.

use std::time::Duration;

use crate::push::RetryPolicy;

#[derive(Clone, Debug)]
pub struct Settings {
    /// Posts in flight at once. API Gateway's management API allows far more per account,
    /// but one Lambda's outbound connections and memory do not. A batch's records share them.
    pub concurrency: usize,
    /// Connections asked for per Query (DynamoDB also stops a page at 1 MB). With a queue, a
    /// page is best about a `chunk`: the reader's first page is its own share, and a Query's
    /// time grows with the page it returns.
    pub page_size: usize,
    /// With a queue: the connections of a room the invocation that reads it posts to itself,
    /// and the most one continuation record hands on. The rest of the room is split into
    /// records of this many as it is read, for other invocations to post in parallel.
    pub chunk: usize,
    /// Stop starting posts this long before the deadline: time to finish the ones in flight,
    /// delete gone rows and queue the continuation (`Deadline::new` caps it at a quarter of
    /// the invocation).
    pub reserve: Duration,
    /// Attempts per connection after 429s (the pacer slows the sender down meanwhile).
    pub throttled_attempts: u32,
    /// Attempts and backoff after 5xx and transport failures.
    pub retry: RetryPolicy,
    /// Connections that used up their attempts are carried over (after a delay) this many times.
    pub max_rounds: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            concurrency: 64,
            page_size: 5_000,
            // About 2 s of posting at 64 in flight and 20 ms a post: a batch of ten such
            // records (the event source's batch size) fits a 30 s invocation.
            chunk: 5_000,
            reserve: Duration::from_secs(3),
            throttled_attempts: 6,
            retry: RetryPolicy {
                max_backoff: Duration::from_secs(1),
                ..RetryPolicy::default()
            },
            max_rounds: 3,
        }
    }
}
