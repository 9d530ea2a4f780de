//! `$connect` and `$disconnect`: the row from the authorizer's context, a socket of nobody.

use super::*;

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
    let jwt = w.minter.mint_streams().await.unwrap();
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
