//! `cargo bench -p hermes-core --bench core`: the hot paths of the gem and the Lambdas.
//!
//! The PostToConnection and SigV4 benchmarks run twice: timed by the wall clock (criterion's
//! default), and by the CPU time of the benchmark's thread (`…/thread_cpu`,
//! CLOCK_THREAD_CPUTIME_ID), which time spent waiting for a core on a shared machine does not
//! inflate. They are single-threaded and never block, so on a quiet machine the two agree.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_apigatewaymanagement::config::StalledStreamProtectionConfig;
use aws_sdk_apigatewaymanagement::primitives::Blob;

use aws_sdk_apigatewaymanagement::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use criterion::measurement::Measurement;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use hermes_core::config::{JwtSecret, Secret};
use hermes_core::frame::encode_frame;
use hermes_core::handlers::{Authorizer, Decision, Sender};
use hermes_core::push::lean::LeanPoster;
use hermes_core::push::memory::MemoryPusherFactory;
use hermes_core::push::sigv4::Signer;
use hermes_core::push::transport::{Answer, Transport, TransportFuture};
use hermes_core::push::MemoryPusher;
use hermes_core::store::{Connection, ConnectionStore, MemoryConnectionStore, MemoryTokenStore};
use hermes_core::token::{compose, now_secs, seal, Claims, JwtKeys, UserId};
use hermes_core::{BcryptCost, Config, Minter};
use hermes_testkit::cpu::ThreadCpu;
use serde_json::json;

const SECRET: &str = "benchmark-secret-for-hs512-0123456789abcdef";

fn config(cost: &str) -> Config {
    Config::from_lookup(|k| match k {
        "HERMES_JWT_SECRET" => Some(SECRET.into()),
        "HERMES_PASSCODE" => Some("bench-passcode".into()),
        "HERMES_BCRYPT_COST" => Some(cost.into()),
        _ => None,
    })
    .unwrap()
}

/// The runtime of the benchmarks that time one thread: everything runs on the caller's.
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn tokens(c: &mut Criterion) {
    let pass = Secret::new("bench-passcode");
    c.bench_function("compose", |b| {
        b.iter(|| compose(black_box(&UserId::Int(42)), &pass, black_box("ACME")))
    });
    let keys = JwtKeys::new(&JwtSecret::new(SECRET).unwrap());
    let claims = Claims {
        user_id: UserId::Int(42),
        room_id: "ACME".into(),
        token: compose(&UserId::Int(42), &pass, "ACME"),
        exp: now_secs() + 3600,
        iat: Some(now_secs()),
    };
    c.bench_function("jwt_sign", |b| b.iter(|| keys.issue(black_box(&claims)).unwrap()));
    let jwt = keys.issue(&claims).unwrap();
    c.bench_function("jwt_verify", |b| b.iter(|| keys.verify(black_box(&jwt)).unwrap()));
    let mut g = c.benchmark_group("bcrypt");
    g.sample_size(10);
    g.bench_function("seal_cost_10", |b| {
        b.iter(|| seal(black_box(&claims.token), BcryptCost::DEFAULT))
    });
    g.bench_function("bcrypt_crate_cost_10", |b| {
        b.iter(|| bcrypt::hash_with_salt(black_box(&claims.token), 10, [7; 16]).unwrap())
    });
    g.bench_function("eksblowfish_cost_10", |b| {
        b.iter(|| {
            hermes_core::eksblowfish::hash_with_salt(black_box(claims.token.as_bytes()), 10, &[7; 16], "2a")
        })
    });
    g.finish();
}

fn authorize(c: &mut Criterion) {
    let rt = current_thread();
    let cfg = config("10");
    let store = Arc::new(MemoryTokenStore::new());
    let minter = Minter::new(&cfg, store.clone()).unwrap();
    let jwt = rt
        .block_on(minter.generate_token(&UserId::Int(42), "ACME"))
        .unwrap();
    let keys = JwtKeys::new(cfg.jwt_secret().unwrap());

    let warm = Authorizer::new(keys.clone(), store.clone());
    assert!(matches!(
        rt.block_on(warm.decide(Some(&jwt))),
        Decision::Allow { .. }
    ));
    c.bench_function("authorize_repeat_connect", |b| {
        b.iter(|| {
            assert!(matches!(
                rt.block_on(warm.decide(Some(black_box(&jwt)))),
                Decision::Allow { .. }
            ))
        })
    });

    let mut g = c.benchmark_group("authorize_first_connect");
    g.sample_size(10);
    g.bench_function("bcrypt_cost_10", |b| {
        b.iter_batched(
            || Authorizer::new(keys.clone(), store.clone()),
            |cold| {
                assert!(matches!(
                    rt.block_on(cold.decide(Some(&jwt))),
                    Decision::Allow { .. }
                ))
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    // The gem's repeat page view: row read, cache hit, JWT signed; no bcrypt, no write.
    c.bench_function("generate_token_repeat", |b| {
        b.iter(|| {
            rt.block_on(minter.generate_token(black_box(&UserId::Int(42)), "ACME"))
                .unwrap()
        })
    });
}

fn fan_out(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let conns = Arc::new(MemoryConnectionStore::new());
    rt.block_on(async {
        for i in 0..10_000 {
            conns
                .put(&Connection {
                    connection_id: format!("conn-{i:05}"),
                    room_id: "BIG".into(),
                    user_id: format!("{}", i % 500),
                    connected_at: 1,
                    expires_at: 2,
                    streams: Vec::new(),
                })
                .await
                .unwrap();
        }
    });
    let pusher = MemoryPusher::new();
    let sender = Sender::new(conns, Arc::new(MemoryPusherFactory(pusher.clone())), None);
    let frame = encode_frame(
        "42",
        &hermes_core::frame::raw(&json!({"type": "info", "data": "backup finished"})),
        Some("m-1"),
    );
    let mut g = c.benchmark_group("send");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.bench_function("fan_out_10k_memory", |b| {
        b.iter(|| {
            let d = rt
                .block_on(sender.deliver("https://e/dev", "BIG", None, &frame))
                .unwrap();
            assert_eq!(d.delivered, 10_000);
            pusher.clear();
        })
    });
    g.finish();
}

/// An HTTP client that answers 200 at once, in process: what is left of a post's time is the
/// SDK's own work (endpoint, signing, interceptors, retry and timeout layers).
#[derive(Debug, Clone)]
struct Answer200;

impl HttpConnector for Answer200 {
    fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
        HttpConnectorFuture::ready(Ok(HttpResponse::new(200.try_into().unwrap(), SdkBody::empty())))
    }
}

impl HttpClient for Answer200 {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// One PostToConnection through the real aws-sdk-apigatewaymanagement client, minus the network:
/// the SDK's share of every post in a fan-out, as the send handler paid it before the lean post
/// (the client as it was configured then: stalled-stream protection off).
fn sdk_post<M: Measurement + 'static>(c: &mut Criterion<M>, suffix: &str) {
    let rt = current_thread();
    let sdk = rt.block_on(hermes_core::aws::sdk_config(&config("10")));
    let creds = Credentials::new("AKIDEXAMPLE", "bench-secret-key", None, None, "bench");
    let sdk = sdk
        .to_builder()
        .http_client(Answer200)
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .build();
    let conf = aws_sdk_apigatewaymanagement::config::Builder::from(&sdk)
        .endpoint_url("https://abcdef1234.execute-api.eu-west-1.amazonaws.com/production")
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .build();
    let client = aws_sdk_apigatewaymanagement::Client::from_conf(conf);
    let frame = encode_frame(
        "42",
        &hermes_core::frame::raw(&json!({"type": "info", "data": "backup finished"})),
        Some("m-1"),
    );
    c.bench_function(&format!("sdk_post_to_connection_no_network{suffix}"), |b| {
        b.iter(|| {
            rt.block_on(
                client
                    .post_to_connection()
                    .connection_id(black_box("L0SM9cOFvHcCIhw="))
                    .data(Blob::new(frame.as_slice()))
                    .send(),
            )
            .unwrap()
        })
    });
}

/// An in-process transport answering 200: what is left is the lean post's own work
/// (credentials from the identity cache, signing with the kept key, the request, the answer).
struct Answer200Lean;

impl Transport for Answer200Lean {
    fn send(&self, _: http::Request<http_body_util::Full<bytes::Bytes>>) -> TransportFuture {
        Box::pin(std::future::ready(Ok(Answer {
            status: http::StatusCode::OK,
            error_type: None,
            body: bytes::Bytes::new(),
        })))
    }
}

/// The same PostToConnection as `sdk_post_to_connection_no_network`, through the lean client.
fn lean_post<M: Measurement + 'static>(c: &mut Criterion<M>, suffix: &str) {
    let rt = current_thread();
    let sdk = rt.block_on(hermes_core::aws::sdk_config(&config("10")));
    let creds = Credentials::new(
        "AKIDEXAMPLE",
        "bench-secret-key",
        Some("session-token".into()),
        None,
        "bench",
    );
    let sdk = sdk
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(creds.clone()))
        .build();
    let poster = LeanPoster::new(
        &sdk,
        "https://abcdef1234.execute-api.eu-west-1.amazonaws.com/production",
        Arc::new(Answer200Lean),
    )
    .unwrap();
    let frame = bytes::Bytes::from(encode_frame(
        "42",
        &hermes_core::frame::raw(&json!({"type": "info", "data": "backup finished"})),
        Some("m-1"),
    ));
    c.bench_function(&format!("lean_post_to_connection_no_network{suffix}"), |b| {
        b.iter(|| {
            rt.block_on(poster.attempt(black_box("L0SM9cOFvHcCIhw="), frame.clone()))
                .unwrap()
        })
    });

    // Signing alone: the kept key against aws-sigv4's full signing, which derives it each time.
    let signer = Signer::new("eu-west-1");
    let now = std::time::SystemTime::now();
    let host = "abcdef1234.execute-api.eu-west-1.amazonaws.com";
    let path = "/production/@connections/L0SM9cOFvHcCIhw%3D";
    c.bench_function(&format!("sigv4_kept_key{suffix}"), |b| {
        b.iter(|| signer.sign(&creds, now, host, black_box(path), &frame))
    });
    let identity: aws_smithy_runtime_api::client::identity::Identity = creds.clone().into();
    c.bench_function(&format!("sigv4_http_request_sign{suffix}"), |b| {
        b.iter(|| {
            let params = aws_sigv4::sign::v4::SigningParams::builder()
                .identity(&identity)
                .region("eu-west-1")
                .name("execute-api")
                .time(now)
                .settings(aws_sigv4::http_request::SigningSettings::default())
                .build()
                .unwrap()
                .into();
            let req = aws_sigv4::http_request::SignableRequest::new(
                "POST",
                "https://abcdef1234.execute-api.eu-west-1.amazonaws.com/production/@connections/L0SM9cOFvHcCIhw%3D",
                [("content-type", "application/octet-stream")].into_iter(),
                aws_sigv4::http_request::SignableBody::Bytes(&frame),
            )
            .unwrap();
            aws_sigv4::http_request::sign(req, &params).unwrap()
        })
    });
}

fn posts(c: &mut Criterion) {
    sdk_post(c, "");
    lean_post(c, "");
}

fn posts_thread_cpu(c: &mut Criterion<ThreadCpu>) {
    sdk_post(c, "/thread_cpu");
    lean_post(c, "/thread_cpu");
}

criterion_group!(benches, tokens, authorize, fan_out, posts);
criterion_group! {
    name = cpu;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = posts_thread_cpu
}
criterion_main!(benches, cpu);
