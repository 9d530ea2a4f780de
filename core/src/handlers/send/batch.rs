//! An SQS batch (the event source mapping's, up to 10 records): every record is handled and
//! only the failed ones are reported (`batchItemFailures`), so SQS delivers just those again.
//! What one record does is record.rs.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

use super::{count, Budget, SendError, Sender};
use crate::frame::Record;
use crate::handlers::deadline::Deadline;
use crate::handlers::fanout::{is_continuation, Audience, Delivery};
use crate::metrics::{names, Metrics};

impl Sender {
    pub async fn handle_sqs(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle_sqs_until(event, None).await
    }

    /// `deadline`: when the invocation ends.
    pub async fn handle_sqs_until(&self, event: SqsEvent, deadline: Option<Instant>) -> SqsBatchResponse {
        self.handle_sqs_measured(event, deadline, &Metrics::new()).await
    }

    /// `handle_sqs_until`, counting in `metrics`: per record its posts, its fan-out's duration
    /// and the notification's age once its posts here are done; the records that failed; the
    /// batch's message ids as a property.
    pub async fn handle_sqs_measured(
        &self,
        event: SqsEvent,
        deadline: Option<Instant>,
        metrics: &Metrics,
    ) -> SqsBatchResponse {
        let deadline = Deadline::new(deadline, self.settings.reserve, Instant::now());
        let chains = chains(&event.records);
        let budget = Budget {
            // The posts in flight are shared out between chains.
            concurrency: (self.settings.concurrency / chains.len().max(1)).max(4),
            deadline,
            enqueued_at: None,
        };
        let outcomes = futures::future::join_all(chains.iter().map(|chain| async move {
            let mut out = Vec::with_capacity(chain.len());
            for r in chain {
                let began = Instant::now();
                let outcome = self.handle_record(r, budget).await;
                measure(metrics, r, &outcome, began.elapsed());
                out.push((*r, outcome));
            }
            out
        }))
        .await;
        let mut failed = Vec::new();
        for (record, outcome) in outcomes.into_iter().flatten() {
            let id = record.message_id.clone().unwrap_or_default();
            match outcome {
                Ok(d) => tracing::info!(
                    message_id = id,
                    delivered = d.delivered,
                    gone = d.gone,
                    rejected = d.rejected,
                    throttled = d.throttled,
                    continued = d.continued,
                    "sent"
                ),
                Err(SendError::NoTime) => {
                    if !self.hand_back(record).await {
                        failed.push(id);
                    }
                }
                Err(e) => {
                    tracing::error!(message_id = id, error = %e, "record failed");
                    failed.push(id);
                }
            }
        }
        metrics.add(names::RECORDS_FAILED, failed.len() as u64);
        let ids: Vec<&str> = event
            .records
            .iter()
            .filter_map(|r| r.message_id.as_deref())
            .collect();
        metrics.property("MessageIds", ids);
        failures(&event.records, &failed)
    }

    /// A record the deadline left no time to start goes back to the queue as a new message,
    /// and this one is reported handled: reporting it failed would count a receive towards
    /// the dead-letter queue's maxReceiveCount for a record nobody tried. Nothing of it was
    /// done (it has not even been made into a frame), so nothing is repeated. This cannot
    /// circle for ever: the first record of each chain always starts (the reserve is at most a
    /// quarter of the invocation), so only records behind another one's work come back. Not on
    /// a FIFO queue: a new message would go behind the room's later ones, while the failure
    /// keeps the order.
    async fn hand_back(&self, record: &SqsMessage) -> bool {
        let id = record.message_id.as_deref().unwrap_or_default();
        let Some(queue) = &self.queue else {
            tracing::info!(message_id = id, "left for the next invocation");
            return false;
        };
        if record.attributes.contains_key("MessageGroupId") {
            tracing::info!(message_id = id, "left for the next invocation (FIFO: order kept)");
            return false;
        }
        let body = record.body.as_deref().unwrap_or_default();
        match queue.send_body(body, "", Duration::ZERO).await {
            Ok(new_id) => {
                tracing::info!(
                    message_id = id,
                    new_message_id = new_id,
                    "no time to start: queued again"
                );
                true
            }
            Err(e) => {
                tracing::warn!(message_id = id, error = %e, "no time to start, and queueing it again failed");
                false
            }
        }
    }
}

/// One record's figures. A record that failed with connections not reached counts what its
/// posts did; any other failure (unreadable, the history or the room unreadable, handed back
/// for want of time) counts nothing here, and as a failed record if it was reported so.
fn measure(metrics: &Metrics, record: &SqsMessage, outcome: &Result<Delivery, SendError>, took: Duration) {
    let d = match outcome {
        Ok(d) => {
            let body = record.body.as_deref().unwrap_or("");
            if !is_continuation(body)
                && matches!(
                    Record::parse(body),
                    Ok(Record::Notification(_) | Record::Broadcast(_))
                )
            {
                metrics.add(names::NOTIFICATIONS, 1);
            }
            d
        }
        Err(SendError::Undelivered(d)) => d,
        Err(_) => return,
    };
    count(metrics, d);
    metrics.sample(names::FANOUT_DURATION, millis(took));
    if let Some(sent) = d.enqueued_at.filter(|_| !d.closed) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        // Clocks of SQS and Lambda differ by a little: a message is never younger than 0.
        metrics.sample(names::NOTIFICATION_AGE, now.saturating_sub(sent) as f64);
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The batch's records in chains that run side by side: a room's notifications and control
/// records (or a stream's broadcasts) one after another, in the batch's order (so a FIFO
/// queue's order holds), and each continuation (or unreadable record) on its own: the parts of
/// one message are meant to run in parallel.
fn chains(records: &[SqsMessage]) -> Vec<Vec<&SqsMessage>> {
    let mut chains: Vec<Vec<&SqsMessage>> = Vec::new();
    let mut by_room: HashMap<Audience, usize> = HashMap::new();
    for r in records {
        let body = r.body.as_deref().unwrap_or("");
        let room = match (!is_continuation(body)).then(|| Record::parse(body)) {
            Some(Ok(Record::Notification(n))) => Some(Audience::Room(n.room_id)),
            Some(Ok(Record::Broadcast(b))) => Some(Audience::Stream(b.stream)),
            Some(Ok(Record::Control(c))) => Some(Audience::Room(c.room_id().to_owned())),
            _ => None,
        };
        match room {
            Some(room) => {
                let i = *by_room.entry(room).or_insert_with(|| {
                    chains.push(Vec::new());
                    chains.len() - 1
                });
                chains[i].push(r);
            }
            None => chains.push(vec![r]),
        }
    }
    chains
}

/// The failed records, in the batch's order.
fn failures(records: &[SqsMessage], failed: &[String]) -> SqsBatchResponse {
    let mut resp = SqsBatchResponse::default();
    resp.batch_item_failures = records
        .iter()
        .filter_map(|r| r.message_id.as_ref().filter(|id| failed.contains(id)))
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id.clone();
            f
        })
        .collect();
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m
    }

    fn ids(chains: &[Vec<&SqsMessage>]) -> Vec<Vec<String>> {
        chains
            .iter()
            .map(|c| c.iter().map(|r| r.message_id.clone().unwrap()).collect())
            .collect()
    }

    #[test]
    fn a_rooms_records_run_in_order_and_continuations_alone() {
        let note = |room: &str| format!(r#"{{"user_id":1,"room_id":"{room}","data":null}}"#);
        let cont = r#"{"hermes":"continuation","target":{"room_id":"A"},"pending":["c"],"frame":{}}"#;
        let close = r#"{"hermes":"disconnect","target":{"room_id":"A","user_id":"1"}}"#;
        let cast = r#"{"hermes":"broadcast","stream":"A","data":1}"#;
        let batch = vec![
            record("1", &note("A")),
            record("2", cont),
            record("3", &note("B")),
            record("4", close),
            record("5", "not json"),
            record("6", cont),
            record("7", &note("A")),
            record("8", cast),
            record("9", cast),
        ];
        assert_eq!(
            ids(&chains(&batch)),
            vec![
                vec!["1", "4", "7"],
                vec!["2"],
                vec!["3"],
                vec!["5"],
                vec!["6"],
                vec!["8", "9"]
            ],
            "stream A is not room A"
        );
    }

    #[test]
    fn failures_are_reported_in_the_batchs_order() {
        let batch = vec![record("a", "{}"), record("b", "{}"), record("c", "{}")];
        let r = failures(&batch, &["c".into(), "a".into()]);
        let got: Vec<&str> = r
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(got, ["a", "c"]);
    }
}
