//! The Rails side of a token: compose, store its bcrypt hash, sign the JWT. The gem and the
//! local gateway's development endpoints call this; the authorizer checks what it makes.

use std::sync::Arc;

use crate::config::{BcryptCost, Config, ConfigError, Secret};
use crate::store::{StoreError, TokenRecord, TokenStore};
use crate::token::{compose, now_secs, seal, Claims, JwtError, JwtKeys, UserId};
use crate::verified::VerifiedPairs;

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Jwt(#[from] JwtError),
    #[error("{0}")]
    Invalid(String),
}

/// Longest `user_id` and `company_code` (room id), in bytes: DynamoDB's limit for the tokens
/// table's sort key (`room_id`), and for both ids a token that fits in a URL.
pub const MAX_ID_BYTES: usize = 1024;
/// Longest JWT minted. API Gateway refuses WebSocket URLs over 4,096 characters; this leaves
/// 512 for `wss://{api-id}.execute-api.{region}.amazonaws.com/{stage}?token=` or a custom
/// domain. Two ids of `MAX_ID_BYTES` plain characters make about 3,000; ids that JSON must
/// escape heavily can go over, and are refused before anything is hashed or stored.
pub const MAX_TOKEN_CHARS: usize = 3584;

fn check_ids(uid: &str, room_id: &str) -> Result<(), MintError> {
    if uid.is_empty() {
        return Err(MintError::Invalid("user_id must not be empty".into()));
    }
    if room_id.is_empty() {
        return Err(MintError::Invalid(
            "company_code (room_id) must not be empty".into(),
        ));
    }
    for (name, v) in [("user_id", uid), ("company_code (room_id)", room_id)] {
        if v.len() > MAX_ID_BYTES {
            return Err(MintError::Invalid(format!(
                "{name} is {} bytes; at most {MAX_ID_BYTES} (the token must fit in a WebSocket URL)",
                v.len()
            )));
        }
    }
    Ok(())
}

pub struct Minter {
    keys: JwtKeys,
    passcode: Secret,
    ttl: u64,
    cost: BcryptCost,
    tokens: Arc<dyn TokenStore>,
    /// (hash, token) pairs this process wrote or checked: a row holding one of them is ours.
    verified: VerifiedPairs,
}

/// A minted hex token and how long its stored hash lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    pub token: String,
    pub expires_at: u64,
    /// Whether this call hashed and wrote the row (false: a fresh row was reused).
    pub stored: bool,
}

impl Minter {
    pub fn new(cfg: &Config, tokens: Arc<dyn TokenStore>) -> Result<Self, ConfigError> {
        Ok(Minter {
            keys: JwtKeys::new(cfg.jwt_secret()?),
            passcode: cfg.passcode()?.clone(),
            ttl: cfg.token_ttl().as_secs(),
            cost: cfg.bcrypt_cost(),
            tokens,
            verified: VerifiedPairs::default(),
        })
    }

    /// The seed's `compose_token`: the hex token, after making sure the tokens table holds a
    /// fresh hash of it. A row this process already vouched for that still has at least half
    /// its lifetime left is reused: no bcrypt, no write. The row is still read every time, so
    /// a revocation from another process is seen at once.
    pub async fn compose_token(&self, user_id: &UserId, room_id: &str) -> Result<Composed, MintError> {
        let uid = user_id.to_string();
        check_ids(&uid, room_id)?;
        let token = compose(user_id, &self.passcode, room_id);
        let now = now_secs();
        if let Some(row) = self.tokens.get(&uid, room_id).await? {
            let fresh_until = row.expires_at.unwrap_or(0);
            if fresh_until >= now + self.ttl / 2 && self.verified.contains(&row.hash, &token) {
                return Ok(Composed {
                    token,
                    expires_at: fresh_until,
                    stored: false,
                });
            }
        }
        let (t, cost) = (token.clone(), self.cost);
        let hash = tokio::task::spawn_blocking(move || seal(&t, cost))
            .await
            .map_err(|e| MintError::Invalid(format!("bcrypt task failed: {e}")))?;
        let expires_at = now + self.ttl;
        self.tokens
            .put(&TokenRecord {
                user_id: uid,
                room_id: room_id.to_owned(),
                hash: hash.clone(),
                expires_at: Some(expires_at),
            })
            .await?;
        self.verified.insert(&hash, &token);
        Ok(Composed {
            token,
            expires_at,
            stored: true,
        })
    }

    /// The seed's `generate_token` (and `check_token`): a JWT for `?token=`. Its `exp` never
    /// outlives the stored hash, so the authorizer accepts it for as long as it is valid.
    pub async fn generate_token(&self, user_id: &UserId, room_id: &str) -> Result<String, MintError> {
        Ok(self.mint(user_id, room_id).await?.1)
    }

    /// Both at once: the hex token (with its stored hash ensured) and the JWT carrying it.
    pub async fn mint(&self, user_id: &UserId, room_id: &str) -> Result<(Composed, String), MintError> {
        check_ids(&user_id.to_string(), room_id)?;
        let claims = |token: String, exp: u64, now: u64| Claims {
            user_id: user_id.clone(),
            room_id: room_id.to_owned(),
            token,
            exp,
            iat: Some(now),
        };
        // The real token has the same length as this one (64 hex digits, same `exp` digits):
        // too long is refused before bcrypt and the store write.
        let now = now_secs();
        let probe = self.keys.issue(&claims("0".repeat(64), now + self.ttl, now))?;
        if probe.len() > MAX_TOKEN_CHARS {
            return Err(MintError::Invalid(format!(
                "user_id and company_code make a {}-character token; at most {MAX_TOKEN_CHARS} \
                 fit in API Gateway's 4,096-character WebSocket URL",
                probe.len()
            )));
        }
        let c = self.compose_token(user_id, room_id).await?;
        let now = now_secs();
        let jwt = self
            .keys
            .issue(&claims(c.token.clone(), (now + self.ttl).min(c.expires_at), now))?;
        Ok((c, jwt))
    }

    /// A token for a page where nobody is signed in: its socket may subscribe to signed streams
    /// and nothing else. One HMAC: no bcrypt, nothing stored.
    pub fn mint_streams(&self) -> Result<String, MintError> {
        let now = now_secs();
        Ok(self.keys.issue_streams(now + self.ttl, now)?)
    }

    /// Deletes the stored hash: every JWT minted for this user and room stops connecting.
    pub async fn revoke(&self, user_id: &UserId, room_id: &str) -> Result<bool, MintError> {
        Ok(self.tokens.delete(&user_id.to_string(), room_id).await?)
    }
}
