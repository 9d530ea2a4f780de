//! Each message of a room gets the next seq and its frame goes into the history first; a
//! redelivery after a failure replays its seq.

use super::*;

#[tokio::test]
async fn frames_carry_seq_and_epoch_and_the_history_keeps_their_bytes() {
    let w = world();
    join(&w, "a", "ACME", "1").await;
    join(&w, "o", "OTHER", "2").await;
    let r = w
        .sender
        .handle_sqs(sqs(&[
            ("m1", note("ACME", 1)),
            ("m2", note("ACME", 2)),
            ("m3", note("OTHER", 3)),
        ]))
        .await;
    assert!(r.batch_item_failures.is_empty());
    let got = frames(&w, "a");
    assert_eq!(got.len(), 2);
    let epoch = got[0]["epoch"].as_str().unwrap().to_owned();
    assert_eq!(epoch.len(), 16);
    assert_eq!(
        got[0],
        json!({"user_id": "7", "data": {"type": "info", "data": 1}, "id": "m1", "seq": 1, "epoch": epoch})
    );
    assert_eq!(
        (got[1]["seq"].clone(), got[1]["epoch"].clone()),
        (json!(2), json!(epoch))
    );
    let other = frames(&w, "o");
    assert_eq!(other[0]["seq"], 1, "each room counts on its own");
    assert_ne!(other[0]["epoch"], json!(epoch), "and has its own epoch");

    let stored = w.history.range("ACME", 1, 10, 10).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].frame.as_deref(), Some(&raw_frames(&w, "a")[0][..]));
    assert!(stored[0].expires_at > now_secs() + TTL.as_secs() - 60);
}

#[tokio::test]
async fn a_record_that_failed_after_its_frame_went_out_is_replayed_with_its_seq() {
    let w = world();
    join(&w, "a", "ACME", "1").await;
    join(&w, "b", "ACME", "2").await;
    send_all(&w, "ACME", 1..=1).await;
    // m2 reaches a; b is throttled past the retries: the record fails and SQS brings it back.
    w.pusher
        .fail_with("b", PushError::Throttled("LimitExceededException".into()));
    let r = w.sender.handle_sqs(sqs(&[("m2", note("ACME", 2))])).await;
    assert_eq!(r.batch_item_failures.len(), 1);
    w.pusher.fail_with("b", PushError::Gone);
    join(&w, "b2", "ACME", "2").await;
    let r = w.sender.handle_sqs(sqs(&[("m2", note("ACME", 2))])).await;
    assert!(r.batch_item_failures.is_empty());
    let got = raw_frames(&w, "a");
    assert_eq!(got.len(), 3);
    assert_eq!(got[2], got[1], "the same bytes: same id, same seq");
    assert_eq!(raw_frames(&w, "b2"), vec![got[1].clone()]);
    // The seq the redelivery took is marked, so no recovery waits for it.
    let items = w.history.range("ACME", 1, 10, 10).await.unwrap();
    assert_eq!(items.iter().map(|i| i.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(items[2].frame.is_none(), "seq 3 is a skip marker");
    send_all(&w, "ACME", 4..=4).await;
    assert_eq!(frames(&w, "a")[3]["seq"], 4);
    // A page that saw seq 1 gets seq 2 once, and seq 4.
    let epoch = frames(&w, "a")[0]["epoch"].as_str().unwrap().to_owned();
    let r = recover(&*w.history, TTL.as_secs(), "ACME", "1", 1, &epoch)
        .await
        .unwrap();
    assert!(r.recovered);
    assert_eq!(r.frames, vec![got[1].clone(), raw_frames(&w, "a")[3].clone()]);
}

#[tokio::test]
async fn other_redeliveries_get_a_new_seq_under_the_same_id() {
    let w = world();
    join(&w, "a", "ACME", "1").await;
    // Delivered in full, then handed out again (its delete was lost): no claim was written,
    // so it is sequenced anew; the page drops it by its id.
    send_all(&w, "ACME", 1..=1).await;
    send_all(&w, "ACME", 1..=1).await;
    let f = frames(&w, "a");
    assert_eq!(
        (f[0]["id"].clone(), f[0]["seq"].clone()),
        (json!("m-ACME-1"), json!(1))
    );
    assert_eq!(
        (f[1]["id"].clone(), f[1]["seq"].clone()),
        (json!("m-ACME-1"), json!(2))
    );
}

#[tokio::test]
async fn a_frame_that_is_not_in_the_history_is_not_delivered_and_comes_back_once() {
    let history = Arc::new(MemoryHistoryStore::default());
    let flaky = Arc::new(Flaky::new(history.clone(), 1));
    let w = world_over(history, Some(flaky));
    join(&w, "a", "ACME", "1").await;
    let r = w.sender.handle_sqs(sqs(&[("m1", note("ACME", 1))])).await;
    assert_eq!(r.batch_item_failures.len(), 1, "the record fails");
    assert!(frames(&w, "a").is_empty(), "nothing was posted");
    let r = w.sender.handle_sqs(sqs(&[("m1", note("ACME", 1))])).await;
    assert!(r.batch_item_failures.is_empty());
    let got = frames(&w, "a");
    assert_eq!(got.len(), 1, "delivered once");
    assert_eq!(got[0]["seq"], 2, "seq 1 was spent on the failed attempt");
}

#[tokio::test]
async fn sequenced_frames_are_checked_for_size_before_a_seq_is_spent() {
    let w = world();
    join(&w, "c", "R", "1").await;
    let big = json!({"user_id": 1, "room_id": "R", "data": "x".repeat(131_000)});
    let r = w.sender.handle_sqs(sqs(&[("big", big)])).await;
    assert_eq!(r.batch_item_failures.len(), 1);
    assert_eq!(w.history.counter("R").await.unwrap().last_seq, 0);
}

#[tokio::test]
async fn the_send_route_sequences_too() {
    let w = world();
    join(&w, "a", "R", "1").await;
    join(&w, "b", "R", "2").await;
    let ev = route(
        "a",
        json!({"action": "sendMessage", "data": {"type": "chat", "data": "hi"}}),
    );
    assert_eq!(w.sender.handle_route(&ev).await.status_code, 200);
    let f = frames(&w, "b");
    assert_eq!(f[0]["seq"], 1);
    assert_eq!(f[0]["data"], json!({"type": "chat", "data": "hi"}));
    assert_eq!(w.history.len("R"), 1);
}
