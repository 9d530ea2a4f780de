//! The gem's native surface: one class, `Hermes::Native::Client`, over hermes-core. The
//! documented API lives in Ruby (lib/hermes.rb); this only converts arguments and errors.

mod client;
mod errors;
mod nogvl;

use magnus::{Error, Ruby};

#[magnus::init(name = "hermes_native")]
fn init(ruby: &Ruby) -> Result<(), Error> {
    client::init(ruby)
}
