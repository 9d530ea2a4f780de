//! Every DynamoDB and SQS call, against the moto server script/with-moto starts on 127.0.0.1,
//! with the tables and queue script/moto-bootstrap.py creates (the template's names): one
//! module per table or concern, in one test binary.

#[path = "../common/mod.rs"]
mod common;
mod connections;
mod handlers;
mod history;
mod metrics;
mod queue;
mod rotation;
mod streams;
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use common::{config, fixture, unique};
use hermes_core::events::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayWebsocketProxyRequest,
};
use hermes_core::events::sqs::SqsEvent;
use hermes_core::handlers::{connect, disconnect, Authorizer, Decision, DenyReason, Sender};
use hermes_core::push::memory::MemoryPusherFactory;
use hermes_core::push::MemoryPusher;
use hermes_core::queue::{Queue, QueueError, SqsQueue};
use hermes_core::store::{
    Connection, ConnectionStore, DynamoConnectionStore, DynamoHistoryStore, DynamoTokenStore, HistoryItem,
    HistoryStore, TokenRecord, TokenStore,
};
use hermes_core::testing::{moto_endpoint, moto_queue_url};
use hermes_core::token::JwtKeys;
use hermes_core::{Backends, Config, Minter, Notification, UserId};
use serde_json::{json, Value};

fn cfg(endpoint: &str) -> Config {
    let queue = moto_queue_url();
    config(&[
        ("HERMES_AWS_ENDPOINT_URL", endpoint),
        ("HERMES_QUEUE_URL", &queue),
        ("HERMES_BACKEND", "aws"),
    ])
}

/// An item as DynamoDB holds it (a consistent read by its whole key): the attributes and types
/// a store wrote, which the stores' own reads would not show.
async fn raw_item(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    key: &[(&str, aws_sdk_dynamodb::types::AttributeValue)],
) -> Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let mut get = ddb.get_item().table_name(table).consistent_read(true);
    for (name, value) in key {
        get = get.key(*name, value.clone());
    }
    get.send().await.unwrap().item
}

async fn clients(endpoint: &str) -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
    let sdk = hermes_core::aws::sdk_config(&cfg(endpoint)).await;
    (hermes_core::aws::dynamodb(&sdk), hermes_core::aws::sqs(&sdk))
}
