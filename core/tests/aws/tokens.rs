//! The tokens table: the seed's attribute names, rows the seed wrote.

use super::*;

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
        previous: None,
    };
    store.put(&rec).await.unwrap();
    assert_eq!(store.get(&user, "ACME").await.unwrap(), Some(rec));
    assert_eq!(store.get(&user, "OTHER").await.unwrap(), None);

    // The raw item has the seed's shape: user_id/room_id/token as S, expires_at as N.
    use aws_sdk_dynamodb::types::AttributeValue::S;
    let raw = raw_item(
        &ddb,
        "hermesTokens",
        &[("user_id", S(user.clone())), ("room_id", S("ACME".into()))],
    )
    .await
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
