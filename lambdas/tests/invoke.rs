//! Each Lambda binary answers a real invocation through the Lambda Runtime API: cargo-lambda's
//! emulator (`cargo lambda watch --only-lambda-apis`) serves the API, the binary polls it like
//! it would on AWS, and `cargo lambda invoke` sends fixture events. Stores are DynamoDB on the
//! moto server script/with-moto starts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use hermes_core::metrics::emf;
use hermes_core::{Backends, Config, Minter, UserId};
use hermes_testkit::{free_port, wait_listening, Killed};
use serde_json::{json, Value};

const SECRET: &str = "lambda-invoke-test-secret-for-hs512-0123456789";
const PASSCODE: &str = "lambda-invoke-passcode";

fn fixture(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn hermes_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("HERMES_JWT_SECRET", SECRET.into()),
        ("HERMES_PASSCODE", PASSCODE.into()),
        ("HERMES_AWS_ENDPOINT_URL", endpoint.into()),
        ("HERMES_BACKEND", "aws".into()),
        ("HERMES_BCRYPT_COST", "4".into()),
        ("AWS_REGION", "eu-west-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        (emf::NAMESPACE_ENV, "Hermes/invoke".into()),
        (emf::STAGE_ENV, "invoke-test".into()),
    ]
}

struct Emulator {
    _proc: Killed,
    port: u16,
    dir: PathBuf,
}

impl Emulator {
    fn start() -> Emulator {
        let port = free_port();
        let proc = Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cargo-lambda is installed by script/setup");
        let proc = Killed(proc);
        wait_listening(port, Duration::from_secs(20), "cargo lambda watch");
        let dir = std::env::temp_dir().join(format!("hermes-invoke-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        Emulator {
            _proc: proc,
            port,
            dir,
        }
    }

    /// Starts `bin` against the emulator, invokes it once with `event`, returns its answer and
    /// checks it printed one metrics document for the invocation, which is returned too.
    fn invoke(&self, bin: &str, env: &[(&str, String)], event: &Value) -> Value {
        self.invoke_measured(bin, env, event).0
    }

    fn invoke_measured(&self, bin: &str, env: &[(&str, String)], event: &Value) -> (Value, emf::Read) {
        let printed = self.dir.join("stdout");
        let function = Killed(
            Command::new(bin)
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .env(
                    "AWS_LAMBDA_RUNTIME_API",
                    format!("http://127.0.0.1:{}/.rt", self.port),
                )
                .env("AWS_LAMBDA_FUNCTION_NAME", "_")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
                .stdout(std::fs::File::create(&printed).unwrap())
                .spawn()
                .unwrap(),
        );
        let file = self.dir.join("event.json");
        std::fs::write(&file, serde_json::to_vec(event).unwrap()).unwrap();
        let out = Command::new("timeout")
            .args([
                "20",
                "cargo",
                "lambda",
                "invoke",
                "_",
                "-A",
                "127.0.0.1",
                "-P",
                &self.port.to_string(),
                "--data-file",
            ])
            .arg(&file)
            .output()
            .unwrap();
        drop(function);
        assert!(
            out.status.success(),
            "{bin}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answer = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{bin}: {e}: {}", String::from_utf8_lossy(&out.stdout)));
        // The JSON log lines, and the invocation's one metrics document among them.
        let text = std::fs::read_to_string(&printed).unwrap();
        let docs: Vec<emf::Read> = text
            .lines()
            .filter(|l| l.contains("\"_aws\""))
            .map(|l| emf::read(l).unwrap_or_else(|e| panic!("{bin}: {e}: {l}")))
            .collect();
        assert_eq!(
            docs.len(),
            1,
            "{bin}: one metrics document per invocation:\n{text}"
        );
        let doc = docs.into_iter().next().unwrap();
        let name = Path::new(bin).file_name().unwrap().to_str().unwrap();
        assert_eq!(doc.namespace, "Hermes/invoke");
        assert_eq!(
            doc.dimensions,
            [
                ("Stage".to_owned(), "invoke-test".to_owned()),
                ("Function".to_owned(), name.to_owned())
            ]
        );
        // A process per invocation here: each is a cold start.
        assert_eq!(doc.value("ColdStart"), Some(1.0), "{bin}");
        assert!(
            doc.properties["RequestId"]
                .as_str()
                .is_some_and(|r| !r.is_empty()),
            "{bin}"
        );
        (answer, doc)
    }
}

#[test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
fn each_binary_answers_through_the_runtime_api() {
    let endpoint = hermes_core::testing::moto_endpoint();
    let env = hermes_env(&endpoint);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cfg = Config::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap();
    let backends = rt.block_on(Backends::from_config(&cfg)).unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let room = format!("room-{nanos:x}");
    let jwt = rt
        .block_on(
            Minter::new(&cfg, backends.tokens.clone())
                .unwrap()
                .generate_token(&UserId::Int(42), &room),
        )
        .unwrap();
    let emu = Emulator::start();

    // authorizer: Allow with context for the minted token, Deny for a forged one.
    let mut ev = fixture("authorizer-request.json");
    ev["queryStringParameters"]["token"] = json!(jwt);
    let (out, doc) = emu.invoke_measured(env!("CARGO_BIN_EXE_authorizer"), &env, &ev);
    assert_eq!(out["policyDocument"]["Statement"][0]["Effect"], "Allow", "{out}");
    assert_eq!(out["context"], json!({"user_id": "42", "room_id": room}));
    assert_eq!(doc.value("Allowed"), Some(1.0));
    ev["queryStringParameters"]["token"] = json!(format!("{jwt}x"));
    let (out, doc) = emu.invoke_measured(env!("CARGO_BIN_EXE_authorizer"), &env, &ev);
    assert_eq!(out["policyDocument"]["Statement"][0]["Effect"], "Deny", "{out}");
    let denied: f64 = doc
        .values
        .iter()
        .filter(|(name, _)| name.starts_with("Denied"))
        .map(|(_, v)| v.iter().sum::<f64>())
        .sum();
    assert_eq!((doc.value("Allowed"), denied), (Some(0.0), 1.0), "{doc:?}");
    // A page where nobody is signed in: signed streams only, as `anonymous`.
    let streams_jwt = rt
        .block_on(Minter::new(&cfg, backends.tokens.clone()).unwrap().mint_streams())
        .unwrap();
    ev["queryStringParameters"]["token"] = json!(streams_jwt);
    let out = emu.invoke(env!("CARGO_BIN_EXE_authorizer"), &env, &ev);
    assert_eq!(out["policyDocument"]["Statement"][0]["Effect"], "Allow", "{out}");
    assert_eq!(
        (out["principalId"].clone(), out["context"].clone()),
        (json!("anonymous"), json!({"scope": "streams"}))
    );

    // connect: the row lands in DynamoDB with the authorizer's room and user.
    let conn_id = format!("c{nanos:x}=");
    let mut ev = fixture("connect.json");
    ev["requestContext"]["connectionId"] = json!(conn_id);
    ev["requestContext"]["authorizer"]["room_id"] = json!(room);
    let (out, doc) = emu.invoke_measured(env!("CARGO_BIN_EXE_connect"), &env, &ev);
    assert_eq!(out["statusCode"], 200, "{out}");
    assert_eq!(doc.value("Connects"), Some(1.0));
    let row = rt
        .block_on(backends.connections.get(&conn_id))
        .unwrap()
        .expect("row written");
    assert_eq!(
        (row.room_id.as_str(), row.user_id.as_str()),
        (room.as_str(), "42")
    );

    // send from SQS: the malformed record alone is reported. The room's one connection is
    // posted to through the management endpoint, which here is a closed port: a retryable
    // failure, so that record is reported too and SQS would redeliver it.
    let closed = format!("http://127.0.0.1:{}/development", free_port());
    let mut send_env = env.clone();
    send_env.push(("HERMES_WEBSOCKET_ENDPOINT", closed));
    let body = json!({"user_id": 42, "room_id": format!("{room}-empty"), "data": {"type": "t", "data": 1}})
        .to_string();
    let body_to_room = json!({"user_id": 42, "room_id": room, "data": 1}).to_string();
    // A broadcast to a stream nobody holds: sequenced in the stream's history, posted to none.
    let cast = json!({"hermes": "broadcast", "stream": format!("{room}-stream"), "data": "<turbo-stream>"})
        .to_string();
    let ev = json!({"Records": [
        {"messageId": "ok", "body": body, "eventSource": "aws:sqs"},
        {"messageId": "bad", "body": "{", "eventSource": "aws:sqs"},
        {"messageId": "unreachable", "body": body_to_room, "eventSource": "aws:sqs"},
        {"messageId": "cast", "body": cast, "eventSource": "aws:sqs"}
    ]});
    let (out, doc) = emu.invoke_measured(env!("CARGO_BIN_EXE_send"), &send_env, &ev);
    assert_eq!(
        out,
        json!({"batchItemFailures": [{"itemIdentifier": "bad"}, {"itemIdentifier": "unreachable"}]})
    );
    // The notification to an empty room and the broadcast are handled; the unreadable record
    // and the one whose connection could not be reached fail, that post with them.
    for (name, want) in [
        ("Notifications", 2.0),
        ("RecordsFailed", 2.0),
        ("PostsDelivered", 0.0),
        ("PostsFailed", 1.0),
    ] {
        assert_eq!(doc.value(name), Some(want), "{name}: {doc:?}");
    }
    assert_eq!(
        doc.properties["MessageIds"],
        json!(["ok", "bad", "unreachable", "cast"])
    );
    let position = rt
        .block_on(backends.stream_history.position(&format!("{room}-stream")))
        .unwrap();
    assert_eq!(
        position.map(|c| c.last_seq),
        Some(1),
        "the broadcast took the stream's first seq"
    );

    // send from the WebSocket route: a sender with no row is refused.
    let mut ev = fixture("send-message.json");
    ev["requestContext"]["connectionId"] = json!("nobody");
    let out = emu.invoke(env!("CARGO_BIN_EXE_send"), &send_env, &ev);
    assert_eq!(out["statusCode"], 403, "{out}");

    // disconnect: the row is gone.
    let mut ev = fixture("disconnect.json");
    ev["requestContext"]["connectionId"] = json!(conn_id);
    let (out, doc) = emu.invoke_measured(env!("CARGO_BIN_EXE_disconnect"), &env, &ev);
    assert_eq!(out["statusCode"], 200, "{out}");
    assert_eq!(doc.value("Disconnects"), Some(1.0));
    assert!(rt.block_on(backends.connections.get(&conn_id)).unwrap().is_none());
}

/// The authorizer reads its keys from the secret HERMES_SECRET_ID names, at run time: a
/// token minted before a rotation and one minted after it both connect through the binary.
#[test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
fn the_authorizer_reads_its_keys_from_the_secret_and_accepts_both_during_a_rotation() {
    let endpoint = hermes_core::testing::moto_endpoint();
    let id = hermes_testkit::unique("hermes-invoke-secret");
    let mut env: Vec<(&'static str, String)> = hermes_env(&endpoint)
        .into_iter()
        .filter(|(k, _)| !matches!(*k, "HERMES_JWT_SECRET" | "HERMES_PASSCODE"))
        .collect();
    env.push(("HERMES_SECRET_ID", id.clone()));
    env.push(("HERMES_SECRET_TTL", "1".into()));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cfg = Config::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap();
    let sm = aws_sdk_secretsmanager::Client::new(&rt.block_on(hermes_core::aws::sdk_config(&cfg)));
    let old_key = "lambda-invoke-old-secret-for-hs512-0123456789";
    rt.block_on(
        sm.create_secret()
            .name(&id)
            .secret_string(json!({"jwt_secret": old_key, "passcode": "p-old"}).to_string())
            .send(),
    )
    .unwrap();
    let backends = rt.block_on(Backends::from_config(&cfg)).unwrap();
    let minter = Minter::with_secrets(
        &cfg,
        rt.block_on(hermes_core::SecretSource::load(&cfg)).unwrap(),
        backends.tokens.clone(),
    );
    let room = hermes_testkit::unique("room");
    let before = rt
        .block_on(minter.generate_token(&UserId::Int(42), &room))
        .unwrap();
    rt.block_on(
        sm.put_secret_value()
            .secret_id(&id)
            .secret_string(
                json!({"jwt_secret": SECRET, "passcode": PASSCODE,
                       "previous": {"jwt_secret": old_key, "passcode": "p-old"}})
                .to_string(),
            )
            .send(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let after = rt
        .block_on(minter.generate_token(&UserId::Int(42), &room))
        .unwrap();
    assert_ne!(before.split('.').next(), after.split('.').next(), "a new kid");
    let emu = Emulator::start();
    let mut ev = fixture("authorizer-request.json");
    for jwt in [&before, &after] {
        ev["queryStringParameters"]["token"] = json!(jwt);
        let out = emu.invoke(env!("CARGO_BIN_EXE_authorizer"), &env, &ev);
        assert_eq!(out["policyDocument"]["Statement"][0]["Effect"], "Allow", "{out}");
        assert_eq!(out["context"], json!({"user_id": "42", "room_id": room}));
    }
}

/// Starts the authorizer against a Runtime API nobody serves; it must stop on its own.
/// Returns what it printed.
fn authorizer_refusing_to_start(configure: impl FnOnce(&mut Command) -> &mut Command) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authorizer"));
    cmd.env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9");
    let out = configure(&mut cmd).output().unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn missing_secret_stops_the_authorizer_at_start_naming_the_variable() {
    let text =
        authorizer_refusing_to_start(|c| c.env_remove("HERMES_JWT_SECRET").env("HERMES_BACKEND", "memory"));
    assert!(text.contains("HERMES_JWT_SECRET is not set"), "{text}");
}

#[test]
fn short_secret_is_refused_without_printing_it() {
    let text = authorizer_refusing_to_start(|c| c.env("HERMES_JWT_SECRET", "tooshort-secret-xyz"));
    assert!(text.contains("HERMES_JWT_SECRET is invalid"), "{text}");
    assert!(!text.contains("tooshort-secret-xyz"), "{text}");
}
