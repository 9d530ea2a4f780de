//! The WebSocket routes: `sendMessage` (fanned out like a job's notification), `recover`
//! (recovery.rs) and `presence`; `$default` gets an error frame. The room and the user come
//! from the sender's connection row, never from the frame. Answers go to the sender's
//! connection only.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::publish::Message;
use super::{Budget, SendError, Sender};
use crate::frame::{error_frame, presence_frame, MAX_EPOCH_BYTES};
use crate::handlers::deadline::Deadline;
use crate::handlers::{presence, response};
use crate::names::routes;
use crate::push::Pusher;
use crate::store::Connection;

/// What a client frame asks for.
#[derive(Debug)]
enum Route {
    /// `{"action": "sendMessage", "data": ...}`: `data` passed on as sent (`null` if absent).
    Send(Option<Box<RawValue>>),
    /// `{"action": "recover", "since": <seq>, "epoch": "..."}`
    Recover { since: u64, epoch: String },
    /// `{"action": "presence"}`
    Presence,
}

/// The error frame's text for a frame no route can act on.
fn parse(body: Option<&str>) -> Result<Route, String> {
    let actions = routes::ALL
        .iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let not_a_route = || format!("frames must be JSON objects with an \"action\": one of {actions}");
    // The action alone first: the rest of the frame, however deep, is skipped unbuilt, so what
    // a route's own fields hold cannot make the frame look like something else.
    #[derive(Deserialize)]
    struct Action<'a> {
        #[serde(borrow)]
        action: Option<Cow<'a, str>>,
    }
    let body = body
        .filter(|b| b.trim_start().starts_with('{'))
        .ok_or_else(not_a_route)?;
    let action = serde_json::from_str::<Action>(body)
        .map_err(|_| not_a_route())?
        .action
        .ok_or_else(not_a_route)?;
    match action.as_ref() {
        routes::SEND_MESSAGE => {
            #[derive(Deserialize)]
            struct Send {
                data: Option<Box<RawValue>>,
            }
            let s: Send = serde_json::from_str(body).map_err(|e| format!("sendMessage: {e}"))?;
            Ok(Route::Send(s.data))
        }
        routes::RECOVER => {
            #[derive(Deserialize)]
            struct Recover<'a> {
                #[serde(borrow)]
                since: Option<&'a RawValue>,
                #[serde(borrow)]
                epoch: Option<&'a RawValue>,
            }
            let wanted = || {
                format!(
                    "recover needs \"since\" (a seq: a whole number >= 0) and \"epoch\" (a string of at most {MAX_EPOCH_BYTES} bytes)"
                )
            };
            let r: Recover = serde_json::from_str(body).map_err(|_| wanted())?;
            let since = r.since.and_then(|s| s.get().parse::<u64>().ok());
            let epoch = r
                .epoch
                .and_then(|e| serde_json::from_str::<String>(e.get()).ok())
                .filter(|e| e.len() <= MAX_EPOCH_BYTES);
            match (since, epoch) {
                (Some(since), Some(epoch)) => Ok(Route::Recover { since, epoch }),
                _ => Err(wanted()),
            }
        }
        routes::PRESENCE => Ok(Route::Presence),
        other => Err(format!("unknown action {other:?}; the actions are {actions}")),
    }
}

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
        match route {
            Route::Send(data) => {
                let budget = Budget {
                    concurrency: self.settings.concurrency,
                    deadline: Deadline::new(deadline, self.settings.reserve, Instant::now()),
                };
                self.route_send(&endpoint, req, &sender, data.as_deref(), budget)
                    .await
            }
            Route::Recover { since, epoch } => self.route_recover(&*answer(), &sender, since, &epoch).await,
            Route::Presence => self.route_presence(&*answer(), &sender).await,
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
    ) -> ApiGatewayProxyResponse {
        let connection_id = &sender.connection_id;
        let null = crate::frame::raw(&serde_json::Value::Null);
        let m = Message {
            room_id: &sender.room_id,
            target_user: None,
            sender: &sender.user_id,
            data: data.unwrap_or(&null),
            id: req.request_context.request_id.as_deref(),
            dedup: false,
        };
        match self.publish(endpoint, m, budget).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The route, with `sendMessage`'s data as text.
    fn route(body: &str) -> String {
        match parse(Some(body)).unwrap() {
            Route::Send(data) => format!("send {}", data.as_deref().map_or("-", RawValue::get)),
            Route::Recover { since, epoch } => format!("recover {since} {epoch}"),
            Route::Presence => "presence".into(),
        }
    }

    #[test]
    fn frames_name_their_route() {
        assert_eq!(
            route(r#"{"action":"sendMessage","data":{"a":1}}"#),
            r#"send {"a":1}"#
        );
        assert_eq!(route(r#"{"data":[1], "action":"sendMessage"}"#), "send [1]");
        assert_eq!(route(r#"{"action":"sendMessage"}"#), "send -");
        assert_eq!(
            route(r#"{"action":"recover","since":3,"epoch":"e1"}"#),
            "recover 3 e1"
        );
        assert_eq!(route(r#"{"action":"presence","x":[[]]}"#), "presence");
        let deep = format!(
            r#"{{"action":"sendMessage","data":{}1{}}}"#,
            "[".repeat(5_000),
            "]".repeat(5_000)
        );
        assert!(matches!(parse(Some(&deep)), Ok(Route::Send(Some(_)))));
    }

    #[test]
    fn what_no_route_takes_is_named() {
        for (body, why) in [
            (None, "frames must be JSON objects with an \"action\": one of \"sendMessage\", \"recover\", \"presence\""),
            (Some("not json"), "frames must be JSON objects"),
            (Some(r#"["sendMessage"]"#), "frames must be JSON objects"),
            (Some(r#"{"data":1}"#), "frames must be JSON objects"),
            (Some(r#"{"action":"shout"}"#), "unknown action \"shout\"; the actions are"),
            (Some(r#"{"action":5}"#), "frames must be JSON objects"),
            (Some(r#"{"action":"recover","since":-1,"epoch":"e"}"#), "recover needs \"since\""),
            (Some(r#"{"action":"recover","since":1.5,"epoch":"e"}"#), "recover needs \"since\""),
            (Some(r#"{"action":"recover","since":"3","epoch":"e"}"#), "recover needs \"since\""),
            (Some(r#"{"action":"recover","since":3}"#), "recover needs \"since\""),
            (Some(r#"{"action":"recover","since":3,"epoch":7}"#), "recover needs \"since\""),
        ] {
            let e = parse(body).unwrap_err();
            assert!(e.starts_with(why), "{body:?}: {e}");
        }
        let long = format!(
            r#"{{"action":"recover","since":3,"epoch":"{}"}}"#,
            "e".repeat(MAX_EPOCH_BYTES + 1)
        );
        assert!(parse(Some(&long)).unwrap_err().starts_with("recover needs"));
    }

    #[test]
    fn a_deeply_nested_since_is_named_as_recovers_field() {
        let deep = format!(
            r#"{{"action":"recover","since":{}0{},"epoch":"e"}}"#,
            "[".repeat(5_000),
            "]".repeat(5_000)
        );
        assert!(parse(Some(&deep))
            .unwrap_err()
            .starts_with("recover needs \"since\""));
    }
}
