//! `recover`: what a reconnecting page missed, from the history, byte for byte.

use super::*;

#[tokio::test]
async fn recovery_replays_what_the_user_may_see_byte_for_byte_then_says_recovered() {
    let w = world();
    join(&w, "watcher", "ACME", "1").await;
    join(&w, "page", "ACME", "2").await;
    send_all(&w, "ACME", 1..=3).await;
    let epoch = frames(&w, "page")[0]["epoch"].as_str().unwrap().to_owned();
    // The page drops off; the room goes on: 20 messages, one of them for user 9 only.
    w.conns.delete("page").await.unwrap();
    send_all(&w, "ACME", 4..=13).await;
    let mut dm = note("ACME", 99);
    dm["target_user_id"] = json!("9");
    assert!(w
        .sender
        .handle_sqs(sqs(&[("dm", dm)]))
        .await
        .batch_item_failures
        .is_empty());
    send_all(&w, "ACME", 14..=23).await;
    // It reconnects (a new connection id) and asks from the last seq it saw.
    join(&w, "page2", "ACME", "2").await;
    let ev = route("page2", json!({"action": "recover", "since": 3, "epoch": epoch}));
    assert_eq!(w.sender.handle_route(&ev).await.status_code, 200);
    let got = raw_frames(&w, "page2");
    assert_eq!(got.len(), 21, "20 frames, then the answer");
    let watcher = raw_frames(&w, "watcher");
    let missed: Vec<Vec<u8>> = watcher[3..]
        .iter()
        .filter(|f| !String::from_utf8_lossy(f).contains("\"dm\""))
        .cloned()
        .collect();
    assert_eq!(missed.len(), 20);
    assert_eq!(got[..20], missed[..], "the very bytes first posted, oldest first");
    let end: Value = serde_json::from_slice(&got[20]).unwrap();
    assert_eq!(
        end,
        json!({"hermes": "recovered", "recovered": true, "epoch": epoch, "seq": 24})
    );
    assert!(frames(&w, "watcher").iter().all(|f| f.get("hermes").is_none()));

    // Up to date: nothing replayed, recovered.
    let ev = route("page2", json!({"action": "recover", "since": 24, "epoch": epoch}));
    w.sender.handle_route(&ev).await;
    assert_eq!(frames(&w, "page2")[21], end);
}

#[tokio::test]
async fn recovery_is_false_on_another_epoch_overflow_expiry_or_a_future_seq() {
    let w = world();
    join(&w, "p", "R", "1").await;
    send_all(&w, "R", 1..=3).await;
    let epoch = frames(&w, "p")[0]["epoch"].as_str().unwrap().to_owned();
    let ttl = TTL.as_secs();
    let check = |r: hermes_core::handlers::Recovery, why: &str| {
        assert!(!r.recovered && r.frames.is_empty(), "{why}: {r:?}");
        assert_eq!((r.epoch.as_str(), r.seq), (epoch.as_str(), 3), "{why}");
    };
    check(
        recover(&*w.history, ttl, "R", "1", 1, "other").await.unwrap(),
        "epoch",
    );
    check(
        recover(&*w.history, ttl, "R", "1", 0, "").await.unwrap(),
        "first contact",
    );
    check(
        recover(&*w.history, ttl, "R", "1", 9, &epoch).await.unwrap(),
        "future seq",
    );

    // 101 missed: overflow. 100: all of them.
    send_all(&w, "R", 4..=104).await;
    check_overflow(&w, &epoch).await;

    // The anchor expired (the TTL sweep is late, so the item is still there, but expired).
    join(&w, "e", "E", "1").await;
    send_all(&w, "E", 1..=3).await;
    let e_epoch = frames(&w, "e")[0]["epoch"].as_str().unwrap().to_owned();
    assert!(
        recover(&*w.history, ttl, "E", "1", 2, &e_epoch)
            .await
            .unwrap()
            .recovered
    );
    let mut old = w.history.range("E", 2, 2, 1).await.unwrap().remove(0);
    old.expires_at = now_secs() - 1;
    w.history.put("E", &old).await.unwrap();
    let r = recover(&*w.history, ttl, "E", "1", 2, &e_epoch).await.unwrap();
    assert!(
        !r.recovered && r.frames.is_empty(),
        "anchor expired: what followed may have too"
    );
    let r = recover(&*w.history, ttl, "E", "1", 1, &e_epoch).await.unwrap();
    assert!(!r.recovered, "a missed item expired");
    assert!(
        recover(&*w.history, ttl, "E", "1", 3, &e_epoch)
            .await
            .unwrap()
            .recovered,
        "nothing missed"
    );
}

async fn check_overflow(w: &World, epoch: &str) {
    let ttl = TTL.as_secs();
    let r = recover(&*w.history, ttl, "R", "1", 3, epoch).await.unwrap();
    assert!(!r.recovered && r.frames.is_empty() && r.seq == 104, "101 missed");
    let r = recover(&*w.history, ttl, "R", "1", 4, epoch).await.unwrap();
    assert!(r.recovered && r.frames.len() == 100, "100 missed");
}

#[tokio::test]
async fn a_lost_counter_starts_a_new_epoch_and_old_items_do_not_leak_into_it() {
    let w = world();
    join(&w, "p", "R", "1").await;
    send_all(&w, "R", 1..=5).await;
    let old = frames(&w, "p")[0]["epoch"].as_str().unwrap().to_owned();
    w.history.lose_counter("R");
    send_all(&w, "R", 6..=7).await;
    let f = frames(&w, "p");
    let new = f[5]["epoch"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!((f[5]["seq"].clone(), f[6]["seq"].clone()), (json!(1), json!(2)));
    let r = recover(&*w.history, TTL.as_secs(), "R", "1", 3, &old)
        .await
        .unwrap();
    assert!(!r.recovered && r.epoch == new && r.seq == 2, "{r:?}");
    // From the new epoch's seq 1: seq 2 only, not the old epoch's 3..5 still stored.
    let r = recover(&*w.history, TTL.as_secs(), "R", "1", 1, &new)
        .await
        .unwrap();
    assert!(r.recovered);
    assert_eq!(r.frames, vec![raw_frames(&w, "p")[6].clone()]);
}

#[tokio::test]
async fn a_seq_handed_out_moments_ago_is_waited_for_an_old_gap_is_not() {
    let history = Arc::new(MemoryHistoryStore::default());
    let flaky = Arc::new(Flaky::new(history.clone(), 0));
    let w = world_over(history.clone(), Some(flaky.clone()));
    join(&w, "p", "R", "1").await;
    send_all(&w, "R", 1..=2).await;
    let epoch = frames(&w, "p")[0]["epoch"].as_str().unwrap().to_owned();
    // Message 3 has its seq; its history write is still on the way when the page recovers.
    let c = history.next_seq("R").await.unwrap();
    let late = HistoryItem {
        seq: c.last_seq,
        epoch: c.epoch.clone(),
        frame: Some(b"{\"late\":true}".to_vec()),
        target_user_id: None,
        expires_at: now_secs() + TTL.as_secs(),
    };
    let writer = {
        let history = history.clone();
        let late = late.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            history.put("R", &late).await.unwrap();
        })
    };
    let r = recover(&*flaky, TTL.as_secs(), "R", "1", 2, &epoch)
        .await
        .unwrap();
    writer.await.unwrap();
    assert!(r.recovered);
    assert_eq!(
        r.frames,
        vec![late.frame.clone().unwrap()],
        "the late write was waited for"
    );

    // A gap whose seq was handed out long ago (its write failed): read once, skipped.
    let _spent = history.next_seq("R").await.unwrap();
    send_all(&w, "R", 5..=5).await;
    let mut five = history.range("R", 5, 5, 1).await.unwrap().remove(0);
    five.expires_at -= 120; // written two minutes ago
    history.put("R", &five).await.unwrap();
    flaky.ranges.store(0, Ordering::SeqCst);
    let r = recover(&*flaky, TTL.as_secs(), "R", "1", 3, &epoch)
        .await
        .unwrap();
    assert!(r.recovered);
    assert_eq!(r.frames, vec![five.frame.unwrap()]);
    assert_eq!(
        flaky.ranges.load(Ordering::SeqCst),
        1,
        "no second read for an old gap"
    );
}

#[tokio::test]
async fn a_tail_gap_is_waited_for_only_while_the_counter_is_recent() {
    let history = Arc::new(MemoryHistoryStore::default());
    let mut flaky = Flaky::new(history.clone(), 0);
    flaky.counter_age_ms = 60_000;
    let flaky = Arc::new(flaky);
    let w = world_over(history.clone(), Some(flaky.clone()));
    join(&w, "p", "R", "1").await;
    send_all(&w, "R", 1..=1).await;
    let epoch = frames(&w, "p")[0]["epoch"].as_str().unwrap().to_owned();
    history.next_seq("R").await.unwrap(); // seq 2, never written
    let r = recover(&*flaky, TTL.as_secs(), "R", "1", 1, &epoch)
        .await
        .unwrap();
    assert!(r.recovered && r.frames.is_empty() && r.seq == 2);
    assert_eq!(flaky.ranges.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn bad_recover_frames_get_an_error_frame() {
    let w = world();
    join(&w, "p", "R", "1").await;
    for body in [
        json!({"action": "recover"}),
        json!({"action": "recover", "since": -1, "epoch": "e"}),
        json!({"action": "recover", "since": 1.5, "epoch": "e"}),
        json!({"action": "recover", "since": "3", "epoch": "e"}),
        json!({"action": "recover", "since": 3, "epoch": 7}),
        json!({"action": "recover", "since": 3, "epoch": "e".repeat(33)}),
    ] {
        assert_eq!(
            w.sender.handle_route(&route("p", body.clone())).await.status_code,
            400,
            "{body}"
        );
    }
    let got = frames(&w, "p");
    assert_eq!(got.len(), 6);
    for f in got {
        assert_eq!(f["hermes"], "error");
        assert!(f["error"].as_str().unwrap().contains("since"), "{f}");
        assert!(f.get("data").is_none());
    }
}

/// A page rendered at the room's position and connected later gets what was sent in between:
/// from the position (its seq and epoch), or, when the room had no message at render, from
/// seq 0 of the epoch its first answer names.
#[tokio::test]
async fn a_page_recovers_from_the_position_it_was_rendered_at() {
    let w = world();
    let h: &dyn HistoryStore = &*w.history;
    assert_eq!(h.position("NEW").await.unwrap(), None);
    assert_eq!(
        h.position("NEW").await.unwrap(),
        None,
        "reading does not create the counter"
    );
    send_all(&w, "NEW", 1..=2).await;
    // The page rendered before any message: its first answer (since 0, no epoch) names the
    // epoch, then it asks from 0 in it.
    let first = recover(h, 3600, "NEW", "1", 0, "").await.unwrap();
    assert!(!first.recovered && first.frames.is_empty() && first.seq == 2);
    let all = recover(h, 3600, "NEW", "1", 0, &first.epoch).await.unwrap();
    assert!(all.recovered);
    assert_eq!(all.frames.len(), 2);

    send_all(&w, "R", 1..=3).await;
    let at_render = h.position("R").await.unwrap().unwrap();
    assert_eq!(at_render.last_seq, 3);
    send_all(&w, "R", 4..=5).await;
    let got = recover(h, 3600, "R", "1", at_render.last_seq, &at_render.epoch)
        .await
        .unwrap();
    assert!(got.recovered);
    let seqs: Vec<u64> = got
        .frames
        .iter()
        .map(|f| {
            serde_json::from_slice::<Value>(f).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, [4, 5]);
}
