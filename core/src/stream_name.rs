//! Signed stream names. A page may subscribe its socket to a stream only with a name the Rails
//! app signed, in the format of ActiveSupport::MessageVerifier with the SHA256 digest and the
//! JSON serializer, which is what turbo-rails signs `turbo_stream_from` names with:
//!
//! ```text
//! Base64.strict_encode64(JSON.dump(name)) + "--" + HMAC-SHA256(key, that base64).hexdigest
//! ```
//!
//! The key is derived from Hermes's JWT secret, so the app (through the gem, and as Turbo's
//! `signed_stream_verifier_key`) and the send function agree without another secret to share.

use std::fmt;

use aws_lc_rs::hmac;
use base64::Engine;

use crate::config::JwtSecret;

/// The longest stream name, in bytes (DynamoDB keys the subscriptions by it).
pub const MAX_STREAM_NAME_BYTES: usize = 1024;
/// The longest signed name: room for a name of `MAX_STREAM_NAME_BYTES` that JSON need not
/// escape (base64 of it, `--` and 64 hex digits); a name JSON must escape heavily can be
/// refused before it reaches that length.
pub const MAX_SIGNED_NAME_BYTES: usize = 2048;

/// What the derivation of the key from the JWT secret mixes in, so the key signs nothing else.
const KEY_LABEL: &[u8] = b"hermes signed stream names v1";

/// The key signed stream names are made and checked with. Its text is what the app passes to
/// Turbo (`config.turbo.signed_stream_verifier_key`): 64 hex digits.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamKey(String);

impl StreamKey {
    /// HMAC-SHA256 of a fixed label under the JWT secret: a key of its own, which reveals
    /// nothing of the secret.
    pub fn derive(secret: &JwtSecret) -> Self {
        let k = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
        StreamKey(hex::encode(hmac::sign(&k, KEY_LABEL).as_ref()))
    }

    /// The key of development setups: hermes-local on its memory backend, and the gem on its
    /// `local` backend (which talks to hermes-local), agree on it without sharing a secret, and
    /// keep it across restarts. It is public: it must never sign names anything else accepts.
    pub fn development() -> Self {
        let k = hmac::Key::new(hmac::HMAC_SHA256, b"hermes-local development");
        StreamKey(hex::encode(hmac::sign(&k, KEY_LABEL).as_ref()))
    }

    /// A key given as it is (tests, and a key set by hand).
    pub fn from_text(text: impl Into<String>) -> Self {
        StreamKey(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn digest(&self, data: &str) -> hmac::Tag {
        hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, self.0.as_bytes()),
            data.as_bytes(),
        )
    }

    /// The signed form of `name`, byte for byte what MessageVerifier#generate makes of it.
    pub fn sign(&self, name: &str) -> Result<String, StreamNameError> {
        check_name(name)?;
        let json = serde_json::to_string(name).expect("a string always serialises");
        let data = base64::engine::general_purpose::STANDARD.encode(json);
        let digest = hex::encode(self.digest(&data).as_ref());
        let signed = format!("{data}--{digest}");
        if signed.len() > MAX_SIGNED_NAME_BYTES {
            return Err(StreamNameError::TooLong {
                what: "signed stream name",
                bytes: signed.len(),
                limit: MAX_SIGNED_NAME_BYTES,
            });
        }
        Ok(signed)
    }

    /// The name inside `signed`, if this key signed it.
    pub fn verify(&self, signed: &str) -> Result<String, StreamNameError> {
        if signed.is_empty() {
            return Err(StreamNameError::Empty);
        }
        if signed.len() > MAX_SIGNED_NAME_BYTES {
            return Err(StreamNameError::TooLong {
                what: "signed stream name",
                bytes: signed.len(),
                limit: MAX_SIGNED_NAME_BYTES,
            });
        }
        let (data, digest) = match signed.split("--").collect::<Vec<_>>()[..] {
            [data, digest] if !data.is_empty() && !digest.is_empty() => (data, digest),
            _ => return Err(StreamNameError::Malformed),
        };
        let digest = hex::decode(digest).map_err(|_| StreamNameError::Malformed)?;
        hmac::verify(
            &hmac::Key::new(hmac::HMAC_SHA256, self.0.as_bytes()),
            data.as_bytes(),
            &digest,
        )
        .map_err(|_| StreamNameError::BadSignature)?;
        // Signed by this key: what follows is the app's own doing, but still checked.
        let json = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|_| StreamNameError::Malformed)?;
        let name: String = serde_json::from_slice(&json).map_err(|_| StreamNameError::NotAString)?;
        check_name(&name)?;
        Ok(name)
    }
}

/// The stream keys of a rotation: names are signed with the current key and verify under
/// either, so an open page's streams (Turbo's too) survive the change of the JWT secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamKeys {
    current: StreamKey,
    previous: Option<StreamKey>,
}

impl From<StreamKey> for StreamKeys {
    fn from(current: StreamKey) -> Self {
        StreamKeys {
            current,
            previous: None,
        }
    }
}

impl StreamKeys {
    /// The keys derived from the current JWT secret and, during a rotation, the previous one.
    pub fn derive(current: &JwtSecret, previous: Option<&JwtSecret>) -> Self {
        StreamKeys {
            current: StreamKey::derive(current),
            previous: previous.filter(|p| *p != current).map(StreamKey::derive),
        }
    }

    /// The key that signs.
    pub fn current(&self) -> &StreamKey {
        &self.current
    }

    pub fn previous(&self) -> Option<&StreamKey> {
        self.previous.as_ref()
    }

    /// `StreamKey::verify` under the current key, then under the previous one.
    pub fn verify(&self, signed: &str) -> Result<String, StreamNameError> {
        match (self.current.verify(signed), &self.previous) {
            (Err(StreamNameError::BadSignature), Some(previous)) => previous.verify(signed),
            (result, _) => result,
        }
    }
}

impl fmt::Debug for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamKey(<redacted>)")
    }
}

/// A stream name the app may use: not empty, at most `MAX_STREAM_NAME_BYTES`.
pub fn check_name(name: &str) -> Result<(), StreamNameError> {
    if name.is_empty() {
        return Err(StreamNameError::Empty);
    }
    if name.len() > MAX_STREAM_NAME_BYTES {
        return Err(StreamNameError::TooLong {
            what: "stream name",
            bytes: name.len(),
            limit: MAX_STREAM_NAME_BYTES,
        });
    }
    Ok(())
}

/// Why a stream name was refused. The messages never quote the name: a signed name is a
/// credential of sorts, and an unsigned one is the client's to know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamNameError {
    #[error("a stream name must not be empty")]
    Empty,
    #[error("the {what} is {bytes} bytes; at most {limit}")]
    TooLong {
        what: &'static str,
        bytes: usize,
        limit: usize,
    },
    #[error("not a signed stream name (expected the app's <data>--<digest>)")]
    Malformed,
    #[error("the stream name's signature does not match: not signed by this app, or tampered with")]
    BadSignature,
    #[error("the signed value is not a stream name (a JSON string)")]
    NotAString,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StreamKey {
        StreamKey::from_text("k".repeat(64))
    }

    #[test]
    fn signs_and_verifies_like_message_verifier() {
        // ActiveSupport::MessageVerifier.new("k" * 64, digest: "SHA256", serializer: JSON)
        //   .generate("gid://app/Board/1:messages")
        let signed = "ImdpZDovL2FwcC9Cb2FyZC8xOm1lc3NhZ2VzIg==--4f9700cb53c2672bbf4936ca05ccae9fc348518bded6cfaf6b1e80f5675dcd5a";
        assert_eq!(key().sign("gid://app/Board/1:messages").unwrap(), signed);
        assert_eq!(key().verify(signed).unwrap(), "gid://app/Board/1:messages");
    }

    #[test]
    fn forged_tampered_and_foreign_names_are_refused() {
        let signed = key().sign("board_1").unwrap();
        let other = StreamKey::from_text("another key");
        assert_eq!(other.verify(&signed), Err(StreamNameError::BadSignature));
        let (data, digest) = signed.split_once("--").unwrap();
        let forged = base64::engine::general_purpose::STANDARD.encode("\"board_2\"");
        assert_eq!(
            key().verify(&format!("{forged}--{digest}")),
            Err(StreamNameError::BadSignature)
        );
        let mut flipped = digest.to_owned();
        flipped.replace_range(0..1, if digest.starts_with('0') { "1" } else { "0" });
        assert_eq!(
            key().verify(&format!("{data}--{flipped}")),
            Err(StreamNameError::BadSignature)
        );
        for malformed in ["board_1", "--", "a--", "--b", "a--b--c", "abc--zz"] {
            assert_eq!(
                key().verify(malformed),
                Err(StreamNameError::Malformed),
                "{malformed}"
            );
        }
        assert_eq!(key().verify(""), Err(StreamNameError::Empty));
        let long = "a".repeat(MAX_SIGNED_NAME_BYTES + 1);
        assert!(matches!(
            key().verify(&long),
            Err(StreamNameError::TooLong { .. })
        ));
    }

    #[test]
    fn only_strings_of_bounded_length_are_stream_names() {
        let data = base64::engine::general_purpose::STANDARD.encode("{\"a\":1}");
        let digest = hex::encode(key().digest(&data).as_ref());
        assert_eq!(
            key().verify(&format!("{data}--{digest}")),
            Err(StreamNameError::NotAString)
        );
        assert_eq!(key().sign(""), Err(StreamNameError::Empty));
        assert!(matches!(
            key().sign(&"x".repeat(MAX_STREAM_NAME_BYTES + 1)),
            Err(StreamNameError::TooLong { .. })
        ));
        // The longest plain name fits a signed name; one JSON must escape at every character
        // does not, and is refused when it is signed.
        let longest = key().sign(&"x".repeat(MAX_STREAM_NAME_BYTES)).unwrap();
        assert!(longest.len() <= MAX_SIGNED_NAME_BYTES, "{}", longest.len());
        let e = key().sign(&"\u{1}".repeat(MAX_STREAM_NAME_BYTES)).unwrap_err();
        assert!(
            e.to_string().starts_with("the signed stream name is 8262 bytes"),
            "{e}"
        );
    }

    #[test]
    fn names_signed_under_the_previous_secret_verify_until_it_is_removed() {
        let old = JwtSecret::new("o".repeat(40)).unwrap();
        let new = JwtSecret::new("n".repeat(40)).unwrap();
        let before = StreamKeys::derive(&old, None);
        let during = StreamKeys::derive(&new, Some(&old));
        let after = StreamKeys::derive(&new, None);
        let signed_before = before.current().sign("board_1").unwrap();
        let signed_during = during.current().sign("board_1").unwrap();
        assert_eq!(during.verify(&signed_before).unwrap(), "board_1");
        assert_eq!(during.verify(&signed_during).unwrap(), "board_1");
        assert_eq!(after.verify(&signed_during).unwrap(), "board_1");
        assert_eq!(after.verify(&signed_before), Err(StreamNameError::BadSignature));
        // Only a bad signature falls back: a malformed name is refused as it is.
        assert_eq!(during.verify("board_1"), Err(StreamNameError::Malformed));
        assert_eq!(StreamKeys::derive(&new, Some(&new)).previous(), None);
    }

    #[test]
    fn the_derived_key_depends_on_the_secret_and_hides_it() {
        let a = StreamKey::derive(&JwtSecret::new("a".repeat(32)).unwrap());
        let b = StreamKey::derive(&JwtSecret::new("b".repeat(32)).unwrap());
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 64);
        assert!(!a.expose().contains("aaaa"));
        assert_eq!(format!("{a:?}"), "StreamKey(<redacted>)");
    }
}
