//! The demo page (a console of the gateway, fed by `dev/console.rs`) and the browser client it
//! loads (vendor/javascript/hermes.js, the file the gem ships), compiled into the binary.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

use crate::state::App;

pub(crate) async fn demo_page(State(app): State<Arc<App>>) -> Response {
    // The page imports the client by its import map entry, as an app's pages do.
    let map = r#"{"imports":{"hermes":"/hermes.js"}}"#;
    Html(
        include_str!("demo.html")
            .replace("__IMPORTMAP__", map)
            .replace("__STAGE__", &app.opts.stage)
            .replace("__MEMORY__", if app.memory { "true" } else { "false" }),
    )
    .into_response()
}

pub(crate) async fn client_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../vendor/javascript/hermes.js"),
    )
        .into_response()
}
