//! hermes-local: an API Gateway WebSocket API on one machine. It accepts browsers on
//! `ws://127.0.0.1:PORT/{stage}?token=...`, runs the very handler functions the Lambdas run
//! (authorizer, connect, disconnect, send) with events shaped like API Gateway's, serves the
//! management API the send handler's SDK client posts to, and polls the queue into the send
//! handler. With no configuration it runs in memory and serves a demo page.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use hermes_core::events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayWebsocketProxyRequest,
};
use hermes_core::events::iam::IamPolicyEffect;
use hermes_core::events::sqs::{SqsEvent, SqsMessage};
use hermes_core::frame::Control;
use hermes_core::handlers::{connect, disconnect, Authorizer, Sender};
use hermes_core::queue::{Queue, QueueError};
use hermes_core::store::ConnectionStore;
use hermes_core::token::JwtKeys;
use hermes_core::{Backends, Config, ConfigError, Minter, Notification, UserId};
use ids::short_id;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

/// API Gateway's WebSocket limits, configurable so tests can shorten them.
#[derive(Clone, Debug)]
pub struct Options {
    pub port: u16,
    pub stage: String,
    pub idle_timeout: Duration,
    pub max_age: Duration,
    pub max_frame_bytes: usize,
    pub max_message_bytes: usize,
    /// Poll the queue into the send handler.
    pub poll: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            port: 3001,
            stage: "development".into(),
            idle_timeout: Duration::from_secs(10 * 60),
            max_age: Duration::from_secs(2 * 3600),
            max_frame_bytes: 32 * 1024,
            max_message_bytes: hermes_core::MAX_MESSAGE_BYTES,
            poll: true,
        }
    }
}

#[derive(Debug)]
pub enum StartError {
    Config(ConfigError),
    Io(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "{e}"),
            StartError::Io(e) => write!(f, "cannot listen: {e}"),
        }
    }
}

enum Out {
    Frame(Utf8Bytes),
    Close(u16, &'static str),
}

#[derive(Clone)]
struct Peer {
    connected_at: SystemTime,
    source_ip: String,
    user_agent: String,
}

struct Live {
    tx: mpsc::UnboundedSender<Out>,
    peer: Peer,
    last_active: Mutex<SystemTime>,
}

struct App {
    opts: Options,
    addr: SocketAddr,
    region: String,
    authorizer: Authorizer,
    connections: Arc<dyn ConnectionStore>,
    sender: Sender,
    minter: Option<Minter>,
    queue: Option<Arc<dyn Queue>>,
    memory: bool,
    sockets: Mutex<HashMap<String, Arc<Live>>>,
    seq: AtomicU64,
}

/// A running gateway; dropping it (or `shutdown`) stops it.
pub struct Gateway {
    pub addr: SocketAddr,
    app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Gateway {
    /// The management API endpoint, as HERMES_WEBSOCKET_ENDPOINT would be on AWS.
    pub fn endpoint(&self) -> String {
        format!("http://{}/{}", self.addr, self.app.opts.stage)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/{}", self.addr, self.app.opts.stage)
    }

    pub fn minter(&self) -> Option<&Minter> {
        self.app.minter.as_ref()
    }

    pub fn queue(&self) -> Option<Arc<dyn Queue>> {
        self.app.queue.clone()
    }

    pub fn connections(&self) -> Arc<dyn ConnectionStore> {
        self.app.connections.clone()
    }

    pub fn live_connections(&self) -> usize {
        self.app.sockets.lock().unwrap().len()
    }

    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Binds 127.0.0.1:`opts.port` (0 = any free port) and starts serving.
pub async fn start(cfg: Config, opts: Options) -> Result<Gateway, StartError> {
    let backends = Backends::from_config(&cfg).await.map_err(StartError::Config)?;
    start_with(cfg, opts, backends).await
}

/// `start` over backends made by the caller (tests put a fault-injecting proxy in front of one).
pub async fn start_with(cfg: Config, opts: Options, backends: Backends) -> Result<Gateway, StartError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port))
        .await
        .map_err(StartError::Io)?;
    let addr = listener.local_addr().map_err(StartError::Io)?;
    let keys = JwtKeys::new(cfg.jwt_secret().map_err(StartError::Config)?);
    let endpoint = format!("http://{addr}/{}", opts.stage);
    let memory = cfg.backend == hermes_core::Backend::Memory;
    let minter = if memory {
        Some(Minter::new(&cfg, backends.tokens.clone()).map_err(StartError::Config)?)
    } else {
        None
    };
    let app = Arc::new(App {
        region: cfg.region.clone(),
        authorizer: Authorizer::new(keys, backends.tokens.clone()),
        connections: backends.connections.clone(),
        // Posts go through the real management API client, to this very server.
        // Same fan-out concurrency as the send Lambda (64 posts in flight): measured with
        // local/benches/fanout.rs, 256 was slower on 2 cores (p50 572 ms vs 510 ms).
        sender: Sender::new(
            backends.connections.clone(),
            backends.pushers.clone(),
            Some(endpoint),
        )
        .with_history(backends.history.clone(), cfg.history_ttl),
        minter,
        queue: backends.queue.clone(),
        memory,
        sockets: Mutex::default(),
        seq: AtomicU64::new(1),
        opts,
        addr,
    });
    let router = Router::new()
        .route("/", get(demo_page))
        .route("/hermes.js", get(client_js))
        .route("/_hermes/tokens", post(dev_mint).delete(dev_revoke))
        .route("/_hermes/notifications", post(dev_enqueue))
        .route("/_hermes/notifications/batch", post(dev_enqueue_batch))
        .route("/_hermes/disconnect", post(dev_disconnect))
        .route("/_hermes/presence", post(dev_presence))
        .route("/{stage}", get(ws_entry))
        .route("/{stage}/@connections/{id}", any(manage))
        .with_state(app.clone());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (poll_stop_tx, poll_stop_rx) = tokio::sync::watch::channel(false);
    let poller = if app.opts.poll && app.queue.is_some() {
        Some(tokio::spawn(poll(app.clone(), poll_stop_rx)))
    } else {
        None
    };
    let app2 = app.clone();
    let task = tokio::spawn(async move {
        // API Gateway's sockets send each frame as it comes; so do ours (and the management
        // API's answers), rather than let Nagle hold a small write for an ACK.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let serve = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop_rx.await;
            let _ = poll_stop_tx.send(true);
            // Close every socket, as API Gateway does on a deployment going away.
            let live: Vec<Arc<Live>> = app2.sockets.lock().unwrap().values().cloned().collect();
            for l in live {
                let _ = l.tx.send(Out::Close(1001, "Going away"));
            }
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "server stopped");
        }
        if let Some(p) = poller {
            let _ = p.await;
        }
    });
    Ok(Gateway {
        addr,
        app,
        stop: Some(stop_tx),
        task: Some(task),
    })
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `2026-11-25T09:15:02.871Z`, as the management API's GetConnection writes times.
fn iso8601(t: SystemTime) -> String {
    let ms = millis(t);
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

mod ids {
    /// An id shaped like API Gateway's (`L0SM9cOFvHcCIhw=`): 10 bytes, base64.
    pub fn short_id(seq: u64) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        // A splitmix64 of time and counter: unique per process, unguessable enough for local use.
        let mut x = nanos ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let (a, b) = (next().to_be_bytes(), next().to_be_bytes());
        let bytes = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], b[0], b[1]];
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::with_capacity(16);
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

impl std::error::Error for StartError {}

fn api_error(status: StatusCode, kind: &str, message: Option<&str>) -> Response {
    let mut r = (status, Json(json!({ "message": message }))).into_response();
    r.headers_mut()
        .insert("x-amzn-ErrorType", kind.parse().expect("ascii"));
    r
}

impl App {
    fn next_request_id(&self) -> String {
        short_id(self.seq.fetch_add(1, Ordering::Relaxed))
    }

    fn ws_event(
        &self,
        connection_id: &str,
        route: &str,
        event_type: &str,
        peer: &Peer,
    ) -> ApiGatewayWebsocketProxyRequest {
        let mut ev = ApiGatewayWebsocketProxyRequest::default();
        let ctx = &mut ev.request_context;
        ctx.connection_id = Some(connection_id.to_owned());
        ctx.route_key = Some(route.to_owned());
        ctx.event_type = Some(event_type.to_owned());
        ctx.stage = Some(self.opts.stage.clone());
        ctx.domain_name = Some(self.addr.to_string());
        ctx.apiid = Some("hermeslocal".into());
        ctx.connected_at = millis(peer.connected_at);
        ctx.request_time_epoch = millis(SystemTime::now());
        ctx.request_id = Some(self.next_request_id());
        ctx.message_direction = Some("IN".into());
        ctx.identity.source_ip = Some(peer.source_ip.clone());
        ctx.identity.user_agent = Some(peer.user_agent.clone());
        ev
    }
}

async fn ws_entry(
    State(app): State<Arc<App>>,
    Path(stage): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    if stage != app.opts.stage {
        return api_error(StatusCode::FORBIDDEN, "ForbiddenException", Some("Forbidden"));
    }
    let Ok(ws) = ws else {
        return (StatusCode::UPGRADE_REQUIRED, "WebSocket upgrade required").into_response();
    };
    // API Gateway answers 401 itself when the identity source is missing.
    if query.get("token").is_none_or(|t| t.is_empty()) {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "UnauthorizedException",
            Some("Unauthorized"),
        );
    }
    let connection_id = short_id(app.seq.fetch_add(1, Ordering::Relaxed));
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let client = Peer {
        connected_at: SystemTime::now(),
        source_ip: peer.ip().to_string(),
        user_agent,
    };

    let mut auth = ApiGatewayCustomAuthorizerRequestTypeRequest::default();
    auth.type_ = Some("REQUEST".into());
    auth.method_arn = Some(format!(
        "arn:aws:execute-api:{}:000000000000:hermeslocal/{}/$connect",
        app.region, app.opts.stage
    ));
    auth.query_string_parameters = query.clone().into();
    auth.request_context.stage = Some(app.opts.stage.clone());
    // WebSocket authorizer events carry these too; the REQUEST context type keeps them in `other`.
    let extra = &mut auth.request_context.other;
    extra.insert("connectionId".into(), json!(connection_id));
    extra.insert("domainName".into(), json!(app.addr.to_string()));
    extra.insert("routeKey".into(), json!("$connect"));
    extra.insert("eventType".into(), json!("CONNECT"));
    let policy = app.authorizer.handle(&auth).await;
    if policy.policy_document.statement.first().map(|s| &s.effect) != Some(&IamPolicyEffect::Allow) {
        return api_error(StatusCode::FORBIDDEN, "ForbiddenException", Some("Forbidden"));
    }

    let mut ev = app.ws_event(&connection_id, "$connect", "CONNECT", &client);
    ev.query_string_parameters = query.into();
    let a = &mut ev.request_context.authorizer;
    a.other.insert("principalId".into(), json!(policy.principal_id));
    if let Value::Object(ctx) = &policy.context {
        for (k, v) in ctx {
            a.other.insert(k.clone(), v.clone());
        }
    }
    let resp = connect(&*app.connections, &ev).await;
    if resp.status_code != 200 {
        return (StatusCode::INTERNAL_SERVER_ERROR, "connect failed").into_response();
    }
    // tungstenite reserves 128 KiB read and write buffers per socket by default: 2.7 GB for
    // 10,000 idle browsers. Frames are at most 32 KiB, so small buffers that grow on demand
    // keep an idle connection to a few KiB.
    // API Gateway's two limits: each frame 32 KB, a message (frames up to the final one) 128 KB.
    // tungstenite enforces both as it reads; run_socket turns the error into close 1009.
    ws.max_frame_size(app.opts.max_frame_bytes)
        .max_message_size(app.opts.max_message_bytes)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| run_socket(app, connection_id, client, socket))
}

async fn run_socket(app: Arc<App>, id: String, peer: Peer, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    let live = Arc::new(Live {
        tx,
        peer: peer.clone(),
        last_active: Mutex::new(SystemTime::now()),
    });
    app.sockets.lock().unwrap().insert(id.clone(), live.clone());
    // One task per connection reads and writes: a post wakes just this task, with no
    // writer task or lock between two socket halves (cheaper per frame in a 10,000-client fan-out).
    let max_age = tokio::time::sleep(app.opts.max_age);
    let idle = tokio::time::sleep(app.opts.idle_timeout);
    tokio::pin!(max_age, idle);
    let close = |code: u16, reason: &'static str| {
        Some(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
    };
    // The loop ends with the close frame to send, if any.
    let ending = loop {
        let msg = tokio::select! {
            out = rx.recv() => {
                match out.expect("the connection holds its own sender") {
                    Out::Frame(text) => {
                        if socket.send(Message::Text(text)).await.is_err() {
                            break None;
                        }
                        continue;
                    }
                    // DeleteConnection or shutdown: the connection is over.
                    Out::Close(code, reason) => break close(code, reason),
                }
            }
            m = socket.recv() => m,
            _ = &mut idle => {
                tracing::info!(connection_id = id, "idle timeout");
                break close(1001, "Going away");
            }
            _ = &mut max_age => break close(1001, "Going away"),
        };
        let msg = match msg {
            None => break None,
            Some(Err(e)) if is_too_big(&e) => break close(1009, "Message too big"),
            Some(Err(_)) => break None,
            Some(Ok(m)) => m,
        };
        idle.as_mut()
            .reset(tokio::time::Instant::now() + app.opts.idle_timeout);
        let text = match msg {
            Message::Text(t) => t.to_string(),
            Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            Message::Close(_) => break None,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        *live.last_active.lock().unwrap() = SystemTime::now();
        let action = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("action").and_then(Value::as_str).map(str::to_owned));
        // API Gateway's route selection on $request.body.action, with the template's routes.
        let route = match action.as_deref() {
            Some("sendMessage") => "sendMessage",
            Some("recover") => "recover",
            Some("presence") => "presence",
            _ => "$default",
        };
        let mut ev = app.ws_event(&id, route, "MESSAGE", &peer);
        ev.body = Some(text);
        ev.request_context.message_id = Some(app.next_request_id());
        let app = app.clone();
        // The fan-out posts back to this server, this connection included: it must not wait here.
        tokio::spawn(async move {
            app.sender.handle_route(&ev).await;
        });
    };
    if let Some(frame) = ending {
        let _ = socket.send(frame).await;
    }
    app.sockets.lock().unwrap().remove(&id);
    drop(live);
    let ev = app.ws_event(&id, "$disconnect", "DISCONNECT", &peer);
    disconnect(&*app.connections, &ev).await;
}

/// A frame or message over the configured limits (the others are I/O or protocol errors).
fn is_too_big(e: &axum::Error) -> bool {
    matches!(
        std::error::Error::source(e).and_then(|s| s.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Capacity(_))
    )
}

async fn manage(
    State(app): State<Arc<App>>,
    Path((stage, id)): Path<(String, String)>,
    method: Method,
    body: Bytes,
) -> Response {
    if stage != app.opts.stage {
        return api_error(StatusCode::FORBIDDEN, "ForbiddenException", Some("Forbidden"));
    }
    let live = app.sockets.lock().unwrap().get(&id).cloned();
    let Some(live) = live else {
        return api_error(StatusCode::GONE, "GoneException", None);
    };
    match method {
        Method::POST => {
            if body.len() > app.opts.max_message_bytes {
                return api_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PayloadTooLargeException",
                    Some("Message too long"),
                );
            }
            let text = Utf8Bytes::try_from(body.clone())
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned().into());
            if live.tx.send(Out::Frame(text)).is_err() {
                return api_error(StatusCode::GONE, "GoneException", None);
            }
            StatusCode::OK.into_response()
        }
        Method::GET => Json(json!({
            "connectedAt": iso8601(live.peer.connected_at),
            "lastActiveAt": iso8601(*live.last_active.lock().unwrap()),
            "identity": { "sourceIp": live.peer.source_ip, "userAgent": live.peer.user_agent },
        }))
        .into_response(),
        Method::DELETE => {
            let _ = live.tx.send(Out::Close(1000, "Normal closure"));
            StatusCode::NO_CONTENT.into_response()
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

/// Queue → send handler, with SQS's batch semantics: delete what succeeded, leave the
/// failures for redelivery after the visibility timeout.
async fn poll(app: Arc<App>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let queue = app.queue.clone().expect("poll runs with a queue");
    loop {
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
        if *stop.borrow() {
            break;
        }
    }
}

// ---------------------------------------------------------------- development endpoints

fn bad(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": msg.to_string() }))).into_response()
}

/// The JSON body of a development endpoint, accepted only from a loopback peer and only on
/// the memory backend (on AWS, tokens and notifications come from the Rails app itself).
struct Dev<T>(T);

impl<T: serde::de::DeserializeOwned> FromRequest<Arc<App>> for Dev<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Response> {
        let loopback = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|c| c.0.ip().is_loopback());
        if !loopback {
            return Err(bad(
                StatusCode::FORBIDDEN,
                "development endpoints answer loopback only",
            ));
        }
        if !app.memory {
            return Err(bad(
                StatusCode::NOT_FOUND,
                "development endpoints are served only on the memory backend",
            ));
        }
        let body = Bytes::from_request(req, app)
            .await
            .map_err(IntoResponse::into_response)?;
        serde_json::from_slice(&body)
            .map(Dev)
            .map_err(|e| bad(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
    }
}

#[derive(serde::Deserialize)]
struct TokenRequest {
    user_id: UserId,
    #[serde(deserialize_with = "string_or_number")]
    room_id: String,
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match <Value as serde::Deserialize>::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(serde::de::Error::custom("room_id must be a string")),
    }
}

fn minter(app: &App) -> &Minter {
    app.minter.as_ref().expect("the memory backend has a minter")
}

fn dev_queue(app: &App) -> &Arc<dyn Queue> {
    app.queue.as_ref().expect("the memory backend has a queue")
}

async fn dev_mint(State(app): State<Arc<App>>, Dev(req): Dev<TokenRequest>) -> Response {
    match minter(&app).mint(&req.user_id, &req.room_id).await {
        Ok((c, jwt)) => Json(json!({ "token": jwt, "hex": c.token })).into_response(),
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

/// Revokes, then closes the user's sockets in the room through the queue, as the gem does on AWS.
async fn dev_revoke(State(app): State<Arc<App>>, Dev(req): Dev<TokenRequest>) -> Response {
    let revoked = match minter(&app).revoke(&req.user_id, &req.room_id).await {
        Ok(r) => r,
        Err(e) => return bad(StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    let close = Control::disconnect(req.user_id.to_string(), &req.room_id, Some("revoked"));
    match dev_queue(&app).send_control(&close).await {
        Ok(id) => Json(json!({ "revoked": revoked, "message_id": id })).into_response(),
        Err(e) => queue_error(e),
    }
}

async fn dev_disconnect(State(app): State<Arc<App>>, Dev(req): Dev<TokenRequest>) -> Response {
    let close = Control::disconnect(req.user_id.to_string(), &req.room_id, Some("disconnect"));
    if let Err(e) = close.check() {
        return bad(StatusCode::BAD_REQUEST, e);
    }
    match dev_queue(&app).send_control(&close).await {
        Ok(id) => Json(json!({ "message_id": id })).into_response(),
        Err(e) => queue_error(e),
    }
}

#[derive(serde::Deserialize)]
struct RoomRequest {
    #[serde(deserialize_with = "string_or_number")]
    room_id: String,
}

async fn dev_presence(State(app): State<Arc<App>>, Dev(req): Dev<RoomRequest>) -> Response {
    match hermes_core::handlers::presence(&*app.connections, &req.room_id).await {
        Ok((users, connections)) => {
            Json(json!({ "users": users, "connections": connections })).into_response()
        }
        Err(e) => bad(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

fn queue_error(e: QueueError) -> Response {
    match e {
        e @ (QueueError::TooLarge(_) | QueueError::TooLargeAt { .. }) => {
            bad(StatusCode::PAYLOAD_TOO_LARGE, e)
        }
        other => bad(StatusCode::INTERNAL_SERVER_ERROR, other),
    }
}

async fn dev_enqueue(State(app): State<Arc<App>>, Dev(n): Dev<Notification>) -> Response {
    match dev_queue(&app).send(&n).await {
        Ok(id) => Json(json!({ "message_id": id })).into_response(),
        Err(e) => queue_error(e),
    }
}

async fn dev_enqueue_batch(State(app): State<Arc<App>>, Dev(ns): Dev<Vec<Notification>>) -> Response {
    match dev_queue(&app).send_batch(&ns).await {
        Ok(ids) => Json(json!({ "message_ids": ids })).into_response(),
        Err(e) => queue_error(e),
    }
}

async fn demo_page(State(app): State<Arc<App>>) -> Response {
    Html(include_str!("demo.html").replace("__STAGE__", &app.opts.stage)).into_response()
}

async fn client_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../../vendor/javascript/hermes.js"),
    )
        .into_response()
}
