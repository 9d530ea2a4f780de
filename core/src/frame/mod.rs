//! What travels: the frame a browser receives (`{"user_id": "<sender>", "data": ...}`, or
//! `{"stream": ..., "data": ...}` for a stream's, plus an `id` for de-duplication and the
//! `seq`/`epoch` of its history for recovery), the answers to a page's own frames, and (in
//! `record.rs`) what the queue carries. Every answer has a top-level `"hermes"` key naming its
//! kind and no `data` key (docs/protocol.md).
//! `data` is carried as raw JSON text from the producer to the browser: the bytes Ruby's
//! JSON.generate wrote are the bytes the page parses (key order, float spelling and all), and
//! the send handler never re-encodes it.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

mod record;

pub use record::{Broadcast, Control, Notification, Record, Target, BROADCAST};

/// API Gateway's WebSocket message limit.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
/// Room kept in the size check for the `id` the send handler adds (an SQS message id is 36 bytes).
const ID_RESERVE_BYTES: usize = 96;
/// Epochs are made by `store::new_epoch` (16 characters); longer ones are refused.
pub const MAX_EPOCH_BYTES: usize = 32;
/// Room kept for `,"seq":<u64>,"epoch":"<epoch>"`.
const POSITION_RESERVE_BYTES: usize = 7 + 20 + 11 + MAX_EPOCH_BYTES;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the message is {bytes} bytes as a WebSocket frame; API Gateway's limit is {limit} bytes")]
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

/// A JSON value as raw text, for `encode_frame` and `Notification`.
pub fn raw(v: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(v).expect("a JSON value always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frame_carries_sender_as_string() {
        let f = encode_frame("42", &raw(&json!({"a": 1})), Some("m-1"));
        assert_eq!(
            serde_json::from_slice::<Value>(&f).unwrap(),
            json!({"user_id": "42", "data": {"a": 1}, "id": "m-1"})
        );
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
}
