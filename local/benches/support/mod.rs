//! What the benches that fan out to many clients share (fanout.rs, seed_send.rs): the clients.
#![allow(dead_code)] // each bench uses its part

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// `n` WebSocket clients of hermes-local on `port`, opened one at a time with `token`.
pub async fn open_clients(port: u16, token: &str, n: usize) -> Vec<Ws> {
    let url = format!("ws://127.0.0.1:{port}/development?token={token}");
    // A browser reads into buffers sized for its frames; tungstenite's default 128 KiB read
    // buffer would have a client thread zeroing 1.3 GB per message to 10,000 clients.
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(&url, Some(config), false)
            .await
            .expect("connect");
        clients.push(ws);
    }
    clients
}

/// Each client counting the text frames it receives into `received`. Abort the tasks to close
/// them.
pub fn count_frames(clients: Vec<Ws>, received: &Arc<AtomicUsize>) -> Vec<JoinHandle<()>> {
    clients
        .into_iter()
        .map(|ws| {
            let received = received.clone();
            tokio::spawn(async move {
                let (_sink, mut stream) = ws.split();
                while let Some(Ok(m)) = stream.next().await {
                    if matches!(m, Message::Text(_)) {
                        received.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect()
}

/// `open_clients`, each counting its frames.
pub async fn counting_clients(
    port: u16,
    token: &str,
    n: usize,
    received: &Arc<AtomicUsize>,
) -> Vec<JoinHandle<()>> {
    count_frames(open_clients(port, token, n).await, received)
}

/// Sends `{"action": "subscribe", "streams": signed}` and waits for the `subscribed` answer:
/// the round trip, from the frame written to the answer read. Panics on any other answer (an
/// error frame names the bound it hit) or after 10 s.
pub async fn subscribe(ws: &mut Ws, signed: &[String]) -> Duration {
    let frame = serde_json::json!({"action": "subscribe", "streams": signed}).to_string();
    let t0 = Instant::now();
    ws.send(Message::Text(frame.into()))
        .await
        .expect("send subscribe");
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a subscribe answer within 10 s")
            .expect("the socket open")
            .expect("a frame");
        if let Message::Text(t) = m {
            assert!(
                t.starts_with(r#"{"hermes":"subscribed""#),
                "subscribe answered {t}"
            );
            return t0.elapsed();
        }
    }
}
