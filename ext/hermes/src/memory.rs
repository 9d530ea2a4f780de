//! `Hermes::Native::MemoryBackend`: the test surface of a client on the memory backend (what
//! `Hermes::Testing` and the gem's specs read and arrange), kept apart from the client a Rails
//! app calls in production. It shares the client's state, so it sees the same queue and
//! connections, and after a fork the ones the child rebuilt.

use std::sync::Arc;
use std::time::Duration;

use hermes_core::queue::Queue;
use hermes_core::store::{
    Connection, ConnectionStore, Subscription, SubscriptionStore, CONNECTION_ROW_TTL_SECS,
};
use hermes_core::{Backend, MemoryBackends};
use magnus::{function, method, prelude::*, Error, RModule, Ruby, Value};

use crate::args;
use crate::client::{Client, Shared, State};
use crate::errors;
use crate::nogvl::nogvl;

#[magnus::wrap(class = "Hermes::Native::MemoryBackend", free_immediately, size)]
pub struct MemoryBackend {
    shared: Arc<Shared>,
}

impl MemoryBackend {
    fn new(ruby: &Ruby, client: &Client) -> Result<Self, Error> {
        let backend = client.shared().backend();
        if backend != Backend::Memory {
            return Err(errors::arg(
                ruby,
                format!(
                    "Hermes::Testing needs the memory backend, not {}",
                    backend.as_str()
                ),
            ));
        }
        Ok(MemoryBackend {
            shared: client.shared().clone(),
        })
    }

    fn parts(&self, ruby: &Ruby) -> Result<(Arc<State>, MemoryBackends), Error> {
        let s = self.shared.state(ruby)?;
        let m = s
            .memory
            .clone()
            .expect("a client on the memory backend has memory parts");
        Ok((s, m))
    }

    /// Every record queued so far (notifications and control records), oldest first, as the
    /// JSON bodies SQS would hold; they leave the queue.
    fn drain_queue(ruby: &Ruby, rb_self: &Self) -> Result<Vec<String>, Error> {
        let (s, m) = rb_self.parts(ruby)?;
        nogvl(|| {
            s.runtime.block_on(async {
                let mut out = Vec::new();
                loop {
                    let got = m.queue.receive(10, Duration::ZERO).await?;
                    if got.is_empty() {
                        return Ok(out);
                    }
                    let handles: Vec<String> = got.iter().map(|r| r.receipt_handle.clone()).collect();
                    m.queue.delete(&handles).await?;
                    out.extend(got.into_iter().map(|r| r.body));
                }
            })
        })
        .map_err(|e| errors::queue(ruby, e))
    }

    /// A connection row, as if a browser of `user_id` had connected to `room_id`.
    fn join(
        ruby: &Ruby,
        rb_self: &Self,
        connection_id: String,
        user_id: Value,
        room_id: Value,
    ) -> Result<(), Error> {
        let user = args::user_id(ruby, user_id, "user_id")?.to_string();
        let room = args::room_id(ruby, room_id, "room_id")?;
        let (s, m) = rb_self.parts(ruby)?;
        let now = hermes_core::token::now_secs();
        let row = Connection {
            connection_id,
            room_id: room,
            user_id: user,
            connected_at: now,
            expires_at: now + CONNECTION_ROW_TTL_SECS,
            streams: Vec::new(),
        };
        nogvl(|| s.runtime.block_on(m.connections.put(&row))).map_err(|e| errors::store(ruby, e))
    }

    /// A subscription of `connection_id` to `stream`, as if a page of `user_id` (`nil`: a page
    /// of nobody) had subscribed with the stream's signed name: `Hermes.presence(stream:)`
    /// counts it.
    fn subscribe(
        ruby: &Ruby,
        rb_self: &Self,
        connection_id: String,
        user_id: Option<Value>,
        stream: String,
    ) -> Result<(), Error> {
        let user = user_id
            .map(|u| args::user_id(ruby, u, "user_id").map(|u| u.to_string()))
            .transpose()?;
        hermes_core::stream_name::check_name(&stream).map_err(|e| errors::arg(ruby, e.to_string()))?;
        let (s, m) = rb_self.parts(ruby)?;
        let row = Subscription {
            stream,
            connection_id,
            user_id: user,
            expires_at: hermes_core::token::now_secs() + CONNECTION_ROW_TTL_SECS,
        };
        nogvl(|| {
            s.runtime
                .block_on(m.subscriptions.put(std::slice::from_ref(&row)))
        })
        .map_err(|e| errors::store(ruby, e))
    }

    /// Forgets every connection row and subscription.
    fn clear_connections(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        let (_, m) = rb_self.parts(ruby)?;
        m.connections.clear();
        m.subscriptions.clear();
        Ok(())
    }
}

pub fn init(ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.define_class("MemoryBackend", ruby.class_object())?;
    class.define_singleton_method("new", function!(MemoryBackend::new, 1))?;
    class.define_method("drain_queue", method!(MemoryBackend::drain_queue, 0))?;
    class.define_method("join", method!(MemoryBackend::join, 3))?;
    class.define_method("subscribe", method!(MemoryBackend::subscribe, 3))?;
    class.define_method("clear_connections", method!(MemoryBackend::clear_connections, 0))?;
    Ok(())
}
