//! What the DynamoDB stores share: reading and writing attributes, and naming a failed call.

use std::collections::HashMap;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use super::{RoomMember, RoomPage, StoreError};

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn backend_err<E>(op: &'static str, table: &str, e: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    StoreError::Backend {
        op,
        table: table.to_owned(),
        message: crate::aws::describe_sdk_error(&e),
    }
}

pub(super) fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

pub(super) fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn get_s(item: &Item, table: &str, name: &str) -> Result<String, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        // The seed's Ruby side may have written numeric ids; compare everything as strings.
        Some(AttributeValue::N(v)) => Ok(v.clone()),
        Some(_) => Err(StoreError::Malformed {
            table: table.into(),
            message: format!("{name} is not a string"),
        }),
        None => Err(StoreError::Malformed {
            table: table.into(),
            message: format!("{name} is missing"),
        }),
    }
}

pub(super) fn get_n(item: &Item, table: &str, name: &str) -> Result<Option<u64>, StoreError> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(v)) => {
            // DynamoDB numbers may arrive as "1.7E9" or "1700000000.0" from other writers.
            let parsed = v
                .parse::<u64>()
                .ok()
                .or_else(|| v.parse::<f64>().ok().filter(|f| *f >= 0.0).map(|f| f as u64));
            parsed.map(Some).ok_or_else(|| StoreError::Malformed {
                table: table.into(),
                message: format!("{name} is not a number"),
            })
        }
        Some(_) => Err(StoreError::Malformed {
            table: table.into(),
            message: format!("{name} is not a number"),
        }),
    }
}

/// A string attribute that may be absent.
pub(super) fn get_s_opt(item: &Item, table: &str, name: &str) -> Result<Option<String>, StoreError> {
    match item.get(name) {
        None => Ok(None),
        Some(_) => get_s(item, table, name).map(Some),
    }
}

/// A string set (SS) as a vec, in byte order; empty when absent (DynamoDB keeps no empty set).
pub(super) fn get_ss(item: &Item, table: &str, name: &str) -> Result<Vec<String>, StoreError> {
    match item.get(name) {
        None => Ok(Vec::new()),
        Some(AttributeValue::Ss(v)) => {
            let mut v = v.clone();
            v.sort();
            Ok(v)
        }
        Some(_) => Err(StoreError::Malformed {
            table: table.into(),
            message: format!("{name} is not a string set"),
        }),
    }
}

/// A string set of `values`, which must be distinct and at least one (DynamoDB refuses both
/// an empty set and duplicates).
pub(super) fn ss(values: &[String]) -> AttributeValue {
    AttributeValue::Ss(values.to_vec())
}

/// Whether a failed call failed only its ConditionExpression.
pub(super) fn condition_failed<R>(
    r: &Result<R, SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, HttpResponse>>,
) -> bool {
    matches!(r, Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()))
}

/// A Query's page of connections (the room index's, or a stream's subscriptions): each item's
/// connection id and user (absent for a socket of nobody), and the id the next page starts
/// after (DynamoDB's LastEvaluatedKey).
pub(super) fn members_page(
    items: Option<Vec<Item>>,
    last_evaluated_key: Option<Item>,
    table: &str,
    connection_id: &str,
    user_id: &str,
) -> Result<RoomPage, StoreError> {
    let members = items
        .unwrap_or_default()
        .iter()
        .map(|item| {
            Ok(RoomMember {
                connection_id: get_s(item, table, connection_id)?,
                user_id: get_s_opt(item, table, user_id)?.unwrap_or_default(),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let next = match last_evaluated_key {
        Some(k) if !k.is_empty() => Some(get_s(&k, table, connection_id)?),
        _ => None,
    };
    Ok(RoomPage { members, next })
}
