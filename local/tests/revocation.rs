//! Revoking a user's token closes their live sockets in the room (1000), and the development
//! disconnect closes them without revoking; the room's other sockets, and presence, see only
//! what changed.

mod common;

use std::time::Duration;

use common::pages::{in_room, next, open_as, send};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn revoking_closes_the_users_live_sockets_and_disconnect_closes_without_revoking() {
    let gw = common::gateway(hermes_local::Options::default()).await;
    let addr = gw.addr;
    let dev = |method: &'static str, path: &'static str, body: Value| async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let body = body.to_string();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        tokio::io::AsyncWriteExt::write_all(&mut s, req.as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut s, &mut out)
            .await
            .unwrap();
        let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
        serde_json::from_str::<Value>(&body).unwrap_or(Value::Null)
    };
    let mut a1 = open_as(&gw, 1, "ACME").await;
    let mut a2 = open_as(&gw, 1, "ACME").await;
    let mut b = open_as(&gw, 2, "ACME").await;
    let mut other_room = open_as(&gw, 1, "OTHER").await;
    in_room(&gw, "ACME", 3).await;

    let r = dev(
        "DELETE",
        "/_hermes/tokens",
        json!({"user_id": 1, "room_id": "ACME"}),
    )
    .await;
    assert_eq!(r["revoked"], true, "{r}");
    for ws in [&mut a1, &mut a2] {
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(f))) => return f.map(|f| u16::from(f.code)),
                    None | Some(Err(_)) => return None,
                    _ => {}
                }
            }
        })
        .await
        .expect("closed within seconds");
        assert_eq!(closed, Some(1000));
    }
    in_room(&gw, "ACME", 1).await;
    // The others are untouched, and the revoked token no longer connects.
    send(&mut b, json!({"action": "presence"})).await;
    assert_eq!(
        next(&mut b).await,
        json!({"hermes": "presence", "room_id": "ACME", "users": ["2"], "connections": 1})
    );
    send(&mut other_room, json!({"action": "presence"})).await;
    assert_eq!(next(&mut other_room).await["users"], json!(["1"]));

    // Disconnect without revoking: closed, and the same user connects again.
    let r = dev(
        "POST",
        "/_hermes/disconnect",
        json!({"user_id": 2, "room_id": "ACME"}),
    )
    .await;
    assert!(r["message_id"].is_string(), "{r}");
    let f = tokio::time::timeout(Duration::from_secs(10), b.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(f, Message::Close(_)), "{f:?}");
    let mut again = open_as(&gw, 2, "ACME").await;
    in_room(&gw, "ACME", 1).await;
    send(&mut again, json!({"action": "presence"})).await;
    assert_eq!(next(&mut again).await["connections"], 1);
    let r = dev("POST", "/_hermes/presence", json!({"room_id": "ACME"})).await;
    assert_eq!(r, json!({"users": ["2"], "connections": 1}));
}
