//! One WebSocket's life, in one task: frames the management API queued go out, frames the
//! client sends go to the send handler, and the connection ends on a close from either side,
//! a protocol error, or API Gateway's limits. Then `$disconnect` runs.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::SinkExt;
use hermes_core::handlers::disconnect_measured;
use hermes_core::metrics::{Function, Metrics};
use tokio::time::{sleep, timeout, Instant};
use tungstenite::error::ProtocolError;

use crate::dispatch::{dispatch, Dispatcher, SocketSlot};
use crate::outbox::Closing;
use crate::peer::Peer;
use crate::sockets::Slot;
use crate::state::App;

/// How long the gateway tries to deliver its close frame (or the echo of the client's) to a
/// client that may not be reading.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

const GOING_AWAY: Closing = (1001, "Going away");

/// How a socket ends.
enum Ending {
    /// Send this close frame.
    Close(Closing),
    /// The client sent a close frame: echo it (tungstenite has queued the echo).
    Echo,
    /// The connection is already gone.
    Drop,
}

/// `slot` is the socket's place under the connection limit: held until `$disconnect` has run.
pub(crate) async fn run_socket(app: Arc<App>, slot: Slot, id: String, peer: Peer, mut socket: WebSocket) {
    let (live, mut outbox) = app.sockets.open(&slot, &id, peer.clone());
    // One task per connection reads and writes: a post wakes just this task, with no
    // writer task or lock between two socket halves (cheaper per frame in a 10,000-client fan-out).
    let max_age = sleep(app.opts.max_age);
    let idle = sleep(app.opts.idle_timeout);
    // One wait for the close signal for the socket's whole life: a fresh one per frame would
    // register with the signal (a lock) twice per frame of a fan-out.
    let closed = live.closed();
    tokio::pin!(max_age, idle, closed);
    let dispatcher = Dispatcher::new(&app);
    // The socket is read while it has a share of its own left; a frame read then waits for
    // the gateway's slot. Both requests are kept across iterations, so a socket keeps its
    // place in the gateway's queue.
    let mut socket_slot = None;
    let mut read: Option<(SocketSlot, String)> = None;
    let next_socket_slot = dispatcher.socket_slot();
    let next_gateway_slot = dispatcher.gateway_slot();
    tokio::pin!(next_socket_slot, next_gateway_slot);
    let ending = loop {
        tokio::select! {
            closing = &mut closed => break Ending::Close(closing),
            _ = &mut max_age => break Ending::Close(GOING_AWAY),
            _ = &mut idle => {
                tracing::info!(connection_id = id, "idle timeout");
                break Ending::Close(GOING_AWAY);
            }
            frame = outbox.next() => {
                // A client that does not read blocks this write: DeleteConnection, a slow
                // consumer's close and the limits must still end the connection.
                tokio::select! {
                    closing = &mut closed => break Ending::Close(closing),
                    _ = &mut max_age => break Ending::Close(GOING_AWAY),
                    _ = &mut idle => break Ending::Close(GOING_AWAY),
                    sent = socket.send(Message::Text(frame)) => if sent.is_err() {
                        break Ending::Drop;
                    },
                }
                outbox.written();
            }
            s = &mut next_socket_slot, if socket_slot.is_none() => {
                socket_slot = Some(s);
                next_socket_slot.set(dispatcher.socket_slot());
            }
            g = &mut next_gateway_slot, if read.is_some() => {
                next_gateway_slot.set(dispatcher.gateway_slot());
                let (s, text) = read.take().expect("polled only with a frame read");
                dispatch(&app, (s, g), &id, &peer, text);
            }
            m = socket.recv(), if socket_slot.is_some() && read.is_none() => {
                let msg = match m {
                    None => break Ending::Drop,
                    Some(Err(e)) => break read_error(&e).map_or(Ending::Drop, Ending::Close),
                    Some(Ok(m)) => m,
                };
                idle.as_mut().reset(Instant::now() + app.opts.idle_timeout);
                let text = match msg {
                    Message::Text(t) => t.to_string(),
                    Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                    Message::Close(_) => break Ending::Echo,
                    Message::Ping(_) | Message::Pong(_) => continue,
                };
                *live.last_active.lock().unwrap() = SystemTime::now();
                read = Some((socket_slot.take().expect("read only with a slot"), text));
            }
        }
    };
    // Closing: no more posts are taken (410), as API Gateway answers for a closing connection.
    app.sockets.remove(&id);
    match ending {
        Ending::Close((code, reason)) => {
            let frame = Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            }));
            let _ = timeout(CLOSE_GRACE, socket.send(frame)).await;
        }
        Ending::Echo => {
            let _ = timeout(CLOSE_GRACE, socket.flush()).await;
        }
        Ending::Drop => {}
    }
    // A frame cut off mid-write is in the socket's buffer until here.
    drop(socket);
    drop(outbox);
    let ev = app.events.websocket(&id, "$disconnect", "DISCONNECT", &peer);
    let metrics = Metrics::new();
    disconnect_measured(&*app.connections, Some(&*app.subscriptions), &ev, &metrics).await;
    app.count(Function::Disconnect, &metrics);
    drop(slot);
}

/// The close frame a read error calls for (RFC 6455 §7.4.1), if the connection is still there.
fn read_error(e: &axum::Error) -> Option<Closing> {
    let e = std::error::Error::source(e)?.downcast_ref::<tungstenite::Error>()?;
    match e {
        // A frame over 32 KB or a message over 128 KB, like API Gateway.
        tungstenite::Error::Capacity(_) => Some((1009, "Message too big")),
        // A text message that is not UTF-8.
        tungstenite::Error::Utf8(_) => Some((1007, "Invalid frame payload data")),
        // The client dropped the TCP connection: nobody to tell.
        tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        // Unmasked or reserved-bit frames, unknown opcodes, oversize or fragmented control
        // frames, continuations of nothing.
        tungstenite::Error::Protocol(_) => Some((1002, "Protocol error")),
        _ => None,
    }
}
