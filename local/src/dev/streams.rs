//! The development endpoints of streams: `POST /_hermes/streams/token` (the token of a page
//! where nobody is signed in), `POST /_hermes/broadcasts[/batch]` (`{"stream", "data"}`: what
//! `Hermes.broadcast` queues), `POST /_hermes/streams/presence` (`{"stream"}` → `{"users",
//! "connections"}`) and `POST /_hermes/streams/sign` (`{"stream"}` → `{"signed"}`: the name
//! signed with the development key, for the console to subscribe with, as a Rails view would
//! render it).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hermes_core::frame::Broadcast;
use hermes_core::stream_name::check_name;
use serde_json::json;

use super::guard::Dev;
use super::{minter, queue, queue_error};
use crate::error::ApiError;
use crate::state::App;

fn bad_name(e: hermes_core::stream_name::StreamNameError) -> Response {
    ApiError::dev(StatusCode::BAD_REQUEST, e).into_response()
}

pub(crate) async fn token(State(app): State<Arc<App>>, Dev(_): Dev<serde_json::Value>) -> Response {
    match minter(&app).mint_streams().await {
        Ok(jwt) => Json(json!({ "token": jwt })).into_response(),
        Err(e) => ApiError::dev(StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

pub(crate) async fn broadcast(State(app): State<Arc<App>>, Dev(b): Dev<Broadcast>) -> Response {
    if let Err(e) = check_name(&b.stream) {
        return bad_name(e);
    }
    match queue(&app).send_broadcasts(std::slice::from_ref(&b)).await {
        Ok(ids) => Json(json!({ "message_id": ids[0] })).into_response(),
        Err(e) => queue_error(e),
    }
}

pub(crate) async fn broadcast_batch(State(app): State<Arc<App>>, Dev(bs): Dev<Vec<Broadcast>>) -> Response {
    if let Err(e) = bs.iter().try_for_each(|b| check_name(&b.stream)) {
        return bad_name(e);
    }
    match queue(&app).send_broadcasts(&bs).await {
        Ok(ids) => Json(json!({ "message_ids": ids })).into_response(),
        Err(e) => queue_error(e),
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct StreamRequest {
    stream: String,
}

pub(crate) async fn presence(State(app): State<Arc<App>>, Dev(req): Dev<StreamRequest>) -> Response {
    if let Err(e) = check_name(&req.stream) {
        return bad_name(e);
    }
    match app.subscriptions.all(&req.stream).await {
        Ok(members) => {
            let connections = members.len();
            let users: std::collections::BTreeSet<String> = members
                .into_iter()
                .map(|m| m.user_id)
                .filter(|u| !u.is_empty())
                .collect();
            Json(json!({ "users": users, "connections": connections })).into_response()
        }
        Err(e) => ApiError::dev(StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

/// The memory backend's key is the development key, public by design (the gem's `local`
/// backend signs with it too): signing for any page of this machine gives nothing away.
pub(crate) async fn sign(State(app): State<Arc<App>>, Dev(req): Dev<StreamRequest>) -> Response {
    let key = app
        .stream_key
        .as_ref()
        .expect("the memory backend has a stream key");
    match key.sign(&req.stream) {
        Ok(signed) => Json(json!({ "signed": signed })).into_response(),
        Err(e) => bad_name(e),
    }
}
