use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use bytes::Bytes;
use futures::stream::{self, StreamExt};
use serde_json::Value;

use super::fanout::{continuation, FanoutError, Job, Pacer, Run, Settings};
use super::recover::{presence, recover};
use super::response;
use crate::frame::{
    encode_frame, encode_frame_at, error_frame, presence_frame, recovered_frame, sequenced_len, Control,
    Record, MAX_EPOCH_BYTES, MAX_MESSAGE_BYTES,
};
use crate::push::{PushError, Pusher, PusherFactory};
use crate::queue::Queue;
use crate::store::{Connection, ConnectionStore, HistoryItem, HistoryStore, RoomMember, RoomPage};
use crate::token::now_secs;

pub use super::fanout::Delivery;

/// Posts in flight at once per message (handlers/fanout `Settings::concurrency`).
pub const DEFAULT_CONCURRENCY: usize = 64;

/// A client frame: `{"action": "sendMessage", "data": ...}` (`data` is passed on as sent),
/// `{"action": "recover", "since": <seq>, "epoch": "..."}` or `{"action": "presence"}`.
#[derive(serde::Deserialize)]
struct RouteBody {
    action: Option<String>,
    data: Option<Box<serde_json::value::RawValue>>,
    since: Option<Value>,
    epoch: Option<Value>,
}

const ACTIONS: &str = "\"sendMessage\", \"recover\" or \"presence\"";

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

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("record body is not a notification: {0}")]
    BadRecord(String),
    #[error(transparent)]
    TooLarge(#[from] crate::frame::PayloadTooLarge),
    #[error("no management endpoint: set HERMES_WEBSOCKET_ENDPOINT (SQS events carry no domainName/stage)")]
    NoEndpoint,
    #[error("reading the room failed: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0} connection(s) could not be reached after retries")]
    Undelivered(usize),
    #[error(transparent)]
    Continuation(#[from] continuation::ContinuationError),
    #[error("queueing the rest of the room failed: {0}")]
    Queue(#[from] crate::queue::QueueError),
    #[error(transparent)]
    Push(PushError),
    #[error("not started: the invocation's deadline is too close")]
    NoTime,
    #[error("reading the room outlasted the invocation")]
    SlowStore,
}

impl From<FanoutError> for SendError {
    fn from(e: FanoutError) -> Self {
        match e {
            FanoutError::Store(e) => SendError::Store(e),
            FanoutError::Continuation(e) => SendError::Continuation(e),
            FanoutError::Queue(e) => SendError::Queue(e),
            FanoutError::Push(e) => SendError::Push(e),
            FanoutError::SlowStore => SendError::SlowStore,
        }
    }
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
}

struct History {
    store: Arc<dyn HistoryStore>,
    ttl_secs: u64,
}

/// One notification to publish: who sent it, where, and its SQS message id (the frame's `id`).
struct Message<'a> {
    room_id: &'a str,
    target_user: Option<&'a str>,
    sender: &'a str,
    data: &'a serde_json::value::RawValue,
    id: Option<&'a str>,
    /// `id` is an SQS message id, whose redelivery replays the frame (see `publish`).
    dedup: bool,
}

/// When and with how many posts in flight a fan-out runs.
#[derive(Clone, Copy)]
struct Budget {
    deadline: Option<Instant>,
    concurrency: usize,
    /// Nothing is started this close to the deadline.
    reserve: Duration,
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
            settings: Settings {
                concurrency: DEFAULT_CONCURRENCY,
                ..Settings::default()
            },
            pacer: Pacer::new(),
        }
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

    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.settings.concurrency = n.max(1);
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

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The rate the sender currently allows itself after 429s (`None`: unpaced).
    pub fn paced_rate(&self) -> Option<f64> {
        self.pacer.rate()
    }

    fn budget(&self, deadline: Option<Instant>) -> Budget {
        Budget {
            deadline,
            concurrency: self.settings.concurrency,
            reserve: self.reserve(deadline, Instant::now()),
        }
    }

    /// The reserve for an invocation that started at `began`: at most a quarter of it, so the
    /// first record always starts, whatever the function's timeout.
    fn reserve(&self, deadline: Option<Instant>, began: Instant) -> Duration {
        deadline.map_or(self.settings.reserve, |d| {
            self.settings.reserve.min(d.saturating_duration_since(began) / 4)
        })
    }

    pub async fn handle(&self, event: SendEvent) -> Value {
        self.handle_until(event, None).await
    }

    /// `deadline`: when the invocation ends (the Lambda context's deadline).
    pub async fn handle_until(&self, event: SendEvent, deadline: Option<Instant>) -> Value {
        match event {
            SendEvent::Sqs(ev) => serde_json::to_value(self.handle_sqs_until(ev, deadline).await),
            SendEvent::WebSocket(req) => serde_json::to_value(self.handle_route_until(&req, deadline).await),
        }
        .expect("responses serialise")
    }

    pub async fn handle_sqs(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle_sqs_until(event, None).await
    }

    /// Every record of the batch; only the failed ones are reported, so SQS redelivers just those.
    pub async fn handle_sqs_until(&self, event: SqsEvent, deadline: Option<Instant>) -> SqsBatchResponse {
        let began = Instant::now();
        // Records run side by side, in chains: a room's notifications and control records one
        // after another (so a FIFO queue's order holds), each continuation on its own (the
        // parts of one message are meant to run in parallel). The posts in flight are shared
        // out between chains.
        let mut chains: Vec<Vec<&SqsMessage>> = Vec::new();
        let mut by_room: HashMap<String, usize> = HashMap::new();
        for r in &event.records {
            let body = r.body.as_deref().unwrap_or("");
            let room = match (!continuation::is_continuation(body)).then(|| Record::parse(body)) {
                Some(Ok(Record::Notification(n))) => Some(n.room_id),
                Some(Ok(Record::Control(c))) => Some(c.room_id().to_owned()),
                _ => None,
            };
            match room {
                Some(room) => {
                    let i = *by_room.entry(room).or_insert_with(|| {
                        chains.push(Vec::new());
                        chains.len() - 1
                    });
                    chains[i].push(r);
                }
                None => chains.push(vec![r]),
            }
        }
        let share = (self.settings.concurrency / chains.len().max(1)).max(4);
        let reserve = self.reserve(deadline, began);
        let outcomes = futures::future::join_all(chains.iter().map(|chain| async move {
            let mut out = Vec::with_capacity(chain.len());
            for r in chain {
                let budget = Budget {
                    deadline,
                    concurrency: share,
                    reserve,
                };
                out.push((*r, self.handle_record(r, budget).await));
            }
            out
        }))
        .await;
        let mut failed = Vec::new();
        for (record, outcome) in outcomes.into_iter().flatten() {
            let id = record.message_id.clone().unwrap_or_default();
            match outcome {
                Ok(d) => tracing::info!(
                    message_id = id,
                    delivered = d.delivered,
                    gone = d.gone,
                    rejected = d.rejected,
                    throttled = d.throttled,
                    continued = d.continued,
                    "sent"
                ),
                Err(SendError::NoTime) => {
                    if !self.hand_back(record).await {
                        failed.push(id);
                    }
                }
                Err(e) => {
                    tracing::error!(message_id = id, error = %e, "record failed");
                    failed.push(id);
                }
            }
        }
        // In the batch's order, as SQS listed them.
        let mut resp = SqsBatchResponse::default();
        resp.batch_item_failures = event
            .records
            .iter()
            .filter_map(|r| r.message_id.as_ref().filter(|id| failed.contains(id)))
            .map(|id| {
                let mut f = BatchItemFailure::default();
                f.item_identifier = id.clone();
                f
            })
            .collect();
        resp
    }

    /// A record the deadline left no time to start goes back to the queue as a new message,
    /// and this one is reported handled: reporting it failed would count a receive towards
    /// the dead-letter queue's maxReceiveCount for a record nobody tried. Nothing of it was
    /// done (it has not even been made into a frame), so nothing is repeated. This cannot
    /// circle for ever: the first record of each chain always starts (the reserve is at most a
    /// quarter of the invocation), so only records behind another one's work come back. Not on
    /// a FIFO queue: a new message would go behind the room's later ones, while the failure
    /// keeps the order.
    async fn hand_back(&self, record: &SqsMessage) -> bool {
        let id = record.message_id.as_deref().unwrap_or_default();
        let Some(queue) = &self.queue else {
            tracing::info!(message_id = id, "left for the next invocation");
            return false;
        };
        if record.attributes.contains_key("MessageGroupId") {
            tracing::info!(message_id = id, "left for the next invocation (FIFO: order kept)");
            return false;
        }
        let body = record.body.as_deref().unwrap_or_default();
        match queue.send_body(body, "", Duration::ZERO).await {
            Ok(new_id) => {
                tracing::info!(
                    message_id = id,
                    new_message_id = new_id,
                    "no time to start: queued again"
                );
                true
            }
            Err(e) => {
                tracing::warn!(message_id = id, error = %e, "no time to start, and queueing it again failed");
                false
            }
        }
    }

    async fn handle_record(&self, record: &SqsMessage, budget: Budget) -> Result<Delivery, SendError> {
        // Too close to the deadline to start: handed back untouched (`hand_back`).
        if budget
            .deadline
            .is_some_and(|d| d.saturating_duration_since(Instant::now()) <= budget.reserve)
        {
            return Err(SendError::NoTime);
        }
        let body = record
            .body
            .as_deref()
            .ok_or_else(|| SendError::BadRecord("empty body".into()))?;
        let endpoint = self.endpoint.clone().ok_or(SendError::NoEndpoint)?;
        let d = if continuation::is_continuation(body) {
            // The rest of a fan-out: its frame is posted as it is, never made (or sequenced,
            // or written to the history) again.
            self.run(&endpoint, continuation::decode(body)?, None, budget)
                .await?
        } else {
            match Record::parse(body).map_err(|e| SendError::BadRecord(e.to_string()))? {
                Record::Notification(n) => {
                    let sender = n.user_id.to_string();
                    let m = Message {
                        room_id: &n.room_id,
                        target_user: n.target_user_id.as_deref(),
                        sender: &sender,
                        data: &n.data,
                        id: record.message_id.as_deref(),
                        dedup: true,
                    };
                    self.publish_in(&endpoint, m, budget).await?
                }
                Record::Control(c) => {
                    c.check().map_err(SendError::BadRecord)?;
                    self.control(&endpoint, &c).await?
                }
            }
        };
        if d.retryable_failures > 0 {
            return Err(SendError::Undelivered(d.retryable_failures));
        }
        Ok(d)
    }

    /// One message to the room (or to one user in it). With a history: the next seq (one
    /// atomic counter update), the frame written to the history, then the fan-out; the
    /// history write and the read of the room's first page go out together, so the first
    /// client gets the frame one DynamoDB round trip later than without a history.
    ///
    /// `dedup`: `id` is an SQS message id. When the record will fail and come back after the
    /// frame was sequenced (connections not reached with no queue to carry them, or the
    /// fan-out failed), a claim maps the id to the seq just delivered, and the redelivery
    /// replays that frame (same seq, same bytes) rather than sequencing it again. Other
    /// redeliveries (a Lambda that died mid-fan-out, SQS's rare duplicates) get a new seq;
    /// browsers still drop the copy by its `id`.
    #[allow(clippy::too_many_arguments)]
    pub async fn publish(
        &self,
        endpoint: &str,
        room_id: &str,
        target_user: Option<&str>,
        sender: &str,
        data: &serde_json::value::RawValue,
        id: Option<&str>,
        dedup: bool,
    ) -> Result<Delivery, SendError> {
        let m = Message {
            room_id,
            target_user,
            sender,
            data,
            id,
            dedup,
        };
        self.publish_in(endpoint, m, self.budget(None)).await
    }

    async fn publish_in(
        &self,
        endpoint: &str,
        m: Message<'_>,
        budget: Budget,
    ) -> Result<Delivery, SendError> {
        let Message {
            room_id,
            target_user,
            sender,
            data,
            id,
            dedup,
        } = m;
        let Some(h) = &self.history else {
            let frame = encode_frame(sender, data, id);
            let job = Job::fresh(room_id, target_user.map(str::to_owned), Bytes::from(frame));
            return self.run(endpoint, job, None, budget).await;
        };
        // Refused before a seq is spent on it.
        let bytes = sequenced_len(sender, data, id);
        if bytes > MAX_MESSAGE_BYTES {
            return Err(crate::frame::PayloadTooLarge {
                bytes,
                limit: MAX_MESSAGE_BYTES,
            }
            .into());
        }
        let claim = id.filter(|_| dedup);
        let (counter, prior) = futures::join!(h.store.next_seq(room_id), async {
            let id = claim?;
            h.store
                .claimed(room_id, id)
                .await
                .inspect_err(|e| tracing::warn!(room_id, error = %e, "claim lookup failed; sequencing anew"))
                .ok()
                .flatten()
        });
        let counter = counter?;
        let expires_at = now_secs() + h.ttl_secs;
        if let Some(prior) = prior.filter(|p| p.epoch == counter.epoch) {
            if let Some(frame) = prior.frame {
                // Already delivered at `prior.seq`: replay those bytes (clients that have them
                // drop them by `id`), and mark the seq just taken as used, so a recovery does
                // not wait for it.
                tracing::info!(
                    room_id,
                    seq = prior.seq,
                    "redelivery of a sequenced message: replaying it"
                );
                let marker = HistoryItem {
                    seq: counter.last_seq,
                    epoch: counter.epoch.clone(),
                    frame: None,
                    target_user_id: None,
                    expires_at,
                };
                let job = Job::fresh(room_id, prior.target_user_id, Bytes::from(frame));
                let (marked, delivered) = futures::join!(
                    h.store.put(room_id, &marker),
                    self.run(endpoint, job, None, budget)
                );
                if let Err(e) = marked {
                    tracing::warn!(room_id, seq = counter.last_seq, error = %e, "skip marker not written");
                }
                return delivered;
            }
        }
        let frame = encode_frame_at(sender, data, id, Some((counter.last_seq, &counter.epoch)));
        if counter.epoch.len() > MAX_EPOCH_BYTES || frame.len() > MAX_MESSAGE_BYTES {
            return Err(SendError::BadRecord(format!(
                "the room's epoch is {} bytes; at most {MAX_EPOCH_BYTES} fit the frame size check",
                counter.epoch.len()
            )));
        }
        let item = HistoryItem {
            seq: counter.last_seq,
            epoch: counter.epoch,
            frame: Some(frame),
            target_user_id: target_user.map(str::to_owned),
            expires_at,
        };
        // The write is polled first: on the memory store it is done before the room is read.
        let (written, first) = futures::join!(
            h.store.put(room_id, &item),
            self.connections.room_page(room_id, None, self.settings.page_size)
        );
        // A frame that is not in the history is not delivered: the record fails and comes back.
        written?;
        let frame = Bytes::from(item.frame.clone().unwrap_or_default());
        let job = Job::fresh(room_id, target_user.map(str::to_owned), frame);
        let d = match first {
            Ok(page) => self.run(endpoint, job, Some(page), budget).await,
            Err(e) => Err(e.into()),
        };
        // The record fails and comes back: its redelivery replays this seq.
        let fails = d.as_ref().map_or(true, |d| d.retryable_failures > 0);
        if let (true, Some(id)) = (fails, claim) {
            if let Err(e) = h.store.claim(room_id, id, &item).await {
                tracing::warn!(room_id, error = %e, "claim not written; the redelivery gets a new seq");
            }
        }
        d
    }

    async fn members(&self, room_id: &str, target_user: Option<&str>) -> Result<Vec<RoomMember>, SendError> {
        Ok(self
            .connections
            .room(room_id)
            .await?
            .into_iter()
            .filter(|m| target_user.is_none_or(|u| m.user_id == u))
            .collect())
    }

    /// A control record: closes (DeleteConnection) the target user's sockets in the room.
    /// `delivered` counts the sockets closed.
    async fn control(&self, endpoint: &str, c: &Control) -> Result<Delivery, SendError> {
        let Control::Disconnect { target, reason } = c;
        let members = self.members(&target.room_id, Some(&target.user_id)).await?;
        let pusher = self.pushers.for_endpoint(endpoint);
        let results: Vec<(String, Result<(), PushError>)> = stream::iter(members)
            .map(|m| {
                let pusher = pusher.clone();
                async move {
                    let r = pusher.close(&m.connection_id).await;
                    (m.connection_id, r)
                }
            })
            .buffer_unordered(self.settings.concurrency)
            .collect()
            .await;
        let d = self.tally(results).await;
        tracing::info!(
            room_id = target.room_id,
            user_id = target.user_id,
            reason = reason.as_deref().unwrap_or(""),
            closed = d.delivered,
            "disconnected"
        );
        Ok(d)
    }

    /// Fans one frame out to the room (or to one user in it), deleting gone connections.
    pub async fn deliver(
        &self,
        endpoint: &str,
        room_id: &str,
        target_user: Option<&str>,
        frame: &[u8],
    ) -> Result<Delivery, SendError> {
        let job = Job::fresh(
            room_id,
            target_user.map(str::to_owned),
            Bytes::copy_from_slice(frame),
        );
        self.fan_out(endpoint, job, None).await
    }

    /// Runs what is left of a fan-out until it is done or `deadline` is near (the rest then
    /// goes back to the queue).
    pub async fn fan_out(
        &self,
        endpoint: &str,
        job: Job,
        deadline: Option<Instant>,
    ) -> Result<Delivery, SendError> {
        self.run(endpoint, job, None, self.budget(deadline)).await
    }

    /// `first`: the room's first page, when it was read already (beside the history write).
    async fn run(
        &self,
        endpoint: &str,
        job: Job,
        first: Option<RoomPage>,
        budget: Budget,
    ) -> Result<Delivery, SendError> {
        if job.frame.len() > MAX_MESSAGE_BYTES {
            return Err(crate::frame::PayloadTooLarge {
                bytes: job.frame.len(),
                limit: MAX_MESSAGE_BYTES,
            }
            .into());
        }
        let run = Run {
            store: &*self.connections,
            pusher: self.pushers.for_endpoint(endpoint),
            queue: self.queue.as_deref(),
            pacer: &self.pacer,
            settings: &self.settings,
            concurrency: budget.concurrency,
            deadline: budget.deadline,
            reserve: budget.reserve,
        };
        Ok(run.run(job, first).await?)
    }

    async fn tally(&self, results: Vec<(String, Result<(), PushError>)>) -> Delivery {
        let mut d = Delivery::default();
        for (id, r) in results {
            match r {
                Ok(()) => d.delivered += 1,
                Err(PushError::Gone) => {
                    d.gone += 1;
                    tracing::info!(connection_id = id, "stale connection, deleting");
                    if let Err(e) = self.connections.delete(&id).await {
                        tracing::warn!(connection_id = id, error = %e, "could not delete stale connection");
                    }
                }
                Err(e) if e.is_retryable() => {
                    d.retryable_failures += 1;
                    tracing::warn!(connection_id = id, error = %e, "post failed");
                }
                Err(e) => {
                    d.rejected += 1;
                    tracing::warn!(connection_id = id, error = %e, "post rejected");
                }
            }
        }
        d
    }

    fn endpoint_for(&self, req: &ApiGatewayWebsocketProxyRequest) -> Option<String> {
        self.endpoint.clone().or_else(|| {
            let ctx = &req.request_context;
            Some(format!(
                "https://{}/{}",
                ctx.domain_name.as_deref()?,
                ctx.stage.as_deref()?
            ))
        })
    }

    pub async fn handle_route(&self, req: &ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
        self.handle_route_until(req, None).await
    }

    /// The WebSocket routes (`sendMessage`, `recover`, `presence`, and `$default` for anything
    /// else): the room and user come from the sender's connection row, never from the client.
    /// Answers to the sender (recovered frames, presence, errors) are posted to its connection.
    pub async fn handle_route_until(
        &self,
        req: &ApiGatewayWebsocketProxyRequest,
        deadline: Option<Instant>,
    ) -> ApiGatewayProxyResponse {
        let Some(connection_id) = req.request_context.connection_id.clone() else {
            return response(400, "missing connectionId");
        };
        let Some(endpoint) = self.endpoint_for(req) else {
            tracing::error!("route event without domainName/stage and no HERMES_WEBSOCKET_ENDPOINT");
            return response(500, "no management endpoint");
        };
        // Answers to the sender go through the same pusher the fan-out uses; fetched only when
        // there is something to answer.
        let answer = || -> Arc<dyn Pusher> { self.pushers.for_endpoint(&endpoint) };
        let body: Option<RouteBody> = req.body.as_deref().and_then(|b| serde_json::from_str(b).ok());
        let action = body.as_ref().and_then(|b| b.action.as_deref()).unwrap_or("");
        let refuse = |error: String| {
            let pusher = answer();
            let connection_id = connection_id.clone();
            async move {
                if let Err(e) = pusher.post(&connection_id, &error_frame(&error)).await {
                    tracing::warn!(connection_id, error = %e, "could not answer a refused frame");
                }
                response(400, &error)
            }
        };
        let Some(body) = body
            .as_ref()
            .filter(|_| ["sendMessage", "recover", "presence"].contains(&action))
        else {
            let error = match &body {
                None => format!("frames must be JSON objects with an \"action\": {ACTIONS}"),
                Some(_) => format!("unknown action {action:?}; the actions are {ACTIONS}"),
            };
            return refuse(error).await;
        };
        let sender = match self.connections.get(&connection_id).await {
            Ok(Some(row)) => row,
            Ok(None) => {
                tracing::warn!(connection_id, action, "frame from a connection with no row");
                return response(403, "unknown connection");
            }
            Err(e) => {
                tracing::error!(connection_id, error = %e, "reading the sender's row failed");
                return response(500, "Failed to send.");
            }
        };
        match action {
            "recover" => {
                let since = body.since.as_ref().and_then(Value::as_u64);
                let epoch = body
                    .epoch
                    .as_ref()
                    .and_then(Value::as_str)
                    .filter(|e| e.len() <= MAX_EPOCH_BYTES);
                let (Some(since), Some(epoch)) = (since, epoch) else {
                    return refuse(format!(
                        "recover needs \"since\" (a seq: a whole number >= 0) and \"epoch\" (a string of at most {MAX_EPOCH_BYTES} bytes)"
                    ))
                    .await;
                };
                self.route_recover(&*answer(), &sender, since, epoch).await
            }
            "presence" => match presence(&*self.connections, &sender.room_id).await {
                Ok((users, connections)) => {
                    let pusher = answer();
                    let frame = presence_frame(&sender.room_id, &users, connections);
                    if let Err(e) = pusher.post(&connection_id, &frame).await {
                        tracing::warn!(connection_id, error = %e, "could not answer presence");
                    }
                    response(200, "Presence sent.")
                }
                Err(e) => {
                    tracing::error!(connection_id, error = %e, "presence failed");
                    let _ = answer()
                        .post(&connection_id, &error_frame("presence failed; try again"))
                        .await;
                    response(500, "Failed to read presence.")
                }
            },
            _ => self.route_send(&endpoint, req, &sender, body, deadline).await,
        }
    }

    async fn route_send(
        &self,
        endpoint: &str,
        req: &ApiGatewayWebsocketProxyRequest,
        sender: &Connection,
        body: &RouteBody,
        deadline: Option<Instant>,
    ) -> ApiGatewayProxyResponse {
        let connection_id = &sender.connection_id;
        let null = crate::frame::raw(&Value::Null);
        let data = body.data.as_deref().unwrap_or(&null);
        let m = Message {
            room_id: &sender.room_id,
            target_user: None,
            sender: &sender.user_id,
            data,
            id: req.request_context.request_id.as_deref(),
            dedup: false,
        };
        match self.publish_in(endpoint, m, self.budget(deadline)).await {
            Ok(d) => {
                tracing::info!(
                    connection_id,
                    room_id = sender.room_id,
                    delivered = d.delivered,
                    gone = d.gone,
                    "sent"
                );
                response(200, "Data sent.")
            }
            Err(SendError::TooLarge(e)) => response(413, &e.to_string()),
            Err(e) => {
                tracing::error!(connection_id, error = %e, "send failed");
                response(500, "Failed to send.")
            }
        }
    }

    /// Posts the missed frames one by one, oldest first (concurrent posts to one connection
    /// would not keep their order), then the `recovered` frame.
    async fn route_recover(
        &self,
        pusher: &dyn Pusher,
        sender: &Connection,
        since: u64,
        epoch: &str,
    ) -> ApiGatewayProxyResponse {
        let connection_id = &sender.connection_id;
        let r = match &self.history {
            None => Ok(super::recover::Recovery {
                frames: vec![],
                recovered: false,
                epoch: String::new(),
                seq: 0,
            }),
            Some(h) => {
                recover(
                    &*h.store,
                    h.ttl_secs,
                    &sender.room_id,
                    &sender.user_id,
                    since,
                    epoch,
                )
                .await
            }
        };
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(connection_id, error = %e, "recovery failed");
                let _ = pusher
                    .post(connection_id, &error_frame("recovery failed; try again"))
                    .await;
                return response(500, "Failed to recover.");
            }
        };
        for frame in r
            .frames
            .iter()
            .chain([&recovered_frame(r.recovered, &r.epoch, r.seq)])
        {
            if let Err(e) = pusher.post(connection_id, frame).await {
                tracing::warn!(connection_id, error = %e, "recovery cut short");
                return response(500, "Failed to recover.");
            }
        }
        tracing::info!(
            connection_id,
            room_id = sender.room_id,
            since,
            replayed = r.frames.len(),
            recovered = r.recovered,
            "recovered"
        );
        response(200, "Recovered.")
    }
}
