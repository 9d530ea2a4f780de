//! `Dev<T>`: the JSON body of a development endpoint, accepted only from this machine and
//! only on the memory backend (on AWS, tokens and notifications come from the Rails app).
//!
//! "From this machine" is more than a loopback peer: a web page open in the developer's
//! browser is on this machine too. A page of another origin can send a simple (`text/plain`)
//! POST without a preflight (CSRF), and a DNS name its owner points at 127.0.0.1 makes the
//! browser send it as same-origin (DNS rebinding). So the request must also be addressed to a
//! loopback name (`Host`), come from no page or a loopback page (`Origin`), and carry JSON
//! (`Content-Type: application/json`, which a cross-origin page cannot send without a
//! preflight this gateway never answers).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};

use crate::error::ApiError;
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
        if let Err(why) = same_machine(req.headers()) {
            return refuse(StatusCode::FORBIDDEN, why);
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

/// `Host` names this machine, and `Origin`, when a browser sent one, is a page of this machine.
fn same_machine(headers: &HeaderMap) -> Result<(), &'static str> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if !host.is_some_and(is_loopback_authority) {
        return Err(
            "development endpoints answer requests addressed to localhost or a loopback address only",
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let page = origin
            .to_str()
            .ok()
            .and_then(|o| o.strip_prefix("http://").or_else(|| o.strip_prefix("https://")));
        if !page.is_some_and(is_loopback_authority) {
            return Err("development endpoints refuse requests from web pages of other hosts");
        }
    }
    Ok(())
}

/// `localhost`, `127.0.0.1`, `[::1]`..., with or without a port.
fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((ip, rest)) if rest.is_empty() || is_port(rest) => ip,
            _ => return false,
        },
        None => match authority.rsplit_once(':') {
            Some((h, port)) if is_port(&format!(":{port}")) => h,
            Some(_) => return false,
            None => authority,
        },
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_port(colon_port: &str) -> bool {
    colon_port
        .strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `application/json`, parameters (`; charset=utf-8`) allowed.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::is_loopback_authority as ok;

    #[test]
    fn loopback_names_only() {
        for yes in [
            "localhost",
            "LOCALHOST:3001",
            "127.0.0.1",
            "127.0.0.1:3001",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:3001",
        ] {
            assert!(ok(yes), "{yes}");
        }
        for no in [
            "evil.example",
            "evil.example:3001",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "10.0.0.1:3001",
            "[::2]:3001",
            "[::1]x",
            "localhost:",
            "localhost:abc",
            "",
        ] {
            assert!(!ok(no), "{no}");
        }
    }
}
