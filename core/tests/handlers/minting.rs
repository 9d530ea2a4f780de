//! The minter: a fresh stored hash reused, revocation seen, expiry, ids refused.

use super::*;

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
