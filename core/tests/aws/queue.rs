//! SQS: batches sent, received and deleted; oversize refused before SQS; FIFO ids.

use super::*;

/// A queue of the test's own: the shared one is read by other tests concurrently.
async fn own_queue(ep: &str, name: String) -> SqsQueue {
    let (_, sqs) = clients(ep).await;
    let mut req = sqs.create_queue().queue_name(&name);
    if name.ends_with(".fifo") {
        req = req.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
    }
    let url = req.send().await.unwrap().queue_url.unwrap();
    SqsQueue::new(sqs, url)
}

/// Receives and deletes (DeleteMessageBatch) until `want` bodies arrived or ~10 polls came back short.
async fn take(q: &SqsQueue, want: usize) -> Vec<Value> {
    let mut bodies = Vec::new();
    for _ in 0..10 {
        let got = q.receive(10, Duration::from_millis(500)).await.unwrap();
        let handles: Vec<String> = got.iter().map(|m| m.receipt_handle.clone()).collect();
        bodies.extend(
            got.iter()
                .map(|m| serde_json::from_str::<Value>(&m.body).unwrap()),
        );
        q.delete(&handles).await.unwrap();
        if bodies.len() >= want {
            break;
        }
    }
    bodies
}

#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn sqs_send_batch_receive_delete() {
    let ep = moto_endpoint();
    let q = own_queue(&ep, unique("t")).await;

    let one = Notification::new(42, "ACME", json!({"type": "info", "data": "single"}));
    let id = q.send(&one).await.unwrap();
    assert!(!id.is_empty());

    let many: Vec<Notification> = (0..23)
        .map(|i| Notification::new(i, "ACME", json!({"n": i})))
        .collect();
    let ids = q.send_batch(&many).await.unwrap();
    assert_eq!(ids.len(), 23, "three SendMessageBatch calls of 10, 10 and 3");

    let bodies = take(&q, 24).await;
    assert_eq!(bodies.len(), 24);
    assert!(bodies
        .contains(&json!({"user_id": 42, "room_id": "ACME", "data": {"type": "info", "data": "single"}})));
    assert!(bodies.contains(&json!({"user_id": 22, "room_id": "ACME", "data": {"n": 22}})));
    assert!(
        q.receive(10, Duration::ZERO).await.unwrap().is_empty(),
        "all deleted"
    );

    // A handle SQS does not know comes back as a failed entry, reported by count and code.
    q.send(&one).await.unwrap();
    let got = q.receive(10, Duration::from_millis(500)).await.unwrap();
    let handles = vec![got[0].receipt_handle.clone(), "not-a-receipt-handle".to_owned()];
    let err = q.delete(&handles).await.unwrap_err().to_string();
    assert!(
        err.contains("DeleteMessageBatch") && err.contains("1 of 2 not deleted"),
        "{err}"
    );
    assert!(
        q.receive(10, Duration::ZERO).await.unwrap().is_empty(),
        "the valid handle was deleted"
    );
}

#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn oversize_notification_never_reaches_sqs() {
    let ep = moto_endpoint();
    let q = own_queue(&ep, unique("big")).await;
    let big = Notification::new(1, "R", json!("x".repeat(140_000)));
    assert!(matches!(q.send(&big).await, Err(QueueError::TooLarge(_))));
    let err = q
        .send_batch(&[Notification::new(1, "R", json!(1)), big])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("#1"), "{err}");
    assert!(
        q.receive(10, Duration::ZERO).await.unwrap().is_empty(),
        "nothing half-written"
    );
}

#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn fifo_queue_gets_group_and_dedup_ids() {
    let ep = moto_endpoint();
    let q = own_queue(&ep, format!("{}.fifo", unique("f"))).await;
    let n = Notification::new(1, "ROOM-A", json!("same"));
    q.send(&n).await.unwrap();
    q.send(&n).await.unwrap();
    q.send_batch(&[n.clone(), n.clone()]).await.unwrap();
    let count = take(&q, 4).await.len();
    assert_eq!(count, 4, "identical notifications are not deduplicated away");
}
