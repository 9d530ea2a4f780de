//! Assembles stores, queue and pusher factory for the configured backend.

use std::sync::Arc;

use crate::config::{Backend, Config, ConfigError};
use crate::push::{ApiGwPusherFactory, PusherFactory};
use crate::queue::{MemoryQueue, Queue, SqsQueue};
use crate::store::{
    ConnectionStore, DynamoConnectionStore, DynamoHistoryStore, DynamoSubscriptionStore, DynamoTokenStore,
    HistoryStore, MemoryConnectionStore, MemoryHistoryStore, MemorySubscriptionStore, MemoryTokenStore,
    SubscriptionStore, TokenStore,
};

#[derive(Clone)]
pub struct Backends {
    pub tokens: Arc<dyn TokenStore>,
    pub connections: Arc<dyn ConnectionStore>,
    pub history: Arc<dyn HistoryStore>,
    /// Who is subscribed to each stream.
    pub subscriptions: Arc<dyn SubscriptionStore>,
    /// The streams' histories (the history store keyed by stream).
    pub stream_history: Arc<dyn HistoryStore>,
    /// `None` on AWS when `HERMES_QUEUE_URL` is unset (the send Lambda then posts a whole room
    /// in one invocation, however large).
    pub queue: Option<Arc<dyn Queue>>,
    pub pushers: Arc<dyn PusherFactory>,
}

/// The memory backend's parts with their own types: what `Backends::from_config` assembles for
/// `HERMES_BACKEND=memory`, for a caller that also reaches into them (the gem's test mode drains
/// the queue and adds connections).
#[derive(Clone)]
pub struct MemoryBackends {
    pub tokens: Arc<MemoryTokenStore>,
    pub connections: Arc<MemoryConnectionStore>,
    pub history: Arc<MemoryHistoryStore>,
    pub subscriptions: Arc<MemorySubscriptionStore>,
    pub stream_history: Arc<MemoryHistoryStore>,
    pub queue: Arc<MemoryQueue>,
}

impl MemoryBackends {
    pub fn new() -> Self {
        MemoryBackends {
            tokens: Arc::new(MemoryTokenStore::new()),
            connections: Arc::new(MemoryConnectionStore::new()),
            history: Arc::new(MemoryHistoryStore::default()),
            subscriptions: Arc::new(MemorySubscriptionStore::default()),
            stream_history: Arc::new(MemoryHistoryStore::default()),
            queue: Arc::new(MemoryQueue::default()),
        }
    }

    /// The same parts as `Backends`, posting through `pushers`.
    pub fn backends(&self, pushers: Arc<dyn PusherFactory>) -> Backends {
        Backends {
            tokens: self.tokens.clone(),
            connections: self.connections.clone(),
            history: self.history.clone(),
            subscriptions: self.subscriptions.clone(),
            stream_history: self.stream_history.clone(),
            queue: Some(self.queue.clone()),
            pushers,
        }
    }
}

impl Default for MemoryBackends {
    fn default() -> Self {
        Self::new()
    }
}

impl Backends {
    pub async fn from_config(cfg: &Config) -> Result<Self, ConfigError> {
        Ok(Self::from_config_keeping_memory(cfg).await?.0)
    }

    /// `from_config`, with the memory backend's parts (`Some` on `HERMES_BACKEND=memory`).
    pub async fn from_config_keeping_memory(
        cfg: &Config,
    ) -> Result<(Self, Option<MemoryBackends>), ConfigError> {
        let sdk = crate::aws::sdk_config(cfg).await;
        match cfg.backend() {
            Backend::Aws => {
                let ddb = crate::aws::dynamodb(&sdk);
                let queue: Option<Arc<dyn Queue>> = cfg
                    .queue_url()
                    .ok()
                    .map(|url| Arc::new(SqsQueue::new(crate::aws::sqs(&sdk), url)) as Arc<dyn Queue>);
                let backends = Backends {
                    tokens: Arc::new(DynamoTokenStore::new(ddb.clone(), cfg.tokens_table())),
                    connections: Arc::new(DynamoConnectionStore::new(ddb.clone(), cfg.connections_table())),
                    history: Arc::new(DynamoHistoryStore::new(ddb.clone(), cfg.history_table())),
                    subscriptions: Arc::new(DynamoSubscriptionStore::new(
                        ddb.clone(),
                        cfg.subscriptions_table(),
                    )),
                    stream_history: Arc::new(DynamoHistoryStore::for_streams(
                        ddb,
                        cfg.stream_history_table(),
                    )),
                    queue,
                    pushers: Arc::new(ApiGwPusherFactory::new(sdk)),
                };
                Ok((backends, None))
            }
            Backend::Memory => {
                let memory = MemoryBackends::new();
                Ok((
                    memory.backends(Arc::new(ApiGwPusherFactory::new(sdk))),
                    Some(memory),
                ))
            }
            Backend::Local => Err(ConfigError::Invalid {
                name: crate::names::env::BACKEND,
                reason:
                    "\"local\" is for the gem (it talks to a running hermes-local); use aws or memory here"
                        .into(),
            }),
        }
    }
}
