//! The bytes queued for clients across the whole gateway, against
//! `Options::max_total_queued_bytes`. Every socket's queue takes from it as frames are posted
//! and gives back as they are written or dropped, so it counts what the queues hold: a
//! closed socket's bytes are back the moment its queue is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};

pub(crate) struct Budget {
    used: AtomicUsize,
    /// The most `used` has been: what the tests hold against the cap.
    peak: AtomicUsize,
    cap: usize,
}

impl Budget {
    pub fn new(cap: usize) -> Self {
        Budget {
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            cap,
        }
    }

    /// Takes `n` bytes if they fit under the cap; never goes past it, even for a moment.
    pub fn take(&self, n: usize) -> bool {
        let mut used = self.used.load(Ordering::Acquire);
        loop {
            let after = used.saturating_add(n);
            if after > self.cap {
                return false;
            }
            match self
                .used
                .compare_exchange_weak(used, after, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    self.peak.fetch_max(after, Ordering::Relaxed);
                    return true;
                }
                Err(now) => used = now,
            }
        }
    }

    pub fn give_back(&self, n: usize) {
        if n > 0 {
            self.used.fetch_sub(n, Ordering::AcqRel);
        }
    }

    /// How many bytes would have to be given back for `n` more to fit now.
    pub fn shortfall(&self, n: usize) -> usize {
        self.used().saturating_add(n).saturating_sub(self.cap)
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    pub fn cap(&self) -> usize {
        self.cap
    }
}

#[cfg(test)]
mod tests {
    use super::Budget;

    #[test]
    fn takes_up_to_the_cap_and_counts_what_is_given_back() {
        let b = Budget::new(100);
        assert!(b.take(60));
        assert!(!b.take(41), "past the cap");
        assert_eq!(b.shortfall(41), 1);
        assert!(b.take(40));
        assert_eq!((b.used(), b.peak()), (100, 100));
        b.give_back(70);
        assert_eq!((b.used(), b.peak(), b.shortfall(70)), (30, 100, 0));
    }
}
