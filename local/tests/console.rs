//! The demo page's console: `GET /_hermes/console` after real sockets connect, subscribe and
//! get a broadcast; its bounds whatever is posted or opened; the development guard in front of
//! it and of `POST /_hermes/streams/sign`.

mod common;

use std::time::Duration;

use common::pages::{next, open_as, send};
use common::{gateway, http, management_client};
use hermes_core::stream_name::StreamKey;
use hermes_local::{Gateway, Options};
use serde_json::{json, Value};

const JSON: (&str, &str) = ("Content-Type", "application/json");

async fn console(gw: &Gateway) -> Value {
    let (status, body) = http(gw, "GET", "/_hermes/console", &[], "").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The console once `f` holds of it (answers are reused for 200 ms: polls see it change).
async fn console_when(gw: &Gateway, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        last = console(gw).await;
        if f(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within 10 s; the console said {last:#}");
}

async fn sign(gw: &Gateway, stream: &str) -> String {
    let body = json!({ "stream": stream }).to_string();
    let (status, answer) = http(gw, "POST", "/_hermes/streams/sign", &[JSON], &body).await;
    assert_eq!(status, 200, "{answer}");
    serde_json::from_str::<Value>(&answer).unwrap()["signed"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_console_shows_sockets_rooms_streams_and_the_frames_posted() {
    let gw = gateway(Options::default()).await;
    let signed = sign(&gw, "board_1").await;
    assert_eq!(StreamKey::development().verify(&signed).unwrap(), "board_1");

    let mut page = open_as(&gw, 7, "ACME").await;
    send(&mut page, json!({"action": "subscribe", "streams": [signed]})).await;
    assert_eq!(next(&mut page).await["hermes"], "subscribed");
    let body = json!({"stream": "board_1", "data": "<turbo-stream action=\"append\">1</turbo-stream>"});
    let (status, answer) = http(&gw, "POST", "/_hermes/broadcasts", &[JSON], &body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    let frame = next(&mut page).await;
    assert_eq!(frame["stream"], "board_1");

    let c = console_when(&gw, "the broadcast among the frames", |c| {
        c["frames"]["listed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["preview"].as_str().unwrap().contains("\"stream\":\"board_1\""))
    })
    .await;
    assert_eq!(c["stage"], "development");
    assert_eq!(c["sockets"]["count"], 1);
    let socket = &c["sockets"]["listed"][0];
    let id = socket["connection_id"].as_str().unwrap();
    assert_eq!(
        (
            &socket["user_id"],
            &socket["room_id"],
            &socket["streams"],
            &socket["streams_count"]
        ),
        (&json!("7"), &json!("ACME"), &json!(["board_1"]), &json!(1))
    );
    assert!(
        socket["connected_at"].as_str().unwrap().ends_with('Z'),
        "{socket}"
    );
    assert_eq!(
        c["rooms"],
        json!({"count": 1, "more": false,
               "listed": [{"room_id": "ACME", "sockets": 1, "users": ["7"], "more_users": false}]})
    );
    assert_eq!(
        c["streams"],
        json!({"count": 1, "more": false,
               "listed": [{"stream": "board_1", "sockets": 1, "users": ["7"], "more_users": false}]})
    );
    // Newest first: the broadcast's frame, then the `subscribed` answer, both to this socket.
    let frames = c["frames"]["listed"].as_array().unwrap();
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert!(frames[1]["preview"]
        .as_str()
        .unwrap()
        .starts_with("{\"hermes\":\"subscribed\""));
    let f = &frames[0];
    assert_eq!(
        (f["connection_id"].as_str(), &f["status"]),
        (Some(id), &json!(200))
    );
    assert_eq!(f["bytes"].as_u64().unwrap() as usize, frame.to_string().len());
    assert_eq!(c["frames"]["posted"], 2);

    // Gone: its row and its socket leave the console.
    drop(page);
    console_when(&gw, "the socket gone", |c| {
        c["sockets"]["count"] == 0 && c["streams"]["count"] == 0 && c["rooms"]["count"] == 0
    })
    .await;
}

#[tokio::test]
async fn the_console_holds_and_lists_a_bounded_amount() {
    let gw = gateway(Options::default()).await;
    // 105 sockets: the newest 100 listed, all counted.
    let mut pages = Vec::new();
    for user in 0..105 {
        pages.push(open_as(&gw, user, &format!("R{}", user % 3)).await);
    }
    // One of them holds 12 streams with long names.
    let key = StreamKey::development();
    let long: Vec<String> = (0..12)
        .map(|i| key.sign(&format!("{i:0>1000}")).unwrap())
        .collect();
    let last = pages.last_mut().unwrap();
    send(last, json!({"action": "subscribe", "streams": long})).await;
    assert_eq!(next(last).await["hermes"], "subscribed");
    // Frames far above the ring's bounds, each 10 KB.
    let pusher = management_client(&gw).await;
    let c = console_when(&gw, "every socket", |c| c["sockets"]["count"] == 105).await;
    let id = c["sockets"]["listed"][0]["connection_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let big = format!("\"{}\"", "x".repeat(10_000));
    for _ in 0..300 {
        pusher.post(&id, big.as_bytes()).await.unwrap();
    }

    let c = console_when(&gw, "the frames posted", |c| {
        c["frames"]["posted"].as_u64() >= Some(301)
    })
    .await;
    let limits = &c["limits"];
    let listed = c["sockets"]["listed"].as_array().unwrap();
    assert_eq!(listed.len(), limits["listed"].as_u64().unwrap() as usize);
    assert_eq!(listed[0]["connection_id"], id.as_str(), "the newest first");
    let rooms = c["rooms"]["listed"].as_array().unwrap();
    assert_eq!(rooms.len(), 3);
    assert_eq!(
        rooms.iter().map(|r| r["sockets"].as_u64().unwrap()).sum::<u64>(),
        105
    );
    assert!(rooms
        .iter()
        .all(|r| r["users"].as_array().unwrap().len() <= 20 && r["more_users"] == true));
    let holder = &listed[0];
    assert_eq!(holder["streams_count"], 12);
    let shown = holder["streams"].as_array().unwrap();
    assert_eq!(
        shown.len(),
        limits["streams_per_socket"].as_u64().unwrap() as usize
    );
    let cut = limits["name_bytes"].as_u64().unwrap() as usize + "…".len();
    assert!(
        shown.iter().all(|s| s.as_str().unwrap().len() == cut),
        "{shown:?}"
    );
    assert_eq!(c["streams"]["count"], 12);

    let frames = c["frames"]["listed"].as_array().unwrap();
    assert!(frames.len() <= limits["frames"].as_u64().unwrap() as usize);
    let preview = limits["preview_bytes"].as_u64().unwrap() as usize;
    assert!(frames
        .iter()
        .all(|f| f["preview"].as_str().unwrap().len() <= preview
            && f["bytes"] == 10_002
            && f["cut"] == true));
    let held: usize = frames
        .iter()
        .map(|f| f["preview"].as_str().unwrap().len() + f["connection_id"].as_str().unwrap().len())
        .sum();
    assert!(held <= limits["frame_bytes"].as_u64().unwrap() as usize);
    // The whole answer, with 105 sockets and 300 large frames behind it, stays small.
    assert!(c.to_string().len() < 64 * 1024, "{} bytes", c.to_string().len());
}

#[tokio::test]
async fn the_console_and_the_signer_refuse_pages_of_other_hosts() {
    let gw = gateway(Options::default()).await;
    let own = format!("http://{}", gw.addr);
    let sign_body = r#"{"stream":"board_1"}"#;
    for (why, headers, status) in [
        ("other origin", vec![("Origin", "http://evil.example")], 403),
        ("opaque origin", vec![("Origin", "null")], 403),
        ("rebound host", vec![("Host", "evil.example:80")], 403),
        ("its own page", vec![("Origin", own.as_str())], 200),
        ("no page at all", vec![], 200),
    ] {
        let (got, body) = http(&gw, "GET", "/_hermes/console", &headers, "").await;
        assert_eq!(got, status, "console, {why}: {body}");
        if status != 200 {
            assert!(body.contains("\"error\""), "{body}");
        }
        let mut with_json = headers.clone();
        with_json.push(JSON);
        let (got, body) = http(&gw, "POST", "/_hermes/streams/sign", &with_json, sign_body).await;
        assert_eq!(got, status, "sign, {why}: {body}");
    }
    // A bad name is the caller's mistake, said in a line.
    let long = json!({ "stream": "x".repeat(2000) }).to_string();
    let (got, body) = http(&gw, "POST", "/_hermes/streams/sign", &[JSON], &long).await;
    assert_eq!(got, 400, "{body}");
}
