//! Frames from clients to the send handler: the route API Gateway would select
//! (`$request.body.action`), and a bound on the frames being handled, per socket and across
//! the gateway. A socket is read only while it has a share of its own left, so a client that
//! floods is held back by TCP (back-pressure); a frame it has read then waits for one of the
//! gateway's slots, one frame per socket at a time, first come first served, so other rooms
//! keep their turn. An idle socket holds none of the gateway's slots.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use hermes_core::metrics::{Function, Metrics};
use hermes_core::names::routes::ALL as ROUTES;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::peer::Peer;
use crate::state::App;

/// `$request.body.action`: the `action` of a JSON object body when it names a route, else
/// `$default`. Only that key is read; the rest (the data, however deeply nested) is skipped
/// without being built into values, so no nesting limit can change the route.
pub(crate) fn select_route(body: &str) -> &'static str {
    #[derive(serde::Deserialize)]
    struct Action<'a> {
        #[serde(borrow)]
        action: Option<Cow<'a, str>>,
    }
    // serde would also read a JSON array as a struct's fields in order; API Gateway would not.
    if !body.trim_start().starts_with('{') {
        return "$default";
    }
    let action = serde_json::from_str::<Action>(body).ok().and_then(|a| a.action);
    ROUTES
        .iter()
        .find(|r| action.as_deref() == Some(**r))
        .copied()
        .unwrap_or("$default")
}

/// One socket's frames being handled, of `Options::max_routes_per_connection`.
pub(crate) type SocketSlot = OwnedSemaphorePermit;
/// The gateway's frames being handled, of `Options::max_routes`.
pub(crate) type GatewaySlot = OwnedSemaphorePermit;

/// One socket's access to its own slots and the gateway's.
pub(crate) struct Dispatcher {
    socket: Arc<Semaphore>,
    gateway: Arc<Semaphore>,
}

impl Dispatcher {
    pub fn new(app: &App) -> Self {
        Dispatcher {
            socket: Arc::new(Semaphore::new(app.opts.max_routes_per_connection.max(1))),
            gateway: app.routes.clone(),
        }
    }

    /// Resolves when this socket may read one more frame.
    pub fn socket_slot(&self) -> impl Future<Output = SocketSlot> + Send + 'static {
        let socket = self.socket.clone();
        async move { socket.acquire_owned().await.expect("never closed") }
    }

    /// Resolves when the gateway can take one more frame.
    pub fn gateway_slot(&self) -> impl Future<Output = GatewaySlot> + Send + 'static {
        let gateway = self.gateway.clone();
        async move { gateway.acquire_owned().await.expect("never closed") }
    }
}

/// Hands one frame to the send handler, which holds both slots until it is done.
pub(crate) fn dispatch(
    app: &Arc<App>,
    slots: (SocketSlot, GatewaySlot),
    connection_id: &str,
    peer: &Peer,
    body: String,
) {
    let route = select_route(&body);
    let mut ev = app.events.websocket(connection_id, route, "MESSAGE", peer);
    ev.body = Some(body);
    ev.request_context.message_id = Some(app.ids.next());
    let app = app.clone();
    // The fan-out posts back to this server, this connection included: the socket's task
    // must not wait for it.
    tokio::spawn(async move {
        let metrics = Metrics::new();
        app.sender.handle_route_measured(&ev, None, &metrics).await;
        app.count(Function::Send, &metrics);
        drop(slots);
    });
}

#[cfg(test)]
mod tests {
    use super::select_route;

    #[test]
    fn route_is_the_action_key_only() {
        assert_eq!(
            select_route(r#"{"action":"sendMessage","data":1}"#),
            "sendMessage"
        );
        assert_eq!(
            select_route(r#"{"data":1, "action":"sendMessage"}"#),
            "sendMessage"
        );
        assert_eq!(
            select_route(r#"{"action":"recover","since":3,"epoch":"e"}"#),
            "recover"
        );
        assert_eq!(select_route(r#"{"action":"presence"}"#), "presence");
        assert_eq!(select_route(r#"{"action":"shout"}"#), "$default");
        assert_eq!(select_route(r#"{"action":5}"#), "$default");
        assert_eq!(select_route(r#"["sendMessage"]"#), "$default");
        assert_eq!(select_route("not json"), "$default");
        let deep = format!(
            r#"{{"action":"sendMessage","data":{}1{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert_eq!(
            select_route(&deep),
            "sendMessage",
            "nesting does not decide the route"
        );
    }
}
