//! The gem's native surface over hermes-core: `Hermes::Native::Client` (what the Ruby API
//! calls; its streams in streams.rs), `Hermes::Native::MemoryBackend` (its test surface on the
//! memory backend), the id conversions and stream-name signing the local backend shares with
//! the client, and the names and limits core defines. The documented API lives in Ruby (lib/hermes.rb); this only converts arguments and
//! errors.

mod args;
mod client;
mod errors;
mod memory;
mod nogvl;
mod streams;

use hermes_core::ids::{MAX_ID_BYTES, MAX_TOKEN_CHARS};
use hermes_core::names::{self, env};
use magnus::{function, prelude::*, Error, RModule, Ruby};

#[magnus::init(name = "hermes_native")]
fn init(ruby: &Ruby) -> Result<(), Error> {
    let native: RModule = ruby.define_module("Hermes")?.define_module("Native")?;
    // lib/hermes/configuration.rb builds its settings from these, so the Ruby side cannot
    // name a variable core does not read, or miss one it does.
    let settings = ruby.hash_from_iter(env::SETTINGS.iter().copied());
    settings.freeze();
    native.const_set("SETTINGS", settings)?;
    let secrets = ruby.ary_from_iter(env::SECRETS.iter().copied());
    secrets.freeze();
    native.const_set("SECRET_SETTINGS", secrets)?;
    native.const_set("DEFAULT_LOCAL_URL", names::DEFAULT_LOCAL_URL)?;
    // lib/hermes/ids.rb publishes core's limits instead of restating them.
    native.const_set("MAX_ID_BYTES", MAX_ID_BYTES)?;
    native.const_set("MAX_TOKEN_CHARS", MAX_TOKEN_CHARS)?;
    native.define_module_function("user_id", function!(args::rb_user_id, 2))?;
    native.define_module_function("room_id", function!(args::rb_room_id, 2))?;
    client::init(ruby)?;
    streams::init(ruby, native)?;
    memory::init(ruby, native)
}
