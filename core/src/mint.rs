//! The Rails side of a token: compose, store its bcrypt hash, sign the JWT. The gem and the
//! local gateway's development endpoints call this; the authorizer checks what it makes.

use std::sync::Arc;

use crate::config::{BcryptCost, Config, ConfigError};
use crate::frame::Control;
use crate::ids::{self, IdError};
use crate::queue::{Queue, QueueError};
use crate::secrets::{Keys, SecretError, SecretSet, SecretSource};
use crate::store::{PreviousSeal, StoreError, TokenRecord, TokenStore};
use crate::token::{compose, now_secs, seal, Claims, JwtError, UserId};
use crate::verified::{verify_cached, VerifiedPairs};

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Jwt(#[from] JwtError),
    /// The caller's ids: the only error that is the caller's mistake.
    #[error(transparent)]
    Id(#[from] IdError),
    #[error("bcrypt task failed: {0}")]
    Hash(String),
    /// The keys could not be read (Secrets Manager).
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// `Minter::revoke_and_disconnect`: either nothing changed (`Revoke`), or the token is revoked
/// and only closing the user's open sockets failed (`Disconnect`, whose message says the token
/// stays revoked).
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error(transparent)]
    Revoke(#[from] MintError),
    #[error("the token was revoked, but closing the user's open sockets could not be queued: {0}")]
    Disconnect(QueueError),
}

/// The token calls name the room `company_code`, as the seed's `check_token` does.
fn check_ids(user_id: &UserId, room_id: &str) -> Result<(), IdError> {
    ids::check_user("user_id", user_id)?;
    ids::check("company_code", room_id)
}

pub struct Minter {
    secrets: SecretSource,
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
    /// With the keys in `cfg` itself (`HERMES_JWT_SECRET`, `HERMES_PASSCODE`).
    pub fn new(cfg: &Config, tokens: Arc<dyn TokenStore>) -> Result<Self, ConfigError> {
        Ok(Self::with_secrets(
            cfg,
            SecretSource::fixed(&SecretSet::from_config(cfg)?),
            tokens,
        ))
    }

    /// With the keys from `secrets` (`SecretSource::load`: the environment's, or the secret's).
    pub fn with_secrets(cfg: &Config, secrets: SecretSource, tokens: Arc<dyn TokenStore>) -> Self {
        Minter {
            secrets,
            ttl: cfg.token_ttl().as_secs(),
            cost: cfg.bcrypt_cost(),
            tokens,
            verified: VerifiedPairs::default(),
        }
    }

    /// The seed's `compose_token`: the hex token, after making sure the tokens table holds a
    /// fresh hash of it. A row this process already vouched for that still has at least half
    /// its lifetime left is reused: no bcrypt, no write. The row is still read every time, so
    /// a revocation from another process is seen at once.
    pub async fn compose_token(&self, user_id: &UserId, room_id: &str) -> Result<Composed, MintError> {
        check_ids(user_id, room_id)?;
        let keys = self.secrets.get().await?;
        self.compose_with(&keys, user_id, room_id).await
    }

    async fn compose_with(
        &self,
        keys: &Keys,
        user_id: &UserId,
        room_id: &str,
    ) -> Result<Composed, MintError> {
        let uid = user_id.to_string();
        let token = compose(user_id, &keys.passcode, room_id);
        let now = now_secs();
        let row = self.tokens.get(&uid, room_id).await?;
        if let Some(row) = &row {
            let fresh_until = row.expires_at.unwrap_or(0);
            if fresh_until >= now + self.ttl / 2 && self.verified.contains(&row.hash, &token) {
                return Ok(Composed {
                    token,
                    expires_at: fresh_until,
                    stored: false,
                });
            }
        }
        let previous = match row {
            Some(row) => self.previous_seal(keys, user_id, room_id, row, now).await,
            None => None,
        };
        let (t, cost) = (token.clone(), self.cost);
        let hash = tokio::task::spawn_blocking(move || seal(&t, cost))
            .await
            .map_err(|e| MintError::Hash(e.to_string()))?;
        let expires_at = now + self.ttl;
        self.tokens
            .put(&TokenRecord {
                user_id: uid,
                room_id: room_id.to_owned(),
                hash: hash.clone(),
                expires_at: Some(expires_at),
                previous,
            })
            .await?;
        self.verified.insert(&hash, &token);
        Ok(Composed {
            token,
            expires_at,
            stored: true,
        })
    }

    /// What of `row` the new row keeps, so that pages holding a JWT minted with the previous
    /// passcode still connect: its previous seal while that is valid, or its own seal when it
    /// is the previous passcode's token (one bcrypt, during a rotation only). Either lasts no
    /// longer than the row it came from, which no JWT carrying it outlives.
    async fn previous_seal(
        &self,
        keys: &Keys,
        user_id: &UserId,
        room_id: &str,
        row: TokenRecord,
        now: u64,
    ) -> Option<PreviousSeal> {
        if let Some(p) = row.previous.filter(|p| p.expires_at >= now) {
            return Some(p);
        }
        let old = compose(user_id, keys.previous_passcode.as_ref()?, room_id);
        // A row the article's code wrote has no expiry: its JWTs get one token TTL.
        let expires_at = row.expires_at.unwrap_or(now + self.ttl);
        if expires_at < now {
            return None;
        }
        verify_cached(&self.verified, &old, &row.hash)
            .await
            .then_some(PreviousSeal {
                hash: row.hash,
                expires_at,
            })
    }

    /// The seed's `generate_token` (and `check_token`): a JWT for `?token=`. Its `exp` never
    /// outlives the stored hash, so the authorizer accepts it for as long as it is valid.
    pub async fn generate_token(&self, user_id: &UserId, room_id: &str) -> Result<String, MintError> {
        Ok(self.mint(user_id, room_id).await?.1)
    }

    /// Both at once: the hex token (with its stored hash ensured) and the JWT carrying it.
    pub async fn mint(&self, user_id: &UserId, room_id: &str) -> Result<(Composed, String), MintError> {
        check_ids(user_id, room_id)?;
        let keys = self.secrets.get().await?;
        let signer = keys.jwt.current();
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
        let probe = signer.issue(&claims("0".repeat(64), now + self.ttl, now))?;
        ids::check_token_chars(probe.len())?;
        let c = self.compose_with(&keys, user_id, room_id).await?;
        let now = now_secs();
        let jwt = signer.issue(&claims(c.token.clone(), (now + self.ttl).min(c.expires_at), now))?;
        Ok((c, jwt))
    }

    /// A token for a page where nobody is signed in: its socket may subscribe to signed streams
    /// and nothing else. One HMAC: no bcrypt, nothing stored.
    pub async fn mint_streams(&self) -> Result<String, MintError> {
        let keys = self.secrets.get().await?;
        let now = now_secs();
        Ok(keys.jwt.current().issue_streams(now + self.ttl, now)?)
    }

    /// The key stream names are signed with now (the current JWT secret's).
    pub async fn stream_key(&self) -> Result<crate::stream_name::StreamKey, MintError> {
        Ok(self.secrets.get().await?.streams.current().clone())
    }

    /// Deletes the stored hash: every JWT minted for this user and room stops connecting.
    /// Returns whether there was one.
    pub async fn revoke(&self, user_id: &UserId, room_id: &str) -> Result<bool, MintError> {
        check_ids(user_id, room_id)?;
        Ok(self.tokens.delete(&user_id.to_string(), room_id).await?)
    }

    /// `revoke`, then queues the disconnect record that closes the user's open sockets in the
    /// room: the send function holds ManageConnections, the caller (the Rails app) does not
    /// need it. Closing is queued even when there was no stored hash, so a socket left open by
    /// an earlier revocation still goes.
    pub async fn revoke_and_disconnect(
        &self,
        queue: &dyn Queue,
        user_id: &UserId,
        room_id: &str,
    ) -> Result<bool, RevokeError> {
        let revoked = self.revoke(user_id, room_id).await?;
        let close = Control::disconnect(user_id.to_string(), room_id, Some("revoked"));
        queue
            .send_control(&close)
            .await
            .map_err(RevokeError::Disconnect)?;
        Ok(revoked)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use async_trait::async_trait;

    use super::*;
    use crate::frame::Record;
    use crate::queue::{MemoryQueue, Outgoing, Received};
    use crate::store::MemoryTokenStore;

    fn minter(tokens: Arc<MemoryTokenStore>) -> Minter {
        let cfg = Config::from_lookup(|name| match name {
            "HERMES_JWT_SECRET" => Some("mint-test-secret-0123456789-abcdefghijkl".into()),
            "HERMES_PASSCODE" => Some("p".into()),
            "HERMES_BCRYPT_COST" => Some("4".into()),
            _ => None,
        })
        .unwrap();
        Minter::new(&cfg, tokens).unwrap()
    }

    /// SQS refusing every call.
    struct Refusing;

    #[async_trait]
    impl Queue for Refusing {
        async fn send_many(&self, _: &[Outgoing]) -> Result<Vec<String>, QueueError> {
            Err(refused())
        }
        async fn send_control(&self, _: &Control) -> Result<String, QueueError> {
            Err(refused())
        }
        async fn receive(&self, _: usize, _: Duration) -> Result<Vec<Received>, QueueError> {
            Err(refused())
        }
        async fn send_body(&self, _: &str, _: &str, _: Duration) -> Result<String, QueueError> {
            Err(refused())
        }
        async fn delete(&self, _: &[String]) -> Result<(), QueueError> {
            Err(refused())
        }
    }

    fn refused() -> QueueError {
        QueueError::Backend {
            op: "SendMessage",
            queue: "q".into(),
            message: "AccessDenied".into(),
        }
    }

    fn keys(jwt: &str, passcode: &str, previous: Option<(&str, &str)>) -> SecretSource {
        SecretSource::fixed(&SecretSet {
            jwt_secret: crate::JwtSecret::new(jwt).unwrap(),
            passcode: crate::Secret::new(passcode),
            previous_jwt_secret: previous.map(|(j, _)| crate::JwtSecret::new(j).unwrap()),
            previous_passcode: previous.map(|(_, p)| crate::Secret::new(p)),
        })
    }

    #[tokio::test]
    async fn a_page_minted_before_a_passcode_change_connects_until_its_row_would_have_expired() {
        use crate::handlers::{Authorizer, Decision, DenyReason};
        const KEY: &str = "mint-rotation-secret-0123456789-abcdefghijkl";
        let cfg = Config::from_lookup(|name| (name == "HERMES_BCRYPT_COST").then(|| "4".into())).unwrap();
        let tokens = Arc::new(MemoryTokenStore::new());
        let user = UserId::Int(5);
        let before = Minter::with_secrets(&cfg, keys(KEY, "old", None), tokens.clone());
        let old_jwt = before.generate_token(&user, "ACME").await.unwrap();
        let authorizer = Authorizer::new(
            keys(KEY, "new", None).get().await.unwrap().jwt.clone(),
            tokens.clone(),
        );
        let allowed = |d: Decision| matches!(d, Decision::Allow { .. });

        // Another process on the new passcode, with the old one as previous: the row keeps the
        // old seal beside the new one.
        let during = Minter::with_secrets(&cfg, keys(KEY, "new", Some((KEY, "old"))), tokens.clone());
        let new_jwt = during.generate_token(&user, "ACME").await.unwrap();
        let row = tokens.get("5", "ACME").await.unwrap().unwrap();
        let kept = row.previous.clone().expect("the old seal is kept");
        assert!(
            kept.expires_at <= row.expires_at.unwrap(),
            "no longer than its own row"
        );
        assert!(allowed(authorizer.decide(Some(&old_jwt)).await));
        assert!(allowed(authorizer.decide(Some(&new_jwt)).await));
        // A later mint, after the previous passcode is gone, carries the old seal on while it lasts.
        let after = Minter::with_secrets(&cfg, keys(KEY, "new", None), tokens.clone());
        tokens
            .put(&TokenRecord {
                expires_at: Some(now_secs() + 10),
                ..row.clone()
            })
            .await
            .unwrap();
        after.compose_token(&user, "ACME").await.unwrap();
        assert_eq!(
            tokens.get("5", "ACME").await.unwrap().unwrap().previous,
            Some(kept.clone())
        );
        assert!(allowed(authorizer.decide(Some(&old_jwt)).await));

        // Past its row's expiry, the old seal is refused (whatever the row still holds).
        let mut expired = tokens.get("5", "ACME").await.unwrap().unwrap();
        expired.previous = Some(PreviousSeal {
            expires_at: now_secs() - 1,
            ..kept
        });
        tokens.put(&expired).await.unwrap();
        let fresh = Authorizer::new(
            keys(KEY, "new", None).get().await.unwrap().jwt.clone(),
            tokens.clone(),
        );
        assert_eq!(
            fresh.decide(Some(&old_jwt)).await,
            Decision::Deny {
                reason: DenyReason::HashMismatch,
                user_id: Some("5".into())
            }
        );
        assert!(allowed(fresh.decide(Some(&new_jwt)).await));
        // Without a previous passcode nothing is kept: a row of another passcode is replaced.
        tokens.delete("5", "ACME").await.unwrap();
        before.generate_token(&user, "ACME").await.unwrap();
        after.generate_token(&user, "ACME").await.unwrap();
        assert_eq!(tokens.get("5", "ACME").await.unwrap().unwrap().previous, None);
    }

    #[tokio::test]
    async fn revoking_queues_the_disconnect_after_deleting_the_hash() {
        let tokens = Arc::new(MemoryTokenStore::new());
        let m = minter(tokens.clone());
        let queue = MemoryQueue::default();
        let user = UserId::Int(42);
        m.generate_token(&user, "ACME").await.unwrap();
        assert!(m.revoke_and_disconnect(&queue, &user, "ACME").await.unwrap());
        assert!(tokens.get("42", "ACME").await.unwrap().is_none());
        let bodies = queue.pending();
        assert_eq!(bodies.len(), 1);
        assert!(matches!(
            Record::parse(&bodies[0]).unwrap(),
            Record::Control(c) if c == Control::disconnect("42", "ACME", Some("revoked"))
        ));
        // Nothing to revoke: the sockets are still closed.
        assert!(!m.revoke_and_disconnect(&queue, &user, "ACME").await.unwrap());
        assert_eq!(queue.pending().len(), 2);
    }

    #[tokio::test]
    async fn a_disconnect_that_cannot_be_queued_says_the_token_stays_revoked() {
        let tokens = Arc::new(MemoryTokenStore::new());
        let m = minter(tokens.clone());
        let user = UserId::Int(7);
        m.generate_token(&user, "ACME").await.unwrap();
        let e = m
            .revoke_and_disconnect(&Refusing, &user, "ACME")
            .await
            .unwrap_err();
        assert!(matches!(e, RevokeError::Disconnect(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "the token was revoked, but closing the user's open sockets could not be queued: \
             SQS SendMessage on queue q failed: AccessDenied"
        );
        assert!(tokens.get("7", "ACME").await.unwrap().is_none(), "revoked");
        // A bad id changes nothing and queues nothing.
        let e = m.revoke_and_disconnect(&Refusing, &user, "").await.unwrap_err();
        assert_eq!(e.to_string(), "company_code must not be empty");
    }
}
