//! Ruby arguments as hermes-core ids, checked by `hermes_core::ids` under the name the Ruby API
//! gives them. The native client converts its arguments here, and the local backend (Ruby,
//! talking HTTP to hermes-local) calls the same conversions through `Hermes::Native.user_id`
//! and `.room_id`, so every backend refuses the same argument with the same message.

use hermes_core::ids::{self, IdError};
use hermes_core::UserId;
use magnus::{prelude::*, Error, Integer, IntoValue, RString, Ruby, Symbol, Value};

use crate::errors;

/// The class of `v` for a message: its name from Ruby's C API (no Ruby method runs, so an
/// object whose `class` or `inspect` is overridden, or a BasicObject, is named all the same).
pub fn class_name(v: Value) -> String {
    // SAFETY: the name is copied out before Ruby runs again.
    unsafe { v.classname() }.into_owned()
}

/// A Ruby String as Rust text (converted to UTF-8 from its encoding).
fn text(ruby: &Ruby, s: RString, arg: &str) -> Result<String, Error> {
    s.to_string()
        .map_err(|_| errors::id(ruby, IdError::NotText { arg: arg.to_owned() }))
}

/// A user id: an Integer stays a JSON number in the JWT (as the seed's `JWT.encode` writes
/// it), a String stays a string.
pub fn user_id(ruby: &Ruby, v: Value, arg: &str) -> Result<UserId, Error> {
    let id = if let Some(i) = Integer::from_value(v) {
        i.to_i64()
            .map(UserId::Int)
            .map_err(|_| errors::id(ruby, IdError::OutOfRange { arg: arg.to_owned() }))?
    } else if let Some(s) = RString::from_value(v) {
        UserId::Str(text(ruby, s, arg)?)
    } else {
        return Err(errors::id(
            ruby,
            IdError::NotUserId {
                arg: arg.to_owned(),
                got: class_name(v),
            },
        ));
    };
    ids::check_user(arg, &id).map_err(|e| errors::id(ruby, e))?;
    Ok(id)
}

/// A room id (or company code) is text; an Integer or Symbol is taken as its text.
pub fn room_id(ruby: &Ruby, v: Value, arg: &str) -> Result<String, Error> {
    let id = if let Some(s) = RString::from_value(v) {
        text(ruby, s, arg)?
    } else if Integer::from_value(v).is_some() {
        v.to_r_string()?.to_string()?
    } else if let Some(s) = Symbol::from_value(v) {
        // A Symbol's name is text in its own encoding, like a String's.
        text(ruby, s.to_r_string()?, arg)?
    } else {
        return Err(errors::id(
            ruby,
            IdError::NotRoomId {
                arg: arg.to_owned(),
                got: class_name(v),
            },
        ));
    };
    ids::check(arg, &id).map_err(|e| errors::id(ruby, e))?;
    Ok(id)
}

/// `Hermes::Native.user_id(value, name)`: the id as it is sent (an Integer, or a UTF-8 String),
/// or the ArgumentError the native client raises for it.
pub fn rb_user_id(ruby: &Ruby, v: Value, arg: String) -> Result<Value, Error> {
    Ok(match user_id(ruby, v, &arg)? {
        UserId::Int(i) => i.into_value_with(ruby),
        UserId::Str(s) => ruby.str_new(&s).as_value(),
    })
}

/// `Hermes::Native.room_id(value, name)`: the id as a UTF-8 String, or the ArgumentError.
pub fn rb_room_id(ruby: &Ruby, v: Value, arg: String) -> Result<String, Error> {
    room_id(ruby, v, &arg)
}
