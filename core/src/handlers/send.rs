use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use bytes::Bytes;
use serde_json::{json, Value};

use super::fanout::{continuation, FanoutError, Job, Pacer, Run, Settings};
use super::response;
use crate::frame::{encode_frame, Notification, MAX_MESSAGE_BYTES};
use crate::push::{Pusher, PusherFactory};
use crate::queue::Queue;
use crate::store::ConnectionStore;

pub use super::fanout::Delivery;

/// Posts in flight at once per message (handlers/fanout `Settings::concurrency`).
pub const DEFAULT_CONCURRENCY: usize = 64;

/// A client frame: `{"action": "sendMessage", "data": ...}`; `data` is passed on as sent.
#[derive(serde::Deserialize)]
struct RouteBody {
    action: Option<String>,
    data: Option<Box<serde_json::value::RawValue>>,
}

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
    Push(crate::push::PushError),
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
    /// Where the rest of a room goes when one invocation cannot finish it.
    queue: Option<Arc<dyn Queue>>,
    settings: Settings,
    /// Kept across invocations: the account's rate limit outlives one message.
    pacer: Pacer,
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
            queue: None,
            settings: Settings {
                concurrency: DEFAULT_CONCURRENCY,
                ..Settings::default()
            },
            pacer: Pacer::new(),
        }
    }

    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.settings.concurrency = n.max(1);
        self
    }

    /// The queue the send function is fed from: with it, a room larger than one page is
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
        // Records run side by side, in chains: a room's notifications one after another (so
        // a FIFO queue's order holds), each continuation on its own (the parts of one message
        // are meant to run in parallel). The posts in flight are shared out between chains.
        let mut chains: Vec<Vec<&SqsMessage>> = Vec::new();
        let mut by_room: HashMap<String, usize> = HashMap::new();
        for r in &event.records {
            let body = r.body.as_deref().unwrap_or("");
            let room = (!continuation::is_continuation(body))
                .then(|| serde_json::from_str::<Notification>(body).ok().map(|n| n.room_id))
                .flatten();
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
        let outcomes = futures::future::join_all(chains.iter().map(|chain| async move {
            let mut out = Vec::with_capacity(chain.len());
            for r in chain {
                out.push((*r, self.handle_record(r, deadline, share).await));
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
                    if !self
                        .hand_back(record, deadline.map(|d| d.saturating_duration_since(began)))
                        .await
                    {
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
    /// done (it has not even been made into a frame), so nothing is repeated. Not on a FIFO
    /// queue (a new message would go behind the room's later ones: the failure keeps the
    /// order), and not when the whole invocation (`lasted`) was shorter than the reserve,
    /// where no record could ever start: those fail and reach the dead-letter queue.
    async fn hand_back(&self, record: &SqsMessage, lasted: Option<std::time::Duration>) -> bool {
        let id = record.message_id.as_deref().unwrap_or_default();
        let Some(queue) = &self.queue else {
            tracing::info!(message_id = id, "left for the next invocation");
            return false;
        };
        if record.attributes.contains_key("MessageGroupId") {
            tracing::info!(message_id = id, "left for the next invocation (FIFO: order kept)");
            return false;
        }
        if lasted.is_some_and(|l| l <= self.settings.reserve) {
            tracing::error!(
                message_id = id,
                reserve_ms = self.settings.reserve.as_millis() as u64,
                "the invocation is shorter than the fan-out's reserve: raise the function's timeout"
            );
            return false;
        }
        let body = record.body.as_deref().unwrap_or_default();
        match queue.send_body(body, "", std::time::Duration::ZERO).await {
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

    async fn handle_record(
        &self,
        record: &SqsMessage,
        deadline: Option<Instant>,
        concurrency: usize,
    ) -> Result<Delivery, SendError> {
        // Too close to the deadline to start: handed back untouched (`hand_back`).
        if deadline.is_some_and(|d| d.saturating_duration_since(Instant::now()) <= self.settings.reserve) {
            return Err(SendError::NoTime);
        }
        let body = record
            .body
            .as_deref()
            .ok_or_else(|| SendError::BadRecord("empty body".into()))?;
        let endpoint = self.endpoint.clone().ok_or(SendError::NoEndpoint)?;
        let job = if continuation::is_continuation(body) {
            // The rest of a fan-out: its frame is posted as it is, never made again.
            continuation::decode(body)?
        } else {
            let n: Notification =
                serde_json::from_str(body).map_err(|e| SendError::BadRecord(e.to_string()))?;
            let frame = encode_frame(&n.user_id.to_string(), &n.data, record.message_id.as_deref());
            Job::fresh(n.room_id, n.target_user_id, Bytes::from(frame))
        };
        let d = self.run(&endpoint, job, deadline, concurrency).await?;
        if d.retryable_failures > 0 {
            return Err(SendError::Undelivered(d.retryable_failures));
        }
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
        self.run(endpoint, job, deadline, self.settings.concurrency).await
    }

    async fn run(
        &self,
        endpoint: &str,
        job: Job,
        deadline: Option<Instant>,
        concurrency: usize,
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
            concurrency,
            deadline,
        };
        Ok(run.run(job).await?)
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

    /// The `sendMessage` route (and `$default`): the room and user come from the sender's
    /// connection row, never from the client.
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
        let body: Option<RouteBody> = req.body.as_deref().and_then(|b| serde_json::from_str(b).ok());
        let action = body.as_ref().and_then(|b| b.action.as_deref()).unwrap_or("");
        let route = req.request_context.route_key.as_deref().unwrap_or("");
        if route == "$default" || action != "sendMessage" {
            let error = match &body {
                None => "frames must be JSON: {\"action\": \"sendMessage\", \"data\": ...}".to_owned(),
                Some(_) => format!("unknown action {action:?}; the only action is \"sendMessage\""),
            };
            let frame = serde_json::to_vec(&json!({"error": error})).expect("serialises");
            let pusher: Arc<dyn Pusher> = self.pushers.for_endpoint(&endpoint);
            if let Err(e) = pusher.post(&connection_id, &frame).await {
                tracing::warn!(connection_id, error = %e, "could not answer an unknown action");
            }
            return response(400, &error);
        }
        let null = crate::frame::raw(&Value::Null);
        let data = body.as_ref().and_then(|b| b.data.as_deref()).unwrap_or(&null);
        let sender = match self.connections.get(&connection_id).await {
            Ok(Some(row)) => row,
            Ok(None) => {
                tracing::warn!(connection_id, "sendMessage from a connection with no row");
                return response(403, "unknown connection");
            }
            Err(e) => {
                tracing::error!(connection_id, error = %e, "reading the sender's row failed");
                return response(500, "Failed to send.");
            }
        };
        let frame = encode_frame(&sender.user_id, data, req.request_context.request_id.as_deref());
        let job = Job::fresh(sender.room_id.clone(), None, Bytes::from(frame));
        match self.fan_out(&endpoint, job, deadline).await {
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
}
