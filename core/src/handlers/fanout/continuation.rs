//! The rest of a fan-out, as a queue record.
//!
//! A continuation carries the frame's exact bytes, whatever fields the frame has, as they were
//! first posted: it is never encoded, sequenced or written to history again (that happened once,
//! when the notification became a frame). Only the posting goes on. Beside the frame: the room,
//! the optional target user, the connections read already and not yet posted to (`pending`:
//! a room is read once, whoever posts), and where reading the room resumes when it has not been
//! read to its end (`read`: the room Query's cursor; `{}` is the start of the room).
//!
//! Like the control records (frame.rs), it has a top-level `hermes` key and no top-level
//! `user_id`, `room_id` or `data`: the seed's Node send Lambda, should it still be a consumer,
//! finds no room in it and posts nothing. The room (and the one user a targeted message is
//! for), or the stream, are under `target`.
//!
//! ```json
//! {"hermes": "continuation", "target": {"room_id": "ACME", "user_id": "42"},
//!  "read": {"after": "L0SM9cOFvHcCIhw="},
//!  "pending": ["X1ZbveegDoECFfg="], "round": 0, "sent_at": 1767225600123,
//!  "frame": {"user_id": "1", "data": {...}, "id": "..."}}
//! ```
//!
//! `sent_at` is when the notification was first queued (ms since 1970, its SQS SentTimestamp):
//! the invocation that makes a room's last post measures the notification's age from it.
//!
//! The frame travels as raw JSON (it always is JSON), so it costs no escaping and comes back
//! byte for byte. Closing a user's sockets (a disconnect record) goes on the same way, with
//! `"close": true` in place of the frame.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::job::{Action, Audience, Cursor, Job};
use crate::queue::MAX_BODY_BYTES;

/// The value of the record's `hermes` key.
pub const KIND: &str = "continuation";

/// A room (with the one user a targeted message is for) or a stream.
#[derive(Serialize, Deserialize)]
struct Target<T> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    room_id: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stream: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<T>,
}

#[derive(Serialize)]
struct Out<'a> {
    hermes: &'static str,
    target: Target<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    read: Option<&'a Cursor>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pending: &'a [String],
    round: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    sent_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frame: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    close: bool,
}

#[derive(Deserialize)]
struct In {
    target: Target<String>,
    #[serde(default)]
    read: Option<Cursor>,
    #[serde(default)]
    pending: Vec<String>,
    #[serde(default)]
    round: u32,
    #[serde(default)]
    sent_at: Option<u64>,
    #[serde(default)]
    frame: Option<Box<RawValue>>,
    #[serde(default)]
    close: bool,
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    hermes: Option<String>,
}

/// Whether a queue record is a continuation rather than a notification.
pub fn is_continuation(body: &str) -> bool {
    serde_json::from_str::<Probe>(body).is_ok_and(|p| p.hermes.as_deref() == Some(KIND))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContinuationError {
    #[error("the frame is not JSON, so it cannot be carried in a continuation")]
    FrameNotJson,
    #[error("a continuation of this frame cannot fit a queue message ({0} bytes)")]
    TooLarge(usize),
    #[error("malformed continuation record: {0}")]
    Malformed(String),
}

/// The records that carry `job`: one, or several when its pending list would not fit one
/// queue message (each with the frame; the cursor goes with the first).
pub fn encode(job: &Job) -> Result<Vec<String>, ContinuationError> {
    let frame: Option<&RawValue> = match &job.action {
        Action::Post(bytes) => {
            let text = std::str::from_utf8(bytes).map_err(|_| ContinuationError::FrameNotJson)?;
            Some(serde_json::from_str(text).map_err(|_| ContinuationError::FrameNotJson)?)
        }
        Action::Close => None,
    };
    let record = |read: Option<&Cursor>, pending: &[String]| {
        serde_json::to_string(&Out {
            hermes: KIND,
            target: Target {
                room_id: matches!(job.audience, Audience::Room(_)).then(|| job.audience.key()),
                stream: matches!(job.audience, Audience::Stream(_)).then(|| job.audience.key()),
                user_id: job.target_user.as_deref(),
            },
            read,
            pending,
            round: job.round,
            sent_at: job.enqueued_at,
            frame,
            close: frame.is_none(),
        })
        .expect("a continuation always serialises")
    };
    let base = record(job.read.as_ref(), &[]).len();
    if base > MAX_BODY_BYTES {
        return Err(ContinuationError::TooLarge(base));
    }
    let mut out = Vec::new();
    let mut read = job.read.as_ref();
    let mut start = 0;
    loop {
        // Fill this record up to the limit: `,"pending":[]` and, per id, its JSON string and a comma.
        let mut end = start;
        let mut size = base + 13;
        while end < job.pending.len() {
            let cost = serde_json::to_string(&job.pending[end]).map_or(0, |s| s.len()) + 1;
            if size + cost > MAX_BODY_BYTES {
                break;
            }
            size += cost;
            end += 1;
        }
        if end == start && start < job.pending.len() {
            return Err(ContinuationError::TooLarge(size + job.pending[start].len()));
        }
        out.push(record(read.take(), &job.pending[start..end]));
        start = end;
        if start >= job.pending.len() {
            return Ok(out);
        }
    }
}

pub fn decode(body: &str) -> Result<Job, ContinuationError> {
    let r: In = serde_json::from_str(body).map_err(|e| ContinuationError::Malformed(e.to_string()))?;
    let action = match (r.frame, r.close) {
        (Some(frame), false) => Action::Post(Bytes::from(frame.get().to_owned())),
        (None, true) => Action::Close,
        _ => {
            return Err(ContinuationError::Malformed(
                "a continuation carries either a frame or \"close\": true".into(),
            ))
        }
    };
    let audience = match (r.target.room_id, r.target.stream) {
        (Some(room), None) => Audience::Room(room),
        (None, Some(stream)) => Audience::Stream(stream),
        _ => {
            return Err(ContinuationError::Malformed(
                "a continuation's target is a room_id or a stream".into(),
            ))
        }
    };
    Ok(Job {
        audience,
        target_user: r.target.user_id,
        action,
        read: r.read,
        pending: r.pending,
        round: r.round,
        enqueued_at: r.sent_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(frame: &str) -> Job {
        Job {
            audience: Audience::Room("ACME".into()),
            target_user: Some("42".into()),
            action: Action::Post(Bytes::from(frame.to_owned())),
            read: Some(Cursor {
                after: Some("L0SM9cOFvHcCIhw=".into()),
            }),
            pending: vec!["a=".into(), "b/c".into()],
            round: 1,
            enqueued_at: Some(1_767_225_600_123),
        }
    }

    #[test]
    fn round_trips_the_frame_byte_for_byte() {
        // Spacing, key order, escapes and number spellings as the frame had them.
        let frame =
            r#"{"user_id":"1", "data":{"b":1.0e+20,"a":"caf\u00e9 \"x\""},"id":"m","seq":7,"epoch":"e1"}"#;
        let j = job(frame);
        let records = encode(&j).unwrap();
        assert_eq!(records.len(), 1);
        assert!(is_continuation(&records[0]));
        assert!(records[0].contains(frame), "embedded as is: {}", records[0]);
        // Nothing the seed's send Lambda would read as a notification.
        let top: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&records[0]).unwrap();
        for key in ["user_id", "room_id", "data"] {
            assert!(!top.contains_key(key), "{key} at the top: {}", records[0]);
        }
        assert_eq!(decode(&records[0]).unwrap(), j);
    }

    #[test]
    fn notifications_are_not_continuations() {
        assert!(!is_continuation(
            r#"{"user_id":1,"room_id":"R","data":{"hermes":"continuation"}}"#
        ));
        assert!(!is_continuation("{"));
        assert!(matches!(
            decode(r#"{"hermes":"continuation","target":{"room_id":"R"}}"#),
            Err(ContinuationError::Malformed(_))
        ));
    }

    #[test]
    fn a_long_pending_list_spreads_over_records_that_each_fit() {
        let mut j = job(&format!(r#"{{"data":"{}"}}"#, "x".repeat(120 * 1024)));
        j.pending = (0..20_000).map(|i| format!("conn-{i:010}=")).collect();
        let records = encode(&j).unwrap();
        assert!(records.len() > 1);
        let mut seen = Vec::new();
        for (i, r) in records.iter().enumerate() {
            assert!(r.len() <= MAX_BODY_BYTES, "{}", r.len());
            let d = decode(r).unwrap();
            assert_eq!(d.action, j.action);
            assert_eq!(d.read.is_some(), i == 0, "the cursor goes once");
            seen.extend(d.pending);
        }
        assert_eq!(seen, j.pending, "every pending id once, in order");
    }

    #[test]
    fn a_streams_continuation_names_its_stream() {
        let mut j = job("{}");
        j.audience = Audience::Stream("board_1".into());
        j.target_user = None;
        let records = encode(&j).unwrap();
        assert!(
            records[0].contains(r#""target":{"stream":"board_1"}"#),
            "{}",
            records[0]
        );
        assert_eq!(decode(&records[0]).unwrap(), j);
        assert!(matches!(
            decode(r#"{"hermes":"continuation","target":{"room_id":"R","stream":"S"},"frame":{}}"#),
            Err(ContinuationError::Malformed(_))
        ));
    }

    #[test]
    fn a_close_carries_no_frame() {
        let mut j = job("{}");
        j.action = Action::Close;
        let records = encode(&j).unwrap();
        let top: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&records[0]).unwrap();
        assert_eq!(top["close"], serde_json::json!(true));
        assert!(!top.contains_key("frame"));
        assert_eq!(decode(&records[0]).unwrap(), j);
        for both in [
            r#"{"hermes":"continuation","target":{"room_id":"R"},"frame":{},"close":true}"#,
            r#"{"hermes":"continuation","target":{"room_id":"R"}}"#,
        ] {
            assert!(
                matches!(decode(both), Err(ContinuationError::Malformed(_))),
                "{both}"
            );
        }
    }

    #[test]
    fn a_frame_that_is_not_json_is_refused() {
        assert_eq!(encode(&job("not json")), Err(ContinuationError::FrameNotJson));
    }
}
