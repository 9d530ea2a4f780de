//! Starting the gateway, the handle to a running one, and its shutdown.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use hermes_core::queue::Queue;
use hermes_core::store::ConnectionStore;
use hermes_core::{Backends, Config, ConfigError, Minter, SecretSource};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::options::{Options, OptionsError};
use crate::state::App;
use crate::{poller, router, server};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running gateway; dropping it (or `shutdown`) stops it.
pub struct Gateway {
    pub addr: SocketAddr,
    app: Arc<App>,
    slots: Arc<server::Slots>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// Binds 127.0.0.1:`opts.port` (0 = any free port) and starts serving; refuses options that
/// `Options::check` refuses.
pub async fn start(cfg: Config, opts: Options) -> Result<Gateway, StartError> {
    opts.check()?;
    let backends = Backends::from_config(&cfg).await?;
    start_with(cfg, opts, backends).await
}

/// `start` over backends made by the caller (tests put a fault-injecting proxy in front of one).
pub async fn start_with(cfg: Config, opts: Options, backends: Backends) -> Result<Gateway, StartError> {
    opts.check()?;
    let wanted = SocketAddr::from((Ipv4Addr::LOCALHOST, opts.port));
    let listen_error = |source| StartError::Listen { addr: wanted, source };
    let listener = TcpListener::bind(wanted).await.map_err(listen_error)?;
    let addr = listener.local_addr().map_err(listen_error)?;
    // The gateway's own management client gets a listener of its own, with its own
    // connection budget: on the clients' listener its posts waited for a place behind
    // whatever connections clients held (a connection cannot be told to be ours before its
    // request is read, and by then it holds a place).
    let own = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let own_error = |source| StartError::Listen { addr: own, source };
    let management = TcpListener::bind(own).await.map_err(own_error)?;
    let management_addr = management.local_addr().map_err(own_error)?;
    // With HERMES_SECRET_ID the keys are read from Secrets Manager at run time, as the
    // Lambdas read them.
    let secrets = Box::pin(SecretSource::load(&cfg)).await?;
    let app = Arc::new(App::new(&cfg, backends, secrets, opts, addr, management_addr)?);

    let (stop, stopped) = watch::channel(false);
    let poller = (app.opts.poll && app.queue.is_some())
        .then(|| tokio::spawn(poller::poll(app.clone(), stopped.clone())));
    let deadlines = server::Deadlines {
        headers: app.opts.header_read_timeout,
        body: app.opts.body_read_timeout,
    };
    let slots = Arc::new(server::Slots::new(app.opts.max_client_connections()));
    let server = tokio::spawn(server::serve(
        listener,
        router::router(app.clone()),
        slots.clone(),
        deadlines,
        stopped.clone(),
    ));
    let management_server = tokio::spawn(server::serve(
        management,
        router::management(app.clone()),
        Arc::new(server::Slots::new(app.opts.max_management_connections())),
        deadlines,
        stopped.clone(),
    ));
    let closer = app.clone();
    let mut until_stop = stopped;
    let task = tokio::spawn(async move {
        // A stop signal, or the handle dropped.
        let _ = until_stop.wait_for(|s| *s).await;
        // Close every socket, as API Gateway does on a deployment going away.
        closer.sockets.close_all(1001, "Going away");
        let _ = server.await;
        let _ = management_server.await;
        if let Some(p) = poller {
            let _ = p.await;
        }
    });
    Ok(Gateway {
        addr,
        app,
        slots,
        stop,
        task: Some(task),
    })
}

impl Gateway {
    /// The management API endpoint, as HERMES_WEBSOCKET_ENDPOINT would be on AWS: for a
    /// management client of another process (the gateway's own posts to a listener of
    /// their own).
    pub fn endpoint(&self) -> String {
        format!("http://{}/{}", self.addr, self.app.opts.stage)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/{}", self.addr, self.app.opts.stage)
    }

    pub fn minter(&self) -> Option<&Minter> {
        self.app.minter.as_ref()
    }

    pub fn queue(&self) -> Option<Arc<dyn Queue>> {
        self.app.queue.clone()
    }

    pub fn connections(&self) -> Arc<dyn ConnectionStore> {
        self.app.connections.clone()
    }

    /// Open WebSockets.
    pub fn live_connections(&self) -> usize {
        self.app.sockets.len()
    }

    /// Bytes queued for clients across the gateway (frames posted and not yet written), now
    /// and at most since the start: `Options::max_total_queued_bytes` bounds both.
    pub fn queued_bytes(&self) -> (usize, usize) {
        self.app.sockets.queued_bytes()
    }

    /// Connections the clients' listener holds: WebSockets, requests, idle keep-alives.
    pub fn open_connections(&self) -> usize {
        self.slots.open()
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
