//! The connections table: the room index read page by page, the recovery lease.

use super::*;

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
    // A 410 to a connection made at or after the cutoff keeps its row (one conditional delete).
    use hermes_core::store::Deleted;
    assert_eq!(
        store.delete_established(&want[4], 1).await.unwrap(),
        Deleted::Kept
    );
    assert!(store.get(&want[4]).await.unwrap().is_some());
    let old = store.get(&want[4]).await.unwrap().unwrap();
    assert_eq!(
        store.delete_established(&want[4], 2).await.unwrap(),
        Deleted::Row(old)
    );
    assert_eq!(
        store.delete_established(&want[4], 2).await.unwrap(),
        Deleted::NoRow
    );
    assert_eq!(store.room(&room).await.unwrap().len(), 5);
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
    let raw = raw_item(&ddb, "hermesConnections", &[("connection_id", S(id.clone()))])
        .await
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
