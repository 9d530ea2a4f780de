//! Recovery through the gateway with real WebSocket clients: a page that reconnects gets
//! exactly what it missed, byte for byte, and a page rendered at a position gets what was
//! sent before its socket opened.

mod common;

use common::pages::{baseline, in_room, next, next_text, note, open_as, send, wait_until};
use serde_json::{json, Value};

async fn gateway() -> hermes_local::Gateway {
    common::gateway(hermes_local::Options::default()).await
}

#[tokio::test]
async fn a_page_that_misses_20_messages_gets_exactly_those_on_reconnect() {
    let gw = gateway().await;
    let q = gw.queue().unwrap();
    let mut watcher = open_as(&gw, 1, "ACME").await;
    let mut page = open_as(&gw, 2, "ACME").await;
    in_room(&gw, "ACME", 2).await;
    let (epoch, start) = baseline(&mut page).await;
    assert_eq!(start, 0);
    for n in 0..3 {
        q.send(&note("ACME", n)).await.unwrap();
    }
    let mut last = 0;
    for _ in 0..3 {
        let f = next(&mut page).await;
        assert_eq!(f["epoch"], json!(epoch));
        last = f["seq"].as_u64().unwrap();
    }
    for _ in 0..3 {
        next(&mut watcher).await;
    }
    // The laptop sleeps: the socket goes without a close frame.
    drop(page);
    in_room(&gw, "ACME", 1).await;
    let mut ids = Vec::new();
    for n in 3..23 {
        ids.push(q.send(&note("ACME", n)).await.unwrap());
    }
    // What the watcher got live is what the page must get back, byte for byte.
    let mut live = Vec::new();
    for _ in 0..20 {
        live.push(next_text(&mut watcher).await);
    }
    let mut page = open_as(&gw, 2, "ACME").await;
    send(
        &mut page,
        json!({"action": "recover", "since": last, "epoch": epoch}),
    )
    .await;
    let mut got = Vec::new();
    for _ in 0..20 {
        got.push(next_text(&mut page).await);
    }
    assert_eq!(
        got, live,
        "exactly the 20 missed frames, oldest first, as first posted"
    );
    let ids_got: Vec<String> = got
        .iter()
        .map(|t| {
            serde_json::from_str::<Value>(t).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids_got, ids);
    assert_eq!(
        next(&mut page).await,
        json!({"hermes": "recovered", "recovered": true, "epoch": epoch, "seq": last + 20})
    );
    // And live delivery goes on.
    q.send(&note("ACME", 23)).await.unwrap();
    assert_eq!(next(&mut page).await["seq"], last + 21);
}

/// The position a page is rendered at (`POST /_hermes/position`, what the gem's view helper
/// embeds), then notifications before its socket opens: its first `recover` from that position
/// brings exactly those.
#[tokio::test]
async fn a_page_rendered_at_a_position_gets_what_was_sent_before_its_socket_opened() {
    let gw = gateway().await;
    let position = || async {
        let (status, body) = common::http(
            &gw,
            "POST",
            "/_hermes/position",
            &[("Content-Type", "application/json")],
            r#"{"room_id":"ACME"}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()
    };
    assert_eq!(position().await, json!({"seq": 0, "epoch": null}));
    let q = gw.queue().unwrap();
    for n in 1..=3 {
        q.send(&note("ACME", n)).await.unwrap();
    }
    wait_until("3 in the history", || async { position().await["seq"] == 3 }).await;
    // Rendered now; 2 more go out before the page's socket opens.
    let at = position().await;
    for n in 4..=5 {
        q.send(&note("ACME", n)).await.unwrap();
    }
    wait_until("5 in the history", || async { position().await["seq"] == 5 }).await;
    let mut page = open_as(&gw, 1, "ACME").await;
    send(
        &mut page,
        json!({"action": "recover", "since": at["seq"], "epoch": at["epoch"]}),
    )
    .await;
    for n in 4..=5 {
        assert_eq!(next(&mut page).await["data"]["data"], n);
    }
    let answer = next(&mut page).await;
    assert_eq!(
        (
            answer["hermes"].as_str(),
            answer["recovered"].as_bool(),
            answer["seq"].as_u64()
        ),
        (Some("recovered"), Some(true), Some(5)),
        "{answer}"
    );
}
