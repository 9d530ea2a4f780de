//! The gateway on HERMES_BACKEND=aws against the moto server `script/with-moto` starts. Tests
//! that need it are `#[ignore = "needs the moto server: run under script/with-moto with
//! --include-ignored"]`, and fail (not pass) when run without it.

use hermes_core::Config;

/// An aws-backend configuration: DynamoDB and SQS at `aws`, the queue at `queue_url`.
pub fn config(aws: &str, queue_url: &str) -> Config {
    let pairs = [
        (
            "HERMES_JWT_SECRET",
            "gateway-aws-secret-for-hs512-0123456789".to_owned(),
        ),
        ("HERMES_PASSCODE", "p".to_owned()),
        ("HERMES_BCRYPT_COST", "4".to_owned()),
        ("HERMES_BACKEND", "aws".to_owned()),
        ("HERMES_AWS_ENDPOINT_URL", aws.to_owned()),
        ("HERMES_QUEUE_URL", queue_url.to_owned()),
    ];
    Config::from_lookup(|k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap()
}

/// A queue of its own for one test (named `prefix-<nanos>`), with a short visibility timeout
/// so a record left undeleted is back within seconds; its URL and the name suffix.
pub async fn fresh_queue(sqs: &aws_sdk_sqs::Client, prefix: &str, visibility_secs: u32) -> (String, String) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let suffix = format!("{nanos:x}");
    let url = sqs
        .create_queue()
        .queue_name(format!("{prefix}-{suffix}"))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            visibility_secs.to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (url, suffix)
}
