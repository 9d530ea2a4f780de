//! SigV4 for PostToConnection, with the derived signing key kept.
//!
//! aws-sigv4's `http_request::sign` (what the SDK runs for every call) derives the signing key,
//! four HMAC-SHA256 rounds, on each request (awslabs/aws-sdk-rust#1400). The key changes only
//! with the UTC date, the region, the service and the credentials, so this signer keeps it and
//! calls aws-sigv4's own `generate_signing_key` and `calculate_signature` around a canonical
//! request written for the one request shape it signs: `POST /{stage}/@connections/{id}`,
//! no query, headers `content-type`, `host`, `x-amz-date` (and `x-amz-security-token` with
//! temporary credentials). tests/sigv4.rs checks it against `http_request::sign` and against
//! the SDK client itself: same request, time and key, same `Authorization` header.

use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use sha2::{Digest, Sha256};

use crate::utc::Utc;

pub const SERVICE: &str = "execute-api";
pub const CONTENT_TYPE: &str = "application/octet-stream";

/// What goes on the request besides the body.
pub struct Signature {
    /// `x-amz-date`, e.g. `20261125T101500Z`.
    pub amz_date: String,
    pub authorization: String,
}

struct DerivedKey {
    date: [u8; 8],
    access_key_id: String,
    secret: String,
    key: [u8; 32],
}

/// Signs for one region; the service is the management API's (`execute-api`).
pub struct Signer {
    region: String,
    key: RwLock<Option<Arc<DerivedKey>>>,
}

impl Signer {
    pub fn new(region: impl Into<String>) -> Self {
        Signer {
            region: region.into(),
            key: RwLock::new(None),
        }
    }

    fn key_for(&self, creds: &Credentials, date: [u8; 8], time: SystemTime) -> Arc<DerivedKey> {
        let fits = |k: &DerivedKey| {
            k.date == date
                && k.access_key_id == creds.access_key_id()
                && k.secret == creds.secret_access_key()
        };
        if let Some(k) = self.key.read().unwrap().as_ref().filter(|k| fits(k)) {
            return k.clone();
        }
        let derived = generate_signing_key(creds.secret_access_key(), time, &self.region, SERVICE);
        let mut key = [0u8; 32];
        key.copy_from_slice(derived.as_ref());
        let k = Arc::new(DerivedKey {
            date,
            access_key_id: creds.access_key_id().to_owned(),
            secret: creds.secret_access_key().to_owned(),
            key,
        });
        *self.key.write().unwrap() = Some(k.clone());
        k
    }

    /// `host` is the request's Host (with the port when it is not the scheme's default);
    /// `path` the request path as sent (the connection id already percent-encoded).
    pub fn sign(
        &self,
        creds: &Credentials,
        time: SystemTime,
        host: &str,
        path: &str,
        body: &[u8],
    ) -> Signature {
        let (date, amz_date) = format_time(time);
        let key = self.key_for(creds, date, time);
        let date = std::str::from_utf8(&date).expect("ascii digits");
        let token = creds.session_token();

        // The canonical request goes straight into its hash, piece by piece.
        let mut h = Sha256::new();
        h.update(b"POST\n");
        // The SDK double-encodes paths for this service: the `%` of an encoded id becomes `%25`.
        encode_into(path, true, |s| h.update(s.as_bytes()));
        h.update(b"\n\ncontent-type:");
        h.update(CONTENT_TYPE.as_bytes());
        h.update(b"\nhost:");
        h.update(host.as_bytes());
        h.update(b"\nx-amz-date:");
        h.update(amz_date.as_bytes());
        if let Some(t) = token {
            h.update(b"\nx-amz-security-token:");
            h.update(t.trim().as_bytes());
        }
        h.update(b"\n\n");
        h.update(signed_headers(token.is_some()).as_bytes());
        h.update(b"\n");
        h.update(hex::encode(Sha256::digest(body)).as_bytes());
        let creq_hash = hex::encode(h.finalize());

        let scope_tail = format!("{}/{SERVICE}/aws4_request", self.region);
        let string_to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{date}/{scope_tail}\n{creq_hash}");
        let signature = calculate_signature(key.key, string_to_sign.as_bytes());
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{date}/{scope_tail}, SignedHeaders={}, Signature={signature}",
            creds.access_key_id(),
            signed_headers(token.is_some()),
        );
        Signature {
            amz_date,
            authorization,
        }
    }
}

fn signed_headers(with_token: bool) -> &'static str {
    if with_token {
        "content-type;host;x-amz-date;x-amz-security-token"
    } else {
        "content-type;host;x-amz-date"
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters (and `/` when
/// `keep_slash`), as the SDK encodes a path label (`=` becomes `%3D`) and, for signing,
/// the whole path again.
pub fn encode_into(s: &str, keep_slash: bool, mut out: impl FnMut(&str)) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let plain =
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || (keep_slash && b == b'/');
        if !plain {
            out(&s[start..i]);
            let esc = [b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]];
            out(std::str::from_utf8(&esc).expect("ascii"));
            start = i + 1;
        }
    }
    out(&s[start..]);
}

pub fn encode(s: &str, keep_slash: bool) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    encode_into(s, keep_slash, |p| o.push_str(p));
    o
}

/// (`YYYYMMDD`, `YYYYMMDDTHHMMSSZ`) in UTC.
fn format_time(t: SystemTime) -> ([u8; 8], String) {
    let u = Utc::at(t);
    let day = format!("{:04}{:02}{:02}", u.year, u.month, u.day);
    let stamp = format!("{day}T{:02}{:02}{:02}Z", u.hour, u.minute, u.second);
    let mut date = [0u8; 8];
    date.copy_from_slice(day.as_bytes());
    (date, stamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn dates_are_utc() {
        let t = UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
        let (d, s) = format_time(t);
        assert_eq!(&d, b"20150830");
        assert_eq!(s, "20150830T123600Z");
        let (d, s) = format_time(UNIX_EPOCH + Duration::from_secs(951_782_399)); // leap day
        assert_eq!((&d, s.as_str()), (b"20000228", "20000228T235959Z"));
        let (d, _) = format_time(UNIX_EPOCH + Duration::from_secs(951_782_400));
        assert_eq!(&d, b"20000229");
    }

    #[test]
    fn encodes_like_a_path_label() {
        assert_eq!(encode("ok-L0SM9cOFvHcCIhw=", false), "ok-L0SM9cOFvHcCIhw%3D");
        assert_eq!(encode("a/b+c", false), "a%2Fb%2Bc");
        assert_eq!(
            encode("/dev/@connections/x%3D", true),
            "/dev/%40connections/x%253D"
        );
    }
}
