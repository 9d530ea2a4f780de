// Hermes browser client: the page's one WebSocket (import map entry "hermes/socket"; API and
// documentation in "hermes"): the room (subscribers by type, presence, recovery), the streams
// ("hermes/streams"), reconnects with backoff, a new token when the gateway refuses the old.
// Room recovery (docs/protocol.md, "Delivery guarantees"): after every (re)open one `recover`
// frame carries the room's last seq and epoch (and every held stream); the server replays what
// the page missed, then answers {"hermes": "recovered"}; frames are held until then, then
// shown in seq order, each id once; a gap the history cannot cover calls onGap({epoch, seq}).
// `position` ({seq, epoch} at render time) makes the first open recover from there; `epoch:
// null` (no message yet) makes the client ask again from seq 0 of the epoch the answer names.
import { ANSWER_TIMEOUT_MS, Streams } from "hermes/streams";

const MAX_BACKOFF_MS = 30000;
const PRESENCE_TIMEOUT_MS = 5000;
// A page hidden this long (a background tab, a minimised window) closes its socket: API Gateway
// bills every connected minute, and the page recovers what it missed when it is shown again.
// Long enough that switching tabs to copy something, or a short look elsewhere, keeps it.
export const CLOSE_HIDDEN_AFTER_MS = 60000;
// Ids remembered to drop duplicates: far more than one recovery (100) plus what arrives meanwhile.
const SEEN_IDS = 5000;
// Marks the page's client for start(), across copies of this module (a page that imports it
// under two URLs).
export const CLIENT = Symbol.for("hermes.client");

export class HermesSocket {
  // `anonymous`: a page of nobody (a streams token, no user, no room): the socket opens only
  // while a stream is held. `takeover`: the client this one replaces (start()): its room
  // subscribers and its streams move here. `closeHiddenAfterMs`: see hiddenAfter(); `document`:
  // whose visibility counts (the page's; tests in Node pass their own, none means always visible).
  constructor({ url, stage, token, refreshToken = null, WebSocketImpl = globalThis.WebSocket, onStatus = null, onGap = null,
    position = null, user_id = null, room_id = null, anonymous = false, takeover = null,
    closeHiddenAfterMs = CLOSE_HIDDEN_AFTER_MS, document = globalThis.document }) {
    this[CLIENT] = true;
    this.url = normalUrl(url);
    this.stage = stage;
    this.token = token;
    this.refreshToken = refreshToken;
    this.WebSocketImpl = WebSocketImpl;
    this.onStatus = onStatus;
    this.onGap = onGap;
    this.anonymous = anonymous === true;
    this.identity = identity(user_id, room_id, this.anonymous);
    this.subscribers = takeover ? takeover.subscribers : new Map();
    this.streams = takeover ? takeover.streams : new Streams(this);
    this.streams.host = this;
    this.seen = new Set();
    this.seenOrder = [];
    // Where the page stands in the room's history: null until the first answer or frame,
    // unless the page was rendered at a known position.
    this.epoch = null;
    this.seq = 0;
    // The room had no message when the page was rendered: whatever it holds at the first
    // answer came after the render.
    this.fromStart = false;
    if (position && Number.isInteger(position.seq) && position.seq >= 0) {
      if (typeof position.epoch === "string" && position.epoch) {
        this.epoch = position.epoch;
        this.seq = position.seq;
      } else {
        this.fromStart = true;
      }
    }
    this.recovering = false;
    this.held = [];
    this.presenceWaiters = [];
    this.attempt = 0;
    this.closedByUser = false;
    this.parked = false;
    // Closed because the page was hidden: nothing opens a socket until it is shown again.
    this.hiddenParked = false;
    this.closeHiddenAfterMs = hiddenAfter(closeHiddenAfterMs);
    this.watchVisibility(document);
    this.open();
  }

  subscribe(type, callback) {
    if (!this.subscribers.has(type)) this.subscribers.set(type, new Set());
    this.subscribers.get(type).add(callback);
    return () => this.subscribers.get(type).delete(callback);
  }

  // See "hermes": stream(signedName, (data, frame) => ..., {connected, disconnected, rejected}).
  stream(signedName, received, options) {
    return this.streams.add(signedName, received, options);
  }

  send(data) {
    if (!this.isOpen()) return false;
    this.ws.send(JSON.stringify({ action: "sendMessage", data }));
    return true;
  }

  // {room_id, users, connections}: the room's distinct user ids (sorted), its open sockets.
  presence(timeoutMs = PRESENCE_TIMEOUT_MS) {
    if (this.anonymous) return Promise.reject(new Error("hermes: a page of nobody has no room"));
    return this.askPresence({ action: "presence" }, null, timeoutMs);
  }

  // {stream, users, connections} of a stream this page holds, by its signed name.
  streamPresence(signedName, timeoutMs = PRESENCE_TIMEOUT_MS) {
    const at = this.streams.position(signedName);
    if (!at || at.state !== "live") return Promise.reject(new Error("hermes: presence of a stream this page does not hold"));
    return this.askPresence({ action: "presence", stream: signedName }, at.stream, timeoutMs);
  }

  askPresence(frame, stream, timeoutMs) {
    return new Promise((resolve, reject) => {
      if (!this.isOpen()) {
        reject(new Error("hermes: not connected"));
        return;
      }
      const waiter = { stream, resolve, reject };
      waiter.timer = setTimeout(() => {
        this.presenceWaiters = this.presenceWaiters.filter((w) => w !== waiter);
        reject(new Error("hermes: no presence answer"));
      }, timeoutMs);
      this.presenceWaiters.push(waiter);
      this.ws.send(JSON.stringify(frame));
    });
  }

  // Whether start(options) would build this very client: same gateway, stage and user (or
  // nobody).
  serves(options) {
    return this.url === normalUrl(options.url) && this.stage === options.stage &&
      this.identity === identity(options.user_id, options.room_id, options.anonymous === true);
  }

  // A newer token and refresh endpoint (a page rendered again, as by a Turbo visit). The open
  // socket is kept; a client still waiting for its first token opens now.
  renew({ token, refreshToken, closeHiddenAfterMs }) {
    if (token) this.token = token;
    if (refreshToken) this.refreshToken = refreshToken;
    if (closeHiddenAfterMs !== undefined) {
      this.closeHiddenAfterMs = hiddenAfter(closeHiddenAfterMs);
      this.visibilityChanged();
    }
    if (this.waitingForToken && this.token && !this.closedByUser) {
      this.waitingForToken = false;
      this.open();
    }
  }

  close() {
    this.closedByUser = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.hiddenTimer);
    if (this.document) this.document.removeEventListener("visibilitychange", this.onVisibility);
    this.dropSocket();
  }

  status(s, detail) {
    if (this.onStatus) this.onStatus(s, detail);
  }

  isOpen() {
    return !!this.ws && this.ws.readyState === 1;
  }

  open() {
    if (this.hiddenParked || this.closedByUser) return;
    // A page of nobody pays for a socket only while it holds a stream.
    if (this.anonymous && !this.streams.wanted()) {
      this.parked = true;
      return;
    }
    this.parked = false;
    // No token (the page could not get one when it was rendered): ask for one first; with
    // no way to ask, stay closed.
    if (!this.token) {
      if (this.refreshToken) this.retry(true);
      else {
        this.waitingForToken = true;
        this.status("no-token");
      }
      return;
    }
    const target = `${this.url}/${encodeURIComponent(this.stage)}?token=${encodeURIComponent(this.token)}`;
    const ws = new this.WebSocketImpl(target);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      opened = true;
      this.startRecovery(ws);
      this.status("open");
    };
    // A socket being replaced may still deliver: only the current one counts.
    ws.onmessage = (evt) => {
      if (this.ws === ws) this.receive(evt.data);
    };
    ws.onclose = (evt) => {
      if (this.ws !== ws) return;
      this.socketGone("hermes: connection closed");
      this.status("closed", evt.code);
      if (this.closedByUser) return;
      // A refused upgrade (401/403: expired or revoked token) surfaces only as a close before
      // open: fetch a fresh token before trying again.
      this.retry(!opened);
    };
  }

  // Closes the socket from this side (close(), or a page of nobody parking it). It is let go
  // at once: its late events are ignored, and the streams (which a client replacing this one
  // takes over) are no longer its.
  dropSocket() {
    const ws = this.ws;
    this.ws = null;
    this.socketGone("hermes: closed");
    if (ws && ws.readyState <= 1) {
      ws.close(1000);
      this.status("closed", 1000);
    }
  }

  // What was in flight on the socket is over.
  socketGone(why) {
    clearTimeout(this.recoverTimer);
    this.failPresence(why);
    this.streams.closed();
  }

  async retry(refresh) {
    if (refresh && this.refreshToken) {
      try {
        this.token = await this.refreshToken();
      } catch (e) {
        this.status("refresh-failed", e);
      }
    }
    // Parked while the token was being fetched: the page's return opens the socket.
    if (this.closedByUser || this.hiddenParked) return;
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  // ---- The streams host (what "hermes/streams" asks of the socket).

  sendFrame(frame) {
    if (!this.isOpen()) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  streamsWanted() {
    if (this.anonymous && this.parked && !this.closedByUser && !this.hiddenParked) this.open();
  }

  // No answer to a frame that always gets one: the socket is closed and another one opened
  // (with the backoff, which only an answer resets), which recovers everything again.
  unanswered() {
    if (!this.isOpen()) return;
    this.status("unanswered");
    this.ws.close(1000);
  }

  // A page of nobody holds no stream any more: its socket closes until it holds one again.
  streamsIdle() {
    if (!this.anonymous || this.parked || this.closedByUser) return;
    this.parked = true;
    clearTimeout(this.retryTimer);
    this.dropSocket();
    this.status("parked");
  }

  // ---- Hidden pages (the Page Visibility API): a page hidden for closeHiddenAfterMs closes
  // its socket and opens none until it is visible again; then one socket opens at once and its
  // `recover` frame brings the room and every stream up to date. Closing it is not a failure:
  // the backoff neither grows nor applies to the return.

  watchVisibility(document) {
    if (!document || typeof document.addEventListener !== "function" || typeof document.visibilityState !== "string") return;
    this.document = document;
    this.onVisibility = () => this.visibilityChanged();
    document.addEventListener("visibilitychange", this.onVisibility);
    this.visibilityChanged();
  }

  visibilityChanged() {
    if (!this.document || this.closedByUser) return;
    clearTimeout(this.hiddenTimer);
    this.hiddenTimer = null;
    if (this.document.visibilityState === "hidden") {
      if (this.closeHiddenAfterMs !== null && !this.hiddenParked) {
        this.hiddenTimer = setTimeout(() => this.parkHidden(), this.closeHiddenAfterMs);
      }
    } else if (this.hiddenParked) {
      this.hiddenParked = false;
      this.attempt = 0;
      this.open();
    }
  }

  parkHidden() {
    this.hiddenTimer = null;
    if (this.closedByUser || this.hiddenParked || this.document.visibilityState !== "hidden") return;
    this.hiddenParked = true;
    // A reconnect waiting out its backoff is a reconnect a hidden page does not make.
    clearTimeout(this.retryTimer);
    this.waitingForToken = false;
    this.dropSocket();
    this.status("parked", "hidden");
  }

  // ---- Recovery after every (re)open: one frame for the room and the streams.

  // Frames that arrive before the answer are held (a recovery's replay and live frames interleave).
  startRecovery(ws) {
    const streams = this.streams.recoverPart();
    const frame = { action: "recover" };
    if (!this.anonymous) {
      this.recovering = true;
      this.armRecoverTimer();
      Object.assign(frame, { since: this.seq, epoch: this.epoch || "" });
    }
    // The room's recovery ends on an error frame about `recover` only when the frame carried
    // no streams: with streams, such an error may concern them alone.
    this.recoverHadStreams = streams !== null;
    if (streams) frame.streams = streams;
    if (streams || !this.anonymous) ws.send(JSON.stringify(frame));
  }

  armRecoverTimer() {
    clearTimeout(this.recoverTimer);
    this.recoverTimer = setTimeout(() => this.unanswered(), ANSWER_TIMEOUT_MS);
  }

  endRecovery(answer) {
    if (!this.recovering) return;
    const fromStart = this.fromStart;
    this.fromStart = false;
    if (answer && fromStart && !answer.recovered && answer.seq > 0 && this.isOpen()) {
      // Rendered before the room's first message: all of this epoch came after the render.
      this.epoch = answer.epoch;
      this.seq = 0;
      this.armRecoverTimer();
      this.recoverHadStreams = false;
      this.ws.send(JSON.stringify({ action: "recover", since: 0, epoch: this.epoch }));
      return;
    }
    this.recovering = false;
    clearTimeout(this.recoverTimer);
    const hadPosition = this.epoch !== null;
    const held = this.held;
    this.held = [];
    let gap = null;
    if (answer) {
      if (!answer.recovered && hadPosition) gap = { epoch: answer.epoch, seq: answer.seq };
      this.epoch = answer.epoch;
      // Recovered: the server replayed everything up to answer.seq. Not recovered: start over there.
      this.seq = answer.recovered ? Math.max(this.seq, answer.seq) : answer.seq;
    } else if (hadPosition) {
      gap = { epoch: this.epoch, seq: this.seq };
    }
    this.status("recovered", { recovered: answer ? answer.recovered : null, held: held.length });
    if (gap) this.gap(gap);
    const order = (f) => (typeof f.seq === "number" ? f.seq : Infinity);
    held.sort((a, b) => order(a) - order(b));
    for (const frame of held) this.show(frame);
  }

  // ---- What arrives.

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    if (typeof frame.hermes === "string") {
      this.control(frame);
      return;
    }
    if (!("data" in frame)) {
      // Not a notification: an API Gateway or older server's error (e.g. a stage without the
      // recover route answers {"message": "Forbidden", ...}).
      this.status("error", frame.error || frame.message);
      if (this.recovering) this.endRecovery(null);
      return;
    }
    if (typeof frame.stream === "string") this.streams.frame(frame);
    else if (this.recovering) this.held.push(frame);
    else this.show(frame);
  }

  control(frame) {
    if (frame.hermes === "recovered" || frame.hermes === "subscribed") this.attempt = 0;
    switch (frame.hermes) {
      case "recovered":
        if (typeof frame.stream === "string") this.streams.recovered(frame);
        else this.endRecovery(frame);
        break;
      case "subscribed":
        this.streams.subscribed(frame);
        break;
      case "unsubscribed":
        this.streams.unsubscribed(frame);
        break;
      case "presence": {
        const stream = typeof frame.stream === "string" ? frame.stream : null;
        const waiter = this.presenceWaiters.find((w) => w.stream === stream);
        if (!waiter) break;
        this.presenceWaiters = this.presenceWaiters.filter((w) => w !== waiter);
        clearTimeout(waiter.timer);
        const { users, connections } = frame;
        waiter.resolve(stream === null ? { room_id: frame.room_id, users, connections } : { stream, users, connections });
        break;
      }
      case "error": {
        if (this.streams.error(frame)) break;
        this.status("error", frame.error);
        const aboutStreams = frame.action === "subscribe" || frame.action === "unsubscribe" ||
          (frame.action === "recover" && this.recoverHadStreams);
        if (this.recovering && !aboutStreams) this.endRecovery(null);
        break;
      }
      default:
        break;
    }
  }

  show(frame) {
    if (frame.id) {
      if (this.seen.has(frame.id)) return;
      this.seen.add(frame.id);
      this.seenOrder.push(frame.id);
      if (this.seenOrder.length > SEEN_IDS) this.seen.delete(this.seenOrder.shift());
    }
    if (typeof frame.seq === "number" && typeof frame.epoch === "string") {
      if (frame.epoch !== this.epoch) {
        // The room's counter started over: what the page held a position in is gone.
        const known = this.epoch !== null;
        this.epoch = frame.epoch;
        this.seq = frame.seq;
        if (known) this.gap({ epoch: frame.epoch, seq: frame.seq });
      } else if (frame.seq > this.seq) {
        this.seq = frame.seq;
      }
    }
    this.dispatch(frame);
  }

  dispatch(frame) {
    const message = frame.data;
    const type = message && typeof message === "object" ? message.type : undefined;
    for (const cb of this.subscribers.get(type) || []) cb(message.data, frame);
    for (const cb of this.subscribers.get("*") || []) cb(message, frame);
  }

  gap(info) {
    if (!this.onGap) return;
    try {
      this.onGap(info);
    } catch (e) {
      this.status("gap-handler-failed", e);
    }
  }

  failPresence(why) {
    for (const w of this.presenceWaiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error(why));
    }
  }
}

// closeHiddenAfterMs as given: a number of ms (0: as soon as the page is hidden), or false /
// null: the socket stays open however long the page is hidden.
function hiddenAfter(ms) {
  if (ms === false || ms === null) return null;
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw new TypeError("hermes: closeHiddenAfterMs is a number of milliseconds (>= 0), or false to keep a hidden page's socket open");
  }
  return ms;
}

function normalUrl(url) {
  return (url || globalThis.HERMES_URL || "").replace(/\/+$/, "");
}

// Who a client is for, when the page said so (hermes_connect_tag does); ids compare as text.
function identity(userId, roomId, anonymous) {
  if (anonymous) return "nobody";
  return userId == null || roomId == null ? null : JSON.stringify([String(userId), String(roomId)]);
}
