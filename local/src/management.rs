//! The management API, as the send handler's SDK client calls it:
//! `POST|GET|DELETE /{stage}/@connections/{id}` (PostToConnection, GetConnection,
//! DeleteConnection), with API Gateway's answers (410 GoneException for a connection that is
//! gone or closing, 413 over the message limit).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::clock::iso8601;
use crate::error::ApiError;
use crate::state::App;

pub(crate) async fn manage(
    State(app): State<Arc<App>>,
    Path((stage, id)): Path<(String, String)>,
    method: Method,
    body: Bytes,
) -> Response {
    if stage != app.opts.stage {
        return ApiError::forbidden().into_response();
    }
    let Some(live) = app.live(&id) else {
        return ApiError::gone().into_response();
    };
    match method {
        Method::POST => {
            if body.len() > app.opts.max_message_bytes {
                return ApiError::too_large().into_response();
            }
            let text = Utf8Bytes::try_from(body.clone())
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned().into());
            match live.push(text) {
                Ok(()) => StatusCode::OK.into_response(),
                Err(_) => ApiError::gone().into_response(),
            }
        }
        Method::GET => Json(json!({
            "connectedAt": iso8601(live.peer.connected_at),
            "lastActiveAt": iso8601(*live.last_active.lock().unwrap()),
            "identity": { "sourceIp": live.peer.source_ip, "userAgent": live.peer.user_agent },
        }))
        .into_response(),
        Method::DELETE => {
            live.close(1000, "Normal closure");
            StatusCode::NO_CONTENT.into_response()
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}
