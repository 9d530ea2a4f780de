//! `Dev<T>`: the JSON body of a development endpoint, accepted only from this machine and
//! only on the memory backend (on AWS, tokens and notifications come from the Rails app);
//! `DevRead`: the same checks for an endpoint that only reads (the console's `GET`).
//!
//! "From this machine": a loopback peer, a loopback `Host` and no `Origin` but a loopback page
//! (`loopback.rs` says why), and JSON (`Content-Type: application/json`, which a cross-origin
//! page cannot send without a preflight this gateway never answers). A `GET` needs no JSON: a
//! page of another host can make one (an `<img>` sends no `Origin`), but cannot read the
//! answer, which carries no CORS header.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Extensions, HeaderMap, StatusCode};

use crate::error::ApiError;
use crate::loopback::{same_machine, Stranger};
use crate::state::App;

pub(crate) struct Dev<T>(pub T);

/// A development endpoint that only reads (`GET`): the same checks as `Dev`, and no body.
pub(crate) struct DevRead;

/// Whether the request comes from this machine, on the memory backend.
fn admit(extensions: &Extensions, headers: &HeaderMap, app: &App) -> Result<(), ApiError> {
    let refuse = |status, msg: &str| Err(ApiError::dev(status, msg));
    let loopback_peer = extensions
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
    match same_machine(headers) {
        Ok(()) => Ok(()),
        Err(Stranger::Host) => refuse(
            StatusCode::FORBIDDEN,
            "development endpoints answer requests addressed to localhost or a loopback address only",
        ),
        Err(Stranger::Origin) => refuse(
            StatusCode::FORBIDDEN,
            "development endpoints refuse requests from web pages of other hosts",
        ),
    }
}

impl<T: serde::de::DeserializeOwned> FromRequest<Arc<App>> for Dev<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, ApiError> {
        admit(req.extensions(), req.headers(), app)?;
        if !is_json(req.headers()) {
            return Err(ApiError::dev(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "development endpoints take JSON: send Content-Type: application/json",
            ));
        }
        let body = Bytes::from_request(req, app)
            .await
            .map_err(|e| ApiError::dev(e.status(), e.body_text()))?;
        serde_json::from_slice(&body)
            .map(Dev)
            .map_err(|e| ApiError::dev(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
    }
}

impl FromRequestParts<Arc<App>> for DevRead {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        admit(&parts.extensions, &parts.headers, app).map(|()| DevRead)
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
