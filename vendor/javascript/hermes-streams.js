// Hermes browser client: the streams a page's one socket carries besides its room (import map
// entry "hermes/streams"; HermesSocket#stream in "hermes/socket" is its public face, and the
// file header of "hermes" its documentation). Wire protocol: docs/protocol.md, "Streams: many
// per socket".
//
// A stream is held while it has a callback, and for GRACE_MS after its last one goes, so a
// Turbo visit whose new page keeps the stream neither unsubscribes nor resubscribes it.
// Subscribes and unsubscribes asked in one tick go out as one frame; one such frame is in
// flight at a time, at most one every CHANGE_INTERVAL_MS (the server's rate per socket), and a
// refusal's `retry_after_ms` is waited out before the frame is sent again. After every
// (re)open the socket's `recover` frame names every held stream with where the page stands
// in it; a stream's frames are held until its answer, then shown in seq order, each id once.

// A Turbo visit replaces the body well within this.
const GRACE_MS = 1000;
// The server takes one subscribe/unsubscribe frame per 100 ms per socket; the margin covers
// frames that arrive closer together than they left.
const CHANGE_INTERVAL_MS = 110;
// The server answers `recover` within its recovery lease (10 s), and a subscribe at once. A
// socket with no answer by then is not being served (its connection row can be lost as it
// opens: a post before the socket is up gets 410 and deletes it) and is replaced.
export const ANSWER_TIMEOUT_MS = 15000;
const MAX_BACKOFF_MS = 30000;
// The server's bound on streams per socket (and per frame).
export const MAX_STREAMS = 50;
// Ids remembered per stream to drop duplicates: a recovery (at most 100) and what arrives meanwhile.
const SEEN_IDS = 1000;
// Frames held for one stream while its answer is awaited; past it they are shown as they are.
const MAX_HELD = 1000;

// Entry states: "idle" (not subscribed on the current socket), "asking" (in the frame in
// flight), "live" (the server confirmed it on this socket), "leaving" (being unsubscribed).
export class Streams {
  // host: the HermesSocket whose socket carries the streams (see HermesSocket's "streams
  // host" methods); a client that replaces another takes its registry over (`host = next`).
  constructor(host) {
    this.host = host;
    this.entries = new Map();
    this.inFlight = null;
    this.nextChangeAt = 0;
    this.attempt = 0;
    this.flushTimer = null;
  }

  add(signed, received, options = {}) {
    if (typeof signed !== "string" || signed === "") {
      throw new TypeError("hermes: stream() needs a signed stream name (a non-empty string)");
    }
    if (typeof received !== "function") throw new TypeError("hermes: stream() needs a callback for the stream's messages");
    const sub = { received, connected: options.connected, disconnected: options.disconnected, rejected: options.rejected };
    let entry = this.entries.get(signed);
    if (!entry) {
      // Streams let go (in their grace period) do not count: a visit may swap every stream.
      if ([...this.entries.values()].filter((e) => e.subs.size > 0).length >= MAX_STREAMS) {
        const error = `a page holds at most ${MAX_STREAMS} streams`;
        later(() => call(sub.rejected, { name: signed, error }));
        this.host.status("refused", { name: signed, error });
        return () => {};
      }
      entry = {
        signed, stream: plainName(signed), subs: new Set(), state: "idle", dropped: false, dropTimer: null,
        epoch: null, seq: 0, known: false, fromStart: false, held: [], seen: new Set(), seenOrder: [],
      };
      this.entries.set(signed, entry);
    }
    clearTimeout(entry.dropTimer);
    entry.dropTimer = null;
    entry.dropped = false;
    entry.subs.add(sub);
    if (entry.state === "live") later(() => entry.state === "live" && entry.subs.has(sub) && call(sub.connected));
    this.host.streamsWanted();
    this.schedule();
    return () => this.remove(entry, sub);
  }

  remove(entry, sub) {
    if (!entry.subs.delete(sub) || entry.subs.size > 0 || this.entries.get(entry.signed) !== entry) return;
    entry.dropTimer = setTimeout(() => this.drop(entry), GRACE_MS);
  }

  drop(entry) {
    entry.dropTimer = null;
    if (entry.subs.size > 0) return;
    entry.dropped = true;
    if (entry.state === "idle") this.entries.delete(entry.signed);
    if (this.wanted()) this.schedule();
    else this.host.streamsIdle();
  }

  // The streams not let go for good, those with callbacks first (at most MAX_STREAMS of them
  // have any; the rest are in their grace period).
  held() {
    const held = [...this.entries.values()].filter((e) => !e.dropped);
    return held.sort((a, b) => (b.subs.size > 0) - (a.subs.size > 0));
  }

  // Whether any stream is held (a page of nobody opens its socket only then).
  wanted() {
    return this.held().length > 0;
  }

  // The `streams` of the recover frame sent after every (re)open, or null with none held.
  recoverPart() {
    const list = this.held().slice(0, MAX_STREAMS);
    if (!list.length) return null;
    this.began("recover", list, "asking");
    return list.map(wire);
  }

  // The socket is gone (closed, replaced, or parked): nothing is subscribed any more.
  closed() {
    this.endFlight();
    clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.nextChangeAt = 0;
    for (const e of [...this.entries.values()]) {
      if (e.dropped) {
        this.entries.delete(e.signed);
        continue;
      }
      const was = e.state;
      e.state = "idle";
      if (was === "live") for (const sub of [...e.subs]) call(sub.disconnected);
    }
  }

  schedule() {
    if (this.flushTimer) return;
    const wait = Math.max(0, this.nextChangeAt - Date.now());
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flush();
    }, wait);
  }

  // Sends the next subscribe (first) or unsubscribe frame, if the socket is open, no frame is
  // awaiting its answers and the rate allows one.
  flush() {
    if (this.inFlight || !this.host.isOpen()) return;
    if (Date.now() < this.nextChangeAt) {
      this.schedule();
      return;
    }
    // What the socket holds on the server's side stays within its bound: streams let go are
    // unsubscribed first when the new ones would not fit beside them.
    const onSocket = [...this.entries.values()].filter((e) => e.state !== "idle").length;
    const asks = this.held().filter((e) => e.state === "idle").slice(0, Math.max(0, MAX_STREAMS - onSocket));
    if (asks.length) {
      this.send("subscribe", asks, asks.map(wire), "asking");
      return;
    }
    const leaving = [];
    for (const e of this.entries.values()) {
      if (e.state !== "live" || !e.dropped) continue;
      // Another held name for the same stream (the server subscribes streams, not names).
      if (this.shared(e)) this.entries.delete(e.signed);
      else leaving.push(e);
    }
    if (leaving.length) this.send("unsubscribe", leaving, leaving.map((e) => e.signed), "leaving");
  }

  send(action, list, streams, state) {
    if (this.host.sendFrame({ action, streams })) this.began(action, list, state);
  }

  began(action, list, state) {
    for (const e of list) e.state = state;
    this.endFlight();
    this.inFlight = {
      action,
      // A subscribe naming positions recovers too: its refusals name the action "recover".
      recovers: action === "recover" || list.some((e) => e.known || e.fromStart),
      names: new Set(list.map((e) => e.signed)),
      timer: setTimeout(() => this.host.unanswered(), ANSWER_TIMEOUT_MS),
    };
    this.nextChangeAt = Date.now() + CHANGE_INTERVAL_MS;
  }

  endFlight() {
    if (this.inFlight) clearTimeout(this.inFlight.timer);
    this.inFlight = null;
  }

  // One name of the frame in flight is answered; the frame is done when all are.
  answered(e) {
    if (!this.inFlight || !this.inFlight.names.delete(e.signed)) return;
    if (this.inFlight.names.size === 0) {
      this.endFlight();
      this.attempt = 0;
      this.schedule();
    }
  }

  // The frame in flight failed as a whole (a bound, a store error): its names are asked
  // again, after `retry_after_ms` when the server said, else with a growing backoff.
  failed(retryAfterMs) {
    if (!this.inFlight) return;
    for (const name of this.inFlight.names) {
      const e = this.entries.get(name);
      if (e && e.state === "asking") e.state = "idle";
      else if (e && e.state === "leaving") e.state = "live";
    }
    this.endFlight();
    const wait = Number.isFinite(retryAfterMs) && retryAfterMs >= 0
      ? retryAfterMs + 10
      : Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
    this.nextChangeAt = Math.max(this.nextChangeAt, Date.now() + wait);
    this.schedule();
  }

  // {"hermes": "subscribed", "streams": [{name, stream, epoch, seq}]}: fresh subscriptions.
  subscribed(frame) {
    for (const s of Array.isArray(frame.streams) ? frame.streams : []) {
      const e = s && this.entries.get(s.name);
      if (!e || e.state !== "asking") continue;
      this.answered(e);
      if (typeof s.stream === "string") e.stream = s.stream;
      if (typeof s.epoch === "string" && s.epoch) {
        Object.assign(e, { epoch: s.epoch, seq: Number.isInteger(s.seq) ? s.seq : 0, known: true, fromStart: false });
      } else {
        // The stream had no message yet: everything it gets from now on is new to the page.
        Object.assign(e, { epoch: null, seq: 0, known: false, fromStart: true });
      }
      this.live(e);
    }
  }

  // {"hermes": "recovered", "stream", "name", "recovered", "epoch", "seq"}: a stream's recovery.
  recovered(frame) {
    const e = this.entries.get(frame.name);
    if (!e || e.state !== "asking") return;
    this.answered(e);
    if (typeof frame.stream === "string") e.stream = frame.stream;
    const epoch = typeof frame.epoch === "string" && frame.epoch ? frame.epoch : null;
    const seq = Number.isInteger(frame.seq) ? frame.seq : 0;
    if (!frame.recovered && e.fromStart && epoch && seq > 0) {
      // Subscribed before the stream's first message: all of this epoch came after that.
      Object.assign(e, { epoch, seq: 0, known: true, fromStart: false, state: "idle" });
      this.schedule();
      return;
    }
    if (frame.recovered) {
      e.seq = e.epoch === epoch ? Math.max(e.seq, seq) : seq;
    } else {
      if (e.known) this.host.gap({ stream: e.stream, name: e.signed, epoch, seq });
      e.seq = seq;
    }
    e.epoch = epoch;
    e.known = epoch !== null;
    e.fromStart = e.fromStart && !e.known;
    this.live(e);
  }

  unsubscribed(frame) {
    for (const s of Array.isArray(frame.streams) ? frame.streams : []) {
      const e = s && this.entries.get(s.name);
      if (!e || e.state !== "leaving") continue;
      this.answered(e);
      e.state = "idle";
      e.held = [];
      if (e.dropped) this.entries.delete(e.signed);
    }
    if (this.wanted()) this.schedule();
    else this.host.streamsIdle();
  }

  // An error frame: a refused name (never asked again), or the frame in flight failing.
  // Returns whether it concerned streams.
  error(frame) {
    if (typeof frame.name === "string" && frame.action !== "presence") {
      const e = this.entries.get(frame.name);
      if (!e) return true;
      this.answered(e);
      this.entries.delete(frame.name);
      clearTimeout(e.dropTimer);
      const refusal = { name: frame.name, error: frame.error };
      this.host.status("refused", refusal);
      for (const sub of [...e.subs]) call(sub.rejected, refusal);
      return true;
    }
    const f = this.inFlight;
    if (!f || !(frame.action === f.action || (frame.action === "recover" && f.recovers))) return false;
    this.failed(frame.retry_after_ms);
    return true;
  }

  // A stream's frame: {"stream", "data", "id", "seq", "epoch"}.
  frame(frame) {
    for (const e of this.entries.values()) {
      if (e.stream !== frame.stream) continue;
      if (e.state === "live") this.show(e, frame);
      else if (e.state !== "leaving" && !e.dropped) {
        e.held.push(frame);
        if (e.held.length > MAX_HELD) this.release(e);
      }
    }
  }

  live(e) {
    e.state = "live";
    this.release(e);
    if (e.dropped) this.schedule();
    for (const sub of [...e.subs]) call(sub.connected);
  }

  release(e) {
    const order = (f) => (typeof f.seq === "number" ? f.seq : Infinity);
    const held = e.held.sort((a, b) => order(a) - order(b));
    e.held = [];
    for (const frame of held) this.show(e, frame);
  }

  show(e, frame) {
    if (frame.id) {
      if (e.seen.has(frame.id)) return;
      e.seen.add(frame.id);
      e.seenOrder.push(frame.id);
      if (e.seenOrder.length > SEEN_IDS) e.seen.delete(e.seenOrder.shift());
    }
    if (typeof frame.seq === "number" && typeof frame.epoch === "string") {
      if (frame.epoch !== e.epoch) {
        // The stream's counter started over: what the page held a position in is gone.
        const known = e.known;
        Object.assign(e, { epoch: frame.epoch, seq: frame.seq, known: true, fromStart: false });
        if (known) this.host.gap({ stream: e.stream, name: e.signed, epoch: frame.epoch, seq: frame.seq });
      } else if (frame.seq > e.seq) {
        e.seq = frame.seq;
      }
    }
    for (const sub of [...e.subs]) call(sub.received, frame.data, frame);
  }

  shared(e) {
    for (const other of this.entries.values()) {
      if (other !== e && !other.dropped && other.stream !== null && other.stream === e.stream) return true;
    }
    return false;
  }

  // Where a stream named by its signed name stands: {stream, state, epoch, seq}, or null.
  position(signed) {
    const e = this.entries.get(signed);
    return e ? { stream: e.stream, state: e.state, epoch: e.epoch, seq: e.seq } : null;
  }
}

// How a held stream is named in a subscribe or recover frame: with where the page stands in
// it, when it knows (the server then replays what the page missed).
function wire(e) {
  if (e.known) return { name: e.signed, since: e.seq, epoch: e.epoch };
  // Subscribed before the stream's first message: the answer names the epoch to ask from.
  if (e.fromStart) return { name: e.signed, since: 0, epoch: "" };
  return e.signed;
}

// The stream a signed name names (ActiveSupport::MessageVerifier: base64 of the JSON of the
// name, "--", the digest), so frames that arrive before the server's answer find their
// stream; null when it does not decode (the server refuses such a name anyway).
export function plainName(signed) {
  try {
    const data = signed.slice(0, signed.lastIndexOf("--"));
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const name = JSON.parse(new TextDecoder().decode(bytes));
    return typeof name === "string" ? name : null;
  } catch {
    return null;
  }
}

// A callback's exception must not stop the others nor the client: it is rethrown on its own
// (the console shows it).
function call(fn, ...args) {
  if (typeof fn !== "function") return;
  try {
    fn(...args);
  } catch (e) {
    setTimeout(() => {
      throw e;
    });
  }
}

function later(fn) {
  Promise.resolve().then(fn);
}
