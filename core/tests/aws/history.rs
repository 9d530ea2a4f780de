//! The history table: the counter's atomic ADD and epoch, positions, items, claims, markers.

use super::*;

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
    let raw = raw_item(
        &ddb,
        "hermesHistory",
        &[("room_id", S(room.clone())), ("seq", N("0".into()))],
    )
    .await
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
    let raw = raw_item(
        &ddb,
        "hermesHistory",
        &[("room_id", S(room.clone())), ("seq", N("1".into()))],
    )
    .await
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
