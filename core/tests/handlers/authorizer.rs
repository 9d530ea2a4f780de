//! The authorizer: minted tokens allowed with their context, every bad input denied with its
//! reason, the seed's rows, a store outage.

use super::*;

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
            previous: None,
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
