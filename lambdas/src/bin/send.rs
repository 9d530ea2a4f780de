use hermes_core::handlers::{SendEvent, Sender};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (cfg, backends) = hermes_lambdas::setup().await?;
    let sender = &Sender::new(
        backends.connections,
        backends.pushers,
        cfg.websocket_endpoint().map(str::to_owned),
    )
    .with_history(backends.history, cfg.history_ttl().as_duration());
    // One function serves SQS batches and the WebSocket routes; the event's shape says which.
    run(service_fn(move |ev: LambdaEvent<Value>| async move {
        let event = SendEvent::from_value(ev.payload)?;
        Ok::<Value, Error>(sender.handle(event).await)
    }))
    .await
}
