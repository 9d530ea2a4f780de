use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use serde_json::Value;

use super::recover::{presence, recover};
use super::response;
use crate::frame::{
    encode_frame, encode_frame_at, error_frame, presence_frame, recovered_frame, sequenced_len, Control,
    Record, MAX_EPOCH_BYTES, MAX_MESSAGE_BYTES,
};
use crate::push::{PushError, Pusher, PusherFactory};
use crate::store::{Connection, ConnectionStore, HistoryItem, HistoryStore, RoomMember};
use crate::token::now_secs;

/// Posts in flight at once per message. API Gateway's management API allows far more per
/// account, but one Lambda's outbound connections and memory do not.
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

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub delivered: usize,
    /// 410 answers; their rows were deleted.
    pub gone: usize,
    /// Throttled or unavailable after the SDK's retries.
    pub retryable_failures: usize,
    /// Other 4xx: logged and dropped.
    pub rejected: usize,
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
}

pub struct Sender {
    connections: Arc<dyn ConnectionStore>,
    pushers: Arc<dyn PusherFactory>,
    endpoint: Option<String>,
    concurrency: usize,
    history: Option<History>,
}

struct History {
    store: Arc<dyn HistoryStore>,
    ttl_secs: u64,
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
            concurrency: DEFAULT_CONCURRENCY,
            history: None,
        }
    }

    /// Sequences every message into the room history (frames gain `seq` and `epoch`) and
    /// answers `recover`. Without it frames carry neither and recoveries answer `false`.
    pub fn with_history(mut self, store: Arc<dyn HistoryStore>, ttl: std::time::Duration) -> Self {
        self.history = Some(History {
            store,
            ttl_secs: ttl.as_secs().max(1),
        });
        self
    }

    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    pub async fn handle(&self, event: SendEvent) -> Value {
        match event {
            SendEvent::Sqs(ev) => serde_json::to_value(self.handle_sqs(ev).await),
            SendEvent::WebSocket(req) => serde_json::to_value(self.handle_route(&req).await),
        }
        .expect("responses serialise")
    }

    /// Every record of the batch; only the failed ones are reported, so SQS redelivers just those.
    pub async fn handle_sqs(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut failures = Vec::new();
        for record in &event.records {
            let id = record.message_id.clone().unwrap_or_default();
            match self.handle_record(record).await {
                Ok(d) => tracing::info!(
                    message_id = id,
                    delivered = d.delivered,
                    gone = d.gone,
                    rejected = d.rejected,
                    "sent"
                ),
                Err(e) => {
                    tracing::error!(message_id = id, error = %e, "record failed");
                    let mut f = BatchItemFailure::default();
                    f.item_identifier = id;
                    failures.push(f);
                }
            }
        }
        let mut resp = SqsBatchResponse::default();
        resp.batch_item_failures = failures;
        resp
    }

    async fn handle_record(&self, record: &SqsMessage) -> Result<Delivery, SendError> {
        let body = record
            .body
            .as_deref()
            .ok_or_else(|| SendError::BadRecord("empty body".into()))?;
        let parsed = Record::parse(body).map_err(|e| SendError::BadRecord(e.to_string()))?;
        let endpoint = self.endpoint.clone().ok_or(SendError::NoEndpoint)?;
        let d = match parsed {
            Record::Notification(n) => {
                self.publish(
                    &endpoint,
                    &n.room_id,
                    n.target_user_id.as_deref(),
                    &n.user_id.to_string(),
                    &n.data,
                    record.message_id.as_deref(),
                    true,
                )
                .await?
            }
            Record::Control(c) => {
                c.check().map_err(SendError::BadRecord)?;
                self.control(&endpoint, &c).await?
            }
        };
        if d.retryable_failures > 0 {
            return Err(SendError::Undelivered(d.retryable_failures));
        }
        Ok(d)
    }

    /// One message to the room (or to one user in it). With a history: the next seq (one
    /// atomic counter update), the frame written to the history, then the fan-out; the
    /// history write and the read of the room's connections go out together, so the first
    /// client gets the frame one DynamoDB round trip later than without a history.
    ///
    /// `dedup`: `id` is an SQS message id. When some connections could not be reached (the
    /// record will fail and come back), a claim maps the id to the seq just delivered, and the
    /// redelivery replays that frame (same seq, same bytes) rather than sequencing it again.
    /// Other redeliveries (a Lambda that died mid-fan-out, SQS's rare duplicates) get a new
    /// seq; browsers still drop the copy by its `id`.
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
        let Some(h) = &self.history else {
            let frame = encode_frame(sender, data, id);
            return self.deliver(endpoint, room_id, target_user, &frame).await;
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
            if let Some(frame) = &prior.frame {
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
                let (marked, delivered) = futures::join!(
                    h.store.put(room_id, &marker),
                    self.deliver(endpoint, room_id, prior.target_user_id.as_deref(), frame)
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
        let (written, members) =
            futures::join!(h.store.put(room_id, &item), self.members(room_id, target_user));
        // A frame that is not in the history is not delivered: the record fails and comes back.
        written?;
        let frame = item.frame.as_deref().unwrap_or_default();
        let d = self.post_all(endpoint, members?, frame).await;
        if let (true, Some(id)) = (d.retryable_failures > 0, claim) {
            if let Err(e) = h.store.claim(room_id, id, &item).await {
                tracing::warn!(room_id, error = %e, "claim not written; the redelivery gets a new seq");
            }
        }
        Ok(d)
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
            .buffer_unordered(self.concurrency)
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
        if frame.len() > MAX_MESSAGE_BYTES {
            return Err(crate::frame::PayloadTooLarge {
                bytes: frame.len(),
                limit: MAX_MESSAGE_BYTES,
            }
            .into());
        }
        let members = self.members(room_id, target_user).await?;
        Ok(self.post_all(endpoint, members, frame).await)
    }

    async fn post_all(&self, endpoint: &str, members: Vec<RoomMember>, frame: &[u8]) -> Delivery {
        let pusher = self.pushers.for_endpoint(endpoint);
        let results: Vec<(String, Result<(), PushError>)> = stream::iter(members)
            .map(|m| {
                let pusher = pusher.clone();
                async move {
                    let r = pusher.post(&m.connection_id, frame).await;
                    (m.connection_id, r)
                }
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        self.tally(results).await
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

    /// The WebSocket routes (`sendMessage`, `recover`, `presence`, and `$default` for anything
    /// else): the room and user come from the sender's connection row, never from the client.
    /// Answers to the sender (recovered frames, presence, errors) are posted to its connection.
    pub async fn handle_route(&self, req: &ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
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
            _ => self.route_send(&endpoint, req, &sender, body).await,
        }
    }

    async fn route_send(
        &self,
        endpoint: &str,
        req: &ApiGatewayWebsocketProxyRequest,
        sender: &Connection,
        body: &RouteBody,
    ) -> ApiGatewayProxyResponse {
        let connection_id = &sender.connection_id;
        let null = crate::frame::raw(&Value::Null);
        let data = body.data.as_deref().unwrap_or(&null);
        let id = req.request_context.request_id.as_deref();
        match self
            .publish(endpoint, &sender.room_id, None, &sender.user_id, data, id, false)
            .await
        {
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
