//! The HTTP/1.1 server under the router. Two bounds a slowloris client would otherwise
//! exhaust: at most `Options::max_tcp_connections` connections are held at once (past it,
//! new clients wait in the kernel's backlog rather than take the descriptors the gateway's
//! own management connections need), and a client has `Options::header_read_timeout` to send
//! each request's headers. axum::serve has neither setting, hence this loop: hyper's HTTP/1
//! connection with a header-read timer, WebSocket upgrades enabled, the client's address
//! given to handlers as `ConnectInfo`. HTTP/1.1 only: WebSockets and the management client
//! use it, and serving HTTP/2 as well would need reading the connection preface first,
//! which has no deadline.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower_service::Service;

/// The connection slots: a permit per accepted connection, and how many are open.
pub(crate) struct Slots {
    permits: Arc<Semaphore>,
    open: Arc<AtomicUsize>,
}

impl Slots {
    pub fn new(max: usize) -> Self {
        Slots {
            permits: Arc::new(Semaphore::new(max)),
            open: Arc::default(),
        }
    }

    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
}

pub(crate) async fn serve(
    mut listener: TcpListener,
    router: Router,
    slots: Arc<Slots>,
    header_read_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    // Each connection's task holds a receiver; shutdown waits until all are dropped.
    let (open_tx, open_rx) = watch::channel(());
    loop {
        let slot = tokio::select! {
            s = slots.permits.clone().acquire_owned() => s.expect("never closed"),
            _ = stop.changed() => break,
        };
        // axum's accept retries what a busy server meets (EMFILE, aborted handshakes).
        let (tcp, peer) = tokio::select! {
            c = axum::serve::Listener::accept(&mut listener) => c,
            _ = stop.changed() => break,
        };
        // API Gateway's sockets send each frame as it comes; so do ours (and the management
        // API's answers), rather than let Nagle hold a small write for an ACK.
        let _ = tcp.set_nodelay(true);
        slots.open.fetch_add(1, Ordering::Relaxed);
        let io = TokioIo::new(Held {
            tcp,
            _slot: slot,
            open: slots.open.clone(),
        });
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut router = router.clone();
            async move { Ok::<_, Infallible>(router.call(req).await.unwrap_or_else(|e| match e {})) }
        });
        let mut stop = stop.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .serve_connection(io, service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    // Let a request in progress finish; an idle connection ends at once.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(open);
        });
    }
    drop(listener);
    drop(open_rx);
    open_tx.closed().await;
}

/// A connection holding its slot: the slot is free again when the connection is dropped,
/// after the request or, for a WebSocket, after the socket ends (hyper hands this very value
/// to the upgraded connection).
struct Held {
    tcp: TcpStream,
    _slot: OwnedSemaphorePermit,
    open: Arc<AtomicUsize>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AsyncRead for Held {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Held {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
