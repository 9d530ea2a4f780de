#![allow(dead_code)]
//! Helpers shared by the gateway's integration tests: a gateway on the memory backend, real
//! WebSocket clients, and raw TCP clients for what a well-behaved client never sends.

pub mod aws;
pub mod pages;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use hermes_core::push::{ApiGwPusherFactory, Pusher, PusherFactory};
use hermes_core::{Config, UserId};
use hermes_local::{start, Gateway, Options};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub fn memory_config() -> Config {
    Config::from_lookup(|k| match k {
        "HERMES_JWT_SECRET" => Some("gateway-test-secret-for-hs512-0123456789".into()),
        "HERMES_PASSCODE" => Some("gateway-passcode".into()),
        "HERMES_BCRYPT_COST" => Some("4".into()),
        "HERMES_BACKEND" => Some("memory".into()),
        _ => None,
    })
    .unwrap()
}

/// A gateway on a free port.
pub async fn gateway(opts: Options) -> Gateway {
    start(memory_config(), Options { port: 0, ..opts }).await.unwrap()
}

pub async fn token(gw: &Gateway, user: i64, room: &str) -> String {
    gw.minter()
        .unwrap()
        .generate_token(&UserId::Int(user), room)
        .await
        .unwrap()
}

pub async fn open(gw: &Gateway, token: &str) -> Result<Ws, tungstenite::Error> {
    tokio_tungstenite::connect_async(format!("{}?token={token}", gw.ws_url()))
        .await
        .map(|(ws, _)| ws)
}

/// The next text frame, parsed; control frames are skipped. Panics after `within`.
pub async fn next_json_within(ws: &mut Ws, within: Duration) -> Value {
    loop {
        let m = tokio::time::timeout(within, ws.next())
            .await
            .expect("a frame in time")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// Waits for `f` to hold, for up to 10 s (generous: the machine may be loaded).
pub async fn wait_for(mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not reached in 10 s");
}

/// The only connection id in `room`, once its socket is open.
pub async fn connection_id(gw: &Gateway, room: &str) -> String {
    for _ in 0..500 {
        if let Some(m) = gw.connections().room(room).await.unwrap().first() {
            return m.connection_id.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no connection in room {room}");
}

/// A WebSocket opened by hand over `tcp`: the upgrade request, then the 101 answer read.
pub async fn raw_upgrade(gw: &Gateway, mut tcp: TcpStream, token: &str) -> TcpStream {
    let request = format!(
        "GET /development?token={token} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n",
        gw.addr
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            tcp.read(&mut byte).await.unwrap(),
            1,
            "the gateway closed during the upgrade"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// A socket opened by hand that never reads, with a receive window of a few KiB: whatever
/// the gateway writes to it piles up in the gateway's send buffer, then in its queue.
pub async fn non_reading_socket(gw: &Gateway, user: i64, room: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(gw.addr).await.unwrap();
    raw_upgrade(gw, tcp, &token(gw, user, room).await).await
}

/// `non_reading_socket`, alone in `room`, and its connection id.
pub async fn non_reading_client(gw: &Gateway, user: i64, room: &str) -> (TcpStream, String) {
    let tcp = non_reading_socket(gw, user, room).await;
    let id = connection_id(gw, room).await;
    (tcp, id)
}

/// The management API's own client (the SDK's, signed), pointed at the gateway.
pub async fn management_client(gw: &Gateway) -> Arc<dyn Pusher> {
    let sdk = hermes_core::aws::sdk_config(&memory_config()).await;
    ApiGwPusherFactory::new(sdk).for_endpoint(&gw.endpoint())
}

/// The process's resident memory (VmRSS), in bytes.
pub fn rss_bytes() -> usize {
    hermes_testkit::rss_kib(std::process::id()) as usize * 1024
}

/// One frame as a client writes it (`masked`, as RFC 6455 requires of clients) or does not.
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut f = vec![(u8::from(fin) << 7) | opcode];
    let mask_bit = u8::from(masked) << 7;
    match payload.len() {
        n if n < 126 => f.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(mask_bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// Reads the server's frames until its close frame and returns the close code; `None` if
/// the connection ends without one. Panics after 10 s.
pub async fn raw_close_code(tcp: &mut TcpStream) -> Option<u16> {
    let read = async {
        loop {
            let mut head = [0u8; 2];
            tcp.read_exact(&mut head).await.ok()?;
            let len = match head[1] & 0x7f {
                126 => u64::from(tcp.read_u16().await.ok()?),
                127 => tcp.read_u64().await.ok()?,
                n => u64::from(n),
            };
            let mut payload = vec![0u8; len as usize];
            tcp.read_exact(&mut payload).await.ok()?;
            if head[0] & 0x0f == 0x8 {
                return Some(u16::from_be_bytes([payload[0], payload[1]]));
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the gateway answered or closed within 10 s")
}

/// A plain HTTP/1.1 request (`Connection: close`); the status and body of the answer.
pub async fn http(
    gw: &Gateway,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {}\r\n", gw.addr));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut out))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}
