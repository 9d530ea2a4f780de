//! PostToConnection without the SDK's per-call orchestration.
//!
//! The SDK client spends 22 µs of CPU on each PostToConnection before any byte reaches the
//! network (endpoint rules, interceptors, retry and timeout layers, and a fresh SigV4 key
//! derivation; `cargo bench --bench core`, `sdk_post_to_connection_no_network`), which is most
//! of a 10,000-connection fan-out's budget on two cores. A post is one fixed request shape, so
//! this client builds it directly: signed by [`super::sigv4`] (aws-sigv4 with the key kept),
//! credentials from the SDK's own identity cache over aws-config's provider chain (refreshed
//! before they expire, like every SDK client's), sent over a pooled keep-alive hyper client
//! (HTTP/2 when TLS negotiates it). Outcomes are the SDK's: 410 final, 429 and 5xx retried with
//! exponential backoff and jitter, other 4xx not retried, a timeout on every attempt.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_smithy_async::rt::sleep::{default_async_sleep, AsyncSleep, SharedAsyncSleep};
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource};
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime::client::orchestrator::endpoints::StaticUriEndpointResolver;
use aws_smithy_runtime::client::retries::strategy::NeverRetryStrategy;
use aws_smithy_runtime_api::client::auth::static_resolver::StaticAuthSchemeOptionResolver;
use aws_smithy_runtime_api::client::identity::{
    ResolveCachedIdentity, SharedIdentityCache, SharedIdentityResolver,
};
use aws_smithy_runtime_api::client::runtime_components::{RuntimeComponents, RuntimeComponentsBuilder};
use aws_smithy_types::config_bag::ConfigBag;
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::sigv4::{self, Signer};
use super::PushError;

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

/// Credentials through the SDK's own identity cache (the `LazyCache` every SDK client uses)
/// over the configured provider (aws-config's chain): loaded once, reloaded shortly before
/// they expire, and shared by every post.
struct CredentialSource {
    cache: SharedIdentityCache,
    resolver: SharedIdentityResolver,
    components: RuntimeComponents,
    bag: ConfigBag,
}

impl CredentialSource {
    fn new(
        sdk: &SdkConfig,
        time: SharedTimeSource,
        sleep: SharedAsyncSleep,
        endpoint: &str,
    ) -> Result<Self, String> {
        let provider = sdk
            .credentials_provider()
            .ok_or("no AWS credentials provider configured")?;
        let cache = sdk
            .identity_cache()
            .unwrap_or_else(|| IdentityCache::lazy().build());
        let resolver = SharedIdentityResolver::new(provider);
        // The cache reads only the time source and the sleep; a RuntimeComponents must name
        // the rest too, so they are the real ones a SigV4 client of this endpoint would have.
        let scheme = aws_runtime::auth::sigv4::SCHEME_ID;
        let components = RuntimeComponentsBuilder::new("hermes lean post")
            .with_time_source(Some(time))
            .with_sleep_impl(Some(sleep))
            .with_identity_cache(Some(cache.clone()))
            .with_identity_resolver(scheme.clone(), resolver.clone())
            .with_auth_scheme(aws_runtime::auth::sigv4::SigV4AuthScheme::new())
            .with_auth_scheme_option_resolver(Some(StaticAuthSchemeOptionResolver::new(vec![scheme])))
            .with_endpoint_resolver(Some(StaticUriEndpointResolver::uri(endpoint)))
            .with_retry_strategy(Some(NeverRetryStrategy::new()))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(CredentialSource {
            cache,
            resolver,
            components,
            bag: ConfigBag::base(),
        })
    }

    async fn get(&self) -> Result<Credentials, PushError> {
        let identity = self
            .cache
            .resolve_cached_identity(self.resolver.clone(), &self.components, &self.bag)
            .await
            .map_err(|e| PushError::Unavailable(format!("loading AWS credentials failed: {e}")))?;
        identity
            .data::<Credentials>()
            .cloned()
            .ok_or_else(|| PushError::Misconfigured("the identity resolver gave no AWS credentials".into()))
    }
}

/// Attempts, backoff and timeouts: the values `crate::aws::sdk_config` gives the SDK clients.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: crate::aws::MAX_ATTEMPTS,
            initial_backoff: crate::aws::INITIAL_BACKOFF,
            max_backoff: Duration::from_secs(2),
            attempt_timeout: crate::aws::ATTEMPT_TIMEOUT,
        }
    }
}

impl RetryPolicy {
    /// Before attempt `attempt + 1`: exponential, with jitter over its upper half so retries
    /// from one fan-out spread out instead of arriving together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_backoff);
        exp.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// The parts of the management endpoint every post reuses.
#[derive(Debug)]
struct Endpoint {
    /// `https://abc.execute-api.eu-west-1.amazonaws.com`
    origin: String,
    /// `/production` (no trailing slash; may be empty)
    stage_path: String,
    /// Host as sent: the port only when it is not the scheme's default.
    host: String,
}

fn parse_endpoint(endpoint: &str) -> Result<Endpoint, String> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e| format!("management endpoint {endpoint:?} is not a URL: {e}"))?;
    let scheme = uri.scheme_str().unwrap_or("");
    if scheme != "https" && scheme != "http" {
        return Err(format!(
            "management endpoint {endpoint:?} must start with https:// or http://"
        ));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| format!("management endpoint {endpoint:?} has no host"))?;
    let default_port = if scheme == "https" { 443 } else { 80 };
    let host = match authority.port_u16() {
        Some(p) if p != default_port => format!("{}:{p}", authority.host()),
        _ => authority.host().to_owned(),
    };
    Ok(Endpoint {
        origin: format!("{scheme}://{host}"),
        stage_path: uri.path().trim_end_matches('/').to_owned(),
        host,
    })
}

/// PostToConnection for one management endpoint.
pub struct LeanPoster {
    transport: Arc<dyn Transport>,
    endpoint: Endpoint,
    signer: Signer,
    credentials: CredentialSource,
    time: SharedTimeSource,
    sleep: SharedAsyncSleep,
    policy: RetryPolicy,
    /// Until a first post has opened a connection, posts go one at a time: with HTTP/2 the
    /// rest then share that connection instead of each opening its own in the first burst.
    connected: AtomicBool,
    first: tokio::sync::Mutex<()>,
}

impl LeanPoster {
    /// Region, credentials and time source come from `sdk`, as an SDK client's would.
    pub fn new(sdk: &SdkConfig, endpoint: &str, transport: Arc<dyn Transport>) -> Result<Self, String> {
        let region = sdk
            .region()
            .map(|r| r.as_ref().to_owned())
            .ok_or("no AWS region configured (AWS_REGION)")?;
        let time = sdk
            .time_source()
            .unwrap_or_else(|| SharedTimeSource::new(SystemTimeSource::new()));
        let sleep = sdk
            .sleep_impl()
            .or_else(default_async_sleep)
            .ok_or("no async sleep (tokio) available")?;
        Ok(LeanPoster {
            credentials: CredentialSource::new(sdk, time.clone(), sleep.clone(), endpoint)?,
            endpoint: parse_endpoint(endpoint)?,
            signer: Signer::new(region),
            transport,
            time,
            sleep,
            policy: RetryPolicy::default(),
            connected: AtomicBool::new(false),
            first: tokio::sync::Mutex::new(()),
        })
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// One attempt, bounded by the attempt timeout; no retry.
    pub async fn attempt(&self, connection_id: &str, body: Bytes) -> Result<(), PushError> {
        let t = self.policy.attempt_timeout;
        let _first = if self.connected.load(Ordering::Acquire) {
            None
        } else {
            Some(self.first.lock().await)
        };
        let r = match tokio::time::timeout(t, self.attempt_unbounded(connection_id, body)).await {
            Ok(r) => r,
            Err(_) => Err(PushError::Unavailable(format!("no answer within {t:?}"))),
        };
        // Any answer from the endpoint means a pooled connection now exists.
        if !matches!(r, Err(PushError::Unavailable(_) | PushError::Misconfigured(_))) {
            self.connected.store(true, Ordering::Release);
        }
        r
    }

    async fn attempt_unbounded(&self, connection_id: &str, body: Bytes) -> Result<(), PushError> {
        let creds = self.credentials.get().await?;
        let mut path = String::with_capacity(self.endpoint.stage_path.len() + 14 + connection_id.len() + 8);
        path.push_str(&self.endpoint.stage_path);
        path.push_str("/@connections/");
        sigv4::encode_into(connection_id, false, |s| path.push_str(s));
        let sig = self
            .signer
            .sign(&creds, self.time.now(), &self.endpoint.host, &path, &body);
        let mut req = Request::post(format!("{}{path}", self.endpoint.origin))
            .header(http::header::CONTENT_TYPE, sigv4::CONTENT_TYPE)
            .header("x-amz-date", sig.amz_date)
            .header(http::header::AUTHORIZATION, sig.authorization);
        if let Some(token) = creds.session_token() {
            req = req.header("x-amz-security-token", token);
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| PushError::Misconfigured(format!("building the request failed: {e}")))?;
        let answer = self.transport.send(req).await.map_err(PushError::Unavailable)?;
        classify(&answer)
    }

    /// Attempts until success, a final answer, or the policy's last attempt.
    pub async fn post(&self, connection_id: &str, body: Bytes) -> Result<(), PushError> {
        let mut attempt = 1;
        loop {
            match self.attempt(connection_id, body.clone()).await {
                Err(e) if e.is_retryable() && attempt < self.policy.max_attempts => {
                    self.sleep.sleep(self.policy.backoff(attempt)).await;
                    attempt += 1;
                }
                r => return r,
            }
        }
    }
}

/// API Gateway's answers, mapped as the SDK client's errors were (see `ApiGwPusher` history).
fn classify(a: &Answer) -> Result<(), PushError> {
    if a.status.is_success() {
        return Ok(());
    }
    // `x-amzn-ErrorType` may carry a `:`-separated suffix after the code.
    let code = a
        .error_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v))
        .unwrap_or("");
    let message = error_message(a.status, code, &a.body);
    match a.status.as_u16() {
        410 => Err(PushError::Gone),
        _ if code == "GoneException" => Err(PushError::Gone),
        429 => Err(PushError::Throttled(message)),
        _ if code == "LimitExceededException" => Err(PushError::Throttled(message)),
        s @ 400..=499 => Err(PushError::Rejected { status: s, message }),
        _ => Err(PushError::Unavailable(message)),
    }
}

fn error_message(status: StatusCode, code: &str, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        #[serde(alias = "Message")]
        message: Option<String>,
    }
    let detail = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.message)
        .unwrap_or_default();
    let code = if code.is_empty() { "error" } else { code };
    if detail.is_empty() {
        format!("{code} (HTTP {})", status.as_u16())
    } else {
        format!("{code} (HTTP {}): {detail}", status.as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, kind: Option<&str>, body: &str) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            error_type: kind.map(|k| HeaderValue::from_str(k).unwrap()),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn answers_map_like_the_sdk_errors() {
        assert_eq!(classify(&answer(200, None, "")), Ok(()));
        assert_eq!(classify(&answer(410, None, "")), Err(PushError::Gone));
        assert_eq!(
            classify(&answer(400, Some("GoneException:http://internal/"), "")),
            Err(PushError::Gone)
        );
        assert!(matches!(
            classify(&answer(429, Some("LimitExceededException"), r#"{"message":"slow down"}"#)),
            Err(PushError::Throttled(m)) if m == "LimitExceededException (HTTP 429): slow down"
        ));
        assert!(matches!(
            classify(&answer(403, Some("ForbiddenException"), r#"{"Message":"no"}"#)),
            Err(PushError::Rejected { status: 403, .. })
        ));
        assert!(matches!(
            classify(&answer(503, None, "<html>")),
            Err(PushError::Unavailable(_))
        ));
    }

    #[test]
    fn endpoints_keep_the_stage_and_drop_default_ports() {
        let e = parse_endpoint("https://abc.execute-api.eu-west-1.amazonaws.com:443/production/").unwrap();
        assert_eq!(e.origin, "https://abc.execute-api.eu-west-1.amazonaws.com");
        assert_eq!(e.stage_path, "/production");
        assert_eq!(e.host, "abc.execute-api.eu-west-1.amazonaws.com");
        let e = parse_endpoint("http://127.0.0.1:3001/development").unwrap();
        assert_eq!(
            (e.host.as_str(), e.stage_path.as_str()),
            ("127.0.0.1:3001", "/development")
        );
        assert!(parse_endpoint("ftp://x/y").unwrap_err().contains("https://"));
        assert!(parse_endpoint("not a url").is_err());
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let p = RetryPolicy::default();
        for a in 1..10 {
            let b = p.backoff(a);
            let full = p.initial_backoff.saturating_mul(1 << (a - 1)).min(p.max_backoff);
            assert!(b >= full / 2 && b <= full, "attempt {a}: {b:?} vs {full:?}");
        }
    }
}
