//! A rotation of the keys in a Secrets Manager secret (moto's), end to end: the gem's mint and
//! the authorizer each read the secret through a cache of their own (as two processes would),
//! with a TTL of one second so the test sees each change of the secret.

use std::io::Write;
use std::sync::Mutex;

use hermes_core::handlers::send::StreamLimits;
use hermes_core::secrets::{KeysFrom, SecretSource};
use hermes_core::stream_name::StreamKeys;
use hermes_core::token::{key_id, JwtError};
use hermes_core::JwtSecret;

use super::*;

const OLD_KEY: &str = "rotation-test-old-jwt-secret-0123456789abcdef";
const NEW_KEY: &str = "rotation-test-new-jwt-secret-fedcba9876543210";
const OLD_PASSCODE: &str = "rotation-old-passcode";
const NEW_PASSCODE: &str = "rotation-new-passcode";

/// Everything the handlers log, as JSON lines.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// A config that reads its keys from the secret `id`, never from the environment.
fn secret_cfg(endpoint: &str, id: &str) -> Config {
    let pairs = [
        ("HERMES_SECRET_ID", id.to_owned()),
        ("HERMES_SECRET_TTL", "1".to_owned()),
        ("HERMES_AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("HERMES_BACKEND", "aws".to_owned()),
        ("HERMES_BCRYPT_COST", "4".to_owned()),
    ];
    Config::from_lookup(|k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap()
}

async fn secrets_client(cfg: &Config) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&hermes_core::aws::sdk_config(cfg).await)
}

/// Writes a new version of the secret, then waits out the caches' TTL.
async fn put_secret(client: &aws_sdk_secretsmanager::Client, id: &str, value: Value) {
    client
        .put_secret_value()
        .secret_id(id)
        .secret_string(value.to_string())
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

fn allowed(v: &Value) -> bool {
    v["policyDocument"]["Statement"][0]["Effect"] == "Allow"
}

#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn pages_reconnect_across_a_rotation_until_the_previous_keys_are_removed() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let ep = moto_endpoint();
    let id = unique("hermes-secret");
    let cfg = secret_cfg(&ep, &id);
    let sm = secrets_client(&cfg).await;
    sm.create_secret()
        .name(&id)
        .secret_string(json!({"jwt_secret": OLD_KEY, "passcode": OLD_PASSCODE}).to_string())
        .send()
        .await
        .unwrap();
    let b = Backends::from_config(&cfg).await.unwrap();
    // The Rails app and the authorizer: two processes, two caches.
    let minter = Minter::with_secrets(&cfg, SecretSource::load(&cfg).await.unwrap(), b.tokens.clone());
    let authorizer = Authorizer::new(SecretSource::load(&cfg).await.unwrap(), b.tokens.clone());
    let stream_keys: KeysFrom<StreamKeys> = SecretSource::load(&cfg).await.unwrap().into();
    let user = UserId::Str(unique("user"));
    let room = unique("room");
    let check = |jwt: String| {
        let ev: ApiGatewayCustomAuthorizerRequestTypeRequest = fixture("authorizer-request.json", Some(&jwt));
        let a = &authorizer;
        async move { serde_json::to_value(a.handle(&ev).await).unwrap() }
    };

    // Before the rotation: a page connects, and subscribes to a stream.
    let (old_composed, old_jwt) = minter.mint(&user, &room).await.unwrap();
    let old_hash = b
        .tokens
        .get(&user.to_string(), &room)
        .await
        .unwrap()
        .unwrap()
        .hash;
    let old_streams_jwt = minter.mint_streams().await.unwrap();
    let old_signed = minter.stream_key().await.unwrap().sign("board_1").unwrap();
    assert!(allowed(&check(old_jwt.clone()).await));

    // The rotation: new keys current, the old ones previous.
    put_secret(
        &sm,
        &id,
        json!({"jwt_secret": NEW_KEY, "passcode": NEW_PASSCODE,
               "previous": {"jwt_secret": OLD_KEY, "passcode": OLD_PASSCODE}}),
    )
    .await;
    // 1. The page connected before reconnects after it.
    assert!(allowed(&check(old_jwt.clone()).await));
    assert!(allowed(&check(old_streams_jwt.clone()).await));

    // 2. A token minted after the rotation connects: the new key signs it (and names it).
    let (new_composed, new_jwt) = minter.mint(&user, &room).await.unwrap();
    let header = jsonwebtoken::decode_header(&new_jwt).unwrap();
    assert_eq!(
        header.kid.as_deref(),
        Some(key_id(&JwtSecret::new(NEW_KEY).unwrap()).as_str())
    );
    assert_ne!(
        new_composed.token, old_composed.token,
        "the new passcode composes"
    );
    let row = b.tokens.get(&user.to_string(), &room).await.unwrap().unwrap();
    assert_eq!(
        row.previous.as_ref().map(|p| p.hash.as_str()),
        Some(old_hash.as_str()),
        "the old seal is kept beside the new one"
    );
    assert!(allowed(&check(new_jwt.clone()).await));
    // ...and the page minted before still reconnects, its seal now the row's previous one.
    assert!(allowed(&check(old_jwt.clone()).await));
    // Its stream names verify too, under the previous key; new names are signed with the new.
    let keys = stream_keys.get().await.unwrap();
    assert_eq!(keys.verify(&old_signed).unwrap(), "board_1");
    let new_signed = minter.stream_key().await.unwrap().sign("board_1").unwrap();
    assert_ne!(new_signed, old_signed);
    assert_eq!(keys.verify(&new_signed).unwrap(), "board_1");
    drop(keys);
    // Through the send function's subscribe route, too.
    let pusher = MemoryPusher::new();
    let sender = Sender::new(
        b.connections.clone(),
        Arc::new(MemoryPusherFactory(pusher.clone())),
        Some("https://x/dev".into()),
    )
    .with_streams(
        b.subscriptions.clone(),
        b.stream_history.clone(),
        SecretSource::load(&cfg).await.unwrap(),
        StreamLimits::default(),
    );
    let subscribe = |signed: &str| {
        let conn = unique("conn");
        let row = Connection {
            connection_id: conn.clone(),
            room_id: String::new(),
            user_id: String::new(),
            connected_at: 1,
            expires_at: hermes_core::token::now_secs() + 60,
            streams: vec![],
        };
        let mut ev: Value = fixture("send-message.json", None);
        ev["requestContext"]["connectionId"] = json!(conn);
        ev["requestContext"]["routeKey"] = json!("subscribe");
        ev["body"] = json!(json!({"action": "subscribe", "streams": [signed]}).to_string());
        let ev: ApiGatewayWebsocketProxyRequest = serde_json::from_value(ev).unwrap();
        let (sender, b, pusher) = (&sender, &b, &pusher);
        async move {
            b.connections.put(&row).await.unwrap();
            sender.handle_route(&ev).await;
            let frame: Value = serde_json::from_slice(&pusher.take(&conn)[0]).unwrap();
            frame
        }
    };
    assert_eq!(subscribe(&old_signed).await["hermes"], "subscribed");

    // 3. The previous keys are removed: once the caches expire, a pre-rotation token is
    // refused, and says why.
    put_secret(&sm, &id, json!({"jwt_secret": NEW_KEY, "passcode": NEW_PASSCODE})).await;
    let old_kid = key_id(&JwtSecret::new(OLD_KEY).unwrap());
    assert_eq!(
        authorizer.decide(Some(&old_jwt)).await,
        Decision::Deny {
            reason: DenyReason::Jwt(JwtError::UnknownKey(old_kid.clone())),
            user_id: None
        }
    );
    assert!(!allowed(&check(old_jwt.clone()).await));
    assert!(!allowed(&check(old_streams_jwt.clone()).await));
    assert!(allowed(&check(new_jwt.clone()).await));
    let refused = subscribe(&old_signed).await;
    assert_eq!(refused["hermes"], "error", "{refused}");
    assert_eq!(subscribe(&new_signed).await["hermes"], "subscribed");

    // 4. What was logged: the reasons and key ids, never a key, passcode, token or seal. At
    // every level, the SDK's TRACE included (Secrets Manager's answers are marked sensitive),
    // except the seals: the SDK's TRACE lines hold DynamoDB's raw answers, so those are
    // checked at DEBUG and above (Lambda logs at INFO unless told otherwise).
    let text = logs.text();
    assert!(
        text.contains(&format!(
            "JWT rejected: token names a key this stack does not hold (kid {old_kid})"
        )),
        "{text}"
    );
    assert!(text.contains("read the secret"), "{text}");
    assert!(
        text.contains("\"level\":\"TRACE\""),
        "the SDK's TRACE lines were captured"
    );
    for secret in [
        OLD_KEY,
        NEW_KEY,
        OLD_PASSCODE,
        NEW_PASSCODE,
        old_jwt.as_str(),
        new_jwt.as_str(),
        old_streams_jwt.as_str(),
        old_composed.token.as_str(),
        new_composed.token.as_str(),
    ] {
        assert!(!text.contains(secret), "the log holds a secret value: {text}");
    }
    for line in text.lines().filter(|l| !l.contains("\"level\":\"TRACE\"")) {
        for seal in [old_hash.as_str(), row.hash.as_str()] {
            assert!(!line.contains(seal), "the log holds a seal: {line}");
        }
    }
}

#[tokio::test]
#[ignore = "needs the moto server: script/with-moto cargo test -- --include-ignored"]
async fn a_secret_that_cannot_be_read_denies_with_its_name_and_why() {
    let ep = moto_endpoint();
    let id = unique("hermes-missing-secret");
    let cfg = secret_cfg(&ep, &id);
    let b = Backends::from_config(&cfg).await.unwrap();
    let authorizer = Authorizer::new(SecretSource::load(&cfg).await.unwrap(), b.tokens.clone());
    let Decision::Deny { reason, .. } = authorizer.decide(Some("a.b.c")).await else {
        panic!("allowed without keys");
    };
    let why = reason.to_string();
    assert!(
        why.starts_with(&format!(
            "the JWT keys are unavailable: secret {id} could not be read: ResourceNotFoundException"
        )),
        "{why}"
    );

    // A secret that is not the expected JSON names the missing field, not the value.
    let sm = secrets_client(&cfg).await;
    sm.create_secret()
        .name(&id)
        .secret_string(json!({"jwt_secret": OLD_KEY}).to_string())
        .send()
        .await
        .unwrap();
    let fresh = Authorizer::new(SecretSource::load(&cfg).await.unwrap(), b.tokens.clone());
    let Decision::Deny { reason, .. } = fresh.decide(Some("a.b.c")).await else {
        panic!("allowed without keys");
    };
    assert_eq!(
        reason.to_string(),
        format!("the JWT keys are unavailable: secret {id} has no \"passcode\"")
    );
}
