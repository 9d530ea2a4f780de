//! The bounds on the ids a caller hands us (user ids, company codes / room ids, the target of a
//! notification) and the one place they are checked. The minter, the gem's extension and
//! hermes-local's development endpoints all call these, so one bad argument gets one message
//! whichever way it came in. Each check takes the name the caller's own API gives the argument
//! (`company_code` in the token calls, `room_id` elsewhere) and the error names it; no message
//! ever contains the id itself (an id is whatever the app passed, a secret included).

use crate::frame::Notification;
use crate::token::UserId;

/// Longest id, in bytes: DynamoDB's limit for the tokens table's sort key (`room_id`), and for
/// every id short enough for a token that fits in a URL.
pub const MAX_ID_BYTES: usize = 1024;
/// Longest JWT minted. API Gateway refuses WebSocket URLs over 4,096 characters; this leaves
/// 512 for `wss://{api-id}.execute-api.{region}.amazonaws.com/{stage}?token=` or a custom
/// domain. Two ids of `MAX_ID_BYTES` plain characters make about 3,000; ids that JSON must
/// escape heavily can go over, and are refused before anything is hashed or stored.
pub const MAX_TOKEN_CHARS: usize = 3584;

/// A bad id. `arg` is the argument's name as the caller's API spells it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{arg} must not be empty")]
    Empty { arg: String },
    #[error("{arg} is {bytes} bytes; at most {MAX_ID_BYTES}")]
    TooLong { arg: String, bytes: usize },
    /// An integer id that does not fit the `i64` a token carries.
    #[error("{arg} is out of the 64-bit range")]
    OutOfRange { arg: String },
    /// Bytes that are not valid in their encoding, or have no UTF-8 form.
    #[error("{arg} is not valid text in its encoding (or not convertible to UTF-8)")]
    NotText { arg: String },
    /// A user id is an integer or text; `got` names the type the caller passed (never its value).
    #[error("{arg} must be an Integer or a String, got {got}")]
    NotUserId { arg: String, got: String },
    /// A room id is text (a number or a symbol is taken as its text).
    #[error("{arg} must be a String, got {got}")]
    NotRoomId { arg: String, got: String },
    #[error(
        "user_id and company_code make a {chars}-character token; at most {MAX_TOKEN_CHARS} \
         fit in API Gateway's 4,096-character WebSocket URL"
    )]
    TokenTooLong { chars: usize },
}

/// An id as text: not empty, at most `MAX_ID_BYTES`.
pub fn check(arg: &str, id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty { arg: arg.to_owned() });
    }
    if id.len() > MAX_ID_BYTES {
        return Err(IdError::TooLong {
            arg: arg.to_owned(),
            bytes: id.len(),
        });
    }
    Ok(())
}

/// A user id: an integer always fits; text is checked as any id.
pub fn check_user(arg: &str, id: &UserId) -> Result<(), IdError> {
    match id {
        UserId::Int(_) => Ok(()),
        UserId::Str(s) => check(arg, s),
    }
}

/// A notification's sender, room and target, named as in its JSON body. A room nobody can get
/// a token for reaches no one, so it has a token's bounds.
pub fn check_notification(n: &Notification) -> Result<(), IdError> {
    check_user("user_id", &n.user_id)?;
    check("room_id", &n.room_id)?;
    match &n.target_user_id {
        Some(t) => check("target_user_id", t),
        None => Ok(()),
    }
}

/// A JWT of `chars` characters still fits in the WebSocket URL.
pub fn check_token_chars(chars: usize) -> Result<(), IdError> {
    if chars > MAX_TOKEN_CHARS {
        return Err(IdError::TokenTooLong { chars });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_name_the_argument_as_the_caller_spelled_it() {
        assert_eq!(
            check("company_code", "").unwrap_err().to_string(),
            "company_code must not be empty"
        );
        assert_eq!(
            check("room_id", &"r".repeat(MAX_ID_BYTES + 1))
                .unwrap_err()
                .to_string(),
            "room_id is 1025 bytes; at most 1024"
        );
        assert!(check("room_id", &"r".repeat(MAX_ID_BYTES)).is_ok());
        // Bytes, not characters: 512 two-byte characters fit, 513 do not.
        assert!(check("room_id", &"é".repeat(512)).is_ok());
        assert!(check("room_id", &"é".repeat(513)).is_err());
        assert_eq!(
            check_user("to_user_id", &UserId::Str(String::new()))
                .unwrap_err()
                .to_string(),
            "to_user_id must not be empty"
        );
        assert!(check_user("user_id", &UserId::Int(i64::MIN)).is_ok());
    }

    #[test]
    fn messages_never_hold_the_id() {
        let secret = format!("{}-not-for-messages", "s".repeat(MAX_ID_BYTES));
        let e = check("user_id", &secret).unwrap_err().to_string();
        assert!(!e.contains("not-for-messages"), "{e}");
    }

    #[test]
    fn a_notification_is_checked_under_its_body_names() {
        let mut n = Notification::new(1, "R", json!(1));
        assert!(check_notification(&n).is_ok());
        n.target_user_id = Some(String::new());
        assert_eq!(
            check_notification(&n).unwrap_err().to_string(),
            "target_user_id must not be empty"
        );
        n.room_id = String::new();
        assert_eq!(
            check_notification(&n).unwrap_err().to_string(),
            "room_id must not be empty"
        );
    }

    #[test]
    fn a_token_must_fit_the_url() {
        assert!(check_token_chars(MAX_TOKEN_CHARS).is_ok());
        assert!(check_token_chars(MAX_TOKEN_CHARS + 1)
            .unwrap_err()
            .to_string()
            .starts_with("user_id and company_code make a 3585-character token; at most 3584"));
    }
}
