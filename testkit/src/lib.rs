//! What the benchmarks and the tests that drive processes share, one copy each: CPU clocks
//! ([`cpu`]), free ports, child processes, readiness and memory ([`process`]), sizes from the
//! environment, percentiles and run-unique names. A dev-dependency only: nothing here ships.

pub mod cpu;
pub mod process;

use std::time::Duration;

pub use process::{free_port, rss_kib, wait_listening, Killed};

/// A whole number from the environment variable `name` (a benchmark's size), `default` when it
/// is unset or empty. Panics on anything else: a typo must not run the default silently.
pub fn env_num(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        _ => default,
    }
}

/// The nearest-rank percentile (`p` in 0..=1) of `times`, in any order: the smallest value
/// that at least `p` of them do not exceed.
pub fn percentile(times: &[Duration], p: f64) -> Duration {
    assert!(!times.is_empty(), "a percentile of no times");
    let mut sorted = times.to_vec();
    sorted.sort();
    let rank = (sorted.len() as f64 * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Ids unique to this run (clock and counter), so runs sharing the emulator's tables never
/// see each other's rows.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos:x}-{}", N.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_num_reads_a_number_and_defaults_when_unset_or_empty() {
        std::env::set_var("HERMES_TESTKIT_N", " 250 ");
        assert_eq!(env_num("HERMES_TESTKIT_N", 7), 250);
        std::env::set_var("HERMES_TESTKIT_N", "");
        assert_eq!(env_num("HERMES_TESTKIT_N", 7), 7);
        assert_eq!(env_num("HERMES_TESTKIT_UNSET", 7), 7);
    }

    #[test]
    #[should_panic(expected = "HERMES_TESTKIT_BAD=\"10k\" is not a whole number")]
    fn env_num_refuses_what_is_not_a_number() {
        std::env::set_var("HERMES_TESTKIT_BAD", "10k");
        env_num("HERMES_TESTKIT_BAD", 7);
    }

    #[test]
    fn percentile_is_the_nearest_rank() {
        let ms = |v: &[u64]| v.iter().map(|&m| Duration::from_millis(m)).collect::<Vec<_>>();
        let times = ms(&[50, 10, 40, 20, 30]);
        assert_eq!(percentile(&times, 0.5), Duration::from_millis(30));
        assert_eq!(percentile(&times, 0.99), Duration::from_millis(50));
        assert_eq!(percentile(&times, 0.0), Duration::from_millis(10));
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&ms(&hundred), 0.99), Duration::from_millis(99));
    }

    #[test]
    fn unique_ids_differ() {
        assert_ne!(unique("r"), unique("r"));
        assert!(unique("room").starts_with("room-"));
    }
}
