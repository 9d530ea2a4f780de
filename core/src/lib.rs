//! hermes-core: everything the Hermes gem, Lambdas and local gateway share. Tokens minted
//! by the gem and checked by the authorizer go through the same functions here, so the two
//! sides agree byte for byte.

pub mod aws;
pub mod backends;
pub mod config;
pub mod frame;
pub mod handlers;
pub mod ids;
pub mod metrics;
pub mod mint;
pub mod names;
pub mod push;
pub mod queue;
pub mod secrets;
pub mod store;
pub mod stream_name;
#[cfg(feature = "testing")]
pub mod testing;
pub mod token;
pub mod utc;
pub mod verified;

pub use aws_lambda_events as events;
pub use backends::{Backends, MemoryBackends};
pub use config::{Backend, BcryptCost, Config, ConfigError, JwtSecret, Secret, ShortSecret, TokenTtl};
pub use frame::{Notification, PayloadTooLarge, MAX_MESSAGE_BYTES};
pub use mint::{MintError, Minter, RevokeError};
pub use secrets::{SecretError, SecretSet, SecretSource};
pub use token::UserId;
pub mod eksblowfish;
