//! Delivery you can rely on, through the gateway with real WebSocket clients: recovery after a
//! reconnect, revocation and disconnect closing live sockets, presence, and DynamoDB going
//! away mid-stream (a TCP proxy in front of moto that the test stops and starts).

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{next_json_within, Ws};
use futures::{SinkExt, StreamExt};
use hermes_core::push::ApiGwPusherFactory;
use hermes_core::queue::{Queue, SqsQueue};
use hermes_core::store::{DynamoConnectionStore, DynamoHistoryStore, DynamoTokenStore};
use hermes_core::{Backends, Config, Minter, Notification, UserId};
use hermes_local::{start, start_with, Gateway, Options};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

fn memory_config() -> Config {
    Config::from_lookup(|k| match k {
        "HERMES_JWT_SECRET" => Some("delivery-test-secret-for-hs512-0123456789".into()),
        "HERMES_PASSCODE" => Some("delivery-passcode".into()),
        "HERMES_BCRYPT_COST" => Some("4".into()),
        "HERMES_BACKEND" => Some("memory".into()),
        _ => None,
    })
    .unwrap()
}

async fn gateway() -> Gateway {
    start(
        memory_config(),
        Options {
            port: 0,
            ..Options::default()
        },
    )
    .await
    .unwrap()
}

async fn open_with(gw: &Gateway, jwt: &str) -> Ws {
    tokio_tungstenite::connect_async(format!("{}?token={jwt}", gw.ws_url()))
        .await
        .unwrap()
        .0
}

async fn open(gw: &Gateway, user: i64, room: &str) -> Ws {
    let jwt = gw
        .minter()
        .unwrap()
        .generate_token(&UserId::Int(user), room)
        .await
        .unwrap();
    open_with(gw, &jwt).await
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

async fn next(ws: &mut Ws) -> Value {
    next_json_within(ws, Duration::from_secs(20)).await
}

/// Raw text of the next text frame (recovered frames are compared byte for byte).
async fn next_text(ws: &mut Ws) -> String {
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
async fn baseline(ws: &mut Ws) -> (String, u64) {
    send(ws, json!({"action": "recover", "since": 0, "epoch": ""})).await;
    let a = next(ws).await;
    assert_eq!(a["hermes"], "recovered", "{a}");
    (
        a["epoch"].as_str().unwrap().to_owned(),
        a["seq"].as_u64().unwrap(),
    )
}

async fn wait_until<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    for _ in 0..400 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 20 s");
}

async fn in_room(gw: &Gateway, room: &str, n: usize) {
    let conns = gw.connections();
    wait_until("connections registered", || {
        let conns = conns.clone();
        let room = room.to_owned();
        async move { conns.room(&room).await.unwrap().len() == n }
    })
    .await;
}

fn note(room: &str, n: usize) -> Notification {
    Notification::new(9, room, json!({"type": "info", "data": n}))
}

#[tokio::test]
async fn a_page_that_misses_20_messages_gets_exactly_those_on_reconnect() {
    let gw = gateway().await;
    let q = gw.queue().unwrap();
    let mut watcher = open(&gw, 1, "ACME").await;
    let mut page = open(&gw, 2, "ACME").await;
    in_room(&gw, "ACME", 2).await;
    let (epoch, start) = baseline(&mut page).await;
    assert_eq!(start, 0);
    for n in 0..3 {
        q.send(&note("ACME", n)).await.unwrap();
    }
    let mut last = 0;
    for _ in 0..3 {
        let f = next(&mut page).await;
        assert_eq!(f["epoch"], json!(epoch));
        last = f["seq"].as_u64().unwrap();
    }
    for _ in 0..3 {
        next(&mut watcher).await;
    }
    // The laptop sleeps: the socket goes without a close frame.
    drop(page);
    in_room(&gw, "ACME", 1).await;
    let mut ids = Vec::new();
    for n in 3..23 {
        ids.push(q.send(&note("ACME", n)).await.unwrap());
    }
    // What the watcher got live is what the page must get back, byte for byte.
    let mut live = Vec::new();
    for _ in 0..20 {
        live.push(next_text(&mut watcher).await);
    }
    let mut page = open(&gw, 2, "ACME").await;
    send(
        &mut page,
        json!({"action": "recover", "since": last, "epoch": epoch}),
    )
    .await;
    let mut got = Vec::new();
    for _ in 0..20 {
        got.push(next_text(&mut page).await);
    }
    assert_eq!(
        got, live,
        "exactly the 20 missed frames, oldest first, as first posted"
    );
    let ids_got: Vec<String> = got
        .iter()
        .map(|t| {
            serde_json::from_str::<Value>(t).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids_got, ids);
    assert_eq!(
        next(&mut page).await,
        json!({"hermes": "recovered", "recovered": true, "epoch": epoch, "seq": last + 20})
    );
    // And live delivery goes on.
    q.send(&note("ACME", 23)).await.unwrap();
    assert_eq!(next(&mut page).await["seq"], last + 21);
}

#[tokio::test]
async fn revoking_closes_the_users_live_sockets_and_disconnect_closes_without_revoking() {
    let gw = gateway().await;
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
    let mut a1 = open(&gw, 1, "ACME").await;
    let mut a2 = open(&gw, 1, "ACME").await;
    let mut b = open(&gw, 2, "ACME").await;
    let mut other_room = open(&gw, 1, "OTHER").await;
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
    let mut again = open(&gw, 2, "ACME").await;
    in_room(&gw, "ACME", 1).await;
    send(&mut again, json!({"action": "presence"})).await;
    assert_eq!(next(&mut again).await["connections"], 1);
    let r = dev("POST", "/_hermes/presence", json!({"room_id": "ACME"})).await;
    assert_eq!(r, json!({"users": ["2"], "connections": 1}));
}

/// The position a page is rendered at (`POST /_hermes/position`, what the gem's view helper
/// embeds), then notifications before its socket opens: its first `recover` from that position
/// brings exactly those.
#[tokio::test]
async fn a_page_rendered_at_a_position_gets_what_was_sent_before_its_socket_opened() {
    let gw = gateway().await;
    let position = || async {
        let (status, body) = common::http(
            &gw,
            "POST",
            "/_hermes/position",
            &[("Content-Type", "application/json")],
            r#"{"room_id":"ACME"}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()
    };
    assert_eq!(position().await, json!({"seq": 0, "epoch": null}));
    let q = gw.queue().unwrap();
    for n in 1..=3 {
        q.send(&note("ACME", n)).await.unwrap();
    }
    wait_until("3 in the history", || async { position().await["seq"] == 3 }).await;
    // Rendered now; 2 more go out before the page's socket opens.
    let at = position().await;
    for n in 4..=5 {
        q.send(&note("ACME", n)).await.unwrap();
    }
    wait_until("5 in the history", || async { position().await["seq"] == 5 }).await;
    let mut page = open(&gw, 1, "ACME").await;
    send(
        &mut page,
        json!({"action": "recover", "since": at["seq"], "epoch": at["epoch"]}),
    )
    .await;
    for n in 4..=5 {
        assert_eq!(next(&mut page).await["data"]["data"], n);
    }
    let answer = next(&mut page).await;
    assert_eq!(
        (
            answer["hermes"].as_str(),
            answer["recovered"].as_bool(),
            answer["seq"].as_u64()
        ),
        (Some("recovered"), Some(true), Some(5)),
        "{answer}"
    );
}

/// A TCP proxy for DynamoDB that the test takes down (new connections are dropped at once,
/// open ones cut) and brings back. Restarting moto itself would lose its tables.
struct Proxy {
    url: String,
    down: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Proxy {
    async fn start(upstream: &str) -> Proxy {
        let target = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let down = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicUsize::new(0));
        let (cut, cuts) = tokio::sync::watch::channel(0u64);
        let (d, r) = (down.clone(), refused.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if d.load(Ordering::SeqCst) {
                    r.fetch_add(1, Ordering::SeqCst);
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let mut cuts = cuts.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    cuts.borrow_and_update();
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Proxy {
            url,
            down,
            refused,
            cut,
        }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            self.cut.send_modify(|n| *n += 1);
        }
    }
}

#[tokio::test]
async fn dynamodb_unreachable_mid_stream_loses_nothing_and_delivers_once() {
    let Some(endpoint) = hermes_core::testing::aws_endpoint() else {
        return;
    };
    let proxy = Proxy::start(&endpoint).await;
    let cfg_for = |aws: &str, queue: &str| {
        let pairs = [
            (
                "HERMES_JWT_SECRET",
                "delivery-aws-secret-for-hs512-0123456789".to_owned(),
            ),
            ("HERMES_PASSCODE", "p".to_owned()),
            ("HERMES_BCRYPT_COST", "4".to_owned()),
            ("HERMES_BACKEND", "aws".to_owned()),
            ("HERMES_AWS_ENDPOINT_URL", aws.to_owned()),
            ("HERMES_QUEUE_URL", queue.to_owned()),
        ];
        Config::from_lookup(|k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap()
    };
    let direct = hermes_core::aws::sdk_config(&cfg_for(&endpoint, "")).await;
    let sqs = hermes_core::aws::sqs(&direct);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    // A short visibility timeout: a failed record is back within seconds.
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("outage-{nanos:x}"))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "2")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let cfg = cfg_for(&proxy.url, &queue_url);
    // DynamoDB through the proxy; SQS straight to moto, so records keep arriving and failing.
    let ddb = hermes_core::aws::dynamodb(&hermes_core::aws::sdk_config(&cfg).await);
    let backends = Backends {
        tokens: Arc::new(DynamoTokenStore::new(ddb.clone(), cfg.tokens_table())),
        connections: Arc::new(DynamoConnectionStore::new(ddb.clone(), cfg.connections_table())),
        history: Arc::new(DynamoHistoryStore::new(ddb, cfg.history_table())),
        queue: Some(Arc::new(SqsQueue::new(sqs.clone(), &queue_url))),
        pushers: Arc::new(ApiGwPusherFactory::new(direct.clone())),
    };
    let gw = start_with(
        cfg.clone(),
        Options {
            port: 0,
            ..Options::default()
        },
        backends.clone(),
    )
    .await
    .unwrap();
    let room = format!("outage-{nanos:x}");
    let jwt = Minter::new(&cfg, backends.tokens.clone())
        .unwrap()
        .generate_token(&UserId::Int(5), &room)
        .await
        .unwrap();
    let mut ws = open_with(&gw, &jwt).await;
    let conns = backends.connections.clone();
    wait_until("connection registered", || {
        let (conns, room) = (conns.clone(), room.clone());
        async move { conns.room(&room).await.unwrap().len() == 1 }
    })
    .await;
    let (epoch, _) = baseline(&mut ws).await;

    // 40 messages at a steady 20 a second, straight into SQS; DynamoDB away for messages 10..25.
    let producer = {
        let queue = SqsQueue::new(sqs.clone(), &queue_url);
        let room = room.clone();
        let down = proxy.down.clone();
        let cut = proxy.cut.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..40 {
                if n == 10 {
                    down.store(true, Ordering::SeqCst);
                    cut.send_modify(|c| *c += 1);
                }
                if n == 25 {
                    down.store(false, Ordering::SeqCst);
                }
                ids.push(queue.send(&note(&room, n)).await.unwrap());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            ids
        })
    };
    let ids = producer.await.unwrap();
    proxy.set_down(false);
    let want: HashSet<String> = ids.iter().cloned().collect();
    let mut seen = HashSet::new();
    let mut last_seq = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while seen.len() < want.len() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let f = next_json_within(&mut ws, left).await;
        let id = f["id"].as_str().unwrap().to_owned();
        assert!(want.contains(&id), "unexpected frame {f}");
        assert!(seen.insert(id), "delivered twice: {f}");
        assert_eq!(f["epoch"], json!(epoch));
        let seq = f["seq"].as_u64().unwrap();
        assert!(seq > last_seq, "seq went back: {seq} after {last_seq}");
        last_seq = seq;
    }
    assert!(
        proxy.refused.load(Ordering::SeqCst) > 0,
        "the outage was felt: DynamoDB calls were refused"
    );
    // Nothing more comes: no second copy of a redelivered record.
    assert!(
        tokio::time::timeout(Duration::from_secs(3), ws.next())
            .await
            .is_err(),
        "a frame after all 40"
    );
    gw.shutdown().await;
}
