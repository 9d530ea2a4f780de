//! One `Config` for the gem, the Lambdas and the local gateway, read from the names in `names::env`.
//!
//! Every value is checked once, when the `Config` is built, into a type that cannot hold a bad
//! one (`BcryptCost`, `TokenTtl`, `Backend`, a secret of at least 32 bytes); the fields are
//! private, so nothing downstream can put an unchecked value back.

mod values;

use std::str::FromStr;

use crate::names::env;

pub use values::{
    BcryptCost, HistoryTtl, JwtSecret, Secret, SecretTtl, ShortSecret, TokenTtl, MIN_SECRET_BYTES,
};

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

#[derive(Debug, Clone)]
pub struct Config {
    jwt_secret: Option<JwtSecret>,
    passcode: Option<Secret>,
    previous_jwt_secret: Option<JwtSecret>,
    previous_passcode: Option<Secret>,
    secret_id: Option<String>,
    secret_ttl: SecretTtl,
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
        let secret_id = get(env::SECRET_ID);
        let given_keys = [
            env::JWT_SECRET,
            env::PASSCODE,
            env::PREVIOUS_JWT_SECRET,
            env::PREVIOUS_PASSCODE,
        ];
        if let Some(name) = given_keys
            .into_iter()
            .find(|n| secret_id.is_some() && get(n).is_some())
        {
            // Two sources of one key: which signs would depend on the code path.
            return Err(ConfigError::Invalid {
                name: env::SECRET_ID,
                reason: format!("the keys come from the secret it names, so {name} must not be set too"),
            });
        }
        Ok(Config {
            jwt_secret: get(env::JWT_SECRET)
                .map(|v| jwt_secret(env::JWT_SECRET, v))
                .transpose()?,
            passcode: get(env::PASSCODE).map(Secret::new),
            previous_jwt_secret: get(env::PREVIOUS_JWT_SECRET)
                .map(|v| jwt_secret(env::PREVIOUS_JWT_SECRET, v))
                .transpose()?,
            previous_passcode: get(env::PREVIOUS_PASSCODE).map(Secret::new),
            secret_id,
            secret_ttl: parse(get(env::SECRET_TTL))?.unwrap_or(SecretTtl::DEFAULT),
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

    /// The JWT secret being rotated out, still accepted (set only during a rotation).
    pub fn previous_jwt_secret(&self) -> Option<&JwtSecret> {
        self.previous_jwt_secret.as_ref()
    }

    /// The passcode being rotated out: tokens composed with it still connect.
    pub fn previous_passcode(&self) -> Option<&Secret> {
        self.previous_passcode.as_ref()
    }

    /// The Secrets Manager secret the keys are read from at run time, if any.
    pub fn secret_id(&self) -> Option<&str> {
        self.secret_id.as_deref()
    }

    pub fn secret_ttl(&self) -> SecretTtl {
        self.secret_ttl
    }

    /// The keys are there: a secret to read them from, or the JWT secret and the passcode.
    pub fn check_keys(&self) -> Result<(), ConfigError> {
        if self.secret_id.is_none() {
            self.jwt_secret()?;
            self.passcode()?;
        }
        Ok(())
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

fn jwt_secret(name: &'static str, value: String) -> Result<JwtSecret, ConfigError> {
    JwtSecret::new(value).map_err(|e| ConfigError::Invalid {
        name,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::{BTreeSet, HashMap};
    use std::time::Duration;

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
    fn a_secret_id_replaces_the_keys_in_the_environment() {
        let c = cfg(&[("HERMES_SECRET_ID", "hermes/prod"), ("HERMES_SECRET_TTL", "60")]).unwrap();
        assert_eq!(c.secret_id(), Some("hermes/prod"));
        assert_eq!(c.secret_ttl().as_duration(), Duration::from_secs(60));
        assert!(c.check_keys().is_ok());
        assert_eq!(
            cfg(&[]).unwrap().secret_ttl().as_duration(),
            Duration::from_secs(300)
        );
        assert_eq!(
            cfg(&[]).unwrap().check_keys().unwrap_err().to_string(),
            "HERMES_JWT_SECRET is not set"
        );
        for name in [
            "HERMES_JWT_SECRET",
            "HERMES_PASSCODE",
            "HERMES_PREVIOUS_JWT_SECRET",
            "HERMES_PREVIOUS_PASSCODE",
        ] {
            let msg = cfg(&[("HERMES_SECRET_ID", "hermes/prod"), (name, SECRET)])
                .unwrap_err()
                .to_string();
            assert!(
                msg.starts_with("HERMES_SECRET_ID is invalid") && msg.contains(name),
                "{msg}"
            );
            assert!(!msg.contains(SECRET), "{msg}");
        }
        for ttl in ["0", "86401", "5m"] {
            let err = cfg(&[("HERMES_SECRET_TTL", ttl)]).unwrap_err().to_string();
            assert!(err.starts_with("HERMES_SECRET_TTL is invalid"), "{err}");
        }
    }

    #[test]
    fn previous_keys_are_checked_like_the_current_ones() {
        let err = cfg(&[("HERMES_PREVIOUS_JWT_SECRET", "short")])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("HERMES_PREVIOUS_JWT_SECRET is invalid"), "{err}");
        let c = cfg(&[
            ("HERMES_PREVIOUS_JWT_SECRET", SECRET),
            ("HERMES_PREVIOUS_PASSCODE", "old-pass"),
        ])
        .unwrap();
        assert_eq!(c.previous_jwt_secret().map(JwtSecret::expose), Some(SECRET));
        assert_eq!(c.previous_passcode().map(Secret::expose), Some("old-pass"));
        assert!(!format!("{c:?}").contains("old-pass"));
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
