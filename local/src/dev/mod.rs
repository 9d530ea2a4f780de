//! Development endpoints on the memory backend: what the gem's `local` backend
//! (lib/hermes/local_backend.rb) and the demo page call instead of DynamoDB and SQS.
//!
//! `POST /_hermes/tokens` mints (`{"token", "hex"}`), `DELETE /_hermes/tokens` revokes (and
//! closes the user's sockets in the room), `POST /_hermes/notifications[/batch]` enqueues,
//! `POST /_hermes/disconnect` closes a user's sockets in a room, `POST /_hermes/presence` lists
//! a room's users, `POST /_hermes/position` tells where a room's history stands (`{"seq",
//! "epoch"}`, epoch `null` for a room without messages yet). Bodies are JSON; errors are `{"error": "..."}`. `guard.rs` decides who may
//! call them.

mod guard;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hermes_core::frame::Control;
use hermes_core::queue::{Queue, QueueError};
use hermes_core::token::de_string_or_number;
use hermes_core::{Minter, Notification, UserId};
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

fn minter(app: &App) -> &Minter {
    app.minter.as_ref().expect("the memory backend has a minter")
}

fn queue(app: &App) -> &Arc<dyn Queue> {
    app.queue.as_ref().expect("the memory backend has a queue")
}

pub(crate) async fn mint(State(app): State<Arc<App>>, Dev(req): Dev<TokenRequest>) -> Response {
    match minter(&app).mint(&req.user_id, &req.room_id).await {
        Ok((c, jwt)) => Json(json!({ "token": jwt, "hex": c.token })).into_response(),
        Err(e) => ApiError::dev(StatusCode::BAD_REQUEST, e).into_response(),
    }
}

/// Revokes, then closes the user's sockets in the room through the queue, as the gem does on AWS.
pub(crate) async fn revoke(State(app): State<Arc<App>>, Dev(req): Dev<TokenRequest>) -> Response {
    let revoked = match minter(&app).revoke(&req.user_id, &req.room_id).await {
        Ok(r) => r,
        Err(e) => return ApiError::dev(StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    };
    let close = Control::disconnect(req.user_id.to_string(), &req.room_id, Some("revoked"));
    match queue(&app).send_control(&close).await {
        Ok(id) => Json(json!({ "revoked": revoked, "message_id": id })).into_response(),
        Err(e) => queue_error(e),
    }
}

pub(crate) async fn disconnect(State(app): State<Arc<App>>, Dev(req): Dev<TokenRequest>) -> Response {
    let close = Control::disconnect(req.user_id.to_string(), &req.room_id, Some("disconnect"));
    if let Err(e) = close.check() {
        return ApiError::dev(StatusCode::BAD_REQUEST, e).into_response();
    }
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
    match hermes_core::handlers::presence(&*app.connections, &req.room_id).await {
        Ok((users, connections)) => {
            Json(json!({ "users": users, "connections": connections })).into_response()
        }
        Err(e) => ApiError::dev(StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

/// Where the room's history stands: what a page rendered now recovers from when its socket
/// opens (SPEC §7 `recover`).
pub(crate) async fn position(State(app): State<Arc<App>>, Dev(req): Dev<RoomRequest>) -> Response {
    match app.history.position(&req.room_id).await {
        Ok(Some(c)) => Json(json!({ "seq": c.last_seq, "epoch": c.epoch })).into_response(),
        Ok(None) => Json(json!({ "seq": 0, "epoch": null })).into_response(),
        Err(e) => ApiError::dev(StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

pub(crate) async fn enqueue(State(app): State<Arc<App>>, Dev(n): Dev<Notification>) -> Response {
    match queue(&app).send(&n).await {
        Ok(id) => Json(json!({ "message_id": id })).into_response(),
        Err(e) => queue_error(e),
    }
}

pub(crate) async fn enqueue_batch(State(app): State<Arc<App>>, Dev(ns): Dev<Vec<Notification>>) -> Response {
    match queue(&app).send_batch(&ns).await {
        Ok(ids) => Json(json!({ "message_ids": ids })).into_response(),
        Err(e) => queue_error(e),
    }
}

fn queue_error(e: QueueError) -> Response {
    let status = match e {
        QueueError::TooLarge(_) | QueueError::TooLargeAt { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::dev(status, e).into_response()
}
