//! The send function: fed by SQS (notifications, control records, continuations) and by the
//! WebSocket routes (`sendMessage`, `recover`, `presence`, `$default`). The wire formats are
//! in docs/protocol.md.
//!
//! | file | what |
//! |---|---|
//! | `batch.rs` | an SQS batch: records chained by room, the posts in flight shared, failures reported |
//! | `record.rs` | one queue record: a notification, a control record or a continuation |
//! | `publish.rs` | a notification made a frame: its seq, the history, claims for redeliveries |
//! | `request.rs` | what a client frame asks for, checked |
//! | `routes.rs` | the WebSocket routes and their answers to the sender |
//! | `recovery/` | the `recover` route: bounded per connection and in bytes (`limits.rs`), room and streams (`channel.rs`) |
//! | `streams.rs` | `subscribe`, `unsubscribe` and a stream's presence: signed names, bounds |

mod batch;
#[cfg(test)]
mod fixtures;
mod publish;
mod record;
mod recovery;
mod request;
mod routes;
mod streams;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use aws_lambda_events::sqs::SqsEvent;
use bytes::Bytes;
use serde_json::Value;

use super::deadline::Deadline;
use super::fanout::{Action, Audience, Delivery, Fanout, FanoutError, Job, Pacer, Settings};
use crate::frame::{PayloadTooLarge, MAX_MESSAGE_BYTES};
use crate::metrics::{names, Metrics};
use crate::push::PusherFactory;
use crate::queue::Queue;
use crate::secrets::KeysFrom;
use crate::store::{ConnectionStore, HistoryStore, RoomPage, StoreError, SubscriptionStore};
use crate::stream_name::StreamKeys;

pub use recovery::RecoveryLimits;
pub use streams::StreamLimits;

/// The send function is invoked by SQS and by the WebSocket `sendMessage`/`$default` routes.
#[derive(Debug)]
pub enum SendEvent {
    Sqs(SqsEvent),
    WebSocket(Box<ApiGatewayWebsocketProxyRequest>),
}

impl SendEvent {
    pub fn from_value(v: Value) -> Result<Self, serde_json::Error> {
        if v.get("Records").is_some() {
            serde_json::from_value(v).map(SendEvent::Sqs)
        } else {
            serde_json::from_value(v).map(|r| SendEvent::WebSocket(Box::new(r)))
        }
    }
}

/// Why a queue record failed (SQS then delivers it again), or was not started.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("record body is not a notification: {0}")]
    BadRecord(String),
    #[error(transparent)]
    TooLarge(#[from] PayloadTooLarge),
    #[error("no management endpoint: set HERMES_WEBSOCKET_ENDPOINT (SQS events carry no domainName/stage)")]
    NoEndpoint,
    #[error("the history failed: {0}")]
    History(StoreError),
    #[error("a broadcast to a stream, but this send function has no streams set up (subscriptions table, stream key)")]
    NoStreams,
    /// What the fan-out did, some connections not reached.
    #[error("{} connection(s) could not be reached after retries", .0.retryable_failures)]
    Undelivered(Delivery),
    #[error(transparent)]
    Fanout(#[from] FanoutError),
    #[error("not started: the invocation's deadline is too close")]
    NoTime,
}

pub struct Sender {
    connections: Arc<dyn ConnectionStore>,
    pushers: Arc<dyn PusherFactory>,
    endpoint: Option<String>,
    history: Option<History>,
    /// Where the rest of a room goes when one invocation cannot finish it.
    queue: Option<Arc<dyn Queue>>,
    settings: Settings,
    /// Kept across invocations: the account's rate limit outlives one message.
    pacer: Pacer,
    recovery: RecoveryLimits,
    streams: Option<Streams>,
}

struct History {
    store: Arc<dyn HistoryStore>,
    ttl_secs: u64,
}

/// What streams need: who subscribes to what, their history, and the key of signed names.
struct Streams {
    subscriptions: Arc<dyn SubscriptionStore>,
    history: Arc<dyn HistoryStore>,
    key: KeysFrom<StreamKeys>,
    limits: StreamLimits,
}

/// What one record's (or route's) fan-out may use: posts in flight, and until when.
#[derive(Clone, Copy, Debug)]
struct Budget {
    concurrency: usize,
    deadline: Deadline,
    /// When the record being handled was queued (ms since 1970): SQS's SentTimestamp.
    enqueued_at: Option<u64>,
}

impl Sender {
    /// `endpoint`: the management API with the stage; `None` derives it from WebSocket events.
    pub fn new(
        connections: Arc<dyn ConnectionStore>,
        pushers: Arc<dyn PusherFactory>,
        endpoint: Option<String>,
    ) -> Self {
        Sender {
            connections,
            pushers,
            endpoint,
            history: None,
            queue: None,
            settings: Settings::default(),
            pacer: Pacer::new(),
            recovery: RecoveryLimits::default(),
            streams: None,
        }
    }

    /// Streams: sockets subscribe to the names `key` signed (fixed, or a `SecretSource`'s
    /// current and previous keys), broadcasts reach them, and (with
    /// `with_history`) each stream has a history of its own in `history`.
    pub fn with_streams(
        mut self,
        subscriptions: Arc<dyn SubscriptionStore>,
        history: Arc<dyn HistoryStore>,
        key: impl Into<KeysFrom<StreamKeys>>,
        limits: StreamLimits,
    ) -> Self {
        self.streams = Some(Streams {
            subscriptions,
            history,
            key: key.into(),
            limits,
        });
        self
    }

    /// Sequences every message into the room history (frames gain `seq` and `epoch`) and
    /// answers `recover`. Without it frames carry neither and recoveries answer `false`.
    pub fn with_history(mut self, store: Arc<dyn HistoryStore>, ttl: Duration) -> Self {
        self.history = Some(History {
            store,
            ttl_secs: ttl.as_secs().max(1),
        });
        self
    }

    /// The queue the send function is fed from: with it, a room larger than one chunk is
    /// split across invocations, and what the deadline leaves is continued there.
    pub fn with_queue(mut self, queue: Option<Arc<dyn Queue>>) -> Self {
        self.queue = queue;
        self
    }

    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    pub fn with_recovery_limits(mut self, limits: RecoveryLimits) -> Self {
        self.recovery = limits;
        self
    }

    /// The rate the sender currently allows itself after 429s (`None`: unpaced).
    pub fn paced_rate(&self) -> Option<f64> {
        self.pacer.rate()
    }

    pub async fn handle(&self, event: SendEvent) -> Value {
        self.handle_until(event, None).await
    }

    /// `deadline`: when the invocation ends (the Lambda context's deadline).
    pub async fn handle_until(&self, event: SendEvent, deadline: Option<Instant>) -> Value {
        self.handle_measured(event, deadline, &Metrics::new()).await
    }

    /// `handle_until`, counting what it did in `metrics` (crate::metrics::Function::Send's).
    pub async fn handle_measured(
        &self,
        event: SendEvent,
        deadline: Option<Instant>,
        metrics: &Metrics,
    ) -> Value {
        match event {
            SendEvent::Sqs(ev) => serde_json::to_value(self.handle_sqs_measured(ev, deadline, metrics).await),
            SendEvent::WebSocket(req) => {
                serde_json::to_value(self.handle_route_measured(&req, deadline, metrics).await)
            }
        }
        .expect("responses serialise")
    }

    /// Fans one frame out to the room (or to one user in it), deleting gone connections: no
    /// seq, no history, the frame as given.
    pub async fn deliver(
        &self,
        endpoint: &str,
        room_id: &str,
        target_user: Option<&str>,
        frame: &[u8],
    ) -> Result<Delivery, SendError> {
        let job = Job::post(
            Audience::Room(room_id.to_owned()),
            target_user.map(str::to_owned),
            Bytes::copy_from_slice(frame),
        );
        let budget = Budget {
            concurrency: self.settings.concurrency,
            deadline: Deadline::NONE,
            enqueued_at: None,
        };
        self.fan_out(endpoint, job, None, budget).await
    }

    /// `first`: the room's first page, when it was read already (beside the history write).
    async fn fan_out(
        &self,
        endpoint: &str,
        mut job: Job,
        first: Option<RoomPage>,
        Budget {
            concurrency,
            deadline,
            enqueued_at,
        }: Budget,
    ) -> Result<Delivery, SendError> {
        // A continuation's own; a new message's comes from its record.
        job.enqueued_at = job.enqueued_at.or(enqueued_at);
        if matches!(job.audience, Audience::Stream(_)) && self.streams.is_none() {
            return Err(SendError::NoStreams);
        }
        if let Action::Post(frame) = &job.action {
            // Checked when the frame was made; a continuation's could come from elsewhere.
            if frame.len() > MAX_MESSAGE_BYTES {
                return Err(PayloadTooLarge {
                    bytes: frame.len(),
                    limit: MAX_MESSAGE_BYTES,
                }
                .into());
            }
        }
        let fanout = Fanout {
            store: &*self.connections,
            subscriptions: self.streams.as_ref().map(|s| &*s.subscriptions),
            pusher: self.pushers.for_endpoint(endpoint),
            queue: self.queue.as_deref(),
            pacer: &self.pacer,
            settings: &self.settings,
            concurrency,
            deadline,
        };
        Ok(fanout.deliver(job, first).await?)
    }
}

/// Adds a fan-out's counts to the invocation's metrics.
fn count(metrics: &Metrics, d: &Delivery) {
    if d.closed {
        metrics.add(names::SOCKETS_CLOSED, d.delivered as u64);
    } else {
        metrics.add(names::POSTS_DELIVERED, d.delivered as u64);
    }
    metrics.add(names::POSTS_GONE, d.gone as u64);
    metrics.add(names::POSTS_THROTTLED, d.throttled as u64);
    metrics.add(names::POSTS_FAILED, d.failed() as u64);
    metrics.add(names::CONTINUATIONS_QUEUED, d.continued as u64);
}
