//! The events API Gateway gives the handlers, built from what the gateway saw: the REQUEST
//! authorizer's event on `$connect`, and the WebSocket proxy events of `$connect`, routes
//! and `$disconnect`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use hermes_core::events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayWebsocketProxyRequest,
};
use serde_json::json;

use crate::clock::millis;
use crate::ids::Ids;
use crate::peer::Peer;

/// What every event of this gateway says about the API: its stage, address and region.
pub(crate) struct Events {
    stage: String,
    domain_name: String,
    region: String,
    /// Each event gets a fresh `requestId`.
    ids: Arc<Ids>,
}

impl Events {
    pub fn new(stage: &str, addr: SocketAddr, region: &str, ids: Arc<Ids>) -> Self {
        Events {
            stage: stage.to_owned(),
            domain_name: addr.to_string(),
            region: region.to_owned(),
            ids,
        }
    }

    /// The REQUEST authorizer's event for an upgrade to `connection_id`.
    pub fn authorizer(
        &self,
        connection_id: &str,
        query: &HashMap<String, String>,
    ) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
        let mut auth = ApiGatewayCustomAuthorizerRequestTypeRequest::default();
        auth.type_ = Some("REQUEST".into());
        auth.method_arn = Some(format!(
            "arn:aws:execute-api:{}:000000000000:hermeslocal/{}/$connect",
            self.region, self.stage
        ));
        auth.query_string_parameters = query.clone().into();
        auth.request_context.stage = Some(self.stage.clone());
        // WebSocket authorizer events carry these too; the REQUEST context type keeps them in `other`.
        let extra = &mut auth.request_context.other;
        extra.insert("connectionId".into(), json!(connection_id));
        extra.insert("domainName".into(), json!(self.domain_name));
        extra.insert("routeKey".into(), json!("$connect"));
        extra.insert("eventType".into(), json!("CONNECT"));
        auth
    }

    /// A WebSocket proxy event: `route` is `$connect`, `$disconnect` or the selected route.
    pub fn websocket(
        &self,
        connection_id: &str,
        route: &str,
        event_type: &str,
        peer: &Peer,
    ) -> ApiGatewayWebsocketProxyRequest {
        let mut ev = ApiGatewayWebsocketProxyRequest::default();
        let ctx = &mut ev.request_context;
        ctx.connection_id = Some(connection_id.to_owned());
        ctx.route_key = Some(route.to_owned());
        ctx.event_type = Some(event_type.to_owned());
        ctx.stage = Some(self.stage.clone());
        ctx.domain_name = Some(self.domain_name.clone());
        ctx.apiid = Some("hermeslocal".into());
        ctx.connected_at = millis(peer.connected_at);
        ctx.request_time_epoch = millis(SystemTime::now());
        ctx.request_id = Some(self.ids.next());
        ctx.message_direction = Some("IN".into());
        ctx.identity.source_ip = Some(peer.source_ip.clone());
        ctx.identity.user_agent = Some(peer.user_agent.clone());
        ev
    }
}
