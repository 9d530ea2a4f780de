//! Streams on the native surface: `Hermes::Native::Client#broadcast` (and its batch form), the
//! token of a page where nobody is signed in, a stream's presence, and the signed names of
//! streams (`Hermes::Native.stream_key`, `.sign_stream_name`). The local backend checks its
//! broadcasts here too (`Hermes::Native.check_broadcast[s]`), so every backend refuses the same
//! broadcast with the same error.

use hermes_core::config::JwtSecret;
use hermes_core::frame::Broadcast;
use hermes_core::stream_name::{check_name, StreamKey};
use magnus::{function, method, prelude::*, Error, RArray, RModule, RString, Ruby, Value};

use crate::client::Client;
use crate::errors;
use crate::nogvl::nogvl;

/// A stream name: text (a Symbol as its name), within core's bounds.
fn stream_name(ruby: &Ruby, v: Value) -> Result<String, Error> {
    let name = if let Some(s) = RString::from_value(v) {
        s.to_string().map_err(|_| {
            errors::arg(
                ruby,
                "stream is not valid text in its encoding (or not convertible to UTF-8)",
            )
        })?
    } else if let Some(sym) = magnus::Symbol::from_value(v) {
        sym.name()?.into_owned()
    } else {
        return Err(errors::arg(
            ruby,
            format!("stream must be a String, got {}", crate::args::class_name(v)),
        ));
    };
    check_name(&name).map_err(|e| errors::arg(ruby, e.to_string()))?;
    Ok(name)
}

fn broadcast_of(ruby: &Ruby, stream: Value, data_json: Value) -> Result<Broadcast, Error> {
    let stream = stream_name(ruby, stream)?;
    let json = RString::try_convert(data_json)?.to_string()?;
    Broadcast::from_json(stream, json).map_err(|e| errors::arg(ruby, format!("data is not valid JSON: {e}")))
}

/// One broadcast, checked: its name, its data (one JSON value) and its size.
fn checked(ruby: &Ruby, stream: Value, data_json: Value) -> Result<Broadcast, Error> {
    let b = broadcast_of(ruby, stream, data_json)?;
    b.check_size().map_err(|e| errors::too_large(ruby, e))?;
    Ok(b)
}

/// `entries`: `[[stream, data_json], ...]`, each checked; a size refused names its entry.
fn checked_batch(ruby: &Ruby, entries: RArray) -> Result<Vec<Broadcast>, Error> {
    let mut bs = Vec::with_capacity(entries.len());
    for entry in entries.into_iter() {
        let e = RArray::try_convert(entry)?;
        bs.push(broadcast_of(ruby, e.entry(0)?, e.entry(1)?)?);
    }
    for (index, b) in bs.iter().enumerate() {
        b.check_size().map_err(|error| {
            errors::queue(ruby, hermes_core::queue::QueueError::TooLargeAt { index, error })
        })?;
    }
    Ok(bs)
}

/// `data_json` is what `JSON.generate` made of the caller's data (lib/hermes/json_data.rb), or
/// the payload Action Cable encoded (lib/action_cable/subscription_adapter/hermes.rb).
fn broadcast(ruby: &Ruby, rb_self: &Client, stream: Value, data_json: Value) -> Result<String, Error> {
    let b = checked(ruby, stream, data_json)?;
    let s = rb_self.state(ruby)?;
    let q = Client::queue(ruby, &s)?;
    nogvl(|| s.runtime.block_on(q.send_broadcasts(std::slice::from_ref(&b))))
        .map(|mut ids| ids.remove(0))
        .map_err(|e| errors::queue(ruby, e))
}

/// `entries`: `[[stream, data_json], ...]`.
fn broadcast_batch(ruby: &Ruby, rb_self: &Client, entries: RArray) -> Result<Vec<String>, Error> {
    let bs = checked_batch(ruby, entries)?;
    if bs.is_empty() {
        return Ok(vec![]);
    }
    let s = rb_self.state(ruby)?;
    let q = Client::queue(ruby, &s)?;
    nogvl(|| s.runtime.block_on(q.send_broadcasts(&bs))).map_err(|e| errors::queue(ruby, e))
}

/// The token of a page where nobody is signed in: signed streams only; one HMAC.
fn streams_token(ruby: &Ruby, rb_self: &Client) -> Result<String, Error> {
    let s = rb_self.state(ruby)?;
    nogvl(|| s.runtime.block_on(s.minter.mint_streams())).map_err(|e| errors::mint(ruby, e))
}

/// The key stream names are signed with now: the current JWT secret's, read from the secret
/// (HERMES_SECRET_ID) through the client's cache, or from the configuration.
fn client_stream_key(ruby: &Ruby, rb_self: &Client) -> Result<String, Error> {
    let s = rb_self.state(ruby)?;
    nogvl(|| s.runtime.block_on(s.minter.stream_key()))
        .map(|k| k.expose().to_owned())
        .map_err(|e| errors::mint(ruby, e))
}

/// The stream's distinct user ids, sorted (sockets of nobody count for no user).
fn stream_presence(ruby: &Ruby, rb_self: &Client, stream: Value) -> Result<Vec<String>, Error> {
    let stream = stream_name(ruby, stream)?;
    let s = rb_self.state(ruby)?;
    let members =
        nogvl(|| s.runtime.block_on(s.subscriptions.all(&stream))).map_err(|e| errors::store(ruby, e))?;
    let users: std::collections::BTreeSet<String> = members
        .into_iter()
        .map(|m| m.user_id)
        .filter(|u| !u.is_empty())
        .collect();
    Ok(users.into_iter().collect())
}

/// The key of signed stream names: derived from the JWT secret, or, with `nil`, the
/// development key hermes-local on its memory backend uses.
fn stream_key(ruby: &Ruby, jwt_secret: Option<String>) -> Result<String, Error> {
    let key = match jwt_secret {
        None => StreamKey::development(),
        Some(secret) => {
            let secret = JwtSecret::new(secret).map_err(|e| {
                errors::config(
                    ruby,
                    hermes_core::ConfigError::Invalid {
                        name: hermes_core::names::env::JWT_SECRET,
                        reason: e.to_string(),
                    },
                )
            })?;
            StreamKey::derive(&secret)
        }
    };
    Ok(key.expose().to_owned())
}

/// `name` signed with `key`, as ActiveSupport::MessageVerifier (SHA256, JSON) signs it.
fn sign_stream_name(ruby: &Ruby, key: String, name: Value) -> Result<String, Error> {
    let name = stream_name(ruby, name)?;
    StreamKey::from_text(key)
        .sign(&name)
        .map_err(|e| errors::arg(ruby, e.to_string()))
}

/// A stream name as the native client takes it, for the local backend.
fn rb_stream_name(ruby: &Ruby, name: Value) -> Result<String, Error> {
    stream_name(ruby, name)
}

/// What `broadcast` checks before queueing, for the local backend: the stream's name as sent.
fn check_broadcast(ruby: &Ruby, stream: Value, data_json: Value) -> Result<String, Error> {
    Ok(checked(ruby, stream, data_json)?.stream)
}

/// What `broadcast_batch` checks before queueing: the streams' names as sent.
fn check_broadcasts(ruby: &Ruby, entries: RArray) -> Result<Vec<String>, Error> {
    Ok(checked_batch(ruby, entries)?
        .into_iter()
        .map(|b| b.stream)
        .collect())
}

pub fn init(_ruby: &Ruby, native: RModule) -> Result<(), Error> {
    let class = native.const_get::<_, magnus::RClass>("Client")?;
    class.define_method("broadcast", method!(broadcast, 2))?;
    class.define_method("broadcast_batch", method!(broadcast_batch, 1))?;
    class.define_method("streams_token", method!(streams_token, 0))?;
    class.define_method("stream_key", method!(client_stream_key, 0))?;
    class.define_method("stream_presence", method!(stream_presence, 1))?;
    native.define_module_function("stream_key", function!(stream_key, 1))?;
    native.define_module_function("sign_stream_name", function!(sign_stream_name, 2))?;
    native.define_module_function("stream_name", function!(rb_stream_name, 1))?;
    native.define_module_function("check_broadcast", function!(check_broadcast, 2))?;
    native.define_module_function("check_broadcasts", function!(check_broadcasts, 1))?;
    Ok(())
}
