//! Helpers shared by the gateway's integration tests.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

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
