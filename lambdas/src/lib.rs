//! What the four Lambda mains share: JSON logs and the backends, built once per cold start.

use hermes_core::metrics::{Emf, Function, Metrics};
use hermes_core::{Backends, Config, SecretSource};
use lambda_runtime::{Context, Error};
use tracing_subscriber::filter::LevelFilter;

/// JSON lines to stdout, which Lambda ships to CloudWatch. The level comes from Lambda's own
/// `AWS_LAMBDA_LOG_LEVEL` (set by the template's LoggingConfig) or `RUST_LOG`: a plain level,
/// not an env-filter directive, which keeps the regex engine out of every binary.
pub fn init_tracing() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
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

/// Where the keys come from: the secret `HERMES_SECRET_ID` names (read at run time, again as
/// its cache expires), or the environment. Boxed: the SDK's loading future is deep, and inline
/// in a main's future it overflows the compiler's query depth.
pub async fn secrets(cfg: &Config) -> Result<SecretSource, Error> {
    Box::pin(SecretSource::load(cfg)).await.map_err(fatal)
}

/// A start-up failure: logged as a JSON line CloudWatch can alert on, and returned with its
/// message (not its Debug form) so the runtime's init error names the variable plainly.
pub fn fatal(e: impl std::fmt::Display) -> Error {
    tracing::error!(error = %e, "cannot start");
    e.to_string().into()
}

/// The function's metrics emitter (namespace and stage from the environment), made before the
/// first event: a bad namespace stops the cold start with its name, as a bad table would.
pub fn emf(function: Function) -> Result<Emf, Error> {
    Emf::from_env(function).map_err(fatal)
}

/// An invocation's metrics, with its request id (and X-Ray trace id, when tracing is on) as
/// properties: the EMF line is found by them in the log, and they are never dimensions.
pub fn invocation_metrics(context: &Context) -> Metrics {
    let m = Metrics::new();
    m.property("RequestId", context.request_id.as_str());
    if let Some(trace) = context.xray_trace_id.as_deref().filter(|t| !t.is_empty()) {
        m.property("TraceId", trace);
    }
    m
}
