//! A page's side of delivery: open a socket as a user of a room, ask where the room stands,
//! read frames as sent, wait for the room's rows.

use std::future::Future;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hermes_core::{Notification, UserId};
use hermes_local::Gateway;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::{next_json_within, Ws};

/// A socket of `user` in `room`, with a token minted for it.
pub async fn open_as(gw: &Gateway, user: i64, room: &str) -> Ws {
    let jwt = gw
        .minter()
        .unwrap()
        .generate_token(&UserId::Int(user), room)
        .await
        .unwrap();
    open_with(gw, &jwt).await
}

pub async fn open_with(gw: &Gateway, jwt: &str) -> Ws {
    tokio_tungstenite::connect_async(format!("{}?token={jwt}", gw.ws_url()))
        .await
        .unwrap()
        .0
}

pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next text frame, parsed, within 20 s.
pub async fn next(ws: &mut Ws) -> Value {
    next_json_within(ws, Duration::from_secs(20)).await
}

/// Raw text of the next text frame (recovered frames are compared byte for byte).
pub async fn next_text(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a frame in time")
            .unwrap()
            .unwrap()
        {
            Message::Text(t) => return t.to_string(),
            Message::Close(f) => panic!("closed: {f:?}"),
            _ => {}
        }
    }
}

/// The first answer of a page: where the room stands.
pub async fn baseline(ws: &mut Ws) -> (String, u64) {
    send(ws, json!({"action": "recover", "since": 0, "epoch": ""})).await;
    let a = next(ws).await;
    assert_eq!(a["hermes"], "recovered", "{a}");
    (
        a["epoch"].as_str().unwrap().to_owned(),
        a["seq"].as_u64().unwrap(),
    )
}

/// Waits for `f` to hold, for up to 20 s.
pub async fn wait_until<F: Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    for _ in 0..400 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 20 s");
}

/// Waits until `room` has `n` connection rows.
pub async fn in_room(gw: &Gateway, room: &str, n: usize) {
    let conns = gw.connections();
    wait_until("connections registered", || {
        let conns = conns.clone();
        let room = room.to_owned();
        async move { conns.room(&room).await.unwrap().len() == n }
    })
    .await;
}

/// The `n`th test notification to `room`.
pub fn note(room: &str, n: usize) -> Notification {
    Notification::new(9, room, json!({"type": "info", "data": n}))
}
