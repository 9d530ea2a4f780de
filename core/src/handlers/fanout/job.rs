//! What is left of one fan-out: the in-memory form a continuation record carries.

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::store::RoomMember;

/// Where reading a room resumes: after this connection id (the Query's ExclusiveStartKey), or
/// at the start.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

/// Who a fan-out reaches: a room's connections (read through the room index), or a stream's
/// subscribers (read from the subscriptions table).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Audience {
    Room(String),
    Stream(String),
}

impl Audience {
    /// The room id or the stream name.
    pub fn key(&self) -> &str {
        match self {
            Audience::Room(k) | Audience::Stream(k) => k,
        }
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Audience::Room(r) => write!(f, "room {r}"),
            Audience::Stream(s) => write!(f, "stream {s}"),
        }
    }
}

/// What each connection of the job gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// PostToConnection of these bytes.
    Post(Bytes),
    /// DeleteConnection: the socket is closed (a revoked token, `Hermes.disconnect`).
    Close,
}

/// What is left of one message's fan-out (or of closing one user's sockets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub audience: Audience,
    /// Only this user's connections in the room.
    pub target_user: Option<String>,
    pub action: Action,
    /// Where the part of the room not read yet starts; `None` when the room has been read
    /// and only `pending` is left.
    pub read: Option<Cursor>,
    /// Connections read before (target user already applied) and not yet reached, or to try
    /// again.
    pub pending: Vec<String>,
    /// How many times connections that used up their attempts were carried over.
    pub round: u32,
    /// When the message was first queued (ms since 1970, SQS's SentTimestamp): carried on
    /// by continuations, so its age at its last post is measured wherever that post is.
    pub enqueued_at: Option<u64>,
}

impl Job {
    /// The whole audience (or the target user's connections in it), not read yet.
    pub fn new(audience: Audience, target_user: Option<String>, action: Action) -> Self {
        Job {
            audience,
            target_user,
            action,
            read: Some(Cursor::default()),
            pending: Vec::new(),
            round: 0,
            enqueued_at: None,
        }
    }

    /// A frame for the whole audience (or the target user's connections in it).
    pub fn post(audience: Audience, target_user: Option<String>, frame: Bytes) -> Self {
        Job::new(audience, target_user, Action::Post(frame))
    }

    /// The connection ids of a page this job wants: all, or the target user's.
    pub fn wanted(&self, members: Vec<RoomMember>) -> impl Iterator<Item = String> + '_ {
        members.into_iter().filter_map(move |m| {
            self.target_user
                .as_deref()
                .is_none_or(|u| m.user_id == u)
                .then_some(m.connection_id)
        })
    }

    /// The same job for other connections: `pending` instead of this one's, and where reading
    /// resumes (`None`: nothing more to read).
    pub fn part(&self, pending: Vec<String>, read: Option<Cursor>, round: u32) -> Job {
        Job {
            audience: self.audience.clone(),
            target_user: self.target_user.clone(),
            action: self.action.clone(),
            read,
            pending,
            round,
            enqueued_at: self.enqueued_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(c: &str, u: &str) -> RoomMember {
        RoomMember {
            connection_id: c.into(),
            user_id: u.into(),
        }
    }

    #[test]
    fn a_targeted_job_wants_only_its_users_connections() {
        let page = vec![member("a", "1"), member("b", "2"), member("c", "1")];
        let all = Job::post(Audience::Room("R".into()), None, Bytes::from_static(b"{}"));
        assert_eq!(all.wanted(page.clone()).collect::<Vec<_>>(), ["a", "b", "c"]);
        let one = Job::new(Audience::Room("R".into()), Some("1".into()), Action::Close);
        assert_eq!(one.wanted(page).collect::<Vec<_>>(), ["a", "c"]);
    }
}
