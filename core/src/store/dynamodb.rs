//! DynamoDB stores. Fan-out reads the room through the `room_id-index` GSI with Query,
//! page by page: never the seed's Scan + FilterExpression over the whole table.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::history::{claim_key, new_epoch, now_ms, Counter, HistoryItem, HistoryStore};
use super::{Connection, ConnectionStore, RoomMember, RoomPage, StoreError, TokenRecord, TokenStore};
use crate::names::{connections as C, history as H, tokens as T};

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

    async fn lease_recovery(
        &self,
        connection_id: &str,
        now_ms: u64,
        until_ms: u64,
    ) -> Result<bool, StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(C::CONNECTION_ID, s(connection_id))
            .update_expression("SET #r = :until")
            .condition_expression("attribute_exists(#c) AND (attribute_not_exists(#r) OR #r <= :now)")
            .expression_attribute_names("#r", "recovery_until")
            .expression_attribute_names("#c", C::CONNECTION_ID)
            .expression_attribute_values(":until", n(until_ms))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(backend_err("UpdateItem", &self.table, e)),
        }
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

/// The history table (`names::history`): items at `seq > 0`, the counter at `seq = 0`, claims
/// at negative keys, all in the room's partition.
pub struct DynamoHistoryStore {
    client: Client,
    table: String,
}

impl DynamoHistoryStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoHistoryStore {
            client,
            table: table.into(),
        }
    }

    fn counter_from(&self, item: &Item) -> Result<Counter, StoreError> {
        Ok(Counter {
            last_seq: get_n(item, &self.table, H::LAST_SEQ)?.unwrap_or(0),
            epoch: get_s(item, &self.table, H::EPOCH)?,
            updated_at_ms: get_n(item, &self.table, H::UPDATED_AT)?.unwrap_or(0),
        })
    }

    fn item_from(&self, item: &Item) -> Result<HistoryItem, StoreError> {
        let frame = match item.get(H::FRAME) {
            None => None,
            Some(AttributeValue::S(f)) => Some(f.clone().into_bytes()),
            Some(AttributeValue::B(b)) => Some(b.clone().into_inner()),
            Some(_) => {
                return Err(StoreError::Malformed {
                    table: self.table.clone(),
                    message: format!("{} is not a string", H::FRAME),
                })
            }
        };
        let target_user_id = match item.get(H::TARGET_USER_ID) {
            None => None,
            Some(_) => Some(get_s(item, &self.table, H::TARGET_USER_ID)?),
        };
        Ok(HistoryItem {
            seq: get_n(item, &self.table, H::SEQ)?.unwrap_or(0),
            epoch: get_s(item, &self.table, H::EPOCH)?,
            frame,
            target_user_id,
            expires_at: get_n(item, &self.table, H::EXPIRES_AT)?.unwrap_or(0),
        })
    }
}

fn ni(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[async_trait]
impl HistoryStore for DynamoHistoryStore {
    async fn next_seq(&self, room_id: &str) -> Result<Counter, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(H::ROOM_ID, s(room_id))
            .key(H::SEQ, n(0))
            // ADD is the atomic increment; the epoch is written only by the call that creates
            // the item, so it changes exactly when the counter is lost.
            .update_expression("ADD #last :one SET #epoch = if_not_exists(#epoch, :epoch), #at = :now")
            .expression_attribute_names("#last", H::LAST_SEQ)
            .expression_attribute_names("#epoch", H::EPOCH)
            .expression_attribute_names("#at", H::UPDATED_AT)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":epoch", s(&new_epoch()))
            .expression_attribute_values(":now", n(now_ms()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| backend_err("UpdateItem", &self.table, e))?;
        self.counter_from(&out.attributes.unwrap_or_default())
    }

    async fn counter(&self, room_id: &str) -> Result<Counter, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(H::ROOM_ID, s(room_id))
            .key(H::SEQ, n(0))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend_err("GetItem", &self.table, e))?;
        if let Some(item) = out.item.filter(|i| !i.is_empty()) {
            return self.counter_from(&item);
        }
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(H::ROOM_ID, s(room_id))
            .key(H::SEQ, n(0))
            .update_expression(
                "SET #epoch = if_not_exists(#epoch, :epoch), #last = if_not_exists(#last, :zero)",
            )
            .expression_attribute_names("#last", H::LAST_SEQ)
            .expression_attribute_names("#epoch", H::EPOCH)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":epoch", s(&new_epoch()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| backend_err("UpdateItem", &self.table, e))?;
        self.counter_from(&out.attributes.unwrap_or_default())
    }

    async fn position(&self, room_id: &str) -> Result<Option<Counter>, StoreError> {
        // Eventually consistent (half the read cost): a counter moved in the last moments may
        // read older, so the page recovers a few frames it was rendered after, which it
        // shows once each (ids), rather than missing any.
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(H::ROOM_ID, s(room_id))
            .key(H::SEQ, n(0))
            .send()
            .await
            .map_err(|e| backend_err("GetItem", &self.table, e))?;
        out.item
            .filter(|i| !i.is_empty())
            .map(|i| self.counter_from(&i))
            .transpose()
    }

    async fn put(&self, room_id: &str, item: &HistoryItem) -> Result<(), StoreError> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(H::ROOM_ID, s(room_id))
            .item(H::SEQ, n(item.seq))
            .item(H::EPOCH, s(&item.epoch))
            .item(H::EXPIRES_AT, n(item.expires_at));
        if let Some(f) = &item.frame {
            let text = std::str::from_utf8(f).map_err(|_| StoreError::Malformed {
                table: self.table.clone(),
                message: "frames are JSON text; this one is not UTF-8".into(),
            })?;
            req = req.item(H::FRAME, s(text));
        }
        if let Some(t) = &item.target_user_id {
            req = req.item(H::TARGET_USER_ID, s(t));
        }
        req.send()
            .await
            .map_err(|e| backend_err("PutItem", &self.table, e))?;
        Ok(())
    }

    async fn claim(&self, room_id: &str, message_id: &str, item: &HistoryItem) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(H::ROOM_ID, s(room_id))
            .item(H::SEQ, ni(claim_key(message_id)))
            .item(H::MESSAGE_ID, s(message_id))
            .item(H::MESSAGE_SEQ, n(item.seq))
            .item(H::EPOCH, s(&item.epoch))
            .item(H::EXPIRES_AT, n(item.expires_at))
            .send()
            .await
            .map_err(|e| backend_err("PutItem", &self.table, e))?;
        Ok(())
    }

    async fn claimed(&self, room_id: &str, message_id: &str) -> Result<Option<HistoryItem>, StoreError> {
        // Eventually consistent is enough: a redelivery comes a visibility timeout later.
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(H::ROOM_ID, s(room_id))
            .key(H::SEQ, ni(claim_key(message_id)))
            .send()
            .await
            .map_err(|e| backend_err("GetItem", &self.table, e))?;
        let Some(claim) = out.item.filter(|i| !i.is_empty()) else {
            return Ok(None);
        };
        if get_s(&claim, &self.table, H::MESSAGE_ID)? != message_id {
            return Ok(None);
        }
        let Some(seq) = get_n(&claim, &self.table, H::MESSAGE_SEQ)? else {
            return Ok(None);
        };
        let epoch = get_s(&claim, &self.table, H::EPOCH)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(H::ROOM_ID, s(room_id))
            .key(H::SEQ, n(seq))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend_err("GetItem", &self.table, e))?;
        let Some(item) = out.item.filter(|i| !i.is_empty()) else {
            return Ok(None);
        };
        let item = self.item_from(&item)?;
        Ok((item.epoch == epoch && item.expires_at > crate::token::now_secs()).then_some(item))
    }

    async fn range(
        &self,
        room_id: &str,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<HistoryItem>, StoreError> {
        let mut items = Vec::new();
        if from > to || limit == 0 {
            return Ok(items);
        }
        let mut start: Option<Item> = None;
        loop {
            let left = limit - items.len();
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#r = :r AND #s BETWEEN :from AND :to")
                .expression_attribute_names("#r", H::ROOM_ID)
                .expression_attribute_names("#s", H::SEQ)
                .expression_attribute_values(":r", s(room_id))
                .expression_attribute_values(":from", n(from))
                .expression_attribute_values(":to", n(to))
                .consistent_read(true)
                .limit(left.min(i32::MAX as usize) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| backend_err("Query", &self.table, e))?;
            for item in out.items.unwrap_or_default() {
                items.push(self.item_from(&item)?);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() && items.len() < limit => start = Some(k),
                _ => break,
            }
        }
        Ok(items)
    }
}
