//! The four handlers and the minter on the memory backend, fed with events shaped like API
//! Gateway's and SQS's: one module per handler, in one test binary (the send handler's
//! delivery behaviours are tests/send/).

mod authorizer;
#[path = "../common/mod.rs"]
mod common;
mod connections;
mod minting;
mod send;

use std::sync::Arc;

use common::{config, fixture};
use hermes_core::events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
};
use hermes_core::events::iam::IamPolicyEffect;
use hermes_core::events::sqs::SqsEvent;
use hermes_core::handlers::{connect, disconnect, Authorizer, Decision, DenyReason, SendEvent, Sender};
use hermes_core::push::memory::MemoryPusherFactory;
use hermes_core::push::{MemoryPusher, PushError};
use hermes_core::store::{ConnectionStore, MemoryConnectionStore, MemoryTokenStore, TokenRecord, TokenStore};
use hermes_core::token::{now_secs, Claims, JwtError, JwtKeys};
use hermes_core::{Minter, UserId};
use serde_json::{json, Value};

fn cost4() -> hermes_core::BcryptCost {
    hermes_core::BcryptCost::new(4).unwrap()
}

struct World {
    tokens: Arc<MemoryTokenStore>,
    conns: Arc<MemoryConnectionStore>,
    pusher: Arc<MemoryPusher>,
    minter: Minter,
    authorizer: Authorizer,
    sender: Sender,
}

fn world() -> World {
    let cfg = config(&[]);
    let tokens = Arc::new(MemoryTokenStore::new());
    let conns = Arc::new(MemoryConnectionStore::new());
    let pusher = MemoryPusher::new();
    World {
        minter: Minter::new(&cfg, tokens.clone()).unwrap(),
        authorizer: Authorizer::new(JwtKeys::new(cfg.jwt_secret().unwrap()), tokens.clone()),
        sender: Sender::new(
            conns.clone(),
            Arc::new(MemoryPusherFactory(pusher.clone())),
            Some("https://abcdef1234.execute-api.eu-west-1.amazonaws.com/development".into()),
        ),
        tokens,
        conns,
        pusher,
    }
}

fn auth_event(token: &str) -> ApiGatewayCustomAuthorizerRequestTypeRequest {
    fixture("authorizer-request.json", Some(token))
}

async fn join(w: &World, id: &str, room: &str, user: &str) {
    common::join(&*w.conns, id, room, user).await
}

fn frames(w: &World, id: &str) -> Vec<Value> {
    w.pusher
        .frames(id)
        .iter()
        .map(|f| serde_json::from_slice(f).unwrap())
        .collect()
}
