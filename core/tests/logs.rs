//! What the handlers log: a reason for every Deny, and never the token, the JWT or a secret.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{config, fixture, PASSCODE, SECRET};
use hermes_core::events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use hermes_core::handlers::Authorizer;
use hermes_core::store::{MemoryTokenStore, TokenStore};
use hermes_core::token::{JwtKeys, UserId};
use hermes_core::Minter;

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn denies_are_logged_with_reasons_and_no_secrets() {
    let buf = Buf::default();
    let b2 = buf.clone();
    let sub = tracing_subscriber::fmt()
        .json()
        .with_writer(move || b2.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(sub);

    let cfg = config(&[]);
    let tokens = Arc::new(MemoryTokenStore::new());
    let minter = Minter::new(&cfg, tokens.clone()).unwrap();
    let a = Authorizer::new(JwtKeys::new(cfg.jwt_secret().unwrap()), tokens.clone());
    let jwt = minter.generate_token(&UserId::Int(42), "ACME").await.unwrap();
    let hex = hermes_core::token::compose(&UserId::Int(42), cfg.passcode().unwrap(), "ACME");
    let hash = tokens.get("42", "ACME").await.unwrap().unwrap().hash;

    let ev = |t: &str| -> ApiGatewayCustomAuthorizerRequestTypeRequest {
        fixture("authorizer-request.json", Some(t))
    };
    a.handle(&ev(&jwt)).await; // allow
    let other =
        JwtKeys::new(&hermes_core::JwtSecret::new("some-other-secret-of-sufficient-length-0123").unwrap());
    let forged = other
        .issue(&JwtKeys::new(cfg.jwt_secret().unwrap()).verify(&jwt).unwrap())
        .unwrap();
    a.handle(&ev(&forged)).await; // a key this stack does not hold
    a.handle(&ev("")).await; // missing
    minter.revoke(&UserId::Int(42), "ACME").await.unwrap();
    a.handle(&ev(&jwt)).await; // no stored token

    let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].contains("allow"));
    assert!(
        lines[1].contains(&format!(
            "JWT rejected: token names a key this stack does not hold (kid {})",
            other.kid()
        )),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains("no token in the query string"), "{}", lines[2]);
    assert!(lines[3].contains("no stored token"), "{}", lines[3]);
    for secret in [jwt.as_str(), hex.as_str(), hash.as_str(), SECRET, PASSCODE] {
        assert!(!out.contains(secret), "log leaks a secret: {out}");
    }
    // The JWT's signature part alone must not appear either.
    assert!(!out.contains(jwt.rsplit('.').next().unwrap()));
}
