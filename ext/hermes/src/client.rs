//! `Hermes::Native::Client`: one per configuration. The tokio runtime, SDK clients and the
//! bcrypt cache are built on first use and rebuilt in a forked child (Puma/Unicorn preload):
//! a runtime's threads do not survive `fork`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hermes_core::frame::Control;
use hermes_core::mint::MAX_ID_BYTES;
use hermes_core::queue::{MemoryQueue, Queue};
use hermes_core::store::{
    Connection, ConnectionStore, HistoryStore, MemoryConnectionStore, MemoryHistoryStore, MemoryTokenStore,
    TokenStore,
};
use hermes_core::{Backend, Backends, Config, Minter, Notification, UserId};
use magnus::{function, method, prelude::*, Error, Integer, RArray, RHash, RModule, RString, Ruby, Value};

use crate::errors;
use crate::nogvl::nogvl;

struct State {
    pid: u32,
    runtime: tokio::runtime::Runtime,
    minter: Minter,
    queue: Option<Arc<dyn Queue>>,
    /// Presence reads the room index of the connections table (a Query, never a Scan).
    connections: Arc<dyn ConnectionStore>,
    /// The connect tag reads a room's position (its counter) here.
    history: Arc<dyn HistoryStore>,
    /// Set on the memory backend, for the RSpec helpers.
    memory_queue: Option<Arc<MemoryQueue>>,
    memory_connections: Option<Arc<MemoryConnectionStore>>,
}

#[magnus::wrap(class = "Hermes::Native::Client", free_immediately, size)]
pub struct Client {
    config: Config,
    state: Mutex<Option<Arc<State>>>,
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    // Futures run on the calling Ruby thread (inside `block_on`, GVL released); the worker
    // drives the SDK's connection pool and bcrypt goes to the blocking pool, so two Ruby
    // threads hash in parallel.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("hermes")
        .enable_all()
        .build()
}

impl State {
    fn build(config: &Config) -> Result<State, String> {
        let runtime = runtime().map_err(|e| format!("could not start the tokio runtime: {e}"))?;
        let mut memory_queue = None;
        let mut memory_connections = None;
        let (tokens, queue, connections, history) = match config.backend() {
            Backend::Memory => {
                let q = Arc::new(MemoryQueue::default());
                let c = Arc::new(MemoryConnectionStore::new());
                memory_queue = Some(q.clone());
                memory_connections = Some(c.clone());
                let tokens: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
                let history: Arc<dyn HistoryStore> = Arc::new(MemoryHistoryStore::default());
                (
                    tokens,
                    Some(q as Arc<dyn Queue>),
                    c as Arc<dyn ConnectionStore>,
                    history,
                )
            }
            _ => {
                let b = runtime
                    .block_on(Backends::from_config(config))
                    .map_err(|e| e.to_string())?;
                (b.tokens, b.queue, b.connections, b.history)
            }
        };
        let minter = Minter::new(config, tokens).map_err(|e| e.to_string())?;
        Ok(State {
            pid: std::process::id(),
            runtime,
            minter,
            queue,
            connections,
            history,
            memory_queue,
            memory_connections,
        })
    }
}

impl Client {
    fn new(ruby: &Ruby, settings: RHash) -> Result<Self, Error> {
        let mut map: HashMap<String, String> = HashMap::new();
        settings.foreach(|k: String, v: Value| {
            if !v.is_nil() {
                map.insert(k, v.to_r_string()?.to_string()?);
            }
            Ok(magnus::r_hash::ForEach::Continue)
        })?;
        let config =
            Config::from_lookup(|name| map.get(name).cloned()).map_err(|e| errors::config(ruby, e))?;
        if config.backend() == Backend::Local {
            return Err(errors::arg(
                ruby,
                "the local backend is implemented in Ruby (Hermes::LocalBackend)",
            ));
        }
        // Fail at configuration time, not on the first page view.
        config.jwt_secret().map_err(|e| errors::config(ruby, e))?;
        config.passcode().map_err(|e| errors::config(ruby, e))?;
        Ok(Client {
            config,
            state: Mutex::new(None),
        })
    }

    /// The state for this process. Built without the GVL (it may start threads and read AWS
    /// config files); a parent's state in a forked child is leaked, never used or dropped:
    /// dropping it would join threads that do not exist in the child.
    fn state(&self, ruby: &Ruby) -> Result<Arc<State>, Error> {
        let pid = std::process::id();
        {
            let mut g = self.state.lock().unwrap();
            match g.as_ref() {
                Some(s) if s.pid == pid => return Ok(s.clone()),
                Some(_) => std::mem::forget(g.take()),
                None => {}
            }
        }
        let built = nogvl(|| State::build(&self.config))
            .map_err(|e| Error::new(ruby.exception_runtime_error(), e))?;
        let mut g = self.state.lock().unwrap();
        // Another thread may have won the race: keep the first, so there is one cache.
        Ok(g.get_or_insert_with(|| Arc::new(built)).clone())
    }

    fn generate_token(ruby: &Ruby, rb_self: &Self, user_id: Value, room_id: Value) -> Result<String, Error> {
        let (user, room) = token_args(ruby, user_id, room_id)?;
        let s = rb_self.state(ruby)?;
        nogvl(|| s.runtime.block_on(s.minter.generate_token(&user, &room))).map_err(|e| errors::mint(ruby, e))
    }

    fn compose_token(ruby: &Ruby, rb_self: &Self, user_id: Value, room_id: Value) -> Result<String, Error> {
        let (user, room) = token_args(ruby, user_id, room_id)?;
        let s = rb_self.state(ruby)?;
        nogvl(|| s.runtime.block_on(s.minter.compose_token(&user, &room)))
            .map(|c| c.token)
            .map_err(|e| errors::mint(ruby, e))
    }

    /// Deletes the stored hash, then queues the disconnect that closes the user's open sockets
    /// in the room (the send function holds ManageConnections; the app does not need it).
    fn revoke_token(ruby: &Ruby, rb_self: &Self, user_id: Value, room_id: Value) -> Result<bool, Error> {
        let (user, room) = token_args(ruby, user_id, room_id)?;
        let s = rb_self.state(ruby)?;
        let q = Self::queue(ruby, &s)?;
        let close = Control::disconnect(user.to_string(), &room, Some("revoked"));
        let revoked =
            nogvl(|| s.runtime.block_on(s.minter.revoke(&user, &room))).map_err(|e| errors::mint(ruby, e))?;
        nogvl(|| s.runtime.block_on(q.send_control(&close)))
            .map_err(|e| errors::queue_after_revoke(ruby, e))?;
        Ok(revoked)
    }

    /// Queues a disconnect: the user's open sockets in the room are closed, its token kept.
    fn disconnect(ruby: &Ruby, rb_self: &Self, user_id: Value, room_id: Value) -> Result<String, Error> {
        let user = user_id_arg(ruby, user_id)?.to_string();
        let room = room_arg(ruby, room_id, "room_id")?;
        id_bounds(ruby, &user, "user_id")?;
        id_bounds(ruby, &room, "room_id")?;
        let close = Control::disconnect(user, room, Some("disconnect"));
        let s = rb_self.state(ruby)?;
        let q = Self::queue(ruby, &s)?;
        nogvl(|| s.runtime.block_on(q.send_control(&close))).map_err(|e| errors::queue(ruby, e))
    }

    /// The room's distinct user ids, sorted: a Query on the room index.
    fn presence(ruby: &Ruby, rb_self: &Self, room_id: Value) -> Result<Vec<String>, Error> {
        let room = room_arg(ruby, room_id, "room_id")?;
        id_bounds(ruby, &room, "room_id")?;
        let s = rb_self.state(ruby)?;
        nogvl(|| {
            s.runtime
                .block_on(hermes_core::handlers::presence(&*s.connections, &room))
        })
        .map(|(users, _)| users)
        .map_err(|e| errors::store(ruby, e))
    }

    /// Where the room's history stands: `[seq, epoch]`, or `[0, nil]` when the room has had no
    /// message yet. One eventually consistent GetItem; the counter is never created here.
    fn position(ruby: &Ruby, rb_self: &Self, room_id: Value) -> Result<(u64, Option<String>), Error> {
        let room = room_arg(ruby, room_id, "room_id")?;
        id_bounds(ruby, &room, "room_id")?;
        let s = rb_self.state(ruby)?;
        nogvl(|| s.runtime.block_on(s.history.position(&room)))
            .map(|c| c.map_or((0, None), |c| (c.last_seq, Some(c.epoch))))
            .map_err(|e| errors::store(ruby, e))
    }

    /// Memory backend only (Hermes::Testing.connect): a connection row, as if a browser of
    /// `user_id` had connected to `room_id`.
    fn memory_join(
        ruby: &Ruby,
        rb_self: &Self,
        connection_id: String,
        user_id: Value,
        room_id: Value,
    ) -> Result<(), Error> {
        let user = user_id_arg(ruby, user_id)?.to_string();
        let room = room_arg(ruby, room_id, "room_id")?;
        let s = rb_self.state(ruby)?;
        let Some(c) = s.memory_connections.clone() else {
            return Err(errors::arg(
                ruby,
                "Hermes::Testing.connect needs the memory backend",
            ));
        };
        let now = hermes_core::token::now_secs();
        let row = Connection {
            connection_id,
            room_id: room,
            user_id: user,
            connected_at: now,
            expires_at: now + hermes_core::store::CONNECTION_ROW_TTL_SECS,
            streams: Vec::new(),
        };
        nogvl(|| s.runtime.block_on(c.put(&row))).map_err(|e| errors::store(ruby, e))
    }

    /// Memory backend only: forgets the connection rows (Hermes::Testing.clear).
    fn memory_clear_connections(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        let s = rb_self.state(ruby)?;
        if let Some(c) = &s.memory_connections {
            c.clear();
        }
        Ok(())
    }

    fn queue(ruby: &Ruby, s: &State) -> Result<Arc<dyn Queue>, Error> {
        s.queue
            .clone()
            .ok_or_else(|| errors::config(ruby, hermes_core::ConfigError::Missing("HERMES_QUEUE_URL")))
    }

    /// `data_json` is what `JSON.generate` made of the caller's data (lib/hermes/json_data.rb).
    fn enqueue(
        ruby: &Ruby,
        rb_self: &Self,
        user_id: Value,
        room_id: Value,
        data_json: Value,
        target: Value,
    ) -> Result<String, Error> {
        let n = notification(ruby, user_id, room_id, data_json, target)?;
        n.check_size().map_err(|e| errors::too_large(ruby, e))?;
        let s = rb_self.state(ruby)?;
        let q = Self::queue(ruby, &s)?;
        nogvl(|| s.runtime.block_on(q.send(&n))).map_err(|e| errors::queue(ruby, e))
    }

    /// `entries`: `[[user_id, room_id, data_json, target_or_nil], ...]`.
    fn enqueue_batch(ruby: &Ruby, rb_self: &Self, entries: RArray) -> Result<Vec<String>, Error> {
        let mut ns = Vec::with_capacity(entries.len());
        for entry in entries.into_iter() {
            let e = RArray::try_convert(entry)?;
            ns.push(notification(
                ruby,
                e.entry(0)?,
                e.entry(1)?,
                e.entry(2)?,
                e.entry(3)?,
            )?);
        }
        // Refused before the runtime and clients are built, like a single oversize enqueue.
        hermes_core::queue::check_all(&ns).map_err(|e| errors::queue(ruby, e))?;
        if ns.is_empty() {
            return Ok(vec![]);
        }
        let s = rb_self.state(ruby)?;
        let q = Self::queue(ruby, &s)?;
        nogvl(|| s.runtime.block_on(q.send_batch(&ns))).map_err(|e| errors::queue(ruby, e))
    }

    /// Memory backend only: the queued bodies, oldest first, removed from the queue.
    fn drain_memory_queue(ruby: &Ruby, rb_self: &Self) -> Result<Vec<String>, Error> {
        let s = rb_self.state(ruby)?;
        let Some(q) = s.memory_queue.clone() else {
            return Err(errors::arg(ruby, "drain_memory_queue needs the memory backend"));
        };
        Ok(nogvl(|| {
            s.runtime.block_on(async {
                let mut out = Vec::new();
                loop {
                    let got = q.receive(10, std::time::Duration::ZERO).await.unwrap_or_default();
                    if got.is_empty() {
                        break out;
                    }
                    let handles: Vec<String> = got.iter().map(|m| m.receipt_handle.clone()).collect();
                    let _ = q.delete(&handles).await;
                    out.extend(got.into_iter().map(|m| m.body));
                }
            })
        }))
    }

    fn backend(&self) -> &'static str {
        self.config.backend().as_str()
    }
}

fn notification(
    ruby: &Ruby,
    user_id: Value,
    room_id: Value,
    data_json: Value,
    target: Value,
) -> Result<Notification, Error> {
    let user = user_id_arg(ruby, user_id)?;
    let room = room_arg(ruby, room_id, "room_id")?;
    // The same bounds as a token's: a room nobody can get a token for reaches no one.
    id_bounds(ruby, &user.to_string(), "user_id")?;
    id_bounds(ruby, &room, "room_id")?;
    let json = RString::try_convert(data_json)?.to_string()?;
    let mut n = Notification::from_json(user, room, json)
        .map_err(|e| errors::arg(ruby, format!("data is not valid JSON: {e}")))?;
    if !target.is_nil() {
        let to = room_arg(ruby, target, "to_user_id")?;
        id_bounds(ruby, &to, "to_user_id")?;
        n.target_user_id = Some(to);
    }
    Ok(n)
}

fn id_bounds(ruby: &Ruby, v: &str, what: &str) -> Result<(), Error> {
    if v.is_empty() {
        return Err(errors::arg(ruby, format!("{what} must not be empty")));
    }
    if v.len() > MAX_ID_BYTES {
        return Err(errors::arg(
            ruby,
            format!("{what} is {} bytes; at most {MAX_ID_BYTES}", v.len()),
        ));
    }
    Ok(())
}

/// A Ruby String as Rust text; bytes that are not valid in its encoding are the caller's
/// mistake (ArgumentError), not an EncodingError from deep inside.
fn text(ruby: &Ruby, s: RString, what: &str) -> Result<String, Error> {
    s.to_string().map_err(|_| {
        errors::arg(
            ruby,
            format!("{what} is not valid text in its encoding (or not convertible to UTF-8)"),
        )
    })
}

/// An Integer stays a JSON number in the JWT (as the seed's `JWT.encode` writes it); a String
/// stays a string.
fn user_id_arg(ruby: &Ruby, v: Value) -> Result<UserId, Error> {
    if let Some(i) = Integer::from_value(v) {
        return i
            .to_i64()
            .map(UserId::Int)
            .map_err(|_| errors::arg(ruby, "user_id is out of the 64-bit range"));
    }
    if let Some(s) = RString::from_value(v) {
        return Ok(UserId::Str(text(ruby, s, "user_id")?));
    }
    Err(errors::arg(
        ruby,
        format!(
            "user_id must be an Integer or a String, got {}",
            v.class().inspect()
        ),
    ))
}

/// The (user_id:, company_code:) pair of the token calls.
fn token_args(ruby: &Ruby, user_id: Value, room_id: Value) -> Result<(UserId, String), Error> {
    Ok((
        user_id_arg(ruby, user_id)?,
        room_arg(ruby, room_id, "company_code")?,
    ))
}

/// Room ids are strings; an Integer or Symbol is taken as its text.
fn room_arg(ruby: &Ruby, v: Value, what: &str) -> Result<String, Error> {
    if let Some(s) = RString::from_value(v) {
        return text(ruby, s, what);
    }
    if Integer::from_value(v).is_some() || magnus::Symbol::from_value(v).is_some() {
        return v.to_r_string()?.to_string();
    }
    Err(errors::arg(
        ruby,
        format!("{what} must be a String, got {}", v.class().inspect()),
    ))
}

pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let hermes = ruby.define_module("Hermes")?;
    let native: RModule = hermes.define_module("Native")?;
    let class = native.define_class("Client", ruby.class_object())?;
    class.define_singleton_method("new", function!(Client::new, 1))?;
    class.define_method("generate_token", method!(Client::generate_token, 2))?;
    class.define_method("compose_token", method!(Client::compose_token, 2))?;
    class.define_method("revoke_token", method!(Client::revoke_token, 2))?;
    class.define_method("disconnect", method!(Client::disconnect, 2))?;
    class.define_method("presence", method!(Client::presence, 1))?;
    class.define_method("position", method!(Client::position, 1))?;
    class.define_method("memory_join", method!(Client::memory_join, 3))?;
    class.define_method(
        "memory_clear_connections",
        method!(Client::memory_clear_connections, 0),
    )?;
    class.define_method("enqueue", method!(Client::enqueue, 4))?;
    class.define_method("enqueue_batch", method!(Client::enqueue_batch, 1))?;
    class.define_method("drain_memory_queue", method!(Client::drain_memory_queue, 0))?;
    class.define_method("backend", method!(Client::backend, 0))?;
    Ok(())
}
