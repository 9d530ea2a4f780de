//! Development endpoints on the memory backend: what the gem's `local` backend
//! (lib/hermes/local_backend.rb) and the demo page call instead of DynamoDB and SQS.
//!
//! `POST /_hermes/tokens` mints (`{"token", "hex"}`), `DELETE /_hermes/tokens` revokes,
//! `POST /_hermes/notifications[/batch]` enqueues. Bodies are JSON; errors are
//! `{"error": "..."}`. `guard.rs` decides who may call them.

mod guard;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
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

pub(crate) async fn revoke(State(app): State<Arc<App>>, Dev(req): Dev<TokenRequest>) -> Response {
    match minter(&app).revoke(&req.user_id, &req.room_id).await {
        Ok(revoked) => Json(json!({ "revoked": revoked })).into_response(),
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
