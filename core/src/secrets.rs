//! The keys (JWT secret, passcode) and where they come from: the environment, fixed for the
//! process's life, or a Secrets Manager secret read at run time and cached for `SecretTtl`, so
//! a rotation needs no redeploy.
//!
//! The secret's JSON:
//!
//! ```json
//! {"jwt_secret": "...", "passcode": "...",
//!  "previous": {"jwt_secret": "...", "passcode": "..."}}
//! ```
//!
//! `previous` (either key, or both) is present during a rotation only: tokens, seals and
//! stream names made with it are still accepted, nothing new is made with it. A secret without
//! it is the shape the template resolved before (`jwt_secret`, `passcode`). Other fields are
//! ignored. No error here quotes a value: they name the field.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::{Config, ConfigError, JwtSecret, Secret};
use crate::stream_name::{StreamKey, StreamKeys};
use crate::token::{JwtKeyring, JwtKeys};

/// The keys of one read of the secret (or of the environment).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretSet {
    pub jwt_secret: JwtSecret,
    pub passcode: Secret,
    pub previous_jwt_secret: Option<JwtSecret>,
    pub previous_passcode: Option<Secret>,
}

impl fmt::Debug for SecretSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretSet(<redacted>)")
    }
}

impl SecretSet {
    /// From `HERMES_JWT_SECRET`, `HERMES_PASSCODE` and their `HERMES_PREVIOUS_` forms.
    pub fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        Ok(SecretSet {
            jwt_secret: cfg.jwt_secret()?.clone(),
            passcode: cfg.passcode()?.clone(),
            previous_jwt_secret: cfg.previous_jwt_secret().cloned(),
            previous_passcode: cfg.previous_passcode().cloned(),
        })
    }

    /// The secret's JSON (the module's documentation has its shape).
    pub fn parse(json: &str) -> Result<Self, String> {
        let doc: Value = serde_json::from_str(json).map_err(|_| "is not a JSON object".to_owned())?;
        let Value::Object(doc) = doc else {
            return Err("is not a JSON object".into());
        };
        let previous = match doc.get("previous") {
            None | Some(Value::Null) => None,
            Some(Value::Object(p)) => Some(p),
            Some(_) => return Err("\"previous\" must be an object with jwt_secret and/or passcode".into()),
        };
        let set = SecretSet {
            jwt_secret: jwt_field(&doc, "jwt_secret")?.ok_or("has no \"jwt_secret\"")?,
            passcode: passcode_field(&doc, "passcode")?.ok_or("has no \"passcode\"")?,
            previous_jwt_secret: previous
                .map(|p| jwt_field(p, "jwt_secret"))
                .transpose()
                .map_err(|e| format!("previous: {e}"))?
                .flatten(),
            previous_passcode: previous
                .map(|p| passcode_field(p, "passcode"))
                .transpose()
                .map_err(|e| format!("previous: {e}"))?
                .flatten(),
        };
        if previous.is_some_and(|p| !p.is_empty())
            && set.previous_jwt_secret.is_none()
            && set.previous_passcode.is_none()
        {
            return Err("\"previous\" holds neither jwt_secret nor passcode".into());
        }
        Ok(set)
    }
}

fn text_field<'a>(doc: &'a serde_json::Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(_) => Err(format!("\"{name}\" must be a string")),
    }
}

fn jwt_field(doc: &serde_json::Map<String, Value>, name: &str) -> Result<Option<JwtSecret>, String> {
    text_field(doc, name)?
        .map(|v| JwtSecret::new(v).map_err(|e| format!("\"{name}\" {e}")))
        .transpose()
}

fn passcode_field(doc: &serde_json::Map<String, Value>, name: &str) -> Result<Option<Secret>, String> {
    Ok(text_field(doc, name)?.map(Secret::new))
}

/// What the code uses, derived once per read of the secret: the JWT keyring, the stream
/// keys and the passcodes.
pub struct Keys {
    pub jwt: JwtKeyring,
    pub streams: StreamKeys,
    pub passcode: Secret,
    pub previous_passcode: Option<Secret>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

impl Keys {
    pub fn new(set: &SecretSet) -> Self {
        Keys {
            jwt: JwtKeyring::new(&set.jwt_secret, set.previous_jwt_secret.as_ref()),
            streams: StreamKeys::derive(&set.jwt_secret, set.previous_jwt_secret.as_ref()),
            passcode: set.passcode.clone(),
            previous_passcode: set.previous_passcode.clone().filter(|p| *p != set.passcode),
        }
    }

    /// The key ids, for a log line: which keys a read brought (never the keys).
    pub fn describe(&self) -> String {
        match self.jwt.previous() {
            Some(p) => format!("kid {} (previous kid {})", self.jwt.current().kid(), p.kid()),
            None => format!("kid {}", self.jwt.current().kid()),
        }
    }
}

/// Why the keys could not be had. Names the secret, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret {id} could not be read: {message}")]
    Fetch { id: String, message: String },
    #[error("secret {id} has no SecretString (a binary secret): expected JSON with jwt_secret and passcode")]
    NotText { id: String },
    #[error("secret {id} {reason}")]
    Malformed { id: String, reason: String },
}

/// Where the keys come from; cheap to clone (one cache per process, shared by its clones).
#[derive(Clone)]
pub struct SecretSource(Arc<Inner>);

enum Inner {
    Fixed(Arc<Keys>),
    Manager(Manager),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            Inner::Fixed(_) => f.write_str("SecretSource::Fixed(<redacted>)"),
            Inner::Manager(m) => write!(f, "SecretSource::Manager({})", m.id),
        }
    }
}

struct Manager {
    client: aws_sdk_secretsmanager::Client,
    id: String,
    ttl: Duration,
    /// Held across a read, so a cold process reads the secret once, not once per request.
    cache: tokio::sync::Mutex<Option<Cached>>,
}

struct Cached {
    keys: Arc<Keys>,
    /// When to read again.
    until: Instant,
}

/// After a failed read, how long the keys read before go on being used before the next try:
/// Secrets Manager's outage must not take the stack down, nor be asked again on every request.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

impl SecretSource {
    /// Keys that never change (the environment's, or a test's).
    pub fn fixed(set: &SecretSet) -> Self {
        SecretSource(Arc::new(Inner::Fixed(Arc::new(Keys::new(set)))))
    }

    /// The secret `id` (name or ARN), read on first use and again once `ttl` has passed.
    pub fn secrets_manager(
        client: aws_sdk_secretsmanager::Client,
        id: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        SecretSource(Arc::new(Inner::Manager(Manager {
            client,
            id: id.into(),
            ttl,
            cache: tokio::sync::Mutex::new(None),
        })))
    }

    /// `HERMES_SECRET_ID` when set (read through `sdk`), otherwise the keys in the config.
    pub fn from_config(cfg: &Config, sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        match cfg.secret_id() {
            Some(id) => Ok(Self::secrets_manager(
                aws_sdk_secretsmanager::Client::new(sdk),
                id,
                cfg.secret_ttl().as_duration(),
            )),
            None => Ok(Self::fixed(&SecretSet::from_config(cfg)?)),
        }
    }

    /// `from_config`, with the SDK configured from `cfg` (region, emulator endpoint) when the
    /// secret is read from Secrets Manager.
    pub async fn load(cfg: &Config) -> Result<Self, ConfigError> {
        match cfg.secret_id() {
            Some(_) => Self::from_config(cfg, &crate::aws::sdk_config(cfg).await),
            None => Ok(Self::fixed(&SecretSet::from_config(cfg)?)),
        }
    }

    /// The keys now: the cached read while it is fresh.
    pub async fn get(&self) -> Result<Arc<Keys>, SecretError> {
        match &*self.0 {
            Inner::Fixed(keys) => Ok(keys.clone()),
            Inner::Manager(m) => m.get().await,
        }
    }
}

impl Manager {
    async fn get(&self) -> Result<Arc<Keys>, SecretError> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        if let Some(c) = cache.as_ref().filter(|c| now < c.until) {
            return Ok(c.keys.clone());
        }
        // Boxed: the SDK call's future is deep, and every handler that reads the keys would
        // carry it inline (the Lambda mains' futures then overflow the compiler's query depth).
        match Box::pin(self.read()).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                let changed = cache
                    .as_ref()
                    .is_none_or(|c| c.keys.describe() != keys.describe());
                if changed {
                    tracing::info!(secret = %self.id, keys = %keys.describe(), "read the secret");
                }
                *cache = Some(Cached {
                    keys: keys.clone(),
                    until: now + self.ttl,
                });
                Ok(keys)
            }
            Err(e) => match cache.as_mut() {
                Some(c) => {
                    tracing::warn!(error = %e, "keeping the keys read before");
                    c.until = now + RETRY_AFTER_FAILURE.min(self.ttl);
                    Ok(c.keys.clone())
                }
                None => Err(e),
            },
        }
    }

    async fn read(&self) -> Result<Keys, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.id)
            .send()
            .await
            .map_err(|e| SecretError::Fetch {
                id: self.id.clone(),
                message: crate::aws::describe_sdk_error(&e),
            })?;
        let text = out
            .secret_string()
            .ok_or_else(|| SecretError::NotText { id: self.id.clone() })?;
        let set = SecretSet::parse(text).map_err(|reason| SecretError::Malformed {
            id: self.id.clone(),
            reason,
        })?;
        Ok(Keys::new(&set))
    }
}

/// One part of the keys, as a consumer holds it: fixed (a test's key, hermes-local's
/// development key) or the secret's current read.
#[derive(Clone, Debug)]
pub enum KeysFrom<T> {
    Fixed(Arc<T>),
    Secret(SecretSource),
}

/// The parts of `Keys` a `KeysFrom` can hold.
pub trait KeyPart: Send + Sync + 'static {
    fn of(keys: &Keys) -> &Self;
}

impl KeyPart for JwtKeyring {
    fn of(keys: &Keys) -> &Self {
        &keys.jwt
    }
}

impl KeyPart for StreamKeys {
    fn of(keys: &Keys) -> &Self {
        &keys.streams
    }
}

/// A part of the keys, held while it is used.
pub enum Held<T> {
    Fixed(Arc<T>),
    Read(Arc<Keys>),
}

impl<T: KeyPart> std::ops::Deref for Held<T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            Held::Fixed(t) => t,
            Held::Read(k) => T::of(k),
        }
    }
}

impl<T: KeyPart> KeysFrom<T> {
    pub async fn get(&self) -> Result<Held<T>, SecretError> {
        match self {
            KeysFrom::Fixed(t) => Ok(Held::Fixed(t.clone())),
            KeysFrom::Secret(s) => Ok(Held::Read(s.get().await?)),
        }
    }
}

impl<T> From<SecretSource> for KeysFrom<T> {
    fn from(s: SecretSource) -> Self {
        KeysFrom::Secret(s)
    }
}

impl From<JwtKeys> for KeysFrom<JwtKeyring> {
    fn from(k: JwtKeys) -> Self {
        KeysFrom::Fixed(Arc::new(k.into()))
    }
}

impl From<JwtKeyring> for KeysFrom<JwtKeyring> {
    fn from(k: JwtKeyring) -> Self {
        KeysFrom::Fixed(Arc::new(k))
    }
}

impl From<StreamKey> for KeysFrom<StreamKeys> {
    fn from(k: StreamKey) -> Self {
        KeysFrom::Fixed(Arc::new(k.into()))
    }
}

impl From<StreamKeys> for KeysFrom<StreamKeys> {
    fn from(k: StreamKeys) -> Self {
        KeysFrom::Fixed(Arc::new(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn the_single_key_shape_still_reads() {
        let s = SecretSet::parse(&format!(
            r#"{{"jwt_secret": "{A}", "passcode": "p1", "note": 1}}"#
        ))
        .unwrap();
        assert_eq!((s.jwt_secret.expose(), s.passcode.expose()), (A, "p1"));
        assert!(s.previous_jwt_secret.is_none() && s.previous_passcode.is_none());
        let s = SecretSet::parse(&format!(
            r#"{{"jwt_secret": "{A}", "passcode": "p1", "previous": null}}"#
        ))
        .unwrap();
        assert!(s.previous_jwt_secret.is_none());
    }

    #[test]
    fn previous_keys_are_read_each_on_its_own() {
        let both = format!(
            r#"{{"jwt_secret": "{B}", "passcode": "p2", "previous": {{"jwt_secret": "{A}", "passcode": "p1"}}}}"#
        );
        let s = SecretSet::parse(&both).unwrap();
        assert_eq!(s.previous_jwt_secret.as_ref().map(JwtSecret::expose), Some(A));
        assert_eq!(s.previous_passcode.as_ref().map(Secret::expose), Some("p1"));
        let jwt_only =
            format!(r#"{{"jwt_secret": "{B}", "passcode": "p2", "previous": {{"jwt_secret": "{A}"}}}}"#);
        let s = SecretSet::parse(&jwt_only).unwrap();
        assert!(s.previous_jwt_secret.is_some() && s.previous_passcode.is_none());
        let k = Keys::new(&s);
        assert_eq!(
            k.describe(),
            format!(
                "kid {} (previous kid {})",
                k.jwt.current().kid(),
                k.jwt.previous().unwrap().kid()
            )
        );
    }

    #[test]
    fn bad_secrets_name_the_field_never_the_value() {
        for (json, want) in [
            ("not json".to_owned(), "is not a JSON object"),
            ("[1]".to_owned(), "is not a JSON object"),
            (r#"{"passcode": "p1"}"#.to_owned(), "has no \"jwt_secret\""),
            (format!(r#"{{"jwt_secret": "{A}"}}"#), "has no \"passcode\""),
            (
                r#"{"jwt_secret": "short-key-value", "passcode": "p1"}"#.to_owned(),
                "\"jwt_secret\" must be at least 32 bytes for HS512, got 15",
            ),
            (
                format!(r#"{{"jwt_secret": "{A}", "passcode": 12345}}"#),
                "\"passcode\" must be a string",
            ),
            (
                format!(r#"{{"jwt_secret": "{A}", "passcode": "p1", "previous": "{B}"}}"#),
                "\"previous\" must be an object with jwt_secret and/or passcode",
            ),
            (
                format!(
                    r#"{{"jwt_secret": "{A}", "passcode": "p1", "previous": {{"jwt_secret": "short-old-key"}}}}"#
                ),
                "previous: \"jwt_secret\" must be at least 32 bytes for HS512, got 13",
            ),
            (
                format!(r#"{{"jwt_secret": "{A}", "passcode": "p1", "previous": {{"jwt": "{B}"}}}}"#),
                "\"previous\" holds neither jwt_secret nor passcode",
            ),
        ] {
            let err = SecretSet::parse(&json).unwrap_err();
            assert_eq!(err, want, "{json}");
            for value in [A, B, "short-key-value", "short-old-key", "12345"] {
                assert!(!err.contains(value), "{err}");
            }
        }
    }

    #[test]
    fn the_same_key_as_previous_is_one_key() {
        let set = SecretSet::parse(&format!(
            r#"{{"jwt_secret": "{A}", "passcode": "p1", "previous": {{"jwt_secret": "{A}", "passcode": "p1"}}}}"#
        ))
        .unwrap();
        let k = Keys::new(&set);
        assert!(
            k.jwt.previous().is_none() && k.streams.previous().is_none() && k.previous_passcode.is_none()
        );
        assert_eq!(format!("{k:?} {set:?}"), "Keys(<redacted>) SecretSet(<redacted>)");
    }
}
