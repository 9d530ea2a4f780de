//! CPU time, the figure that moves less than wall time on a shared machine: of the calling
//! thread, of this process, of another process, and (feature `criterion`) a criterion
//! measurement by the benchmark thread's CPU time.

use std::time::Duration;

/// CPU time of the calling thread so far (CLOCK_THREAD_CPUTIME_ID).
pub fn thread() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given, which lives on this stack frame.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "CLOCK_THREAD_CPUTIME_ID unavailable");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time (user + system) of this process so far, every thread included (getrusage).
pub fn own() -> Duration {
    // SAFETY: a zeroed rusage is a valid out-parameter for getrusage(RUSAGE_SELF).
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    assert_eq!(rc, 0, "getrusage failed");
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(us(u.ru_utime) + us(u.ru_stime))
}

/// CPU time (user + system) of process `pid` so far: the counters getrusage reads, from
/// /proc/PID/stat, in USER_HZ ticks, which Linux fixes at 100 a second for userspace.
pub fn process(pid: u32) -> Duration {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // After the command name (which may hold spaces and parentheses): state is field 3, utime
    // 14, stime 15 (1-based, see proc(5)).
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    let ticks = |i: usize| -> u64 {
        fields[i]
            .parse()
            .unwrap_or_else(|_| panic!("{path}: field {} is not a number", i + 3))
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

#[cfg(feature = "criterion")]
pub use measurement::ThreadCpu;

#[cfg(feature = "criterion")]
mod measurement {
    use criterion::measurement::{Measurement, ValueFormatter};
    use criterion::Throughput;

    /// Criterion's measurement by the CPU time of the benchmark's own thread: what a
    /// single-threaded benchmark that never blocks spends, without the time it waited for a
    /// core. Values are nanoseconds of CPU.
    pub struct ThreadCpu;

    fn now_ns() -> u64 {
        super::thread().as_nanos() as u64
    }

    impl Measurement for ThreadCpu {
        type Intermediate = u64;
        type Value = u64;
        fn start(&self) -> u64 {
            now_ns()
        }
        fn end(&self, started: u64) -> u64 {
            now_ns().saturating_sub(started)
        }
        fn add(&self, a: &u64, b: &u64) -> u64 {
            a + b
        }
        fn zero(&self) -> u64 {
            0
        }
        fn to_f64(&self, v: &u64) -> f64 {
            *v as f64
        }
        fn formatter(&self) -> &dyn ValueFormatter {
            &CpuNanos
        }
    }

    /// Nanoseconds of CPU, shown like criterion's durations.
    struct CpuNanos;

    impl ValueFormatter for CpuNanos {
        fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
            let (factor, unit) = match typical {
                t if t < 1e3 => (1.0, "ns cpu"),
                t if t < 1e6 => (1e-3, "µs cpu"),
                t if t < 1e9 => (1e-6, "ms cpu"),
                _ => (1e-9, "s cpu"),
            };
            values.iter_mut().for_each(|v| *v *= factor);
            unit
        }
        fn scale_throughputs(
            &self,
            _typical: f64,
            throughput: &Throughput,
            values: &mut [f64],
        ) -> &'static str {
            let n = match throughput {
                Throughput::Elements(n)
                | Throughput::Bytes(n)
                | Throughput::BytesDecimal(n)
                | Throughput::Bits(n) => *n as f64,
                _ => 1.0,
            };
            values.iter_mut().for_each(|v| *v = n * 1e9 / *v);
            "per cpu-second"
        }
        fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
            "ns cpu"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(for_at_least: Duration) {
        let t0 = std::time::Instant::now();
        let mut x = 0u64;
        while t0.elapsed() < for_at_least {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }

    #[test]
    fn thread_time_counts_work_and_not_sleep() {
        let t0 = thread();
        std::thread::sleep(Duration::from_millis(100));
        let slept = thread() - t0;
        assert!(slept < Duration::from_millis(50), "{slept:?} of CPU while asleep");
        let t0 = thread();
        spin(Duration::from_millis(30));
        assert!(thread() - t0 > Duration::ZERO);
    }

    #[test]
    fn own_time_and_proc_stat_agree_on_this_process() {
        spin(Duration::from_millis(50));
        let (rusage, stat) = (own(), process(std::process::id()));
        // /proc counts in 10 ms ticks, and the tick may land on either side.
        let gap = rusage.abs_diff(stat);
        assert!(
            gap <= Duration::from_millis(30),
            "getrusage {rusage:?}, /proc {stat:?}"
        );
        assert!(stat > Duration::ZERO);
    }
}
