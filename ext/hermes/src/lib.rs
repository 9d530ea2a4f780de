//! The gem's native surface: one class, `Hermes::Native::Client`, over hermes-core, and the
//! names of the settings core reads. The documented API lives in Ruby (lib/hermes.rb); this
//! only converts arguments and errors.

mod client;
mod errors;
mod nogvl;

use hermes_core::names::{self, env};
use magnus::{prelude::*, Error, RModule, Ruby};

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
    client::init(ruby)
}
