//! The lean post's signature against the SDK's: aws-sigv4's `http_request::sign` (what the SDK
//! runs for every call) and the aws-sdk-apigatewaymanagement client itself sign the same
//! PostToConnection, at the same time with the same key, to the same `Authorization` header.
//! Also: credentials that rotate are picked up, and HTTP/2 is used when TLS offers it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::provider::{future, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_sdk_apigatewaymanagement::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_apigatewaymanagement::config::{Intercept, RuntimeComponents, SharedCredentialsProvider};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_async::time::{SharedTimeSource, StaticTimeSource, TimeSource};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use bytes::Bytes;
use hermes_core::push::lean::LeanPoster;
use hermes_core::push::sigv4::Signer;
use hermes_core::push::transport::{Answer, Transport, TransportFuture};
use http_body_util::Full;

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLE//session+token=";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// aws-sigv4's full signing of the request the lean post sends.
fn reference(creds: &Credentials, time: SystemTime, uri: &str, body: &[u8]) -> String {
    let identity: Identity = creds.clone().into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region("eu-west-1")
        .name("execute-api")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let headers = [("content-type", "application/octet-stream")];
    let req = SignableRequest::new("POST", uri, headers.into_iter(), SignableBody::Bytes(body)).unwrap();
    let (instructions, _) = sign(req, &params).unwrap().into_parts();
    let auth = instructions
        .headers()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.to_owned());
    auth.unwrap()
}

#[test]
fn same_authorization_as_aws_sigv4s_own_signing() {
    let signer = Signer::new("eu-west-1");
    let host = "abcdef1234.execute-api.eu-west-1.amazonaws.com";
    let cases: [(Option<&str>, &str, u64, &[u8]); 4] = [
        (
            None,
            "/production/@connections/L0SM9cOFvHcCIhw%3D",
            1_795_425_302,
            b"{\"a\":1}",
        ),
        (
            Some(TOKEN),
            "/production/@connections/L0SM9cOFvHcCIhw%3D",
            1_795_425_302,
            b"{}",
        ),
        // The next UTC day: the cached key must not be reused.
        (
            Some(TOKEN),
            "/dev/@connections/a%2Fb%2Bc",
            1_795_425_302 + 86_400,
            b"",
        ),
        (None, "/@connections/x", 1_795_511_999, "é".as_bytes()),
    ];
    for (token, path, t, body) in cases {
        let creds = Credentials::new(AKID, SECRET, token.map(str::to_owned), None, "test");
        let ours = signer.sign(&creds, at(t), host, path, body).authorization;
        let theirs = reference(&creds, at(t), &format!("https://{host}{path}"), body);
        assert_eq!(ours, theirs, "{path} at {t}");
    }
    // Other credentials, same day: a new key.
    let other = Credentials::new("AKIDOTHER", "other-secret", None, None, "test");
    let path = "/production/@connections/L0SM9cOFvHcCIhw%3D";
    assert_eq!(
        signer
            .sign(&other, at(1_795_425_302), host, path, b"x")
            .authorization,
        reference(&other, at(1_795_425_302), &format!("https://{host}{path}"), b"x")
    );
    // A port that is not the scheme's default is part of the signed host.
    let local = "127.0.0.1:3001";
    assert_eq!(
        signer
            .sign(
                &other,
                at(1_795_425_302),
                local,
                "/development/@connections/q%3D",
                b"x"
            )
            .authorization,
        reference(
            &other,
            at(1_795_425_302),
            &format!("http://{local}/development/@connections/q%3D"),
            b"x"
        )
    );
}

/// Remembers each request; answers 200.
#[derive(Clone, Default, Debug)]
struct Capture(Arc<Mutex<Vec<http::Request<Bytes>>>>);

impl HttpConnector for Capture {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let req = request.try_into_http1x().unwrap();
        let (parts, body) = req.into_parts();
        let bytes = Bytes::copy_from_slice(body.bytes().unwrap_or_default());
        self.0
            .lock()
            .unwrap()
            .push(http::Request::from_parts(parts, bytes));
        HttpConnectorFuture::ready(Ok(HttpResponse::new(200.try_into().unwrap(), SdkBody::empty())))
    }
}
impl HttpClient for Capture {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}
impl Transport for Capture {
    fn send(&self, request: http::Request<Full<Bytes>>) -> TransportFuture {
        let (parts, _) = request.into_parts();
        self.0
            .lock()
            .unwrap()
            .push(http::Request::from_parts(parts, Bytes::new()));
        Box::pin(async {
            Ok(Answer {
                status: http::StatusCode::OK,
                error_type: None,
                body: Bytes::new(),
            })
        })
    }
}

/// The SDK adds its own bookkeeping headers (invocation id, attempt, user agent) before
/// signing; the lean post sends none. Without them both sign the same header set.
#[derive(Debug)]
struct WithoutSdkHeaders;
impl Intercept for WithoutSdkHeaders {
    fn name(&self) -> &'static str {
        "WithoutSdkHeaders"
    }
    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let h = ctx.request_mut().headers_mut();
        for name in [
            "amz-sdk-invocation-id",
            "amz-sdk-request",
            "x-amz-user-agent",
            "content-length",
        ] {
            h.remove(name);
        }
        Ok(())
    }
}

fn sdk_config(time: SharedTimeSource, creds: SharedCredentialsProvider) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .time_source(time)
        .credentials_provider(creds)
        .build()
}

#[tokio::test]
async fn same_authorization_as_the_sdk_client() {
    let endpoint = "https://abcdef1234.execute-api.eu-west-1.amazonaws.com/production";
    for token in [None, Some(TOKEN)] {
        let creds = Credentials::new(AKID, SECRET, token.map(str::to_owned), None, "test");
        let sdk = sdk_config(
            SharedTimeSource::new(StaticTimeSource::new(at(1_795_425_302))),
            SharedCredentialsProvider::new(creds),
        );
        let seen = Capture::default();
        let client = aws_sdk_apigatewaymanagement::Client::from_conf(
            aws_sdk_apigatewaymanagement::config::Builder::from(&sdk)
                .endpoint_url(endpoint)
                .http_client(seen.clone())
                .interceptor(WithoutSdkHeaders)
                .build(),
        );
        client
            .post_to_connection()
            .connection_id("L0SM9cOFvHcCIhw=")
            .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(
                &b"{\"a\":1}"[..],
            ))
            .send()
            .await
            .unwrap();
        let lean_seen = Capture::default();
        let lean = LeanPoster::new(&sdk, endpoint, Arc::new(lean_seen.clone())).unwrap();
        lean.attempt("L0SM9cOFvHcCIhw=", Bytes::from_static(b"{\"a\":1}"))
            .await
            .unwrap();

        let (sdk_req, lean_req) = (&seen.0.lock().unwrap()[0], &lean_seen.0.lock().unwrap()[0]);
        let header =
            |r: &http::Request<Bytes>, n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(sdk_req.uri().to_string(), lean_req.uri().to_string());
        assert_eq!(header(sdk_req, "x-amz-date"), header(lean_req, "x-amz-date"));
        assert_eq!(
            header(sdk_req, "x-amz-security-token"),
            header(lean_req, "x-amz-security-token")
        );
        let auth = header(sdk_req, "authorization").unwrap();
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-date"),
            "{auth}"
        );
        assert_eq!(Some(auth), header(lean_req, "authorization"), "token: {token:?}");
    }
}

/// Credentials that expire every hour, each load a new key.
#[derive(Debug, Default)]
struct Rotating {
    loads: AtomicU64,
    clock: Arc<AtomicU64>,
}
impl ProvideCredentials for Rotating {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let n = self.loads.fetch_add(1, Ordering::SeqCst);
        let now = self.clock.load(Ordering::SeqCst);
        future::ProvideCredentials::ready(Ok(Credentials::new(
            format!("AKIDROTATED{n}"),
            format!("secret-{n}"),
            Some(format!("token-{n}")),
            Some(at(now + 3600)),
            "rotating",
        )))
    }
}

#[derive(Debug)]
struct Clock(Arc<AtomicU64>);
impl TimeSource for Clock {
    fn now(&self) -> SystemTime {
        at(self.0.load(Ordering::SeqCst))
    }
}

#[tokio::test]
async fn rotated_credentials_are_used_once_the_old_ones_expire() {
    let clock = Arc::new(AtomicU64::new(1_795_425_302));
    let provider = Arc::new(Rotating {
        loads: AtomicU64::new(0),
        clock: clock.clone(),
    });
    let sdk = sdk_config(
        SharedTimeSource::new(Clock(clock.clone())),
        SharedCredentialsProvider::new(ArcProvider(provider.clone())),
    );
    let seen = Capture::default();
    let lean = LeanPoster::new(
        &sdk,
        "https://x.execute-api.eu-west-1.amazonaws.com/p",
        Arc::new(seen.clone()),
    )
    .unwrap();
    for _ in 0..3 {
        lean.attempt("c", Bytes::from_static(b"1")).await.unwrap();
    }
    assert_eq!(provider.loads.load(Ordering::SeqCst), 1, "cached between posts");
    clock.fetch_add(3_600, Ordering::SeqCst); // the first credentials have expired
    lean.attempt("c", Bytes::from_static(b"1")).await.unwrap();
    assert_eq!(provider.loads.load(Ordering::SeqCst), 2, "reloaded once expired");
    let g = seen.0.lock().unwrap();
    let auth = |i: usize| g[i].headers()["authorization"].to_str().unwrap().to_owned();
    let token = |i: usize| {
        g[i].headers()["x-amz-security-token"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert!(auth(2).contains("Credential=AKIDROTATED0/"), "{}", auth(2));
    assert!(auth(3).contains("Credential=AKIDROTATED1/"), "{}", auth(3));
    assert_eq!((token(2).as_str(), token(3).as_str()), ("token-0", "token-1"));
}

#[derive(Debug)]
struct ArcProvider(Arc<Rotating>);
impl ProvideCredentials for ArcProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.0.provide_credentials()
    }
}

fn pem_items(name: &str) -> Vec<rustls_pemfile_item::Item> {
    rustls_pemfile_item::read(
        &std::fs::read(format!(
            "{}/tests/fixtures/tls/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
}

/// Just enough PEM for the fixtures: base64 between BEGIN/END lines.
mod rustls_pemfile_item {
    pub enum Item {
        Cert(Vec<u8>),
        Key(Vec<u8>),
    }
    pub fn read(pem: &[u8]) -> Vec<Item> {
        let text = std::str::from_utf8(pem).unwrap();
        let mut out = Vec::new();
        let mut label = None;
        let mut b64 = String::new();
        for line in text.lines() {
            if let Some(l) = line.strip_prefix("-----BEGIN ") {
                label = Some(l.trim_end_matches('-').to_owned());
                b64.clear();
            } else if line.starts_with("-----END ") {
                let der = decode(&b64);
                match label.take().as_deref() {
                    Some("CERTIFICATE") => out.push(Item::Cert(der)),
                    Some(_) => out.push(Item::Key(der)),
                    None => {}
                }
            } else if label.is_some() {
                b64.push_str(line.trim());
            }
        }
        out
    }
    fn decode(s: &str) -> Vec<u8> {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0);
        for c in s.bytes().filter(|c| *c != b'=') {
            acc = (acc << 6) | A.iter().position(|a| *a == c).unwrap() as u32;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }
}

#[tokio::test]
async fn http2_when_the_endpoint_offers_it() {
    use hermes_core::push::transport::HyperTransport;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use rustls_pemfile_item::Item;

    let cert = |name: &str| -> Vec<CertificateDer<'static>> {
        pem_items(name)
            .into_iter()
            .filter_map(|i| match i {
                Item::Cert(d) => Some(CertificateDer::from(d)),
                Item::Key(_) => None,
            })
            .collect()
    };
    let key = pem_items("server.key")
        .into_iter()
        .find_map(|i| match i {
            Item::Key(d) => Some(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(d))),
            Item::Cert(_) => None,
        })
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(cert("server.pem"), key)
        .unwrap();
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let versions = Arc::new(Mutex::new(Vec::new()));
    let (v, connections) = (versions.clone(), Arc::new(AtomicU64::new(0)));
    let conns = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            conns.fetch_add(1, Ordering::SeqCst);
            let (acceptor, v) = (acceptor.clone(), v.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(sock).await else {
                    return;
                };
                let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    v.lock().unwrap().push(req.version());
                    async { Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::new()))) }
                });
                let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });

    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(cert("ca.pem"));
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let transport = HyperTransport::with_tls(tls, Duration::from_secs(3));
    let sdk = sdk_config(
        SharedTimeSource::default(),
        SharedCredentialsProvider::new(Credentials::new(AKID, SECRET, None, None, "test")),
    );
    let lean = LeanPoster::new(
        &sdk,
        &format!("https://localhost:{port}/production"),
        Arc::new(transport),
    )
    .unwrap();
    let posts = (0..20).map(|i| {
        let lean = &lean;
        async move { lean.attempt(&format!("c{i}="), Bytes::from_static(b"{}")).await }
    });
    for r in futures::future::join_all(posts).await {
        r.unwrap();
    }
    let v = versions.lock().unwrap();
    assert_eq!(v.len(), 20);
    assert!(v.iter().all(|v| *v == http::Version::HTTP_2), "{v:?}");
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "20 posts at once share one connection"
    );
}
