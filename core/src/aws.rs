//! SDK configuration from `Config`: region, the emulator endpoint, retries and timeouts.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::config::Config;

/// Attempts per call, the first included. Throttling and 5xx back off exponentially
/// (with jitter) from `INITIAL_BACKOFF`.
pub const MAX_ATTEMPTS: u32 = 4;
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
/// Each attempt's bound, and the time to open a connection.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

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
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
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

/// One line for a failed SDK call, for error messages and logs: the AWS error code and its
/// message when the service answered, otherwise what went wrong on the way (cannot connect,
/// timed out, no credentials, ...). Never `DisplayErrorContext`, whose debug part prints the
/// raw request and response (headers, bodies).
pub fn describe_sdk_error<E>(e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            let code = e.code().unwrap_or("an error without a code");
            match e.message().map(one_line).filter(|m| !m.is_empty()) {
                Some(m) => format!("{code} ({m}; HTTP {status})"),
                None => format!("{code} (HTTP {status})"),
            }
        }
        SdkError::TimeoutError(_) => "timed out".into(),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            format!("timed out connecting ({})", innermost(e))
        }
        SdkError::DispatchFailure(d) if d.is_io() => format!("cannot connect ({})", innermost(e)),
        // The credential chain's report lists every provider it tried: the start is enough.
        SdkError::DispatchFailure(_) if chain(e).contains("credential") => {
            format!("no AWS credentials, request not sent ({})", cut(&chain(e), 120))
        }
        SdkError::DispatchFailure(_) => format!("request failed ({})", chain(e)),
        SdkError::ResponseError(r) => format!(
            "unreadable response (HTTP {}: {})",
            r.raw().status().as_u16(),
            innermost(e)
        ),
        SdkError::ConstructionFailure(_) => format!("request not sent ({})", chain(e)),
        _ => chain(e),
    }
}

/// Longest message kept from the service or an error source: enough for any AWS message
/// we know, short enough for a log line.
const MAX_PART_CHARS: usize = 240;

fn one_line(s: &str) -> String {
    cut(
        &s.split_whitespace().collect::<Vec<_>>().join(" "),
        MAX_PART_CHARS,
    )
}

fn cut(s: &str, chars: usize) -> String {
    match s.char_indices().nth(chars) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// The sources below the SDK's own generic layers ("dispatch failure", "io error", ...),
/// joined; repeated text is dropped.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = one_line(&s.to_string());
        let generic = matches!(text.as_str(), "io error" | "timeout" | "user error" | "other");
        if !generic && !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    if parts.is_empty() {
        one_line(&e.to_string())
    } else {
        parts.join(": ")
    }
}

fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(s) = last.source() {
        last = s;
    }
    one_line(&last.to_string())
}
