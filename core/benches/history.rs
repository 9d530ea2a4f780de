//! `cargo bench -p hermes-core --bench history` (under `script/with-moto` for the DynamoDB
//! half): what the room history costs.
//!
//! - per message: publishing to a one-connection room with and without the history, through
//!   the send function's SQS entry with a one-record batch (the
//!   difference is the counter update + history write, plus the claim lookup that runs beside
//!   the counter update, and it is the extra time before the first client gets the frame: the
//!   post itself is in memory here), and the two history calls alone;
//! - per reconnect: recovering 100 missed messages (the store side: counter read + one Query);
//! - on DynamoDB, a plain GetItem as the round-trip yardstick.
//!
//! In memory, the figures are CPU time of the benchmark thread (the current-thread runtime runs
//! everything on it: clock_gettime), not wall time:
//! the machine is shared and wall time moves with its load. On DynamoDB they are wall time of
//! round trips to moto, which answers one request at a time (two calls sent together still
//! queue there) and spends milliseconds of Python on each: read them as round trips to moto, not
//! as AWS latency. The `history_dynamodb_20ms` group puts a delay line in front of moto (10 ms
//! each way: a 20 ms round trip),
//! a latency that overlaps as it would on a network, so the number of sequential round trips
//! shows: publishing with the history takes one more than without.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::Measurement;
use criterion::{criterion_group, criterion_main, Criterion};
use hermes_core::events::sqs::{SqsEvent, SqsMessage};
use hermes_core::frame::{encode_frame_at, raw};
use hermes_core::handlers::{recover, Sender};
use hermes_core::push::memory::MemoryPusherFactory;
use hermes_core::push::MemoryPusher;
use hermes_core::store::{
    Connection, ConnectionStore, DynamoConnectionStore, DynamoHistoryStore, HistoryItem, HistoryStore,
    MemoryConnectionStore, MemoryHistoryStore,
};
use hermes_core::token::now_secs;
use hermes_core::{Config, Notification, UserId};
use hermes_testkit::cpu::ThreadCpu;
use hermes_testkit::unique;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TTL: Duration = Duration::from_secs(86_400);

/// A TCP proxy that holds every byte `delay` before passing it on, both ways: a delay line,
/// so requests in flight together overlap their latency as they would on a network.
async fn delay_line(upstream: String, delay: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::join!(pipe(cr, sw, delay), pipe(sr, cw, delay));
            });
        }
    });
    url
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buf).await {
            if n == 0
                || tx
                    .send((tokio::time::Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
            {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

struct Bed {
    with: Sender,
    without: Sender,
    history: Arc<dyn HistoryStore>,
    pusher: Arc<MemoryPusher>,
    room: String,
}

async fn bed(connections: Arc<dyn ConnectionStore>, history: Arc<dyn HistoryStore>) -> Bed {
    let room = unique("bench-room");
    connections
        .put(&Connection {
            connection_id: unique("conn"),
            room_id: room.clone(),
            user_id: "1".into(),
            connected_at: now_secs(),
            expires_at: now_secs() + 3600,
            streams: Vec::new(),
        })
        .await
        .unwrap();
    let pusher = MemoryPusher::new();
    let factory = Arc::new(MemoryPusherFactory(pusher.clone()));
    Bed {
        with: Sender::new(connections.clone(), factory.clone(), Some("https://e/dev".into()))
            .with_history(history.clone(), TTL),
        without: Sender::new(connections, factory, Some("https://e/dev".into())),
        history,
        pusher,
        room,
    }
}

/// A room with 100 messages after seq 1 (the page saw seq 1), returning its epoch.
async fn missed_100(h: &dyn HistoryStore, room: &str) -> String {
    let data = raw(&json!({"type": "info", "data": "Backup finished"}));
    let mut epoch = String::new();
    for _ in 0..101 {
        let c = h.next_seq(room).await.unwrap();
        let frame = encode_frame_at(
            "1",
            &data,
            Some("8d1c6a1e-3b5f-4a7e-9c0d-2f6b1e4a9c77"),
            Some((c.last_seq, &c.epoch)),
        );
        h.put(
            room,
            &HistoryItem {
                seq: c.last_seq,
                epoch: c.epoch.clone(),
                frame: Some(frame),
                target_user_id: None,
                expires_at: now_secs() + TTL.as_secs(),
            },
        )
        .await
        .unwrap();
        epoch = c.epoch;
    }
    epoch
}

fn group<M: Measurement>(
    c: &mut Criterion<M>,
    name: &str,
    rt: &tokio::runtime::Runtime,
    b: &Bed,
    slow: bool,
) {
    let data = raw(&json!({"type": "info", "data": "Backup finished"}));
    let ids = AtomicU64::new(0);
    let mut g = c.benchmark_group(name);
    if slow {
        g.sample_size(30).measurement_time(Duration::from_secs(8));
    }
    let id = || format!("m-{}", ids.fetch_add(1, Ordering::Relaxed));
    // One notification as the send function gets it: a one-record SQS batch.
    let body = Notification {
        user_id: UserId::Str("1".into()),
        room_id: b.room.clone(),
        data: data.clone(),
        target_user_id: None,
    }
    .to_body();
    let batch = || {
        let mut m = SqsMessage::default();
        m.message_id = Some(id());
        m.body = Some(body.clone());
        let mut ev = SqsEvent::default();
        ev.records = vec![m];
        ev
    };
    for (name, sender) in [
        ("publish_without_history", &b.without),
        ("publish_with_history", &b.with),
    ] {
        g.bench_function(name, |bench| {
            bench.iter(|| {
                let r = rt.block_on(sender.handle_sqs(batch()));
                assert!(r.batch_item_failures.is_empty());
            });
            assert!(b.pusher.total() > 0);
            b.pusher.clear();
        });
    }
    let frame = encode_frame_at("1", &data, Some("m-0"), Some((1, "0123456789abcdef")));
    g.bench_function("next_seq", |bench| {
        bench.iter(|| rt.block_on(b.history.next_seq(&b.room)).unwrap())
    });
    g.bench_function("history_put", |bench| {
        let seq = AtomicU64::new(1_000_000);
        bench.iter(|| {
            let item = HistoryItem {
                seq: seq.fetch_add(1, Ordering::Relaxed),
                epoch: "0123456789abcdef".into(),
                frame: Some(frame.clone()),
                target_user_id: None,
                expires_at: now_secs() + 60,
            };
            rt.block_on(b.history.put(&b.room, &item)).unwrap()
        })
    });
    let room = unique("bench-recover");
    let epoch = rt.block_on(missed_100(&*b.history, &room));
    g.bench_function("recover_100_missed", |bench| {
        bench.iter(|| {
            let r = rt
                .block_on(recover(&*b.history, TTL.as_secs(), &room, "1", 1, &epoch))
                .unwrap();
            assert!(r.recovered && r.frames.len() == 100);
        })
    });
    g.finish();
}

fn memory(c: &mut Criterion<ThreadCpu>) {
    let rt = rt();
    let b = rt.block_on(bed(
        Arc::new(MemoryConnectionStore::new()),
        Arc::new(MemoryHistoryStore::default()),
    ));
    group(c, "history_memory", &rt, &b, false);
}

fn dynamodb(c: &mut Criterion) {
    let Ok(ep) = std::env::var("HERMES_TEST_AWS_ENDPOINT") else {
        eprintln!("history_dynamodb skipped: run under script/with-moto");
        return;
    };
    let rt = rt();
    let slow = rt.block_on(delay_line(
        ep.trim_start_matches("http://").to_owned(),
        Duration::from_millis(10),
    ));
    for (name, endpoint) in [("history_dynamodb", ep.clone()), ("history_dynamodb_20ms", slow)] {
        let cfg = Config::from_lookup(|k| match k {
            "HERMES_AWS_ENDPOINT_URL" => Some(endpoint.clone()),
            "HERMES_BACKEND" => Some("aws".into()),
            _ => None,
        })
        .unwrap();
        let ddb = hermes_core::aws::dynamodb(&rt.block_on(hermes_core::aws::sdk_config(&cfg)));
        let history: Arc<dyn HistoryStore> =
            Arc::new(DynamoHistoryStore::new(ddb.clone(), cfg.history_table()));
        let b = rt.block_on(bed(
            Arc::new(DynamoConnectionStore::new(ddb.clone(), cfg.connections_table())),
            history,
        ));
        // The yardstick: one GetItem round trip.
        let mut g = c.benchmark_group(name);
        g.sample_size(30).measurement_time(Duration::from_secs(8));
        g.bench_function("get_item_round_trip", |bench| {
            bench.iter(|| {
                rt.block_on(
                    ddb.get_item()
                        .table_name(cfg.history_table())
                        .key(
                            "room_id",
                            aws_sdk_dynamodb::types::AttributeValue::S(b.room.clone()),
                        )
                        .key("seq", aws_sdk_dynamodb::types::AttributeValue::N("0".into()))
                        .send(),
                )
                .unwrap()
            })
        });
        g.finish();
        group(c, name, &rt, &b, true);
    }
}

criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = memory
}
criterion_group!(wall, dynamodb);
criterion_main!(cpu, wall);
