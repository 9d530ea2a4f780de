//! The tokens table on DynamoDB.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;

use super::{PreviousSeal, TokenRecord, TokenStore};
use crate::names::tokens as T;
use crate::store::dynamo::{backend_err, get_n, get_s, get_s_opt, n, s};
use crate::store::StoreError;

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
            previous: match get_s_opt(&item, &self.table, T::PREVIOUS_TOKEN)? {
                None => None,
                Some(hash) => Some(PreviousSeal {
                    hash,
                    // A seal without its expiry is not accepted (0 is long past).
                    expires_at: get_n(&item, &self.table, T::PREVIOUS_EXPIRES_AT)?.unwrap_or(0),
                }),
            },
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
        if let Some(p) = &r.previous {
            req = req
                .item(T::PREVIOUS_TOKEN, s(&p.hash))
                .item(T::PREVIOUS_EXPIRES_AT, n(p.expires_at));
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
