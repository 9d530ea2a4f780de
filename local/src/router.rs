//! Every path the gateway answers, and the handler behind it.

use std::sync::Arc;

use axum::routing::{any, get, post};
use axum::Router;

use crate::state::App;
use crate::{assets, dev, management, upgrade};

/// The clients' listener: everything.
pub(crate) fn router(app: Arc<App>) -> Router {
    // The demo page and its client (memory backend or not: harmless, static).
    let pages = assets::CLIENT.iter().fold(
        Router::new().route("/", get(assets::demo_page)),
        |r, (_, path, _)| r.route(path, get(assets::client_js)),
    );
    pages
        // Development endpoints: what the gem's `local` backend and the demo page call.
        .route("/_hermes/tokens", post(dev::mint).delete(dev::revoke))
        .route("/_hermes/notifications", post(dev::enqueue))
        .route("/_hermes/notifications/batch", post(dev::enqueue_batch))
        .route("/_hermes/disconnect", post(dev::disconnect))
        .route("/_hermes/presence", post(dev::presence))
        .route("/_hermes/position", post(dev::position))
        .route("/_hermes/streams/token", post(dev::streams::token))
        .route("/_hermes/streams/presence", post(dev::streams::presence))
        .route("/_hermes/streams/sign", post(dev::streams::sign))
        .route("/_hermes/console", get(dev::console::console))
        .route("/_hermes/metrics", get(dev::metrics::metrics))
        .route("/_hermes/broadcasts", post(dev::streams::broadcast))
        .route("/_hermes/broadcasts/batch", post(dev::streams::broadcast_batch))
        // The API Gateway surface: the WebSocket endpoint and the management API.
        .route("/{stage}", get(upgrade::upgrade))
        .route("/{stage}/@connections/{id}", any(management::manage))
        .with_state(app)
}

/// The gateway's own management client's listener: the management API alone.
pub(crate) fn management(app: Arc<App>) -> Router {
    Router::new()
        .route("/{stage}/@connections/{id}", any(management::manage))
        .with_state(app)
}
