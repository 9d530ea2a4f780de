//! The management API, as the send handler's SDK client calls it:
//! `POST|GET|DELETE /{stage}/@connections/{id}` (PostToConnection, GetConnection,
//! DeleteConnection), with API Gateway's answers (410 GoneException for a connection that is
//! gone or closing, 413 over the message limit).
//!
//! Only the send handler's client may call it: a web page in the developer's browser that
//! learnt a connection id must not post to or close that socket. So, as for the development
//! endpoints, the request must be addressed to a loopback name and come from no page of
//! another host (`loopback.rs`), and it must carry a SigV4 `Authorization` header, as every
//! SDK client and the lean post sign theirs. The signature is not checked (there is no AWS
//! account to check it against): the header's shape is what a browser cannot send. A page
//! cannot set `Authorization` on a simple request, and a cross-origin one would need a
//! preflight this server never grants (no CORS headers).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::clock::iso8601;
use crate::error::ApiError;
use crate::loopback::{same_machine, Stranger};
use crate::sockets::PostRefused;
use crate::state::App;

/// The scheme every SigV4-signed request names first in `Authorization`.
const SIGV4: &str = "AWS4-HMAC-SHA256 ";

/// Why a request is not the send handler's own, in API Gateway's words where it has them.
fn refusal(headers: &HeaderMap) -> Option<ApiError> {
    let forbidden = |why| ApiError::aws(StatusCode::FORBIDDEN, "ForbiddenException", Some(why));
    match same_machine(headers) {
        Ok(()) => {}
        Err(Stranger::Host) => {
            return Some(forbidden(
                "the management API answers requests addressed to localhost or a loopback address only",
            ))
        }
        Err(Stranger::Origin) => {
            return Some(forbidden("the management API refuses requests from web pages"))
        }
    }
    let signed = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(SIGV4) && v.contains("Credential=") && v.contains("Signature="));
    (!signed).then(|| {
        ApiError::aws(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationTokenException",
            Some("Missing Authentication Token: sign the request with SigV4, as the AWS SDK does"),
        )
    })
}

pub(crate) async fn manage(
    State(app): State<Arc<App>>,
    Path((stage, id)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refused) = refusal(&headers) {
        return refused.into_response();
    }
    if stage != app.opts.stage {
        return ApiError::forbidden().into_response();
    }
    let Some(live) = app.sockets.get(&id) else {
        return ApiError::gone().into_response();
    };
    match method {
        Method::POST => {
            if body.len() > app.opts.max_message_bytes {
                return ApiError::too_large().into_response();
            }
            let text = Utf8Bytes::try_from(body.clone())
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned().into());
            // For the console (`frames.rs`): a copy of the frame's first bytes, not the frame.
            let shown = text.clone();
            let answer = match app.sockets.post(&live, text) {
                Ok(()) => StatusCode::OK.into_response(),
                Err(PostRefused::Gone) => ApiError::gone().into_response(),
                Err(PostRefused::Throttled) => ApiError::limit_exceeded().into_response(),
            };
            app.frames.record(&id, shown.as_str(), answer.status().as_u16());
            answer
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
