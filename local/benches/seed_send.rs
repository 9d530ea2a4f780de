//! The seed's Node send Lambda (aws-sdk v2) and ours side by side, as separate processes, in
//! one run: `script/bench-seed-send` (it installs aws-sdk v2, builds the release `send`
//! binary, starts moto and runs this). Both get the same SQS events through a Lambda Runtime
//! API served here and post to the same hermes-local (DynamoDB on moto: the seed Scans, we
//! Query) with CLIENTS real WebSocket clients connected. Reports each sender's CPU time per
//! post (user + system, from /proc/PID/stat: the counters getrusage reads) and the time
//! until the last client has each message. Loopback only, bounded, stops by itself.
//!   SEED_BENCH_CLIENTS (1000), SEED_BENCH_MESSAGES (20), SEED_QUIET=1 (no console.log per post)

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use hermes_core::{Backends, Config, Minter, UserId};
use hermes_testkit::{cpu, env_num, free_port, percentile, wait_listening, Killed};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Mutex};

mod support;

const SECRET: &str = "seed-side-by-side-benchmark-secret-0123456789";
const PASSCODE: &str = "seed-bench";

/// A Lambda Runtime API for one function: events in, responses out.
#[derive(Clone)]
struct Runtime {
    events: Arc<Mutex<mpsc::UnboundedReceiver<(String, Value)>>>,
    done: mpsc::UnboundedSender<(String, String)>,
}

async fn next(State(rt): State<Runtime>) -> (HeaderMap, String) {
    // The channel closes when the bench is done with this sender: its last poll never ends
    // (the process is being killed), as an idle Lambda's would not.
    let Some((id, ev)) = rt.events.lock().await.recv().await else {
        return std::future::pending().await;
    };
    let mut h = HeaderMap::new();
    h.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        + Duration::from_secs(30);
    h.insert(
        "lambda-runtime-deadline-ms",
        deadline.as_millis().to_string().parse().unwrap(),
    );
    h.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:eu-west-1:000000000000:function:send"
            .parse()
            .unwrap(),
    );
    h.insert("content-type", "application/json".parse().unwrap());
    (h, ev.to_string())
}

async fn respond(State(rt): State<Runtime>, Path(id): Path<String>, body: String) -> &'static str {
    let _ = rt.done.send((id, body));
    "{}"
}

async fn serve_runtime() -> (
    u16,
    mpsc::UnboundedSender<(String, Value)>,
    mpsc::UnboundedReceiver<(String, String)>,
) {
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let rt = Runtime {
        events: Arc::new(Mutex::new(ev_rx)),
        done: done_tx,
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(respond))
        .route(
            "/2018-06-01/runtime/init/error",
            post(|b: String| async move {
                eprintln!("init error: {b}");
                std::process::exit(1);
                #[allow(unreachable_code)]
                "{}"
            }),
        )
        .with_state(rt);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (port, ev_tx, done_rx)
}

struct Figures {
    cpu_per_post: f64,
    times: Vec<Duration>,
}

#[allow(clippy::too_many_arguments)]
async fn run_sender(
    name: &str,
    mut cmd: Command,
    room: &str,
    clients: usize,
    messages: usize,
    received: &AtomicUsize,
    gw_pid: u32,
) -> (Figures, Duration) {
    let (port, events, mut done) = serve_runtime().await;
    cmd.env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "send")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .stdout(Stdio::null());
    let child = Killed(cmd.spawn().unwrap_or_else(|e| panic!("{name}: {e}")));
    let pid = child.id();
    let mut send_one = async |i: usize| -> Duration {
        let before = received.load(Ordering::SeqCst);
        let body = json!({"user_id": 1, "room_id": room, "data": {"type": "info", "data": i}}).to_string();
        let id = format!("{name}-{i}");
        let ev = json!({"Records": [{"messageId": id, "receiptHandle": "r", "body": body, "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:000000000000:hermes-messageQueue", "awsRegion": "eu-west-1",
            "attributes": {}, "messageAttributes": {}}]});
        let t0 = Instant::now();
        events.send((id.clone(), ev)).unwrap();
        let (got, answer) = tokio::time::timeout(Duration::from_secs(60), done.recv())
            .await
            .unwrap_or_else(|_| panic!("{name}: no answer to message {i} in 60 s"))
            .unwrap();
        assert_eq!(got, id);
        while received.load(Ordering::SeqCst) < before + clients {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "{name}: message {i} not delivered to all: {answer}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        t0.elapsed()
    };
    // Warm: pools, JIT, caches.
    for i in 0..3 {
        send_one(i).await;
    }
    let (cpu0, gw0) = (cpu::process(pid), cpu::process(gw_pid));
    let mut times = Vec::new();
    for i in 0..messages {
        times.push(send_one(100 + i).await);
    }
    let (spent, gw_spent) = (cpu::process(pid) - cpu0, cpu::process(gw_pid) - gw0);
    drop(child);
    let posts = (messages * clients) as f64;
    (
        Figures {
            cpu_per_post: spent.as_secs_f64() * 1e6 / posts,
            times,
        },
        gw_spent,
    )
}

fn main() {
    let Ok(moto) = std::env::var("HERMES_TEST_AWS_ENDPOINT") else {
        eprintln!("seed_send: run through script/bench-seed-send (it starts moto)");
        return;
    };
    let send_bin =
        std::env::var("SEED_BENCH_SEND_BIN").expect("SEED_BENCH_SEND_BIN: the release send binary");
    let seed_dir =
        std::env::var("SEED_BENCH_DIR").expect("SEED_BENCH_DIR: bench/seed-send with node_modules");
    let clients = env_num("SEED_BENCH_CLIENTS", 1000);
    let messages = env_num("SEED_BENCH_MESSAGES", 20);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let port = free_port();
    let aws_env = [
        ("HERMES_BACKEND", "aws".to_owned()),
        ("HERMES_AWS_ENDPOINT_URL", moto.clone()),
        ("HERMES_JWT_SECRET", SECRET.to_owned()),
        ("HERMES_PASSCODE", PASSCODE.to_owned()),
        ("HERMES_BCRYPT_COST", "4".to_owned()),
        ("AWS_REGION", "eu-west-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
    ];
    let gw = Killed(
        Command::new(env!("CARGO_BIN_EXE_hermes-local"))
            .args(["--port", &port.to_string()])
            .envs(aws_env.iter().map(|(k, v)| (*k, v.as_str())))
            .env_remove("HERMES_QUEUE_URL")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let received = Arc::new(AtomicUsize::new(0));
    let room = format!("SEED-{}", std::process::id());
    wait_listening(port, Duration::from_secs(20), "hermes-local");
    rt.block_on(async {
        let cfg = Config::from_lookup(|k| aws_env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap();
        let backends = Backends::from_config(&cfg).await.unwrap();
        let token = Minter::new(&cfg, backends.tokens.clone())
            .unwrap()
            .generate_token(&UserId::Int(1), &room)
            .await
            .unwrap();
        let tasks = support::counting_clients(port, &token, clients, &received).await;
        println!("{clients} clients connected to hermes-local (DynamoDB on moto); {messages} messages per sender, 3 to warm up");

        let mut ours = Command::new(&send_bin);
        ours.envs(aws_env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("HERMES_WEBSOCKET_ENDPOINT", format!("{endpoint}/development"))
            .env("AWS_LAMBDA_LOG_LEVEL", "warn");
        let (rust, gw_rust) = run_sender("rust", ours, &room, clients, messages, &received, gw.id()).await;

        let mut seed = Command::new("node");
        seed.arg("runtime.js")
            .current_dir(&seed_dir)
            .env("SEED_DYNAMODB_ENDPOINT", &moto)
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("TABLE_NAME", "hermesConnections")
            .env("ENDPOINT", &endpoint)
            .env("STAGE", "development");
        let (node, gw_node) = run_sender("seed", seed, &room, clients, messages, &received, gw.id()).await;

        let posts = (messages * clients) as f64;
        for (name, f, g) in [("ours (Rust, lean post)", &rust, gw_rust), ("seed (Node, aws-sdk v2)", &node, gw_node)] {
            println!(
                "{name:26} sender CPU {:7.1} µs per post; until the last client has it: p50 {:?}, p99 {:?}; gateway CPU {:.1} µs per post",
                f.cpu_per_post,
                percentile(&f.times, 0.5),
                percentile(&f.times, 0.99),
                g.as_secs_f64() * 1e6 / posts
            );
        }
        println!("sender CPU per post, seed / ours: {:.1}x", node.cpu_per_post / rust.cpu_per_post);
        for t in tasks {
            t.abort();
        }
    });
    drop(gw);
}
