//! `Dev<T>`: the JSON body of a development endpoint, accepted only from this machine and
//! only on the memory backend (on AWS, tokens and notifications come from the Rails app).
//!
//! "From this machine": a loopback peer, a loopback `Host` and no `Origin` but a loopback page
//! (`loopback.rs` says why), and JSON (`Content-Type: application/json`, which a cross-origin
//! page cannot send without a preflight this gateway never answers).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};

use crate::error::ApiError;
use crate::loopback::{same_machine, Stranger};
use crate::state::App;

pub(crate) struct Dev<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequest<Arc<App>> for Dev<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, ApiError> {
        let refuse = |status, msg: &str| Err(ApiError::dev(status, msg));
        let loopback_peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|c| c.0.ip().is_loopback());
        if !loopback_peer {
            return refuse(
                StatusCode::FORBIDDEN,
                "development endpoints answer loopback only",
            );
        }
        if !app.memory {
            return refuse(
                StatusCode::NOT_FOUND,
                "development endpoints are served only on the memory backend",
            );
        }
        match same_machine(req.headers()) {
            Ok(()) => {}
            Err(Stranger::Host) => {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "development endpoints answer requests addressed to localhost or a loopback address only",
                )
            }
            Err(Stranger::Origin) => {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "development endpoints refuse requests from web pages of other hosts",
                )
            }
        }
        if !is_json(req.headers()) {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "development endpoints take JSON: send Content-Type: application/json",
            );
        }
        let body = Bytes::from_request(req, app)
            .await
            .map_err(|e| ApiError::dev(e.status(), e.body_text()))?;
        serde_json::from_slice(&body)
            .map(Dev)
            .map_err(|e| ApiError::dev(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
    }
}

/// `application/json`, parameters (`; charset=utf-8`) allowed.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}
