//! What travels: the SQS body (`{"user_id", "room_id", "data"}`) and the frame a browser
//! receives (`{"user_id": "<sender>", "data": ...}`, plus an `id` for de-duplication).
//! `data` is carried as raw JSON text from the producer to the browser: the bytes Ruby's
//! JSON.generate wrote are the bytes the page parses (key order, float spelling and all), and
//! the send handler never re-encodes it.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::token::{de_string_or_number, UserId};

/// API Gateway's WebSocket message limit.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
/// Room kept in the size check for the `id` the send handler adds (an SQS message id is 36 bytes).
const ID_RESERVE_BYTES: usize = 96;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Notification {
    /// The sender, relayed to the browser as a string.
    pub user_id: UserId,
    #[serde(deserialize_with = "de_string_or_number")]
    pub room_id: String,
    pub data: Box<RawValue>,
    /// When set, only this user's connections in the room get the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_user_id: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("notification is {bytes} bytes as a WebSocket frame; API Gateway's limit is {limit} bytes")]
pub struct PayloadTooLarge {
    pub bytes: usize,
    pub limit: usize,
}

#[derive(Serialize)]
struct Frame<'a> {
    user_id: &'a str,
    data: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
}

pub fn encode_frame(sender: &str, data: &RawValue, id: Option<&str>) -> Vec<u8> {
    serde_json::to_vec(&Frame {
        user_id: sender,
        data,
        id,
    })
    .expect("a JSON value always serialises")
}

impl Notification {
    pub fn new(user_id: impl Into<UserId>, room_id: impl Into<String>, data: Value) -> Self {
        Notification {
            user_id: user_id.into(),
            room_id: room_id.into(),
            data: raw(&data),
            target_user_id: None,
        }
    }

    /// `data_json` is kept byte for byte; it must be one JSON value.
    pub fn from_json(
        user_id: impl Into<UserId>,
        room_id: impl Into<String>,
        data_json: String,
    ) -> Result<Self, serde_json::Error> {
        let data = RawValue::from_string(data_json)?;
        Ok(Notification {
            user_id: user_id.into(),
            room_id: room_id.into(),
            data,
            target_user_id: None,
        })
    }

    /// `data` parsed, for inspection.
    pub fn data_value(&self) -> Value {
        serde_json::from_str(self.data.get()).expect("RawValue holds valid JSON")
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("a notification always serialises")
    }

    /// Refuses, before it is queued, what API Gateway would refuse to deliver.
    pub fn check_size(&self) -> Result<usize, PayloadTooLarge> {
        let bytes = encode_frame(&self.user_id.to_string(), &self.data, None).len() + ID_RESERVE_BYTES;
        if bytes > MAX_MESSAGE_BYTES {
            return Err(PayloadTooLarge {
                bytes,
                limit: MAX_MESSAGE_BYTES,
            });
        }
        Ok(bytes)
    }
}

/// A JSON value as raw text, for `encode_frame` and `Notification`.
pub fn raw(v: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(v).expect("a JSON value always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_is_seed_compatible() {
        let n = Notification::new(42, "ACME", json!({"type": "info", "data": "done"}));
        let v: Value = serde_json::from_str(&n.to_body()).unwrap();
        assert_eq!(
            v,
            json!({"user_id": 42, "room_id": "ACME", "data": {"type": "info", "data": "done"}})
        );
        let back: Notification = serde_json::from_str(r#"{"user_id":"7","room_id":12,"data":null}"#).unwrap();
        assert_eq!(back.room_id, "12");
        assert_eq!(back.data_value(), Value::Null);
        assert_eq!(back.user_id, UserId::Str("7".into()));
    }

    #[test]
    fn frame_carries_sender_as_string() {
        let f = encode_frame("42", &raw(&json!({"a": 1})), Some("m-1"));
        assert_eq!(
            serde_json::from_slice::<Value>(&f).unwrap(),
            json!({"user_id": "42", "data": {"a": 1}, "id": "m-1"})
        );
    }

    #[test]
    fn data_bytes_travel_unchanged() {
        let ruby = r#"{"b":1.0e+20,"a":[1,2]}"#;
        let n = Notification::from_json(1, "r", ruby.to_owned()).unwrap();
        assert_eq!(
            n.to_body(),
            format!(r#"{{"user_id":1,"room_id":"r","data":{ruby}}}"#)
        );
        let back: Notification = serde_json::from_str(&n.to_body()).unwrap();
        let frame = encode_frame("1", &back.data, None);
        assert_eq!(
            String::from_utf8(frame).unwrap(),
            format!(r#"{{"user_id":"1","data":{ruby}}}"#)
        );
        assert!(Notification::from_json(1, "r", "{not json".into()).is_err());
    }

    #[test]
    fn oversize_is_refused_at_the_limit() {
        let ok = Notification::new(1, "r", json!("x".repeat(MAX_MESSAGE_BYTES - 200)));
        assert!(ok.check_size().is_ok());
        let big = Notification::new(1, "r", json!("x".repeat(MAX_MESSAGE_BYTES)));
        let e = big.check_size().unwrap_err();
        assert!(e.bytes > MAX_MESSAGE_BYTES);
        assert!(e.to_string().contains("131072"), "{e}");
    }
}
