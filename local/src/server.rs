//! The HTTP/1.1 server under the router, one loop per listener. Three bounds a slowloris
//! client would otherwise exhaust: at most so many connections are held at once (past it,
//! new clients wait in the kernel's backlog rather than take descriptors), a client has
//! `Options::header_read_timeout` to send each request's headers, and
//! `Options::body_read_timeout` more to send its body (`deadline.rs`; past it: 408, the
//! connection closed, the client's address logged). axum::serve has none of these settings,
//! hence this loop: hyper's HTTP/1 connection with a header-read timer, WebSocket upgrades
//! enabled, the client's address given to handlers as `ConnectInfo`. HTTP/1.1 only:
//! WebSockets and the management client use it, and serving HTTP/2 as well would need
//! reading the connection preface first, which has no deadline.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower_service::Service;

use crate::deadline::{Missed, Timed};

/// How long a client has to send a request: its headers, then its body.
#[derive(Clone, Copy)]
pub(crate) struct Deadlines {
    pub headers: Duration,
    pub body: Duration,
}

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
    deadlines: Deadlines,
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
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let (mut parts, body) = req.into_parts();
            parts.extensions.insert(ConnectInfo(peer));
            // A body to wait for gets a deadline; the request's method and path are kept to
            // say which request missed it (the query is not: it may carry a token).
            let timed = (!body.is_end_stream()).then(|| {
                let missed = Missed::default();
                let label = (parts.method.clone(), parts.uri.path().to_owned());
                (missed, label)
            });
            let body = match &timed {
                None => Body::new(body),
                Some((missed, _)) => Body::new(Timed::new(body, deadlines.body, missed.clone())),
            };
            let req = Request::from_parts(parts, body);
            let mut router = router.clone();
            async move {
                let answer = router.call(req).await.unwrap_or_else(|e| match e {});
                match timed {
                    Some((missed, (method, path))) if missed.get() => {
                        // Once per request, and never the body: it may carry a frame.
                        tracing::warn!(
                            peer = %peer,
                            %method,
                            path,
                            deadline = ?deadlines.body,
                            "request body not received in time: answered 408, connection closed"
                        );
                        Ok::<_, Infallible>(too_slow())
                    }
                    _ => Ok(answer),
                }
            }
        });
        let mut stop = stop.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(deadlines.headers)
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

/// 408, and the connection closed rather than kept for the rest of a body that is late.
fn too_slow() -> Response {
    (
        StatusCode::REQUEST_TIMEOUT,
        [(header::CONNECTION, "close")],
        "request body not received in time\n",
    )
        .into_response()
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
