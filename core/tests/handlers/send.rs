//! The send function's basics: every record of a batch, gone and failing connections, sizes,
//! the routes' room and user from the row.

use super::*;

#[tokio::test]
async fn sqs_batch_handles_every_record_and_reports_only_failures() {
    let w = world();
    join(&w, "a1", "ACME", "42").await;
    join(&w, "a2", "ACME", "43").await;
    join(&w, "o1", "OTHER", "7").await;
    let ev: SqsEvent = fixture("sqs-batch.json", None);
    let resp = w.sender.handle_sqs(ev).await;
    let failed: Vec<_> = resp
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        vec!["059f36b4-87a3-44ab-83d2-661622600102"],
        "only the malformed record"
    );

    let a1 = frames(&w, "a1");
    assert_eq!(a1.len(), 1, "record 4 targets user 43 only");
    assert_eq!(
        a1[0],
        json!({"user_id": "42", "data": {"type": "info", "data": "backup done"}, "id": "059f36b4-87a3-44ab-83d2-661622600101"})
    );
    assert_eq!(frames(&w, "a2").len(), 2);
    assert_eq!(frames(&w, "a2")[1]["data"]["type"], "dm");
    assert_eq!(frames(&w, "o1")[0]["data"]["type"], "warn");
}

#[tokio::test]
async fn gone_connections_are_deleted_and_the_rest_delivered() {
    let w = world();
    for i in 0..5 {
        join(&w, &format!("c{i}"), "ACME", &format!("{i}")).await;
    }
    w.pusher.mark_gone("c2");
    let frame = hermes_core::frame::encode_frame("1", &hermes_core::frame::raw(&json!("x")), None);
    let d = w
        .sender
        .deliver("https://e/dev", "ACME", None, &frame)
        .await
        .unwrap();
    assert_eq!((d.delivered, d.gone), (4, 1));
    assert!(w.conns.get("c2").await.unwrap().is_none(), "stale row deleted");
    assert_eq!(w.conns.len(), 4);
}

/// API Gateway answers 410 to a post to a connection whose `$connect` still runs: that row
/// stays, or the page would open a socket nobody posts to (it recovers the frame it missed
/// once it opens). An established connection's 410 still deletes its row.
#[tokio::test]
async fn a_connection_still_opening_keeps_its_row_on_a_410() {
    let w = world();
    let now = hermes_core::token::now_secs();
    common::join_at(&*w.conns, "opening", "ACME", "1", now).await;
    common::join_at(
        &*w.conns,
        "gone",
        "ACME",
        "2",
        now - hermes_core::handlers::connect::YOUNG_CONNECTION_SECS - 1,
    )
    .await;
    w.pusher.mark_gone("opening");
    w.pusher.mark_gone("gone");
    let frame = hermes_core::frame::encode_frame("1", &hermes_core::frame::raw(&json!("x")), None);
    let d = w
        .sender
        .deliver("https://e/dev", "ACME", None, &frame)
        .await
        .unwrap();
    assert_eq!(d.gone, 2);
    assert!(w.conns.get("opening").await.unwrap().is_some(), "kept");
    assert!(w.conns.get("gone").await.unwrap().is_none(), "deleted");
}

#[tokio::test]
async fn retryable_failures_fail_the_record_rejections_do_not() {
    let w = world();
    join(&w, "ok", "ACME", "1").await;
    join(&w, "bad", "ACME", "2").await;
    let body = json!({"user_id": 1, "room_id": "ACME", "data": "x"}).to_string();
    let ev = |id: &str| -> SqsEvent {
        serde_json::from_value(
            json!({"Records": [{"messageId": id, "body": body, "eventSource": "aws:sqs"}]}),
        )
        .unwrap()
    };
    w.pusher.fail_with(
        "bad",
        PushError::Rejected {
            status: 403,
            message: "Forbidden".into(),
        },
    );
    assert!(w.sender.handle_sqs(ev("m1")).await.batch_item_failures.is_empty());
    w.pusher
        .fail_with("bad", PushError::Throttled("LimitExceededException".into()));
    let r = w.sender.handle_sqs(ev("m2")).await;
    assert_eq!(r.batch_item_failures[0].item_identifier, "m2");
    assert_eq!(w.pusher.frames("ok").len(), 2, "the healthy connection got both");
}

#[tokio::test]
async fn oversize_payload_fails_its_record_alone() {
    let w = world();
    join(&w, "c", "ACME", "1").await;
    let big = json!({"user_id": 1, "room_id": "ACME", "data": "x".repeat(140_000)}).to_string();
    let small = json!({"user_id": 1, "room_id": "ACME", "data": "y"}).to_string();
    let ev: SqsEvent = serde_json::from_value(json!({"Records": [
        {"messageId": "big", "body": big}, {"messageId": "small", "body": small}
    ]}))
    .unwrap();
    let r = w.sender.handle_sqs(ev).await;
    assert_eq!(r.batch_item_failures.len(), 1);
    assert_eq!(r.batch_item_failures[0].item_identifier, "big");
    assert_eq!(w.pusher.frames("c").len(), 1);
}

#[tokio::test]
async fn sqs_without_endpoint_fails_every_record() {
    let w = world();
    let sender = Sender::new(
        w.conns.clone(),
        Arc::new(MemoryPusherFactory(w.pusher.clone())),
        None,
    );
    let ev: SqsEvent = fixture("sqs-batch.json", None);
    assert_eq!(sender.handle_sqs(ev).await.batch_item_failures.len(), 4);
}

#[tokio::test]
async fn send_route_takes_room_and_user_from_the_row_not_the_client() {
    let w = world();
    join(&w, "X1ZbveegDoECFfg=", "ACME", "42").await;
    join(&w, "peer", "ACME", "43").await;
    join(&w, "spy", "OTHER-ROOM", "999").await;
    let sender = Sender::new(
        w.conns.clone(),
        Arc::new(MemoryPusherFactory(w.pusher.clone())),
        None,
    );
    let ev: Value = fixture("send-message.json", None);
    let out = sender.handle(SendEvent::from_value(ev).unwrap()).await;
    assert_eq!(out["statusCode"], 200);
    let got = frames(&w, "peer");
    assert_eq!(got[0]["user_id"], "42", "sender from the row, not the body's 999");
    assert_eq!(got[0]["data"], json!({"type": "chat", "data": "hello room"}));
    assert!(frames(&w, "spy").is_empty(), "body's room_id is ignored");
    assert_eq!(
        w.pusher.endpoints(),
        vec!["https://abcdef1234.execute-api.eu-west-1.amazonaws.com/development"],
        "endpoint derived from domainName and stage"
    );
}

#[tokio::test]
async fn send_route_from_unknown_connection_is_refused() {
    let w = world();
    join(&w, "peer", "ACME", "43").await;
    let ev: ApiGatewayWebsocketProxyRequest = fixture("send-message.json", None);
    assert_eq!(w.sender.handle_route(&ev).await.status_code, 403);
    assert!(frames(&w, "peer").is_empty());
}

#[tokio::test]
async fn default_route_answers_the_sender_with_an_error_frame() {
    let w = world();
    join(&w, "X1ZbveegDoECFfg=", "ACME", "42").await;
    join(&w, "peer", "ACME", "43").await;
    let ev: ApiGatewayWebsocketProxyRequest = fixture("default-route.json", None);
    assert_eq!(w.sender.handle_route(&ev).await.status_code, 400);
    let err = frames(&w, "X1ZbveegDoECFfg=");
    assert!(err[0]["error"].as_str().unwrap().contains("shout"), "{err:?}");
    assert!(frames(&w, "peer").is_empty());
}
