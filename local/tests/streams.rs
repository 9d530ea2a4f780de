//! Streams through the gateway with real WebSocket clients: a signed-in page and a page of
//! nobody subscribe over their one socket, broadcasts from the development endpoint reach each
//! stream's subscribers only, and the development key signs what the gateway accepts.

mod common;

use std::time::Duration;

use common::pages::{next, open_as, open_with, send};
use common::{gateway, http};
use hermes_core::stream_name::StreamKey;
use hermes_local::Options;
use serde_json::{json, Value};

async fn broadcast(gw: &hermes_local::Gateway, stream: &str, data: Value) {
    let body = json!({"stream": stream, "data": data}).to_string();
    let (status, answer) = http(
        gw,
        "POST",
        "/_hermes/broadcasts",
        &[("Content-Type", "application/json")],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn two_streams_on_one_socket_and_a_page_of_nobody_get_their_own_frames() {
    let gw = gateway(Options::default()).await;
    let key = StreamKey::development();
    let (s1, s2) = (key.sign("board_1").unwrap(), key.sign("board_2").unwrap());
    let mut user = open_as(&gw, 1, "ACME").await;
    send(&mut user, json!({"action": "subscribe", "streams": [s1, s2]})).await;
    let answer = next(&mut user).await;
    assert_eq!(answer["hermes"], "subscribed");
    assert_eq!(answer["streams"].as_array().unwrap().len(), 2);

    let (status, body) = http(
        &gw,
        "POST",
        "/_hermes/streams/token",
        &[("Content-Type", "application/json")],
        "{}",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let jwt = serde_json::from_str::<Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut nobody = open_with(&gw, &jwt).await;
    send(&mut nobody, json!({"action": "subscribe", "streams": [s2]})).await;
    assert_eq!(next(&mut nobody).await["hermes"], "subscribed");
    // A forged name: an error frame, and nothing of board_1 later.
    let forged = StreamKey::from_text("not the key").sign("board_1").unwrap();
    send(&mut nobody, json!({"action": "subscribe", "streams": [forged]})).await;
    let refused = next(&mut nobody).await;
    assert_eq!(
        (refused["hermes"].as_str(), refused["name"].as_str()),
        (Some("error"), Some(forged.as_str()))
    );

    broadcast(
        &gw,
        "board_1",
        json!("<turbo-stream action=\"append\">1</turbo-stream>"),
    )
    .await;
    broadcast(
        &gw,
        "board_2",
        json!("<turbo-stream action=\"append\">2</turbo-stream>"),
    )
    .await;
    let (a, b) = (next(&mut user).await, next(&mut user).await);
    assert_eq!(
        (a["stream"].as_str(), b["stream"].as_str()),
        (Some("board_1"), Some("board_2"))
    );
    let n = next(&mut nobody).await;
    assert_eq!(
        (n["stream"].as_str(), n["seq"].as_u64()),
        (Some("board_2"), Some(1))
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), next(&mut nobody))
            .await
            .is_err(),
        "a page of nobody gets its stream only"
    );
    // Its room routes are refused.
    send(&mut nobody, json!({"action": "sendMessage", "data": 1})).await;
    assert!(next(&mut nobody).await["error"]
        .as_str()
        .unwrap()
        .contains("belongs to no room"));
    // Presence of a stream, from the development endpoint as `Hermes.presence(stream:)` asks it.
    let (status, body) = http(
        &gw,
        "POST",
        "/_hermes/streams/presence",
        &[("Content-Type", "application/json")],
        r#"{"stream":"board_2"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"users": ["1"], "connections": 2})
    );
}
