//! What the benches that fan out to many clients share (fanout.rs, seed_send.rs): the clients.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// `n` WebSocket clients of hermes-local on `port`, opened one at a time with `token`, each
/// counting the text frames it receives into `received`. Abort the tasks to close them.
pub async fn counting_clients(
    port: u16,
    token: &str,
    n: usize,
    received: &Arc<AtomicUsize>,
) -> Vec<JoinHandle<()>> {
    let url = format!("ws://127.0.0.1:{port}/development?token={token}");
    // A browser reads into buffers sized for its frames; tungstenite's default 128 KiB read
    // buffer would have a client thread zeroing 1.3 GB per message to 10,000 clients.
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(&url, Some(config), false)
            .await
            .expect("connect");
        let received = received.clone();
        tasks.push(tokio::spawn(async move {
            let (_sink, mut stream) = ws.split();
            while let Some(Ok(m)) = stream.next().await {
                if matches!(m, Message::Text(_)) {
                    received.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    tasks
}
