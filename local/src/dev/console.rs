//! `GET /_hermes/console`: what the demo page's console shows, as JSON. The open sockets (each
//! with its connection id, user, room, when it connected and its streams), the rooms and the
//! streams they make up, and the last frames posted through the management API
//! (`frames.rs`).
//!
//! Bounded whatever the clients do: at most `LISTED` sockets, rooms and streams are listed,
//! every name or id cut to `NAME_BYTES`, at most `STREAMS_PER_SOCKET` streams and `USERS` users
//! per entry. Counting the rooms and streams reads every socket's row but keeps at most
//! `TRACKED` distinct ones of each (keyed by a hash of the whole name, so two names sharing
//! their first bytes stay apart); past that the count says it is a floor (`"more": true`).
//! One answer is built at a time, and a request within `FRESH` of the last answer gets the
//! same bytes: a page polling, or many, cost at most one build per `FRESH`.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};

use super::guard::DevRead;
use crate::clock::iso8601;
use crate::frames::{self, head};
use crate::state::App;

/// Sockets, rooms and streams listed (the largest rooms and streams, the newest sockets).
pub(crate) const LISTED: usize = 100;
/// Distinct rooms, and distinct streams, counted.
pub(crate) const TRACKED: usize = 1000;
/// Users listed per room or stream.
pub(crate) const USERS: usize = 20;
/// Streams listed per socket.
pub(crate) const STREAMS_PER_SOCKET: usize = 10;
/// Names and ids are cut to this many bytes.
pub(crate) const NAME_BYTES: usize = 120;
/// How long an answer is served again.
pub(crate) const FRESH: Duration = Duration::from_millis(200);

pub(crate) async fn console(State(app): State<Arc<App>>, _: DevRead) -> Response {
    let mut last = app.console.lock().await;
    let body = match &*last {
        Some((at, body)) if at.elapsed() < FRESH => body.clone(),
        _ => {
            let body = Bytes::from(build(&app).await.to_string());
            *last = Some((Instant::now(), body.clone()));
            body
        }
    };
    drop(last);
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A room or a stream: its sockets and some of its users.
struct Tally {
    name: String,
    sockets: usize,
    users: BTreeSet<String>,
    more_users: bool,
}

/// Rooms, or streams, by a hash of their whole name; at most `TRACKED`.
struct Tallies {
    hasher: RandomState,
    by_name: HashMap<u64, Tally>,
    more: bool,
}

impl Tallies {
    fn new() -> Self {
        Tallies {
            hasher: RandomState::new(),
            by_name: HashMap::new(),
            more: false,
        }
    }

    fn count(&mut self, name: &str, user: &str) {
        let key = self.hasher.hash_one(name);
        if !self.by_name.contains_key(&key) && self.by_name.len() >= TRACKED {
            self.more = true;
            return;
        }
        let t = self.by_name.entry(key).or_insert_with(|| Tally {
            name: cut(name),
            sockets: 0,
            users: BTreeSet::new(),
            more_users: false,
        });
        t.sockets += 1;
        if user.is_empty() {
            return;
        }
        let user = cut(user);
        if t.users.len() < USERS {
            t.users.insert(user);
        } else if !t.users.contains(&user) {
            t.more_users = true;
        }
    }

    /// The `LISTED` largest, as JSON under `field`.
    fn json(self, field: &str) -> Value {
        let count = self.by_name.len();
        let mut all: Vec<Tally> = self.by_name.into_values().collect();
        all.sort_by(|a, b| b.sockets.cmp(&a.sockets).then_with(|| a.name.cmp(&b.name)));
        let listed: Vec<Value> = all
            .into_iter()
            .take(LISTED)
            .map(|t| {
                json!({
                    field: t.name,
                    "sockets": t.sockets,
                    "users": t.users,
                    "more_users": t.more_users,
                })
            })
            .collect();
        json!({ "count": count, "more": self.more, "listed": listed })
    }
}

fn cut(s: &str) -> String {
    let h = head(s, NAME_BYTES);
    if h.len() < s.len() {
        format!("{h}…")
    } else {
        h.to_owned()
    }
}

fn or_null(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        cut(s).into()
    }
}

async fn build(app: &App) -> Value {
    let mut open = app.sockets.all();
    // Newest first: the sockets a developer just opened are the ones listed.
    open.sort_by(|a, b| {
        b.1.peer
            .connected_at
            .cmp(&a.1.peer.connected_at)
            .then_with(|| a.0.cmp(&b.0))
    });
    let (mut rooms, mut streams) = (Tallies::new(), Tallies::new());
    let mut listed = Vec::with_capacity(open.len().min(LISTED));
    for (i, (id, live)) in open.iter().enumerate() {
        // A socket between its upgrade and its row, or closing: listed without them.
        let row = app.connections.get(id).await.ok().flatten();
        if let Some(row) = &row {
            if !row.room_id.is_empty() {
                rooms.count(&row.room_id, &row.user_id);
            }
            for s in &row.streams {
                streams.count(s, &row.user_id);
            }
        }
        if i < LISTED {
            let (user, room, names) = row
                .as_ref()
                .map_or(("", "", &[][..]), |r| (&*r.user_id, &*r.room_id, &r.streams[..]));
            let shown: Vec<String> = names.iter().take(STREAMS_PER_SOCKET).map(|s| cut(s)).collect();
            listed.push(json!({
                "connection_id": cut(id),
                "user_id": or_null(user),
                "room_id": or_null(room),
                "connected_at": iso8601(live.peer.connected_at),
                "streams": shown,
                "streams_count": names.len(),
                "queued_bytes": live.queued_bytes(),
            }));
        }
    }
    let (posted, total) = app.frames.newest_first();
    let frames: Vec<Value> = posted
        .into_iter()
        .map(|f| {
            json!({
                "at": iso8601(f.at),
                "connection_id": f.connection_id,
                "bytes": f.bytes,
                "preview": f.preview,
                "cut": f.cut,
                "status": f.status,
            })
        })
        .collect();
    json!({
        "stage": app.opts.stage,
        "sockets": { "count": open.len(), "listed": listed },
        "rooms": rooms.json("room_id"),
        "streams": streams.json("stream"),
        "frames": { "posted": total, "listed": frames },
        "limits": {
            "listed": LISTED,
            "tracked": TRACKED,
            "users": USERS,
            "streams_per_socket": STREAMS_PER_SOCKET,
            "name_bytes": NAME_BYTES,
            "frames": frames::MAX_ENTRIES,
            "frame_bytes": frames::MAX_BYTES,
            "preview_bytes": frames::PREVIEW_BYTES,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_keep_at_most_their_bound_and_say_so() {
        let mut t = Tallies::new();
        for i in 0..TRACKED + 50 {
            t.count(&format!("room{i}"), "1");
        }
        t.count("room0", "2");
        let v = t.json("room_id");
        assert_eq!(v["count"], TRACKED);
        assert_eq!(v["more"], true);
        assert_eq!(v["listed"].as_array().unwrap().len(), LISTED);
        assert_eq!(v["listed"][0]["room_id"], "room0");
        assert_eq!(v["listed"][0]["sockets"], 2);
        assert_eq!(v["listed"][0]["users"], json!(["1", "2"]));
    }

    #[test]
    fn long_names_are_cut_but_counted_apart() {
        let mut t = Tallies::new();
        let (a, b) = ("x".repeat(2000) + "a", "x".repeat(2000) + "b");
        t.count(&a, "");
        t.count(&b, "");
        for u in 0..USERS + 5 {
            t.count(&a, &format!("user{u}"));
        }
        let v = t.json("stream");
        assert_eq!(v["count"], 2);
        let first = &v["listed"][0];
        assert_eq!(first["sockets"], USERS + 6);
        assert_eq!(first["users"].as_array().unwrap().len(), USERS);
        assert_eq!(first["more_users"], true);
        assert_eq!(first["stream"].as_str().unwrap().len(), NAME_BYTES + "…".len());
    }
}
