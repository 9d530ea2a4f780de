//! DynamoDB going away mid-stream (a TCP proxy in front of moto that the test takes down and
//! brings back): notifications keep arriving through SQS and failing, then every one is
//! delivered once, in order, once DynamoDB is back.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::next_json_within;
use common::pages::{baseline, note, open_with, wait_until};
use futures::StreamExt;
use hermes_core::push::ApiGwPusherFactory;
use hermes_core::queue::{Queue, SqsQueue};
use hermes_core::store::{
    DynamoConnectionStore, DynamoHistoryStore, DynamoSubscriptionStore, DynamoTokenStore,
};
use hermes_core::{Backends, Minter, UserId};
use hermes_local::{start_with, Options};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

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
#[ignore = "needs the moto server: run under script/with-moto with --include-ignored"]
async fn dynamodb_unreachable_mid_stream_loses_nothing_and_delivers_once() {
    let endpoint = hermes_core::testing::moto_endpoint();
    let proxy = Proxy::start(&endpoint).await;
    let direct = hermes_core::aws::sdk_config(&common::aws::config(&endpoint, "")).await;
    let sqs = hermes_core::aws::sqs(&direct);
    // A short visibility timeout: a failed record is back within seconds.
    let (queue_url, suffix) = common::aws::fresh_queue(&sqs, "outage", 2).await;
    let cfg = common::aws::config(&proxy.url, &queue_url);
    // DynamoDB through the proxy; SQS straight to moto, so records keep arriving and failing.
    let ddb = hermes_core::aws::dynamodb(&hermes_core::aws::sdk_config(&cfg).await);
    let backends = Backends {
        tokens: Arc::new(DynamoTokenStore::new(ddb.clone(), cfg.tokens_table())),
        connections: Arc::new(DynamoConnectionStore::new(ddb.clone(), cfg.connections_table())),
        history: Arc::new(DynamoHistoryStore::new(ddb.clone(), cfg.history_table())),
        subscriptions: Arc::new(DynamoSubscriptionStore::new(
            ddb.clone(),
            cfg.subscriptions_table(),
        )),
        stream_history: Arc::new(DynamoHistoryStore::for_streams(ddb, cfg.stream_history_table())),
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
    let room = format!("outage-{suffix}");
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
