//! The four handlers on the memory backend, fed with events shaped like API Gateway's and SQS's.

mod common;

use std::sync::Arc;

use common::{config, fixture};
use hermes_core::events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
};
use hermes_core::events::iam::IamPolicyEffect;
use hermes_core::events::sqs::SqsEvent;
use hermes_core::handlers::{connect, disconnect, Authorizer, Decision, DenyReason, SendEvent, Sender};
use hermes_core::push::memory::MemoryPusherFactory;
use hermes_core::push::{MemoryPusher, PushError};
use hermes_core::store::{ConnectionStore, MemoryConnectionStore, MemoryTokenStore, TokenRecord, TokenStore};
use hermes_core::token::{now_secs, Claims, JwtError, JwtKeys};
use hermes_core::{Minter, UserId};
use serde_json::{json, Value};

fn cost4() -> hermes_core::BcryptCost {
    hermes_core::BcryptCost::new(4).unwrap()
}

struct World {
    tokens: Arc<MemoryTokenStore>,
    conns: Arc<MemoryConnectionStore>,
    pusher: Arc<MemoryPusher>,
    minter: Minter,
    authorizer: Authorizer,
    sender: Sender,
}

fn world() -> World {
    let cfg = config(&[]);
    let tokens = Arc::new(MemoryTokenStore::new());
    let conns = Arc::new(MemoryConnectionStore::new());
    let pusher = MemoryPusher::new();
    World {
        minter: Minter::new(&cfg, tokens.clone()).unwrap(),
        authorizer: Authorizer::new(JwtKeys::new(cfg.jwt_secret().unwrap()), tokens.clone()),
        sender: Sender::new(
            conns.clone(),
            Arc::new(MemoryPusherFactory(pusher.clone())),
            Some("https://abcdef1234.execute-api.eu-west-1.amazonaws.com/development".into()),
        ),
        tokens,
        conns,
        pusher,
    }
}

fn auth_event(token: &str) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
    fixture("authorizer-request.json", Some(token))
}

async fn join(w: &World, id: &str, room: &str, user: &str) {
    common::join(&*w.conns, id, room, user).await
}

fn frames(w: &World, id: &str) -> Vec<Value> {
    w.pusher
        .frames(id)
        .iter()
        .map(|f| serde_json::from_slice(f).unwrap())
        .collect()
}

#[tokio::test]
async fn minted_token_is_allowed_with_context() {
    let w = world();
    let jwt = w.minter.generate_token(&UserId::Int(42), "ACME").await.unwrap();
    let resp = w.authorizer.handle(&auth_event(&jwt)).await;
    let v = serde_json::to_value(&resp).unwrap();
    assert_eq!(v["principalId"], "42");
    assert_eq!(v["context"], json!({"user_id": "42", "room_id": "ACME"}));
    let stmt = &v["policyDocument"]["Statement"][0];
    assert_eq!(stmt["Effect"], "Allow");
    assert_eq!(stmt["Action"], json!(["execute-api:Invoke"]));
    assert_eq!(
        stmt["Resource"],
        json!(["arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/development/$connect"])
    );
}

#[tokio::test]
async fn repeat_connect_skips_bcrypt() {
    let w = world();
    let jwt = w.minter.generate_token(&UserId::Int(1), "R").await.unwrap();
    assert_eq!(w.authorizer.verified_pairs(), 0);
    assert!(matches!(
        w.authorizer.decide(Some(&jwt)).await,
        Decision::Allow { .. }
    ));
    assert_eq!(w.authorizer.verified_pairs(), 1);
    assert!(matches!(
        w.authorizer.decide(Some(&jwt)).await,
        Decision::Allow { .. }
    ));
    assert_eq!(w.authorizer.verified_pairs(), 1, "second connect hit the cache");
}

fn deny_reason(d: Decision) -> DenyReason {
    match d {
        Decision::Deny { reason, .. } => reason,
        other => panic!("expected a deny, got {other:?}"),
    }
}

#[tokio::test]
async fn every_bad_input_is_denied_with_its_reason() {
    let w = world();
    let keys = JwtKeys::new(config(&[]).jwt_secret().unwrap());
    let jwt = w.minter.generate_token(&UserId::Int(5), "ACME").await.unwrap();

    assert_eq!(
        deny_reason(w.authorizer.decide(None).await),
        DenyReason::MissingToken
    );
    assert_eq!(
        deny_reason(w.authorizer.decide(Some("")).await),
        DenyReason::MissingToken
    );
    assert_eq!(
        deny_reason(w.authorizer.decide(Some("garbage")).await),
        DenyReason::Jwt(JwtError::Malformed)
    );

    // A JWT for a room the user never got a token for.
    let claims = keys.verify(&jwt).unwrap();
    let other_room = keys
        .issue(&Claims {
            room_id: "OTHER".into(),
            ..claims.clone()
        })
        .unwrap();
    assert_eq!(
        deny_reason(w.authorizer.decide(Some(&other_room)).await),
        DenyReason::NoStoredToken
    );

    // Right row, wrong token claim: bcrypt says no.
    let forged = keys
        .issue(&Claims {
            token: "0".repeat(64),
            ..claims.clone()
        })
        .unwrap();
    assert_eq!(
        deny_reason(w.authorizer.decide(Some(&forged)).await),
        DenyReason::HashMismatch
    );

    // Expired JWT.
    let old = keys
        .issue(&Claims {
            exp: now_secs() - 3600,
            ..claims.clone()
        })
        .unwrap();
    assert_eq!(
        deny_reason(w.authorizer.decide(Some(&old)).await),
        DenyReason::Jwt(JwtError::Expired)
    );

    // Stored row past its expires_at (DynamoDB's TTL sweep had not run yet).
    let mut row = w.tokens.get("5", "ACME").await.unwrap().unwrap();
    row.expires_at = Some(now_secs() - 1);
    w.tokens.put(&row).await.unwrap();
    assert_eq!(
        deny_reason(w.authorizer.decide(Some(&jwt)).await),
        DenyReason::StoredTokenExpired
    );

    // Revoked.
    let jwt = w.minter.generate_token(&UserId::Int(6), "ACME").await.unwrap();
    assert!(w.minter.revoke(&UserId::Int(6), "ACME").await.unwrap());
    assert_eq!(
        deny_reason(w.authorizer.decide(Some(&jwt)).await),
        DenyReason::NoStoredToken
    );

    // The Deny policy is well formed and names no token.
    let resp = serde_json::to_value(w.authorizer.handle(&auth_event("garbage")).await).unwrap();
    assert_eq!(resp["policyDocument"]["Statement"][0]["Effect"], "Deny");
    assert!(!resp.to_string().contains("garbage"));
}

#[tokio::test]
async fn seed_rows_without_expiry_and_integer_ids_are_accepted() {
    let w = world();
    // The seed's Ruby side: bcrypt-ruby `$2a$` hash, no expires_at, JWT without iat.
    let cfg = config(&[]);
    let hex = hermes_core::token::compose(&UserId::Int(77), cfg.passcode().unwrap(), "SEED");
    let hash = hermes_core::token::seal(&hex, cost4());
    w.tokens
        .put(&TokenRecord {
            user_id: "77".into(),
            room_id: "SEED".into(),
            hash,
            expires_at: None,
        })
        .await
        .unwrap();
    let keys = JwtKeys::new(cfg.jwt_secret().unwrap());
    let jwt = keys
        .issue(&Claims {
            user_id: UserId::Int(77),
            room_id: "SEED".into(),
            token: hex,
            exp: now_secs() + 60,
            iat: None,
        })
        .unwrap();
    assert_eq!(
        w.authorizer.decide(Some(&jwt)).await,
        Decision::Allow {
            user_id: "77".into(),
            room_id: "SEED".into()
        }
    );
}

struct FailingTokens;
#[async_trait::async_trait]
impl TokenStore for FailingTokens {
    async fn get(&self, _: &str, _: &str) -> Result<Option<TokenRecord>, hermes_core::store::StoreError> {
        Err(hermes_core::store::StoreError::Backend {
            op: "GetItem",
            table: "hermesTokens".into(),
            message: "connection refused".into(),
        })
    }
    async fn put(&self, _: &TokenRecord) -> Result<(), hermes_core::store::StoreError> {
        unreachable!()
    }
    async fn delete(&self, _: &str, _: &str) -> Result<bool, hermes_core::store::StoreError> {
        unreachable!()
    }
}

#[tokio::test]
async fn store_outage_is_a_deny_not_a_crash() {
    let w = world();
    let jwt = w.minter.generate_token(&UserId::Int(9), "R").await.unwrap();
    let a = Authorizer::new(
        JwtKeys::new(config(&[]).jwt_secret().unwrap()),
        Arc::new(FailingTokens),
    );
    let resp = serde_json::to_value(a.handle(&auth_event(&jwt)).await).unwrap();
    assert_eq!(resp["policyDocument"]["Statement"][0]["Effect"], "Deny");
    assert!(matches!(
        deny_reason(a.decide(Some(&jwt)).await),
        DenyReason::StoreUnavailable(_)
    ));
}

#[tokio::test]
async fn connect_and_disconnect_use_the_authorizer_context() {
    let w = world();
    let ev: ApiGatewayWebsocketProxyRequest = fixture("connect.json", None);
    let r: ApiGatewayProxyResponse = connect(&*w.conns, &ev).await;
    assert_eq!(r.status_code, 200);
    let row = w.conns.get("X1ZbveegDoECFfg=").await.unwrap().unwrap();
    assert_eq!((row.room_id.as_str(), row.user_id.as_str()), ("ACME", "42"));
    assert_eq!(row.connected_at, 1_795_425_302);
    assert_eq!(
        row.expires_at,
        row.connected_at + hermes_core::store::CONNECTION_ROW_TTL_SECS
    );

    let ev: ApiGatewayWebsocketProxyRequest = fixture("disconnect.json", None);
    assert_eq!(disconnect(&*w.conns, None, &ev).await.status_code, 200);
    assert!(w.conns.is_empty());
}

/// A page where nobody is signed in: a token that costs no bcrypt and no write, allowed as
/// `anonymous` with the streams scope, and a row that names no room and no user.
#[tokio::test]
async fn a_socket_of_nobody_connects_with_no_room_and_no_user() {
    let w = world();
    let jwt = w.minter.mint_streams().unwrap();
    assert!(w.tokens.is_empty(), "nothing stored");
    let resp = w.authorizer.handle(&auth_event(&jwt)).await;
    assert_eq!(resp.principal_id.as_deref(), Some("anonymous"));
    assert_eq!(resp.policy_document.statement[0].effect, IamPolicyEffect::Allow);
    assert_eq!(resp.context, json!({"scope": "streams"}));
    let mut v: Value = fixture("connect.json", None);
    v["requestContext"]["authorizer"] = json!({"principalId": "anonymous", "scope": "streams"});
    let ev: ApiGatewayWebsocketProxyRequest = serde_json::from_value(v).unwrap();
    assert_eq!(connect(&*w.conns, &ev).await.status_code, 200);
    let row = w.conns.get("X1ZbveegDoECFfg=").await.unwrap().unwrap();
    assert_eq!((row.room_id.as_str(), row.user_id.as_str()), ("", ""));
    assert!(w.conns.room("").await.unwrap().is_empty(), "in no room");
    // A room token's claims cannot be stripped into one: the scope alone does not allow.
    let mut v: Value = fixture("connect.json", None);
    v["requestContext"]["authorizer"] = json!({"principalId": "anonymous"});
    let ev: ApiGatewayWebsocketProxyRequest = serde_json::from_value(v).unwrap();
    assert_eq!(connect(&*w.conns, &ev).await.status_code, 403);
}

#[tokio::test]
async fn connect_without_authorizer_context_is_refused() {
    let w = world();
    let mut v: Value = fixture("connect.json", None);
    v["requestContext"].as_object_mut().unwrap().remove("authorizer");
    let ev: ApiGatewayWebsocketProxyRequest = serde_json::from_value(v).unwrap();
    assert_eq!(connect(&*w.conns, &ev).await.status_code, 403);
    assert!(w.conns.is_empty());
}

#[tokio::test]
async fn sqs_batch_handles_every_record_and_reports_only_failures() {
    let w = world();
    join(&w, "a1", "ACME", "42").await;
    join(&w, "a2", "ACME", "43").await;
    join(&w, "o1", "OTHER", "7").await;
    let ev: SqsEvent = fixture("sqs-batch.json", None);
    let resp = w.sender.handle_sqs(ev).await;
    let failed: Vec<_> = resp
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        vec!["059f36b4-87a3-44ab-83d2-661622600102"],
        "only the malformed record"
    );

    let a1 = frames(&w, "a1");
    assert_eq!(a1.len(), 1, "record 4 targets user 43 only");
    assert_eq!(
        a1[0],
        json!({"user_id": "42", "data": {"type": "info", "data": "backup done"}, "id": "059f36b4-87a3-44ab-83d2-661622600101"})
    );
    assert_eq!(frames(&w, "a2").len(), 2);
    assert_eq!(frames(&w, "a2")[1]["data"]["type"], "dm");
    assert_eq!(frames(&w, "o1")[0]["data"]["type"], "warn");
}

#[tokio::test]
async fn gone_connections_are_deleted_and_the_rest_delivered() {
    let w = world();
    for i in 0..5 {
        join(&w, &format!("c{i}"), "ACME", &format!("{i}")).await;
    }
    w.pusher.mark_gone("c2");
    let frame = hermes_core::frame::encode_frame("1", &hermes_core::frame::raw(&json!("x")), None);
    let d = w
        .sender
        .deliver("https://e/dev", "ACME", None, &frame)
        .await
        .unwrap();
    assert_eq!((d.delivered, d.gone), (4, 1));
    assert!(w.conns.get("c2").await.unwrap().is_none(), "stale row deleted");
    assert_eq!(w.conns.len(), 4);
}

#[tokio::test]
async fn retryable_failures_fail_the_record_rejections_do_not() {
    let w = world();
    join(&w, "ok", "ACME", "1").await;
    join(&w, "bad", "ACME", "2").await;
    let body = json!({"user_id": 1, "room_id": "ACME", "data": "x"}).to_string();
    let ev = |id: &str| -> SqsEvent {
        serde_json::from_value(
            json!({"Records": [{"messageId": id, "body": body, "eventSource": "aws:sqs"}]}),
        )
        .unwrap()
    };
    w.pusher.fail_with(
        "bad",
        PushError::Rejected {
            status: 403,
            message: "Forbidden".into(),
        },
    );
    assert!(w.sender.handle_sqs(ev("m1")).await.batch_item_failures.is_empty());
    w.pusher
        .fail_with("bad", PushError::Throttled("LimitExceededException".into()));
    let r = w.sender.handle_sqs(ev("m2")).await;
    assert_eq!(r.batch_item_failures[0].item_identifier, "m2");
    assert_eq!(w.pusher.frames("ok").len(), 2, "the healthy connection got both");
}

#[tokio::test]
async fn oversize_payload_fails_its_record_alone() {
    let w = world();
    join(&w, "c", "ACME", "1").await;
    let big = json!({"user_id": 1, "room_id": "ACME", "data": "x".repeat(140_000)}).to_string();
    let small = json!({"user_id": 1, "room_id": "ACME", "data": "y"}).to_string();
    let ev: SqsEvent = serde_json::from_value(json!({"Records": [
        {"messageId": "big", "body": big}, {"messageId": "small", "body": small}
    ]}))
    .unwrap();
    let r = w.sender.handle_sqs(ev).await;
    assert_eq!(r.batch_item_failures.len(), 1);
    assert_eq!(r.batch_item_failures[0].item_identifier, "big");
    assert_eq!(w.pusher.frames("c").len(), 1);
}

#[tokio::test]
async fn sqs_without_endpoint_fails_every_record() {
    let w = world();
    let sender = Sender::new(
        w.conns.clone(),
        Arc::new(MemoryPusherFactory(w.pusher.clone())),
        None,
    );
    let ev: SqsEvent = fixture("sqs-batch.json", None);
    assert_eq!(sender.handle_sqs(ev).await.batch_item_failures.len(), 4);
}

#[tokio::test]
async fn send_route_takes_room_and_user_from_the_row_not_the_client() {
    let w = world();
    join(&w, "X1ZbveegDoECFfg=", "ACME", "42").await;
    join(&w, "peer", "ACME", "43").await;
    join(&w, "spy", "OTHER-ROOM", "999").await;
    let sender = Sender::new(
        w.conns.clone(),
        Arc::new(MemoryPusherFactory(w.pusher.clone())),
        None,
    );
    let ev: Value = fixture("send-message.json", None);
    let out = sender.handle(SendEvent::from_value(ev).unwrap()).await;
    assert_eq!(out["statusCode"], 200);
    let got = frames(&w, "peer");
    assert_eq!(got[0]["user_id"], "42", "sender from the row, not the body's 999");
    assert_eq!(got[0]["data"], json!({"type": "chat", "data": "hello room"}));
    assert!(frames(&w, "spy").is_empty(), "body's room_id is ignored");
    assert_eq!(
        w.pusher.endpoints(),
        vec!["https://abcdef1234.execute-api.eu-west-1.amazonaws.com/development"],
        "endpoint derived from domainName and stage"
    );
}

#[tokio::test]
async fn send_route_from_unknown_connection_is_refused() {
    let w = world();
    join(&w, "peer", "ACME", "43").await;
    let ev: ApiGatewayWebsocketProxyRequest = fixture("send-message.json", None);
    assert_eq!(w.sender.handle_route(&ev).await.status_code, 403);
    assert!(frames(&w, "peer").is_empty());
}

#[tokio::test]
async fn default_route_answers_the_sender_with_an_error_frame() {
    let w = world();
    join(&w, "X1ZbveegDoECFfg=", "ACME", "42").await;
    join(&w, "peer", "ACME", "43").await;
    let ev: ApiGatewayWebsocketProxyRequest = fixture("default-route.json", None);
    assert_eq!(w.sender.handle_route(&ev).await.status_code, 400);
    let err = frames(&w, "X1ZbveegDoECFfg=");
    assert!(err[0]["error"].as_str().unwrap().contains("shout"), "{err:?}");
    assert!(frames(&w, "peer").is_empty());
}

#[tokio::test]
async fn fresh_stored_hash_is_reused_and_revocation_is_seen() {
    let w = world();
    let u = UserId::Str("u1".into());
    let first = w.minter.compose_token(&u, "R").await.unwrap();
    assert!(first.stored);
    let row1 = w.tokens.get("u1", "R").await.unwrap().unwrap();
    let second = w.minter.compose_token(&u, "R").await.unwrap();
    assert!(!second.stored, "no rehash while fresh");
    assert_eq!(w.tokens.get("u1", "R").await.unwrap().unwrap(), row1);
    // Another process revokes: the next mint stores again.
    w.tokens.delete("u1", "R").await.unwrap();
    assert!(w.minter.compose_token(&u, "R").await.unwrap().stored);
    // A row written by someone else (other passcode/hash) is replaced, not trusted.
    let mut foreign = w.tokens.get("u1", "R").await.unwrap().unwrap();
    foreign.hash = hermes_core::token::seal("something-else", cost4());
    w.tokens.put(&foreign).await.unwrap();
    assert!(w.minter.compose_token(&u, "R").await.unwrap().stored);
}

#[tokio::test]
async fn jwt_never_outlives_the_stored_hash() {
    let w = world();
    let keys = JwtKeys::new(config(&[]).jwt_secret().unwrap());
    let jwt = w.minter.generate_token(&UserId::Int(3), "R").await.unwrap();
    let row = w.tokens.get("3", "R").await.unwrap().unwrap();
    assert!(keys.verify(&jwt).unwrap().exp <= row.expires_at.unwrap());
}

#[tokio::test]
async fn empty_ids_are_refused() {
    let w = world();
    let e = w
        .minter
        .generate_token(&UserId::Str(String::new()), "R")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("user_id"), "{e}");
    let e = w.minter.generate_token(&UserId::Int(1), "").await.unwrap_err();
    assert_eq!(e.to_string(), "company_code must not be empty");
    assert!(w.tokens.is_empty());
}

#[tokio::test]
async fn ids_too_long_for_a_websocket_url_are_refused_before_anything_is_stored() {
    use hermes_core::ids::{MAX_ID_BYTES, MAX_TOKEN_CHARS};
    let w = world();
    // The longest plain ids still make a token that fits, and it connects.
    let (user, room) = ("u".repeat(MAX_ID_BYTES), "r".repeat(MAX_ID_BYTES));
    let jwt = w
        .minter
        .generate_token(&UserId::Str(user.clone()), &room)
        .await
        .unwrap();
    assert!(jwt.len() <= MAX_TOKEN_CHARS, "{}", jwt.len());
    assert!(matches!(
        w.authorizer.decide(Some(&jwt)).await,
        Decision::Allow { .. }
    ));
    let stored = w.tokens.len();

    let long = UserId::Str("u".repeat(MAX_ID_BYTES + 1));
    let e = w
        .minter
        .generate_token(&long, "ACME")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("user_id is 1025 bytes; at most 1024"), "{e}");
    let e = w
        .minter
        .generate_token(&UserId::Int(1), &"r".repeat(2000))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(e, "company_code is 2000 bytes; at most 1024");
    // The seed's example: a 1 MB id once minted a 1.3 MB token.
    let huge = UserId::Str("x".repeat(1 << 20));
    assert!(w.minter.compose_token(&huge, "ACME").await.is_err());
    // Within the byte bounds, but JSON escapes each control character to six bytes.
    let escaped = UserId::Str("\u{1}".repeat(MAX_ID_BYTES));
    let e = w
        .minter
        .generate_token(&escaped, "ACME")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("-character token; at most 3584"), "{e}");
    assert_eq!(w.tokens.len(), stored, "nothing was stored for a refused id");
}
