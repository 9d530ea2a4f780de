//! Programs a benchmark or test starts: a loopback port for them, waiting until they listen,
//! their memory, and stopping them however the caller ends.

use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

/// A loopback port nothing listens on now, for a program about to be told to listen there.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("no free port on 127.0.0.1")
        .port()
}

/// Returns once something accepts connections on 127.0.0.1:`port`; panics after `within`,
/// naming `what` was started there.
pub fn wait_listening(port: u16, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on 127.0.0.1:{port} within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The resident memory (VmRSS) of process `pid`, in KiB, from /proc/PID/status.
pub fn rss_kib(pid: u32) -> u64 {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in {path}"))
}

/// A child process killed (and reaped) when this is dropped, a panic included.
pub struct Killed(pub Child);

impl Killed {
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_can_be_listened_on_and_is_then_found() {
        let port = free_port();
        let _l = TcpListener::bind(("127.0.0.1", port)).unwrap();
        wait_listening(port, Duration::from_secs(1), "the test's listener");
    }

    #[test]
    #[should_panic(expected = "did not listen on 127.0.0.1:")]
    fn waiting_on_a_port_nobody_takes_gives_up() {
        wait_listening(free_port(), Duration::from_millis(200), "nobody");
    }

    #[test]
    fn rss_grows_with_memory_touched() {
        let before = rss_kib(std::process::id());
        let block = vec![1u8; 64 << 20];
        let after = rss_kib(std::process::id());
        assert!(std::hint::black_box(&block)[1 << 20] == 1);
        assert!(
            before > 0 && after >= before + 32 * 1024,
            "{before} KiB, then {after} KiB"
        );
    }

    #[test]
    fn dropping_kills_and_reaps_the_child() {
        let child = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        let pid = child.id();
        drop(Killed(child));
        // Reaped: the pid no longer names a process (or names a new one, not a zombie `sleep`).
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(!stat.contains("(sleep)"), "{stat}");
    }
}
