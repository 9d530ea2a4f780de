//! The queue, polled into the send handler with SQS's batch semantics, as the send Lambda's
//! event source mapping does: delete what succeeded, leave the failures for redelivery after
//! the visibility timeout.

use std::sync::Arc;
use std::time::Duration;

use hermes_core::events::sqs::{SqsEvent, SqsMessage};
use tokio::sync::watch;

use crate::state::App;

pub(crate) async fn poll(app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let queue = app.queue.clone().expect("poll runs with a queue");
    while !*stop.borrow() {
        let got = tokio::select! {
            r = queue.receive(10, Duration::from_secs(1)) => r,
            _ = stop.changed() => break,
        };
        let msgs = match got {
            Ok(m) if m.is_empty() => continue,
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "queue receive failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut event = SqsEvent::default();
        event.records = msgs
            .iter()
            .map(|m| {
                let mut r = SqsMessage::default();
                r.message_id = Some(m.message_id.clone());
                r.receipt_handle = Some(m.receipt_handle.clone());
                r.body = Some(m.body.clone());
                r.event_source = Some("aws:sqs".into());
                r.aws_region = Some(app.region.clone());
                r
            })
            .collect();
        let resp = app.sender.handle_sqs(event).await;
        let failed: Vec<&str> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let handled: Vec<String> = msgs
            .iter()
            .filter(|m| !failed.contains(&m.message_id.as_str()))
            .map(|m| m.receipt_handle.clone())
            .collect();
        if !handled.is_empty() {
            if let Err(e) = queue.delete(&handled).await {
                tracing::warn!(error = %e, "deleting handled messages failed; SQS will redeliver them");
            }
        }
    }
}
