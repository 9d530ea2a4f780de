//! Streams: many per socket, subscribed with names the app signed, broadcast to, recovered
//! per stream, on sockets of a user and of nobody.

use super::*;

fn signed(w: &World, name: &str) -> String {
    w.key.sign(name).unwrap()
}

fn broadcast(stream: &str, n: u64) -> Value {
    json!({"hermes": "broadcast", "stream": stream, "data": format!("<turbo-stream {n}>")})
}

/// Sends `body` from `connection_id`; returns the route's status and forgets nothing.
async fn send(w: &World, connection_id: &str, body: Value) -> i64 {
    w.sender
        .handle_route(&route(connection_id, body))
        .await
        .status_code
}

/// What `connection_id` got since the last call, and forgets it.
fn took(w: &World, id: &str) -> Vec<Value> {
    w.pusher
        .take(id)
        .iter()
        .map(|f| serde_json::from_slice(f).unwrap())
        .collect()
}

async fn subscribe(w: &World, id: &str, names: &[&str]) -> Vec<Value> {
    let streams: Vec<String> = names.iter().map(|n| signed(w, n)).collect();
    assert_eq!(
        send(w, id, json!({"action": "subscribe", "streams": streams})).await,
        200
    );
    took(w, id)
}

async fn cast(w: &World, id: &str, stream: &str, n: u64) {
    let r = w.sender.handle_sqs(sqs(&[(id, broadcast(stream, n))])).await;
    assert!(r.batch_item_failures.is_empty(), "{:?}", r.batch_item_failures);
}

#[tokio::test]
async fn a_broadcast_reaches_its_streams_subscribers_only_in_order() {
    let w = world();
    join(&w, "a", "R", "1").await;
    join(&w, "b", "R", "2").await;
    join(&w, "c", "", "").await; // a socket of nobody
    let answer = subscribe(&w, "a", &["board_1"]).await;
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0]["hermes"], "subscribed");
    assert_eq!(answer[0]["streams"][0]["stream"], "board_1");
    assert_eq!(answer[0]["streams"][0]["name"], signed(&w, "board_1"));
    assert_eq!(answer[0]["streams"][0]["seq"], 0);
    assert_eq!(answer[0]["streams"][0]["epoch"], Value::Null, "no broadcast yet");
    subscribe(&w, "c", &["board_1", "board_2"]).await;
    cast(&w, "m1", "board_1", 1).await;
    cast(&w, "m2", "board_2", 2).await;
    cast(&w, "m3", "board_1", 3).await;
    let a = took(&w, "a");
    let c = took(&w, "c");
    assert!(took(&w, "b").is_empty(), "not subscribed");
    assert_eq!(
        a.iter().map(|f| f["data"].clone()).collect::<Vec<_>>(),
        [json!("<turbo-stream 1>"), json!("<turbo-stream 3>")]
    );
    assert_eq!(a[0]["stream"], "board_1");
    assert_eq!(
        (a[0]["seq"].clone(), a[1]["seq"].clone()),
        (json!(1), json!(2)),
        "the stream's own seqs"
    );
    assert!(a[0].get("user_id").is_none(), "a broadcast has no sender");
    assert_eq!(c.len(), 3);
    assert_eq!(c[1]["stream"], "board_2");
    assert_eq!(c[1]["seq"], 1);
    // The stream's history, not the room's.
    assert_eq!(w.stream_history.len("board_1"), 2);
    assert_eq!(w.history.len("board_1"), 0);
}

#[tokio::test]
async fn forged_tampered_and_foreign_names_get_an_error_frame_and_no_subscription() {
    let w = world();
    join(&w, "a", "R", "1").await;
    let good = signed(&w, "board_1");
    let (data, digest) = good.split_once("--").unwrap();
    let foreign = StreamKey::from_text("another app").sign("board_1").unwrap();
    let forged = format!("{}--{digest}", data.replace('E', "F"));
    for bad in [
        foreign.as_str(),
        forged.as_str(),
        "board_1",
        "x".repeat(3000).as_str(),
    ] {
        let status = send(&w, "a", json!({"action": "subscribe", "streams": [bad]})).await;
        assert_eq!(status, 400);
        let got = took(&w, "a");
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0]["hermes"], "error");
        assert_eq!(got[0]["action"], "subscribe");
        assert_eq!(got[0]["name"], bad, "names what it refused");
        assert!(
            !got[0]["error"].as_str().unwrap().contains("board_1"),
            "never the stream inside"
        );
    }
    cast(&w, "m1", "board_1", 1).await;
    assert!(took(&w, "a").is_empty(), "no subscription was made");
    assert!(w.subscriptions.is_empty());
    // One good name among bad ones is taken.
    let status = send(
        &w,
        "a",
        json!({"action": "subscribe", "streams": [foreign, good]}),
    )
    .await;
    assert_eq!(status, 200);
    let got = took(&w, "a");
    assert_eq!(
        (got[0]["hermes"].clone(), got[1]["hermes"].clone()),
        (json!("error"), json!("subscribed"))
    );
}

#[tokio::test]
async fn streams_per_socket_and_changes_per_second_are_bounded() {
    let limits = StreamLimits {
        max_per_socket: 3,
        min_interval: Duration::from_millis(200),
    };
    let w = world_with(Arc::new(MemoryHistoryStore::default()), None, limits);
    join(&w, "a", "R", "1").await;
    subscribe(&w, "a", &["s1", "s2"]).await;
    // Too soon after the last change.
    let status = send(
        &w,
        "a",
        json!({"action": "subscribe", "streams": [signed(&w, "s3")]}),
    )
    .await;
    assert_eq!(status, 400);
    let got = took(&w, "a");
    assert!(
        got[0]["error"]
            .as_str()
            .unwrap()
            .contains("at most 5 subscribe/unsubscribe frames a second"),
        "{got:?}"
    );
    let wait = got[0]["retry_after_ms"].as_u64().unwrap();
    assert!(wait > 0 && wait <= 200, "{wait}");
    tokio::time::sleep(Duration::from_millis(wait + 20)).await;
    // Two more would make four.
    let status = send(
        &w,
        "a",
        json!({"action": "subscribe", "streams": [signed(&w, "s3"), signed(&w, "s4")]}),
    )
    .await;
    assert_eq!(status, 400);
    let got = took(&w, "a");
    assert!(
        got[0]["error"]
            .as_str()
            .unwrap()
            .contains("a socket holds at most 3 streams (2 now)"),
        "{got:?}"
    );
    tokio::time::sleep(Duration::from_millis(220)).await;
    subscribe(&w, "a", &["s3"]).await;
    assert_eq!(
        w.conns.get("a").await.unwrap().unwrap().streams,
        ["s1", "s2", "s3"]
    );
}

#[tokio::test]
async fn unsubscribing_stops_the_streams_frames() {
    let w = world();
    join(&w, "a", "R", "1").await;
    subscribe(&w, "a", &["s1", "s2"]).await;
    tokio::time::sleep(Duration::from_millis(110)).await;
    let status = send(
        &w,
        "a",
        json!({"action": "unsubscribe", "streams": [signed(&w, "s1")]}),
    )
    .await;
    assert_eq!(status, 200);
    let got = took(&w, "a");
    assert_eq!(
        got[0],
        json!({"hermes": "unsubscribed", "streams": [{"name": signed(&w, "s1"), "stream": "s1"}]})
    );
    cast(&w, "m1", "s1", 1).await;
    cast(&w, "m2", "s2", 2).await;
    let got = took(&w, "a");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["stream"], "s2");
}

#[tokio::test]
async fn a_reconnect_recovers_the_room_and_each_stream_from_its_own_seq_once() {
    let w = world();
    join(&w, "old", "R", "1").await;
    subscribe(&w, "old", &["s1", "s2"]).await;
    cast(&w, "m1", "s1", 1).await;
    cast(&w, "m2", "s2", 1).await;
    send_all(&w, "R", 1..=1).await;
    let seen = took(&w, "old");
    let epoch = |stream: &str| seen.iter().find(|f| f["stream"] == stream).unwrap()["epoch"].clone();
    let room_epoch = seen.iter().find(|f| f.get("user_id").is_some()).unwrap()["epoch"].clone();
    let (e1, e2) = (epoch("s1"), epoch("s2"));
    // The socket goes; what is sent meanwhile waits in the histories.
    w.conns.delete("old").await.unwrap();
    cast(&w, "m3", "s1", 2).await;
    cast(&w, "m4", "s1", 3).await;
    cast(&w, "m5", "s2", 2).await;
    send_all(&w, "R", 2..=2).await;
    join(&w, "new", "R", "1").await;
    let frame = json!({
        "action": "recover", "since": 1, "epoch": room_epoch,
        "streams": [
            {"name": signed(&w, "s1"), "since": 1, "epoch": e1},
            {"name": signed(&w, "s2"), "since": 1, "epoch": e2},
        ],
    });
    assert_eq!(send(&w, "new", frame).await, 200);
    let got = took(&w, "new");
    let summary: Vec<String> = got
        .iter()
        .map(|f| match (f.get("hermes"), f.get("stream")) {
            (Some(h), Some(s)) => format!("{h} {s} {}", f["recovered"]),
            (Some(h), None) => format!("{h} room {}", f["recovered"]),
            (None, Some(s)) => format!("{s} {}", f["seq"]),
            (None, None) => format!("room {}", f["seq"]),
        })
        .map(|s| s.replace('"', ""))
        .collect();
    assert_eq!(
        summary,
        [
            "room 2",
            "recovered room true",
            "s1 2",
            "s1 3",
            "recovered s1 true",
            "s2 2",
            "recovered s2 true"
        ]
    );
    // Subscribed again: the next broadcast comes live.
    cast(&w, "m6", "s2", 3).await;
    assert_eq!(took(&w, "new")[0]["seq"], 3);
}

#[tokio::test]
async fn a_stream_that_cannot_be_recovered_says_so_by_name() {
    let w = world();
    join(&w, "a", "", "").await;
    let frame = json!({"action": "recover", "streams": [{"name": signed(&w, "s1"), "since": 4, "epoch": "an old epoch"}]});
    assert_eq!(send(&w, "a", frame).await, 200);
    let got = took(&w, "a");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["hermes"], "recovered");
    assert_eq!(got[0]["stream"], "s1");
    assert_eq!(got[0]["name"], signed(&w, "s1"));
    assert_eq!(got[0]["recovered"], false);
}

#[tokio::test]
async fn a_socket_of_nobody_gets_streams_and_nothing_of_a_room() {
    let w = world();
    join(&w, "a", "", "").await;
    for frame in [
        json!({"action": "sendMessage", "data": 1}),
        json!({"action": "presence"}),
        json!({"action": "recover", "since": 0, "epoch": ""}),
    ] {
        assert_eq!(send(&w, "a", frame.clone()).await, 403, "{frame}");
        let got = took(&w, "a");
        assert!(
            got[0]["error"].as_str().unwrap().contains("belongs to no room"),
            "{got:?}"
        );
    }
    subscribe(&w, "a", &["public"]).await;
    cast(&w, "m1", "public", 1).await;
    assert_eq!(took(&w, "a")[0]["stream"], "public");
}

#[tokio::test]
async fn a_streams_presence_counts_sockets_and_names_users() {
    let w = world();
    join(&w, "a", "R", "1").await;
    join(&w, "b", "R", "1").await;
    join(&w, "c", "S", "2").await;
    join(&w, "d", "", "").await;
    for id in ["a", "b", "c", "d"] {
        subscribe(&w, id, &["s"]).await;
    }
    assert_eq!(
        send(&w, "d", json!({"action": "presence", "stream": signed(&w, "s")})).await,
        200
    );
    assert_eq!(
        took(&w, "d")[0],
        json!({"hermes": "presence", "stream": "s", "users": ["1", "2"], "connections": 4})
    );
}

#[tokio::test]
async fn a_gone_socket_is_forgotten_with_its_subscriptions() {
    let w = world();
    join(&w, "a", "R", "1").await;
    join(&w, "b", "R", "2").await;
    subscribe(&w, "a", &["s1", "s2"]).await;
    subscribe(&w, "b", &["s1"]).await;
    w.pusher.mark_gone("a");
    cast(&w, "m1", "s1", 1).await;
    assert!(w.conns.get("a").await.unwrap().is_none(), "its row");
    assert_eq!(
        w.subscriptions.all("s2").await.unwrap(),
        [],
        "and the stream it was not posted"
    );
    assert_eq!(w.subscriptions.all("s1").await.unwrap().len(), 1);
}
