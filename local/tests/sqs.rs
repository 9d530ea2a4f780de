//! The gateway on HERMES_BACKEND=aws: tokens and connections in DynamoDB, notifications polled
//! from SQS, all on the moto server script/with-moto starts.

mod common;

use std::time::Duration;

use common::next_json_within;

use hermes_core::{Backends, Minter, UserId};
use hermes_local::{start, Options};
use serde_json::json;

#[tokio::test]
#[ignore = "needs the moto server: run under script/with-moto with --include-ignored"]
async fn polls_sqs_into_the_send_handler_and_deletes_what_it_delivered() {
    let endpoint = hermes_core::testing::moto_endpoint();
    let sqs = hermes_core::aws::sqs(&hermes_core::aws::sdk_config(&common::aws::config(&endpoint, "")).await);
    let (queue, suffix) = common::aws::fresh_queue(&sqs, "local", 1).await;
    let cfg = common::aws::config(&endpoint, &queue);
    let gw = start(
        cfg.clone(),
        Options {
            port: 0,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    assert!(gw.minter().is_none(), "no development minting on the aws backend");

    // The Rails side, on the same tables: mint, then the browser connects.
    let backends = Backends::from_config(&cfg).await.unwrap();
    let room = format!("room-{suffix}");
    let jwt = Minter::new(&cfg, backends.tokens.clone())
        .unwrap()
        .generate_token(&UserId::Int(5), &room)
        .await
        .unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{}?token={jwt}", gw.ws_url()))
        .await
        .unwrap();
    for _ in 0..100 {
        if !backends.connections.room(&room).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let body =
        json!({"user_id": 5, "room_id": room, "data": {"type": "info", "data": "from SQS"}}).to_string();
    sqs.send_message()
        .queue_url(&queue)
        .message_body("{not a notification")
        .send()
        .await
        .unwrap();
    let id = sqs
        .send_message()
        .queue_url(&queue)
        .message_body(body)
        .send()
        .await
        .unwrap()
        .message_id
        .unwrap();
    let frame = next_json_within(&mut ws, Duration::from_secs(10)).await;
    let epoch = frame["epoch"].as_str().expect("a sequenced frame").to_owned();
    assert_eq!(
        frame,
        json!({"user_id": "5", "data": {"type": "info", "data": "from SQS"}, "id": id, "seq": 1, "epoch": epoch})
    );

    // The delivered message was deleted; the malformed one was reported and stays for
    // redelivery (and, on AWS, the dead-letter queue).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let count = |n: aws_sdk_sqs::types::QueueAttributeName| -> u64 {
        attrs
            .attributes()
            .and_then(|a| a.get(&n))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let left = count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        + count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
    assert_eq!(left, 1, "only the malformed message is left");
    gw.shutdown().await;
}
