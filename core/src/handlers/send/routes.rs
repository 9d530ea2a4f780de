//! The WebSocket routes: `sendMessage` (fanned out like a job's notification), `recover`
//! (recovery.rs), `subscribe`/`unsubscribe` (streams.rs) and `presence`; `$default` gets an
//! error frame. The room and the user come from the sender's connection row, never from the
//! frame. Answers go to the sender's connection only.

use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use serde_json::value::RawValue;

use super::publish::Message;
use super::request::{parse, Route};
use super::{count, Budget, SendError, Sender};
use crate::frame::{error_frame, presence_frame, Origin};
use crate::handlers::deadline::Deadline;
use crate::handlers::fanout::Audience;
use crate::handlers::{presence, response};
use crate::metrics::{names, Metrics};
use crate::push::Pusher;
use crate::store::Connection;

/// What a socket of nobody is told when it asks for a room's route.
const NO_ROOM: &str =
    "this socket belongs to no room (nobody is signed in): it can only subscribe to signed streams";

impl Sender {
    pub async fn handle_route(&self, req: &ApiGatewayWebsocketProxyRequest) -> ApiGatewayProxyResponse {
        self.handle_route_until(req, None).await
    }

    /// The WebSocket routes (`sendMessage`, `recover`, `presence`, and `$default` for anything
    /// else). `deadline`: when the invocation ends.
    pub async fn handle_route_until(
        &self,
        req: &ApiGatewayWebsocketProxyRequest,
        deadline: Option<Instant>,
    ) -> ApiGatewayProxyResponse {
        self.handle_route_measured(req, deadline, &Metrics::new()).await
    }

    /// `handle_route_until`, counting in `metrics`: a `sendMessage`'s fan-out as a queue
    /// record's, and each recovery answered.
    pub async fn handle_route_measured(
        &self,
        req: &ApiGatewayWebsocketProxyRequest,
        deadline: Option<Instant>,
        metrics: &Metrics,
    ) -> ApiGatewayProxyResponse {
        if let Some(id) = req.request_context.connection_id.as_deref() {
            metrics.property("ConnectionId", id);
        }
        let Some(connection_id) = req.request_context.connection_id.as_deref() else {
            return response(400, "missing connectionId");
        };
        let Some(endpoint) = self.endpoint_for(req) else {
            tracing::error!("route event without domainName/stage and no HERMES_WEBSOCKET_ENDPOINT");
            return response(500, "no management endpoint");
        };
        // Fetched only when there is something to answer.
        let answer = || -> Arc<dyn Pusher> { self.pushers.for_endpoint(&endpoint) };
        let route = match parse(req.body.as_deref()) {
            Ok(route) => route,
            Err(error) => {
                // A refused frame is answered before any read: it costs one post.
                tell(&*answer(), connection_id, &error_frame(&error), "a refused frame").await;
                return response(400, &error);
            }
        };
        let sender = match self.connections.get(connection_id).await {
            Ok(Some(row)) => row,
            Ok(None) => {
                tracing::warn!(connection_id, "frame from a connection with no row");
                return response(403, "unknown connection");
            }
            Err(e) => {
                tracing::error!(connection_id, error = %e, "reading the sender's row failed");
                return response(500, "Failed to send.");
            }
        };
        let roomless = sender.room_id.is_empty();
        match route {
            Route::Send(_) | Route::Presence { stream: None } if roomless => {
                tell(&*answer(), connection_id, &error_frame(NO_ROOM), "a room's route").await;
                response(403, NO_ROOM)
            }
            Route::Recover { room: Some(_), .. } if roomless => {
                tell(&*answer(), connection_id, &error_frame(NO_ROOM), "a room's route").await;
                response(403, NO_ROOM)
            }
            Route::Send(data) => {
                let budget = Budget {
                    concurrency: self.settings.concurrency,
                    deadline: Deadline::new(deadline, self.settings.reserve, Instant::now()),
                    enqueued_at: None,
                };
                self.route_send(&endpoint, req, &sender, data.as_deref(), budget, metrics)
                    .await
            }
            Route::Recover { room, streams } => {
                let r = self.route_recover(&*answer(), &sender, room, streams).await;
                if r.status_code == 200 {
                    metrics.add(names::RECOVERIES_SERVED, 1);
                }
                r
            }
            Route::Subscribe(streams) => self.route_subscribe(&*answer(), &sender, streams).await,
            Route::Unsubscribe(names) => self.route_unsubscribe(&*answer(), &sender, names).await,
            Route::Presence { stream: None } => self.route_presence(&*answer(), &sender).await,
            Route::Presence { stream: Some(name) } => {
                self.route_stream_presence(&*answer(), &sender, &name).await
            }
        }
    }

    /// The management endpoint: configured, or the event's own domain and stage.
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

    async fn route_send(
        &self,
        endpoint: &str,
        req: &ApiGatewayWebsocketProxyRequest,
        sender: &Connection,
        data: Option<&RawValue>,
        budget: Budget,
        metrics: &Metrics,
    ) -> ApiGatewayProxyResponse {
        let connection_id = &sender.connection_id;
        let null = crate::frame::raw(&serde_json::Value::Null);
        let m = Message {
            audience: Audience::Room(sender.room_id.clone()),
            target_user: None,
            origin: Origin::User(&sender.user_id),
            data: data.unwrap_or(&null),
            id: req.request_context.request_id.as_deref(),
            dedup: false,
        };
        let began = Instant::now();
        let published = self.publish(endpoint, m, budget).await;
        if let Ok(d) | Err(SendError::Undelivered(d)) = &published {
            count(metrics, d);
            metrics.sample(names::FANOUT_DURATION, began.elapsed().as_secs_f64() * 1000.0);
        }
        match published {
            Ok(d) => {
                metrics.add(names::NOTIFICATIONS, 1);
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

    async fn route_presence(&self, pusher: &dyn Pusher, sender: &Connection) -> ApiGatewayProxyResponse {
        let connection_id = &sender.connection_id;
        match presence(&*self.connections, &sender.room_id).await {
            Ok((users, connections)) => {
                let frame = presence_frame(&sender.room_id, &users, connections);
                tell(pusher, connection_id, &frame, "presence").await;
                response(200, "Presence sent.")
            }
            Err(e) => {
                tracing::error!(connection_id, error = %e, "presence failed");
                tell(
                    pusher,
                    connection_id,
                    &error_frame("presence failed; try again"),
                    "presence",
                )
                .await;
                response(500, "Failed to read presence.")
            }
        }
    }
}

/// Posts an answer to the sender (retried); a failure is only logged: the frame's own
/// response says what happened.
pub(super) async fn tell(pusher: &dyn Pusher, connection_id: &str, frame: &[u8], what: &str) -> bool {
    match pusher.post(connection_id, frame).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(connection_id, error = %e, "could not answer {what}");
            false
        }
    }
}
