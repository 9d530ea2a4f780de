use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use serde_json::Value;

use super::response;
use crate::store::{Connection, ConnectionStore, CONNECTION_ROW_TTL_SECS};
use crate::token::now_secs;

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

/// `$connect`: records the connection with the room and user the authorizer vouched for.
pub async fn connect(
    store: &dyn ConnectionStore,
    req: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let Some(connection_id) = req.request_context.connection_id.clone() else {
        tracing::error!("connect event without requestContext.connectionId");
        return response(400, "missing connectionId");
    };
    let (Some(room_id), Some(user_id)) = (authorizer_field(req, "room_id"), authorizer_field(req, "user_id"))
    else {
        // Only reachable when the route was deployed without the authorizer.
        tracing::error!(
            connection_id,
            "connect event without authorizer context (room_id/user_id)"
        );
        return response(403, "missing authorizer context");
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

/// `$disconnect`: forgets the connection.
pub async fn disconnect(
    store: &dyn ConnectionStore,
    req: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let Some(connection_id) = req.request_context.connection_id.as_deref() else {
        tracing::error!("disconnect event without requestContext.connectionId");
        return response(400, "missing connectionId");
    };
    match store.delete(connection_id).await {
        Ok(_) => {
            tracing::info!(connection_id, "disconnected");
            response(200, "Disconnected.")
        }
        Err(e) => {
            tracing::error!(connection_id, error = %e, "disconnect failed");
            response(500, "Failed to disconnect.")
        }
    }
}
