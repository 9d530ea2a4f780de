//! The subscriptions table on DynamoDB: writes in BatchWriteItem requests, reads by Query on
//! the stream's partition.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;

use super::{distinct, Subscription, SubscriptionStore};
use crate::names::subscriptions as S;
use crate::store::dynamo::{backend_err, members_page, n, s, Item};
use crate::store::{RoomPage, StoreError};

/// DynamoDB's most write requests in one BatchWriteItem.
const BATCH: usize = 25;
/// Attempts at a batch's unprocessed items (throttled partitions), the first included; the
/// waits between them double from `FIRST_BACKOFF` (50 + 100 + 200 + 400 ms at most).
const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

pub struct DynamoSubscriptionStore {
    client: Client,
    table: String,
    page_size: Option<usize>,
}

impl DynamoSubscriptionStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoSubscriptionStore {
            client,
            table: table.into(),
            page_size: None,
        }
    }

    /// Caps items per Query page (DynamoDB's own cap is 1 MB a page); tests use it to make
    /// pagination happen with a handful of items.
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = Some(n.max(1));
        self
    }

    /// Writes `requests` 25 at a time, each batch's unprocessed items again after a backoff,
    /// `ATTEMPTS` times at most.
    async fn write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        let mut requests = requests.into_iter().peekable();
        while requests.peek().is_some() {
            let mut batch: Vec<WriteRequest> = requests.by_ref().take(BATCH).collect();
            let mut backoff = FIRST_BACKOFF;
            for attempt in 1..=ATTEMPTS {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, batch)
                    .send()
                    .await
                    .map_err(|e| backend_err("BatchWriteItem", &self.table, e))?;
                batch = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if batch.is_empty() {
                    break;
                }
                if attempt == ATTEMPTS {
                    return Err(StoreError::Backend {
                        op: "BatchWriteItem",
                        table: self.table.clone(),
                        message: format!(
                            "{} items still unprocessed after {ATTEMPTS} attempts",
                            batch.len()
                        ),
                    });
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        Ok(())
    }

    fn built<T, E: std::fmt::Display>(&self, r: Result<T, E>) -> Result<T, StoreError> {
        r.map_err(|e| StoreError::Backend {
            op: "BatchWriteItem",
            table: self.table.clone(),
            message: format!("request not built ({e})"),
        })
    }
}

fn item(sub: &Subscription) -> Item {
    let mut item = Item::new();
    item.insert(S::STREAM.into(), s(&sub.stream));
    item.insert(S::CONNECTION_ID.into(), s(&sub.connection_id));
    if let Some(u) = sub.user_id.as_deref().filter(|u| !u.is_empty()) {
        item.insert(S::USER_ID.into(), s(u));
    }
    item.insert(S::EXPIRES_AT.into(), n(sub.expires_at));
    item
}

#[async_trait]
impl SubscriptionStore for DynamoSubscriptionStore {
    async fn put(&self, subscriptions: &[Subscription]) -> Result<(), StoreError> {
        // One request per key: BatchWriteItem refuses a batch naming an item twice. The last
        // one given wins, as two PutItems would.
        let by_key: BTreeMap<(&str, &str), &Subscription> = subscriptions
            .iter()
            .map(|sub| ((sub.stream.as_str(), sub.connection_id.as_str()), sub))
            .collect();
        let mut requests = Vec::with_capacity(by_key.len());
        for sub in by_key.into_values() {
            let put = self.built(PutRequest::builder().set_item(Some(item(sub))).build())?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        self.write(requests).await
    }

    async fn delete(&self, connection_id: &str, streams: &[String]) -> Result<(), StoreError> {
        let mut requests = Vec::with_capacity(streams.len());
        for stream in distinct(streams) {
            let key = Item::from([
                (S::STREAM.to_owned(), s(stream)),
                (S::CONNECTION_ID.to_owned(), s(connection_id)),
            ]);
            let delete = self.built(DeleteRequest::builder().set_key(Some(key)).build())?;
            requests.push(WriteRequest::builder().delete_request(delete).build());
        }
        self.write(requests).await
    }

    /// One Query, `after` as the ExclusiveStartKey. Strongly consistent: a socket whose
    /// `subscribed` answer named seq N gets every frame after N, since the broadcast taking
    /// N + 1 reads the subscribers after the subscription was written.
    async fn page(&self, stream: &str, after: Option<&str>, limit: usize) -> Result<RoomPage, StoreError> {
        let limit = self.page_size.map_or(limit, |p| p.min(limit)).max(1);
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#s = :s")
            .expression_attribute_names("#s", S::STREAM)
            .expression_attribute_values(":s", s(stream))
            .projection_expression("#c, #u")
            .expression_attribute_names("#c", S::CONNECTION_ID)
            .expression_attribute_names("#u", S::USER_ID)
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
        if let Some(a) = after {
            q = q
                .exclusive_start_key(S::STREAM, s(stream))
                .exclusive_start_key(S::CONNECTION_ID, s(a));
        }
        let out = q.send().await.map_err(|e| backend_err("Query", &self.table, e))?;
        members_page(
            out.items,
            out.last_evaluated_key,
            &self.table,
            S::CONNECTION_ID,
            S::USER_ID,
        )
    }
}
