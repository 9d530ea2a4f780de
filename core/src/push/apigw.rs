use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_apigatewaymanagement::config::http::HttpResponse;
use aws_sdk_apigatewaymanagement::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_apigatewaymanagement::Client;
use bytes::Bytes;

use super::lean::LeanPoster;
use super::transport::{HyperTransport, Transport};
use super::{classify, PushError, Pusher, PusherFactory};

/// The management API: PostToConnection through the lean client (push/lean.rs), every
/// other call (DeleteConnection) through aws-sdk-apigatewaymanagement. Both make one attempt:
/// closes go through the fan-out like posts, which paces and retries them itself.
pub struct ApiGwPusher {
    poster: Result<LeanPoster, String>,
    client: Client,
}

impl ApiGwPusher {
    fn poster(&self) -> Result<&LeanPoster, PushError> {
        self.poster
            .as_ref()
            .map_err(|e| PushError::Misconfigured(e.clone()))
    }
}

fn map_err<E>(e: SdkError<E, HttpResponse>) -> PushError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    classify::error_for(
        status,
        e.code().unwrap_or_default(),
        crate::aws::describe_sdk_error(&e),
    )
}

#[async_trait]
impl Pusher for ApiGwPusher {
    async fn post_once(&self, connection_id: &str, frame: &Bytes) -> Result<(), PushError> {
        self.poster()?.attempt(connection_id, frame.clone()).await
    }

    async fn close(&self, connection_id: &str) -> Result<(), PushError> {
        self.client
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await
            .map(|_| ())
            .map_err(map_err)
    }
}

/// Builds one pusher per endpoint and keeps it: a warm Lambda reuses its connection pool and
/// its cached credentials and signing key.
pub struct ApiGwPusherFactory {
    base: SdkConfig,
    transport: OnceLock<Result<Arc<dyn Transport>, String>>,
    pushers: Mutex<HashMap<String, Arc<ApiGwPusher>>>,
}

impl ApiGwPusherFactory {
    pub fn new(base: SdkConfig) -> Self {
        ApiGwPusherFactory {
            base,
            transport: OnceLock::new(),
            pushers: Mutex::default(),
        }
    }

    /// Posts through `transport` instead of the HTTPS client (benchmarks, TLS tests).
    pub fn with_transport(base: SdkConfig, transport: Arc<dyn Transport>) -> Self {
        let f = Self::new(base);
        let _ = f.transport.set(Ok(transport));
        f
    }

    fn transport(&self) -> Result<Arc<dyn Transport>, String> {
        // Loading the system's root certificates waits for the first endpoint.
        self.transport
            .get_or_init(|| {
                HyperTransport::new(crate::aws::CONNECT_TIMEOUT).map(|t| Arc::new(t) as Arc<dyn Transport>)
            })
            .clone()
    }
}

impl PusherFactory for ApiGwPusherFactory {
    fn for_endpoint(&self, endpoint: &str) -> Arc<dyn Pusher> {
        let mut g = self.pushers.lock().unwrap();
        g.entry(endpoint.to_owned())
            .or_insert_with(|| {
                let poster = self
                    .transport()
                    .and_then(|t| LeanPoster::new(&self.base, endpoint, t));
                if let Err(e) = &poster {
                    tracing::error!(endpoint, error = %e, "cannot post to this management endpoint");
                }
                let conf = aws_sdk_apigatewaymanagement::config::Builder::from(&self.base)
                    .endpoint_url(endpoint)
                    .retry_config(aws_sdk_apigatewaymanagement::config::retry::RetryConfig::disabled())
                    .build();
                Arc::new(ApiGwPusher {
                    poster,
                    client: Client::from_conf(conf),
                })
            })
            .clone()
    }
}
