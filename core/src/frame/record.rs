//! What the queue carries: a notification (the article's body), a broadcast to a stream, a
//! control record (a disconnect); every kind but the notification has a top-level `"hermes"`
//! key naming it (docs/protocol.md, "Queue records").

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use super::{
    origin_sequenced_len, raw, sequenced_len, Origin, PayloadTooLarge, ID_RESERVE_BYTES, MAX_MESSAGE_BYTES,
};
use crate::token::{de_string_or_number, UserId};

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

/// A queue record that is not a notification. It has a top-level `"hermes"` key and no
/// `user_id`, `room_id` or `data`: the seed's Node send Lambda, if it is still the consumer,
/// reads `body.room_id` as undefined, its Scan fails validation, and nothing is posted (no
/// browser ever gets a half-built notification from it).
///
/// `{"hermes": "disconnect", "target": {"room_id": "ACME", "user_id": "42"}, "reason": "revoked"}`:
/// the send function closes (DeleteConnection) every socket of that user in that room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "hermes", rename_all = "snake_case")]
pub enum Control {
    Disconnect {
        target: Target,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    #[serde(deserialize_with = "de_string_or_number")]
    pub room_id: String,
    #[serde(deserialize_with = "de_string_or_number")]
    pub user_id: String,
}

impl Control {
    pub fn disconnect(user_id: impl Into<String>, room_id: impl Into<String>, reason: Option<&str>) -> Self {
        Control::Disconnect {
            target: Target {
                room_id: room_id.into(),
                user_id: user_id.into(),
            },
            reason: reason.map(str::to_owned),
        }
    }

    pub fn room_id(&self) -> &str {
        match self {
            Control::Disconnect { target, .. } => &target.room_id,
        }
    }

    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("a control record always serialises")
    }

    pub fn check(&self) -> Result<(), String> {
        match self {
            Control::Disconnect { target, .. } if target.room_id.is_empty() || target.user_id.is_empty() => {
                Err("a disconnect needs a user_id and a room_id".into())
            }
            Control::Disconnect { .. } => Ok(()),
        }
    }
}

/// `{"hermes": "broadcast", "stream": "board_1", "data": ...}`: `data` for a stream's
/// subscribers (`Hermes.broadcast`, and Turbo Streams through the Action Cable adapter).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Broadcast {
    pub stream: String,
    pub data: Box<RawValue>,
}

/// The value of a broadcast record's `hermes` key.
pub const BROADCAST: &str = "broadcast";

impl Broadcast {
    /// `data_json` is kept byte for byte; it must be one JSON value.
    pub fn from_json(stream: impl Into<String>, data_json: String) -> Result<Self, serde_json::Error> {
        Ok(Broadcast {
            stream: stream.into(),
            data: RawValue::from_string(data_json)?,
        })
    }

    pub fn to_body(&self) -> String {
        #[derive(Serialize)]
        struct Body<'a> {
            hermes: &'static str,
            stream: &'a str,
            data: &'a RawValue,
        }
        serde_json::to_string(&Body {
            hermes: BROADCAST,
            stream: &self.stream,
            data: &self.data,
        })
        .expect("a broadcast always serialises")
    }

    /// Refuses, before it is queued, what API Gateway would refuse to deliver.
    pub fn check_size(&self) -> Result<usize, PayloadTooLarge> {
        let bytes = origin_sequenced_len(Origin::Stream(&self.stream), &self.data, None) + ID_RESERVE_BYTES;
        if bytes > MAX_MESSAGE_BYTES {
            return Err(PayloadTooLarge {
                bytes,
                limit: MAX_MESSAGE_BYTES,
            });
        }
        Ok(bytes)
    }
}

/// What an SQS body is: a broadcast or a control record has a top-level `"hermes"` key naming
/// its kind, anything else is read as a notification.
pub enum Record {
    Notification(Notification),
    Broadcast(Broadcast),
    Control(Control),
}

impl Record {
    pub fn parse(body: &str) -> Result<Record, serde_json::Error> {
        #[derive(Deserialize)]
        struct Kind<'a> {
            #[serde(borrow, default)]
            hermes: Option<std::borrow::Cow<'a, str>>,
        }
        let kind: Kind = serde_json::from_str(body)?;
        match kind.hermes.as_deref() {
            Some(BROADCAST) => serde_json::from_str(body).map(Record::Broadcast),
            Some(_) => serde_json::from_str(body).map(Record::Control),
            None => serde_json::from_str(body).map(Record::Notification),
        }
    }
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
        let bytes = sequenced_len(&self.user_id.to_string(), &self.data, None) + ID_RESERVE_BYTES;
        if bytes > MAX_MESSAGE_BYTES {
            return Err(PayloadTooLarge {
                bytes,
                limit: MAX_MESSAGE_BYTES,
            });
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{encode_frame, encode_origin_frame};
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
    fn control_records_have_no_notification_fields() {
        let c = Control::disconnect("42", "ACME", Some("revoked"));
        let v: Value = serde_json::from_str(&c.to_body()).unwrap();
        assert_eq!(
            v,
            json!({"hermes": "disconnect", "target": {"room_id": "ACME", "user_id": "42"}, "reason": "revoked"})
        );
        for seed_field in ["user_id", "room_id", "data"] {
            assert!(v.get(seed_field).is_none(), "{seed_field} at the top level");
        }
        assert!(matches!(Record::parse(&c.to_body()).unwrap(), Record::Control(x) if x == c));
        let n = Notification::new(1, "R", json!({"hermes": "not a control"}));
        assert!(matches!(
            Record::parse(&n.to_body()).unwrap(),
            Record::Notification(_)
        ));
        assert!(Record::parse(r#"{"hermes": "explode"}"#).is_err());
        assert!(Record::parse(r#"{"hermes": "disconnect", "target": {"room_id": "R"}}"#).is_err());
        assert!(Control::disconnect("", "R", None).check().is_err());
    }

    #[test]
    fn broadcasts_are_records_of_their_own_and_stream_frames_name_the_stream() {
        let b = Broadcast::from_json("board_1", r#""<turbo-stream action=\"remove\">""#.into()).unwrap();
        let body = b.to_body();
        assert_eq!(
            body,
            r#"{"hermes":"broadcast","stream":"board_1","data":"<turbo-stream action=\"remove\">"}"#
        );
        let v: Value = serde_json::from_str(&body).unwrap();
        for seed_field in ["user_id", "room_id"] {
            assert!(v.get(seed_field).is_none(), "{seed_field} at the top level");
        }
        assert!(matches!(Record::parse(&body).unwrap(), Record::Broadcast(x) if x.stream == "board_1"));
        assert!(
            Record::parse(r#"{"hermes": "broadcast", "stream": "s"}"#).is_err(),
            "no data"
        );
        let f = encode_origin_frame(Origin::Stream("board_1"), &b.data, Some("m"), Some((3, "e")));
        assert_eq!(
            String::from_utf8(f).unwrap(),
            r#"{"stream":"board_1","data":"<turbo-stream action=\"remove\">","id":"m","seq":3,"epoch":"e"}"#
        );
        let big = Broadcast::from_json(
            "s",
            serde_json::to_string(&"x".repeat(MAX_MESSAGE_BYTES)).unwrap(),
        )
        .unwrap();
        assert!(big.check_size().is_err());
    }

    #[test]
    fn oversize_is_refused_at_the_limit() {
        let ok = Notification::new(1, "r", json!("x".repeat(MAX_MESSAGE_BYTES - 300)));
        assert!(ok.check_size().is_ok());
        let big = Notification::new(1, "r", json!("x".repeat(MAX_MESSAGE_BYTES)));
        let e = big.check_size().unwrap_err();
        assert!(e.bytes > MAX_MESSAGE_BYTES);
        assert!(e.to_string().contains("131072"), "{e}");
    }
}
