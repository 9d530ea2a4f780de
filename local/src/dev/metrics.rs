//! `GET /_hermes/metrics`: what the handlers counted since hermes-local started, in
//! Prometheus's text format: the figures the Lambdas print as EMF documents on AWS
//! (hermes_core::metrics), so a developer sees locally what the dashboard will show.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::guard::DevRead;
use crate::state::App;

/// Prometheus's text exposition format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) async fn metrics(State(app): State<Arc<App>>, _: DevRead) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], app.metrics.render()).into_response()
}
