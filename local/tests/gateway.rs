//! The gateway with real WebSocket clients (tokio-tungstenite) and the real management API
//! client, on 127.0.0.1.

mod common;

use std::time::Duration;

use common::{gateway, memory_config, next_json_within, open, token, wait_for, Ws};

use futures::{SinkExt, StreamExt};
use hermes_core::push::{ApiGwPusherFactory, PushError, PusherFactory};
use hermes_core::{Notification, UserId};
use hermes_local::{start, Options, StartError};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::{self, Message};

async fn next_json(ws: &mut Ws) -> Value {
    next_json_within(ws, Duration::from_secs(5)).await
}

/// The code of the close frame the server sends next.
async fn close_code(ws: &mut Ws) -> u16 {
    match tokio::time::timeout(Duration::from_secs(3), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        Message::Close(Some(f)) => u16::from(f.code),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

async fn nothing_within(ws: &mut Ws, ms: u64) -> bool {
    tokio::time::timeout(Duration::from_millis(ms), ws.next())
        .await
        .is_err()
}

fn status_of(e: tungstenite::Error) -> u16 {
    match e {
        tungstenite::Error::Http(r) => r.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn upgrade_is_refused_like_api_gateway() {
    let gw = gateway(Options::default()).await;
    let no_token = tokio_tungstenite::connect_async(gw.ws_url()).await.unwrap_err();
    assert_eq!(status_of(no_token), 401);
    assert_eq!(status_of(open(&gw, "not-a-jwt").await.unwrap_err()), 403);
    let t = token(&gw, 1, "R").await;
    gw.minter().unwrap().revoke(&UserId::Int(1), "R").await.unwrap();
    assert_eq!(status_of(open(&gw, &t).await.unwrap_err()), 403, "revoked");
    let wrong_stage =
        tokio_tungstenite::connect_async(format!("ws://{}/production?token={t}", gw.addr)).await;
    assert_eq!(status_of(wrong_stage.unwrap_err()), 403);
    assert_eq!(gw.live_connections(), 0);
}

#[tokio::test]
async fn queued_notifications_reach_only_their_room() {
    let gw = gateway(Options::default()).await;
    let mut a = open(&gw, &token(&gw, 1, "ACME").await).await.unwrap();
    let mut b = open(&gw, &token(&gw, 2, "ACME").await).await.unwrap();
    let mut other = open(&gw, &token(&gw, 3, "OTHER").await).await.unwrap();
    wait_for(|| gw.live_connections() == 3).await;

    let n = Notification::new(9, "ACME", json!({"type": "info", "data": "backup done"}));
    let id = gw.queue().unwrap().send(&n).await.unwrap();
    let mut epochs = Vec::new();
    for ws in [&mut a, &mut b] {
        let f = next_json(ws).await;
        let epoch = f["epoch"].as_str().expect("a sequenced frame").to_owned();
        assert_eq!(
            f,
            json!({"user_id": "9", "data": {"type": "info", "data": "backup done"}, "id": id, "seq": 1, "epoch": epoch})
        );
        epochs.push(epoch);
    }
    assert_eq!(epochs[0], epochs[1], "one frame, the same bytes for everyone");
    assert!(nothing_within(&mut other, 300).await, "room isolation");

    // Targeted: only user 2's sockets.
    let mut n = Notification::new(9, "ACME", json!("just you"));
    n.target_user_id = Some("2".into());
    gw.queue().unwrap().send(&n).await.unwrap();
    assert_eq!(next_json(&mut b).await["data"], "just you");
    assert!(nothing_within(&mut a, 300).await);
}

#[tokio::test]
async fn send_message_route_and_default_route() {
    let gw = gateway(Options::default()).await;
    let mut a = open(&gw, &token(&gw, 1, "ACME").await).await.unwrap();
    let mut b = open(&gw, &token(&gw, 2, "ACME").await).await.unwrap();
    wait_for(|| gw.live_connections() == 2).await;
    // The client's own room_id/user_id are ignored: the row decides.
    let frame = json!({"action": "sendMessage", "data": {"type": "chat", "data": "hi"}, "room_id": "OTHER", "user_id": 99});
    a.send(Message::Text(frame.to_string().into())).await.unwrap();
    for ws in [&mut a, &mut b] {
        let f = next_json(ws).await;
        assert_eq!(f["user_id"], "1");
        assert_eq!(f["data"], json!({"type": "chat", "data": "hi"}));
    }
    a.send(Message::Text(r#"{"action":"shout"}"#.into()))
        .await
        .unwrap();
    let err = next_json(&mut a).await;
    assert!(err["error"].as_str().unwrap().contains("shout"), "{err}");
    assert!(nothing_within(&mut b, 300).await);
}

#[tokio::test]
async fn disconnect_removes_the_row() {
    let gw = gateway(Options::default()).await;
    let mut a = open(&gw, &token(&gw, 1, "ROOM").await).await.unwrap();
    wait_for(|| gw.live_connections() == 1).await;
    let conns = gw.connections();
    assert_eq!(conns.room("ROOM").await.unwrap().len(), 1);
    a.close(None).await.unwrap();
    for _ in 0..100 {
        if conns.room("ROOM").await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(conns.room("ROOM").await.unwrap().is_empty());

    // An unclean end (the TCP connection just drops) cleans up too.
    let b = open(&gw, &token(&gw, 2, "ROOM").await).await.unwrap();
    wait_for(|| gw.live_connections() == 1).await;
    drop(b);
    wait_for(|| gw.live_connections() == 0).await;
}

#[tokio::test]
async fn idle_sockets_are_closed() {
    let gw = gateway(Options {
        idle_timeout: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let mut a = open(&gw, &token(&gw, 1, "R").await).await.unwrap();
    assert_eq!(close_code(&mut a).await, 1001);
    wait_for(|| gw.live_connections() == 0).await;
}

/// One WebSocket message sent as `parts` frames (text, then continuations).
async fn send_fragmented(ws: &mut Ws, text: &str, parts: usize) {
    let bytes = text.as_bytes();
    let size = bytes.len().div_ceil(parts);
    for (i, chunk) in bytes.chunks(size).enumerate() {
        let opcode = if i == 0 { Data::Text } else { Data::Continue };
        let last = (i + 1) * size >= bytes.len();
        let frame = Frame::message(chunk.to_vec(), OpCode::Data(opcode), last);
        ws.send(Message::Frame(frame)).await.unwrap();
    }
}

#[tokio::test]
async fn frames_over_32_kb_and_messages_over_128_kb_close_with_1009() {
    let gw = gateway(Options::default()).await;
    let message = |kb: usize| json!({"action": "sendMessage", "data": "x".repeat(kb * 1024)}).to_string();

    // One 40 KB frame: over API Gateway's frame limit.
    let mut a = open(&gw, &token(&gw, 1, "R").await).await.unwrap();
    a.send(Message::Text(message(40).into())).await.unwrap();
    assert_eq!(close_code(&mut a).await, 1009);

    // The same 40 KB message in two 20 KB frames is within both limits and is delivered.
    let mut b = open(&gw, &token(&gw, 2, "R").await).await.unwrap();
    send_fragmented(&mut b, &message(40), 2).await;
    let f = next_json(&mut b).await;
    assert_eq!(f["data"].as_str().map(str::len), Some(40 * 1024));

    // 130 KB in frames of 26 KB each: every frame fits, the message does not.
    send_fragmented(&mut b, &message(130), 5).await;
    assert_eq!(close_code(&mut b).await, 1009);
}

#[tokio::test]
async fn management_api_through_the_real_sdk_client() {
    let gw = gateway(Options::default()).await;
    let mut a = open(&gw, &token(&gw, 1, "R").await).await.unwrap();
    wait_for(|| gw.live_connections() == 1).await;
    let id = gw.connections().room("R").await.unwrap()[0].connection_id.clone();
    assert!(
        id.ends_with('='),
        "ids look like API Gateway's and need percent-encoding: {id}"
    );

    let sdk = hermes_core::aws::sdk_config(&memory_config()).await;
    let pusher = ApiGwPusherFactory::new(sdk.clone()).for_endpoint(&gw.endpoint());
    pusher.post(&id, br#"{"hello":"world"}"#).await.unwrap();
    assert_eq!(next_json(&mut a).await, json!({"hello": "world"}));
    assert_eq!(pusher.post("bm9ib2R5", b"x").await, Err(PushError::Gone));
    let too_big = vec![b'x'; 129 * 1024];
    assert!(matches!(
        pusher.post(&id, &too_big).await,
        Err(PushError::Rejected { status: 413, .. })
    ));

    let client = aws_sdk_apigatewaymanagement::Client::from_conf(
        aws_sdk_apigatewaymanagement::config::Builder::from(&sdk)
            .endpoint_url(gw.endpoint())
            .build(),
    );
    let info = client.get_connection().connection_id(&id).send().await.unwrap();
    assert!(info.connected_at().is_some() && info.last_active_at().is_some());
    assert_eq!(info.identity().unwrap().source_ip(), Some("127.0.0.1"));

    pusher.close(&id).await.unwrap();
    assert_eq!(close_code(&mut a).await, 1000, "DeleteConnection closes normally");
    wait_for(|| gw.live_connections() == 0).await;
    assert_eq!(pusher.post(&id, b"x").await, Err(PushError::Gone));
}

#[tokio::test]
async fn a_taken_port_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = start(
        memory_config(),
        Options {
            port,
            ..Options::default()
        },
    )
    .await
    .err()
    .expect("the port is taken");
    assert!(matches!(err, StartError::Listen { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(msg.contains("in use"), "{msg}");
}

#[tokio::test]
async fn upgrades_past_the_connection_limit_are_refused_with_429() {
    let gw = gateway(Options {
        max_connections: 1,
        ..Options::default()
    })
    .await;
    let _a = open(&gw, &token(&gw, 1, "R").await).await.unwrap();
    wait_for(|| gw.live_connections() == 1).await;
    assert_eq!(
        status_of(open(&gw, &token(&gw, 2, "R").await).await.unwrap_err()),
        429
    );
}

#[tokio::test]
async fn send_message_with_deeply_nested_data_is_routed_and_delivered() {
    let gw = gateway(Options::default()).await;
    let mut a = open(&gw, &token(&gw, 1, "ACME").await).await.unwrap();
    let mut b = open(&gw, &token(&gw, 2, "ACME").await).await.unwrap();
    wait_for(|| gw.live_connections() == 2).await;
    // Deeper than serde_json's 128-level limit for building values: the route is
    // `$request.body.action` alone, and the data is passed on as sent.
    let data = format!("{}\"deep\"{}", "[".repeat(200), "]".repeat(200));
    let frame = format!(r#"{{"action":"sendMessage","data":{data}}}"#);
    a.send(Message::Text(frame.into())).await.unwrap();
    for ws in [&mut a, &mut b] {
        let text = loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap()
            {
                Message::Text(t) => break t.to_string(),
                _ => continue,
            }
        };
        // The sender's data, byte for byte, and no "unknown action" error.
        let expected = format!(r#"{{"user_id":"1","data":{data},"id":""#);
        assert!(text.starts_with(&expected), "{}", &text[..text.len().min(120)]);
    }
}

#[tokio::test]
async fn more_sockets_than_route_slots_are_all_read() {
    // Idle sockets hold none of the gateway's slots: with 2 slots, the 5th socket's frame
    // is still read and routed.
    let gw = gateway(Options {
        max_routes: 2,
        ..Options::default()
    })
    .await;
    let mut sockets = Vec::new();
    for user in 1..=5 {
        sockets.push(open(&gw, &token(&gw, user, "MANY").await).await.unwrap());
    }
    wait_for(|| gw.live_connections() == 5).await;
    for (i, sender) in [4, 0, 2].into_iter().enumerate() {
        let frame = json!({"action": "sendMessage", "data": i}).to_string();
        sockets[sender].send(Message::Text(frame.into())).await.unwrap();
        for ws in sockets.iter_mut() {
            assert_eq!(next_json(ws).await["data"], i);
        }
    }
}
