// Hermes browser client: one WebSocket per page to API Gateway (or hermes-local) carrying the
// page's room and any number of signed streams, with reconnects with backoff, token refresh,
// de-duplication, and recovery of what was sent while the page was between two connections.
// Plain ES modules, no build step. Each file is its own import map entry, and they import
// each other by these names only (never by a relative path, which digested asset URLs break):
//   "hermes"         hermes.js          this API
//   "hermes/socket"  hermes-socket.js   the socket, the room, recovery
//   "hermes/streams" hermes-streams.js  the streams
//   "hermes/turbo"   hermes-turbo.js    <turbo-cable-stream-source> (optional; imports none)
// (file hermes-NAME.js is entry "hermes/NAME"; hermes-stub.js is inlined, not an entry).
//
//   import { connect } from "hermes";
//   const hermes = connect({ url: "wss://abc.execute-api.eu-west-1.amazonaws.com", stage: "production",
//                            token, refreshToken: async () => (await fetch("/hermes/token")).text(),
//                            onGap: (gap) => location.reload(),          // or refetch the page's state
//                            closeHiddenAfterMs: 60000 });               // the default (see below)
//   hermes.subscribe("info", (data, frame) => toast(data));   // frame: {user_id, data: {type, data}, id, seq, epoch}
//   hermes.send({ type: "chat", data: "hi" });                  // the sendMessage route
//   const { users, connections } = await hermes.presence();    // who is connected to the room
//
// Streams (what Hermes.broadcast(stream:, data:) and Turbo Streams send), by the name the Rails
// app signed (what turbo_stream_from renders as signed-stream-name):
//   const unsubscribe = hermes.stream(signedName, (data, frame) => render(data), {
//     connected() {},        // subscribed on the current socket (again after every reconnect)
//     disconnected() {},     // the socket closed; it is subscribed again when it reopens
//     rejected({ name, error }) {},  // the server refused the name (forged, too long, ...): final
//   });                      // frame: {stream, data, id, seq, epoch}; the options are optional
//   unsubscribe();           // the server is told 1 s later, unless the name is held again by then
//   const { stream, users, connections } = await hermes.streamPresence(signedName);
// Several callbacks may hold one stream (at most 50 streams a page); names held in one tick
// are subscribed in one frame, at most one such frame every 110 ms, and a refusal's
// retry_after_ms is waited out. After a reconnect each stream is recovered from its last seq;
// one that cannot be calls onGap({stream, name, epoch, seq}) (`name`: the signed name; the
// room's call stays onGap({epoch, seq})). A refused name also reaches onStatus("refused",
// {name, error}) and is never asked again. Stream frames never reach subscribe().
//
// onStatus(status, detail) hears "open", "closed" (code), "recovered", "unanswered" (no answer
// to recover for 15 s: the socket is replaced), "refused", "parked" (detail "hidden": see
// below), "error", "no-token" and "refresh-failed".
//
// Hidden pages cost nothing: API Gateway bills every minute a socket is open, and a tab left
// in the background is most of them. A page hidden (document.visibilityState, a background tab
// or a minimised window) for `closeHiddenAfterMs` (default 60000; 0: at once; false: never)
// closes its socket (onStatus("parked", "hidden")) and makes no reconnect attempt while it
// stays hidden. Shown again, it opens one at once and recovers the room and every stream from
// where it stood, as after any reconnect: nothing is lost, each message is shown once and in
// order, and onGap is called only when more was missed than the history replays (100 per room
// or stream, HERMES_HISTORY_TTL). The closing counts as no failure: no backoff follows it.
//
// The seed's call keeps working: connect(stage, token) connects to `${defaultUrl}/${stage}`
// (set window.HERMES_URL or pass {url}), and subscribers registered with
// subscribe(type, callback) get `frame.data.data` for frames whose `frame.data.type` matches.
// Frames with a "hermes" key (answers) or without "data" never reach subscribers.
//
// start(options) is what hermes_connect_tag's script calls: one client per page however often
// the tag's scripts run (Turbo and Turbolinks run a new page's head scripts on every visit).
// A live client for the same url, stage and user is kept (it takes the new token, refresh
// endpoint and closeHiddenAfterMs); another one is closed and its subscribers and streams move
// to the new client.
// A page where nobody is signed in starts with {url, stage, token (a streams token),
// anonymous: true, refreshToken?}: no room, and a socket only while the page holds a stream
// (closed, onStatus("parked"), 1 s after its last stream goes).
import { CLIENT, HermesSocket } from "hermes/socket";

export { HermesSocket };

export function connect(stageOrOptions, token) {
  const opts = typeof stageOrOptions === "object" && stageOrOptions !== null
    ? { ...stageOrOptions }
    : { stage: stageOrOptions, token };
  return new HermesSocket(opts);
}

// ---- What hermes_connect_tag (the Rails gem) renders calls these. ----

// A refreshToken for the gem's token endpoint: a same-origin POST carrying the page's CSRF
// token (the csrf-token meta tag when the layout has one, else the one the tag rendered).
export function tokenEndpoint(path, csrfToken) {
  return async () => {
    const meta = globalThis.document && document.querySelector('meta[name="csrf-token"]');
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": (meta && meta.content) || csrfToken || "", Accept: "application/json" },
    });
    if (!response.ok) throw new Error(`token endpoint answered ${response.status}`);
    const { token } = await response.json();
    if (!token) throw new Error("token endpoint answered without a token");
    return token;
  };
}

// Makes `socket` the page's window.Hermes, taking over the subscriptions and streams that
// scripts made on the stub hermes_connect_tag defined before this module loaded; then tells
// whoever waits for the client ("hermes/turbo" on a page without the stub).
export function install(socket, global = globalThis) {
  const stub = global.Hermes;
  if (stub && typeof stub.__hermesInstall === "function") stub.__hermesInstall(socket);
  global.Hermes = socket;
  if (typeof global.dispatchEvent === "function" && typeof Event === "function") global.dispatchEvent(new Event("hermes:ready"));
  return socket;
}

// The page's one client (see the top of this file): kept when it serves these options and is
// not closed, else replaced (the old one closed first, its subscribers, streams and onGap
// moved over).
export function start(options, global = globalThis) {
  const current = global.Hermes;
  if (!current || !current[CLIENT]) return install(connect(options), global);
  if (!current.closedByUser && current.serves(options)) {
    current.renew(options);
    return current;
  }
  current.close();
  // The same subscriber map and stream registry: unsubscribe functions handed out still work.
  const next = connect({ ...options, onGap: options.onGap || current.onGap, takeover: current });
  global.Hermes = next;
  return next;
}

export default { connect, HermesSocket, tokenEndpoint, install, start };
