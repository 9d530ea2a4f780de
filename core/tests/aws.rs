//! Every DynamoDB and SQS call, against the moto server script/with-moto starts on 127.0.0.1,
//! with the tables and queue script/moto-bootstrap.py creates (the template's names).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{config, fixture, unique};
use hermes_core::events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayWebsocketProxyRequest,
};
use hermes_core::events::sqs::SqsEvent;
use hermes_core::handlers::{connect, disconnect, Authorizer, Decision, DenyReason, Sender};
use hermes_core::push::memory::MemoryPusherFactory;
use hermes_core::push::MemoryPusher;
use hermes_core::queue::{Queue, QueueError, SqsQueue};
use hermes_core::store::{
    Connection, ConnectionStore, DynamoConnectionStore, DynamoHistoryStore, DynamoTokenStore, HistoryItem,
    HistoryStore, TokenRecord, TokenStore,
};
use hermes_core::testing::{moto_endpoint, moto_queue_url};
use hermes_core::token::JwtKeys;
use hermes_core::{Backends, Config, Minter, Notification, UserId};
use serde_json::{json, Value};

fn cfg(endpoint: &str) -> Config {
    let queue = moto_queue_url();
    config(&[
        ("HERMES_AWS_ENDPOINT_URL", endpoint),
        ("HERMES_QUEUE_URL", &queue),
        ("HERMES_BACKEND", "aws"),
    ])
}

async fn clients(endpoint: &str) -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
    let sdk = hermes_core::aws::sdk_config(&cfg(endpoint)).await;
    (hermes_core::aws::dynamodb(&sdk), hermes_core::aws::sqs(&sdk))
}

#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn token_rows_round_trip_with_seed_attribute_names() {
    let ep = moto_endpoint();
    let (ddb, _) = clients(&ep).await;
    let store = DynamoTokenStore::new(ddb.clone(), "hermesTokens");
    let user = unique("u");
    let rec = TokenRecord {
        user_id: user.clone(),
        room_id: "ACME".into(),
        hash: "$2a$04$x".into(),
        expires_at: Some(1_900_000_000),
    };
    store.put(&rec).await.unwrap();
    assert_eq!(store.get(&user, "ACME").await.unwrap(), Some(rec));
    assert_eq!(store.get(&user, "OTHER").await.unwrap(), None);

    // The raw item has the seed's shape: user_id/room_id/token as S, expires_at as N.
    let raw = ddb
        .get_item()
        .table_name("hermesTokens")
        .key(
            "user_id",
            aws_sdk_dynamodb::types::AttributeValue::S(user.clone()),
        )
        .key(
            "room_id",
            aws_sdk_dynamodb::types::AttributeValue::S("ACME".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(raw["token"].as_s().unwrap(), "$2a$04$x");
    assert_eq!(raw["expires_at"].as_n().unwrap(), "1900000000");

    assert!(store.delete(&user, "ACME").await.unwrap());
    assert!(
        !store.delete(&user, "ACME").await.unwrap(),
        "second delete finds nothing"
    );
    assert_eq!(store.get(&user, "ACME").await.unwrap(), None);
}

#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn seed_written_row_without_expiry_reads_back() {
    let ep = moto_endpoint();
    let (ddb, _) = clients(&ep).await;
    let user = unique("seed");
    use aws_sdk_dynamodb::types::AttributeValue::S;
    ddb.put_item()
        .table_name("hermesTokens")
        .item("user_id", S(user.clone()))
        .item("room_id", S("R".into()))
        .item("token", S("$2a$10$abc".into()))
        .send()
        .await
        .unwrap();
    let got = DynamoTokenStore::new(ddb, "hermesTokens")
        .get(&user, "R")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.expires_at, None);
}

#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn connections_fan_out_by_query_across_pages() {
    let ep = moto_endpoint();
    let (ddb, _) = clients(&ep).await;
    let store = DynamoConnectionStore::new(ddb, "hermesConnections").with_page_size(2);
    let room = unique("room");
    let other = unique("room");
    let mut want = Vec::new();
    for i in 0..7 {
        let id = format!("{room}-c{i}");
        store
            .put(&Connection {
                connection_id: id.clone(),
                room_id: room.clone(),
                user_id: format!("{i}"),
                connected_at: 1,
                expires_at: 2,
                streams: Vec::new(),
            })
            .await
            .unwrap();
        want.push(id);
    }
    store
        .put(&Connection {
            connection_id: unique("x"),
            room_id: other.clone(),
            user_id: "9".into(),
            connected_at: 1,
            expires_at: 2,
            streams: Vec::new(),
        })
        .await
        .unwrap();
    let mut got: Vec<String> = store
        .room(&room)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.connection_id)
        .collect();
    got.sort();
    assert_eq!(got, want, "7 rows over 4 pages of 2, none from the other room");
    let members = store.room(&room).await.unwrap();
    assert!(
        members.iter().all(|m| !m.user_id.is_empty()),
        "index projects user_id"
    );

    let one = store.get(&want[3]).await.unwrap().unwrap();
    assert_eq!(
        (
            one.room_id.as_str(),
            one.user_id.as_str(),
            one.connected_at,
            one.expires_at
        ),
        (room.as_str(), "3", 1, 2)
    );
    assert_eq!(store.delete(&want[3]).await.unwrap(), Some(one));
    assert!(store.get(&want[3]).await.unwrap().is_none());
    assert_eq!(store.room(&room).await.unwrap().len(), 6);
    assert!(store.room(&unique("empty")).await.unwrap().is_empty());
}

/// One conditional UpdateItem per lease: taken once until it ends, never on a missing row.
#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn recovery_lease_is_one_conditional_update() {
    let ep = moto_endpoint();
    let (ddb, _) = clients(&ep).await;
    let store = Arc::new(DynamoConnectionStore::new(ddb.clone(), "hermesConnections"));
    let id = unique("lease");
    store
        .put(&Connection {
            connection_id: id.clone(),
            room_id: unique("room"),
            user_id: "7".into(),
            connected_at: 1,
            expires_at: 2,
            streams: Vec::new(),
        })
        .await
        .unwrap();
    assert!(
        store.lease_recovery(&id, 1_000, 6_000).await.unwrap(),
        "first lease"
    );
    assert!(
        !store.lease_recovery(&id, 5_999, 10_999).await.unwrap(),
        "held until 6000"
    );
    assert!(
        store.lease_recovery(&id, 6_000, 11_000).await.unwrap(),
        "expired at 6000"
    );

    // Racing recoveries: one wins.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move { store.lease_recovery(&id, 20_000, 25_000).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1, "one of eight concurrent leases");

    use aws_sdk_dynamodb::types::AttributeValue::S;
    let raw = ddb
        .get_item()
        .table_name("hermesConnections")
        .key("connection_id", S(id.clone()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(raw["recovery_until"].as_n().unwrap(), "25000");
    assert_eq!(
        raw["user_id"].as_s().unwrap(),
        "7",
        "the lease leaves the row as it was"
    );

    let gone = unique("gone");
    assert!(
        !store.lease_recovery(&gone, 1_000, 6_000).await.unwrap(),
        "no row, no lease"
    );
    assert_eq!(
        store.get(&gone).await.unwrap(),
        None,
        "and no row made by the lease"
    );
}

/// A queue of the test's own: the shared one is read by other tests concurrently.
async fn own_queue(ep: &str, name: String) -> SqsQueue {
    let (_, sqs) = clients(ep).await;
    let mut req = sqs.create_queue().queue_name(&name);
    if name.ends_with(".fifo") {
        req = req.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
    }
    let url = req.send().await.unwrap().queue_url.unwrap();
    SqsQueue::new(sqs, url)
}

/// Receives and deletes (DeleteMessageBatch) until `want` bodies arrived or ~10 polls came back short.
async fn take(q: &SqsQueue, want: usize) -> Vec<Value> {
    let mut bodies = Vec::new();
    for _ in 0..10 {
        let got = q.receive(10, Duration::from_millis(500)).await.unwrap();
        let handles: Vec<String> = got.iter().map(|m| m.receipt_handle.clone()).collect();
        bodies.extend(
            got.iter()
                .map(|m| serde_json::from_str::<Value>(&m.body).unwrap()),
        );
        q.delete(&handles).await.unwrap();
        if bodies.len() >= want {
            break;
        }
    }
    bodies
}

#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn sqs_send_batch_receive_delete() {
    let ep = moto_endpoint();
    let q = own_queue(&ep, unique("t")).await;

    let one = Notification::new(42, "ACME", json!({"type": "info", "data": "single"}));
    let id = q.send(&one).await.unwrap();
    assert!(!id.is_empty());

    let many: Vec<Notification> = (0..23)
        .map(|i| Notification::new(i, "ACME", json!({"n": i})))
        .collect();
    let ids = q.send_batch(&many).await.unwrap();
    assert_eq!(ids.len(), 23, "three SendMessageBatch calls of 10, 10 and 3");

    let bodies = take(&q, 24).await;
    assert_eq!(bodies.len(), 24);
    assert!(bodies
        .contains(&json!({"user_id": 42, "room_id": "ACME", "data": {"type": "info", "data": "single"}})));
    assert!(bodies.contains(&json!({"user_id": 22, "room_id": "ACME", "data": {"n": 22}})));
    assert!(
        q.receive(10, Duration::ZERO).await.unwrap().is_empty(),
        "all deleted"
    );

    // A handle SQS does not know comes back as a failed entry, reported by count and code.
    q.send(&one).await.unwrap();
    let got = q.receive(10, Duration::from_millis(500)).await.unwrap();
    let handles = vec![got[0].receipt_handle.clone(), "not-a-receipt-handle".to_owned()];
    let err = q.delete(&handles).await.unwrap_err().to_string();
    assert!(
        err.contains("DeleteMessageBatch") && err.contains("1 of 2 not deleted"),
        "{err}"
    );
    assert!(
        q.receive(10, Duration::ZERO).await.unwrap().is_empty(),
        "the valid handle was deleted"
    );
}

#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn oversize_notification_never_reaches_sqs() {
    let ep = moto_endpoint();
    let q = own_queue(&ep, unique("big")).await;
    let big = Notification::new(1, "R", json!("x".repeat(140_000)));
    assert!(matches!(q.send(&big).await, Err(QueueError::TooLarge(_))));
    let err = q
        .send_batch(&[Notification::new(1, "R", json!(1)), big])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("#1"), "{err}");
    assert!(
        q.receive(10, Duration::ZERO).await.unwrap().is_empty(),
        "nothing half-written"
    );
}

#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn fifo_queue_gets_group_and_dedup_ids() {
    let ep = moto_endpoint();
    let q = own_queue(&ep, format!("{}.fifo", unique("f"))).await;
    let n = Notification::new(1, "ROOM-A", json!("same"));
    q.send(&n).await.unwrap();
    q.send(&n).await.unwrap();
    q.send_batch(&[n.clone(), n.clone()]).await.unwrap();
    let count = take(&q, 4).await.len();
    assert_eq!(count, 4, "identical notifications are not deduplicated away");
}

/// The whole server side on DynamoDB: the gem's mint, the authorizer, connect, an SQS batch
/// through the send handler, disconnect.
#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn mint_authorize_connect_send_disconnect_on_dynamodb() {
    let ep = moto_endpoint();
    let cfg = cfg(&ep);
    let b = Backends::from_config(&cfg).await.unwrap();
    let minter = Minter::new(&cfg, b.tokens.clone()).unwrap();
    let authorizer = Authorizer::new(JwtKeys::new(cfg.jwt_secret().unwrap()), b.tokens.clone());
    let user = unique("user");
    let room = unique("room");

    let jwt = minter
        .generate_token(&UserId::Str(user.clone()), &room)
        .await
        .unwrap();
    let ev: ApiGatewayCustomAuthorizerRequestTypeRequest = fixture("authorizer-request.json", Some(&jwt));
    let v = serde_json::to_value(authorizer.handle(&ev).await).unwrap();
    assert_eq!(v["policyDocument"]["Statement"][0]["Effect"], "Allow");
    assert_eq!(v["context"], json!({"user_id": user, "room_id": room}));

    minter.revoke(&UserId::Str(user.clone()), &room).await.unwrap();
    assert_eq!(
        authorizer.decide(Some(&jwt)).await,
        Decision::Deny {
            reason: DenyReason::NoStoredToken,
            user_id: Some(user.clone())
        },
        "revocation is seen at once (consistent read)"
    );

    let mut cev: Value = fixture("connect.json", None);
    let conn_id = unique("conn");
    cev["requestContext"]["connectionId"] = json!(conn_id);
    cev["requestContext"]["authorizer"]["user_id"] = json!(user);
    cev["requestContext"]["authorizer"]["room_id"] = json!(room);
    let cev: ApiGatewayWebsocketProxyRequest = serde_json::from_value(cev).unwrap();
    assert_eq!(connect(&*b.connections, &cev).await.status_code, 200);

    let pusher = MemoryPusher::new();
    let sender = Sender::new(
        b.connections.clone(),
        Arc::new(MemoryPusherFactory(pusher.clone())),
        Some("https://x/dev".into()),
    );
    let body = json!({"user_id": 1, "room_id": room, "data": {"type": "info", "data": "hi"}}).to_string();
    let sqs: SqsEvent = serde_json::from_value(json!({"Records": [
        {"messageId": "m-1", "body": body}, {"messageId": "m-2", "body": "nope"}
    ]}))
    .unwrap();
    let r = sender.handle_sqs(sqs).await;
    assert_eq!(r.batch_item_failures.len(), 1);
    assert_eq!(r.batch_item_failures[0].item_identifier, "m-2");
    assert_eq!(pusher.frames(&conn_id).len(), 1);

    assert_eq!(
        disconnect(&*b.connections, Some(&*b.subscriptions), &cev)
            .await
            .status_code,
        200
    );
    assert!(b.connections.get(&conn_id).await.unwrap().is_none());

    // The queue from_config built is the shared SQS queue.
    let q = b.queue.expect("HERMES_QUEUE_URL set");
    let id = q
        .send(&Notification::new(1, room.as_str(), json!("x")))
        .await
        .unwrap();
    assert!(!id.is_empty());
}

#[tokio::test]
async fn unreachable_dynamodb_is_a_deny_with_a_reason() {
    // A port nothing listens on: the real SDK client fails to connect.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let cfg = config(&[("HERMES_AWS_ENDPOINT_URL", &dead)]);
    let b = Backends::from_config(&cfg).await.unwrap();
    let minter_cfg = config(&[]);
    let mem = Arc::new(hermes_core::store::MemoryTokenStore::new());
    let jwt = Minter::new(&minter_cfg, mem)
        .unwrap()
        .generate_token(&UserId::Int(1), "R")
        .await
        .unwrap();
    let a = Authorizer::new(JwtKeys::new(cfg.jwt_secret().unwrap()), b.tokens);
    match a.decide(Some(&jwt)).await {
        Decision::Deny {
            reason: DenyReason::StoreUnavailable(msg),
            ..
        } => {
            assert!(msg.contains("GetItem") && msg.contains("hermesTokens"), "{msg}");
            assert!(!msg.contains(&jwt));
        }
        other => panic!("expected StoreUnavailable, got {other:?}"),
    }
}

fn history(ddb: aws_sdk_dynamodb::Client) -> DynamoHistoryStore {
    DynamoHistoryStore::new(ddb, "hermesHistory")
}

#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn history_counter_is_one_atomic_add_with_a_fixed_epoch() {
    let ep = moto_endpoint();
    let (ddb, _) = clients(&ep).await;
    let h = Arc::new(history(ddb.clone()));
    let room = unique("room");
    // A page's first recover creates the counter at 0.
    let c0 = h.counter(&room).await.unwrap();
    assert_eq!((c0.last_seq, c0.epoch.len()), (0, 16));
    assert_eq!(h.counter(&room).await.unwrap(), c0, "read, not recreated");
    // 20 concurrent senders: 20 distinct seqs, one epoch.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (h, room) = (h.clone(), room.clone());
            tokio::spawn(async move { h.next_seq(&room).await.unwrap() })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        let c = t.await.unwrap();
        assert_eq!(c.epoch, c0.epoch);
        assert!(c.updated_at_ms > 0);
        seqs.push(c.last_seq);
    }
    seqs.sort();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());

    // The raw counter item: the history table's, seq = 0 (docs/protocol.md).
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let raw = ddb
        .get_item()
        .table_name("hermesHistory")
        .key("room_id", S(room.clone()))
        .key("seq", N("0".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(raw["last_seq"].as_n().unwrap(), "20");
    assert_eq!(raw["epoch"].as_s().unwrap(), &c0.epoch);

    // A lost counter comes back with another epoch.
    ddb.delete_item()
        .table_name("hermesHistory")
        .key("room_id", S(room.clone()))
        .key("seq", N("0".into()))
        .send()
        .await
        .unwrap();
    let c = h.next_seq(&room).await.unwrap();
    assert_eq!(c.last_seq, 1);
    assert_ne!(c.epoch, c0.epoch);
}

/// What a page rendered now recovers from: read without creating the counter.
#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn history_position_reads_the_counter_and_never_creates_it() {
    let ep = moto_endpoint();
    let (ddb, _) = clients(&ep).await;
    let h = history(ddb.clone());
    let room = unique("room");
    assert_eq!(h.position(&room).await.unwrap(), None, "no message yet");
    assert_eq!(
        h.position(&room).await.unwrap(),
        None,
        "and still no counter item"
    );
    let c = h.next_seq(&room).await.unwrap();
    h.next_seq(&room).await.unwrap();
    let p = h.position(&room).await.unwrap().expect("a counter");
    assert_eq!((p.last_seq, p.epoch), (2, c.epoch));
}

#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn history_items_claims_and_markers_round_trip() {
    let ep = moto_endpoint();
    let (ddb, _) = clients(&ep).await;
    let h = history(ddb.clone());
    let room = unique("room");
    let c = h.next_seq(&room).await.unwrap();
    let frame =
        br#"{"user_id":"1","data":{"b":1.0e+20,"a":"\u00e9"},"id":"m-1","seq":1,"epoch":"x"}"#.to_vec();
    let item = HistoryItem {
        seq: c.last_seq,
        epoch: c.epoch.clone(),
        frame: Some(frame.clone()),
        target_user_id: Some("42".into()),
        expires_at: hermes_core::token::now_secs() + 600,
    };
    h.put(&room, &item).await.unwrap();
    assert_eq!(h.claimed(&room, "m-1").await.unwrap(), None, "no claim yet");
    h.claim(&room, "m-1", &item).await.unwrap();
    let marker = HistoryItem {
        seq: 2,
        frame: None,
        target_user_id: None,
        ..item.clone()
    };
    h.put(&room, &marker).await.unwrap();
    assert_eq!(
        h.range(&room, 1, 5, 10).await.unwrap(),
        vec![item.clone(), marker]
    );
    assert_eq!(h.range(&room, 2, 5, 10).await.unwrap().len(), 1);
    assert_eq!(h.range(&room, 1, 5, 1).await.unwrap().len(), 1, "limit");
    assert_eq!(h.claimed(&room, "m-1").await.unwrap(), Some(item.clone()));
    assert_eq!(h.claimed(&room, "m-2").await.unwrap(), None);
    assert_eq!(h.claimed(&unique("room"), "m-1").await.unwrap(), None);

    // The item as stored: the attributes and types docs/protocol.md names; the claim lives below seq 0.
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let raw = ddb
        .get_item()
        .table_name("hermesHistory")
        .key("room_id", S(room.clone()))
        .key("seq", N("1".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(raw["frame"].as_s().unwrap().as_bytes(), &frame[..]);
    assert_eq!(raw["target_user_id"].as_s().unwrap(), "42");
    assert!(raw["expires_at"].as_n().is_ok());
    let claims = ddb
        .query()
        .table_name("hermesHistory")
        .key_condition_expression("room_id = :r AND seq < :z")
        .expression_attribute_values(":r", S(room.clone()))
        .expression_attribute_values(":z", N("0".into()))
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0]["message_id"].as_s().unwrap(), "m-1");
    assert_eq!(claims[0]["message_seq"].as_n().unwrap(), "1");
}

/// The send handler over DynamoDB: sequencing, a redelivery replayed, a recovery.
#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn send_handler_sequences_replays_and_recovers_on_dynamodb() {
    let ep = moto_endpoint();
    let cfg = cfg(&ep);
    let b = Backends::from_config(&cfg).await.unwrap();
    let room = unique("room");
    for (id, user) in [("a", "1"), ("b", "2")] {
        b.connections
            .put(&Connection {
                connection_id: format!("{room}-{id}"),
                room_id: room.clone(),
                user_id: user.into(),
                connected_at: 1,
                expires_at: hermes_core::token::now_secs() + 60,
                streams: Vec::new(),
            })
            .await
            .unwrap();
    }
    let pusher = MemoryPusher::new();
    let sender = Sender::new(
        b.connections.clone(),
        Arc::new(MemoryPusherFactory(pusher.clone())),
        Some("https://x/dev".into()),
    )
    .with_history(b.history.clone(), cfg.history_ttl().as_duration());
    let record = |id: &str, n: u64, target: Option<&str>| -> Value {
        let mut body = json!({"user_id": 9, "room_id": room, "data": {"n": n}});
        if let Some(t) = target {
            body["target_user_id"] = json!(t);
        }
        json!({"messageId": id, "body": body.to_string()})
    };
    let batch =
        |records: Vec<Value>| -> SqsEvent { serde_json::from_value(json!({ "Records": records })).unwrap() };
    let r = sender
        .handle_sqs(batch(vec![
            record("m1", 1, None),
            record("m2", 2, Some("2")),
            record("m3", 3, None),
        ]))
        .await;
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    let a = pusher.frames(&format!("{room}-a"));
    let parsed: Vec<Value> = a.iter().map(|f| serde_json::from_slice(f).unwrap()).collect();
    assert_eq!(
        parsed
            .iter()
            .map(|f| f["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 3]
    );
    let epoch = parsed[0]["epoch"].as_str().unwrap().to_owned();

    // m4 reaches user 1 but user 2's connection is throttled: the record fails, and its
    // redelivery replays the same bytes (seq 4), not a new seq for user 1 to show twice.
    pusher.fail_with(
        &format!("{room}-b"),
        hermes_core::push::PushError::Throttled("LimitExceededException".into()),
    );
    let r = sender.handle_sqs(batch(vec![record("m4", 4, None)])).await;
    assert_eq!(r.batch_item_failures.len(), 1);
    pusher.fail_with(&format!("{room}-b"), hermes_core::push::PushError::Gone);
    let r = sender.handle_sqs(batch(vec![record("m4", 4, None)])).await;
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    let a = pusher.frames(&format!("{room}-a"));
    assert_eq!(a.len(), 4);
    assert_eq!(a[3], a[2]);
    assert_eq!(serde_json::from_slice::<Value>(&a[3]).unwrap()["seq"], 4);

    // User 1 recovers from seq 1: seqs 3 and 4 (2 was for user 2; 5 is the replay's marker).
    let r = hermes_core::handlers::recover(&*b.history, cfg.history_ttl().as_secs(), &room, "1", 1, &epoch)
        .await
        .unwrap();
    assert!(r.recovered, "{r:?}");
    assert_eq!((r.frames, r.seq), (vec![a[1].clone(), a[2].clone()], 5));
    let r = hermes_core::handlers::recover(&*b.history, cfg.history_ttl().as_secs(), &room, "2", 1, &epoch)
        .await
        .unwrap();
    assert_eq!(r.frames.len(), 3, "user 2 also gets its own message");
}
