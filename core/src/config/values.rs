//! The values a `Config` holds, each a type that cannot hold a bad one: secrets (never
//! printed), bcrypt's cost, the lifetimes of tokens and of the history.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::ConfigError;
use crate::names::env;

/// A secret value: compared and used, never printed. Any length: it is the passcode mixed into
/// the token's SHA-256 (the seed sets no rule for it, and a team switching one side at a time
/// keeps the seed's). The JWT key is a `JwtSecret`, which holds the 32-byte rule.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The HS512 key: at least `MIN_SECRET_BYTES` bytes. `new` is the only way to build one, and
/// `JwtKeys::new` takes only this, so no key shorter than the rule signs or verifies a token,
/// whether it came from the environment or from code.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSecret(Secret);

impl JwtSecret {
    pub fn new(value: impl Into<String>) -> Result<Self, ShortSecret> {
        let value = value.into();
        if value.len() < MIN_SECRET_BYTES {
            return Err(ShortSecret(value.len()));
        }
        Ok(JwtSecret(Secret(value)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

/// A JWT key shorter than HS512 needs (its length, never its bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be at least {MIN_SECRET_BYTES} bytes for HS512, got {0}")]
pub struct ShortSecret(pub usize);

pub const MIN_SECRET_BYTES: usize = 32;

/// bcrypt's cost factor: 4 to 31, the only values bcrypt defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BcryptCost(u32);

impl BcryptCost {
    pub const DEFAULT: BcryptCost = BcryptCost(10);

    pub fn new(cost: u32) -> Result<Self, ConfigError> {
        if !(4..=31).contains(&cost) {
            return Err(ConfigError::Invalid {
                name: env::BCRYPT_COST,
                reason: format!("must be from 4 to 31, got {cost}"),
            });
        }
        Ok(BcryptCost(cost))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl FromStr for BcryptCost {
    type Err = ConfigError;

    fn from_str(v: &str) -> Result<Self, ConfigError> {
        let cost = v.parse().map_err(|_| ConfigError::Invalid {
            name: env::BCRYPT_COST,
            reason: format!("expected a number from 4 to 31, got {v:?}"),
        })?;
        BcryptCost::new(cost)
    }
}

/// A lifetime in whole seconds, a minute to a year. An upper bound keeps `exp` and
/// DynamoDB's TTL arithmetic far from overflow and refuses a typo that would keep things for
/// years.
fn lifetime(name: &'static str, secs: u64) -> Result<Duration, ConfigError> {
    if !(60..=31_536_000).contains(&secs) {
        return Err(ConfigError::Invalid {
            name,
            reason: format!("must be between 60 and 31536000 seconds, got {secs}"),
        });
    }
    Ok(Duration::from_secs(secs))
}

fn whole_seconds(name: &'static str, v: &str) -> Result<u64, ConfigError> {
    v.parse().map_err(|_| ConfigError::Invalid {
        name,
        reason: format!("expected a whole number of seconds, got {v:?}"),
    })
}

/// How long a minted JWT (and its stored hash) lives: a minute to a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTtl(Duration);

impl TokenTtl {
    pub const DEFAULT: TokenTtl = TokenTtl(Duration::from_secs(3600));

    pub fn from_secs(secs: u64) -> Result<Self, ConfigError> {
        lifetime(env::TOKEN_TTL, secs).map(TokenTtl)
    }

    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }
}

impl FromStr for TokenTtl {
    type Err = ConfigError;

    fn from_str(v: &str) -> Result<Self, ConfigError> {
        TokenTtl::from_secs(whole_seconds(env::TOKEN_TTL, v)?)
    }
}

/// How long a delivered frame stays recoverable (the history items' DynamoDB TTL): a minute
/// to a year. A minute at least: recovery spans a reconnect, and the in-flight check in
/// handlers::recover reads write times back from `expires_at - ttl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryTtl(Duration);

impl HistoryTtl {
    pub const DEFAULT: HistoryTtl = HistoryTtl(Duration::from_secs(crate::names::history::DEFAULT_TTL_SECS));

    pub fn from_secs(secs: u64) -> Result<Self, ConfigError> {
        lifetime(env::HISTORY_TTL, secs).map(HistoryTtl)
    }

    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }
}

impl FromStr for HistoryTtl {
    type Err = ConfigError;

    fn from_str(v: &str) -> Result<Self, ConfigError> {
        HistoryTtl::from_secs(whole_seconds(env::HISTORY_TTL, v)?)
    }
}

/// How long a read of the Secrets Manager secret is used before it is read again: a second to
/// a day. Minutes in production (a rotation is seen within one TTL); seconds in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretTtl(Duration);

impl SecretTtl {
    pub const DEFAULT: SecretTtl = SecretTtl(Duration::from_secs(300));

    pub fn from_secs(secs: u64) -> Result<Self, ConfigError> {
        if !(1..=86_400).contains(&secs) {
            return Err(ConfigError::Invalid {
                name: env::SECRET_TTL,
                reason: format!("must be between 1 and 86400 seconds, got {secs}"),
            });
        }
        Ok(SecretTtl(Duration::from_secs(secs)))
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }
}

impl FromStr for SecretTtl {
    type Err = ConfigError;

    fn from_str(v: &str) -> Result<Self, ConfigError> {
        SecretTtl::from_secs(whole_seconds(env::SECRET_TTL, v)?)
    }
}
