//! The gateway on HERMES_BACKEND=aws with its keys in a Secrets Manager secret (moto's), as
//! the Lambdas read them: a token minted with the secret's keys connects.

mod common;

use std::time::Duration;

use hermes_core::{Backends, Config, Minter, SecretSource, UserId};
use hermes_local::{start, Options};
use serde_json::json;

#[tokio::test]
#[ignore = "needs the moto server: run under script/with-moto with --include-ignored"]
async fn the_gateway_reads_its_keys_from_the_secret() {
    let endpoint = hermes_core::testing::moto_endpoint();
    let id = hermes_testkit::unique("hermes-local-secret");
    let pairs = [
        ("HERMES_SECRET_ID", id.clone()),
        ("HERMES_BCRYPT_COST", "4".to_owned()),
        ("HERMES_BACKEND", "aws".to_owned()),
        ("HERMES_AWS_ENDPOINT_URL", endpoint.clone()),
    ];
    let cfg = Config::from_lookup(|k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap();
    let sm = aws_sdk_secretsmanager::Client::new(&hermes_core::aws::sdk_config(&cfg).await);
    sm.create_secret()
        .name(&id)
        .secret_string(
            json!({"jwt_secret": "gateway-secret-from-secrets-manager-0123456789", "passcode": "p"})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    let gw = start(
        cfg.clone(),
        Options {
            port: 0,
            poll: false,
            ..Options::default()
        },
    )
    .await
    .unwrap();

    let backends = Backends::from_config(&cfg).await.unwrap();
    let room = hermes_testkit::unique("room");
    let minter = Minter::with_secrets(
        &cfg,
        SecretSource::load(&cfg).await.unwrap(),
        backends.tokens.clone(),
    );
    let jwt = minter.generate_token(&UserId::Int(5), &room).await.unwrap();
    let (_ws, _) = tokio_tungstenite::connect_async(format!("{}?token={jwt}", gw.ws_url()))
        .await
        .unwrap();
    let mut joined = false;
    for _ in 0..100 {
        joined = !backends.connections.room(&room).await.unwrap().is_empty();
        if joined {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(joined, "the socket's row is in the connections table");
    // A token signed with another key is refused at the handshake.
    let other = hermes_core::token::JwtKeys::new(
        &hermes_core::JwtSecret::new("not-the-secrets-key-0123456789-abcdefgh").unwrap(),
    )
    .issue_streams(
        hermes_core::token::now_secs() + 60,
        hermes_core::token::now_secs(),
    )
    .unwrap();
    assert!(
        tokio_tungstenite::connect_async(format!("{}?token={other}", gw.ws_url()))
            .await
            .is_err()
    );
}
