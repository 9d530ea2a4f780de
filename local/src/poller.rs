//! The queue, polled into the send handler with SQS's batch semantics, as the send Lambda's
//! event source mapping does: delete what succeeded, leave the failures for redelivery after
//! the visibility timeout.

use std::sync::Arc;
use std::time::Duration;

use hermes_core::metrics::{Function, Metrics};
use hermes_core::queue::{handled, sqs_event};
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
        let metrics = Metrics::new();
        let resp = app
            .sender
            .handle_sqs_measured(sqs_event(&msgs, &app.region), None, &metrics)
            .await;
        app.count(Function::Send, &metrics);
        let handled = handled(&msgs, &resp);
        if !handled.is_empty() {
            if let Err(e) = queue.delete(&handled).await {
                tracing::warn!(error = %e, "deleting handled messages failed; SQS will redeliver them");
            }
        }
    }
}
