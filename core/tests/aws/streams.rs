//! The stores of streams against the moto server script/with-moto starts (tables from the
//! template, as script/moto-bootstrap.py creates them): a connection's streams under their
//! bound and rate, the subscriptions table, the stream history.

use std::collections::HashMap;

use super::common::{config, unique};
use super::raw_item;
use aws_sdk_dynamodb::types::AttributeValue;
use hermes_core::store::{
    Connection, ConnectionStore, DynamoConnectionStore, DynamoHistoryStore, DynamoSubscriptionStore,
    HistoryItem, HistoryStore, RoomPage, Subscription, SubscriptionStore,
};
use hermes_core::testing::moto_endpoint;

/// The moto server's DynamoDB; a test asking for it fails without it.
async fn dynamodb() -> aws_sdk_dynamodb::Client {
    let ep = moto_endpoint();
    let cfg = config(&[("HERMES_AWS_ENDPOINT_URL", &ep), ("HERMES_BACKEND", "aws")]);
    hermes_core::aws::dynamodb(&hermes_core::aws::sdk_config(&cfg).await)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

async fn raw_connection(ddb: &aws_sdk_dynamodb::Client, id: &str) -> HashMap<String, AttributeValue> {
    raw_item(
        ddb,
        "hermesConnections",
        &[("connection_id", AttributeValue::S(id.into()))],
    )
    .await
    .unwrap_or_default()
}

/// A socket of nobody's row: no `room_id`, no `user_id` (the room index stays sparse), read
/// back as empty strings; its streams as a string set, returned by the delete.
#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn a_socket_of_nobody_holds_streams_and_its_delete_returns_them() {
    let ddb = dynamodb().await;
    let store = DynamoConnectionStore::new(ddb.clone(), "hermesConnections");
    let id = unique("nobody");
    let row = Connection {
        connection_id: id.clone(),
        room_id: String::new(),
        user_id: String::new(),
        connected_at: 1,
        expires_at: 2,
        streams: strings(&["b", "a", "b"]),
    };
    store.put(&row).await.unwrap();
    let raw = raw_connection(&ddb, &id).await;
    assert!(
        !raw.contains_key("room_id") && !raw.contains_key("user_id"),
        "{raw:?}"
    );
    let mut set = raw["streams"].as_ss().unwrap().clone();
    set.sort();
    assert_eq!(set, ["a", "b"]);
    let want = Connection {
        streams: strings(&["a", "b"]),
        ..row
    };
    assert_eq!(store.get(&id).await.unwrap().as_ref(), Some(&want));
    assert_eq!(
        store.delete(&id).await.unwrap(),
        Some(want),
        "the row as it was, in the DeleteItem's answer"
    );
    assert_eq!(store.delete(&id).await.unwrap(), None, "nothing left");
}

#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn streams_are_added_within_the_bound_and_the_rate_on_dynamodb() {
    use hermes_core::store::StreamsChange::*;
    let ddb = dynamodb().await;
    let store = DynamoConnectionStore::new(ddb.clone(), "hermesConnections");
    let id = unique("subs");
    store
        .put(&Connection {
            connection_id: id.clone(),
            room_id: unique("room"),
            user_id: "7".into(),
            connected_at: 1,
            expires_at: 2,
            streams: vec![],
        })
        .await
        .unwrap();
    let add = |names: &[&str], max: usize, now: u64| {
        let (store, id, names) = (&store, id.clone(), strings(names));
        async move { store.add_streams(&id, &names, max, now, 100).await.unwrap() }
    };
    assert_eq!(
        add(&["b", "a", "a"], 3, 50).await,
        Done,
        "first change; duplicates once"
    );
    let raw = raw_connection(&ddb, &id).await;
    assert_eq!(raw["subscribed_at"].as_n().unwrap(), "50");
    assert_eq!(raw["user_id"].as_s().unwrap(), "7", "the rest of the row kept");
    assert_eq!(add(&["c"], 3, 149).await, TooSoon { retry_after_ms: 1 });
    assert_eq!(add(&["c"], 3, 150).await, Done, "exactly the interval later");
    assert_eq!(add(&["d"], 3, 250).await, TooMany { held: 3, max: 3 });
    assert_eq!(
        add(&["w", "x", "y", "z"], 3, 260).await,
        TooMany { held: 3, max: 3 }
    );
    assert_eq!(
        add(&["a", "c"], 3, 280).await,
        Done,
        "names already held: refused as all new, then written with the exact count"
    );
    assert_eq!(
        raw_connection(&ddb, &id).await["subscribed_at"].as_n().unwrap(),
        "280"
    );
    assert_eq!(
        add(&["d"], 3, 300).await,
        TooSoon { retry_after_ms: 80 },
        "the rate before the bound"
    );
    assert_eq!(add(&[], 3, 380).await, Done, "no names: only the time moves");
    assert_eq!(add(&["d"], 9, 400).await, TooSoon { retry_after_ms: 80 });
    assert_eq!(store.get(&id).await.unwrap().unwrap().streams, ["a", "b", "c"]);

    // Concurrent subscribes of one socket: the conditional write lets one through.
    let one_each: Vec<Vec<String>> = (0..6).map(|i| vec![format!("s{i}")]).collect();
    let outcomes: Vec<_> = futures::future::join_all(
        one_each
            .iter()
            .map(|names| store.add_streams(&id, names, 50, 10_000, 100)),
    )
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    assert_eq!(outcomes.iter().filter(|o| **o == Done).count(), 1, "{outcomes:?}");
    assert_eq!(store.get(&id).await.unwrap().unwrap().streams.len(), 4);

    let gone = unique("gone");
    assert_eq!(
        store
            .add_streams(&gone, &strings(&["a"]), 3, 1_000, 100)
            .await
            .unwrap(),
        NoConnection
    );
    assert_eq!(
        store
            .add_streams(&gone, &strings(&["a", "b"]), 1, 1_000, 100)
            .await
            .unwrap(),
        NoConnection,
        "too many for any row, and there is none"
    );
    assert!(
        raw_connection(&ddb, &gone).await.is_empty(),
        "no row made by the update"
    );
}

#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn streams_are_removed_under_the_rate_on_dynamodb() {
    use hermes_core::store::StreamsChange::*;
    let ddb = dynamodb().await;
    let store = DynamoConnectionStore::new(ddb.clone(), "hermesConnections");
    let id = unique("unsub");
    store
        .put(&Connection {
            connection_id: id.clone(),
            room_id: String::new(),
            user_id: String::new(),
            connected_at: 1,
            expires_at: 2,
            streams: vec![],
        })
        .await
        .unwrap();
    let all = strings(&["a", "b", "c"]);
    assert_eq!(store.add_streams(&id, &all, 50, 1_000, 100).await.unwrap(), Done);
    let remove = |names: &[&str], now: u64| {
        let (store, id, names) = (&store, id.clone(), strings(names));
        async move { store.remove_streams(&id, &names, now, 100).await.unwrap() }
    };
    assert_eq!(remove(&["a"], 1_099).await, TooSoon { retry_after_ms: 1 });
    assert_eq!(
        remove(&["a", "zz", "a"], 1_100).await,
        Done,
        "unheld names are no error"
    );
    assert_eq!(store.get(&id).await.unwrap().unwrap().streams, ["b", "c"]);
    assert_eq!(remove(&["b"], 1_150).await, TooSoon { retry_after_ms: 50 });
    assert_eq!(remove(&["b", "c"], 1_200).await, Done);
    let raw = raw_connection(&ddb, &id).await;
    assert!(
        !raw.contains_key("streams"),
        "an emptied set is no attribute: {raw:?}"
    );
    assert_eq!(raw["subscribed_at"].as_n().unwrap(), "1200");
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().streams,
        Vec::<String>::new()
    );
    assert_eq!(
        store
            .remove_streams(&unique("gone"), &all, 5_000, 100)
            .await
            .unwrap(),
        NoConnection
    );
}

fn subscription(stream: &str, conn: &str, user: Option<&str>) -> Subscription {
    Subscription {
        stream: stream.into(),
        connection_id: conn.into(),
        user_id: user.map(Into::into),
        expires_at: hermes_core::token::now_secs() + 3600,
    }
}

/// More than one BatchWriteItem's 25 each way, and a stream read in pages of 4.
#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn subscriptions_batch_write_page_and_delete() {
    let ddb = dynamodb().await;
    let store = DynamoSubscriptionStore::new(ddb.clone(), "hermesSubscriptions").with_page_size(4);
    let stream = unique("board");
    // 30 subscribers, every third anonymous, given out of order and one twice.
    let mut subs: Vec<Subscription> = (0..30)
        .rev()
        .map(|i| {
            let user = (i % 3 != 0).then(|| i.to_string());
            subscription(&stream, &format!("c{i:02}"), user.as_deref())
        })
        .collect();
    subs.push(subscription(&stream, "c05", Some("five")));
    store.put(&subs).await.unwrap();

    let first = store.page(&stream, None, 10).await.unwrap();
    assert_eq!(first.members.len(), 4, "the store's page size");
    assert_eq!(first.next.as_deref(), Some("c03"));
    let all = store.all(&stream).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|m| m.connection_id.as_str()).collect();
    let want: Vec<String> = (0..30).map(|i| format!("c{i:02}")).collect();
    assert_eq!(ids, want, "30 over 8 pages, in connection-id order");
    assert_eq!(all[0].user_id, "", "anonymous");
    assert_eq!(all[1].user_id, "1");
    assert_eq!(all[5].user_id, "five", "the last of one key's puts wins");

    use aws_sdk_dynamodb::types::AttributeValue::S;
    let raw = raw_item(
        &ddb,
        "hermesSubscriptions",
        &[("stream", S(stream.clone())), ("connection_id", S("c00".into()))],
    )
    .await
    .unwrap();
    assert!(!raw.contains_key("user_id"), "{raw:?}");
    assert!(raw["expires_at"].as_n().is_ok());

    // One socket on 30 streams, then unsubscribed from all of them at once.
    let conn = unique("conn");
    let streams: Vec<String> = (0..30).map(|i| format!("{stream}-{i}")).collect();
    let many: Vec<Subscription> = streams
        .iter()
        .map(|s| subscription(s, &conn, Some("7")))
        .collect();
    store.put(&many).await.unwrap();
    assert_eq!(store.all(&streams[29]).await.unwrap().len(), 1);
    let mut twice = streams.clone();
    twice.push(streams[0].clone());
    store.delete(&conn, &twice).await.unwrap();
    for s in &streams {
        assert!(store.all(s).await.unwrap().is_empty(), "{s}");
    }
    store
        .delete("c07", &[stream.clone(), unique("never")])
        .await
        .unwrap();
    assert_eq!(
        store.all(&stream).await.unwrap().len(),
        29,
        "only c07's item went"
    );
    store.put(&[]).await.unwrap();
    store.delete("c08", &[]).await.unwrap();
    assert_eq!(
        store.page(&unique("empty"), None, 5).await.unwrap(),
        RoomPage::default()
    );
}

/// The history store on the stream history table: same items, keyed by `stream`.
#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn stream_history_counts_writes_and_reads_by_stream() {
    let ddb = dynamodb().await;
    let h = DynamoHistoryStore::for_streams(ddb.clone(), "hermesStreamHistory");
    let stream = unique("board");
    assert_eq!(h.position(&stream).await.unwrap(), None);
    let c0 = h.counter(&stream).await.unwrap();
    assert_eq!(c0.last_seq, 0);
    let c = h.next_seq(&stream).await.unwrap();
    assert_eq!((c.last_seq, &c.epoch), (1, &c0.epoch));
    let item = HistoryItem {
        seq: 1,
        epoch: c.epoch.clone(),
        frame: Some(br#"{"stream":"b","data":1,"id":"m-1","seq":1,"epoch":"x"}"#.to_vec()),
        target_user_id: None,
        expires_at: hermes_core::token::now_secs() + 600,
    };
    h.put(&stream, &item).await.unwrap();
    h.claim(&stream, "m-1", &item).await.unwrap();
    assert_eq!(h.range(&stream, 1, 5, 10).await.unwrap(), vec![item.clone()]);
    assert_eq!(h.claimed(&stream, "m-1").await.unwrap(), Some(item));
    assert_eq!(h.position(&stream).await.unwrap().map(|p| p.last_seq), Some(1));

    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    let raw = raw_item(
        &ddb,
        "hermesStreamHistory",
        &[("stream", S(stream.clone())), ("seq", N("1".into()))],
    )
    .await
    .unwrap();
    assert!(
        raw["frame"].as_s().is_ok() && !raw.contains_key("room_id"),
        "{raw:?}"
    );
    assert!(
        DynamoHistoryStore::new(ddb, "hermesHistory")
            .range(&stream, 1, 5, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing in the room history"
    );
}
