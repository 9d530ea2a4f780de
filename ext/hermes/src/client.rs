//! `Hermes::Native::Client`: one per configuration. The tokio runtime, SDK clients and the
//! bcrypt cache are built on first use and rebuilt in a forked child (Puma/Unicorn preload):
//! a runtime's threads do not survive `fork`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hermes_core::frame::Control;
use hermes_core::queue::Queue;
use hermes_core::store::{ConnectionStore, HistoryStore, SubscriptionStore};
use hermes_core::{Backend, Backends, Config, MemoryBackends, Minter, Notification, SecretSource};
use magnus::{function, method, prelude::*, Error, RArray, RHash, RModule, RString, Ruby, Value};

use crate::args;
use crate::errors;
use crate::nogvl::nogvl;

pub struct State {
    pid: u32,
    pub runtime: tokio::runtime::Runtime,
    pub minter: Minter,
    queue: Option<Arc<dyn Queue>>,
    /// A stream's presence reads its subscriptions (a Query on the stream's key).
    pub subscriptions: Arc<dyn SubscriptionStore>,
    /// Presence reads the room index of the connections table (a Query, never a Scan).
    connections: Arc<dyn ConnectionStore>,
    /// The connect tag reads a room's position (its counter) here.
    history: Arc<dyn HistoryStore>,
    /// On the memory backend: its parts, for the test surface (`Hermes::Native::MemoryBackend`).
    pub memory: Option<MemoryBackends>,
}

/// A configuration and the state built from it for this process: held by the client and by
/// its test surface, so both see the same stores, rebuilt together after a fork.
pub struct Shared {
    config: Config,
    state: Mutex<Option<Arc<State>>>,
}

#[magnus::wrap(class = "Hermes::Native::Client", free_immediately, size)]
pub struct Client {
    shared: Arc<Shared>,
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
        let (b, memory) = runtime
            .block_on(Backends::from_config_keeping_memory(config))
            .map_err(|e| e.to_string())?;
        // With HERMES_SECRET_ID, the keys are read from Secrets Manager on first use and again
        // as the cache expires; the source lives in this state, so a forked child reads them
        // with clients of its own.
        let secrets = runtime
            .block_on(SecretSource::load(config))
            .map_err(|e| e.to_string())?;
        let minter = Minter::with_secrets(config, secrets, b.tokens);
        Ok(State {
            pid: std::process::id(),
            runtime,
            minter,
            queue: b.queue,
            subscriptions: b.subscriptions,
            connections: b.connections,
            history: b.history,
            memory,
        })
    }
}

impl Shared {
    pub fn backend(&self) -> Backend {
        self.config.backend()
    }

    /// The state for this process. Built without the GVL (it may start threads and read AWS
    /// config files); a parent's state in a forked child is leaked, never used or dropped:
    /// dropping it would join threads that do not exist in the child.
    pub fn state(&self, ruby: &Ruby) -> Result<Arc<State>, Error> {
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
        // Fail at configuration time, not on the first page view (a secret to read them from
        // is read on first use).
        config.check_keys().map_err(|e| errors::config(ruby, e))?;
        Ok(Client {
            shared: Arc::new(Shared {
                config,
                state: Mutex::new(None),
            }),
        })
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn state(&self, ruby: &Ruby) -> Result<Arc<State>, Error> {
        self.shared.state(ruby)
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
    /// in the room. The queue is required before the token is touched.
    fn revoke_token(ruby: &Ruby, rb_self: &Self, user_id: Value, room_id: Value) -> Result<bool, Error> {
        let (user, room) = token_args(ruby, user_id, room_id)?;
        let s = rb_self.state(ruby)?;
        let q = Self::queue(ruby, &s)?;
        nogvl(|| {
            s.runtime
                .block_on(s.minter.revoke_and_disconnect(&*q, &user, &room))
        })
        .map_err(|e| errors::revoke(ruby, e))
    }

    /// Queues a disconnect: the user's open sockets in the room are closed, its token kept.
    fn disconnect(ruby: &Ruby, rb_self: &Self, user_id: Value, room_id: Value) -> Result<String, Error> {
        let user = args::user_id(ruby, user_id, "user_id")?;
        let room = args::room_id(ruby, room_id, "room_id")?;
        let close = Control::disconnect(user.to_string(), room, Some("disconnect"));
        let s = rb_self.state(ruby)?;
        let q = Self::queue(ruby, &s)?;
        nogvl(|| s.runtime.block_on(q.send_control(&close))).map_err(|e| errors::queue(ruby, e))
    }

    /// The room's distinct user ids, sorted: a Query on the room index.
    fn presence(ruby: &Ruby, rb_self: &Self, room_id: Value) -> Result<Vec<String>, Error> {
        let room = args::room_id(ruby, room_id, "room_id")?;
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
        let room = args::room_id(ruby, room_id, "room_id")?;
        let s = rb_self.state(ruby)?;
        nogvl(|| s.runtime.block_on(s.history.position(&room)))
            .map(|c| c.map_or((0, None), |c| (c.last_seq, Some(c.epoch))))
            .map_err(|e| errors::store(ruby, e))
    }

    pub fn queue(ruby: &Ruby, s: &State) -> Result<Arc<dyn Queue>, Error> {
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

    fn backend(&self) -> &'static str {
        self.shared.backend().as_str()
    }
}

fn notification(
    ruby: &Ruby,
    user_id: Value,
    room_id: Value,
    data_json: Value,
    target: Value,
) -> Result<Notification, Error> {
    let user = args::user_id(ruby, user_id, "user_id")?;
    let room = args::room_id(ruby, room_id, "room_id")?;
    let json = RString::try_convert(data_json)?.to_string()?;
    let mut n = Notification::from_json(user, room, json)
        .map_err(|e| errors::arg(ruby, format!("data is not valid JSON: {e}")))?;
    if !target.is_nil() {
        // A target is a user: the same rule as the sender's id.
        n.target_user_id = Some(args::user_id(ruby, target, "to_user_id")?.to_string());
    }
    Ok(n)
}

/// The (user_id:, company_code:) pair of the token calls.
fn token_args(ruby: &Ruby, user_id: Value, room_id: Value) -> Result<(hermes_core::UserId, String), Error> {
    Ok((
        args::user_id(ruby, user_id, "user_id")?,
        args::room_id(ruby, room_id, "company_code")?,
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
    class.define_method("enqueue", method!(Client::enqueue, 4))?;
    class.define_method("enqueue_batch", method!(Client::enqueue_batch, 1))?;
    class.define_method("backend", method!(Client::backend, 0))?;
    Ok(())
}
