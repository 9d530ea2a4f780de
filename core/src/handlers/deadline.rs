//! When an invocation stops working. A Lambda has a deadline (its context's); the send
//! function keeps a reserve before it to finish what is in flight, delete gone rows and
//! queue what is left. hermes-local and the tests run with no deadline at all.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    end: Option<Instant>,
    /// Nothing new starts this close to `end`.
    reserve: Duration,
}

impl Deadline {
    /// No end: everything started is finished, however long it takes.
    pub const NONE: Deadline = Deadline {
        end: None,
        reserve: Duration::ZERO,
    };

    /// An invocation that began at `began` and ends at `end`, keeping `reserve`, but at most a
    /// quarter of the invocation: the first record always starts, whatever the function's
    /// timeout (Lambda's default 3 s keeps 0.75 s).
    pub fn new(end: Option<Instant>, reserve: Duration, began: Instant) -> Self {
        let reserve = end.map_or(reserve, |e| reserve.min(e.saturating_duration_since(began) / 4));
        Deadline { end, reserve }
    }

    pub fn end(&self) -> Option<Instant> {
        self.end
    }

    /// When work stops being started.
    pub fn stop_at(&self) -> Option<Instant> {
        self.end.map(|t| t.checked_sub(self.reserve).unwrap_or(t))
    }

    /// When work in flight stops being waited for: the rest of the reserve deletes gone rows
    /// and queues what is left.
    pub fn hard_stop(&self) -> Option<Instant> {
        self.end.map(|t| t.checked_sub(self.reserve / 4).unwrap_or(t))
    }

    /// Whether `now` is past `stop_at`.
    pub fn stopped(&self, now: Instant) -> bool {
        self.stop_at().is_some_and(|t| now >= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_at_most_a_quarter_of_the_invocation() {
        let began = Instant::now();
        let d = Deadline::new(
            Some(began + Duration::from_secs(4)),
            Duration::from_secs(3),
            began,
        );
        assert_eq!(d.stop_at(), Some(began + Duration::from_secs(3)));
        assert_eq!(d.hard_stop(), Some(began + Duration::from_millis(3750)));
        assert!(!d.stopped(began));
        assert!(d.stopped(began + Duration::from_secs(3)));
        let long = Deadline::new(
            Some(began + Duration::from_secs(60)),
            Duration::from_secs(3),
            began,
        );
        assert_eq!(long.stop_at(), Some(began + Duration::from_secs(57)));
    }

    #[test]
    fn no_deadline_never_stops() {
        assert!(!Deadline::NONE.stopped(Instant::now() + Duration::from_secs(86_400)));
        assert_eq!(Deadline::NONE.hard_stop(), None);
        let d = Deadline::new(None, Duration::from_secs(3), Instant::now());
        assert_eq!(d.stop_at(), None);
    }
}
