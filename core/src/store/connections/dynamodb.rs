//! The connections table on DynamoDB. Fan-out reads the room through the `room_id-index` GSI
//! with Query, page by page: never the seed's Scan + FilterExpression over the whole table.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;

use super::{check_add, distinct, rate_check, Connection, ConnectionStore, Deleted, RoomPage, StreamsChange};
use crate::names::connections as C;
use crate::store::dynamo::{
    backend_err, condition_failed, get_n, get_s, get_s_opt, get_ss, members_page, n, s, ss, Item,
};
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

    fn connection_from(&self, item: &Item) -> Result<Connection, StoreError> {
        let t = &self.table;
        Ok(Connection {
            connection_id: get_s(item, t, C::CONNECTION_ID)?,
            // A socket of nobody's row has neither.
            room_id: get_s_opt(item, t, C::ROOM_ID)?.unwrap_or_default(),
            user_id: get_s_opt(item, t, C::USER_ID)?.unwrap_or_default(),
            connected_at: get_n(item, t, C::CONNECTED_AT)?.unwrap_or(0),
            expires_at: get_n(item, t, C::EXPIRES_AT)?.unwrap_or(0),
            streams: get_ss(item, t, C::STREAMS)?,
        })
    }

    /// The socket's streams and when they last changed, read consistently (the outcome of a
    /// refused change is told from it); `None` when there is no row.
    async fn streams_state(
        &self,
        connection_id: &str,
    ) -> Result<Option<(Vec<String>, Option<u64>)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(C::CONNECTION_ID, s(connection_id))
            .consistent_read(true)
            .projection_expression("#c, #streams, #at")
            .expression_attribute_names("#c", C::CONNECTION_ID)
            .expression_attribute_names("#streams", C::STREAMS)
            .expression_attribute_names("#at", C::SUBSCRIBED_AT)
            .send()
            .await
            .map_err(|e| backend_err("GetItem", &self.table, e))?;
        let Some(item) = out.item.filter(|i| !i.is_empty()) else {
            return Ok(None);
        };
        Ok(Some((
            get_ss(&item, &self.table, C::STREAMS)?,
            get_n(&item, &self.table, C::SUBSCRIBED_AT)?,
        )))
    }

    /// One conditional UpdateItem of the socket's streams (`ADD` or `DELETE` of `names`, and
    /// `subscribed_at = now_ms`), on a row that exists and passes `guard`, holding at most
    /// `room` streams first when given. `Ok(false)`: the condition failed.
    async fn update_streams(
        &self,
        connection_id: &str,
        op: SetOp,
        names: &[String],
        now_ms: u64,
        guard: Guard,
        room: Option<usize>,
    ) -> Result<bool, StoreError> {
        let mut update = String::new();
        let mut condition = String::from("attribute_exists(#c)");
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(C::CONNECTION_ID, s(connection_id))
            .expression_attribute_names("#c", C::CONNECTION_ID)
            .expression_attribute_names("#at", C::SUBSCRIBED_AT)
            .expression_attribute_values(":now", n(now_ms));
        // DynamoDB refuses an empty set: a change of no names only moves `subscribed_at`.
        if !names.is_empty() {
            update.push_str(match op {
                SetOp::Add => "ADD #streams :set ",
                SetOp::Delete => "DELETE #streams :set ",
            });
            req = req.expression_attribute_values(":set", ss(names));
        }
        update.push_str("SET #at = :now");
        match guard {
            Guard::Rate { min_interval_ms } => {
                condition.push_str(" AND (attribute_not_exists(#at) OR #at <= :cutoff)");
                // Negative while `now_ms` is within the first interval since 1970: any
                // change then is too soon, as the memory store's arithmetic says.
                let cutoff = i128::from(now_ms) - i128::from(min_interval_ms);
                req = req.expression_attribute_values(":cutoff", AttributeValue::N(cutoff.to_string()));
            }
            Guard::Unchanged(None) => condition.push_str(" AND attribute_not_exists(#at)"),
            Guard::Unchanged(Some(at)) => {
                condition.push_str(" AND #at = :seen");
                req = req.expression_attribute_values(":seen", n(at));
            }
        }
        if let Some(room) = room {
            condition.push_str(" AND (attribute_not_exists(#streams) OR size(#streams) <= :room)");
            req = req.expression_attribute_values(":room", n(room as u64));
        }
        if !names.is_empty() || room.is_some() {
            req = req.expression_attribute_names("#streams", C::STREAMS);
        }
        let r = req
            .update_expression(update)
            .condition_expression(condition)
            .send()
            .await;
        if condition_failed(&r) {
            return Ok(false);
        }
        r.map_err(|e| backend_err("UpdateItem", &self.table, e))?;
        Ok(true)
    }
}

#[derive(Clone, Copy)]
enum SetOp {
    Add,
    Delete,
}

/// What else the row must satisfy for a streams change.
#[derive(Clone, Copy)]
enum Guard {
    /// Its last change was at least this long before `now_ms` (or it never changed).
    Rate { min_interval_ms: u64 },
    /// Its `subscribed_at` is still what was read: nothing changed its streams since (every
    /// change moves it).
    Unchanged(Option<u64>),
}

/// A change refused on a row that, read back, would allow it: another change of the same
/// socket's streams came in between (requests of one socket run concurrently, on clocks that
/// may differ by a few ms). Reported as too soon: the client tries again, as for the rate.
fn collided(min_interval_ms: u64) -> StreamsChange {
    StreamsChange::TooSoon {
        retry_after_ms: min_interval_ms.max(1),
    }
}

#[async_trait]
impl ConnectionStore for DynamoConnectionStore {
    async fn put(&self, c: &Connection) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(connection_item(c)))
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
        let Some(item) = out.item.filter(|i| !i.is_empty()) else {
            return Ok(None);
        };
        self.connection_from(&item).map(Some)
    }

    /// One DeleteItem returning the old row (ALL_OLD): no read before it.
    async fn delete(&self, connection_id: &str) -> Result<Option<Connection>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(C::CONNECTION_ID, s(connection_id))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| backend_err("DeleteItem", &self.table, e))?;
        match out.attributes.filter(|i| !i.is_empty()) {
            Some(item) => self.connection_from(&item).map(Some),
            None => Ok(None),
        }
    }

    /// One DeleteItem, its condition the connection's age: a young row is kept whatever
    /// happens between a read and the delete.
    async fn delete_established(
        &self,
        connection_id: &str,
        connected_since: u64,
    ) -> Result<Deleted, StoreError> {
        let r = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(C::CONNECTION_ID, s(connection_id))
            .condition_expression("attribute_not_exists(#at) OR #at < :since")
            .expression_attribute_names("#at", C::CONNECTED_AT)
            .expression_attribute_values(":since", n(connected_since))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match r {
            Ok(out) => match out.attributes.filter(|i| !i.is_empty()) {
                Some(item) => self.connection_from(&item).map(Deleted::Row),
                None => Ok(Deleted::NoRow),
            },
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(Deleted::Kept)
            }
            Err(e) => Err(backend_err("DeleteItem", &self.table, e)),
        }
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
        members_page(
            out.items,
            out.last_evaluated_key,
            &self.table,
            C::CONNECTION_ID,
            C::USER_ID,
        )
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

    /// One conditional UpdateItem, each name counted as new; only when its condition fails, a
    /// consistent GetItem tells why, and a change that fits after all (names already held)
    /// is tried once more, on the row as read.
    async fn add_streams(
        &self,
        connection_id: &str,
        streams: &[String],
        max: usize,
        now_ms: u64,
        min_interval_ms: u64,
    ) -> Result<StreamsChange, StoreError> {
        let new = distinct(streams);
        let rate = Guard::Rate { min_interval_ms };
        if let Some(room) = max.checked_sub(new.len()) {
            if self
                .update_streams(connection_id, SetOp::Add, &new, now_ms, rate, Some(room))
                .await?
            {
                return Ok(StreamsChange::Done);
            }
        }
        let Some((held, last)) = self.streams_state(connection_id).await? else {
            return Ok(StreamsChange::NoConnection);
        };
        let fresh = match check_add(&held, last, &new, max, now_ms, min_interval_ms) {
            Ok(fresh) => fresh,
            Err(refused) => return Ok(refused),
        };
        let exact = Some(max - fresh);
        if self
            .update_streams(
                connection_id,
                SetOp::Add,
                &new,
                now_ms,
                Guard::Unchanged(last),
                exact,
            )
            .await?
        {
            return Ok(StreamsChange::Done);
        }
        Ok(match self.streams_state(connection_id).await? {
            None => StreamsChange::NoConnection,
            Some((held, last)) => check_add(&held, last, &new, max, now_ms, min_interval_ms)
                .err()
                .unwrap_or_else(|| collided(min_interval_ms)),
        })
    }

    /// One conditional UpdateItem; only when its condition fails, a consistent GetItem tells why.
    async fn remove_streams(
        &self,
        connection_id: &str,
        streams: &[String],
        now_ms: u64,
        min_interval_ms: u64,
    ) -> Result<StreamsChange, StoreError> {
        let gone = distinct(streams);
        let rate = Guard::Rate { min_interval_ms };
        if self
            .update_streams(connection_id, SetOp::Delete, &gone, now_ms, rate, None)
            .await?
        {
            return Ok(StreamsChange::Done);
        }
        Ok(match self.streams_state(connection_id).await? {
            None => StreamsChange::NoConnection,
            Some((_, last)) => rate_check(last, now_ms, min_interval_ms)
                .err()
                .unwrap_or_else(|| collided(min_interval_ms)),
        })
    }
}

/// The row as written: a socket of nobody's without `room_id` and `user_id` (the
/// `room_id-index` stays sparse: only rows with a room are in it), and `streams` only when it
/// has some (DynamoDB keeps no empty set).
fn connection_item(c: &Connection) -> Item {
    let mut item = Item::new();
    item.insert(C::CONNECTION_ID.into(), s(&c.connection_id));
    if !c.room_id.is_empty() {
        item.insert(C::ROOM_ID.into(), s(&c.room_id));
    }
    if !c.user_id.is_empty() {
        item.insert(C::USER_ID.into(), s(&c.user_id));
    }
    item.insert(C::CONNECTED_AT.into(), n(c.connected_at));
    item.insert(C::EXPIRES_AT.into(), n(c.expires_at));
    let streams = distinct(&c.streams);
    if !streams.is_empty() {
        item.insert(C::STREAMS.into(), ss(&streams));
    }
    item
}
