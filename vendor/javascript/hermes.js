// Hermes browser client: one WebSocket per page to API Gateway (or hermes-local), with
// subscribers by message type, reconnects with backoff, token refresh, de-duplication, and
// recovery of what was sent while the page was between two connections.
// A plain ES module, no build step (importmap: pin "hermes", to: "hermes.js").
//
//   import { connect } from "hermes";
//   const hermes = connect({ url: "wss://abc.execute-api.eu-west-1.amazonaws.com", stage: "production",
//                            token, refreshToken: async () => (await fetch("/hermes/token")).text(),
//                            onGap: () => location.reload() });          // or refetch the page's state
//   hermes.subscribe("info", (data, frame) => toast(data));   // frame: {user_id, data: {type, data}, id, seq, epoch}
//   hermes.send({ type: "chat", data: "hi" });                  // the sendMessage route
//   const { users, connections } = await hermes.presence();    // who is connected to the room
//
// The seed's call keeps working: connect(stage, token) connects to `${defaultUrl}/${stage}`
// (set window.HERMES_URL or pass {url}), and subscribers registered with
// subscribe(type, callback) get `frame.data.data` for frames whose `frame.data.type` matches.
//
// Recovery (docs/protocol.md): every notification carries the room's `seq` and `epoch`. After every
// (re)open the client sends {"action": "recover", "since": <last seq>, "epoch": <epoch>}; the
// server replays what the page missed, oldest first, then answers {"hermes": "recovered"}.
// Until that answer, frames are held, then shown in seq order, each id once. When the answer
// says the history could not cover the gap (another epoch, expired, more than 100 missed),
// onGap({epoch, seq}) is called: the page should refetch its state. Frames with a "hermes"
// key (answers) or without "data" never reach subscribers.
//
// A page rendered by the server knows where the room stood at render time (`position`:
// {seq, epoch}, from hermes_connect_tag): the first open recovers from there, so what was sent
// between the render and the socket opening is shown too. `epoch: null` means the room had no
// message yet: the first answer names the room's epoch, and the client asks from seq 0 in it.
//
// start(options) is what hermes_connect_tag's script calls: one client per page however often
// the tag's scripts run (Turbo and Turbolinks run a new page's head scripts on every visit).
// A live client for the same url, stage and user is kept (it takes the new token and refresh
// endpoint); another one is closed and its subscribers move to the new client.

const MAX_BACKOFF_MS = 30000;
// A reopened socket shows what it holds after this long without an answer to `recover`.
const RECOVER_TIMEOUT_MS = 10000;
const PRESENCE_TIMEOUT_MS = 5000;
// Ids remembered to drop duplicates: far more than one recovery (100) plus what arrives meanwhile.
const SEEN_IDS = 5000;
// Marks the page's client for start(), across copies of this module (a page that imports it
// under two URLs).
const CLIENT = Symbol.for("hermes.client");

export function connect(stageOrOptions, token) {
  const opts = typeof stageOrOptions === "object" && stageOrOptions !== null
    ? { ...stageOrOptions }
    : { stage: stageOrOptions, token };
  return new HermesSocket(opts);
}

export class HermesSocket {
  constructor({ url, stage, token, refreshToken = null, WebSocketImpl = globalThis.WebSocket, onStatus = null, onGap = null,
    position = null, user_id = null, room_id = null }) {
    this[CLIENT] = true;
    this.url = normalUrl(url);
    this.stage = stage;
    this.token = token;
    this.refreshToken = refreshToken;
    this.WebSocketImpl = WebSocketImpl;
    this.onStatus = onStatus;
    this.onGap = onGap;
    this.identity = identity(user_id, room_id);
    this.subscribers = new Map();
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
    this.opened = false;
    this.open();
  }

  subscribe(type, callback) {
    if (!this.subscribers.has(type)) this.subscribers.set(type, new Set());
    this.subscribers.get(type).add(callback);
    return () => this.subscribers.get(type).delete(callback);
  }

  send(data) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify({ action: "sendMessage", data }));
    return true;
  }

  // Resolves with {room_id, users, connections}: the room's distinct user ids (sorted) and
  // its number of open connections.
  presence(timeoutMs = PRESENCE_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== 1) {
        reject(new Error("hermes: not connected"));
        return;
      }
      const waiter = { resolve, reject };
      waiter.timer = setTimeout(() => {
        this.presenceWaiters = this.presenceWaiters.filter((w) => w !== waiter);
        reject(new Error("hermes: no presence answer"));
      }, timeoutMs);
      this.presenceWaiters.push(waiter);
      this.ws.send(JSON.stringify({ action: "presence" }));
    });
  }

  // Whether start(options) would build this very client: same gateway, stage and user.
  serves(options) {
    return this.url === normalUrl(options.url) && this.stage === options.stage &&
      this.identity === identity(options.user_id, options.room_id);
  }

  // A newer token and refresh endpoint (a page rendered again, as by a Turbo visit). The open
  // socket is kept; a client still waiting for its first token opens now.
  renew({ token, refreshToken }) {
    if (token) this.token = token;
    if (refreshToken) this.refreshToken = refreshToken;
    if (this.waitingForToken && this.token && !this.closedByUser) {
      this.waitingForToken = false;
      this.open();
    }
  }

  close() {
    this.closedByUser = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.recoverTimer);
    this.failPresence("hermes: closed");
    if (this.ws) this.ws.close(1000);
  }

  status(s, detail) {
    if (this.onStatus) this.onStatus(s, detail);
  }

  open() {
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
      opened = true;
      this.attempt = 0;
      this.startRecovery(ws);
      this.status("open");
    };
    // A socket being replaced may still deliver: only the current one counts.
    ws.onmessage = (evt) => {
      if (this.ws === ws) this.receive(evt.data);
    };
    ws.onclose = (evt) => {
      if (this.ws !== ws) return;
      this.status("closed", evt.code);
      this.failPresence("hermes: connection closed");
      if (this.closedByUser) return;
      // A refused upgrade (401/403: expired or revoked token) surfaces only as a close before
      // open: fetch a fresh token before trying again.
      this.retry(!opened);
    };
  }

  async retry(refresh) {
    if (refresh && this.refreshToken) {
      try {
        this.token = await this.refreshToken();
      } catch (e) {
        this.status("refresh-failed", e);
      }
    }
    if (this.closedByUser) return;
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  // Frames that arrive before the answer are held (a recovery's replay and live frames interleave).
  startRecovery(ws) {
    this.recovering = true;
    this.askRecovery(ws);
  }

  askRecovery(ws) {
    clearTimeout(this.recoverTimer);
    this.recoverTimer = setTimeout(() => this.endRecovery(null), RECOVER_TIMEOUT_MS);
    ws.send(JSON.stringify({ action: "recover", since: this.seq, epoch: this.epoch || "" }));
  }

  endRecovery(answer) {
    if (!this.recovering) return;
    const fromStart = this.fromStart;
    this.fromStart = false;
    if (answer && fromStart && !answer.recovered && answer.seq > 0 && this.ws && this.ws.readyState === 1) {
      // Rendered before the room's first message: all of this epoch came after the render.
      this.epoch = answer.epoch;
      this.seq = 0;
      this.askRecovery(this.ws);
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
    if (this.recovering) this.held.push(frame);
    else this.show(frame);
  }

  control(frame) {
    switch (frame.hermes) {
      case "recovered":
        this.endRecovery(frame);
        break;
      case "presence": {
        const waiter = this.presenceWaiters.shift();
        if (waiter) {
          clearTimeout(waiter.timer);
          waiter.resolve({ room_id: frame.room_id, users: frame.users, connections: frame.connections });
        }
        break;
      }
      case "error":
        this.status("error", frame.error);
        if (this.recovering) this.endRecovery(null);
        break;
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

// Makes `socket` the page's window.Hermes, taking over the subscriptions that scripts made
// on the stub hermes_connect_tag defined before this module loaded.
export function install(socket, global = globalThis) {
  const stub = global.Hermes;
  if (stub && typeof stub.__hermesInstall === "function") stub.__hermesInstall(socket);
  global.Hermes = socket;
  return socket;
}

// The page's one client (see the top of this file): kept when it serves these options and is
// not closed, else replaced (the old one closed first, its subscribers and onGap moved over).
export function start(options, global = globalThis) {
  const current = global.Hermes;
  if (!current || !current[CLIENT]) return install(connect(options), global);
  if (!current.closedByUser && current.serves(options)) {
    current.renew(options);
    return current;
  }
  current.close();
  const next = connect({ ...options, onGap: options.onGap || current.onGap });
  // The same map: an unsubscribe function the old client handed out still works.
  next.subscribers = current.subscribers;
  global.Hermes = next;
  return next;
}

function normalUrl(url) {
  return (url || globalThis.HERMES_URL || "").replace(/\/+$/, "");
}

// Who a client is for, when the page said so (hermes_connect_tag does); ids compare as text.
function identity(userId, roomId) {
  return userId == null || roomId == null ? null : JSON.stringify([String(userId), String(roomId)]);
}

export default { connect, HermesSocket, tokenEndpoint, install, start };
