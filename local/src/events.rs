//! The events API Gateway gives the handlers, built from what the gateway saw: the REQUEST
//! authorizer's event on `$connect`, and the WebSocket proxy events of `$connect`, routes
//! and `$disconnect`.

use std::collections::HashMap;
use std::time::SystemTime;

use hermes_core::events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayWebsocketProxyRequest,
};
use serde_json::json;

use crate::clock::millis;
use crate::state::App;

/// The client as API Gateway reports it in every event of its connection.
#[derive(Clone)]
pub(crate) struct Peer {
    pub connected_at: SystemTime,
    pub source_ip: String,
    pub user_agent: String,
}

impl App {
    /// The REQUEST authorizer's event for an upgrade to `connection_id`.
    pub fn authorizer_event(
        &self,
        connection_id: &str,
        query: &HashMap<String, String>,
    ) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
        let mut auth = ApiGatewayCustomAuthorizerRequestTypeRequest::default();
        auth.type_ = Some("REQUEST".into());
        auth.method_arn = Some(format!(
            "arn:aws:execute-api:{}:000000000000:hermeslocal/{}/$connect",
            self.region, self.opts.stage
        ));
        auth.query_string_parameters = query.clone().into();
        auth.request_context.stage = Some(self.opts.stage.clone());
        // WebSocket authorizer events carry these too; the REQUEST context type keeps them in `other`.
        let extra = &mut auth.request_context.other;
        extra.insert("connectionId".into(), json!(connection_id));
        extra.insert("domainName".into(), json!(self.addr.to_string()));
        extra.insert("routeKey".into(), json!("$connect"));
        extra.insert("eventType".into(), json!("CONNECT"));
        auth
    }

    /// A WebSocket proxy event: `route` is `$connect`, `$disconnect` or the selected route.
    pub fn ws_event(
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
        ctx.stage = Some(self.opts.stage.clone());
        ctx.domain_name = Some(self.addr.to_string());
        ctx.apiid = Some("hermeslocal".into());
        ctx.connected_at = millis(peer.connected_at);
        ctx.request_time_epoch = millis(SystemTime::now());
        ctx.request_id = Some(self.next_id());
        ctx.message_direction = Some("IN".into());
        ctx.identity.source_ip = Some(peer.source_ip.clone());
        ctx.identity.user_agent = Some(peer.user_agent.clone());
        ev
    }
}
