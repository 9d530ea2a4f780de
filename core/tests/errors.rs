//! What a person reads when DynamoDB or SQS fails: one line naming the call, the table or
//! queue and the AWS error code, never the SDK's debug dump and never a secret. Against an
//! address nothing listens on, the moto server script/with-moto starts, and a profile that
//! does not exist. The second test changes the process environment, which the first reads (the
//! SDK's credentials): each holds `ENV` throughout.

mod common;

use common::{config, unique, PASSCODE, SECRET};
use hermes_core::queue::{Queue, SqsQueue};
use hermes_core::store::{DynamoTokenStore, TokenStore};
use hermes_core::testing::moto_endpoint;
use hermes_core::{Backends, Notification};
use serde_json::json;
use tokio::sync::Mutex;

static ENV: Mutex<()> = Mutex::const_new(());

fn assert_readable(message: &str, must: &[&str]) {
    for m in must {
        assert!(message.contains(m), "{message:?} lacks {m:?}");
    }
    assert!(!message.contains('\n'), "{message:?} is more than one line");
    assert!(message.len() < 400, "{} characters: {message:?}", message.len());
    for dump in ["SdkBody", "headers", "HeaderMap", "Response {", "ServiceError {"] {
        assert!(
            !message.contains(dump),
            "{message:?} holds the SDK's debug dump ({dump})"
        );
    }
    for secret in [SECRET, PASSCODE, "hermes-local"] {
        assert!(!message.contains(secret), "{message:?} holds a secret");
    }
}

#[tokio::test]
async fn unreachable_store_and_queue_are_one_readable_line() {
    let _env = ENV.lock().await;
    // Unreachable: port 9 (discard) has no listener on loopback here.
    let dead = config(&[
        ("HERMES_AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        (
            "HERMES_QUEUE_URL",
            "http://127.0.0.1:9/000000000000/hermes-messageQueue",
        ),
        ("HERMES_BACKEND", "aws"),
    ]);
    let b = Backends::from_config(&dead).await.unwrap();
    let e = b.tokens.get("u", "ACME").await.unwrap_err().to_string();
    assert_readable(
        &e,
        &[
            "DynamoDB GetItem on table hermesTokens failed: cannot connect",
            "refused",
        ],
    );
    let q = b.queue.clone().unwrap();
    let e = q
        .send(&Notification::new(1, "ACME", json!(1)))
        .await
        .unwrap_err()
        .to_string();
    assert_readable(
        &e,
        &[
            "SQS SendMessage on queue hermes-messageQueue failed: cannot connect",
            "refused",
        ],
    );
}

#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn service_errors_and_missing_credentials_are_one_readable_line() {
    let _env = ENV.lock().await;
    let ep = moto_endpoint();
    let cfg = config(&[("HERMES_AWS_ENDPOINT_URL", &ep), ("HERMES_BACKEND", "aws")]);
    let sdk = hermes_core::aws::sdk_config(&cfg).await;

    // The service answered with an error: its code and message.
    let table = unique("no-such-table");
    let store = DynamoTokenStore::new(hermes_core::aws::dynamodb(&sdk), table.clone());
    let row = hermes_core::store::TokenRecord {
        user_id: "u".into(),
        room_id: "ACME".into(),
        hash: "$2a$04$secret-hash".into(),
        expires_at: None,
        previous: None,
    };
    let e = store.put(&row).await.unwrap_err().to_string();
    assert_readable(
        &e,
        &[
            &format!("DynamoDB PutItem on table {table} failed: ResourceNotFoundException ("),
            "HTTP 400",
        ],
    );
    assert!(!e.contains("secret-hash"), "{e}");

    let queue = format!("{ep}/123456789012/{}", unique("no-such-queue"));
    let q = SqsQueue::new(hermes_core::aws::sqs(&sdk), queue.clone());
    let e = q
        .send(&Notification::new(1, "ACME", json!("payload-text")))
        .await
        .unwrap_err();
    let e = e.to_string();
    let name = queue.rsplit('/').next().unwrap();
    assert_readable(
        &e,
        &[
            &format!("SQS SendMessage on queue {name} failed: "),
            "NonExistentQueue",
        ],
    );
    assert!(!e.contains("payload-text"), "{e}");

    // No credentials anywhere (a named profile that does not exist, no instance metadata):
    // the request is never sent, and the message says why.
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/hermes-config");
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/hermes-credentials");
    std::env::set_var("AWS_PROFILE", "hermes-no-such-profile");
    let saved_key = std::env::var("AWS_ACCESS_KEY_ID").ok();
    let saved_secret = std::env::var("AWS_SECRET_ACCESS_KEY").ok();
    std::env::remove_var("AWS_ACCESS_KEY_ID");
    std::env::remove_var("AWS_SECRET_ACCESS_KEY");
    let sdk = hermes_core::aws::sdk_config(&cfg).await;
    let store = DynamoTokenStore::new(hermes_core::aws::dynamodb(&sdk), "hermesTokens");
    let e = store.get("u", "ACME").await.unwrap_err().to_string();
    eprintln!("no credentials: {e}");
    assert_readable(
        &e,
        &["DynamoDB GetItem on table hermesTokens failed: no AWS credentials, request not sent ("],
    );
    assert!(e.to_lowercase().contains("credentials"), "{e}");
    if let Some(k) = saved_key {
        std::env::set_var("AWS_ACCESS_KEY_ID", k);
    }
    if let Some(s) = saved_secret {
        std::env::set_var("AWS_SECRET_ACCESS_KEY", s);
    }
    std::env::remove_var("AWS_PROFILE");
}
