//! Development endpoints on the memory backend: what the gem's `local` backend
//! (lib/hermes/local_backend.rb) and the demo page call instead of DynamoDB and SQS.
//!
//! `POST /_hermes/tokens` mints (`{"token", "hex"}`), `DELETE /_hermes/tokens` revokes (and
//! closes the user's sockets in the room), `POST /_hermes/notifications[/batch]` enqueues,
//! `POST /_hermes/disconnect` closes a user's sockets in a room, `POST /_hermes/presence` lists
//! a room's users, `POST /_hermes/position` tells where a room's history stands (`{"seq",
//! "epoch"}`, epoch `null` for a room without messages yet); `streams.rs` has the streams',
//! `console.rs` the console's `GET /_hermes/console`, `metrics.rs` the handlers' counts at
//! `GET /_hermes/metrics` (Prometheus text format).
//! Bodies are JSON; errors are `{"error": "..."}`. `guard.rs` decides who may call them.

pub(crate) mod console;
mod guard;
pub(crate) mod metrics;
pub(crate) mod streams;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hermes_core::frame::Control;
use hermes_core::ids::{self, IdError};
use hermes_core::queue::{Queue, QueueError};
use hermes_core::token::de_string_or_number;
use hermes_core::{MintError, Minter, Notification, RevokeError, UserId};
use serde_json::json;

use crate::error::ApiError;
use crate::state::App;
use guard::Dev;

#[derive(serde::Deserialize)]
pub(crate) struct TokenRequest {
    user_id: UserId,
    #[serde(deserialize_with = "de_string_or_number")]
    room_id: String,
}

pub(crate) fn minter(app: &App) -> &Minter {
    app.minter.as_ref().expect("the memory backend has a minter")
}

pub(crate) fn queue(app: &App) -> &Arc<dyn Queue> {
    app.queue.as_ref().expect("the memory backend has a queue")
}

/// A bad id is the caller's mistake (400, which the gem raises as an ArgumentError).
fn bad_ids(e: IdError) -> Response {
    ApiError::dev(StatusCode::BAD_REQUEST, e).into_response()
}

fn mint_error(e: MintError) -> Response {
    match e {
        MintError::Id(e) => bad_ids(e),
        e => ApiError::dev(StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

pub(crate) async fn mint(State(app): State<Arc<App>>, Dev(req): Dev<TokenRequest>) -> Response {
    match minter(&app).mint(&req.user_id, &req.room_id).await {
        Ok((c, jwt)) => Json(json!({ "token": jwt, "hex": c.token })).into_response(),
        Err(e) => mint_error(e),
    }
}

/// Revokes, then closes the user's sockets in the room through the queue, as the gem does on AWS.
pub(crate) async fn revoke(State(app): State<Arc<App>>, Dev(req): Dev<TokenRequest>) -> Response {
    match minter(&app)
        .revoke_and_disconnect(&**queue(&app), &req.user_id, &req.room_id)
        .await
    {
        Ok(revoked) => Json(json!({ "revoked": revoked })).into_response(),
        Err(RevokeError::Revoke(e)) => mint_error(e),
        Err(e) => ApiError::dev(StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

pub(crate) async fn disconnect(State(app): State<Arc<App>>, Dev(req): Dev<TokenRequest>) -> Response {
    if let Err(e) =
        ids::check_user("user_id", &req.user_id).and_then(|()| ids::check("room_id", &req.room_id))
    {
        return bad_ids(e);
    }
    let close = Control::disconnect(req.user_id.to_string(), &req.room_id, Some("disconnect"));
    match queue(&app).send_control(&close).await {
        Ok(id) => Json(json!({ "message_id": id })).into_response(),
        Err(e) => queue_error(e),
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct RoomRequest {
    #[serde(deserialize_with = "de_string_or_number")]
    room_id: String,
}

pub(crate) async fn presence(State(app): State<Arc<App>>, Dev(req): Dev<RoomRequest>) -> Response {
    if let Err(e) = ids::check("room_id", &req.room_id) {
        return bad_ids(e);
    }
    match hermes_core::handlers::presence(&*app.connections, &req.room_id).await {
        Ok((users, connections)) => {
            Json(json!({ "users": users, "connections": connections })).into_response()
        }
        Err(e) => ApiError::dev(StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

/// Where the room's history stands: what a page rendered now recovers from when its socket
/// opens (`recover` in docs/protocol.md).
pub(crate) async fn position(State(app): State<Arc<App>>, Dev(req): Dev<RoomRequest>) -> Response {
    if let Err(e) = ids::check("room_id", &req.room_id) {
        return bad_ids(e);
    }
    match app.history.position(&req.room_id).await {
        Ok(Some(c)) => Json(json!({ "seq": c.last_seq, "epoch": c.epoch })).into_response(),
        Ok(None) => Json(json!({ "seq": 0, "epoch": null })).into_response(),
        Err(e) => ApiError::dev(StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

pub(crate) async fn enqueue(State(app): State<Arc<App>>, Dev(n): Dev<Notification>) -> Response {
    if let Err(e) = ids::check_notification(&n) {
        return bad_ids(e);
    }
    match queue(&app).send(&n).await {
        Ok(id) => Json(json!({ "message_id": id })).into_response(),
        Err(e) => queue_error(e),
    }
}

pub(crate) async fn enqueue_batch(State(app): State<Arc<App>>, Dev(ns): Dev<Vec<Notification>>) -> Response {
    if let Err(e) = ns.iter().try_for_each(ids::check_notification) {
        return bad_ids(e);
    }
    match queue(&app).send_batch(&ns).await {
        Ok(ids) => Json(json!({ "message_ids": ids })).into_response(),
        Err(e) => queue_error(e),
    }
}

pub(crate) fn queue_error(e: QueueError) -> Response {
    let status = match e {
        QueueError::TooLarge(_) | QueueError::TooLargeAt { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::dev(status, e).into_response()
}
