//! How a signed post reaches the management API: a pooled keep-alive hyper client over
//! rustls with the system's root certificates, behind a trait benchmarks and tests replace.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// What one attempt got back: the status, API Gateway's `x-amzn-ErrorType`, and the body
/// (read to its end, so the connection goes back to the pool).
pub struct Answer {
    pub status: StatusCode,
    pub error_type: Option<HeaderValue>,
    pub body: Bytes,
}

pub type TransportFuture = Pin<Box<dyn Future<Output = Result<Answer, String>> + Send>>;

/// Carries a signed request. [`HyperTransport`] in production; benchmarks put an in-process
/// answer here to time the post's own work.
pub trait Transport: Send + Sync + 'static {
    fn send(&self, request: Request<Full<Bytes>>) -> TransportFuture;
}

/// Error bodies are a few dozen bytes; a longer one is cut rather than buffered.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// A pooled keep-alive client: HTTP/1.1 on plain http (the local gateway), HTTP/2 when a TLS
/// endpoint offers it by ALPN (one multiplexed connection instead of one per post in flight).
#[derive(Clone)]
pub struct HyperTransport {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HyperTransport {
    /// The system's root certificates, as the SDK's default HTTPS client uses.
    pub fn new(connect_timeout: Duration) -> Result<Self, String> {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(native_roots())
        .with_no_client_auth();
        Ok(Self::with_tls(tls, connect_timeout))
    }

    /// With a TLS configuration of the caller's (tests trust their own loopback certificate).
    pub fn with_tls(tls: rustls::ClientConfig, connect_timeout: Duration) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        // Posts are small and latency-bound: no Nagle delay waiting for an ACK.
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(50))
            .build(https);
        HyperTransport { client }
    }
}

fn native_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs_load();
    let (_valid, _invalid) = roots.add_parsable_certificates(found);
    roots
}

fn rustls_native_certs_load() -> Vec<rustls::pki_types::CertificateDer<'static>> {
    let r = rustls_native_certs::load_native_certs();
    if !r.errors.is_empty() {
        tracing::warn!(
            errors = r.errors.len(),
            "some system root certificates did not load"
        );
    }
    r.certs
}

impl Transport for HyperTransport {
    fn send(&self, request: Request<Full<Bytes>>) -> TransportFuture {
        let fut = self.client.request(request);
        Box::pin(async move {
            let resp = fut.await.map_err(|e| transport_error(&e))?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, MAX_ERROR_BODY)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok(Answer {
                status: parts.status,
                error_type: parts.headers.get("x-amzn-errortype").cloned(),
                body,
            })
        })
    }
}

/// The error and its causes (hyper's own Display is only the outermost, e.g. "client error").
fn transport_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
