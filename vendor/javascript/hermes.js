// Hermes browser client: one WebSocket per page to API Gateway (or hermes-local), with
// subscribers by message type, reconnects with backoff, token refresh and de-duplication.
// A plain ES module, no build step (importmap: pin "hermes", to: "hermes.js").
//
//   import { connect } from "hermes";
//   const hermes = connect({ url: "wss://abc.execute-api.eu-west-1.amazonaws.com", stage: "production",
//                            token, refreshToken: async () => (await fetch("/hermes/token")).text() });
//   hermes.subscribe("info", (data, frame) => toast(data));   // frame: {user_id, data: {type, data}, id}
//   hermes.send({ type: "chat", data: "hi" });                  // the sendMessage route
//
// The seed's call keeps working: connect(stage, token) connects to `${defaultUrl}/${stage}`
// (set window.HERMES_URL or pass {url}), and subscribers registered with
// subscribe(type, callback) get `frame.data.data` for frames whose `frame.data.type` matches.

const MAX_BACKOFF_MS = 30000;

export function connect(stageOrOptions, token) {
  const opts = typeof stageOrOptions === "object" && stageOrOptions !== null
    ? { ...stageOrOptions }
    : { stage: stageOrOptions, token };
  return new HermesSocket(opts);
}

export class HermesSocket {
  constructor({ url, stage, token, refreshToken = null, WebSocketImpl = globalThis.WebSocket, onStatus = null }) {
    this.url = (url || globalThis.HERMES_URL || "").replace(/\/+$/, "");
    this.stage = stage;
    this.token = token;
    this.refreshToken = refreshToken;
    this.WebSocketImpl = WebSocketImpl;
    this.onStatus = onStatus;
    this.subscribers = new Map();
    this.seen = new Set();
    this.seenOrder = [];
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

  close() {
    this.closedByUser = true;
    clearTimeout(this.retryTimer);
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
      else this.status("no-token");
      return;
    }
    const target = `${this.url}/${encodeURIComponent(this.stage)}?token=${encodeURIComponent(this.token)}`;
    const ws = new this.WebSocketImpl(target);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.status("open");
    };
    ws.onmessage = (evt) => this.dispatch(evt.data);
    ws.onclose = (evt) => {
      this.status("closed", evt.code);
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

  dispatch(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame && frame.id) {
      if (this.seen.has(frame.id)) return;
      this.seen.add(frame.id);
      this.seenOrder.push(frame.id);
      if (this.seenOrder.length > 1000) this.seen.delete(this.seenOrder.shift());
    }
    const message = frame && frame.data;
    const type = message && typeof message === "object" ? message.type : undefined;
    for (const cb of this.subscribers.get(type) || []) cb(message.data, frame);
    for (const cb of this.subscribers.get("*") || []) cb(message, frame);
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

export default { connect, HermesSocket, tokenEndpoint, install };
