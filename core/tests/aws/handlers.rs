//! The handlers over DynamoDB: mint, authorize, connect, send, disconnect; a store outage;
//! a stream subscribed, broadcast to, recovered and forgotten.

use super::*;

/// The whole server side on DynamoDB: the gem's mint, the authorizer, connect, an SQS batch
/// through the send handler, disconnect.
#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn mint_authorize_connect_send_disconnect_on_dynamodb() {
    let ep = moto_endpoint();
    let cfg = cfg(&ep);
    let b = Backends::from_config(&cfg).await.unwrap();
    let minter = Minter::new(&cfg, b.tokens.clone()).unwrap();
    let authorizer = Authorizer::new(JwtKeys::new(cfg.jwt_secret().unwrap()), b.tokens.clone());
    let user = unique("user");
    let room = unique("room");

    let jwt = minter
        .generate_token(&UserId::Str(user.clone()), &room)
        .await
        .unwrap();
    let ev: ApiGatewayCustomAuthorizerRequestTypeRequest = fixture("authorizer-request.json", Some(&jwt));
    let v = serde_json::to_value(authorizer.handle(&ev).await).unwrap();
    assert_eq!(v["policyDocument"]["Statement"][0]["Effect"], "Allow");
    assert_eq!(v["context"], json!({"user_id": user, "room_id": room}));

    minter.revoke(&UserId::Str(user.clone()), &room).await.unwrap();
    assert_eq!(
        authorizer.decide(Some(&jwt)).await,
        Decision::Deny {
            reason: DenyReason::NoStoredToken,
            user_id: Some(user.clone())
        },
        "revocation is seen at once (consistent read)"
    );

    let mut cev: Value = fixture("connect.json", None);
    let conn_id = unique("conn");
    cev["requestContext"]["connectionId"] = json!(conn_id);
    cev["requestContext"]["authorizer"]["user_id"] = json!(user);
    cev["requestContext"]["authorizer"]["room_id"] = json!(room);
    let cev: ApiGatewayWebsocketProxyRequest = serde_json::from_value(cev).unwrap();
    assert_eq!(connect(&*b.connections, &cev).await.status_code, 200);

    let pusher = MemoryPusher::new();
    let sender = Sender::new(
        b.connections.clone(),
        Arc::new(MemoryPusherFactory(pusher.clone())),
        Some("https://x/dev".into()),
    );
    let body = json!({"user_id": 1, "room_id": room, "data": {"type": "info", "data": "hi"}}).to_string();
    let sqs: SqsEvent = serde_json::from_value(json!({"Records": [
        {"messageId": "m-1", "body": body}, {"messageId": "m-2", "body": "nope"}
    ]}))
    .unwrap();
    let r = sender.handle_sqs(sqs).await;
    assert_eq!(r.batch_item_failures.len(), 1);
    assert_eq!(r.batch_item_failures[0].item_identifier, "m-2");
    assert_eq!(pusher.frames(&conn_id).len(), 1);

    assert_eq!(
        disconnect(&*b.connections, Some(&*b.subscriptions), &cev)
            .await
            .status_code,
        200
    );
    assert!(b.connections.get(&conn_id).await.unwrap().is_none());

    // The queue from_config built is the shared SQS queue.
    let q = b.queue.expect("HERMES_QUEUE_URL set");
    let id = q
        .send(&Notification::new(1, room.as_str(), json!("x")))
        .await
        .unwrap();
    assert!(!id.is_empty());
}

#[tokio::test]
async fn unreachable_dynamodb_is_a_deny_with_a_reason() {
    // A port nothing listens on: the real SDK client fails to connect.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let cfg = config(&[("HERMES_AWS_ENDPOINT_URL", &dead)]);
    let b = Backends::from_config(&cfg).await.unwrap();
    let minter_cfg = config(&[]);
    let mem = Arc::new(hermes_core::store::MemoryTokenStore::new());
    let jwt = Minter::new(&minter_cfg, mem)
        .unwrap()
        .generate_token(&UserId::Int(1), "R")
        .await
        .unwrap();
    let a = Authorizer::new(JwtKeys::new(cfg.jwt_secret().unwrap()), b.tokens);
    match a.decide(Some(&jwt)).await {
        Decision::Deny {
            reason: DenyReason::StoreUnavailable(msg),
            ..
        } => {
            assert!(msg.contains("GetItem") && msg.contains("hermesTokens"), "{msg}");
            assert!(!msg.contains(&jwt));
        }
        other => panic!("expected StoreUnavailable, got {other:?}"),
    }
}

/// The send handler over DynamoDB: sequencing, a redelivery replayed, a recovery.
#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn send_handler_sequences_replays_and_recovers_on_dynamodb() {
    let ep = moto_endpoint();
    let cfg = cfg(&ep);
    let b = Backends::from_config(&cfg).await.unwrap();
    let room = unique("room");
    for (id, user) in [("a", "1"), ("b", "2")] {
        b.connections
            .put(&Connection {
                connection_id: format!("{room}-{id}"),
                room_id: room.clone(),
                user_id: user.into(),
                connected_at: 1,
                expires_at: hermes_core::token::now_secs() + 60,
                streams: Vec::new(),
            })
            .await
            .unwrap();
    }
    let pusher = MemoryPusher::new();
    let sender = Sender::new(
        b.connections.clone(),
        Arc::new(MemoryPusherFactory(pusher.clone())),
        Some("https://x/dev".into()),
    )
    .with_history(b.history.clone(), cfg.history_ttl().as_duration());
    let record = |id: &str, n: u64, target: Option<&str>| -> Value {
        let mut body = json!({"user_id": 9, "room_id": room, "data": {"n": n}});
        if let Some(t) = target {
            body["target_user_id"] = json!(t);
        }
        json!({"messageId": id, "body": body.to_string()})
    };
    let batch =
        |records: Vec<Value>| -> SqsEvent { serde_json::from_value(json!({ "Records": records })).unwrap() };
    let r = sender
        .handle_sqs(batch(vec![
            record("m1", 1, None),
            record("m2", 2, Some("2")),
            record("m3", 3, None),
        ]))
        .await;
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    let a = pusher.frames(&format!("{room}-a"));
    let parsed: Vec<Value> = a.iter().map(|f| serde_json::from_slice(f).unwrap()).collect();
    assert_eq!(
        parsed
            .iter()
            .map(|f| f["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 3]
    );
    let epoch = parsed[0]["epoch"].as_str().unwrap().to_owned();

    // m4 reaches user 1 but user 2's connection is throttled: the record fails, and its
    // redelivery replays the same bytes (seq 4), not a new seq for user 1 to show twice.
    pusher.fail_with(
        &format!("{room}-b"),
        hermes_core::push::PushError::Throttled("LimitExceededException".into()),
    );
    let r = sender.handle_sqs(batch(vec![record("m4", 4, None)])).await;
    assert_eq!(r.batch_item_failures.len(), 1);
    pusher.fail_with(&format!("{room}-b"), hermes_core::push::PushError::Gone);
    let r = sender.handle_sqs(batch(vec![record("m4", 4, None)])).await;
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    let a = pusher.frames(&format!("{room}-a"));
    assert_eq!(a.len(), 4);
    assert_eq!(a[3], a[2]);
    assert_eq!(serde_json::from_slice::<Value>(&a[3]).unwrap()["seq"], 4);

    // User 1 recovers from seq 1: seqs 3 and 4 (2 was for user 2; 5 is the replay's marker).
    let r = hermes_core::handlers::recover(&*b.history, cfg.history_ttl().as_secs(), &room, "1", 1, &epoch)
        .await
        .unwrap();
    assert!(r.recovered, "{r:?}");
    assert_eq!((r.frames, r.seq), (vec![a[1].clone(), a[2].clone()], 5));
    let r = hermes_core::handlers::recover(&*b.history, cfg.history_ttl().as_secs(), &room, "2", 1, &epoch)
        .await
        .unwrap();
    assert_eq!(r.frames.len(), 3, "user 2 also gets its own message");
}

/// The whole path of a stream on DynamoDB: a socket of nobody and a user's socket subscribe
/// through the send handler's route, a broadcast record reaches both with the stream's seq, a
/// second one is recovered by a socket that reconnects, and `$disconnect` takes the
/// subscriptions with the row.
#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn a_stream_is_subscribed_broadcast_recovered_and_forgotten_on_dynamodb() {
    use std::sync::Arc;

    use hermes_core::handlers::send::StreamLimits;
    use hermes_core::handlers::{disconnect, Sender};
    use hermes_core::push::memory::{MemoryPusher, MemoryPusherFactory};
    use hermes_core::stream_name::StreamKey;
    use hermes_core::Backends;
    use serde_json::{json, Value};

    let ep = moto_endpoint();
    let cfg = config(&[("HERMES_AWS_ENDPOINT_URL", &ep), ("HERMES_BACKEND", "aws")]);
    let b = Backends::from_config(&cfg).await.unwrap();
    let key = StreamKey::derive(cfg.jwt_secret().unwrap());
    let pusher = MemoryPusher::new();
    let sender = Sender::new(
        b.connections.clone(),
        Arc::new(MemoryPusherFactory(pusher.clone())),
        Some("https://x/dev".into()),
    )
    .with_history(b.history.clone(), cfg.history_ttl().as_duration())
    .with_streams(
        b.subscriptions.clone(),
        b.stream_history.clone(),
        key.clone(),
        StreamLimits::default(),
    );
    let stream = unique("board");
    let (nobody, user) = (unique("nobody"), unique("user"));
    for (id, room, who) in [(&nobody, "", ""), (&user, "R", "7")] {
        let row = Connection {
            connection_id: id.clone(),
            room_id: room.into(),
            user_id: who.into(),
            connected_at: 1,
            expires_at: hermes_core::token::now_secs() + 60,
            streams: vec![],
        };
        b.connections.put(&row).await.unwrap();
    }
    let route = |id: &str, body: Value| -> hermes_core::events::apigw::ApiGatewayWebsocketProxyRequest {
        let mut ev: Value = common::fixture("send-message.json", None);
        ev["requestContext"]["connectionId"] = json!(id);
        ev["requestContext"]["routeKey"] = body["action"].clone();
        ev["body"] = json!(body.to_string());
        serde_json::from_value(ev).unwrap()
    };
    let took = |id: &str| -> Vec<Value> {
        pusher
            .take(id)
            .iter()
            .map(|f| serde_json::from_slice(f).unwrap())
            .collect()
    };
    let signed = key.sign(&stream).unwrap();
    for id in [&nobody, &user] {
        let r = sender
            .handle_route(&route(id, json!({"action": "subscribe", "streams": [signed]})))
            .await;
        assert_eq!(r.status_code, 200);
        assert_eq!(took(id)[0]["hermes"], "subscribed");
    }
    assert_eq!(b.subscriptions.all(&stream).await.unwrap().len(), 2);
    let cast = |n: u64| -> hermes_core::events::sqs::SqsEvent {
        let body = json!({"hermes": "broadcast", "stream": stream, "data": {"n": n}});
        serde_json::from_value(
            json!({"Records": [{"messageId": format!("cast-{n}"), "body": body.to_string()}]}),
        )
        .unwrap()
    };
    assert!(sender.handle_sqs(cast(1)).await.batch_item_failures.is_empty());
    let got = took(&nobody);
    assert_eq!(
        (got[0]["stream"].as_str(), got[0]["seq"].as_u64()),
        (Some(stream.as_str()), Some(1))
    );
    let epoch = got[0]["epoch"].clone();
    assert_eq!(took(&user).len(), 1);

    // The user's socket goes; the next broadcast waits in the stream's history.
    let gone = route(&user, json!({"action": "x"}));
    assert_eq!(
        disconnect(&*b.connections, Some(&*b.subscriptions), &gone)
            .await
            .status_code,
        200
    );
    assert_eq!(
        b.subscriptions.all(&stream).await.unwrap().len(),
        1,
        "its subscription went with it"
    );
    assert!(sender.handle_sqs(cast(2)).await.batch_item_failures.is_empty());
    let back = unique("back");
    let row = Connection {
        connection_id: back.clone(),
        room_id: "R".into(),
        user_id: "7".into(),
        connected_at: 1,
        expires_at: hermes_core::token::now_secs() + 60,
        streams: vec![],
    };
    b.connections.put(&row).await.unwrap();
    let frame = json!({"action": "recover", "streams": [{"name": signed, "since": 1, "epoch": epoch}]});
    assert_eq!(sender.handle_route(&route(&back, frame)).await.status_code, 200);
    let got = took(&back);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (got[0]["data"].clone(), got[0]["seq"].clone()),
        (json!({"n": 2}), json!(2))
    );
    assert_eq!(
        (got[1]["hermes"].clone(), got[1]["recovered"].clone()),
        (json!("recovered"), json!(true))
    );
}
