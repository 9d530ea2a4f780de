//! What the handlers count, per invocation: posts delivered, gone and throttled, connections
//! allowed and denied, and so on. A handler adds to a [`Metrics`] as it works; the Lambda main
//! prints it once at the end of the invocation as one CloudWatch Embedded Metric Format
//! document (`emf.rs`), and hermes-local adds it to the totals its `/_hermes/metrics` page
//! shows in Prometheus text format (`prometheus.rs`). Every name is in [`names`], and each
//! function's set in [`Function::counters`] and [`Function::samples`]: the SAM template's
//! alarms and dashboard are checked against them (lambdas/tests/template.rs).
//!
//! One document per invocation, not one per post: a room of 10,000 sockets is one line in the
//! log, with `PostsDelivered: 10000`.

pub mod emf;
pub mod prometheus;

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::Value;

pub use emf::{Emf, MetricsConfigError};
pub use prometheus::Totals;

/// CloudWatch's unit of a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    /// As CloudWatch spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One metric: its CloudWatch name, unit, and what it counts (the Prometheus page's HELP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub help: &'static str,
}

const fn count(name: &'static str, help: &'static str) -> Metric {
    Metric {
        name,
        unit: Unit::Count,
        help,
    }
}

const fn ms(name: &'static str, help: &'static str) -> Metric {
    Metric {
        name,
        unit: Unit::Milliseconds,
        help,
    }
}

/// Every metric a Hermes function emits.
pub mod names {
    use super::{count, ms, Metric};

    // The send function.
    pub const NOTIFICATIONS: Metric = count(
        "Notifications",
        "Notifications and broadcasts fanned out (queue records and sendMessage frames)",
    );
    pub const RECORDS_FAILED: Metric = count(
        "RecordsFailed",
        "Queue records reported failed: SQS delivers them again, then to the dead-letter queue",
    );
    pub const POSTS_DELIVERED: Metric = count("PostsDelivered", "Posts API Gateway accepted");
    pub const POSTS_GONE: Metric = count(
        "PostsGone",
        "Posts answered 410 Gone: the socket had closed, its row is deleted",
    );
    pub const POSTS_THROTTLED: Metric = count(
        "PostsThrottled",
        "Posts answered 429 and tried again at the pacer's rate",
    );
    pub const POSTS_FAILED: Metric = count(
        "PostsFailed",
        "Posts given up on: other 4xx, retries used up with nowhere to carry them, or abandoned after every round",
    );
    pub const SOCKETS_CLOSED: Metric = count(
        "SocketsClosed",
        "Sockets closed by disconnect records (revoked tokens, Hermes.disconnect)",
    );
    pub const CONTINUATIONS_QUEUED: Metric = count(
        "ContinuationsQueued",
        "Continuation records queued: the rest of a room handed on to other invocations",
    );
    pub const RECOVERIES_SERVED: Metric = count(
        "RecoveriesServed",
        "recover frames answered with what the page missed",
    );
    pub const FANOUT_DURATION: Metric = ms("FanoutDuration", "Time one record's (or frame's) fan-out took");
    pub const NOTIFICATION_AGE: Metric = ms(
        "NotificationAge",
        "From the notification's enqueue (SQS SentTimestamp) to the end of its posts in this invocation",
    );

    // The authorizer.
    pub const ALLOWED: Metric = count("Allowed", "Connections the authorizer allowed");
    pub const DENIED_EXPIRED: Metric =
        count("DeniedExpired", "Denied: the JWT or its stored token has expired");
    pub const DENIED_REVOKED: Metric = count(
        "DeniedRevoked",
        "Denied: the token stored for the user and room is not this JWT's: superseded (minted under another passcode) or forged",
    );
    pub const DENIED_BAD_SIGNATURE: Metric = count(
        "DeniedBadSignature",
        "Denied: the JWT's signature does not verify",
    );
    pub const DENIED_NO_ROW: Metric = count(
        "DeniedNoRow",
        "Denied: no token stored for the user and room (never minted, revoked: revoking deletes the row, or swept by TTL)",
    );
    pub const DENIED_MALFORMED: Metric = count(
        "DeniedMalformed",
        "Denied: no token, not a JWT, wrong algorithm, missing claims, or a row for other ids",
    );
    pub const AUTHORIZER_ERRORS: Metric = count(
        "AuthorizerErrors",
        "Denied because the tokens table could not be read",
    );

    // $connect and $disconnect.
    pub const CONNECTS: Metric = count("Connects", "Connections recorded by $connect");
    pub const CONNECT_ERRORS: Metric = count(
        "ConnectErrors",
        "$connect events refused or failed (no context, store error)",
    );
    pub const DISCONNECTS: Metric = count("Disconnects", "Connections forgotten by $disconnect");
    pub const DISCONNECT_ERRORS: Metric = count("DisconnectErrors", "$disconnect events that failed");

    /// 1 in the first document a process prints, 0 after: Sum is the number of cold starts.
    pub const COLD_START: Metric = count("ColdStart", "Invocations that started a new process");
}

/// The four functions: the `Function` dimension's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Function {
    Authorizer,
    Connect,
    Disconnect,
    Send,
}

impl Function {
    pub const ALL: [Function; 4] = [
        Function::Authorizer,
        Function::Connect,
        Function::Disconnect,
        Function::Send,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Function::Authorizer => "authorizer",
            Function::Connect => "connect",
            Function::Disconnect => "disconnect",
            Function::Send => "send",
        }
    }

    /// The counts each document of this function carries, zeros included: a sum over a
    /// period then has a datapoint for every invocation, and a ratio of two of them (the gone
    /// ratio) is defined whenever the function ran.
    pub fn counters(self) -> &'static [Metric] {
        use names::*;
        match self {
            Function::Authorizer => &[
                ALLOWED,
                DENIED_EXPIRED,
                DENIED_REVOKED,
                DENIED_BAD_SIGNATURE,
                DENIED_NO_ROW,
                DENIED_MALFORMED,
                AUTHORIZER_ERRORS,
                COLD_START,
            ],
            Function::Connect => &[CONNECTS, CONNECT_ERRORS, COLD_START],
            Function::Disconnect => &[DISCONNECTS, DISCONNECT_ERRORS, COLD_START],
            Function::Send => &[
                NOTIFICATIONS,
                RECORDS_FAILED,
                POSTS_DELIVERED,
                POSTS_GONE,
                POSTS_THROTTLED,
                POSTS_FAILED,
                SOCKETS_CLOSED,
                CONTINUATIONS_QUEUED,
                RECOVERIES_SERVED,
                COLD_START,
            ],
        }
    }

    /// Metrics with one value per event (durations): present only when something was timed.
    pub fn samples(self) -> &'static [Metric] {
        match self {
            Function::Send => &[names::FANOUT_DURATION, names::NOTIFICATION_AGE],
            _ => &[],
        }
    }

    /// Every metric this function emits.
    pub fn metrics(self) -> impl Iterator<Item = Metric> {
        self.counters().iter().chain(self.samples()).copied()
    }
}

/// What one invocation counted. Shared by the tasks of one invocation (a batch's records run
/// side by side), so it locks; a handler adds a few numbers per record, never one per post.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Recorded>,
}

/// The numbers themselves.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Recorded {
    pub counts: BTreeMap<Metric, u64>,
    pub samples: BTreeMap<Metric, Vec<f64>>,
    /// Request and message ids: searchable in the log line, never dimensions.
    pub properties: BTreeMap<String, Value>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&self, metric: Metric, n: u64) {
        if n > 0 {
            *self.lock().counts.entry(metric).or_default() += n;
        }
    }

    pub fn sample(&self, metric: Metric, value: f64) {
        if value.is_finite() {
            self.lock().samples.entry(metric).or_default().push(value);
        }
    }

    /// A property of the document (`RequestId`, `MessageIds`): what the log line can be found
    /// by. Names of metrics and dimensions are refused when the document is made.
    pub fn property(&self, name: &str, value: impl Into<Value>) {
        self.lock().properties.insert(name.to_owned(), value.into());
    }

    /// How much `metric` counted so far.
    pub fn count(&self, metric: Metric) -> u64 {
        self.lock().counts.get(&metric).copied().unwrap_or(0)
    }

    /// What was recorded, leaving this empty.
    pub fn take(&self) -> Recorded {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        // A panic while holding the lock leaves plain numbers: still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_are_unique_and_each_function_emits_few_enough_for_one_document() {
        let mut seen = HashSet::new();
        for f in Function::ALL {
            // EMF: at most 100 metrics in a document.
            assert!(f.metrics().count() <= 100, "{f:?}");
            for m in f.metrics() {
                assert!(
                    m.name.chars().all(|c| c.is_ascii_alphanumeric()) && m.name.len() <= 255,
                    "{}",
                    m.name
                );
                // ColdStart is every function's.
                if m != names::COLD_START {
                    assert!(seen.insert(m.name), "{} twice", m.name);
                }
            }
        }
    }

    #[test]
    fn zero_adds_and_non_finite_samples_record_nothing() {
        let m = Metrics::new();
        m.add(names::POSTS_GONE, 0);
        m.sample(names::FANOUT_DURATION, f64::NAN);
        m.add(names::POSTS_DELIVERED, 2);
        m.add(names::POSTS_DELIVERED, 3);
        let r = m.take();
        assert_eq!(r.counts, BTreeMap::from([(names::POSTS_DELIVERED, 5)]));
        assert!(r.samples.is_empty());
        assert_eq!(m.count(names::POSTS_DELIVERED), 0, "taken");
    }
}
