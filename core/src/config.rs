//! One `Config` for the gem, the Lambdas and the local gateway, read from the SPEC §2 names.

use std::fmt;
use std::time::Duration;

use crate::names::env;

/// A secret value: compared and used, never printed.
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

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone)]
pub struct Config {
    jwt_secret: Option<Secret>,
    passcode: Option<Secret>,
    pub tokens_table: String,
    pub connections_table: String,
    pub history_table: String,
    /// How long a delivered frame stays recoverable (the history items' DynamoDB TTL).
    pub history_ttl: Duration,
    queue_url: Option<String>,
    pub token_ttl: Duration,
    pub bcrypt_cost: u32,
    /// Management API endpoint with the stage; `None` derives it from the event.
    pub websocket_endpoint: Option<String>,
    pub aws_endpoint_url: Option<String>,
    pub backend: Backend,
    pub local_url: String,
    pub region: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            jwt_secret: None,
            passcode: None,
            tokens_table: crate::names::tokens::DEFAULT_TABLE.into(),
            connections_table: crate::names::connections::DEFAULT_TABLE.into(),
            history_table: crate::names::history::DEFAULT_TABLE.into(),
            history_ttl: Duration::from_secs(crate::names::history::DEFAULT_TTL_SECS),
            queue_url: None,
            token_ttl: Duration::from_secs(3600),
            bcrypt_cost: 10,
            websocket_endpoint: None,
            aws_endpoint_url: None,
            backend: Backend::Aws,
            local_url: "http://127.0.0.1:3001".into(),
            region: "eu-west-1".into(),
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads from any name → value lookup (the gem passes its own overrides through this).
    /// Empty values count as unset, as they do in most deploy tools' env files.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut c = Config::default();
        if let Some(v) = get(env::JWT_SECRET) {
            c.set_jwt_secret(v)?;
        }
        if let Some(v) = get(env::PASSCODE) {
            c.set_passcode(v)?;
        }
        if let Some(v) = get(env::TOKENS_TABLE) {
            c.tokens_table = v;
        }
        if let Some(v) = get(env::CONNECTIONS_TABLE) {
            c.connections_table = v;
        }
        if let Some(v) = get(env::HISTORY_TABLE) {
            c.history_table = v;
        }
        if let Some(v) = get(env::HISTORY_TTL) {
            c.set_history_ttl_str(&v)?;
        }
        c.queue_url = get(env::QUEUE_URL);
        if let Some(v) = get(env::TOKEN_TTL) {
            c.set_token_ttl_str(&v)?;
        }
        if let Some(v) = get(env::BCRYPT_COST) {
            c.set_bcrypt_cost_str(&v)?;
        }
        c.websocket_endpoint = get(env::WEBSOCKET_ENDPOINT).map(|v| v.trim_end_matches('/').to_owned());
        c.aws_endpoint_url = get(env::AWS_ENDPOINT_URL);
        if let Some(v) = get(env::BACKEND) {
            c.backend = parse_backend(&v)?;
        }
        if let Some(v) = get(env::LOCAL_URL) {
            c.local_url = v.trim_end_matches('/').to_owned();
        }
        if let Some(v) = get(env::AWS_REGION) {
            c.region = v;
        }
        Ok(c)
    }

    pub fn set_jwt_secret(&mut self, value: impl Into<String>) -> Result<(), ConfigError> {
        let value = value.into();
        if value.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::Invalid {
                name: env::JWT_SECRET,
                reason: format!(
                    "must be at least {MIN_SECRET_BYTES} bytes for HS512, got {}",
                    value.len()
                ),
            });
        }
        self.jwt_secret = Some(Secret(value));
        Ok(())
    }

    pub fn set_passcode(&mut self, value: impl Into<String>) -> Result<(), ConfigError> {
        let value = value.into();
        if value.is_empty() {
            return Err(ConfigError::Invalid {
                name: env::PASSCODE,
                reason: "must not be empty".into(),
            });
        }
        self.passcode = Some(Secret(value));
        Ok(())
    }

    pub fn set_queue_url(&mut self, value: Option<String>) {
        self.queue_url = value.filter(|v| !v.is_empty());
    }

    pub fn set_token_ttl_str(&mut self, v: &str) -> Result<(), ConfigError> {
        let secs: u64 = v.parse().map_err(|_| ConfigError::Invalid {
            name: env::TOKEN_TTL,
            reason: format!("expected a whole number of seconds, got {v:?}"),
        })?;
        self.set_token_ttl(secs)
    }

    pub fn set_token_ttl(&mut self, secs: u64) -> Result<(), ConfigError> {
        // An upper bound keeps `exp` and DynamoDB's TTL arithmetic far from overflow and
        // refuses a typo that would mint tokens valid for years.
        if !(60..=31_536_000).contains(&secs) {
            return Err(ConfigError::Invalid {
                name: env::TOKEN_TTL,
                reason: format!("must be between 60 and 31536000 seconds, got {secs}"),
            });
        }
        self.token_ttl = Duration::from_secs(secs);
        Ok(())
    }

    pub fn set_history_ttl_str(&mut self, v: &str) -> Result<(), ConfigError> {
        let secs: u64 = v.parse().map_err(|_| ConfigError::Invalid {
            name: env::HISTORY_TTL,
            reason: format!("expected a whole number of seconds, got {v:?}"),
        })?;
        // A minute at least: recovery spans a reconnect, and the in-flight check in
        // handlers::recover reads write times back from `expires_at - ttl`.
        if !(60..=31_536_000).contains(&secs) {
            return Err(ConfigError::Invalid {
                name: env::HISTORY_TTL,
                reason: format!("must be between 60 and 31536000 seconds, got {secs}"),
            });
        }
        self.history_ttl = Duration::from_secs(secs);
        Ok(())
    }

    pub fn set_bcrypt_cost_str(&mut self, v: &str) -> Result<(), ConfigError> {
        let cost: u32 = v.parse().map_err(|_| ConfigError::Invalid {
            name: env::BCRYPT_COST,
            reason: format!("expected a number from 4 to 31, got {v:?}"),
        })?;
        self.set_bcrypt_cost(cost)
    }

    pub fn set_bcrypt_cost(&mut self, cost: u32) -> Result<(), ConfigError> {
        if !(4..=31).contains(&cost) {
            return Err(ConfigError::Invalid {
                name: env::BCRYPT_COST,
                reason: format!("must be from 4 to 31, got {cost}"),
            });
        }
        self.bcrypt_cost = cost;
        Ok(())
    }

    pub fn jwt_secret(&self) -> Result<&Secret, ConfigError> {
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
}

pub fn parse_backend(v: &str) -> Result<Backend, ConfigError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

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
        assert_eq!(c.tokens_table, "hermesTokens");
        assert_eq!(c.connections_table, "hermesConnections");
        assert_eq!(c.history_table, "hermesHistory");
        assert_eq!(c.history_ttl, Duration::from_secs(86_400));
        assert_eq!(c.token_ttl, Duration::from_secs(3600));
        assert_eq!(c.bcrypt_cost, 10);
        assert_eq!(c.backend, Backend::Aws);
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.local_url, "http://127.0.0.1:3001");
        assert_eq!(c.websocket_endpoint, None);
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
            (c.bcrypt_cost, c.token_ttl.as_secs(), c.backend),
            (4, 120, Backend::Memory)
        );
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let c = cfg(&[("HERMES_JWT_SECRET", SECRET), ("HERMES_PASSCODE", "pass-code-1")]).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains(SECRET) && !dbg.contains("pass-code-1"), "{dbg}");
    }

    #[test]
    fn endpoint_loses_trailing_slash() {
        let c = cfg(&[(
            "HERMES_WEBSOCKET_ENDPOINT",
            "https://x.execute-api.eu-west-1.amazonaws.com/prod/",
        )])
        .unwrap();
        assert_eq!(
            c.websocket_endpoint.as_deref(),
            Some("https://x.execute-api.eu-west-1.amazonaws.com/prod")
        );
    }
}
