use std::sync::Arc;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

use super::response;
use crate::frame::{encode_frame, Notification, MAX_MESSAGE_BYTES};
use crate::push::{PushError, Pusher, PusherFactory};
use crate::store::{ConnectionStore, RoomMember};

/// Posts in flight at once per message. API Gateway's management API allows far more per
/// account, but one Lambda's outbound connections and memory do not.
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
        }
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
        let n: Notification = serde_json::from_str(body).map_err(|e| SendError::BadRecord(e.to_string()))?;
        let endpoint = self.endpoint.clone().ok_or(SendError::NoEndpoint)?;
        let frame = encode_frame(&n.user_id.to_string(), &n.data, record.message_id.as_deref());
        let d = self
            .deliver(&endpoint, &n.room_id, n.target_user_id.as_deref(), &frame)
            .await?;
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
        if frame.len() > MAX_MESSAGE_BYTES {
            return Err(crate::frame::PayloadTooLarge {
                bytes: frame.len(),
                limit: MAX_MESSAGE_BYTES,
            }
            .into());
        }
        let members: Vec<RoomMember> = self
            .connections
            .room(room_id)
            .await?
            .into_iter()
            .filter(|m| target_user.is_none_or(|u| m.user_id == u))
            .collect();
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
        Ok(d)
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

    /// The `sendMessage` route (and `$default`): the room and user come from the sender's
    /// connection row, never from the client.
    pub async fn handle_route(&self, req: &ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
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
        match self.deliver(&endpoint, &sender.room_id, None, &frame).await {
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
