//! What the four Lambda mains share: JSON logs and the backends, built once per cold start.

use hermes_core::{Backends, Config};
use lambda_runtime::Error;

/// JSON lines to stdout, which Lambda ships to CloudWatch; `RUST_LOG` or `AWS_LAMBDA_LOG_LEVEL` filter.
pub fn init_tracing() {
    let filter = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|l| l.to_lowercase()))
        .unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_current_span(false)
        .without_time()
        .with_target(false)
        .init();
}

/// Config and clients, created before the first event so every warm invocation reuses them.
pub async fn setup() -> Result<(Config, Backends), Error> {
    init_tracing();
    let cfg = Config::from_env().map_err(fatal)?;
    let backends = Backends::from_config(&cfg).await.map_err(fatal)?;
    Ok((cfg, backends))
}

/// A start-up failure: logged as a JSON line CloudWatch can alert on, and returned with its
/// message (not its Debug form) so the runtime's init error names the variable plainly.
pub fn fatal(e: impl std::fmt::Display) -> Error {
    tracing::error!(error = %e, "cannot start");
    e.to_string().into()
}
