//! SDK configuration from `Config`: region, the emulator endpoint, retries and timeouts.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::config::Config;

/// Attempts per call, the first included. Throttling and 5xx back off exponentially
/// (with jitter) from `INITIAL_BACKOFF`.
pub const MAX_ATTEMPTS: u32 = 4;
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(50);

pub async fn sdk_config(cfg: &Config) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(cfg.region().to_owned()))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(INITIAL_BACKOFF),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(20))
                .build(),
        );
    if let Some(url) = cfg.aws_endpoint_url() {
        loader = loader.endpoint_url(url);
    }
    // Emulators (and the local gateway's management API on the memory backend) take any
    // credentials; with none in the environment, sign with fixed ones rather than wait on the
    // instance-metadata lookup.
    let emulated = cfg.aws_endpoint_url().is_some() || cfg.backend() == crate::config::Backend::Memory;
    if emulated
        && std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
        && std::env::var_os("AWS_PROFILE").is_none()
    {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "hermes-local",
            "hermes-local",
            None,
            None,
            "hermes-emulator",
        ));
    }
    loader.load().await
}

pub fn dynamodb(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(sdk)
}

pub fn sqs(sdk: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(sdk)
}
