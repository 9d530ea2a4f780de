//! One `Config` for the gem, the Lambdas and the local gateway, read from the names in `names::env`.
//!
//! Every value is checked once, when the `Config` is built, into a type that cannot hold a bad
//! one (`BcryptCost`, `TokenTtl`, `Backend`, a secret of at least 32 bytes); the fields are
//! private, so nothing downstream can put an unchecked value back.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Aws,
    Memory,
    /// Gem only: mint and enqueue through a running `hermes-local`.
    Local,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Aws => "aws",
            Backend::Memory => "memory",
            Backend::Local => "local",
        }
    }
}

impl FromStr for Backend {
    type Err = ConfigError;

    fn from_str(v: &str) -> Result<Self, ConfigError> {
        match v.to_ascii_lowercase().as_str() {
            "aws" => Ok(Backend::Aws),
            "memory" => Ok(Backend::Memory),
            "local" => Ok(Backend::Local),
            other => Err(ConfigError::Invalid {
                name: env::BACKEND,
                reason: format!("expected aws, memory or local, got {other:?}"),
            }),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

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

#[derive(Debug, Clone)]
pub struct Config {
    jwt_secret: Option<JwtSecret>,
    passcode: Option<Secret>,
    tokens_table: String,
    connections_table: String,
    history_table: String,
    history_ttl: HistoryTtl,
    subscriptions_table: String,
    stream_history_table: String,
    queue_url: Option<String>,
    token_ttl: TokenTtl,
    bcrypt_cost: BcryptCost,
    websocket_endpoint: Option<String>,
    aws_endpoint_url: Option<String>,
    backend: Backend,
    local_url: String,
    region: String,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads from any name → value lookup (the gem passes its own overrides through this).
    /// Empty values count as unset, as they do in most deploy tools' env files. The names are
    /// exactly `names::env::SETTINGS` (a test holds the two together).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Ok(Config {
            jwt_secret: get(env::JWT_SECRET).map(jwt_secret).transpose()?,
            passcode: get(env::PASSCODE).map(Secret),
            tokens_table: get(env::TOKENS_TABLE)
                .unwrap_or_else(|| crate::names::tokens::DEFAULT_TABLE.into()),
            connections_table: get(env::CONNECTIONS_TABLE)
                .unwrap_or_else(|| crate::names::connections::DEFAULT_TABLE.into()),
            history_table: get(env::HISTORY_TABLE)
                .unwrap_or_else(|| crate::names::history::DEFAULT_TABLE.into()),
            history_ttl: parse(get(env::HISTORY_TTL))?.unwrap_or(HistoryTtl::DEFAULT),
            subscriptions_table: get(env::SUBSCRIPTIONS_TABLE)
                .unwrap_or_else(|| crate::names::subscriptions::DEFAULT_TABLE.into()),
            stream_history_table: get(env::STREAM_HISTORY_TABLE)
                .unwrap_or_else(|| crate::names::stream_history::DEFAULT_TABLE.into()),
            queue_url: get(env::QUEUE_URL),
            token_ttl: parse(get(env::TOKEN_TTL))?.unwrap_or(TokenTtl::DEFAULT),
            bcrypt_cost: parse(get(env::BCRYPT_COST))?.unwrap_or(BcryptCost::DEFAULT),
            websocket_endpoint: get(env::WEBSOCKET_ENDPOINT).map(|v| v.trim_end_matches('/').to_owned()),
            aws_endpoint_url: get(env::AWS_ENDPOINT_URL),
            backend: parse(get(env::BACKEND))?.unwrap_or(Backend::Aws),
            local_url: get(env::LOCAL_URL).map_or_else(
                || crate::names::DEFAULT_LOCAL_URL.into(),
                |v| v.trim_end_matches('/').to_owned(),
            ),
            region: get(env::AWS_REGION).unwrap_or_else(|| "eu-west-1".into()),
        })
    }

    pub fn jwt_secret(&self) -> Result<&JwtSecret, ConfigError> {
        self.jwt_secret
            .as_ref()
            .ok_or(ConfigError::Missing(env::JWT_SECRET))
    }

    pub fn passcode(&self) -> Result<&Secret, ConfigError> {
        self.passcode.as_ref().ok_or(ConfigError::Missing(env::PASSCODE))
    }

    pub fn queue_url(&self) -> Result<&str, ConfigError> {
        self.queue_url
            .as_deref()
            .ok_or(ConfigError::Missing(env::QUEUE_URL))
    }

    pub fn tokens_table(&self) -> &str {
        &self.tokens_table
    }

    pub fn connections_table(&self) -> &str {
        &self.connections_table
    }

    pub fn history_table(&self) -> &str {
        &self.history_table
    }

    pub fn subscriptions_table(&self) -> &str {
        &self.subscriptions_table
    }

    pub fn stream_history_table(&self) -> &str {
        &self.stream_history_table
    }

    /// How long a delivered frame stays recoverable.
    pub fn history_ttl(&self) -> HistoryTtl {
        self.history_ttl
    }

    pub fn token_ttl(&self) -> TokenTtl {
        self.token_ttl
    }

    pub fn bcrypt_cost(&self) -> BcryptCost {
        self.bcrypt_cost
    }

    /// Management API endpoint with the stage; `None` derives it from the event.
    pub fn websocket_endpoint(&self) -> Option<&str> {
        self.websocket_endpoint.as_deref()
    }

    /// One endpoint for DynamoDB and SQS (an emulator); `None` is AWS.
    pub fn aws_endpoint_url(&self) -> Option<&str> {
        self.aws_endpoint_url.as_deref()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn local_url(&self) -> &str {
        &self.local_url
    }

    pub fn region(&self) -> &str {
        &self.region
    }
}

fn parse<T: FromStr<Err = ConfigError>>(value: Option<String>) -> Result<Option<T>, ConfigError> {
    value.map(|v| v.parse()).transpose()
}

fn jwt_secret(value: String) -> Result<JwtSecret, ConfigError> {
    JwtSecret::new(value).map_err(|e| ConfigError::Invalid {
        name: env::JWT_SECRET,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::{BTreeSet, HashMap};

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_follow_the_spec() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.tokens_table(), "hermesTokens");
        assert_eq!(c.connections_table(), "hermesConnections");
        assert_eq!(c.history_table(), "hermesHistory");
        assert_eq!(c.subscriptions_table(), "hermesSubscriptions");
        assert_eq!(c.stream_history_table(), "hermesStreamHistory");
        assert_eq!(c.history_ttl().as_duration(), Duration::from_secs(86_400));
        assert_eq!(c.token_ttl().as_duration(), Duration::from_secs(3600));
        assert_eq!(c.bcrypt_cost().get(), 10);
        assert_eq!(c.backend(), Backend::Aws);
        assert_eq!(c.region(), "eu-west-1");
        assert_eq!(c.local_url(), "http://127.0.0.1:3001");
        assert_eq!(c.websocket_endpoint(), None);
    }

    #[test]
    fn missing_required_values_name_the_variable() {
        let c = cfg(&[]).unwrap();
        assert_eq!(
            c.jwt_secret().unwrap_err().to_string(),
            "HERMES_JWT_SECRET is not set"
        );
        assert_eq!(
            c.passcode().unwrap_err().to_string(),
            "HERMES_PASSCODE is not set"
        );
        assert_eq!(
            c.queue_url().unwrap_err().to_string(),
            "HERMES_QUEUE_URL is not set"
        );
    }

    #[test]
    fn short_secret_is_refused_without_echoing_it() {
        let err = cfg(&[("HERMES_JWT_SECRET", "short-secret-value")]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("HERMES_JWT_SECRET"), "{msg}");
        assert!(msg.contains("32 bytes"), "{msg}");
        assert!(!msg.contains("short-secret-value"), "{msg}");
        assert!(cfg(&[("HERMES_JWT_SECRET", SECRET)]).is_ok());
    }

    #[test]
    fn bad_numbers_name_the_variable() {
        for (name, value) in [
            ("HERMES_BCRYPT_COST", "3"),
            ("HERMES_BCRYPT_COST", "32"),
            ("HERMES_BCRYPT_COST", "ten"),
            ("HERMES_TOKEN_TTL", "1h"),
            ("HERMES_TOKEN_TTL", "-5"),
            ("HERMES_TOKEN_TTL", "10"),
            ("HERMES_BACKEND", "redis"),
            ("HERMES_HISTORY_TTL", "1d"),
            ("HERMES_HISTORY_TTL", "5"),
        ] {
            let err = cfg(&[(name, value)]).unwrap_err();
            assert!(err.to_string().starts_with(name), "{name}={value}: {err}");
        }
        let c = cfg(&[
            ("HERMES_BCRYPT_COST", "4"),
            ("HERMES_TOKEN_TTL", "120"),
            ("HERMES_BACKEND", "Memory"),
        ])
        .unwrap();
        assert_eq!(
            (c.bcrypt_cost().get(), c.token_ttl().as_secs(), c.backend()),
            (4, 120, Backend::Memory)
        );
    }

    #[test]
    fn checked_types_refuse_what_the_environment_would() {
        assert!(BcryptCost::new(3).is_err() && BcryptCost::new(32).is_err());
        assert_eq!(BcryptCost::new(31).map(BcryptCost::get), Ok(31));
        assert!(TokenTtl::from_secs(59).is_err() && TokenTtl::from_secs(31_536_001).is_err());
        assert_eq!("60".parse::<TokenTtl>().map(TokenTtl::as_secs), Ok(60));
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let c = cfg(&[("HERMES_JWT_SECRET", SECRET), ("HERMES_PASSCODE", "pass-code-1")]).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains(SECRET) && !dbg.contains("pass-code-1"), "{dbg}");
    }

    #[test]
    fn table_names_come_from_their_variables() {
        let c = cfg(&[
            ("HERMES_SUBSCRIPTIONS_TABLE", "subs-prod"),
            ("HERMES_STREAM_HISTORY_TABLE", " streams-prod "),
        ])
        .unwrap();
        assert_eq!(
            (c.subscriptions_table(), c.stream_history_table()),
            ("subs-prod", "streams-prod")
        );
    }

    #[test]
    fn endpoint_loses_trailing_slash() {
        let c = cfg(&[(
            "HERMES_WEBSOCKET_ENDPOINT",
            "https://x.execute-api.eu-west-1.amazonaws.com/prod/",
        )])
        .unwrap();
        assert_eq!(
            c.websocket_endpoint(),
            Some("https://x.execute-api.eu-west-1.amazonaws.com/prod")
        );
    }

    /// The gem takes its list of settings from `names::env::SETTINGS` (exported by the
    /// extension): a variable read here but missing there would be invisible to Ruby.
    #[test]
    fn reads_exactly_the_names_the_gem_is_given() {
        let asked = RefCell::new(BTreeSet::new());
        Config::from_lookup(|name| {
            asked.borrow_mut().insert(name.to_owned());
            None
        })
        .unwrap();
        let listed: BTreeSet<String> = env::SETTINGS.iter().map(|(_, n)| n.to_string()).collect();
        assert_eq!(asked.into_inner(), listed);
    }
}
