//! PostToConnection without the SDK's per-call orchestration.
//!
//! The SDK client spends tens of µs of CPU on each PostToConnection before any byte reaches the
//! network (endpoint rules, interceptors, retry and timeout layers, and a fresh SigV4 key
//! derivation; `cargo bench --bench core`, `sdk_post_to_connection_no_network`), which is most
//! of a 10,000-connection fan-out's budget on two cores. A post is one fixed request shape, so
//! this client builds it directly: signed by [`super::sigv4`] (aws-sigv4 with the key kept),
//! credentials from the SDK's own identity cache over aws-config's provider chain (refreshed
//! before they expire, like every SDK client's), sent over a pooled keep-alive hyper client
//! (HTTP/2 when TLS negotiates it). One attempt per call, bounded by a timeout; answers mean
//! what the SDK's errors meant (`classify`): 410 final, 429 and 5xx retryable, other 4xx not.
//! Retrying is `retry::post`, over any pusher.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_smithy_async::rt::sleep::default_async_sleep;
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;

use super::credentials::CredentialSource;
use super::endpoint::Endpoint;
use super::sigv4::{self, Signer};
use super::transport::Transport;
use super::{classify, PushError};

/// PostToConnection for one management endpoint.
pub struct LeanPoster {
    transport: Arc<dyn Transport>,
    endpoint: Endpoint,
    signer: Signer,
    credentials: CredentialSource,
    time: SharedTimeSource,
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
            credentials: CredentialSource::new(sdk, time.clone(), sleep, endpoint)?,
            endpoint: Endpoint::parse(endpoint)?,
            signer: Signer::new(region),
            transport,
            time,
            connected: AtomicBool::new(false),
            first: tokio::sync::Mutex::new(()),
        })
    }

    /// One attempt, bounded by the SDK clients' attempt timeout; no retry.
    pub async fn attempt(&self, connection_id: &str, body: Bytes) -> Result<(), PushError> {
        let t = crate::aws::ATTEMPT_TIMEOUT;
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
        classify::answer(&answer)
    }
}
