//! `hermes-local [--port N] [--stage NAME]`: see `--help`.

use std::time::Duration;

use hermes_core::names::env;
use hermes_core::{Backend, Config};
use hermes_local::{start, Options, StartError};
use tracing_subscriber::filter::LevelFilter;

const HELP: &str = "\
hermes-local: an API Gateway WebSocket API on 127.0.0.1, running the Hermes handlers in-process.

USAGE: hermes-local [--port N] [--stage NAME] [--idle-timeout SECS] [--max-age SECS]
                    [--max-frame-bytes N] [--max-message-bytes N] [--max-connections N]
                    [--header-timeout SECS] [--max-queued-bytes N]
                    [--body-timeout SECS] [--max-total-queued-bytes N]

  --port N             listen on 127.0.0.1:N (default 3001; 0 picks a free port)
  --stage NAME         the stage in ws://127.0.0.1:N/NAME (default development)
  --idle-timeout SECS  close sockets idle this long, like API Gateway (default 600)
  --max-age SECS       close sockets this old, like API Gateway (default 7200)
  --max-frame-bytes N  close with 1009 on a bigger frame (default 32768, API Gateway's 32 KB)
  --max-message-bytes N
                       close with 1009 on a bigger message, and refuse bigger posts with 413
                       (default 131072, API Gateway's 128 KB)
  --max-connections N  refuse upgrades past N open WebSockets with 429 (default: what the
                       process's file-descriptor limit, ulimit -n, leaves room for)
  --header-timeout SECS
                       close a connection that has not sent its request headers in time
                       (default 10)
  --body-timeout SECS  answer 408 and close a connection whose request body has not all
                       arrived this long after its headers (default 10)
  --max-queued-bytes N close a socket whose client lets more than N bytes of frames pile up
                       unread, with 1008 (default 16777216: a recovery's 100 frames of
                       128 KB fit; at least --max-message-bytes)
  --max-total-queued-bytes N
                       bytes of frames waiting for all clients together (default 268435456,
                       256 MiB; at least --max-queued-bytes): a post that would go past it
                       closes the client holding the most with 1008, or is answered 429 when
                       that cannot make room
  --help               this text

Everything else comes from the HERMES_* environment (see README). With no HERMES_BACKEND it runs
on the memory backend with a generated development secret and passcode, and serves a demo page
at http://127.0.0.1:N/. HERMES_BACKEND=aws HERMES_AWS_ENDPOINT_URL=... HERMES_QUEUE_URL=... runs it
against DynamoDB/SQS (an emulator or AWS): then the secret and passcode must be set.";

fn number<T: std::str::FromStr>(v: String, name: &str, what: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("{name} must be {what}, not {v:?}"))
}

/// The flags into `Options`; what the values mean together is `Options::check`'s (in `start`).
fn parse_args() -> Result<Options, String> {
    let mut o = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--help" | "-h" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            "--port" => o.port = number(value("--port")?, "--port", "a number from 0 to 65535")?,
            "--stage" => o.stage = value("--stage")?,
            "--idle-timeout" => {
                o.idle_timeout =
                    Duration::from_secs(number(value("--idle-timeout")?, "--idle-timeout", "seconds")?)
            }
            "--max-age" => {
                o.max_age = Duration::from_secs(number(value("--max-age")?, "--max-age", "seconds")?)
            }
            "--max-frame-bytes" => {
                o.max_frame_bytes = number(value("--max-frame-bytes")?, "--max-frame-bytes", "a byte count")?
            }
            "--max-message-bytes" => {
                o.max_message_bytes = number(
                    value("--max-message-bytes")?,
                    "--max-message-bytes",
                    "a byte count",
                )?
            }
            "--max-connections" => {
                o.max_connections = number(value("--max-connections")?, "--max-connections", "a number")?
            }
            "--header-timeout" => {
                o.header_read_timeout =
                    Duration::from_secs(number(value("--header-timeout")?, "--header-timeout", "seconds")?)
            }
            "--body-timeout" => {
                o.body_read_timeout =
                    Duration::from_secs(number(value("--body-timeout")?, "--body-timeout", "seconds")?)
            }
            "--max-queued-bytes" => {
                o.max_queued_bytes =
                    number(value("--max-queued-bytes")?, "--max-queued-bytes", "a byte count")?
            }
            "--max-total-queued-bytes" => {
                o.max_total_queued_bytes = number(
                    value("--max-total-queued-bytes")?,
                    "--max-total-queued-bytes",
                    "a byte count",
                )?
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(o)
}

/// How the environment's HERMES_BACKEND reads here.
struct Environment {
    config: Config,
    /// No secret was set: a development one was made up for this run.
    generated_secret: bool,
    /// HERMES_BACKEND=local, the gem's setting, was taken as the memory backend.
    local_as_memory: bool,
}

/// The environment, with the local defaults: memory backend, and on it a development secret
/// and passcode made up for this run when none are set. HERMES_BACKEND=local means "talk to
/// a running hermes-local" to the gem; a developer who exports it for Rails and then starts
/// hermes-local in the same shell means this process's own in-memory backend.
fn config() -> Result<Environment, String> {
    let set = std::env::var(env::BACKEND).ok().filter(|b| !b.trim().is_empty());
    let local_as_memory = set
        .as_deref()
        .is_some_and(|b| b.trim().eq_ignore_ascii_case(Backend::Local.as_str()));
    let memory = set
        .as_deref()
        .is_none_or(|b| b.trim().eq_ignore_ascii_case(Backend::Memory.as_str()) || local_as_memory);
    let generated = memory
        && std::env::var(env::JWT_SECRET)
            .map(|v| v.is_empty())
            .unwrap_or(true);
    let dev_secret = format!("hermes-local-{:032x}", rand_u128());
    let cfg = Config::from_lookup(|name| {
        let v = std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        match name {
            n if n == env::BACKEND && memory => Some(Backend::Memory.as_str().into()),
            n if n == env::JWT_SECRET && memory => v.or(Some(dev_secret.clone())),
            n if n == env::PASSCODE && memory => v.or(Some("hermes-local-passcode".into())),
            // The memory backend's keys are its own (given or made up), never the stack's secret.
            n if n == env::SECRET_ID && memory => None,
            _ => v,
        }
    })
    .map_err(|e| e.to_string())?;
    Ok(Environment {
        config: cfg,
        generated_secret: generated,
        local_as_memory,
    })
}

fn rand_u128() -> u128 {
    let mut b = [0u8; 16];
    // The OS source via std's hasher keys; enough for a secret that lives one process.
    for (i, chunk) in b.chunks_mut(8).enumerate() {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    u128::from_le_bytes(b)
}

// A fan-out allocates and frees small buffers on both worker threads for every post; glibc's
// malloc spent a quarter of the gateway's CPU there (local/benches/fanout.rs: p50 900 ms with
// it, 370-480 ms with mimalloc, same machine).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let (opts, environment) = match parse_args().and_then(|o| config().map(|c| (o, c))) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("hermes-local: {e}");
            std::process::exit(2);
        }
    };
    let Environment {
        config: cfg,
        generated_secret: generated,
        local_as_memory,
    } = environment;
    let backend = cfg.backend().as_str();
    let gw = match start(cfg, opts.clone()).await {
        Ok(g) => g,
        Err(e) => {
            eprintln!("hermes-local: {e}");
            // A bad flag is a usage error, like one that does not parse.
            std::process::exit(if matches!(e, StartError::Options(_)) { 2 } else { 1 });
        }
    };
    tracing::info!(
        "hermes-local listening on http://{} (backend {backend}, stage {})",
        gw.addr,
        opts.stage
    );
    tracing::info!(
        "WebSocket: {}?token=...   management API: {}/@connections/{{id}}",
        gw.ws_url(),
        gw.endpoint()
    );
    if local_as_memory {
        tracing::info!(
            "HERMES_BACKEND=local is the Rails app's setting (it talks to this process): running on the memory backend"
        );
    }
    if generated {
        tracing::info!("no HERMES_JWT_SECRET set: using a development secret made up for this run");
    }
    if backend == "memory" {
        tracing::info!("demo page: http://{}/", gw.addr);
    }
    let ctrl_c = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} }
    };
    ctrl_c.await;
    tracing::info!("shutting down");
    gw.shutdown().await;
}
