//! `$connect`: the upgrade request runs the authorizer, then the connect handler, with the
//! events API Gateway would send, and is refused the way API Gateway refuses (401 without a
//! token, 403 when the authorizer denies, 429 over the connection limit).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hermes_core::events::iam::IamPolicyEffect;
use hermes_core::handlers::connect_measured;
use hermes_core::metrics::{Function, Metrics};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::peer::Peer;
use crate::socket::run_socket;
use crate::state::App;

pub(crate) async fn upgrade(
    State(app): State<Arc<App>>,
    Path(stage): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if stage != app.opts.stage {
        return ApiError::forbidden().into_response();
    }
    let Ok(ws) = ws else {
        return (StatusCode::UPGRADE_REQUIRED, "WebSocket upgrade required").into_response();
    };
    // API Gateway answers 401 itself when the identity source is missing.
    if query.get("token").is_none_or(|t| t.is_empty()) {
        return ApiError::unauthorized().into_response();
    }
    // Reserved before anything is awaited, held by the socket until its `$disconnect`.
    let Some(slot) = app.sockets.reserve() else {
        tracing::warn!(
            limit = app.opts.max_connections,
            "connection limit reached: upgrade refused"
        );
        return ApiError::limit_exceeded().into_response();
    };
    let connection_id = app.ids.next();
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let client = Peer {
        connected_at: SystemTime::now(),
        source_ip: peer.ip().to_string(),
        user_agent,
    };

    let metrics = Metrics::new();
    let policy = app
        .authorizer
        .handle_measured(&app.events.authorizer(&connection_id, &query), &metrics)
        .await;
    app.count(Function::Authorizer, &metrics);
    if policy.policy_document.statement.first().map(|s| &s.effect) != Some(&IamPolicyEffect::Allow) {
        return ApiError::forbidden().into_response();
    }

    let mut ev = app
        .events
        .websocket(&connection_id, "$connect", "CONNECT", &client);
    ev.query_string_parameters = query.into();
    let a = &mut ev.request_context.authorizer;
    a.other.insert("principalId".into(), json!(policy.principal_id));
    if let Value::Object(ctx) = &policy.context {
        for (k, v) in ctx {
            a.other.insert(k.clone(), v.clone());
        }
    }
    let resp = connect_measured(&*app.connections, &ev, &metrics).await;
    app.count(Function::Connect, &metrics);
    if resp.status_code != 200 {
        return (StatusCode::INTERNAL_SERVER_ERROR, "connect failed").into_response();
    }
    // tungstenite reserves 128 KiB read and write buffers per socket by default: 2.7 GB for
    // 10,000 idle browsers. Frames are at most 32 KiB, so small buffers that grow on demand
    // keep an idle connection to a few KiB.
    // API Gateway's two limits: each frame 32 KB, a message (frames up to the final one) 128 KB.
    // tungstenite enforces both as it reads; run_socket turns the error into close 1009.
    ws.max_frame_size(app.opts.max_frame_bytes)
        .max_message_size(app.opts.max_message_bytes)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| run_socket(app, slot, connection_id, client, socket))
}
