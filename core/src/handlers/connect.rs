use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use serde_json::Value;

use super::response;
use crate::metrics::{names, Metrics};
use crate::store::{
    Connection, ConnectionStore, Deleted, StoreError, SubscriptionStore, CONNECTION_ROW_TTL_SECS,
};
use crate::token::{now_secs, STREAMS_SCOPE};

/// What the authorizer put in `requestContext.authorizer`. API Gateway flattens a Lambda
/// authorizer's context next to `principalId` in WebSocket events; HTTP APIs nest it under
/// `lambda`: both are read.
pub fn authorizer_field(req: &ApiGatewayWebsocketProxyRequest, name: &str) -> Option<String> {
    let a = &req.request_context.authorizer;
    let v = a.other.get(name).or_else(|| a.fields.get(name))?;
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `$connect`: records the connection with the room and user the authorizer vouched for, or
/// with neither for a socket of nobody (signed streams only).
pub async fn connect(
    store: &dyn ConnectionStore,
    req: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let Some(connection_id) = req.request_context.connection_id.clone() else {
        tracing::error!("connect event without requestContext.connectionId");
        return response(400, "missing connectionId");
    };
    let streams_only = authorizer_field(req, "scope").as_deref() == Some(STREAMS_SCOPE);
    let (room_id, user_id) = match (authorizer_field(req, "room_id"), authorizer_field(req, "user_id")) {
        (Some(room), Some(user)) => (room, user),
        (None, None) if streams_only => (String::new(), String::new()),
        _ => {
            // Only reachable when the route was deployed without the authorizer.
            tracing::error!(
                connection_id,
                "connect event without authorizer context (room_id/user_id)"
            );
            return response(403, "missing authorizer context");
        }
    };
    let connected_at = match req.request_context.connected_at {
        ms if ms > 0 => ms as u64 / 1000,
        _ => now_secs(),
    };
    let row = Connection {
        connection_id,
        room_id,
        user_id,
        connected_at,
        expires_at: connected_at + CONNECTION_ROW_TTL_SECS,
        streams: Vec::new(),
    };
    match store.put(&row).await {
        Ok(()) => {
            tracing::info!(
                connection_id = row.connection_id,
                room_id = row.room_id,
                user_id = row.user_id,
                "connected"
            );
            response(200, "Connected.")
        }
        Err(e) => {
            tracing::error!(connection_id = row.connection_id, error = %e, "connect failed");
            response(500, "Failed to connect.")
        }
    }
}

/// `connect`, counted in `metrics`: `Connects` for a recorded connection, `ConnectErrors`
/// otherwise.
pub async fn connect_measured(
    store: &dyn ConnectionStore,
    req: &ApiGatewayWebsocketProxyRequest,
    metrics: &Metrics,
) -> ApiGatewayProxyResponse {
    let r = connect(store, req).await;
    let metric = if r.status_code == 200 {
        names::CONNECTS
    } else {
        names::CONNECT_ERRORS
    };
    metrics.add(metric, 1);
    r
}

/// How long after its `$connect` a connection's row survives a 410: API Gateway answers 410 to
/// a post to a connection it has not established yet, and a fan-out reaching a page's socket
/// while its `$connect` runs must not delete the row the page is about to use (the page
/// recovers the frame it missed from the history once its socket opens).
pub const YOUNG_CONNECTION_SECS: u64 = 30;

/// Deletes a connection's row, then the subscriptions the row names: what `$disconnect` does.
/// Returns the row that was there.
pub async fn forget(
    connections: &dyn ConnectionStore,
    subscriptions: Option<&dyn SubscriptionStore>,
    connection_id: &str,
) -> Result<Option<Connection>, StoreError> {
    let row = connections.delete(connection_id).await?;
    forget_subscriptions(subscriptions, connection_id, row).await
}

/// What a 410 on a post does: `forget`, but a connection younger than
/// `YOUNG_CONNECTION_SECS` is kept (`Deleted::Kept`).
pub async fn forget_gone(
    connections: &dyn ConnectionStore,
    subscriptions: Option<&dyn SubscriptionStore>,
    connection_id: &str,
) -> Result<Deleted, StoreError> {
    let since = now_secs().saturating_sub(YOUNG_CONNECTION_SECS);
    match connections.delete_established(connection_id, since).await? {
        Deleted::Row(row) => Ok(forget_subscriptions(subscriptions, connection_id, Some(row))
            .await?
            .map_or(Deleted::NoRow, Deleted::Row)),
        other => Ok(other),
    }
}

async fn forget_subscriptions(
    subscriptions: Option<&dyn SubscriptionStore>,
    connection_id: &str,
    row: Option<Connection>,
) -> Result<Option<Connection>, StoreError> {
    if let (Some(row), Some(subscriptions)) = (row.as_ref().filter(|r| !r.streams.is_empty()), subscriptions)
    {
        subscriptions.delete(connection_id, &row.streams).await?;
    }
    Ok(row)
}

/// `$disconnect`: forgets the connection and its subscriptions.
pub async fn disconnect(
    connections: &dyn ConnectionStore,
    subscriptions: Option<&dyn SubscriptionStore>,
    req: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let Some(connection_id) = req.request_context.connection_id.as_deref() else {
        tracing::error!("disconnect event without requestContext.connectionId");
        return response(400, "missing connectionId");
    };
    match forget(connections, subscriptions, connection_id).await {
        Ok(row) => {
            let streams = row.map_or(0, |r| r.streams.len());
            tracing::info!(connection_id, streams, "disconnected");
            response(200, "Disconnected.")
        }
        Err(e) => {
            tracing::error!(connection_id, error = %e, "disconnect failed");
            response(500, "Failed to disconnect.")
        }
    }
}

/// `disconnect`, counted in `metrics`: `Disconnects` or `DisconnectErrors`.
pub async fn disconnect_measured(
    connections: &dyn ConnectionStore,
    subscriptions: Option<&dyn SubscriptionStore>,
    req: &ApiGatewayWebsocketProxyRequest,
    metrics: &Metrics,
) -> ApiGatewayProxyResponse {
    let r = disconnect(connections, subscriptions, req).await;
    let metric = if r.status_code == 200 {
        names::DISCONNECTS
    } else {
        names::DISCONNECT_ERRORS
    };
    metrics.add(metric, 1);
    r
}
