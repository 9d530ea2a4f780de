//! The gateway's limits: API Gateway's own (configurable so tests can shorten them), and the
//! bounds that keep one client from holding more than its share of memory, file descriptors
//! or work.

use std::time::Duration;

/// The gateway's settings. Every field can be set from code (`Options { port: 0,
/// ..Options::default() }`); `start` checks them with `Options::check`, the same check the
/// command line's flags go through, so no combination the CLI refuses can be started.
#[derive(Clone, Debug)]
pub struct Options {
    pub port: u16,
    pub stage: String,
    /// API Gateway closes a socket that received nothing for 10 minutes...
    pub idle_timeout: Duration,
    /// ...and every socket after 2 hours.
    pub max_age: Duration,
    /// API Gateway's frame limit (32 KB); a bigger frame closes the socket with 1009.
    pub max_frame_bytes: usize,
    /// API Gateway's message limit (128 KB): 1009 for a bigger message, 413 for a bigger post.
    pub max_message_bytes: usize,
    /// Poll the queue into the send handler.
    pub poll: bool,
    /// WebSockets open at once; past it an upgrade is refused with 429, as API Gateway refuses
    /// connections over a limit. The default fits the process's file-descriptor limit.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers (and how long an idle
    /// keep-alive connection is kept): unfinished requests cannot pile up.
    pub header_read_timeout: Duration,
    /// How long, after its headers, a client may take to send a request's whole body; past
    /// it the request is answered 408 and the connection closed.
    pub body_read_timeout: Duration,
    /// Bytes posted to one socket and not yet written to it. A client that stops reading
    /// while more piles up is closed with 1008 (the post that overflows is answered 410).
    pub max_queued_bytes: usize,
    /// Bytes posted and not yet written, across all sockets. A post that would go past it
    /// closes the socket holding the most (1008) to make room, or, when that cannot, is
    /// answered 429 LimitExceededException.
    pub max_total_queued_bytes: usize,
    /// Frames of one socket being routed at once: past it the socket is not read, so a
    /// client that floods waits in its own TCP buffers, not in the gateway's memory.
    pub max_routes_per_connection: usize,
    /// Frames being routed at once across the gateway.
    pub max_routes: usize,
    /// Management API posts in flight across the gateway, which bounds the management
    /// client's connections (each one two file descriptors here: client and server side).
    pub max_posts: usize,
}

/// A setting `start` refuses, named by its field and, when it has one, its flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct OptionsError {
    /// The command-line flag, for the settings that have one.
    pub flag: Option<&'static str>,
    /// The `Options` field.
    pub field: &'static str,
    pub rule: &'static str,
}

impl OptionsError {
    fn describe(&self) -> String {
        match self.flag {
            Some(flag) => format!("{flag} ({}) {}", self.field, self.rule),
            None => format!("{} {}", self.field, self.rule),
        }
    }
}

/// Connections besides WebSockets that the clients' listener leaves room for: the demo page,
/// the development endpoints, a management client of another process.
const HTTP_SLACK: usize = 16;

/// Connections of the gateway's own management client besides its two pools' (the lean
/// post's and the SDK client's, `max_posts` each at most): a burst can open a connection
/// more than it then keeps.
const MANAGEMENT_SLACK: usize = 8;

/// File descriptors the process needs besides connections: the listener, the runtime, stdio,
/// the SDK's connections to SQS and DynamoDB.
const FD_RESERVE: usize = 64;

impl Options {
    /// Refuses settings that cannot work: a stage API Gateway would not accept in a path, zero
    /// where a limit or a time must leave room for something, a frame limit above the message
    /// limit, a socket queue that cannot hold one message.
    pub fn check(&self) -> Result<(), OptionsError> {
        let bad = |flag, field, rule| {
            Err(OptionsError {
                flag: Some(flag),
                field,
                rule,
            })
        };
        let stage_ok = !self.stage.is_empty()
            && self
                .stage
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !stage_ok {
            return bad("--stage", "stage", "must be letters, digits, - or _");
        }
        if self.max_frame_bytes == 0 || self.max_frame_bytes > self.max_message_bytes {
            return bad(
                "--max-frame-bytes",
                "max_frame_bytes",
                "must be from 1 to --max-message-bytes",
            );
        }
        if self.max_queued_bytes < self.max_message_bytes {
            return bad(
                "--max-queued-bytes",
                "max_queued_bytes",
                "must be at least --max-message-bytes",
            );
        }
        if self.max_total_queued_bytes < self.max_queued_bytes {
            return bad(
                "--max-total-queued-bytes",
                "max_total_queued_bytes",
                "must be at least --max-queued-bytes",
            );
        }
        for (flag, field, zero) in [
            ("--max-connections", "max_connections", self.max_connections == 0),
            ("--idle-timeout", "idle_timeout", self.idle_timeout.is_zero()),
            ("--max-age", "max_age", self.max_age.is_zero()),
            (
                "--header-timeout",
                "header_read_timeout",
                self.header_read_timeout.is_zero(),
            ),
            (
                "--body-timeout",
                "body_read_timeout",
                self.body_read_timeout.is_zero(),
            ),
        ] {
            if zero {
                return bad(flag, field, "must be more than 0");
            }
        }
        for (field, zero) in [
            ("max_routes_per_connection", self.max_routes_per_connection == 0),
            ("max_routes", self.max_routes == 0),
            ("max_posts", self.max_posts == 0),
        ] {
            if zero {
                return Err(OptionsError {
                    flag: None,
                    field,
                    rule: "must be more than 0",
                });
            }
        }
        Ok(())
    }

    /// TCP connections the clients' listener holds at once: every WebSocket, and room for
    /// the rest.
    pub(crate) fn max_client_connections(&self) -> usize {
        self.max_connections + HTTP_SLACK
    }

    /// TCP connections the management client's own listener holds at once.
    pub(crate) fn max_management_connections(&self) -> usize {
        2 * self.max_posts + MANAGEMENT_SLACK
    }
}

impl Default for Options {
    fn default() -> Self {
        let max_posts = 64;
        // Each WebSocket is one descriptor; each of the management client's connections two
        // (its end and ours).
        let fds = open_files_limit().unwrap_or(1024);
        let management = 2 * max_posts + MANAGEMENT_SLACK;
        let max_connections = fds
            .saturating_sub(2 * management + HTTP_SLACK + FD_RESERVE)
            .max(1);
        Options {
            port: 3001,
            stage: "development".into(),
            idle_timeout: Duration::from_secs(10 * 60),
            max_age: Duration::from_secs(2 * 3600),
            max_frame_bytes: 32 * 1024,
            max_message_bytes: hermes_core::MAX_MESSAGE_BYTES,
            poll: true,
            max_connections,
            header_read_timeout: Duration::from_secs(10),
            // A management post or a development call is at most a few hundred KB, sent at once.
            body_read_timeout: Duration::from_secs(10),
            // A whole recovery (MAX_RECOVERED frames of up to 128 KB, posted at once) fits with
            // room to spare even before the socket has written any of it.
            max_queued_bytes: 16 * 1024 * 1024,
            // 16 full sockets; without it, every socket could hold its 16 MiB (19,792 of them
            // at `ulimit -n` 20,000: 310 GiB).
            max_total_queued_bytes: 256 * 1024 * 1024,
            max_routes_per_connection: 8,
            max_routes: 256,
            // The send Lambda's own fan-out concurrency: local/benches/fanout.rs measured 256
            // slower than 64 on 2 cores.
            max_posts,
        }
    }
}

/// The soft `RLIMIT_NOFILE`: what `ulimit -n` says.
fn open_files_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own; nothing else is touched.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    ok.then(|| usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_names_the_flag_and_the_field() {
        assert_eq!(Options::default().check(), Ok(()));
        let refused = |o: Options| o.check().unwrap_err().to_string();
        assert_eq!(
            refused(Options {
                stage: "a/b".into(),
                ..Options::default()
            }),
            "--stage (stage) must be letters, digits, - or _"
        );
        assert_eq!(
            refused(Options {
                max_posts: 0,
                ..Options::default()
            }),
            "max_posts must be more than 0"
        );
        assert_eq!(
            refused(Options {
                idle_timeout: Duration::ZERO,
                ..Options::default()
            }),
            "--idle-timeout (idle_timeout) must be more than 0"
        );
        // Below a second is fine from code (tests shorten the limits).
        let short = Options {
            header_read_timeout: Duration::from_millis(300),
            ..Options::default()
        };
        assert_eq!(short.check(), Ok(()));
    }

    #[test]
    fn default_connections_fit_the_descriptor_limit() {
        let o = Options::default();
        let fds = open_files_limit().unwrap();
        assert!(o.max_connections > 1, "ulimit -n is {fds}");
        // Both listeners' connections, the management client's end of its own, and the
        // reserve: `ulimit -n`.
        assert_eq!(
            o.max_client_connections() + 2 * o.max_management_connections() + FD_RESERVE,
            fds
        );
    }
}
