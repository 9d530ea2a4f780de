//! `cargo bench -p hermes-local --bench recovery`: a page that missed 100 notifications
//! reconnects and sends `recover`; the time until its `recovered` answer, the 100 frames
//! included, each posted through the real management API client to the gateway (memory
//! backend, in this process, 127.0.0.1). Reports wall-time percentiles over the rounds and the
//! process CPU time per recovery (getrusage: the gateway, the SDK client and the test client
//! together), the figure that moves less on a shared machine. Bounded: 30 rounds.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use hermes_core::{Config, Notification, UserId};
use hermes_local::{start, Options};
use hermes_testkit::cpu;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const ROUNDS: usize = 30;
const MISSED: usize = 100;

async fn text(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a frame within 30 s")
            .unwrap()
            .unwrap()
        {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            _ => continue,
        }
    }
}

#[tokio::main]
async fn main() {
    let cfg = Config::from_lookup(|k| match k {
        "HERMES_JWT_SECRET" => Some("recovery-bench-secret-for-hs512-0123456789".into()),
        "HERMES_PASSCODE" => Some("p".into()),
        "HERMES_BCRYPT_COST" => Some("4".into()),
        "HERMES_BACKEND" => Some("memory".into()),
        _ => None,
    })
    .unwrap();
    let gw = start(
        cfg,
        Options {
            port: 0,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let jwt = gw
        .minter()
        .unwrap()
        .generate_token(&UserId::Int(1), "BENCH")
        .await
        .unwrap();
    let url = format!("{}?token={jwt}", gw.ws_url());
    let queue = gw.queue().unwrap();
    // Stays in the room: once it has a round's 100, they are all sequenced.
    let (mut observer, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    while gw.live_connections() < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    let (mut epoch, mut seq) = (String::new(), 0u64);
    for round in 0..ROUNDS {
        let batch: Vec<Notification> = (0..MISSED)
            .map(|n| {
                Notification::new(
                    9,
                    "BENCH",
                    json!({"type": "info", "data": format!("round {round} #{n}")}),
                )
            })
            .collect();
        queue.send_batch(&batch).await.unwrap();
        for _ in 0..MISSED {
            let f = text(&mut observer).await;
            epoch = f["epoch"].as_str().unwrap().to_owned();
        }
        // The page was away for all of them; it comes back and asks.
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        // This process's CPU: the gateway, the SDK client and the WebSocket clients all run in it.
        let (c0, t0) = (cpu::own(), Instant::now());
        ws.send(Message::Text(
            json!({"action": "recover", "since": seq, "epoch": epoch})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        let mut frames = 0;
        loop {
            let f = text(&mut ws).await;
            if f["hermes"] == "recovered" {
                assert_eq!(f["recovered"], true, "{f}");
                seq = f["seq"].as_u64().unwrap();
                break;
            }
            frames += 1;
        }
        walls.push(t0.elapsed());
        cpus.push(cpu::own() - c0);
        assert_eq!(frames, MISSED);
        ws.close(None).await.ok();
    }
    walls.sort();
    cpus.sort();
    let pct = |v: &[Duration], p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    println!(
        "recover {MISSED} missed over hermes-local (memory, real management API posts), {} rounds: \
         wall p50 {:.1} ms, p90 {:.1} ms; process CPU p50 {:.1} ms per recovery",
        walls.len(),
        pct(&walls, 0.5).as_secs_f64() * 1e3,
        pct(&walls, 0.9).as_secs_f64() * 1e3,
        pct(&cpus, 0.5).as_secs_f64() * 1e3,
    );
    gw.shutdown().await;
}
