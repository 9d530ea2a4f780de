use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hermes_core::handlers::send::StreamLimits;
use hermes_core::handlers::{SendEvent, Sender};
use hermes_core::metrics::Function;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

/// The invocation's deadline (epoch milliseconds in the Lambda context) on the monotonic clock.
/// One already past is no deadline: Lambda never sends that, but emulators do (cargo-lambda's
/// sends its timeout, 600000), and reading it as "no time left" would start nothing.
fn deadline(epoch_ms: u64) -> Option<Instant> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let left = Duration::from_millis(epoch_ms).checked_sub(now);
    if left.is_none() {
        tracing::warn!(
            deadline_ms = epoch_ms,
            "the invocation's deadline is in the past; ignoring it"
        );
    }
    left.map(|d| Instant::now() + d)
}

// One thread: at the template's 512 MB a Lambda has about a third of a vCPU, and a second
// worker thread only adds cross-thread wake-ups to every post (script/bench-seed-send: 24 µs of
// sender CPU per post with the multi-thread runtime, 17.5 µs with this one; docs/fan-out.md).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (cfg, backends) = hermes_lambdas::setup().await?;
    let emf = &hermes_lambdas::emf(Function::Send)?;
    // The keys of signed stream names: the current JWT secret's and, during a rotation, the
    // previous one's, read again as the secret's cache expires.
    let secrets = hermes_lambdas::secrets(&cfg).await?;
    // With the queue, a room one invocation cannot finish goes on in the next ones.
    let sender = &Sender::new(
        backends.connections,
        backends.pushers,
        cfg.websocket_endpoint().map(str::to_owned),
    )
    .with_history(backends.history, cfg.history_ttl().as_duration())
    .with_streams(
        backends.subscriptions,
        backends.stream_history,
        secrets,
        StreamLimits::default(),
    )
    .with_queue(backends.queue);
    // One function serves SQS batches and the WebSocket routes; the event's shape says which.
    run(service_fn(move |ev: LambdaEvent<Value>| async move {
        let until = deadline(ev.context.deadline);
        let metrics = hermes_lambdas::invocation_metrics(&ev.context);
        let out: Result<Value, Error> = match SendEvent::from_value(ev.payload) {
            Ok(event) => Ok(sender.handle_measured(event, until, &metrics).await),
            Err(e) => Err(e.into()),
        };
        // Printed for an unreadable event too: its invocation (and cold start) still happened.
        emf.print(&metrics);
        out
    }))
    .await
}
