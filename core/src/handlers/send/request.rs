//! What a client frame asks for: its `action` and that route's fields, checked before anything
//! is read or written, with an error that names what is wrong.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::frame::MAX_EPOCH_BYTES;
use crate::names::routes;

/// The most streams one frame may name (and one socket hold: `StreamLimits::max_per_socket`
/// can only be lower).
pub const MAX_STREAMS_PER_FRAME: usize = 50;

/// Where a page stands in a room's or a stream's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub since: u64,
    pub epoch: String,
}

/// A stream named in a frame: its signed name, and where the page stands in it when the
/// stream is to be recovered too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    pub name: String,
    pub position: Option<Position>,
}

#[derive(Debug)]
pub enum Route {
    /// `{"action": "sendMessage", "data": ...}`: `data` passed on as sent (`null` if absent).
    Send(Option<Box<RawValue>>),
    /// `{"action": "recover", "since": <seq>, "epoch": "...", "streams": [...]}`: the room's
    /// recovery (when `since`/`epoch` are given) and the streams' (each subscribed first).
    Recover {
        room: Option<Position>,
        streams: Vec<StreamEntry>,
    },
    /// `{"action": "subscribe", "streams": ["<signed>" | {"name", "since", "epoch"}, ...]}`
    Subscribe(Vec<StreamEntry>),
    /// `{"action": "unsubscribe", "streams": ["<signed>", ...]}`
    Unsubscribe(Vec<String>),
    /// `{"action": "presence"}`, or `{"action": "presence", "stream": "<signed>"}`
    Presence { stream: Option<String> },
}

/// The error frame's text for a frame no route can act on.
pub fn parse(body: Option<&str>) -> Result<Route, String> {
    let actions = routes::ALL
        .iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let not_a_route = || format!("frames must be JSON objects with an \"action\": one of {actions}");
    // The action alone first: the rest of the frame, however deep, is skipped unbuilt, so what
    // a route's own fields hold cannot make the frame look like something else.
    #[derive(Deserialize)]
    struct Action<'a> {
        #[serde(borrow)]
        action: Option<Cow<'a, str>>,
    }
    let body = body
        .filter(|b| b.trim_start().starts_with('{'))
        .ok_or_else(not_a_route)?;
    let action = serde_json::from_str::<Action>(body)
        .map_err(|_| not_a_route())?
        .action
        .ok_or_else(not_a_route)?;
    // Every field read as raw JSON first: a field nested too deep for serde is then this
    // route's error, not "not a frame".
    #[derive(Deserialize)]
    struct Fields<'a> {
        #[serde(borrow)]
        data: Option<&'a RawValue>,
        #[serde(borrow)]
        since: Option<&'a RawValue>,
        #[serde(borrow)]
        epoch: Option<&'a RawValue>,
        #[serde(borrow)]
        streams: Option<&'a RawValue>,
        #[serde(borrow)]
        stream: Option<&'a RawValue>,
    }
    let fields = |route: &str| -> Result<Fields, String> {
        serde_json::from_str(body).map_err(|e| format!("{route}: {e}"))
    };
    match action.as_ref() {
        routes::SEND_MESSAGE => {
            let f = fields(routes::SEND_MESSAGE)?;
            Ok(Route::Send(f.data.map(|d| d.to_owned())))
        }
        routes::RECOVER => {
            let f = fields(routes::RECOVER)?;
            let room = position(f.since, f.epoch).map_err(|_| {
                format!(
                    "recover needs \"since\" (a seq: a whole number >= 0) and \"epoch\" (a string of at most {MAX_EPOCH_BYTES} bytes)"
                )
            })?;
            let streams = match f.streams {
                Some(s) => stream_entries(routes::RECOVER, s)?,
                None => Vec::new(),
            };
            if room.is_none() && streams.is_empty() {
                return Err(format!(
                    "recover needs \"since\" (a seq: a whole number >= 0) and \"epoch\" (a string of at most {MAX_EPOCH_BYTES} bytes), or \"streams\""
                ));
            }
            Ok(Route::Recover { room, streams })
        }
        routes::SUBSCRIBE => {
            let f = fields(routes::SUBSCRIBE)?;
            let streams = f
                .streams
                .ok_or_else(|| "subscribe needs \"streams\": a list of signed stream names".to_owned())?;
            Ok(Route::Subscribe(stream_entries(routes::SUBSCRIBE, streams)?))
        }
        routes::UNSUBSCRIBE => {
            let f = fields(routes::UNSUBSCRIBE)?;
            let streams = f
                .streams
                .ok_or_else(|| "unsubscribe needs \"streams\": a list of signed stream names".to_owned())?;
            let entries = stream_entries(routes::UNSUBSCRIBE, streams)?;
            Ok(Route::Unsubscribe(entries.into_iter().map(|e| e.name).collect()))
        }
        routes::PRESENCE => {
            let f = fields(routes::PRESENCE)?;
            let stream = match f.stream {
                None => None,
                Some(s) => Some(serde_json::from_str::<String>(s.get()).map_err(|_| {
                    "presence's \"stream\" must be a signed stream name (a string)".to_owned()
                })?),
            };
            Ok(Route::Presence { stream })
        }
        other => Err(format!("unknown action {other:?}; the actions are {actions}")),
    }
}

/// `since` and `epoch`, both or neither.
fn position(since: Option<&RawValue>, epoch: Option<&RawValue>) -> Result<Option<Position>, ()> {
    match (since, epoch) {
        (None, None) => Ok(None),
        (Some(since), Some(epoch)) => {
            let since = since.get().parse::<u64>().map_err(|_| ())?;
            let epoch = serde_json::from_str::<String>(epoch.get()).map_err(|_| ())?;
            if epoch.len() > MAX_EPOCH_BYTES {
                return Err(());
            }
            Ok(Some(Position { since, epoch }))
        }
        _ => Err(()),
    }
}

/// `"streams": ["<signed>" | {"name": "<signed>", "since": <seq>, "epoch": "..."}, ...]`, at
/// most `MAX_STREAMS_PER_FRAME`.
fn stream_entries(route: &str, raw: &RawValue) -> Result<Vec<StreamEntry>, String> {
    #[derive(Deserialize)]
    struct At<'a> {
        name: String,
        #[serde(borrow)]
        since: Option<&'a RawValue>,
        #[serde(borrow)]
        epoch: Option<&'a RawValue>,
    }
    let wanted = || {
        format!(
            "{route}'s \"streams\" must be a list of signed stream names, or of {{\"name\", \"since\", \"epoch\"}}, at most {MAX_STREAMS_PER_FRAME}"
        )
    };
    let entries: Vec<&RawValue> = serde_json::from_str(raw.get()).map_err(|_| wanted())?;
    if entries.is_empty() || entries.len() > MAX_STREAMS_PER_FRAME {
        return Err(wanted());
    }
    entries
        .into_iter()
        .map(|e| {
            if let Ok(name) = serde_json::from_str::<String>(e.get()) {
                return Ok(StreamEntry { name, position: None });
            }
            let at: At = serde_json::from_str(e.get()).map_err(|_| wanted())?;
            Ok(StreamEntry {
                name: at.name,
                position: position(at.since, at.epoch).map_err(|_| {
                    format!(
                        "{route}: a stream's \"since\" must be a seq (a whole number >= 0) and its \"epoch\" a string of at most {MAX_EPOCH_BYTES} bytes, both or neither"
                    )
                })?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The route in a line, with `sendMessage`'s data as text.
    fn route(body: &str) -> String {
        let streams = |s: &[StreamEntry]| {
            s.iter()
                .map(|e| match &e.position {
                    Some(p) => format!("{}@{}/{}", e.name, p.since, p.epoch),
                    None => e.name.clone(),
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        match parse(Some(body)).unwrap() {
            Route::Send(data) => format!("send {}", data.as_deref().map_or("-", RawValue::get)),
            Route::Recover { room, streams: s } => format!(
                "recover {} [{}]",
                room.map_or("-".into(), |p| format!("{}/{}", p.since, p.epoch)),
                streams(&s)
            ),
            Route::Subscribe(s) => format!("subscribe [{}]", streams(&s)),
            Route::Unsubscribe(names) => format!("unsubscribe [{}]", names.join(",")),
            Route::Presence { stream } => format!("presence {}", stream.as_deref().unwrap_or("-")),
        }
    }

    #[test]
    fn frames_name_their_route() {
        assert_eq!(
            route(r#"{"action":"sendMessage","data":{"a":1}}"#),
            r#"send {"a":1}"#
        );
        assert_eq!(route(r#"{"data":[1], "action":"sendMessage"}"#), "send [1]");
        assert_eq!(route(r#"{"action":"sendMessage"}"#), "send -");
        assert_eq!(
            route(r#"{"action":"recover","since":3,"epoch":"e1"}"#),
            "recover 3/e1 []"
        );
        assert_eq!(
            route(
                r#"{"action":"recover","since":3,"epoch":"e1","streams":["a--1",{"name":"b--2","since":4,"epoch":"x"}]}"#
            ),
            "recover 3/e1 [a--1,b--2@4/x]"
        );
        assert_eq!(
            route(r#"{"action":"recover","streams":[{"name":"b--2"}]}"#),
            "recover - [b--2]"
        );
        assert_eq!(
            route(r#"{"action":"subscribe","streams":["a--1","b--2"]}"#),
            "subscribe [a--1,b--2]"
        );
        assert_eq!(
            route(r#"{"action":"unsubscribe","streams":["a--1"]}"#),
            "unsubscribe [a--1]"
        );
        assert_eq!(route(r#"{"action":"presence","x":[[]]}"#), "presence -");
        assert_eq!(route(r#"{"action":"presence","stream":"a--1"}"#), "presence a--1");
        let deep = format!(
            r#"{{"action":"sendMessage","data":{}1{}}}"#,
            "[".repeat(5_000),
            "]".repeat(5_000)
        );
        assert!(matches!(parse(Some(&deep)), Ok(Route::Send(Some(_)))));
    }

    #[test]
    fn what_no_route_takes_is_named() {
        let many = format!(
            r#"{{"action":"subscribe","streams":[{}]}}"#,
            vec!["\"a--1\""; MAX_STREAMS_PER_FRAME + 1].join(",")
        );
        for (body, why) in [
            (
                None,
                "frames must be JSON objects with an \"action\": one of \"sendMessage\", \"recover\", \"presence\", \"subscribe\", \"unsubscribe\"",
            ),
            (Some("not json"), "frames must be JSON objects"),
            (Some(r#"["sendMessage"]"#), "frames must be JSON objects"),
            (Some(r#"{"data":1}"#), "frames must be JSON objects"),
            (Some(r#"{"action":"shout"}"#), "unknown action \"shout\"; the actions are"),
            (Some(r#"{"action":5}"#), "frames must be JSON objects"),
            (Some(r#"{"action":"recover","since":-1,"epoch":"e"}"#), "recover needs \"since\""),
            (Some(r#"{"action":"recover","since":1.5,"epoch":"e"}"#), "recover needs \"since\""),
            (Some(r#"{"action":"recover","since":"3","epoch":"e"}"#), "recover needs \"since\""),
            (Some(r#"{"action":"recover","since":3}"#), "recover needs \"since\""),
            (Some(r#"{"action":"recover","since":3,"epoch":7}"#), "recover needs \"since\""),
            (Some(r#"{"action":"recover"}"#), "recover needs \"since\""),
            (Some(r#"{"action":"subscribe"}"#), "subscribe needs \"streams\""),
            (Some(r#"{"action":"subscribe","streams":[]}"#), "subscribe's \"streams\" must be a list"),
            (Some(r#"{"action":"subscribe","streams":"a--1"}"#), "subscribe's \"streams\" must be a list"),
            (Some(r#"{"action":"subscribe","streams":[7]}"#), "subscribe's \"streams\" must be a list"),
            (Some(&many), "subscribe's \"streams\" must be a list"),
            (
                Some(r#"{"action":"subscribe","streams":[{"name":"a--1","since":3}]}"#),
                "subscribe: a stream's \"since\" must be a seq",
            ),
            (Some(r#"{"action":"unsubscribe"}"#), "unsubscribe needs \"streams\""),
            (Some(r#"{"action":"presence","stream":7}"#), "presence's \"stream\" must be a signed"),
        ] {
            let e = parse(body).unwrap_err();
            assert!(e.starts_with(why), "{body:?}: {e}");
        }
        let long = format!(
            r#"{{"action":"recover","since":3,"epoch":"{}"}}"#,
            "e".repeat(MAX_EPOCH_BYTES + 1)
        );
        assert!(parse(Some(&long)).unwrap_err().starts_with("recover needs"));
    }

    #[test]
    fn a_deeply_nested_field_is_named_as_its_routes() {
        let deep = format!(
            r#"{{"action":"recover","since":{}0{},"epoch":"e"}}"#,
            "[".repeat(5_000),
            "]".repeat(5_000)
        );
        assert!(parse(Some(&deep))
            .unwrap_err()
            .starts_with("recover needs \"since\""));
        let deep = format!(
            r#"{{"action":"subscribe","streams":{}0{}}}"#,
            "[".repeat(5_000),
            "]".repeat(5_000)
        );
        assert!(parse(Some(&deep))
            .unwrap_err()
            .starts_with("subscribe's \"streams\""));
    }
}
