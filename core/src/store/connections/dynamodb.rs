//! The connections table on DynamoDB. Fan-out reads the room through the `room_id-index` GSI
//! with Query, page by page: never the seed's Scan + FilterExpression over the whole table.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

use super::{Connection, ConnectionStore, RoomMember, RoomPage};
use crate::names::connections as C;
use crate::store::dynamo::{backend_err, get_n, get_s, n, s};
use crate::store::StoreError;

pub struct DynamoConnectionStore {
    client: Client,
    table: String,
    page_size: Option<usize>,
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
        self.page_size = Some(n.max(1) as usize);
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

    /// One Query, `after` as the ExclusiveStartKey (the index's keys plus the table's, which
    /// here are room_id and connection_id).
    async fn room_page(
        &self,
        room_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<RoomPage, StoreError> {
        let limit = self.page_size.map_or(limit, |p| p.min(limit)).max(1);
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(C::ROOM_INDEX)
            .key_condition_expression("#r = :r")
            .expression_attribute_names("#r", C::ROOM_ID)
            .expression_attribute_values(":r", s(room_id))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
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

    /// One conditional UpdateItem: the condition is the lease check, so two recoveries racing
    /// for the same connection cannot both win.
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
            // Without the row there is no connection to recover for; and an UpdateItem
            // would otherwise create a row holding only the lease.
            .condition_expression("attribute_exists(#c) AND (attribute_not_exists(#r) OR #r <= :now)")
            .expression_attribute_names("#c", C::CONNECTION_ID)
            .expression_attribute_names("#r", C::RECOVERY_UNTIL)
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
}
