use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hermes_core::handlers::{SendEvent, Sender};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

/// The invocation's deadline (epoch milliseconds in the Lambda context) on the monotonic clock.
fn deadline(epoch_ms: u64) -> Instant {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Instant::now() + Duration::from_millis(epoch_ms).saturating_sub(now)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (cfg, backends) = hermes_lambdas::setup().await?;
    // With the queue, a room one invocation cannot finish goes on in the next ones.
    let sender = &Sender::new(
        backends.connections,
        backends.pushers,
        cfg.websocket_endpoint.clone(),
    )
    .with_queue(backends.queue);
    // One function serves SQS batches and the WebSocket routes; the event's shape says which.
    run(service_fn(move |ev: LambdaEvent<Value>| async move {
        let until = deadline(ev.context.deadline);
        let event = SendEvent::from_value(ev.payload)?;
        Ok::<Value, Error>(sender.handle_until(event, Some(until)).await)
    }))
    .await
}
