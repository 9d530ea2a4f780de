//! Retrying a post: a wrapper over any [`Pusher`]'s single attempt, for the posts that go to
//! one connection (the send handler's answers). The fan-out paces and retries its own posts
//! (handlers/fanout), with this policy's backoff.

use std::time::Duration;

use bytes::Bytes;

use super::{PushError, Pusher};

/// Attempts and backoff: the values `crate::aws::sdk_config` gives the SDK clients. (Each
/// attempt's own timeout is the pusher's: `LeanPoster` bounds its attempts.)
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: crate::aws::MAX_ATTEMPTS,
            initial_backoff: crate::aws::INITIAL_BACKOFF,
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// Before attempt `attempt + 1`: exponential, with jitter over its upper half so retries
    /// from one fan-out spread out instead of arriving together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_backoff);
        exp.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// Attempts until success, a final answer (410, other 4xx), or the policy's last attempt:
/// 429s and 5xx are retried after [`RetryPolicy::backoff`], as the SDK's standard retry does.
pub async fn post(
    pusher: &dyn Pusher,
    policy: &RetryPolicy,
    connection_id: &str,
    frame: &Bytes,
) -> Result<(), PushError> {
    let mut attempt = 1;
    loop {
        match pusher.post_once(connection_id, frame).await {
            Err(e) if e.is_retryable() && attempt < policy.max_attempts => {
                tokio::time::sleep(policy.backoff(attempt)).await;
                attempt += 1;
            }
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;

    /// Answers each attempt with the next outcome of its script, recording the attempts.
    struct Scripted {
        outcomes: Mutex<Vec<Result<(), PushError>>>,
        attempts: Mutex<Vec<(String, Bytes)>>,
    }

    impl Scripted {
        fn new(mut outcomes: Vec<Result<(), PushError>>) -> Self {
            outcomes.reverse();
            Scripted {
                outcomes: Mutex::new(outcomes),
                attempts: Mutex::default(),
            }
        }
        fn attempts(&self) -> usize {
            self.attempts.lock().unwrap().len()
        }
    }

    #[async_trait]
    impl Pusher for Scripted {
        async fn post_once(&self, id: &str, frame: &Bytes) -> Result<(), PushError> {
            self.attempts.lock().unwrap().push((id.to_owned(), frame.clone()));
            self.outcomes
                .lock()
                .unwrap()
                .pop()
                .expect("no attempt past the script")
        }
        async fn close(&self, _: &str) -> Result<(), PushError> {
            unreachable!("retrying never closes")
        }
    }

    fn quick(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        }
    }

    fn throttled() -> Result<(), PushError> {
        Err(PushError::Throttled("LimitExceededException".into()))
    }

    #[tokio::test]
    async fn retries_throttling_and_5xx_until_it_lands() {
        let p = Scripted::new(vec![
            throttled(),
            Err(PushError::Unavailable("503".into())),
            Ok(()),
        ]);
        let frame = Bytes::from_static(b"{\"a\":1}");
        assert_eq!(post(&p, &quick(4), "c1", &frame).await, Ok(()));
        let attempts = p.attempts.lock().unwrap().clone();
        assert_eq!(attempts.len(), 3);
        assert!(attempts.iter().all(|(id, f)| id == "c1" && f == &frame));
    }

    #[tokio::test]
    async fn stops_at_the_last_attempt_and_on_a_final_answer() {
        let p = Scripted::new(vec![throttled(), throttled(), throttled()]);
        assert_eq!(post(&p, &quick(3), "c", &Bytes::new()).await, throttled());
        assert_eq!(p.attempts(), 3);

        for last in [
            PushError::Gone,
            PushError::Rejected {
                status: 403,
                message: "no".into(),
            },
        ] {
            let p = Scripted::new(vec![Err(last.clone())]);
            assert_eq!(post(&p, &quick(4), "c", &Bytes::new()).await, Err(last));
            assert_eq!(p.attempts(), 1, "a final answer is not retried");
        }
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let p = RetryPolicy::default();
        for a in 1..10 {
            let b = p.backoff(a);
            let full = p.initial_backoff.saturating_mul(1 << (a - 1)).min(p.max_backoff);
            assert!(b >= full / 2 && b <= full, "attempt {a}: {b:?} vs {full:?}");
        }
    }
}
