//! DynamoDB stores. Fan-out reads the room through the `room_id-index` GSI with Query,
//! page by page: never the seed's Scan + FilterExpression over the whole table.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::{Connection, ConnectionStore, RoomMember, RoomPage, StoreError, TokenRecord, TokenStore};
use crate::names::{connections as C, tokens as T};

type Item = HashMap<String, AttributeValue>;

fn backend_err<E>(op: &'static str, table: &str, e: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    StoreError::Backend {
        op,
        table: table.to_owned(),
        message: crate::aws::describe_sdk_error(&e),
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s(item: &Item, table: &str, name: &str) -> Result<String, StoreError> {
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

fn get_n(item: &Item, table: &str, name: &str) -> Result<Option<u64>, StoreError> {
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

pub struct DynamoTokenStore {
    client: Client,
    table: String,
}

impl DynamoTokenStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoTokenStore {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl TokenStore for DynamoTokenStore {
    async fn get(&self, user_id: &str, room_id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(T::USER_ID, s(user_id))
            .key(T::ROOM_ID, s(room_id))
            // A token that was just revoked must not authorize a connection.
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend_err("GetItem", &self.table, e))?;
        let Some(item) = out.item else { return Ok(None) };
        Ok(Some(TokenRecord {
            user_id: get_s(&item, &self.table, T::USER_ID)?,
            room_id: get_s(&item, &self.table, T::ROOM_ID)?,
            hash: get_s(&item, &self.table, T::TOKEN)?,
            expires_at: get_n(&item, &self.table, T::EXPIRES_AT)?,
        }))
    }

    async fn put(&self, r: &TokenRecord) -> Result<(), StoreError> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(T::USER_ID, s(&r.user_id))
            .item(T::ROOM_ID, s(&r.room_id))
            .item(T::TOKEN, s(&r.hash));
        if let Some(exp) = r.expires_at {
            req = req.item(T::EXPIRES_AT, n(exp));
        }
        req.send()
            .await
            .map_err(|e| backend_err("PutItem", &self.table, e))?;
        Ok(())
    }

    async fn delete(&self, user_id: &str, room_id: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(T::USER_ID, s(user_id))
            .key(T::ROOM_ID, s(room_id))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| backend_err("DeleteItem", &self.table, e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}

pub struct DynamoConnectionStore {
    client: Client,
    table: String,
    page_size: Option<i32>,
}

impl DynamoConnectionStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoConnectionStore {
            client,
            table: table.into(),
            page_size: None,
        }
    }

    /// Caps items per Query page (DynamoDB's own cap is 1 MB a page); tests use it to make
    /// pagination happen with a handful of rows.
    pub fn with_page_size(mut self, n: i32) -> Self {
        self.page_size = Some(n.max(1));
        self
    }
}

#[async_trait]
impl ConnectionStore for DynamoConnectionStore {
    async fn put(&self, c: &Connection) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(C::CONNECTION_ID, s(&c.connection_id))
            .item(C::ROOM_ID, s(&c.room_id))
            .item(C::USER_ID, s(&c.user_id))
            .item(C::CONNECTED_AT, n(c.connected_at))
            .item(C::EXPIRES_AT, n(c.expires_at))
            .send()
            .await
            .map_err(|e| backend_err("PutItem", &self.table, e))?;
        Ok(())
    }

    async fn get(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(C::CONNECTION_ID, s(connection_id))
            .send()
            .await
            .map_err(|e| backend_err("GetItem", &self.table, e))?;
        let Some(item) = out.item else { return Ok(None) };
        Ok(Some(Connection {
            connection_id: get_s(&item, &self.table, C::CONNECTION_ID)?,
            room_id: get_s(&item, &self.table, C::ROOM_ID)?,
            user_id: get_s(&item, &self.table, C::USER_ID)?,
            connected_at: get_n(&item, &self.table, C::CONNECTED_AT)?.unwrap_or(0),
            expires_at: get_n(&item, &self.table, C::EXPIRES_AT)?.unwrap_or(0),
        }))
    }

    async fn delete(&self, connection_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(C::CONNECTION_ID, s(connection_id))
            .send()
            .await
            .map_err(|e| backend_err("DeleteItem", &self.table, e))?;
        Ok(())
    }

    async fn room(&self, room_id: &str) -> Result<Vec<RoomMember>, StoreError> {
        let mut members = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(C::ROOM_INDEX)
                .key_condition_expression("#r = :r")
                .expression_attribute_names("#r", C::ROOM_ID)
                .expression_attribute_values(":r", s(room_id))
                .set_exclusive_start_key(start.take())
                .set_limit(self.page_size)
                .send()
                .await
                .map_err(|e| backend_err("Query", &self.table, e))?;
            for item in out.items.unwrap_or_default() {
                members.push(RoomMember {
                    connection_id: get_s(&item, &self.table, C::CONNECTION_ID)?,
                    user_id: get_s(&item, &self.table, C::USER_ID)?,
                });
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(members)
    }

    /// One Query, `after` as the ExclusiveStartKey (the index's keys plus the table's, which
    /// here are room_id and connection_id).
    async fn room_page(
        &self,
        room_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<RoomPage, StoreError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(C::ROOM_INDEX)
            .key_condition_expression("#r = :r")
            .expression_attribute_names("#r", C::ROOM_ID)
            .expression_attribute_values(":r", s(room_id))
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX));
        if let Some(a) = after {
            q = q
                .exclusive_start_key(C::ROOM_ID, s(room_id))
                .exclusive_start_key(C::CONNECTION_ID, s(a));
        }
        let out = q.send().await.map_err(|e| backend_err("Query", &self.table, e))?;
        let members = out
            .items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                Ok(RoomMember {
                    connection_id: get_s(item, &self.table, C::CONNECTION_ID)?,
                    user_id: get_s(item, &self.table, C::USER_ID)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let next = match out.last_evaluated_key {
            Some(k) if !k.is_empty() => Some(get_s(&k, &self.table, C::CONNECTION_ID)?),
            _ => None,
        };
        Ok(RoomPage { members, next })
    }
}
