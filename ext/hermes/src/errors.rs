//! Ruby exceptions for core's errors. The classes are defined in Ruby (lib/hermes/error.rb)
//! and looked up here, so their hierarchy and docs live in one place.

use hermes_core::frame::PayloadTooLarge;
use hermes_core::ids::IdError;
use hermes_core::queue::QueueError;
use hermes_core::store::StoreError;
use hermes_core::{ConfigError, MintError, RevokeError};
use magnus::value::Lazy;
use magnus::{prelude::*, Error, ExceptionClass, RModule, Ruby};

fn class(ruby: &Ruby, name: &str) -> ExceptionClass {
    let hermes: RModule = ruby
        .class_object()
        .const_get("Hermes")
        .expect("lib/hermes/error.rb is loaded first");
    hermes
        .const_get(name)
        .unwrap_or_else(|_| panic!("Hermes::{name} is defined in lib/hermes/error.rb"))
}

static CONFIGURATION: Lazy<ExceptionClass> = Lazy::new(|r| class(r, "ConfigurationError"));
static STORE: Lazy<ExceptionClass> = Lazy::new(|r| class(r, "StoreError"));
static QUEUE: Lazy<ExceptionClass> = Lazy::new(|r| class(r, "QueueError"));
static PARTIAL: Lazy<ExceptionClass> = Lazy::new(|r| class(r, "PartialBatchError"));
static TOO_LARGE: Lazy<ExceptionClass> = Lazy::new(|r| class(r, "PayloadTooLargeError"));
static TOKEN: Lazy<ExceptionClass> = Lazy::new(|r| class(r, "TokenError"));

/// Exception messages are one line: AWS error texts can carry newlines, and a log line or a
/// flash message should not.
fn line(msg: impl AsRef<str>) -> String {
    msg.as_ref().split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn config(ruby: &Ruby, e: ConfigError) -> Error {
    Error::new(ruby.get_inner(&CONFIGURATION), line(e.to_string()))
}

pub fn store(ruby: &Ruby, e: StoreError) -> Error {
    Error::new(ruby.get_inner(&STORE), line(e.to_string()))
}

/// A QueueError whose message says the token stays revoked when only the disconnect failed.
pub fn revoke(ruby: &Ruby, e: RevokeError) -> Error {
    match e {
        RevokeError::Revoke(e) => mint(ruby, e),
        e @ RevokeError::Disconnect(_) => Error::new(ruby.get_inner(&QUEUE), line(e.to_string())),
    }
}

pub fn mint(ruby: &Ruby, e: MintError) -> Error {
    let class = match &e {
        MintError::Config(_) | MintError::Secret(_) => ruby.get_inner(&CONFIGURATION),
        MintError::Store(_) => ruby.get_inner(&STORE),
        MintError::Jwt(_) | MintError::Hash(_) => ruby.get_inner(&TOKEN),
        MintError::Id(_) => ruby.exception_arg_error(),
    };
    Error::new(class, line(e.to_string()))
}

pub fn id(ruby: &Ruby, e: IdError) -> Error {
    Error::new(ruby.exception_arg_error(), e.to_string())
}

pub fn queue(ruby: &Ruby, e: QueueError) -> Error {
    let msg = line(e.to_string());
    match e {
        QueueError::TooLarge(_) | QueueError::TooLargeAt { .. } => {
            Error::new(ruby.get_inner(&TOO_LARGE), msg)
        }
        QueueError::Backend { .. } => Error::new(ruby.get_inner(&QUEUE), msg),
        // The caller learns which entries went out (index => message id) and which did not.
        QueueError::Partial { sent, failed } => {
            let made = ruby.get_inner(&PARTIAL).new_instance((
                msg.clone(),
                ruby.hash_from_iter(sent),
                ruby.hash_from_iter(failed),
            ));
            match made {
                Ok(exc) => Error::from(exc),
                Err(_) => Error::new(ruby.get_inner(&PARTIAL), msg),
            }
        }
    }
}

pub fn too_large(ruby: &Ruby, e: PayloadTooLarge) -> Error {
    Error::new(ruby.get_inner(&TOO_LARGE), line(e.to_string()))
}

pub fn arg(ruby: &Ruby, msg: impl Into<String>) -> Error {
    Error::new(ruby.exception_arg_error(), msg.into())
}
