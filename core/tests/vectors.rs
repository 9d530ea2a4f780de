//! The shared token vectors (core/tests/vectors/tokens.json, written by the seed's Ruby
//! libraries): the gem's specs read the same file.

use hermes_core::config::{JwtSecret, Secret};
use hermes_core::token::{compose, unseal_matches, JwtError, JwtKeys, UserId};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/tokens.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn compose_matches_ruby_digest() {
    let v = vectors();
    let cases = v["compose"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for c in cases {
        let uid: UserId = serde_json::from_value(c["user_id"].clone()).unwrap();
        let got = compose(
            &uid,
            &Secret::new(c["passcode"].as_str().unwrap()),
            c["company_code"].as_str().unwrap(),
        );
        assert_eq!(got, c["hex"].as_str().unwrap(), "{c}");
    }
}

#[test]
fn jwt_cases_from_ruby_jwt() {
    let v = vectors();
    let keys = JwtKeys::new(&JwtSecret::new(v["secret"].as_str().unwrap()).unwrap());
    for c in v["jwt"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let got = keys.verify(c["jwt"].as_str().unwrap());
        if c["accept"].as_bool().unwrap() {
            let claims = got.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(claims.room_id, "ACME", "{name}");
        } else {
            let err = got.expect_err(name);
            let want = c["error"].as_str().unwrap();
            let ok = match want {
                "expired" => err == JwtError::Expired,
                "signature" => err == JwtError::BadSignature,
                "algorithm" => err == JwtError::WrongAlgorithm,
                "exp" => err == JwtError::MissingClaim("exp".into()),
                "malformed" => err == JwtError::Malformed,
                other => panic!("unknown expectation {other}"),
            };
            assert!(ok, "{name}: expected {want}, got {err:?}");
        }
    }
}

#[test]
fn seed_jwt_keeps_integer_user_id() {
    let v = vectors();
    let keys = JwtKeys::new(&JwtSecret::new(v["secret"].as_str().unwrap()).unwrap());
    let claims = keys.verify(v["jwt"][0]["jwt"].as_str().unwrap()).unwrap();
    assert_eq!(claims.user_id, UserId::Int(42));
    assert_eq!(claims.iat, None);
}

#[test]
fn ruby_bcrypt_hashes_verify() {
    for c in vectors()["bcrypt"].as_array().unwrap() {
        let (t, h) = (c["token"].as_str().unwrap(), c["hash"].as_str().unwrap());
        assert!(h.starts_with("$2a$"), "bcrypt-ruby writes $2a$");
        assert!(unseal_matches(t, h));
        assert!(!unseal_matches(&t.replace('a', "b"), h));
    }
}

/// Signed stream names made by ActiveSupport::MessageVerifier as turbo-rails configures it
/// (core/tests/vectors/streams.json, written by generate_streams.rb).
#[test]
fn stream_names_sign_and_verify_as_message_verifier_does() {
    use hermes_core::stream_name::StreamKey;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/streams.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let key = StreamKey::from_text(v["key"].as_str().unwrap());
    let signed = v["signed"].as_array().unwrap();
    assert!(signed.len() >= 5);
    for c in signed {
        let (name, made) = (c["name"].as_str().unwrap(), c["signed"].as_str().unwrap());
        assert_eq!(key.sign(name).unwrap(), made, "{name:?}");
        assert_eq!(key.verify(made).unwrap(), name);
    }
    for c in v["refused"].as_array().unwrap() {
        assert!(
            key.verify(c["signed"].as_str().unwrap()).is_err(),
            "accepted: {}",
            c["why"]
        );
    }
}
