use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_apigatewaymanagement::config::http::HttpResponse;
use aws_sdk_apigatewaymanagement::config::StalledStreamProtectionConfig;
use aws_sdk_apigatewaymanagement::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_apigatewaymanagement::Client;

use super::{PushError, Pusher, PusherFactory};

/// The real management API client. Throttling (429 LimitExceededException) and 5xx are
/// retried by the SDK's standard retry strategy with exponential backoff and jitter, which
/// `crate::aws::sdk_config` sets up; what reaches us here has outlasted those attempts.
pub struct ApiGwPusher {
    client: Client,
}

fn map_err<E>(e: SdkError<E, HttpResponse>) -> PushError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().unwrap_or_default().to_owned();
    let message = crate::aws::describe_sdk_error(&e);
    match status {
        Some(410) => PushError::Gone,
        _ if code == "GoneException" => PushError::Gone,
        Some(429) => PushError::Throttled(message),
        _ if code == "LimitExceededException" => PushError::Throttled(message),
        Some(s) if (400..500).contains(&s) => PushError::Rejected { status: s, message },
        _ => PushError::Unavailable(message),
    }
}

#[async_trait]
impl Pusher for ApiGwPusher {
    async fn post(&self, connection_id: &str, data: &[u8]) -> Result<(), PushError> {
        self.client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data))
            .send()
            .await
            .map(|_| ())
            .map_err(map_err)
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

/// Builds one client per endpoint and keeps it: a warm Lambda reuses its connection pool.
pub struct ApiGwPusherFactory {
    base: SdkConfig,
    clients: Mutex<HashMap<String, Arc<ApiGwPusher>>>,
}

impl ApiGwPusherFactory {
    pub fn new(base: SdkConfig) -> Self {
        ApiGwPusherFactory {
            base,
            clients: Mutex::default(),
        }
    }
}

impl PusherFactory for ApiGwPusherFactory {
    fn for_endpoint(&self, endpoint: &str) -> Arc<dyn Pusher> {
        let mut g = self.clients.lock().unwrap();
        g.entry(endpoint.to_owned())
            .or_insert_with(|| {
                // Stalled-stream protection watches long bodies; a post is at most 128 KB
                // already in memory, and the check costs each of a fan-out's thousands of posts
                // a body wrapper and clock reads both ways (timeouts still bound every call).
                let conf = aws_sdk_apigatewaymanagement::config::Builder::from(&self.base)
                    .endpoint_url(endpoint)
                    .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
                    .build();
                Arc::new(ApiGwPusher {
                    client: Client::from_conf(conf),
                })
            })
            .clone()
    }
}
