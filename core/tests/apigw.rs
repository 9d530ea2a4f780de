//! The real management API client (aws-sdk-apigatewaymanagement) against a loopback server
//! that answers as API Gateway does: 200, 410 GoneException, 429 LimitExceededException, 5xx.
//! moto's version of this API cannot (it always answers 200).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::config;
use hermes_core::handlers::Sender;
use hermes_core::push::{ApiGwPusherFactory, PushError, PusherFactory};
use hermes_core::store::{Connection, ConnectionStore, MemoryConnectionStore};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Default)]
struct Seen {
    /// (method, path) in arrival order.
    requests: Vec<(String, String)>,
    bodies: Vec<Vec<u8>>,
    attempts: HashMap<String, usize>,
}

/// Behaviour is chosen by the connection id's prefix.
fn answer(id: &str, attempt: usize) -> (u16, &'static str) {
    match id {
        _ if id.starts_with("gone") => (410, "GoneException"),
        _ if id.starts_with("flaky") && attempt < 3 => (429, "LimitExceededException"),
        _ if id.starts_with("throttled") => (429, "LimitExceededException"),
        _ if id.starts_with("down") => (503, "ServiceUnavailableException"),
        _ if id.starts_with("forbidden") => (403, "ForbiddenException"),
        _ => (200, ""),
    }
}

async fn fake_api_gateway() -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let s = s.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::new(r);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let (method, path) = (
                        parts.next().unwrap_or("").to_owned(),
                        parts.next().unwrap_or("").to_owned(),
                    );
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).await.unwrap();
                        if h == "\r\n" || h.is_empty() {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).await.unwrap();
                    let id = path.rsplit('/').next().unwrap_or("").to_owned();
                    let (status, kind) = {
                        let mut g = s.lock().unwrap();
                        g.requests.push((method, path.clone()));
                        g.bodies.push(body);
                        let n = g.attempts.entry(id.clone()).or_default();
                        *n += 1;
                        answer(&id, *n)
                    };
                    let body = if status == 200 {
                        String::new()
                    } else {
                        json!({"message": null}).to_string()
                    };
                    let mut resp = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\ncontent-type: application/json\r\n",
                        body.len()
                    );
                    if !kind.is_empty() {
                        resp.push_str(&format!("x-amzn-ErrorType: {kind}\r\n"));
                    }
                    resp.push_str("\r\n");
                    resp.push_str(&body);
                    if w.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}/development"), seen)
}

async fn factory(endpoint: &str) -> ApiGwPusherFactory {
    // Fixed credentials come with an endpoint override; the management endpoint itself is
    // the per-call override.
    let cfg = config(&[("HERMES_AWS_ENDPOINT_URL", endpoint)]);
    ApiGwPusherFactory::new(hermes_core::aws::sdk_config(&cfg).await)
}

#[tokio::test]
async fn posts_to_the_stage_path_with_the_id_percent_encoded() {
    let (ep, seen) = fake_api_gateway().await;
    let p = factory(&ep).await.for_endpoint(&ep);
    p.post("ok-L0SM9cOFvHcCIhw=", b"{\"a\":1}").await.unwrap();
    let g = seen.lock().unwrap();
    assert_eq!(
        g.requests,
        vec![(
            "POST".to_owned(),
            "/development/@connections/ok-L0SM9cOFvHcCIhw%3D".to_owned()
        )]
    );
    assert_eq!(g.bodies[0], b"{\"a\":1}");
}

#[tokio::test]
async fn status_codes_map_like_api_gateway() {
    let (ep, seen) = fake_api_gateway().await;
    let p = factory(&ep).await.for_endpoint(&ep);
    assert_eq!(p.post("gone-1", b"x").await, Err(PushError::Gone));
    assert!(p.post("flaky-1", b"x").await.is_ok(), "two 429s, then 200");
    assert!(matches!(
        p.post("throttled-1", b"x").await,
        Err(PushError::Throttled(_))
    ));
    assert!(matches!(
        p.post("down-1", b"x").await,
        Err(PushError::Unavailable(_))
    ));
    assert!(matches!(
        p.post("forbidden-1", b"x").await,
        Err(PushError::Rejected { status: 403, .. })
    ));
    let g = seen.lock().unwrap();
    let tries = |id: &str| g.attempts[id];
    assert_eq!(tries("gone-1"), 1, "410 is final");
    assert_eq!(tries("flaky-1"), 3, "retried with backoff until it passed");
    assert_eq!(tries("throttled-1"), hermes_core::aws::MAX_ATTEMPTS as usize);
    assert_eq!(
        tries("down-1"),
        hermes_core::aws::MAX_ATTEMPTS as usize,
        "5xx retried too"
    );
    assert_eq!(tries("forbidden-1"), 1, "other 4xx not retried");
}

#[tokio::test]
async fn close_uses_delete_connection() {
    let (ep, seen) = fake_api_gateway().await;
    let p = factory(&ep).await.for_endpoint(&ep);
    p.close("ok-2").await.unwrap();
    assert_eq!(
        seen.lock().unwrap().requests[0],
        ("DELETE".into(), "/development/@connections/ok-2".into())
    );
    // One attempt: closes go through the fan-out, which retries them at its own pace.
    assert!(matches!(
        p.close("throttled-2").await,
        Err(PushError::Throttled(_))
    ));
    assert_eq!(p.close("gone-2").await, Err(PushError::Gone));
    assert_eq!(seen.lock().unwrap().attempts["throttled-2"], 1);
}

#[tokio::test]
async fn fan_out_over_the_real_client_deletes_gone_rows_and_spares_the_rest() {
    let (ep, seen) = fake_api_gateway().await;
    let conns = Arc::new(MemoryConnectionStore::new());
    for id in ["ok-a", "ok-b", "gone-c", "flaky-d", "forbidden-e"] {
        conns
            .put(&Connection {
                connection_id: id.into(),
                room_id: "R".into(),
                user_id: "1".into(),
                connected_at: 1,
                expires_at: 2,
                streams: Vec::new(),
            })
            .await
            .unwrap();
    }
    let sender = Sender::new(conns.clone(), Arc::new(factory(&ep).await), Some(ep.clone()));
    let frame =
        hermes_core::frame::encode_frame("1", &hermes_core::frame::raw(&json!({"type": "t"})), Some("m"));
    let d = sender.deliver(&ep, "R", None, &frame).await.unwrap();
    assert_eq!(
        (d.delivered, d.gone, d.rejected, d.retryable_failures),
        (3, 1, 1, 0)
    );
    assert!(conns.get("gone-c").await.unwrap().is_none());
    assert!(
        conns.get("forbidden-e").await.unwrap().is_some(),
        "only 410 deletes"
    );
    assert_eq!(conns.len(), 4);
    assert!(seen.lock().unwrap().bodies.iter().all(|b| b == &frame));
}
