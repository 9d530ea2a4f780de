//! What every handler shares: the handlers of hermes-core (built once, as a warm Lambda holds
//! them), the backends, the open sockets and the limits.

use std::net::SocketAddr;
use std::sync::Arc;

use hermes_core::handlers::send::StreamLimits;
use hermes_core::handlers::{Authorizer, Sender};
use hermes_core::metrics::{Function, Metrics, Totals};
use hermes_core::queue::Queue;
use hermes_core::secrets::KeysFrom;
use hermes_core::store::{ConnectionStore, HistoryStore, SubscriptionStore};
use hermes_core::stream_name::{StreamKey, StreamKeys};
use hermes_core::{Backend, Backends, Config, ConfigError, Minter, SecretSource};
use tokio::sync::Semaphore;

use crate::events::Events;
use crate::frames::FrameLog;
use crate::ids::Ids;
use crate::options::Options;
use crate::pushers::BoundedPushers;
use crate::sockets::Sockets;

pub(crate) struct App {
    pub opts: Options,
    pub region: String,
    pub authorizer: Authorizer,
    pub connections: Arc<dyn ConnectionStore>,
    pub subscriptions: Arc<dyn SubscriptionStore>,
    /// The rooms' history, also read by the development endpoint that tells a page's
    /// position (what the gem's view helper embeds).
    pub history: Arc<dyn HistoryStore>,
    pub sender: Sender,
    /// The development endpoints' minter: the memory backend only (on AWS, the Rails app mints).
    pub minter: Option<Minter>,
    pub queue: Option<Arc<dyn Queue>>,
    pub memory: bool,
    /// Open sockets by connection id (what the management API posts to), and the limit on them.
    pub sockets: Sockets,
    /// Frames being routed, across the gateway (`Options::max_routes`).
    pub routes: Arc<Semaphore>,
    /// Connection and request ids, as API Gateway writes them.
    pub ids: Arc<Ids>,
    pub events: Events,
    /// The key the development endpoints sign stream names with (memory backend only: the
    /// development key).
    pub stream_key: Option<StreamKey>,
    /// The last frames posted through the management API, for the console.
    pub frames: FrameLog,
    /// The console's last answer and when it was made: one is built at a time, and polls
    /// within `dev::console::FRESH` of it get the same bytes.
    pub console: tokio::sync::Mutex<Option<(std::time::Instant, bytes::Bytes)>>,
    /// What the handlers counted since start, per function: `GET /_hermes/metrics`.
    pub metrics: Totals,
}

impl App {
    /// Adds one invocation's figures to the totals.
    pub fn count(&self, function: Function, metrics: &Metrics) {
        self.metrics.add(function, &metrics.take());
    }

    pub fn new(
        cfg: &Config,
        backends: Backends,
        secrets: SecretSource,
        opts: Options,
        addr: SocketAddr,
        management_addr: SocketAddr,
    ) -> Result<App, ConfigError> {
        let memory = cfg.backend() == Backend::Memory;
        let minter = memory.then(|| Minter::with_secrets(cfg, secrets.clone(), backends.tokens.clone()));
        // Posts go through the real management API client, to this very server (on the
        // listener kept for it): one client for the whole gateway, with a bound on posts in
        // flight.
        let pushers = Arc::new(BoundedPushers::new(backends.pushers.clone(), opts.max_posts));
        let endpoint = format!("http://{management_addr}/{}", opts.stage);
        let ids = Arc::new(Ids::new());
        // The gem's `local` backend signs stream names with the development key: on the memory
        // backend so does this gateway, whatever secret it made up or was given. On AWS, the
        // keys derived from the JWT secret (the secret's current and previous ones, with
        // HERMES_SECRET_ID), as the send function checks them.
        let stream_key = memory.then(StreamKey::development);
        let stream_keys: KeysFrom<StreamKeys> = match &stream_key {
            Some(dev) => dev.clone().into(),
            None => secrets.clone().into(),
        };
        Ok(App {
            events: Events::new(&opts.stage, addr, cfg.region(), ids.clone()),
            ids,
            region: cfg.region().to_owned(),
            authorizer: Authorizer::new(secrets, backends.tokens.clone()),
            connections: backends.connections.clone(),
            history: backends.history.clone(),
            sender: Sender::new(backends.connections.clone(), pushers, Some(endpoint))
                .with_history(backends.history.clone(), cfg.history_ttl().as_duration())
                .with_streams(
                    backends.subscriptions.clone(),
                    backends.stream_history.clone(),
                    stream_keys,
                    StreamLimits::default(),
                ),
            subscriptions: backends.subscriptions.clone(),
            minter,
            queue: backends.queue.clone(),
            memory,
            sockets: Sockets::new(&opts),
            routes: Arc::new(Semaphore::new(opts.max_routes.max(1))),
            stream_key,
            frames: FrameLog::default(),
            console: tokio::sync::Mutex::default(),
            metrics: Totals::new(),
            opts,
        })
    }
}
