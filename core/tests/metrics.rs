//! The metrics the handlers count, read back from the EMF documents made of them: the counts
//! equal a known workload exactly (on memory stores; tests/aws/metrics.rs runs the send
//! workload on DynamoDB and SQS in moto), one document per invocation.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{config, fixture, workload};
use hermes_core::events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayWebsocketProxyRequest,
};
use hermes_core::handlers::{connect_measured, disconnect_measured, Authorizer, SendEvent, Sender};
use hermes_core::metrics::{emf, names, Emf, Function, Metrics};
use hermes_core::push::memory::MemoryPusherFactory;
use hermes_core::push::MemoryPusher;
use hermes_core::queue::MemoryQueue;
use hermes_core::store::{ConnectionStore, MemoryConnectionStore, MemoryHistoryStore, MemoryTokenStore};
use hermes_core::token::{now_secs, Claims, JwtKeys};
use hermes_core::{JwtSecret, Minter, UserId};
use serde_json::{json, Value};

#[tokio::test]
async fn the_send_function_counts_900_delivered_100_gone_and_50_retried_of_1000_sockets() {
    let conns = Arc::new(MemoryConnectionStore::new());
    let run = workload::run(
        conns.clone(),
        Arc::new(MemoryHistoryStore::default()),
        Arc::new(MemoryQueue::new(Duration::from_secs(30))),
        "ROOM",
    )
    .await;
    workload::check(&run);
    // What the figures say happened did: each socket not gone got the frame once, the gone
    // ones' rows are deleted.
    for (i, id) in run.ids.iter().enumerate() {
        let gone = i < workload::GONE;
        assert_eq!(run.pusher.frames(id).len(), usize::from(!gone), "{id}");
        assert_eq!(conns.get(id).await.unwrap().is_none(), gone, "{id}");
    }
}

fn auth_event(token: &str) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
    fixture("authorizer-request.json", Some(token))
}

#[tokio::test]
async fn the_authorizer_counts_each_decision_under_its_reason() {
    let cfg = config(&[]);
    let tokens = Arc::new(MemoryTokenStore::new());
    let minter = Minter::new(&cfg, tokens.clone()).unwrap();
    let keys = JwtKeys::new(cfg.jwt_secret().unwrap());
    let authorizer = Authorizer::new(keys.clone(), tokens.clone());
    let mut jwts: Vec<String> = Vec::new();
    // 5 allowed, and a page of nobody (signed streams only): 6.
    for u in 1..=5 {
        jwts.push(minter.generate_token(&UserId::Int(u), "ACME").await.unwrap());
    }
    let claims = keys.verify(&jwts[0]).unwrap();
    jwts.push(minter.mint_streams().await.unwrap());
    // 2 expired.
    for _ in 0..2 {
        jwts.push(
            keys.issue(&Claims {
                exp: now_secs() - 3600,
                ..claims.clone()
            })
            .unwrap(),
        );
    }
    // 3 signed with another key.
    let other = JwtKeys::new(&JwtSecret::new("another-secret-for-hs512-0123456789-abcdef").unwrap());
    for _ in 0..3 {
        jwts.push(other.issue(&claims).unwrap());
    }
    // 4 with no stored row: revoked (the row deleted).
    for u in 11..=14 {
        let jwt = minter.generate_token(&UserId::Int(u), "ACME").await.unwrap();
        assert!(minter.revoke(&UserId::Int(u), "ACME").await.unwrap());
        jwts.push(jwt);
    }
    // 1 whose stored token is another: the row is there, its hash is not this token's.
    jwts.push(
        keys.issue(&Claims {
            token: "0".repeat(64),
            ..claims.clone()
        })
        .unwrap(),
    );
    // 2 malformed.
    jwts.push("garbage".into());
    jwts.push(String::new());

    let emf = Emf::new("Hermes", "test", Function::Authorizer).unwrap();
    let mut docs = Vec::new();
    for jwt in &jwts {
        let m = Metrics::new();
        m.property("RequestId", format!("req-{}", docs.len()));
        authorizer.handle_measured(&auth_event(jwt), &m).await;
        let line = emf.next_document(&m);
        assert!(
            jwt.is_empty() || !line.contains(jwt.as_str()),
            "no token in the line"
        );
        docs.push(emf::read(&line).unwrap());
    }
    assert_eq!(docs.len(), 18, "one document per invocation");
    let total = |name: &str| docs.iter().map(|d| d.value(name).unwrap()).sum::<f64>();
    for (name, want) in [
        ("Allowed", 6.0),
        ("DeniedExpired", 2.0),
        ("DeniedBadSignature", 3.0),
        ("DeniedNoRow", 4.0),
        ("DeniedRevoked", 1.0),
        ("DeniedMalformed", 2.0),
        ("AuthorizerErrors", 0.0),
        ("ColdStart", 1.0),
    ] {
        assert_eq!(total(name), want, "{name}");
    }
    for (i, d) in docs.iter().enumerate() {
        let decisions: f64 = Function::Authorizer
            .counters()
            .iter()
            .filter(|m| **m != names::COLD_START)
            .map(|m| d.value(m.name).unwrap())
            .sum();
        assert_eq!(decisions, 1.0, "one decision per invocation");
        assert_eq!(d.properties["RequestId"], format!("req-{i}"));
    }
}

fn ws_event(name: &str, connection_id: &str, room: Option<&str>) -> ApiGatewayWebsocketProxyRequest {
    let mut ev: Value = fixture(name, None);
    ev["requestContext"]["connectionId"] = json!(connection_id);
    match room {
        Some(r) => ev["requestContext"]["authorizer"]["room_id"] = json!(r),
        None => ev["requestContext"]["authorizer"] = json!({}),
    }
    serde_json::from_value(ev).unwrap()
}

#[tokio::test]
async fn connect_and_disconnect_count_what_they_did() {
    let conns = MemoryConnectionStore::new();
    let (c, d) = (
        Emf::new("Hermes", "test", Function::Connect).unwrap(),
        Emf::new("Hermes", "test", Function::Disconnect).unwrap(),
    );
    let mut connects = Vec::new();
    for i in 0..3 {
        let m = Metrics::new();
        connect_measured(
            &conns,
            &ws_event("connect.json", &format!("c{i}="), Some("ACME")),
            &m,
        )
        .await;
        connects.push(emf::read(&c.next_document(&m)).unwrap());
    }
    // Without the authorizer's context: refused, counted as an error.
    let m = Metrics::new();
    let r = connect_measured(&conns, &ws_event("connect.json", "x=", None), &m).await;
    assert_eq!(r.status_code, 403);
    connects.push(emf::read(&c.next_document(&m)).unwrap());
    let mut disconnects = Vec::new();
    for i in 0..3 {
        let m = Metrics::new();
        disconnect_measured(
            &conns,
            None,
            &ws_event("disconnect.json", &format!("c{i}="), Some("ACME")),
            &m,
        )
        .await;
        disconnects.push(emf::read(&d.next_document(&m)).unwrap());
    }
    let sum = |docs: &[emf::Read], name: &str| docs.iter().map(|d| d.value(name).unwrap()).sum::<f64>();
    assert_eq!(
        (
            sum(&connects, "Connects"),
            sum(&connects, "ConnectErrors"),
            sum(&connects, "ColdStart")
        ),
        (3.0, 1.0, 1.0)
    );
    assert_eq!(
        (
            sum(&disconnects, "Disconnects"),
            sum(&disconnects, "DisconnectErrors")
        ),
        (3.0, 0.0)
    );
    assert_eq!(conns.get("c0=").await.unwrap(), None);
}

#[tokio::test]
async fn a_send_message_frame_and_a_recovery_are_counted_by_the_route() {
    let conns = Arc::new(MemoryConnectionStore::new());
    for (id, user) in [("a=", "1"), ("b=", "2"), ("gone=", "3")] {
        common::join(&*conns, id, "ACME", user).await;
    }
    let pusher = MemoryPusher::new();
    pusher.mark_gone("gone=");
    let sender = Sender::new(
        conns.clone(),
        Arc::new(MemoryPusherFactory(pusher.clone())),
        Some("https://e/dev".into()),
    )
    .with_history(Arc::new(MemoryHistoryStore::default()), Duration::from_secs(60));
    let route = |id: &str, body: Value| -> SendEvent {
        let mut ev: Value = fixture("send-message.json", None);
        ev["requestContext"]["connectionId"] = json!(id);
        ev["requestContext"]["routeKey"] = json!(body["action"]);
        ev["body"] = json!(body.to_string());
        SendEvent::from_value(ev).unwrap()
    };
    let emf = Emf::new("Hermes", "test", Function::Send).unwrap();
    let m = Metrics::new();
    sender
        .handle_measured(
            route("a=", json!({"action": "sendMessage", "data": "hi"})),
            None,
            &m,
        )
        .await;
    let sent = emf::read(&emf.next_document(&m)).unwrap();
    assert_eq!(
        ["Notifications", "PostsDelivered", "PostsGone"].map(|n| sent.value(n).unwrap()),
        [1.0, 2.0, 1.0]
    );
    assert_eq!(sent.values["FanoutDuration"].len(), 1);
    assert!(
        !sent.values.contains_key("NotificationAge"),
        "a frame from a socket was never queued"
    );
    assert_eq!(sent.properties["ConnectionId"], "a=");
    let epoch = serde_json::from_slice::<Value>(&pusher.frames("b=")[0]).unwrap()["epoch"].clone();
    let m = Metrics::new();
    sender
        .handle_measured(
            route("b=", json!({"action": "recover", "since": 0, "epoch": epoch})),
            None,
            &m,
        )
        .await;
    let recovered = emf::read(&emf.next_document(&m)).unwrap();
    assert_eq!(recovered.value("RecoveriesServed"), Some(1.0));
    assert_eq!(recovered.value("Notifications"), Some(0.0));
}
