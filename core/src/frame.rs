//! What travels: the SQS body (`{"user_id", "room_id", "data"}`) and the frame a browser
//! receives (`{"user_id": "<sender>", "data": ...}`, plus an `id` for de-duplication and the
//! room's `seq`/`epoch` for recovery). Everything else, both ways, is a control message: a
//! top-level `"hermes"` key names its kind, and it never has a `data` key (docs/protocol.md).
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
/// Epochs are made by `store::new_epoch` (16 characters); longer ones are refused.
pub const MAX_EPOCH_BYTES: usize = 32;
/// Room kept for `,"seq":<u64>,"epoch":"<epoch>"`.
const POSITION_RESERVE_BYTES: usize = 7 + 20 + 11 + MAX_EPOCH_BYTES;

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
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    epoch: Option<&'a str>,
}

/// A stream's frame: `{"stream", "data", "id", "seq", "epoch"}` (no sender: a broadcast comes
/// from the app).
#[derive(Serialize)]
struct StreamFrame<'a> {
    stream: &'a str,
    data: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    epoch: Option<&'a str>,
}

/// Whose frame it is: a user's in a room (the seed's `user_id`), or a stream's.
#[derive(Clone, Copy, Debug)]
pub enum Origin<'a> {
    User(&'a str),
    Stream(&'a str),
}

/// The frame of `origin` with `data`, placed at `at` (seq, epoch) in its history if it has one.
pub fn encode_origin_frame(
    origin: Origin<'_>,
    data: &RawValue,
    id: Option<&str>,
    at: Option<(u64, &str)>,
) -> Vec<u8> {
    let (seq, epoch) = (at.map(|(s, _)| s), at.map(|(_, e)| e));
    match origin {
        Origin::User(sender) => encode_frame_at(sender, data, id, at),
        Origin::Stream(stream) => serde_json::to_vec(&StreamFrame {
            stream,
            data,
            id,
            seq,
            epoch,
        })
        .expect("a JSON value always serialises"),
    }
}

/// The size of `origin`'s frame once sequenced, with room for any seq and epoch.
pub fn origin_sequenced_len(origin: Origin<'_>, data: &RawValue, id: Option<&str>) -> usize {
    encode_origin_frame(origin, data, id, None).len() + POSITION_RESERVE_BYTES
}

/// A frame with no place in a history (history off).
pub fn encode_frame(sender: &str, data: &RawValue, id: Option<&str>) -> Vec<u8> {
    encode_frame_at(sender, data, id, None)
}

/// `{"user_id", "data", "id", "seq", "epoch"}`: the bytes posted, and stored as they are in the
/// history so a recovery replays them byte for byte.
pub fn encode_frame_at(sender: &str, data: &RawValue, id: Option<&str>, at: Option<(u64, &str)>) -> Vec<u8> {
    serde_json::to_vec(&Frame {
        user_id: sender,
        data,
        id,
        seq: at.map(|(s, _)| s),
        epoch: at.map(|(_, e)| e),
    })
    .expect("a JSON value always serialises")
}

/// The size a frame will have once sequenced, with room for any seq and epoch: checked before a
/// seq is handed out, so an oversize message never consumes one.
pub fn sequenced_len(sender: &str, data: &RawValue, id: Option<&str>) -> usize {
    encode_frame(sender, data, id).len() + POSITION_RESERVE_BYTES
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

/// `{"hermes": "recovered", "recovered": true|false, "epoch": "...", "seq": <latest>}`
pub fn recovered_frame(recovered: bool, epoch: &str, seq: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "hermes": "recovered", "recovered": recovered, "epoch": epoch, "seq": seq
    }))
    .expect("serialises")
}

/// `{"hermes": "presence", "room_id": "...", "users": [...], "connections": <n>}`
pub fn presence_frame(room_id: &str, users: &[String], connections: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "hermes": "presence", "room_id": room_id, "users": users, "connections": connections
    }))
    .expect("serialises")
}

/// `{"hermes": "error", "error": "..."}`: the answer to a frame the server cannot act on.
pub fn error_frame(message: &str) -> Vec<u8> {
    error_frame_with(message, serde_json::Map::new())
}

/// An error frame with more to say: the `action` it answers, the signed `name` it refuses,
/// when to try again (`retry_after_ms`).
pub fn error_frame_with(message: &str, mut extra: serde_json::Map<String, Value>) -> Vec<u8> {
    extra.insert("hermes".into(), "error".into());
    extra.insert("error".into(), message.into());
    serde_json::to_vec(&extra).expect("serialises")
}

/// `{"hermes": "recovered", "stream": "...", "name": "<signed>", "recovered": ..., "epoch", "seq"}`:
/// a stream's recovery answer.
pub fn recovered_stream_frame(stream: &str, name: &str, recovered: bool, epoch: &str, seq: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "hermes": "recovered", "stream": stream, "name": name, "recovered": recovered, "epoch": epoch, "seq": seq
    }))
    .expect("serialises")
}

/// `{"hermes": "presence", "stream": "...", "users": [...], "connections": <n>}`
pub fn stream_presence_frame(stream: &str, users: &[String], connections: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "hermes": "presence", "stream": stream, "users": users, "connections": connections
    }))
    .expect("serialises")
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
    fn sequenced_frame_keeps_the_seed_fields_first() {
        let f = encode_frame_at("42", &raw(&json!({"a": 1})), Some("m-1"), Some((7, "e1")));
        assert_eq!(
            String::from_utf8(f).unwrap(),
            r#"{"user_id":"42","data":{"a":1},"id":"m-1","seq":7,"epoch":"e1"}"#
        );
        let longest = encode_frame_at(
            "42",
            &raw(&json!(1)),
            None,
            Some((u64::MAX, &"e".repeat(MAX_EPOCH_BYTES))),
        );
        assert_eq!(longest.len(), sequenced_len("42", &raw(&json!(1)), None));
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
    fn control_frames_are_marked_and_carry_no_data() {
        for f in [
            recovered_frame(true, "e", 3),
            presence_frame("R", &["1".into()], 2),
            error_frame("nope"),
        ] {
            let v: Value = serde_json::from_slice(&f).unwrap();
            assert!(v["hermes"].is_string() && v.get("data").is_none(), "{v}");
        }
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
