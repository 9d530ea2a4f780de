use std::fmt;
use std::sync::Arc;

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequestTypeRequest,
    ApiGatewayCustomAuthorizerResponse,
};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use serde_json::json;

use crate::metrics::{names, Metric, Metrics};
use crate::secrets::{KeysFrom, SecretError};
use crate::store::TokenStore;
use crate::token::{now_secs, Grant, JwtError, JwtKeyring, STREAMS_SCOPE};
use crate::verified::{verify_cached, VerifiedPairs};

/// Why a connection was refused. Logged; never carries the token or the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    MissingToken,
    Jwt(JwtError),
    NoStoredToken,
    StoredTokenExpired,
    IdsMismatch,
    HashMismatch,
    StoreUnavailable(String),
    /// The keys could not be read (Secrets Manager) and none were read before.
    KeysUnavailable(SecretError),
}

impl DenyReason {
    /// The metric a denial counts under: the reasons an operator tells apart.
    pub fn metric(&self) -> Metric {
        match self {
            DenyReason::Jwt(JwtError::Expired) | DenyReason::StoredTokenExpired => names::DENIED_EXPIRED,
            // Signed under a key this stack does not hold (rotated out, or another stack's):
            // to an operator, a signature that does not verify.
            DenyReason::Jwt(JwtError::BadSignature | JwtError::UnknownKey(_)) => names::DENIED_BAD_SIGNATURE,
            // The row holds another token's hash: this one was superseded (tokens are derived
            // from the passcode, so a new passcode makes new ones) or forged. A revocation
            // deletes the row: it counts as no row.
            DenyReason::HashMismatch => names::DENIED_REVOKED,
            DenyReason::NoStoredToken => names::DENIED_NO_ROW,
            DenyReason::StoreUnavailable(_) | DenyReason::KeysUnavailable(_) => names::AUTHORIZER_ERRORS,
            DenyReason::MissingToken | DenyReason::Jwt(_) | DenyReason::IdsMismatch => {
                names::DENIED_MALFORMED
            }
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DenyReason::MissingToken => f.write_str("no token in the query string"),
            DenyReason::Jwt(e) => write!(f, "JWT rejected: {e}"),
            DenyReason::NoStoredToken => {
                f.write_str("no stored token for this user and room (never minted, revoked or expired)")
            }
            DenyReason::StoredTokenExpired => f.write_str("stored token has expired"),
            DenyReason::IdsMismatch => f.write_str("stored row does not match the JWT's user_id/room_id"),
            DenyReason::HashMismatch => f.write_str("token does not match the stored bcrypt hash"),
            DenyReason::StoreUnavailable(e) => write!(f, "tokens table unavailable: {e}"),
            DenyReason::KeysUnavailable(e) => write!(f, "the JWT keys are unavailable: {e}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow {
        user_id: String,
        room_id: String,
    },
    /// A socket of nobody: signed streams only (no user, no room, nothing stored to check).
    AllowStreams,
    Deny {
        reason: DenyReason,
        user_id: Option<String>,
    },
}

pub struct Authorizer {
    keys: KeysFrom<JwtKeyring>,
    tokens: Arc<dyn TokenStore>,
    verified: VerifiedPairs,
}

impl Authorizer {
    /// `keys`: fixed (`JwtKeys`, `JwtKeyring`) or a `SecretSource`, read again as its cache
    /// expires.
    pub fn new(keys: impl Into<KeysFrom<JwtKeyring>>, tokens: Arc<dyn TokenStore>) -> Self {
        Authorizer {
            keys: keys.into(),
            tokens,
            verified: VerifiedPairs::default(),
        }
    }

    /// How many (hash, token) pairs this warm process has verified.
    pub fn verified_pairs(&self) -> usize {
        self.verified.len()
    }

    pub async fn decide(&self, jwt: Option<&str>) -> Decision {
        let deny = |reason, user_id| Decision::Deny { reason, user_id };
        let Some(jwt) = jwt.filter(|t| !t.is_empty()) else {
            return deny(DenyReason::MissingToken, None);
        };
        let keys = match self.keys.get().await {
            Ok(keys) => keys,
            Err(e) => return deny(DenyReason::KeysUnavailable(e), None),
        };
        let claims = match keys.verify_grant(jwt) {
            Ok(Grant::Room(c)) => c,
            Ok(Grant::Streams) => return Decision::AllowStreams,
            Err(e) => return deny(DenyReason::Jwt(e), None),
        };
        let user_id = claims.user_id.to_string();
        let uid = Some(user_id.clone());
        let row = match self.tokens.get(&user_id, &claims.room_id).await {
            Ok(Some(row)) => row,
            Ok(None) => return deny(DenyReason::NoStoredToken, uid),
            Err(e) => return deny(DenyReason::StoreUnavailable(e.to_string()), uid),
        };
        if row.user_id != user_id || row.room_id != claims.room_id {
            return deny(DenyReason::IdsMismatch, uid);
        }
        // DynamoDB's TTL sweep runs up to days late: an expired row is checked here too.
        if row.expires_at.is_some_and(|exp| exp < now_secs()) {
            return deny(DenyReason::StoredTokenExpired, uid);
        }
        // During a passcode rotation the row may also hold the seal of the token composed
        // with the previous passcode, which pages minted before the change still carry.
        let previous = row.previous.as_ref().filter(|p| p.expires_at >= now_secs());
        if !verify_cached(&self.verified, &claims.token, &row.hash).await
            && !matches!(previous, Some(p) if verify_cached(&self.verified, &claims.token, &p.hash).await)
        {
            return deny(DenyReason::HashMismatch, uid);
        }
        Decision::Allow {
            user_id,
            room_id: claims.room_id,
        }
    }

    /// The REQUEST authorizer: the token comes from `?token=` (identity source
    /// `route.request.querystring.token`).
    pub async fn handle(
        &self,
        req: &ApiGatewayCustomAuthorizerRequestTypeRequest,
    ) -> ApiGatewayCustomAuthorizerResponse {
        self.handle_measured(req, &Metrics::new()).await
    }

    /// `handle`, counting the decision in `metrics` (`Allowed`, or the denial's reason).
    pub async fn handle_measured(
        &self,
        req: &ApiGatewayCustomAuthorizerRequestTypeRequest,
        metrics: &Metrics,
    ) -> ApiGatewayCustomAuthorizerResponse {
        let token = req.query_string_parameters.first("token");
        let method_arn = req.method_arn.clone().unwrap_or_default();
        let decision = self.decide(token).await;
        match &decision {
            Decision::Allow { user_id, room_id } => {
                metrics.add(names::ALLOWED, 1);
                tracing::info!(user_id, room_id, "allow");
            }
            Decision::AllowStreams => {
                metrics.add(names::ALLOWED, 1);
                tracing::info!("allow: signed streams only");
            }
            Decision::Deny { reason, user_id } => {
                metrics.add(reason.metric(), 1);
                tracing::warn!(reason = %reason, user_id = user_id.as_deref().unwrap_or("-"), "deny");
            }
        }
        policy(&decision, method_arn)
    }
}

/// The principal of a socket no user is known for.
pub const ANONYMOUS: &str = "anonymous";

pub fn policy(decision: &Decision, method_arn: String) -> ApiGatewayCustomAuthorizerResponse {
    let (effect, principal, context) = match decision {
        Decision::Allow { user_id, room_id } => (
            IamPolicyEffect::Allow,
            user_id.clone(),
            json!({"user_id": user_id, "room_id": room_id}),
        ),
        Decision::AllowStreams => (
            IamPolicyEffect::Allow,
            ANONYMOUS.to_owned(),
            json!({"scope": STREAMS_SCOPE}),
        ),
        Decision::Deny { user_id, .. } => (
            IamPolicyEffect::Deny,
            user_id.clone().unwrap_or_else(|| ANONYMOUS.into()),
            json!({}),
        ),
    };
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".into()];
    statement.effect = effect;
    statement.resource = vec![method_arn];
    let mut doc = ApiGatewayCustomAuthorizerPolicy::default();
    doc.version = Some("2012-10-17".into());
    doc.statement = vec![statement];
    let mut resp = ApiGatewayCustomAuthorizerResponse::default();
    resp.principal_id = Some(principal);
    resp.policy_document = doc;
    resp.context = context;
    resp
}
