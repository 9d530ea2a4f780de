//! The history table on DynamoDB: items at `seq > 0`, the counter at `seq = 0`, claims at
//! negative keys, all in the room's partition. The stream history table has the same items
//! in each stream's partition: one store serves both, told its partition key.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;

use super::{claim_key, new_epoch, now_ms, Counter, HistoryItem, HistoryStore};
use crate::names::history as H;
use crate::store::dynamo::{backend_err, get_n, get_s, n, s, Item};
use crate::store::StoreError;

pub struct DynamoHistoryStore {
    client: Client,
    table: String,
    /// The partition key's name: `room_id`, or `stream` on the stream history table.
    key: &'static str,
}

impl DynamoHistoryStore {
    /// The room history (`names::history`).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoHistoryStore {
            client,
            table: table.into(),
            key: H::ROOM_ID,
        }
    }

    /// The stream history (`names::stream_history`): the `room_id` arguments of
    /// `HistoryStore` are then stream names.
    pub fn for_streams(client: Client, table: impl Into<String>) -> Self {
        DynamoHistoryStore {
            client,
            table: table.into(),
            key: crate::names::stream_history::STREAM,
        }
    }

    /// The item at `seq` in the room's partition, if there is one.
    async fn get(
        &self,
        room_id: &str,
        seq: AttributeValue,
        consistent: bool,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(self.key, s(room_id))
            .key(H::SEQ, seq)
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| backend_err("GetItem", &self.table, e))?;
        Ok(out.item.filter(|i| !i.is_empty()))
    }

    /// An UpdateItem of the room's counter, `expression` naming `#last` and `#epoch`, `:epoch`
    /// bound to a new epoch (kept only by the call that creates the item).
    fn update_counter(&self, room_id: &str, expression: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(self.key, s(room_id))
            .key(H::SEQ, n(0))
            .update_expression(expression)
            .expression_attribute_names("#last", H::LAST_SEQ)
            .expression_attribute_names("#epoch", H::EPOCH)
            .expression_attribute_values(":epoch", s(&new_epoch()))
            .return_values(ReturnValue::AllNew)
    }

    async fn counter_after(&self, update: UpdateItemFluentBuilder) -> Result<Counter, StoreError> {
        let out = update
            .send()
            .await
            .map_err(|e| backend_err("UpdateItem", &self.table, e))?;
        self.counter_from(&out.attributes.unwrap_or_default())
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
        // ADD is the atomic increment; the epoch is written only by the call that creates
        // the item, so it changes exactly when the counter is lost.
        let update = self
            .update_counter(
                room_id,
                "ADD #last :one SET #epoch = if_not_exists(#epoch, :epoch), #at = :now",
            )
            .expression_attribute_names("#at", H::UPDATED_AT)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now_ms()));
        self.counter_after(update).await
    }

    async fn counter(&self, room_id: &str) -> Result<Counter, StoreError> {
        if let Some(item) = self.get(room_id, n(0), true).await? {
            return self.counter_from(&item);
        }
        let update = self
            .update_counter(
                room_id,
                "SET #epoch = if_not_exists(#epoch, :epoch), #last = if_not_exists(#last, :zero)",
            )
            .expression_attribute_values(":zero", n(0));
        self.counter_after(update).await
    }

    async fn position(&self, room_id: &str) -> Result<Option<Counter>, StoreError> {
        // Eventually consistent (half the read cost): a counter moved in the last moments may
        // read older, so the page recovers a few frames it was rendered after, which it
        // shows once each (ids), rather than missing any.
        self.get(room_id, n(0), false)
            .await?
            .map(|i| self.counter_from(&i))
            .transpose()
    }

    async fn put(&self, room_id: &str, item: &HistoryItem) -> Result<(), StoreError> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(self.key, s(room_id))
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
            .item(self.key, s(room_id))
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
        let Some(claim) = self.get(room_id, ni(claim_key(message_id)), false).await? else {
            return Ok(None);
        };
        if get_s(&claim, &self.table, H::MESSAGE_ID)? != message_id {
            return Ok(None);
        }
        let Some(seq) = get_n(&claim, &self.table, H::MESSAGE_SEQ)? else {
            return Ok(None);
        };
        let epoch = get_s(&claim, &self.table, H::EPOCH)?;
        let Some(item) = self.get(room_id, n(seq), true).await? else {
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
                .expression_attribute_names("#r", self.key)
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
