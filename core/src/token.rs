//! The token the Rails view mints and the authorizer checks: compose (SHA-256), seal (bcrypt),
//! and the HS512 JWT that carries them. Seed-compatible on the wire.

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::config::{BcryptCost, JwtSecret, Secret};

/// A user id as the seed passes it: an Integer (kept a JSON number in the JWT) or a String.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UserId {
    Int(i64),
    Str(String),
}

impl fmt::Display for UserId {
    /// Ruby's `"#{user_id}"`: an Integer is its decimal digits, a String is itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserId::Int(i) => write!(f, "{i}"),
            UserId::Str(s) => f.write_str(s),
        }
    }
}

impl From<i64> for UserId {
    fn from(v: i64) -> Self {
        UserId::Int(v)
    }
}
impl From<&str> for UserId {
    fn from(v: &str) -> Self {
        UserId::Str(v.to_owned())
    }
}
impl From<String> for UserId {
    fn from(v: String) -> Self {
        UserId::Str(v)
    }
}

impl Serialize for UserId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            UserId::Int(i) => s.serialize_i64(*i),
            UserId::Str(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(UserId::Str(s)),
            serde_json::Value::Number(n) => n.as_i64().map(UserId::Int).ok_or_else(|| {
                serde::de::Error::custom(format!("user_id must be an integer or a string, got {n}"))
            }),
            other => Err(serde::de::Error::custom(format!(
                "user_id must be an integer or a string, got {}",
                json_kind(&other)
            ))),
        }
    }
}

/// `room_id` is a string on our side; a number from an older client is read as its digits.
pub fn de_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string, got {}",
            json_kind(&other)
        ))),
    }
}

pub(crate) fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Lowercase hex SHA-256 of `"#{user_id}#{passcode}#{company_code}"`, as the seed computes it.
pub fn compose(user_id: &UserId, passcode: &Secret, company_code: &str) -> String {
    let mut h = Sha256::new();
    h.update(user_id.to_string().as_bytes());
    h.update(passcode.expose().as_bytes());
    h.update(company_code.as_bytes());
    hex::encode(h.finalize())
}

/// bcrypt of the hex token, written as `$2a$` like Ruby's bcrypt (every seed verifier reads it).
pub fn seal(token: &str, cost: BcryptCost) -> String {
    crate::eksblowfish::hash(token.as_bytes(), cost.get())
}

/// Checks a token against a stored hash (`$2a$`, `$2b$`, `$2y$`); a malformed hash is a mismatch.
pub fn unseal_matches(token: &str, hash: &str) -> bool {
    crate::eksblowfish::verify(token.as_bytes(), hash)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub user_id: UserId,
    #[serde(deserialize_with = "de_string_or_number")]
    pub room_id: String,
    pub token: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// The claims of a token for a socket of nobody (a page where nobody is signed in): no user,
/// no room, no stored hash; such a socket can only subscribe to signed streams.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamsClaims {
    /// Always `STREAMS_SCOPE`.
    pub scope: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

/// The `scope` of a token for a socket of nobody.
pub const STREAMS_SCOPE: &str = "streams";

/// What a verified token grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// A user in a room, once the stored hash matches (the seed's token).
    Room(Claims),
    /// Signed streams only.
    Streams,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("token has expired")]
    Expired,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token algorithm is not HS512")]
    WrongAlgorithm,
    #[error("token is missing claim {0}")]
    MissingClaim(String),
    #[error("token claims are malformed: {0}")]
    BadClaims(String),
    #[error("token is not a JWT")]
    Malformed,
    #[error("could not sign token: {0}")]
    Signing(String),
    /// The header names a key this stack does not hold: signed with a key rotated out (or
    /// by someone else). The id is a digest, never the key.
    #[error("token names a key this stack does not hold (kid {0}): one rotated out (the page needs a new token) or another stack's")]
    UnknownKey(String),
}

/// Seconds of clock skew accepted on `exp` between the Rails host and Lambda.
pub const LEEWAY_SECS: u64 = 10;

/// HS512 keys, built once per process (or per read of the secret): the key schedule is not
/// redone per token.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    kid: String,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtKeys(<redacted>)")
    }
}

impl JwtKeys {
    /// Only from a `JwtSecret`, which cannot be shorter than HS512 needs.
    pub fn new(secret: &JwtSecret) -> Self {
        let mut validation = Validation::new(Algorithm::HS512);
        validation.algorithms = vec![Algorithm::HS512];
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_exp = true;
        validation.validate_aud = false;
        validation.leeway = LEEWAY_SECS;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
            kid: key_id(secret),
        }
    }

    /// The id this key signs under (the JWT header's `kid`): a digest, safe to log.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn issue(&self, claims: &Claims) -> Result<String, JwtError> {
        self.sign(claims)
    }

    /// A token for a socket of nobody, valid until `exp`.
    pub fn issue_streams(&self, exp: u64, iat: u64) -> Result<String, JwtError> {
        self.sign(&StreamsClaims {
            scope: STREAMS_SCOPE.into(),
            exp,
            iat: Some(iat),
        })
    }

    fn sign(&self, claims: &impl Serialize) -> Result<String, JwtError> {
        let mut header = Header::new(Algorithm::HS512);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| JwtError::Signing(e.to_string()))
    }

    /// A room token's claims; a token for a socket of nobody is refused (it has no user).
    pub fn verify(&self, jwt: &str) -> Result<Claims, JwtError> {
        match self.verify_grant(jwt)? {
            Grant::Room(c) => Ok(c),
            Grant::Streams => Err(JwtError::MissingClaim("user_id".into())),
        }
    }

    /// What the token grants: a room token (its claims), or signed streams only (a token whose
    /// `scope` is `streams` and that names no user).
    pub fn verify_grant(&self, jwt: &str) -> Result<Grant, JwtError> {
        let claims: serde_json::Value = self.decode(jwt)?;
        let scope = claims.get("scope").and_then(|s| s.as_str());
        if scope == Some(STREAMS_SCOPE) && claims.get("user_id").is_none() {
            return Ok(Grant::Streams);
        }
        serde_json::from_value::<Claims>(claims)
            .map(Grant::Room)
            .map_err(|e| json_error(&e.to_string()))
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, jwt: &str) -> Result<T, JwtError> {
        jsonwebtoken::decode::<T>(jwt, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(jwt_error)
    }
}

fn jwt_error(e: jsonwebtoken::errors::Error) -> JwtError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.into_kind() {
        K::ExpiredSignature => JwtError::Expired,
        K::InvalidSignature => JwtError::BadSignature,
        K::InvalidAlgorithm | K::InvalidAlgorithmName | K::UnsupportedAlgorithm => JwtError::WrongAlgorithm,
        K::MissingRequiredClaim(c) => JwtError::MissingClaim(c),
        K::InvalidClaimFormat(c) => JwtError::BadClaims(c),
        K::Json(e) => json_error(&e.to_string()),
        _ => JwtError::Malformed,
    }
}

/// What the key id's digest mixes in, so it is a value of its own.
const KID_LABEL: &[u8] = b"hermes jwt key id v1";

/// The `kid` of a key: 16 hex digits of HMAC-SHA256 under the key. It tells keys apart in
/// the header and in logs; being keyed by the secret, it says nothing of it.
pub fn key_id(secret: &JwtSecret) -> String {
    use aws_lc_rs::hmac;
    let k = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    hex::encode(&hmac::sign(&k, KID_LABEL).as_ref()[..8])
}

/// The keys a stack holds during a rotation: the current one signs, and a token verifies
/// under it or under the previous one until that is removed from the secret.
#[derive(Clone, Debug)]
pub struct JwtKeyring {
    current: JwtKeys,
    previous: Option<JwtKeys>,
}

impl From<JwtKeys> for JwtKeyring {
    fn from(current: JwtKeys) -> Self {
        JwtKeyring {
            current,
            previous: None,
        }
    }
}

impl JwtKeyring {
    /// `previous` equal to `current` is the same key once, not a second one.
    pub fn new(current: &JwtSecret, previous: Option<&JwtSecret>) -> Self {
        JwtKeyring {
            current: JwtKeys::new(current),
            previous: previous.filter(|p| *p != current).map(JwtKeys::new),
        }
    }

    /// The key that signs.
    pub fn current(&self) -> &JwtKeys {
        &self.current
    }

    pub fn previous(&self) -> Option<&JwtKeys> {
        self.previous.as_ref()
    }

    /// `JwtKeys::verify_grant` under the key the header names (`kid`); a token without one
    /// (minted before keys had ids) is tried under the current key, then the previous.
    pub fn verify_grant(&self, jwt: &str) -> Result<Grant, JwtError> {
        let header = jsonwebtoken::decode_header(jwt).map_err(jwt_error)?;
        match header.kid.as_deref() {
            Some(kid) => match self.by_kid(kid) {
                Some(keys) => keys.verify_grant(jwt),
                None => Err(JwtError::UnknownKey(printable_kid(kid))),
            },
            None => match (self.current.verify_grant(jwt), &self.previous) {
                (Err(JwtError::BadSignature), Some(previous)) => previous.verify_grant(jwt),
                (result, _) => result,
            },
        }
    }

    /// A room token's claims (`JwtKeys::verify` under the key the token names).
    pub fn verify(&self, jwt: &str) -> Result<Claims, JwtError> {
        match self.verify_grant(jwt)? {
            Grant::Room(c) => Ok(c),
            Grant::Streams => Err(JwtError::MissingClaim("user_id".into())),
        }
    }

    fn by_kid(&self, kid: &str) -> Option<&JwtKeys> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.kid == kid)
    }
}

/// A `kid` from a token's header, fit for a log line: ours are 16 hex digits, anything else
/// (a forged header can hold any text) is not repeated.
fn printable_kid(kid: &str) -> String {
    if kid.len() <= 32 && kid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        kid.to_owned()
    } else {
        "not one of ours".to_owned()
    }
}

/// serde's words for claims it could not read: a missing field is named before the spec-claim
/// check can name it, and the header's `alg` enum is the only enum parsed (`none` lands here).
fn json_error(msg: &str) -> JwtError {
    match msg
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        Some(field) => JwtError::MissingClaim(field.to_owned()),
        None if msg.starts_with("unknown variant") => JwtError::WrongAlgorithm,
        None => JwtError::BadClaims(msg.to_owned()),
    }
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> JwtSecret {
        JwtSecret::new("an-hs512-secret-that-is-long-enough-0123456789").unwrap()
    }

    #[test]
    fn a_short_key_cannot_be_built() {
        let err = JwtSecret::new("x".repeat(31)).unwrap_err();
        assert_eq!(err.to_string(), "must be at least 32 bytes for HS512, got 31");
        assert!(JwtSecret::new("x".repeat(32)).is_ok());
        assert_eq!(
            format!("{:?}", JwtSecret::new("y".repeat(40)).unwrap()),
            "JwtSecret(<redacted>)"
        );
    }

    #[test]
    fn compose_matches_ruby_interpolation() {
        let p = Secret::new("passcode");
        // Digest::SHA256.hexdigest("42passcodeACME")
        assert_eq!(
            compose(&UserId::Int(42), &p, "ACME"),
            compose(&UserId::Str("42".into()), &p, "ACME")
        );
        assert_eq!(compose(&UserId::Int(-7), &p, "x"), compose(&"-7".into(), &p, "x"));
        assert_eq!(compose(&UserId::Int(42), &p, "ACME").len(), 64);
    }

    #[test]
    fn seal_writes_2a_and_verifies_other_prefixes() {
        let h = seal("abc", BcryptCost::new(4).unwrap());
        assert!(h.starts_with("$2a$04$"), "{h}");
        assert!(unseal_matches("abc", &h));
        assert!(!unseal_matches("abd", &h));
        let b = h.replacen("$2a$", "$2b$", 1);
        assert!(unseal_matches("abc", &b));
        assert!(!unseal_matches("abc", "not-a-hash"));
    }

    #[test]
    fn jwt_round_trip_keeps_user_id_type() {
        let k = JwtKeys::new(&secret());
        for uid in [UserId::Int(42), UserId::Str("u-42".into())] {
            let c = Claims {
                user_id: uid.clone(),
                room_id: "ACME".into(),
                token: "t".into(),
                exp: now_secs() + 60,
                iat: Some(now_secs()),
            };
            let jwt = k.issue(&c).unwrap();
            assert_eq!(k.verify(&jwt).unwrap(), c);
        }
    }

    #[test]
    fn jwt_rejections() {
        let k = JwtKeys::new(&secret());
        let c = Claims {
            user_id: 1.into(),
            room_id: "r".into(),
            token: "t".into(),
            exp: now_secs() - LEEWAY_SECS - 5,
            iat: None,
        };
        assert_eq!(k.verify(&k.issue(&c).unwrap()), Err(JwtError::Expired));
        let other = JwtKeys::new(&JwtSecret::new("another-hs512-secret-that-is-long-enough-xx").unwrap());
        let fresh = Claims {
            exp: now_secs() + 60,
            ..c.clone()
        };
        assert_eq!(
            k.verify(&other.issue(&fresh).unwrap()),
            Err(JwtError::BadSignature)
        );
        assert_eq!(k.verify("not.a.jwt"), Err(JwtError::Malformed));
        // HS256 with the same secret: the algorithm is pinned.
        let hs256 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &fresh,
            &EncodingKey::from_secret(secret().expose().as_bytes()),
        )
        .unwrap();
        assert_eq!(k.verify(&hs256), Err(JwtError::WrongAlgorithm));
        // No exp at all.
        let no_exp = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &serde_json::json!({"user_id": 1, "room_id": "r", "token": "t"}),
            &EncodingKey::from_secret(secret().expose().as_bytes()),
        )
        .unwrap();
        assert_eq!(k.verify(&no_exp), Err(JwtError::MissingClaim("exp".into())));
    }

    #[test]
    fn a_streams_token_grants_streams_only() {
        let k = JwtKeys::new(&secret());
        let jwt = k.issue_streams(now_secs() + 60, now_secs()).unwrap();
        assert_eq!(k.verify_grant(&jwt), Ok(Grant::Streams));
        assert_eq!(k.verify(&jwt), Err(JwtError::MissingClaim("user_id".into())));
        let late = k
            .issue_streams(now_secs() - LEEWAY_SECS - 5, now_secs() - 100)
            .unwrap();
        assert_eq!(k.verify_grant(&late), Err(JwtError::Expired));
        // A room token that also says `scope` stays a room token: its user must still match a row.
        let both = k
            .sign(&serde_json::json!({"user_id": 1, "room_id": "r", "token": "t", "scope": "streams", "exp": now_secs() + 60}))
            .unwrap();
        assert!(matches!(k.verify_grant(&both), Ok(Grant::Room(_))));
        let other = k
            .sign(&serde_json::json!({"scope": "everything", "exp": now_secs() + 60}))
            .unwrap();
        assert_eq!(
            k.verify_grant(&other),
            Err(JwtError::MissingClaim("user_id".into()))
        );
    }

    fn claims(exp: u64) -> Claims {
        Claims {
            user_id: 7.into(),
            room_id: "ACME".into(),
            token: "t".into(),
            exp,
            iat: None,
        }
    }

    #[test]
    fn the_key_id_is_short_stable_and_not_the_key() {
        let k = JwtKeys::new(&secret());
        assert_eq!(k.kid(), key_id(&secret()));
        assert_eq!(k.kid().len(), 16);
        assert!(k.kid().bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!secret().expose().contains(k.kid()));
        let other = JwtSecret::new("another-hs512-secret-that-is-long-enough-xx").unwrap();
        assert_ne!(key_id(&other), k.kid());
        let jwt = k.issue(&claims(now_secs() + 60)).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.kid.as_deref(), Some(k.kid()));
        assert_eq!(header.alg, Algorithm::HS512);
    }

    #[test]
    fn a_keyring_picks_the_key_the_token_names() {
        let old = secret();
        let new = JwtSecret::new("the-new-hs512-secret-that-is-long-enough-0123").unwrap();
        let (old_keys, new_keys) = (JwtKeys::new(&old), JwtKeys::new(&new));
        let during = JwtKeyring::new(&new, Some(&old));
        let after = JwtKeyring::new(&new, None);
        assert_eq!(during.current().kid(), new_keys.kid());
        let c = claims(now_secs() + 60);
        let before_rotation = old_keys.issue(&c).unwrap();
        let after_rotation = during.current().issue(&c).unwrap();
        assert_eq!(during.verify(&before_rotation), Ok(c.clone()));
        assert_eq!(during.verify(&after_rotation), Ok(c.clone()));
        assert_eq!(after.verify(&after_rotation), Ok(c.clone()));
        assert_eq!(
            after.verify(&before_rotation),
            Err(JwtError::UnknownKey(old_keys.kid().to_owned()))
        );
        assert!(JwtError::UnknownKey(old_keys.kid().into())
            .to_string()
            .contains("rotated out"));
        // Streams tokens too.
        let streams = old_keys.issue_streams(now_secs() + 60, now_secs()).unwrap();
        assert_eq!(during.verify_grant(&streams), Ok(Grant::Streams));
    }

    #[test]
    fn a_token_without_kid_tries_current_then_previous() {
        let old = secret();
        let new = JwtSecret::new("the-new-hs512-secret-that-is-long-enough-0123").unwrap();
        let seed_style = |key: &JwtSecret| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS512),
                &claims(now_secs() + 60),
                &EncodingKey::from_secret(key.expose().as_bytes()),
            )
            .unwrap()
        };
        let during = JwtKeyring::new(&new, Some(&old));
        assert!(during.verify(&seed_style(&old)).is_ok());
        assert!(during.verify(&seed_style(&new)).is_ok());
        assert_eq!(
            JwtKeyring::new(&new, None).verify(&seed_style(&old)),
            Err(JwtError::BadSignature)
        );
        // An expired token is refused as expired, not retried under the other key.
        let late = JwtKeys::new(&new)
            .issue(&claims(now_secs() - LEEWAY_SECS - 5))
            .unwrap();
        assert_eq!(during.verify(&late), Err(JwtError::Expired));
    }

    #[test]
    fn a_forged_kid_is_not_repeated_and_gets_no_key() {
        let ring = JwtKeyring::from(JwtKeys::new(&secret()));
        let mut header = Header::new(Algorithm::HS512);
        header.kid = Some("<script>".repeat(100));
        let jwt = jsonwebtoken::encode(
            &header,
            &claims(now_secs() + 60),
            &EncodingKey::from_secret(secret().expose().as_bytes()),
        )
        .unwrap();
        assert_eq!(
            ring.verify(&jwt),
            Err(JwtError::UnknownKey("not one of ours".into()))
        );
        assert_eq!(ring.verify("not.a.jwt"), Err(JwtError::Malformed));
    }

    #[test]
    fn expiry_leeway_is_small() {
        let k = JwtKeys::new(&secret());
        let c = Claims {
            user_id: 1.into(),
            room_id: "r".into(),
            token: "t".into(),
            exp: now_secs() - 2,
            iat: None,
        };
        assert!(k.verify(&k.issue(&c).unwrap()).is_ok(), "within leeway");
    }

    #[test]
    fn user_id_rejects_floats_and_objects() {
        assert!(serde_json::from_str::<UserId>("1.5").is_err());
        assert!(serde_json::from_str::<UserId>("{}").is_err());
        assert_eq!(serde_json::from_str::<UserId>("7").unwrap(), UserId::Int(7));
    }
}
