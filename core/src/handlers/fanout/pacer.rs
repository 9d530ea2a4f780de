//! Slowing down for the account's rate limit.
//!
//! API Gateway allows 10,000 management calls a second per account and region (5,000 burst),
//! shared by every API and every sender. A 10,000-connection room sits at that limit, and a
//! second room sent at the same moment goes over it: the answer is 429 LimitExceededException.
//! Retrying each post on its own (the SDK's way: three more tries over ~350 ms) fails records
//! once the room outlasts the retries, and every retry adds to the overload. The pacer instead
//! lowers the rate at which the whole sender starts posts, multiplicatively on a 429 and
//! additively while none come, as TCP does with its window: throttled posts wait their turn and
//! the number of 429s stays a small share of the posts.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A 429 sets the rate to this share of the rate that drew it.
const DECREASE: f64 = 0.7;
/// Each second without a 429 adds this share of the rate set at the last decrease.
const INCREASE_PER_SEC: f64 = 0.2;
/// Never slower than this (posts a second).
const MIN_RATE: f64 = 10.0;
/// Unpaced again once the rate has climbed this far above the one that drew the last 429.
const RELEASE: f64 = 1.5;
/// Tokens kept for a burst: this much time's worth of the rate (tokio's timer ticks in ms).
const BURST: Duration = Duration::from_millis(10);
/// Window of the start-rate estimate used before the first 429.
const WINDOW: Duration = Duration::from_millis(100);

/// Shared by all the fan-outs of one sender (one Lambda instance), across invocations.
#[derive(Default)]
pub struct Pacer {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Posts a second; `None` until a 429 (or again after the rate has recovered).
    rate: Option<f64>,
    tokens: f64,
    refilled: Option<Instant>,
    cut_at: Option<Instant>,
    /// The rate set at the last decrease, and the one that drew it.
    cut_rate: f64,
    ceiling: f64,
    window_start: Option<Instant>,
    window_count: u32,
    prev_rate: f64,
}

impl State {
    fn count(&mut self, now: Instant) {
        let start = *self.window_start.get_or_insert(now);
        let elapsed = now - start;
        if elapsed >= WINDOW {
            self.prev_rate = f64::from(self.window_count) / elapsed.as_secs_f64();
            self.window_start = Some(now);
            self.window_count = 0;
        }
        self.window_count += 1;
    }

    /// Starts a second lately, before any pacing: what the first 429 answered.
    fn measured(&self, now: Instant) -> f64 {
        let elapsed = self
            .window_start
            .map_or(Duration::ZERO, |s| now - s)
            .max(Duration::from_millis(5));
        let current = f64::from(self.window_count) / elapsed.as_secs_f64();
        current.max(self.prev_rate)
    }
}

impl Pacer {
    pub fn new() -> Self {
        Self::default()
    }

    /// `None`: start a post now (its token is taken). `Some(t)`: not before `t`.
    pub fn take(&self, now: Instant) -> Option<Instant> {
        let mut s = self.state.lock().unwrap();
        if let Some(rate) = s.rate {
            let dt = s
                .refilled
                .map_or(Duration::ZERO, |r| now.saturating_duration_since(r));
            let grown = rate + INCREASE_PER_SEC * s.cut_rate * dt.as_secs_f64();
            if grown >= RELEASE * s.ceiling {
                s.rate = None;
            } else {
                let burst = (grown * BURST.as_secs_f64()).max(1.0);
                s.tokens = (s.tokens + grown * dt.as_secs_f64()).min(burst);
                s.rate = Some(grown);
                s.refilled = Some(now);
                if s.tokens < 1.0 {
                    return Some(now + Duration::from_secs_f64((1.0 - s.tokens) / grown));
                }
                s.tokens -= 1.0;
            }
        }
        s.count(now);
        None
    }

    /// A post started at `started` was answered 429. Posts already in flight when the rate
    /// was last lowered do not lower it again: that decrease already answered them.
    pub fn throttled(&self, started: Instant, now: Instant) {
        let mut s = self.state.lock().unwrap();
        if s.cut_at.is_some_and(|c| started < c) {
            return;
        }
        let current = s.rate.unwrap_or_else(|| s.measured(now));
        let rate = (current * DECREASE).max(MIN_RATE);
        s.rate = Some(rate);
        s.cut_rate = rate;
        s.ceiling = current.max(rate);
        s.cut_at = Some(now);
        s.tokens = 0.0;
        s.refilled = Some(now);
    }

    /// Posts a second currently allowed; `None` when unpaced.
    pub fn rate(&self) -> Option<f64> {
        self.state.lock().unwrap().rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Starts as many posts as the pacer lets through in `span` of simulated time.
    fn run(p: &Pacer, from: Instant, span: Duration) -> usize {
        let mut now = from;
        let mut started = 0;
        while now < from + span {
            match p.take(now) {
                None => started += 1,
                Some(t) => now = t.max(now + Duration::from_micros(1)),
            }
        }
        started
    }

    #[test]
    fn unpaced_until_a_429() {
        let p = Pacer::new();
        let t0 = Instant::now();
        for i in 0..1000 {
            assert_eq!(p.take(t0 + Duration::from_micros(i * 50)), None);
        }
        assert_eq!(p.rate(), None);
    }

    #[test]
    fn a_429_cuts_the_rate_to_a_share_of_what_drew_it_and_it_recovers() {
        let p = Pacer::new();
        let t0 = Instant::now();
        // 20,000 starts a second for 200 ms, then a 429.
        for i in 0..4000 {
            p.take(t0 + Duration::from_micros(i * 50));
        }
        let t1 = t0 + Duration::from_millis(200);
        p.throttled(t1 - Duration::from_millis(1), t1);
        let rate = p.rate().unwrap();
        assert!((12_000.0..=16_000.0).contains(&rate), "{rate}");
        // A second 429 from a post already in flight at the cut changes nothing.
        p.throttled(t1 - Duration::from_micros(500), t1 + Duration::from_millis(1));
        assert_eq!(p.rate(), Some(rate));
        // Paced: one second lets through about the rate (plus what it grows meanwhile).
        let n = run(&p, t1, Duration::from_secs(1)) as f64;
        assert!(n > rate * 0.95 && n < rate * 1.25, "{n} at {rate}");
        // A 429 from a post started after the cut cuts again.
        let t2 = t1 + Duration::from_secs(1);
        let before = p.rate().unwrap();
        p.throttled(t2, t2);
        assert!((p.rate().unwrap() - before * DECREASE).abs() < 1.0);
        // With no 429 for long enough, pacing ends.
        assert_eq!(p.take(t2 + Duration::from_secs(10)), None);
        assert_eq!(p.rate(), None);
    }

    #[test]
    fn never_below_the_floor() {
        let p = Pacer::new();
        let mut t = Instant::now();
        for _ in 0..50 {
            t += Duration::from_millis(1);
            p.throttled(t, t);
        }
        assert_eq!(p.rate(), Some(MIN_RATE));
        assert!(p.take(t).is_some(), "no token right after a cut");
    }
}
