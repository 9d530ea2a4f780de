//! hermes-local: an API Gateway WebSocket API on one machine. It accepts browsers on
//! `ws://127.0.0.1:PORT/{stage}?token=...`, runs the very handler functions the Lambdas run
//! (authorizer, connect, disconnect, send) with events shaped like API Gateway's, serves the
//! management API the send handler's SDK client posts to, and polls the queue into the send
//! handler. With no configuration it runs in memory and serves a demo page.
//!
//! One concern per file and one home per type. The modules import one another without a
//! cycle: the handlers (upgrade, socket, dispatch, management, dev, poller) use `state.rs`'s
//! `App`, which holds the parts below it (events, outbox, pushers) and never a handler.
//! docs/architecture.md draws how they connect.
//!
//! | file | what |
//! |---|---|
//! | `options.rs` | the limits: API Gateway's, and the bounds on what a client can make us hold |
//! | `gateway.rs` | `start` (the clients' listener, and one for the gateway's own management client), the running `Gateway` and its shutdown |
//! | `server.rs` | accepting TCP connections: the connection caps, the header-read deadline |
//! | `deadline.rs` | the request body's deadline |
//! | `router.rs` | every path and its handler, on each listener |
//! | `state.rs` | `App`: what the handlers share |
//! | `upgrade.rs` | `$connect`: the upgrade request, authorizer, connect handler |
//! | `socket.rs` | one WebSocket's life: frames in, frames out, limits, `$disconnect` |
//! | `sockets.rs` | the open sockets by connection id, the connection limit, and what is closed or refused when the queues are full |
//! | `outbox.rs` | a socket's bounded outgoing queue and its close signal |
//! | `budget.rs` | the bytes queued across the gateway, against their cap |
//! | `dispatch.rs` | route selection (`$request.body.action`) and bounded work per frame |
//! | `events.rs` | `Events`: the API Gateway events the handlers receive |
//! | `peer.rs` | the client of a socket, as the events and GetConnection report it |
//! | `management.rs` | the management API: `POST/GET/DELETE /{stage}/@connections/{id}` |
//! | `pushers.rs` | the send handler's management client, bounded in flight |
//! | `poller.rs` | the queue, polled into the send handler |
//! | `dev/` | the development endpoints (mint, revoke, enqueue, streams, the console's JSON) and the checks in front of them |
//! | `frames.rs` | the last frames posted through the management API, bounded, for the console |
//! | `loopback.rs` | whether a request comes from this machine and no web page of another host |
//! | `assets.rs` | the demo page (a console) and the browser client |
//! | `error.rs` | error answers, in API Gateway's shape or the development endpoints' |
//! | `clock.rs`, `ids.rs` | timestamps and ids written the way API Gateway writes them |

mod assets;
mod budget;
mod clock;
mod deadline;
mod dev;
mod dispatch;
mod error;
mod events;
mod frames;
mod gateway;
mod ids;
mod loopback;
mod management;
mod options;
mod outbox;
mod peer;
mod poller;
mod pushers;
mod router;
mod server;
mod socket;
mod sockets;
mod state;
mod upgrade;

pub use gateway::{start, start_with, Gateway, StartError};
pub use options::{Options, OptionsError};
