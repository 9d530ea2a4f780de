#![allow(dead_code)]
//! Shared by the integration tests: fixtures, a config, and the emulator switch.

use hermes_core::Config;
use serde::de::DeserializeOwned;

pub const SECRET: &str = "integration-test-secret-for-hs512-0123456789";
pub const PASSCODE: &str = "integration-passcode";

pub fn fixture<T: DeserializeOwned>(name: &str, token: Option<&str>) -> T {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    if let Some(t) = token {
        text = text.replace("{{TOKEN}}", t);
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn config(extra: &[(&str, &str)]) -> Config {
    let mut pairs: Vec<(String, String)> = vec![
        ("HERMES_JWT_SECRET".into(), SECRET.into()),
        ("HERMES_PASSCODE".into(), PASSCODE.into()),
        ("HERMES_BCRYPT_COST".into(), "4".into()),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_lookup(|k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap()
}

/// A connection row, as the connect handler writes it.
/// A connection row, as the connect handler writes it, of a connection made a minute ago
/// (established: a 410 to it means it is gone).
pub async fn join(store: &dyn hermes_core::store::ConnectionStore, id: &str, room: &str, user: &str) {
    join_at(store, id, room, user, hermes_core::token::now_secs() - 60).await
}

/// A connection row made at `connected_at` (seconds).
pub async fn join_at(
    store: &dyn hermes_core::store::ConnectionStore,
    id: &str,
    room: &str,
    user: &str,
    connected_at: u64,
) {
    let row = hermes_core::store::Connection {
        connection_id: id.into(),
        room_id: room.into(),
        user_id: user.into(),
        connected_at,
        expires_at: connected_at + 120,
        streams: Vec::new(),
    };
    store.put(&row).await.unwrap();
}

/// Unique ids per test run, so tests sharing the emulator's tables never see each other's rows.
#[allow(unused_imports)] // as `dead_code` above: not every test binary uses it
pub use hermes_testkit::unique;

pub mod fake_api_gateway {
    //! A loopback management API that answers like API Gateway: 200 per post, 410 for ids it
    //! was told are gone, and 429 LimitExceededException above a set rate (a token bucket, as
    //! the account limit is), optionally after a fixed latency.

    use std::collections::HashMap;
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;

    #[derive(Clone, Default)]
    pub struct Options {
        pub latency: Duration,
        /// (posts a second, burst): above it, 429.
        pub rate: Option<(f64, f64)>,
    }

    #[derive(Default)]
    pub struct Seen {
        /// 200 answers per connection id (percent-decoded), and the frames posted.
        pub delivered: HashMap<String, usize>,
        pub bodies: Vec<Bytes>,
        pub throttled: usize,
        pub requests: usize,
        pub authorizations: Vec<String>,
        pub versions: Vec<hyper::Version>,
        pub gone: std::collections::HashSet<String>,
        bucket: Option<(f64, Instant)>,
    }

    pub struct Fake {
        pub endpoint: String,
        pub seen: Arc<Mutex<Seen>>,
    }

    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    pub async fn start(opts: Options) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let s = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let _ = sock.set_nodelay(true);
                let (s, opts) = (s.clone(), opts.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (s, opts) = (s.clone(), opts.clone());
                        async move { Ok::<_, Infallible>(answer(req, &s, &opts).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(sock), svc)
                        .await;
                });
            }
        });
        Fake {
            endpoint: format!("http://{addr}/development"),
            seen,
        }
    }

    async fn answer(
        req: Request<hyper::body::Incoming>,
        s: &Mutex<Seen>,
        opts: &Options,
    ) -> Response<Full<Bytes>> {
        let id = decode(req.uri().path().rsplit('/').next().unwrap_or(""));
        let version = req.version();
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if !opts.latency.is_zero() {
            tokio::time::sleep(opts.latency).await;
        }
        let status = {
            let mut g = s.lock().unwrap();
            g.requests += 1;
            g.versions.push(version);
            g.authorizations.push(auth);
            let allowed = match opts.rate {
                None => true,
                Some((rate, burst)) => {
                    let now = Instant::now();
                    let (tokens, at) = g.bucket.unwrap_or((burst, now));
                    let tokens = (tokens + rate * (now - at).as_secs_f64()).min(burst);
                    let ok = tokens >= 1.0;
                    g.bucket = Some((if ok { tokens - 1.0 } else { tokens }, now));
                    ok
                }
            };
            if g.gone.contains(&id) {
                410
            } else if !allowed {
                g.throttled += 1;
                429
            } else {
                *g.delivered.entry(id).or_default() += 1;
                g.bodies.push(body);
                200
            }
        };
        let mut r = Response::builder().status(status);
        match status {
            410 => r = r.header("x-amzn-ErrorType", "GoneException"),
            429 => r = r.header("x-amzn-ErrorType", "LimitExceededException"),
            _ => {}
        }
        let body = if status == 200 { "" } else { r#"{"message":null}"# };
        r.header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap()
    }
}

pub mod counting_store {
    //! A connection store that counts what fan-out reads of it: each connection should be read
    //! once, whoever posts to it. It can also fail chosen Query pages once.

    use std::collections::{HashMap, HashSet};
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use hermes_core::store::{Connection, ConnectionStore, RoomMember, RoomPage, StoreError, StreamsChange};

    #[derive(Default)]
    pub struct Reads {
        /// Times each connection id came back from a room page.
        pub ids: HashMap<String, usize>,
        pub pages: usize,
        /// Page reads (1-based, in call order) that fail once.
        pub fail: HashSet<usize>,
    }

    pub struct Counting<S> {
        pub inner: S,
        pub reads: Arc<Mutex<Reads>>,
    }

    impl<S> Counting<S> {
        pub fn new(inner: S) -> Self {
            Counting {
                inner,
                reads: Arc::default(),
            }
        }
    }

    #[async_trait]
    impl<S: ConnectionStore> ConnectionStore for Counting<S> {
        async fn put(&self, c: &Connection) -> Result<(), StoreError> {
            self.inner.put(c).await
        }
        async fn get(&self, id: &str) -> Result<Option<Connection>, StoreError> {
            self.inner.get(id).await
        }
        async fn delete(&self, id: &str) -> Result<Option<Connection>, StoreError> {
            self.inner.delete(id).await
        }
        async fn delete_established(
            &self,
            id: &str,
            since: u64,
        ) -> Result<hermes_core::store::Deleted, StoreError> {
            self.inner.delete_established(id, since).await
        }
        async fn add_streams(
            &self,
            id: &str,
            streams: &[String],
            max: usize,
            now_ms: u64,
            min_interval_ms: u64,
        ) -> Result<StreamsChange, StoreError> {
            self.inner
                .add_streams(id, streams, max, now_ms, min_interval_ms)
                .await
        }
        async fn remove_streams(
            &self,
            id: &str,
            streams: &[String],
            now_ms: u64,
            min_interval_ms: u64,
        ) -> Result<StreamsChange, StoreError> {
            self.inner
                .remove_streams(id, streams, now_ms, min_interval_ms)
                .await
        }
        async fn room(&self, room_id: &str) -> Result<Vec<RoomMember>, StoreError> {
            self.inner.room(room_id).await
        }
        async fn lease_recovery(&self, id: &str, now_ms: u64, until_ms: u64) -> Result<bool, StoreError> {
            self.inner.lease_recovery(id, now_ms, until_ms).await
        }
        async fn room_page(
            &self,
            room_id: &str,
            after: Option<&str>,
            limit: usize,
        ) -> Result<RoomPage, StoreError> {
            let n = {
                let mut g = self.reads.lock().unwrap();
                g.pages += 1;
                g.pages
            };
            if self.reads.lock().unwrap().fail.remove(&n) {
                return Err(StoreError::Backend {
                    op: "Query",
                    table: "test".into(),
                    message: format!("page read #{n} made to fail"),
                });
            }
            let t = std::time::Instant::now();
            let page = self.inner.room_page(room_id, after, limit).await?;
            if std::env::var_os("TRACE_READS").is_some() {
                eprintln!(
                    "read #{n} after {after:?}: {} in {:?}",
                    page.members.len(),
                    t.elapsed()
                );
            }
            let mut g = self.reads.lock().unwrap();
            for m in &page.members {
                *g.ids.entry(m.connection_id.clone()).or_default() += 1;
            }
            Ok(page)
        }
    }
}

pub mod workload {
    //! The metrics' known workload: a notification to a room of 1,000 sockets, of which 100 are
    //! gone (410) and 50 answer 429 once, fanned out by the send handler through the queue
    //! (a first invocation and the continuations it hands on), each invocation's metrics made
    //! into its one EMF document and read back.

    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use futures::stream::{self, StreamExt};
    use hermes_core::handlers::fanout::Settings;
    use hermes_core::handlers::{SendEvent, Sender};
    use hermes_core::metrics::{emf, Emf, Function, Metrics};
    use hermes_core::push::memory::MemoryPusherFactory;
    use hermes_core::push::{MemoryPusher, PushError};
    use hermes_core::queue::{handled, sqs_event, Queue};
    use hermes_core::store::{ConnectionStore, HistoryStore};
    use hermes_core::Notification;
    use serde_json::json;

    pub const SOCKETS: usize = 1_000;
    pub const GONE: usize = 100;
    pub const THROTTLED_ONCE: usize = 50;
    /// A chunk of 400: the first invocation posts to 400 sockets and hands 600 on, in two
    /// continuation records.
    pub const CHUNK: usize = 400;

    pub struct Run {
        pub documents: Vec<emf::Read>,
        pub pusher: Arc<MemoryPusher>,
        pub ids: Vec<String>,
    }

    impl Run {
        /// A metric summed over every document.
        pub fn total(&self, name: &str) -> f64 {
            self.documents.iter().map(|d| d.value(name).unwrap_or(0.0)).sum()
        }
        /// Every value of a metric with one value per event.
        pub fn samples(&self, name: &str) -> Vec<f64> {
            self.documents
                .iter()
                .flat_map(|d| d.values.get(name).cloned().unwrap_or_default())
                .collect()
        }
    }

    pub async fn run(
        conns: Arc<dyn ConnectionStore>,
        history: Arc<dyn HistoryStore>,
        queue: Arc<dyn Queue>,
        room: &str,
    ) -> Run {
        let ids: Vec<String> = (0..SOCKETS).map(|i| format!("{room}-{i:04}=")).collect();
        stream::iter(ids.iter())
            .for_each_concurrent(16, |id| {
                let conns = conns.clone();
                async move { super::join(&*conns, id, room, &(id.len() % 7).to_string()).await }
            })
            .await;
        let pusher = MemoryPusher::new();
        for id in &ids[..GONE] {
            pusher.mark_gone(id);
        }
        for id in &ids[GONE..GONE + THROTTLED_ONCE] {
            pusher.fail_times(id, PushError::Throttled("LimitExceededException".into()), 1);
        }
        let sender = Sender::new(
            conns,
            Arc::new(MemoryPusherFactory(pusher.clone())),
            Some("https://e/dev".into()),
        )
        .with_history(history, Duration::from_secs(3600))
        .with_queue(Some(queue.clone()))
        .with_settings(Settings {
            chunk: CHUNK,
            page_size: CHUNK,
            ..Settings::default()
        });
        let emf = Emf::new("Hermes/test", "test", Function::Send).unwrap();
        queue
            .send(&Notification::new(
                7,
                room,
                json!({"type": "info", "data": "to all"}),
            ))
            .await
            .unwrap();
        let mut documents = Vec::new();
        let give_up = Instant::now() + Duration::from_secs(60);
        let mut idle = 0;
        while idle < 3 {
            assert!(Instant::now() < give_up, "queue not drained in 60 s");
            let got = queue.receive(10, Duration::from_millis(300)).await.unwrap();
            if got.is_empty() {
                idle += 1;
                continue;
            }
            idle = 0;
            let event = sqs_event(&got, "eu-west-1");
            let metrics = Metrics::new();
            let resp = sender
                .handle_measured(
                    SendEvent::Sqs(event),
                    Some(Instant::now() + Duration::from_secs(30)),
                    &metrics,
                )
                .await;
            let resp: hermes_core::events::sqs::SqsBatchResponse = serde_json::from_value(resp).unwrap();
            queue.delete(&handled(&got, &resp)).await.unwrap();
            // What the Lambda main prints once the handler returns.
            documents.push(emf::read(&emf.next_document(&metrics)).unwrap());
        }
        Run {
            documents,
            pusher,
            ids,
        }
    }

    /// The exact figures of the workload, summed over the invocations' documents.
    pub fn check(run: &Run) {
        // The notification, then its two continuations: two or three invocations, one document each.
        let records: usize = run
            .documents
            .iter()
            .map(|d| d.properties["MessageIds"].as_array().unwrap().len())
            .sum();
        assert_eq!(records, 3, "one notification record and two continuation records");
        assert!(
            (2..=3).contains(&run.documents.len()),
            "{} documents",
            run.documents.len()
        );
        for (name, want) in [
            ("PostsDelivered", 900.0),
            ("PostsGone", 100.0),
            ("PostsThrottled", 50.0),
            ("PostsFailed", 0.0),
            ("Notifications", 1.0),
            ("ContinuationsQueued", 2.0),
            ("RecordsFailed", 0.0),
            ("SocketsClosed", 0.0),
            ("RecoveriesServed", 0.0),
            ("ColdStart", 1.0),
        ] {
            assert_eq!(run.total(name), want, "{name}");
        }
        for d in &run.documents {
            assert_eq!(
                d.dimensions,
                [
                    ("Stage".to_owned(), "test".to_owned()),
                    ("Function".to_owned(), "send".to_owned())
                ]
            );
            assert_eq!(d.namespace, "Hermes/test");
        }
        // One duration and one age per record; the continuations carry the notification's
        // enqueue time, so their posts, which end later, are older.
        assert_eq!(run.samples("FanoutDuration").len(), 3);
        let ages = run.samples("NotificationAge");
        assert_eq!(ages.len(), 3, "{ages:?}");
        assert!(ages.iter().all(|a| (0.0..60_000.0).contains(a)), "{ages:?}");
        assert!(ages[1..].iter().all(|a| *a >= ages[0]), "{ages:?}");
    }
}
