//! `subscribe`, `unsubscribe` and a stream's presence. A socket subscribes only with names the
//! app signed (`stream_name.rs`); the connection row keeps its streams (so `$disconnect` finds
//! them) under two bounds, streams per socket and subscription changes per second, checked by
//! the same conditional write that records the change.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use serde_json::{json, Map, Value};

use super::recovery::Channel;
use super::request::{Position, StreamEntry, MAX_STREAMS_PER_FRAME};
use super::routes::tell;
use super::Sender;
use crate::frame::{error_frame, error_frame_with, stream_presence_frame};
use crate::handlers::response;
use crate::names::routes;
use crate::push::Pusher;
use crate::store::history::now_ms;
use crate::store::{Connection, StreamsChange, Subscription};

/// What one socket may ask of streams.
#[derive(Clone, Copy, Debug)]
pub struct StreamLimits {
    /// Streams one socket holds at once (at most `MAX_STREAMS_PER_FRAME`).
    pub max_per_socket: usize,
    /// The least time between two of a socket's `subscribe`/`unsubscribe` frames.
    pub min_interval: Duration,
}

impl Default for StreamLimits {
    /// 50 streams, 10 changes a second: a page's Turbo Stream sources come in one frame, and a
    /// visit's changes in two (the browser client batches them).
    fn default() -> Self {
        StreamLimits {
            max_per_socket: MAX_STREAMS_PER_FRAME,
            min_interval: Duration::from_millis(100),
        }
    }
}

/// A stream the socket named with a name this app signed.
#[derive(Debug, Clone)]
pub(super) struct Named {
    /// As the page sent it.
    pub signed: String,
    pub stream: String,
    pub position: Option<Position>,
}

impl Sender {
    /// The entries whose names this app signed, each stream once; an error frame for each of
    /// the others (the frame names the refused name, never the stream inside it).
    pub(super) async fn verify_names(
        &self,
        pusher: &dyn Pusher,
        connection_id: &str,
        action: &str,
        entries: Vec<StreamEntry>,
    ) -> Vec<Named> {
        // Every name of the frame refused at once, for a reason that is the server's.
        let refuse_all = |why: &'static str| async move {
            tell(
                pusher,
                connection_id,
                &error_frame_with(why, extra(action, None)),
                action,
            )
            .await;
            Vec::new()
        };
        let Some(streams) = &self.streams else {
            return refuse_all(
                "streams are not set up on this server (no stream key or subscriptions table)",
            )
            .await;
        };
        let keys = match streams.key.get().await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::error!(connection_id, error = %e, "no key to check stream names with");
                return refuse_all(
                    "the server cannot check stream names now (its keys are unavailable); try again",
                )
                .await;
            }
        };
        let mut seen = BTreeSet::new();
        let mut named = Vec::with_capacity(entries.len());
        for e in entries {
            match keys.verify(&e.name) {
                Ok(stream) => {
                    if seen.insert(stream.clone()) {
                        named.push(Named {
                            signed: e.name,
                            stream,
                            position: e.position,
                        });
                    }
                }
                Err(why) => {
                    tracing::warn!(connection_id, error = %why, "stream name refused");
                    let frame = error_frame_with(&why.to_string(), extra(action, Some(&e.name)));
                    tell(pusher, connection_id, &frame, action).await;
                }
            }
        }
        named
    }

    /// Subscribes the socket to `named`: the connection row first (the bounds), then one item a
    /// stream. `false`, with an error frame sent, when a bound refused them all.
    pub(super) async fn subscribe(
        &self,
        pusher: &dyn Pusher,
        sender: &Connection,
        action: &str,
        named: &[Named],
    ) -> bool {
        let Some(streams) = &self.streams else {
            return false;
        };
        let connection_id = sender.connection_id.as_str();
        let names: Vec<String> = named.iter().map(|n| n.stream.clone()).collect();
        let limits = streams.limits;
        let change = self
            .connections
            .add_streams(
                connection_id,
                &names,
                limits.max_per_socket,
                now_ms(),
                limits.min_interval.as_millis() as u64,
            )
            .await;
        if !self.changed(pusher, connection_id, action, change).await {
            return false;
        }
        let items: Vec<Subscription> = names
            .iter()
            .map(|stream| Subscription {
                stream: stream.clone(),
                connection_id: connection_id.to_owned(),
                user_id: (!sender.user_id.is_empty()).then(|| sender.user_id.clone()),
                expires_at: sender.expires_at,
            })
            .collect();
        if let Err(e) = streams.subscriptions.put(&items).await {
            tracing::error!(connection_id, error = %e, "subscribing failed");
            let frame = error_frame_with("subscribing failed; try again", extra(action, None));
            tell(pusher, connection_id, &frame, action).await;
            return false;
        }
        tracing::info!(connection_id, streams = names.len(), "subscribed");
        true
    }

    /// Whether the connection row took the change; an error frame naming the bound otherwise.
    async fn changed(
        &self,
        pusher: &dyn Pusher,
        connection_id: &str,
        action: &str,
        change: Result<StreamsChange, crate::store::StoreError>,
    ) -> bool {
        let (why, mut more) = match change {
            Ok(StreamsChange::Done) => return true,
            Ok(StreamsChange::TooMany { held, max }) => (
                format!("{action} refused: a socket holds at most {max} streams ({held} now)"),
                Map::new(),
            ),
            Ok(StreamsChange::TooSoon { retry_after_ms }) => {
                let per_second = self
                    .streams
                    .as_ref()
                    .map_or(0, |s| 1000 / (s.limits.min_interval.as_millis().max(1) as u64));
                let mut m = Map::new();
                m.insert("retry_after_ms".into(), json!(retry_after_ms));
                (
                    format!("{action} refused: at most {per_second} subscribe/unsubscribe frames a second per socket"),
                    m,
                )
            }
            Ok(StreamsChange::NoConnection) => return false,
            Err(e) => {
                tracing::error!(connection_id, error = %e, "changing the socket's streams failed");
                (format!("{action} failed; try again"), Map::new())
            }
        };
        more.extend(extra(action, None));
        tracing::warn!(connection_id, error = why, "streams change refused");
        tell(pusher, connection_id, &error_frame_with(&why, more), action).await;
        false
    }

    pub(super) async fn route_subscribe(
        &self,
        pusher: &dyn Pusher,
        sender: &Connection,
        entries: Vec<StreamEntry>,
    ) -> ApiGatewayProxyResponse {
        let named = self
            .verify_names(pusher, &sender.connection_id, routes::SUBSCRIBE, entries)
            .await;
        if named.is_empty() || !self.subscribe(pusher, sender, routes::SUBSCRIBE, &named).await {
            return response(400, "Not subscribed.");
        }
        let (at, fresh): (Vec<Named>, Vec<Named>) = named.into_iter().partition(|n| n.position.is_some());
        if !fresh.is_empty() {
            self.answer_subscribed(pusher, &sender.connection_id, &fresh)
                .await;
        }
        if at.is_empty() {
            return response(200, "Subscribed.");
        }
        // Streams the page already had a position in are recovered from there.
        let channels = at.into_iter().map(Channel::stream).collect();
        self.recover_channels(pusher, sender, channels).await
    }

    /// `{"hermes": "subscribed", "streams": [{"name", "stream", "epoch", "seq"}]}`: where each
    /// stream's history stands, for the page to recover from after a reconnect.
    pub(super) async fn answer_subscribed(&self, pusher: &dyn Pusher, connection_id: &str, named: &[Named]) {
        let history = self
            .history
            .is_some()
            .then(|| self.streams.as_ref().map(|s| &s.history))
            .flatten();
        let positions = futures::future::join_all(named.iter().map(|n| async move {
            match history {
                Some(h) => h.position(&n.stream).await.ok().flatten(),
                None => None,
            }
        }))
        .await;
        let streams: Vec<Value> = named
            .iter()
            .zip(positions)
            .map(|(n, c)| {
                json!({
                    "name": n.signed,
                    "stream": n.stream,
                    "epoch": c.as_ref().map(|c| c.epoch.clone()),
                    "seq": c.map_or(0, |c| c.last_seq),
                })
            })
            .collect();
        let frame =
            serde_json::to_vec(&json!({"hermes": "subscribed", "streams": streams})).expect("serialises");
        tell(pusher, connection_id, &frame, routes::SUBSCRIBE).await;
    }

    pub(super) async fn route_unsubscribe(
        &self,
        pusher: &dyn Pusher,
        sender: &Connection,
        names: Vec<String>,
    ) -> ApiGatewayProxyResponse {
        let connection_id = sender.connection_id.as_str();
        let entries = names
            .into_iter()
            .map(|name| StreamEntry { name, position: None })
            .collect();
        let named = self
            .verify_names(pusher, connection_id, routes::UNSUBSCRIBE, entries)
            .await;
        let Some(streams) = self.streams.as_ref().filter(|_| !named.is_empty()) else {
            return response(400, "Not unsubscribed.");
        };
        let names: Vec<String> = named.iter().map(|n| n.stream.clone()).collect();
        let change = self
            .connections
            .remove_streams(
                connection_id,
                &names,
                now_ms(),
                streams.limits.min_interval.as_millis() as u64,
            )
            .await;
        if !self
            .changed(pusher, connection_id, routes::UNSUBSCRIBE, change)
            .await
        {
            return response(400, "Not unsubscribed.");
        }
        if let Err(e) = streams.subscriptions.delete(connection_id, &names).await {
            // The items left still bring this socket the streams' frames (the browser client
            // drops frames of streams it does not hold) until the page tries again, as the
            // error frame asks, or the socket closes and the items expire.
            tracing::error!(connection_id, error = %e, "unsubscribing failed");
            let frame = error_frame_with(
                "unsubscribing failed; try again",
                extra(routes::UNSUBSCRIBE, None),
            );
            tell(pusher, connection_id, &frame, routes::UNSUBSCRIBE).await;
            return response(500, "Failed to unsubscribe.");
        }
        let list: Vec<Value> = named
            .iter()
            .map(|n| json!({"name": n.signed, "stream": n.stream}))
            .collect();
        let frame =
            serde_json::to_vec(&json!({"hermes": "unsubscribed", "streams": list})).expect("serialises");
        tell(pusher, connection_id, &frame, routes::UNSUBSCRIBE).await;
        response(200, "Unsubscribed.")
    }

    pub(super) async fn route_stream_presence(
        &self,
        pusher: &dyn Pusher,
        sender: &Connection,
        signed: &str,
    ) -> ApiGatewayProxyResponse {
        let connection_id = sender.connection_id.as_str();
        let entry = vec![StreamEntry {
            name: signed.to_owned(),
            position: None,
        }];
        let named = self
            .verify_names(pusher, connection_id, routes::PRESENCE, entry)
            .await;
        let (Some(n), Some(streams)) = (named.first(), &self.streams) else {
            return response(400, "No presence.");
        };
        match streams.subscriptions.all(&n.stream).await {
            Ok(members) => {
                let count = members.len();
                let users: BTreeSet<String> = members
                    .into_iter()
                    .map(|m| m.user_id)
                    .filter(|u| !u.is_empty())
                    .collect();
                let users: Vec<String> = users.into_iter().collect();
                tell(
                    pusher,
                    connection_id,
                    &stream_presence_frame(&n.stream, &users, count),
                    routes::PRESENCE,
                )
                .await;
                response(200, "Presence sent.")
            }
            Err(e) => {
                tracing::error!(connection_id, error = %e, "stream presence failed");
                tell(
                    pusher,
                    connection_id,
                    &error_frame("presence failed; try again"),
                    routes::PRESENCE,
                )
                .await;
                response(500, "Failed to read presence.")
            }
        }
    }
}

/// An error frame's `action` and, when one name is refused, that `name`.
fn extra(action: &str, name: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("action".into(), json!(action));
    if let Some(name) = name {
        m.insert("name".into(), json!(name));
    }
    m
}
