// The browser client's hidden-page parking, in Node against fake sockets and a fake document
// (what a live gateway cannot be made to do on cue):
//   - hidden for less than closeHiddenAfterMs the socket stays; longer, it closes
//     (onStatus("parked", "hidden")), and no socket opens while the page stays hidden, not even
//     one whose backoff or token refresh was under way when it closed;
//   - shown again, one socket opens at once (the backoff neither grew nor applies) and its
//     first frame recovers the room and every stream from where the page stood; no onGap;
//   - 0 closes at once, false never; an invalid value is a TypeError; start() again for the
//     same user takes a new value; close() stops listening; a page of nobody given a stream
//     while parked opens nothing until it is shown; a client made while hidden parks too.
// Run by script/test-browser; bounded in time.
import { register } from "node:module";
import { sleep, until } from "./lib.mjs";
import { FakeSocket } from "./fake-socket.mjs";

register("./client-hooks.mjs", import.meta.url);
const { connect, start } = await import("hermes");

const deadline = setTimeout(() => {
  console.error("hidden-client: timed out after 60 s");
  process.exit(1);
}, 60000);


class FakeDocument extends EventTarget {
  visibilityState = "visible";
  listeners = 0;
  addEventListener(type, fn) {
    if (type === "visibilitychange") this.listeners += 1;
    super.addEventListener(type, fn);
  }
  removeEventListener(type, fn) {
    if (type === "visibilitychange") this.listeners -= 1;
    super.removeEventListener(type, fn);
  }
  set(state) {
    this.visibilityState = state;
    this.dispatchEvent(new Event("visibilitychange"));
  }
}

const sockets = () => FakeSocket.all.length;
const last = () => FakeSocket.all[FakeSocket.all.length - 1];
const sign = (name) => `${Buffer.from(JSON.stringify(name)).toString("base64")}--${"0".repeat(64)}`;
const expect = (cond, why) => {
  if (!cond) throw new Error(why);
};

let failed = 0;
let passed = 0;
async function check(what, fn) {
  FakeSocket.all = [];
  try {
    await fn();
    passed += 1;
    console.log(`hidden-client: ${what}`);
  } catch (e) {
    failed += 1;
    console.error(`hidden-client: FAILED: ${what}: ${e.stack || e}`);
  }
}

function client(doc, extra = {}) {
  const seen = { statuses: [], gaps: [], got: [], stream: [] };
  const h = connect({
    url: "ws://x", stage: "s", token: "t", user_id: 1, room_id: "R", WebSocketImpl: FakeSocket, document: doc,
    onStatus: (s, d) => seen.statuses.push(d === undefined ? s : `${s}:${d}`),
    onGap: (g) => seen.gaps.push(g),
    ...extra,
  });
  h.subscribe("info", (d) => seen.got.push(d));
  return { h, seen };
}

// Opens the latest socket and answers its recover frame as the server would (`replay` first).
function serve(room, { replay = [], streams = [] } = {}) {
  const ws = last();
  ws.open();
  const recover = ws.sent.find((f) => f.action === "recover");
  for (const f of replay) ws.answer(f);
  ws.answer({ hermes: "recovered", recovered: true, epoch: room.epoch, seq: room.seq });
  for (const s of streams) ws.answer({ hermes: "recovered", stream: s.stream, name: s.name, recovered: true, epoch: s.epoch, seq: s.seq });
  return { ws, recover };
}

const note = (seq, data) => ({ user_id: "7", data: { type: "info", data }, id: `m${seq}`, seq, epoch: "R1" });

await check("hidden briefly: kept; hidden longer: closed, no reconnect while hidden; shown: one socket recovering room and streams", async () => {
  const doc = new FakeDocument();
  const { h, seen } = client(doc, { closeHiddenAfterMs: 200 });
  const name = sign("board");
  h.stream(name, (d) => seen.stream.push(d));
  const { ws } = serve({ epoch: "R1", seq: 0 }, { streams: [{ stream: "board", name, epoch: "S1", seq: 0 }] });
  ws.answer(note(1, "a"));
  ws.answer({ stream: "board", data: "x", id: "b1", seq: 1, epoch: "S1" });

  doc.set("hidden");
  await sleep(100);
  doc.set("visible");
  await sleep(250);
  expect(h.ws === ws && ws.readyState === 1, "a page hidden for less than the time lost its socket");

  doc.set("hidden");
  await until("the hidden page's socket closed", () => ws.readyState >= 2, 2000);
  expect(seen.statuses.includes("parked:hidden"), `statuses: ${seen.statuses}`);
  expect(h.ws === null, "the parked client still holds a socket");
  await sleep(1500); // three times the first backoff: a retry would have opened one
  expect(sockets() === 1, `${sockets()} sockets while hidden`);

  doc.set("visible");
  expect(sockets() === 2, "shown again: no socket opened at once");
  const { ws: again, recover } = serve({ epoch: "R1", seq: 3 }, {
    replay: [note(2, "b"), note(3, "c")],
    streams: [{ stream: "board", name, epoch: "S1", seq: 2 }],
  });
  expect(recover && recover.since === 1 && recover.epoch === "R1", `the room's recover: ${JSON.stringify(recover)}`);
  const s = recover.streams && recover.streams[0];
  expect(s && s.name === name && s.since === 1 && s.epoch === "S1", `the stream's recover: ${JSON.stringify(recover.streams)}`);
  // The stream's replay arrives after the answer to the room; its frames are shown once.
  again.answer({ stream: "board", data: "y", id: "b2", seq: 2, epoch: "S1" });
  again.answer({ stream: "board", data: "x", id: "b1", seq: 1, epoch: "S1" });
  expect(JSON.stringify(seen.got) === '["a","b","c"]', `room: ${seen.got}`);
  expect(JSON.stringify(seen.stream) === '["x","y"]', `stream: ${seen.stream}`);
  expect(seen.gaps.length === 0, `gaps: ${JSON.stringify(seen.gaps)}`);
  expect(h.attempt === 0, `the parking counted as a failure: attempt ${h.attempt}`);
  h.close();
  expect(doc.listeners === 0, "close() left the visibilitychange listener");
});

await check("a reconnect in backoff, or a token refresh under way, when the page parks: nothing opens until shown", async () => {
  const doc = new FakeDocument();
  let release;
  const refreshed = new Promise((r) => (release = r));
  const { h } = client(doc, { closeHiddenAfterMs: 50, refreshToken: () => refreshed.then(() => "t2") });
  last().drop(); // refused before it opened: the client fetches a token first
  await sleep(20);
  doc.set("hidden");
  await sleep(100);
  release();
  await sleep(1500);
  expect(sockets() === 1, `${sockets()} sockets opened while hidden after a pending refresh`);
  doc.set("visible");
  expect(sockets() === 2 && last().url.includes("token=t2"), "shown: no socket with the new token");
  serve({ epoch: "R1", seq: 0 });
  // Failing sockets back off; hidden meanwhile, the pending retry is dropped.
  for (let i = 0; i < 3; i++) {
    last().drop();
    await until(`retry ${i + 1}`, () => sockets() === 3 + i, 10000);
  }
  expect(h.attempt === 3, `attempt ${h.attempt}`);
  last().drop();
  doc.set("hidden");
  await sleep(4700); // past the retry that drop scheduled (at most 4 s with 3 attempts behind it)
  expect(sockets() === 5, `${sockets()} sockets: a hidden page retried`);
  doc.set("visible");
  expect(sockets() === 6, "shown: the reconnect did not happen at once");
  expect(h.attempt === 0, "the backoff was not reset by the return");
  h.close();
});

await check("0 closes at once, false never; an invalid value is refused", async () => {
  const doc = new FakeDocument();
  const { h: now } = client(doc, { closeHiddenAfterMs: 0 });
  serve({ epoch: "R1", seq: 0 });
  const { h: never } = client(doc, { closeHiddenAfterMs: false });
  serve({ epoch: "R1", seq: 0 });
  doc.set("hidden");
  await sleep(30);
  expect(now.ws === null, "0: the socket stayed");
  expect(never.isOpen(), "false: the socket closed");
  now.close();
  never.close();
  for (const bad of [-1, "60000", NaN, Infinity, {}]) {
    let threw = null;
    try {
      client(new FakeDocument(), { closeHiddenAfterMs: bad }).h.close();
    } catch (e) {
      threw = e;
    }
    expect(threw instanceof TypeError && /closeHiddenAfterMs/.test(threw.message), `${String(bad)}: ${threw}`);
  }
});

await check("a client made while the page is hidden parks too; start() again takes a new value", async () => {
  const doc = new FakeDocument();
  doc.visibilityState = "hidden";
  const global = {};
  const options = { url: "ws://x", stage: "s", token: "t", user_id: 1, room_id: "R", WebSocketImpl: FakeSocket, document: doc };
  const h = start({ ...options, closeHiddenAfterMs: 60000 }, global);
  serve({ epoch: "R1", seq: 0 });
  await sleep(100);
  expect(h.isOpen(), "parked before its time");
  const again = start({ ...options, token: "t2", closeHiddenAfterMs: 50 }, global);
  expect(again === h, "start() replaced the client");
  await until("parked with the new value", () => h.ws === null, 1000);
  doc.set("visible");
  expect(sockets() === 2 && last().url.includes("token=t2"), "shown: no socket with the renewed token");
  h.close();
  doc.set("hidden");
  doc.set("visible");
  expect(sockets() === 2, "a closed client opened a socket");
});

await check("a page of nobody given a stream while parked opens nothing until it is shown", async () => {
  const doc = new FakeDocument();
  const h = connect({ url: "ws://x", stage: "s", token: "st", anonymous: true, WebSocketImpl: FakeSocket, document: doc, closeHiddenAfterMs: 20 });
  const a = sign("a");
  const off = h.stream(a, () => {});
  await until("the stream's socket", () => sockets() === 1, 1000);
  last().open();
  doc.set("hidden");
  await until("parked", () => h.ws === null, 1000);
  off();
  h.stream(sign("b"), () => {});
  await sleep(1300); // past the grace period of `a`
  expect(sockets() === 1, `${sockets()} sockets opened by a hidden page of nobody`);
  doc.set("visible");
  expect(sockets() === 2, "shown with a stream held: no socket");
  last().open();
  const recover = last().sent.find((f) => f.action === "recover");
  const names = (recover.streams || []).map((s) => (typeof s === "string" ? s : s.name));
  expect(JSON.stringify(names) === JSON.stringify([sign("b")]), `recover: ${JSON.stringify(recover)}`);
  h.close();
});

clearTimeout(deadline);
console.log(`hidden-client: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
