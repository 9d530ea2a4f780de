//! The gateway against hostile clients on 127.0.0.1: slow consumers, slowloris, protocol
//! violations, and web pages calling the development endpoints. Each limit is set small so
//! every test is bounded in time and memory. (Floods are in flood.rs: that test counts the
//! process's file descriptors and runs alone.)

mod common;

use std::time::Duration;

use common::{
    client_frame, connection_id, gateway, http, management_client, next_json_within, non_reading_client,
    open, raw_close_code, raw_upgrade, token, wait_for,
};
use hermes_core::push::{PushError, Pusher};
use hermes_local::{Gateway, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---------------------------------------------------------------- slow consumers

const FRAME: usize = 64 * 1024;
/// More than the kernel's buffers can hold between the two ends (the gateway's send buffer
/// grows to 4 MiB at most; the client's receive window is a few KiB): the gateway's write
/// blocks well before this much is posted.
const FLOOD_BYTES: usize = 10 * 1024 * 1024;

/// Posts 64 KB frames until one is refused or `FLOOD_BYTES` went out; returns the number
/// accepted and the refusal.
async fn post_until_refused(pusher: &dyn Pusher, id: &str) -> (usize, Option<PushError>) {
    let frame = vec![b'x'; FRAME];
    for n in 0..FLOOD_BYTES / FRAME {
        if let Err(e) = pusher.post(id, &frame).await {
            return (n, Some(e));
        }
    }
    (FLOOD_BYTES / FRAME, None)
}

#[tokio::test]
async fn a_client_that_does_not_read_is_closed_once_its_queue_is_full() {
    let gw = gateway(Options {
        max_queued_bytes: 512 * 1024,
        ..Options::default()
    })
    .await;
    let (_client, id) = non_reading_client(&gw, 1, "SLOW").await;
    let pusher = management_client(&gw).await;
    let (accepted, refused) = post_until_refused(&*pusher, &id).await;
    // Refused as API Gateway refuses posts to a connection that is going away; the sender
    // then deletes the row. At most the queue's worth, plus what the kernel took, got in.
    assert_eq!(refused, Some(PushError::Gone), "after {accepted} frames");
    assert!(accepted * FRAME < FLOOD_BYTES, "{accepted} frames accepted");
    wait_for(|| gw.live_connections() == 0).await;
    for _ in 0..500 {
        if gw.connections().room("SLOW").await.unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("$disconnect did not remove the slow consumer's row");
}

/// The queue is large here: only DeleteConnection can end the connection, while the
/// gateway's write to the client is blocked.
#[tokio::test]
async fn delete_connection_closes_a_socket_whose_write_is_blocked() {
    let gw = gateway(Options {
        max_queued_bytes: 2 * FLOOD_BYTES,
        ..Options::default()
    })
    .await;
    let (_client, id) = non_reading_client(&gw, 1, "STUCK").await;
    let pusher = management_client(&gw).await;
    let (accepted, refused) = post_until_refused(&*pusher, &id).await;
    assert_eq!((accepted, refused), (FLOOD_BYTES / FRAME, None));
    pusher.close(&id).await.unwrap();
    wait_for(|| gw.live_connections() == 0).await;
    assert_eq!(pusher.post(&id, b"x").await, Err(PushError::Gone));
}

#[tokio::test]
async fn the_age_limit_ends_a_socket_whose_write_is_blocked() {
    let gw = gateway(Options {
        max_queued_bytes: 2 * FLOOD_BYTES,
        max_age: Duration::from_secs(3),
        ..Options::default()
    })
    .await;
    let (_client, id) = non_reading_client(&gw, 1, "OLD").await;
    let pusher = management_client(&gw).await;
    post_until_refused(&*pusher, &id).await;
    wait_for(|| gw.live_connections() == 0).await;
}

// ---------------------------------------------------------------- slowloris

/// Opens a TCP connection and sends an unfinished request.
async fn unfinished_request(gw: &Gateway) -> TcpStream {
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(b"GET /development?token=x HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    tcp
}

/// Reads until the gateway closes the connection; panics after 10 s.
async fn closed_by_gateway(tcp: &mut TcpStream) {
    let mut sink = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut sink))
        .await
        .expect("the gateway closed the connection")
        .ok();
}

#[tokio::test]
async fn clients_that_do_not_finish_their_headers_are_dropped() {
    let gw = gateway(Options {
        header_read_timeout: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let mut partial = unfinished_request(&gw).await;
    let mut silent = TcpStream::connect(gw.addr).await.unwrap();
    closed_by_gateway(&mut partial).await;
    closed_by_gateway(&mut silent).await;
    wait_for(|| gw.open_connections() == 0).await;
}

#[tokio::test]
async fn past_the_connection_cap_new_clients_wait_instead_of_taking_descriptors() {
    let opts = Options {
        max_connections: 2,
        max_posts: 1,
        header_read_timeout: Duration::from_secs(60),
        ..Options::default()
    };
    let gw = gateway(opts.clone()).await;
    // The WebSockets and 16 more; the gateway's own management client has a listener of its own.
    let cap = opts.max_connections + 16;
    let mut held = Vec::new();
    for _ in 0..cap {
        held.push(unfinished_request(&gw).await);
    }
    wait_for(|| gw.open_connections() == cap).await;
    let t = token(&gw, 1, "R").await;
    // Accepted by the kernel, not by the gateway: the upgrade waits.
    assert!(
        tokio::time::timeout(Duration::from_secs(1), open(&gw, &t))
            .await
            .is_err(),
        "an upgrade got through past the cap"
    );
    assert_eq!(gw.open_connections(), cap);
    // One unfinished request goes away: its slot takes the next client.
    held.pop();
    let ws = tokio::time::timeout(Duration::from_secs(10), open(&gw, &t))
        .await
        .expect("the upgrade went through once a slot was free");
    assert!(ws.is_ok(), "{ws:?}");
}

// ---------------------------------------------------------------- protocol

/// A fresh socket on `gw`, opened by hand, sends `bytes`; the close code the gateway answers.
async fn close_code_after(gw: &Gateway, user: i64, bytes: &[u8]) -> Option<u16> {
    let tcp = TcpStream::connect(gw.addr).await.unwrap();
    let mut tcp = raw_upgrade(gw, tcp, &token(gw, user, "P").await).await;
    tcp.write_all(bytes).await.unwrap();
    raw_close_code(&mut tcp).await
}

#[tokio::test]
async fn protocol_violations_are_answered_with_a_close_frame() {
    let gw = gateway(Options::default()).await;
    let cases: [(&str, Vec<u8>, u16); 6] = [
        (
            "invalid UTF-8 in a text frame",
            client_frame(true, 0x1, &[0x7b, 0xff, 0xfe], true),
            1007,
        ),
        ("an unmasked frame", client_frame(true, 0x1, b"{}", false), 1002),
        (
            "a reserved data opcode",
            client_frame(true, 0x3, b"{}", true),
            1002,
        ),
        (
            "a reserved control opcode",
            client_frame(true, 0xb, b"", true),
            1002,
        ),
        (
            "a ping over 125 bytes",
            client_frame(true, 0x9, &[b'p'; 126], true),
            1002,
        ),
        (
            "a continuation of nothing",
            client_frame(true, 0x0, b"{}", true),
            1002,
        ),
    ];
    for (i, (what, bytes, code)) in cases.into_iter().enumerate() {
        assert_eq!(
            close_code_after(&gw, i as i64, &bytes).await,
            Some(code),
            "{what}"
        );
    }
    wait_for(|| gw.live_connections() == 0).await;
}

#[tokio::test]
async fn a_clients_close_frame_is_echoed() {
    let gw = gateway(Options::default()).await;
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    assert_eq!(
        close_code_after(&gw, 1, &client_frame(true, 0x8, &close, true)).await,
        Some(1000)
    );
    let mut close = 4000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"app");
    assert_eq!(
        close_code_after(&gw, 2, &client_frame(true, 0x8, &close, true)).await,
        Some(4000)
    );
}

// ---------------------------------------------------------------- development endpoints

const MINT: &str = r#"{"user_id":1,"room_id":"R"}"#;

#[tokio::test]
async fn development_endpoints_refuse_what_a_web_page_could_send() {
    let gw = gateway(Options::default()).await;
    let port = gw.addr.port();
    let json = ("Content-Type", "application/json");
    let own = format!("http://127.0.0.1:{port}");
    let evil = format!("evil.example:{port}");
    let evil_origin = format!("http://{evil}");
    for (what, headers, status) in [
        // A page of any origin can POST text/plain without a preflight.
        ("text/plain body", vec![("Content-Type", "text/plain")], 415),
        ("no content type", vec![], 415),
        (
            "form body",
            vec![("Content-Type", "application/x-www-form-urlencoded")],
            415,
        ),
        // CSRF: another site's page.
        ("other origin", vec![json, ("Origin", "http://evil.example")], 403),
        ("opaque origin", vec![json, ("Origin", "null")], 403),
        // DNS rebinding: the page's own name, pointed at 127.0.0.1.
        (
            "rebound host",
            vec![json, ("Host", evil.as_str()), ("Origin", evil_origin.as_str())],
            403,
        ),
        (
            "rebound host, no origin",
            vec![json, ("Host", evil.as_str())],
            403,
        ),
    ] {
        for (method, path) in [
            ("POST", "/_hermes/tokens"),
            ("DELETE", "/_hermes/tokens"),
            ("POST", "/_hermes/notifications"),
        ] {
            let body = if path.ends_with("notifications") {
                r#"{"user_id":1,"room_id":"R","data":{}}"#
            } else {
                MINT
            };
            let (got, answer) = http(&gw, method, path, &headers, body).await;
            assert_eq!(got, status, "{what}: {method} {path}: {answer}");
            assert!(answer.contains("\"error\""), "{what}: {answer}");
        }
    }
    // The gem (no Origin), the demo page (its own origin), localhost by name: all fine.
    for headers in [
        vec![json],
        vec![
            ("Content-Type", "application/json; charset=utf-8"),
            ("Origin", own.as_str()),
        ],
        vec![json, ("Host", "localhost"), ("Origin", "http://localhost:3000")],
    ] {
        let (got, answer) = http(&gw, "POST", "/_hermes/tokens", &headers, MINT).await;
        assert_eq!(got, 200, "{headers:?}: {answer}");
        assert!(answer.contains("\"token\""), "{answer}");
    }
}

/// What a web page that learnt a connection id could send to the management API, and what the
/// send handler's signed client sends.
#[tokio::test]
async fn the_management_api_refuses_what_a_web_page_could_send() {
    let gw = gateway(Options::default()).await;
    let mut ws = open(&gw, &token(&gw, 1, "R").await).await.unwrap();
    let id = connection_id(&gw, "R").await;
    // Ids are standard base64: `/` and `+` as well as `=` must be escaped in the path, as the
    // SDK escapes them.
    let escaped = id
        .replace('%', "%25")
        .replace('/', "%2F")
        .replace('+', "%2B")
        .replace('=', "%3D");
    let path = format!("/development/@connections/{escaped}");
    // The shape every SigV4 client sends; the signature itself is not checked.
    let signed = (
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=hermes-local/20261125/eu-west-1/execute-api/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=00",
    );
    let port = gw.addr.port();
    let evil = format!("evil.example:{port}");
    for (what, headers, method) in [
        // fetch(url, {method: "POST", mode: "no-cors", body}) from any page.
        ("unsigned post", vec![("Content-Type", "text/plain")], "POST"),
        ("unsigned delete", vec![], "DELETE"),
        ("unsigned get", vec![], "GET"),
        ("another scheme", vec![("Authorization", "Bearer abc")], "POST"),
        (
            "a scheme without credential or signature",
            vec![("Authorization", "AWS4-HMAC-SHA256 x")],
            "POST",
        ),
        // Even signed-looking: from another site's page, or to a rebound name.
        (
            "other origin",
            vec![signed, ("Origin", "http://evil.example")],
            "POST",
        ),
        (
            "loopback page of another port",
            vec![("Origin", "http://127.0.0.1:3000")],
            "DELETE",
        ),
        ("rebound host", vec![signed, ("Host", evil.as_str())], "DELETE"),
    ] {
        let (status, answer) = http(&gw, method, &path, &headers, "intruder").await;
        assert_eq!(status, 403, "{what}: {answer}");
        assert!(
            answer.contains("\"message\""),
            "{what}: API Gateway's shape: {answer}"
        );
    }
    // Nothing reached the socket and it is still open: the next frame is the signed post's.
    let (status, answer) = http(&gw, "POST", &path, &[signed], r#"{"from":"the send handler"}"#).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        next_json_within(&mut ws, Duration::from_secs(10)).await,
        serde_json::json!({"from": "the send handler"})
    );
    assert_eq!(gw.live_connections(), 1);
    // And the SDK's own client still posts and closes.
    let pusher = management_client(&gw).await;
    pusher.post(&id, b"{\"sdk\":1}").await.unwrap();
    assert_eq!(
        next_json_within(&mut ws, Duration::from_secs(10)).await,
        serde_json::json!({"sdk": 1})
    );
    pusher.close(&id).await.unwrap();
    wait_for(|| gw.live_connections() == 0).await;
}
