//! Disconnect records (revocation, `Hermes.disconnect`) close one user's sockets in one room.

use super::*;

#[tokio::test]
async fn a_disconnect_record_closes_only_that_users_sockets_in_that_room() {
    let w = world();
    join(&w, "u1a", "ACME", "1").await;
    join(&w, "u1b", "ACME", "1").await;
    join(&w, "u2", "ACME", "2").await;
    join(&w, "u1-other-room", "OTHER", "1").await;
    let body: Value =
        serde_json::from_str(&Control::disconnect("1", "ACME", Some("revoked")).to_body()).unwrap();
    let r = w.sender.handle_sqs(sqs(&[("c1", body.clone())])).await;
    assert!(r.batch_item_failures.is_empty());
    // MemoryPusher::close marks the id gone, as API Gateway answers 410 after DeleteConnection.
    for (id, closed) in [
        ("u1a", true),
        ("u1b", true),
        ("u2", false),
        ("u1-other-room", false),
    ] {
        assert_eq!(
            w.pusher.post_once(id, &Bytes::from_static(b"x")).await == Err(PushError::Gone),
            closed,
            "{id}"
        );
    }
    assert!(
        w.history.range("ACME", 1, 10, 10).await.unwrap().is_empty(),
        "never sequenced"
    );
    // Closing again: the sockets are already gone, the rows go too, the record succeeds.
    let r = w.sender.handle_sqs(sqs(&[("c2", body.clone())])).await;
    assert!(r.batch_item_failures.is_empty());
    assert!(w.conns.get("u1a").await.unwrap().is_none());
    // A throttled close fails the record, so SQS tries again.
    w.pusher
        .fail_with("u2", PushError::Throttled("LimitExceededException".into()));
    let body: Value = serde_json::from_str(&Control::disconnect("2", "ACME", None).to_body()).unwrap();
    let r = w.sender.handle_sqs(sqs(&[("c3", body)])).await;
    assert_eq!(r.batch_item_failures.len(), 1);
}
