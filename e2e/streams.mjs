// The browser client's streams, in Node against a scripted server (a fake WebSocket that
// records what the client sends and answers as docs/protocol.md says), for what a live
// gateway cannot be made to do on cue:
//   - names held in one tick go out in one frame; a name let go and held again within the
//     grace period costs no frame, one let go for longer one unsubscribe;
//   - a refusal with retry_after_ms is retried no sooner; one without, after a backoff; never
//     a busy loop;
//   - a refused name reaches rejected() and onStatus("refused"), and is never asked again;
//   - after a reopen, one recover frame with the room and every stream at its position; a
//     stream subscribed before its first message asks again from seq 0 of the epoch the answer
//     names, its frames held until then and shown in seq order, once; a stream that cannot be
//     recovered calls onGap({stream, name, epoch, seq});
//   - a socket whose recover goes unanswered is replaced (a socket can open without its
//     connection row: a post that met it before it was up got 410 and deleted the row);
//   - a page of nobody opens no socket until it holds a stream, and parks it a grace period
//     after its last one goes; start() for another user moves the streams to the new client;
//   - the connect tag's stub queues stream() before the client loads and hands it over.
// Run by script/test-browser; bounded in time.
import { readFileSync } from "node:fs";
import { register } from "node:module";
import path from "node:path";
import vm from "node:vm";
import { root, sleep, until } from "./lib.mjs";
import { FakeSocket } from "./fake-socket.mjs";

register("./client-hooks.mjs", import.meta.url);
const { connect, start } = await import("hermes");

const deadline = setTimeout(() => {
  console.error("streams: timed out after 80 s");
  process.exit(1);
}, 80000);

const last = () => FakeSocket.all[FakeSocket.all.length - 1];
const named = (f) => (f.streams || []).map((s) => (typeof s === "string" ? s : s.name));
const sign = (name) => `${Buffer.from(JSON.stringify(name)).toString("base64")}--${"0".repeat(64)}`;
const frame = (stream, seq, data, epoch = "E1") => ({ stream, data, id: `${stream}-${epoch}-${seq}`, seq, epoch });

let failed = 0;
async function check(what, fn) {
  FakeSocket.all = [];
  try {
    await fn();
    console.log(`streams: ${what}`);
  } catch (e) {
    failed += 1;
    console.error(`streams: FAILED: ${what}: ${e.stack || e}`);
  }
}
const expect = (cond, why) => {
  if (!cond) throw new Error(why);
};

await check("one frame per tick; the grace period keeps a stream across a visit; later, one unsubscribe", async () => {
  const h = connect({ url: "ws://x", stage: "s", token: "t", user_id: 1, room_id: "R", WebSocketImpl: FakeSocket });
  last().open();
  const ws = last();
  ws.answer({ hermes: "recovered", recovered: true, epoch: "R1", seq: 0 });
  const [a, b, c] = ["a", "b", "c"].map(sign);
  const offA = h.stream(a, () => {});
  h.stream(b, () => {});
  const offC = h.stream(c, () => {});
  await sleep(20);
  const asks = ws.sent.filter((f) => f.action === "subscribe");
  expect(asks.length === 1 && named(asks[0]).join() === [a, b, c].join(), `subscribe frames: ${JSON.stringify(asks)}`);
  ws.answer({ hermes: "subscribed", streams: ["a", "b", "c"].map((s) => ({ name: sign(s), stream: s, epoch: "E1", seq: 2 })) });
  offA();
  offC();
  await sleep(300);
  h.stream(a, () => {}); // the next page holds a again
  await sleep(1200);
  const changes = ws.sent.filter((f) => f.action === "unsubscribe");
  expect(changes.length === 1 && named(changes[0]).join() === c, `after the grace period: ${JSON.stringify(changes)}`);
  expect(ws.sent.filter((f) => f.action === "subscribe").length === 1, "a was subscribed again");
  h.close();
});

await check("a visit swapping 50 streams for 50 others: none refused, never more than 50 on the socket", async () => {
  const h = connect({ url: "ws://x", stage: "s", token: "t", user_id: 1, room_id: "R", WebSocketImpl: FakeSocket });
  last().open();
  const ws = last();
  ws.answer({ hermes: "recovered", recovered: true, epoch: "R1", seq: 0 });
  // The server's side: what the socket holds, answered as docs/protocol.md says.
  const held = new Set();
  let most = 0;
  const serve = () => {
    for (const f of ws.sent.splice(0)) {
      if (f.action === "subscribe") {
        for (const n of named(f)) held.add(n);
        most = Math.max(most, held.size);
        ws.answer({ hermes: "subscribed", streams: named(f).map((n) => ({ name: n, stream: n.slice(0, 8), epoch: "E", seq: 0 })) });
      } else if (f.action === "unsubscribe") {
        for (const n of named(f)) held.delete(n);
        ws.answer({ hermes: "unsubscribed", streams: named(f).map((n) => ({ name: n, stream: n.slice(0, 8) })) });
      }
    }
  };
  const serving = setInterval(serve, 5);
  const rejected = [];
  const page = (prefix) => Array.from({ length: 50 }, (_, i) => h.stream(sign(`${prefix}${i}`), () => {}, { rejected: (r) => rejected.push(r) }));
  const first = page("a");
  await until("the first page's 50", () => held.size === 50, 2000);
  for (const off of first) off();
  page("b");
  await until("the second page's 50", () => held.size === 50 && [...held].every((n) => n.startsWith(sign("b").slice(0, 3))), 5000);
  clearInterval(serving);
  expect(rejected.length === 0, `${rejected.length} refused`);
  expect(most === 50, `the socket held ${most} at most`);
  h.close();
});

await check("retry_after_ms waited out; a refusal without it backs off; no busy loop", async () => {
  const h = connect({ url: "ws://x", stage: "s", token: "t", user_id: 1, room_id: "R", WebSocketImpl: FakeSocket });
  last().open();
  const ws = last();
  ws.answer({ hermes: "recovered", recovered: true, epoch: "R1", seq: 0 });
  h.stream(sign("a"), () => {});
  await until("the first subscribe", () => ws.sent.some((f) => f.action === "subscribe"), 1000);
  ws.answer({ hermes: "error", action: "subscribe", error: "too soon", retry_after_ms: 300 });
  await until("the retry", () => ws.sent.filter((f) => f.action === "subscribe").length === 2, 2000);
  const [first, second] = ws.sent.filter((f) => f.action === "subscribe");
  expect(second.at - first.at >= 300, `retried after ${second.at - first.at} ms, told 300`);
  ws.answer({ hermes: "error", action: "subscribe", error: "subscribing failed; try again" });
  await sleep(1500);
  const tries = ws.sent.filter((f) => f.action === "subscribe").length;
  expect(tries >= 3 && tries <= 4, `${tries} subscribe frames within 1.5 s of a failure: a backoff sends 1 or 2`);
  h.close();
});

await check("a refused name is rejected, reported and never asked again", async () => {
  const statuses = [];
  const h = connect({ url: "ws://x", stage: "s", token: "t", user_id: 1, room_id: "R", WebSocketImpl: FakeSocket, onStatus: (s, d) => statuses.push([s, d]) });
  last().open();
  const ws = last();
  const bad = "forged--00";
  const rejected = [];
  h.stream(bad, () => {}, { rejected: (r) => rejected.push(r) });
  await until("the subscribe", () => ws.sent.some((f) => f.action === "subscribe"), 1000);
  ws.answer({ hermes: "error", action: "subscribe", error: "the stream name's signature does not match", name: bad });
  ws.answer({ hermes: "recovered", recovered: true, epoch: "R1", seq: 0 });
  await sleep(300);
  ws.drop(1006);
  await until("the reconnect", () => FakeSocket.all.length === 2, 3000);
  last().open();
  await sleep(200);
  expect(rejected.length === 1 && rejected[0].name === bad, `rejected: ${JSON.stringify(rejected)}`);
  expect(statuses.some(([s, d]) => s === "refused" && d.name === bad), "no refused status");
  expect(!statuses.some(([s]) => s === "error"), "the room saw the stream's refusal as its error");
  const again = FakeSocket.all.flatMap((s) => s.sent).filter((f) => named(f).includes(bad));
  expect(again.length === 1, `the refused name was sent ${again.length} times`);
  h.close();
});

await check("one recover frame after a reopen; fromStart asks again; held frames in seq order, once; gaps name the stream", async () => {
  const gaps = [];
  const shown = { a: [], b: [] };
  const h = connect({ url: "ws://x", stage: "s", token: "t", user_id: 1, room_id: "R", WebSocketImpl: FakeSocket, onGap: (g) => gaps.push(g) });
  last().open();
  let ws = last();
  ws.answer({ hermes: "recovered", recovered: true, epoch: "R1", seq: 4 });
  const [a, b] = [sign("a"), sign("b")];
  h.stream(a, (d) => shown.a.push(d));
  h.stream(b, (d) => shown.b.push(d));
  await until("the subscribe", () => ws.sent.some((f) => f.action === "subscribe"), 1000);
  ws.answer({ hermes: "subscribed", streams: [{ name: a, stream: "a", epoch: null, seq: 0 }, { name: b, stream: "b", epoch: "B1", seq: 7 }] });
  ws.drop(1006);
  await until("the reconnect", () => FakeSocket.all.length === 2, 3000);
  ws = last();
  ws.open();
  const recovers = ws.sent.filter((f) => f.action === "recover");
  expect(recovers.length === 1, `${recovers.length} recover frames`);
  const r = recovers[0];
  expect(r.since === 4 && r.epoch === "R1" && JSON.stringify(r.streams) === JSON.stringify([{ name: a, since: 0, epoch: "" }, { name: b, since: 7, epoch: "B1" }]),
    `the recover frame: ${JSON.stringify(r)}`);
  // a: live frames before its answers are held; the answer names the epoch: asked again.
  ws.answer(frame("a", 3, "a3"));
  ws.answer({ hermes: "recovered", stream: "a", name: a, recovered: false, epoch: "E1", seq: 2 });
  ws.answer({ hermes: "recovered", recovered: true, epoch: "R1", seq: 4 });
  // b: more than the history holds: a gap, then live.
  ws.answer({ hermes: "recovered", stream: "b", name: b, recovered: false, epoch: "B1", seq: 150 });
  ws.answer(frame("b", 151, "b151", "B1"));
  await until("a asked again", () => ws.sent.some((f) => f.action === "subscribe"), 2000);
  const again = ws.sent.filter((f) => f.action === "subscribe");
  expect(JSON.stringify(again[0].streams) === JSON.stringify([{ name: a, since: 0, epoch: "E1" }]), `asked again with ${JSON.stringify(again)}`);
  expect(again[0].at - r.at >= 100, "asked again within the server's 100 ms");
  expect(shown.a.length === 0, "a's frames were shown before its recovery");
  for (const n of [2, 1, 3]) ws.answer(frame("a", n, `a${n}`));
  ws.answer({ hermes: "recovered", stream: "a", name: a, recovered: true, epoch: "E1", seq: 3 });
  ws.answer(frame("a", 3, "a3"));
  expect(JSON.stringify(shown.a) === '["a1","a2","a3"]', `a shown: ${JSON.stringify(shown.a)}`);
  expect(JSON.stringify(shown.b) === '["b151"]', `b shown: ${JSON.stringify(shown.b)}`);
  expect(JSON.stringify(gaps) === JSON.stringify([{ stream: "b", name: b, epoch: "B1", seq: 150 }]), `gaps: ${JSON.stringify(gaps)}`);
  h.close();
});

await check("a socket whose recover goes unanswered (15 s) is replaced, nothing lost nor called a gap: room and streams alike", async () => {
  // Side by side: a page with a room only, and a page of nobody with a stream only.
  const pages = [
    { opts: { user_id: 1, room_id: "R", position: { seq: 4, epoch: "R1" } }, want: { since: 4, epoch: "R1" } },
    { opts: { anonymous: true }, stream: sign("a"), want: { streams: [{ name: sign("a"), since: 2, epoch: "E1" }] } },
  ];
  for (const p of pages) {
    Object.assign(p, { statuses: [], gaps: [], got: [], sockets: [] });
    const Impl = class extends FakeSocket {
      constructor(url) {
        super(url);
        p.sockets.push(this);
      }
    };
    p.h = connect({ url: "ws://x", stage: "s", token: "t", WebSocketImpl: Impl, onStatus: (st) => p.statuses.push(st), onGap: (g) => p.gaps.push(g), ...p.opts });
    if (p.stream) p.h.stream(p.stream, (d) => p.got.push(d));
    else p.h.subscribe("info", (d) => p.got.push(d));
    p.sockets[0].open();
    if (p.stream) p.sockets[0].answer({ hermes: "subscribed", streams: [{ name: p.stream, stream: "a", epoch: "E1", seq: 2 }] });
    if (p.stream) p.sockets[0].drop(1006); // the next socket is the one that goes unanswered
  }
  await until("the stream page's second socket", () => pages[1].sockets.length === 2, 3000);
  pages[1].sockets[1].open();
  await until("both replaced", () => pages[0].sockets.length === 2 && pages[1].sockets.length === 3, 18000);
  for (const [i, p] of pages.entries()) {
    const deaf = p.sockets[p.sockets.length - 2];
    const waited = Date.now() - deaf.sent[0].at;
    expect(waited >= 15000 && deaf.readyState === 3, `page ${i} replaced after ${waited} ms`);
    const ws = p.sockets[p.sockets.length - 1];
    ws.open();
    const r = ws.sent[0];
    const { action, ...asked } = r;
    delete asked.at;
    expect(action === "recover" && JSON.stringify(asked) === JSON.stringify(p.want), `page ${i}'s next recover: ${JSON.stringify(r)}`);
    if (p.stream) {
      ws.answer({ stream: "a", data: 3, id: "a3", seq: 3, epoch: "E1" });
      ws.answer({ hermes: "recovered", stream: "a", name: p.stream, recovered: true, epoch: "E1", seq: 3 });
    } else {
      ws.answer({ user_id: "7", data: { type: "info", data: 5 }, id: "m5", seq: 5, epoch: "R1" });
      ws.answer({ hermes: "recovered", recovered: true, epoch: "R1", seq: 5 });
    }
    expect(p.statuses.includes("unanswered") && p.gaps.length === 0 && p.got.length === 1, `page ${i}: statuses ${p.statuses}, gaps ${p.gaps.length}, got ${p.got}`);
    expect(p.h.attempt === 0, `page ${i}: an answer did not reset the backoff`);
    p.h.close();
  }
});

await check("a page of nobody: no socket until a stream, parked a grace period after the last; start() for a user takes the streams over", async () => {
  const global = {};
  const base = { url: "ws://x", stage: "s", WebSocketImpl: FakeSocket };
  const h = start({ ...base, token: "anon", anonymous: true }, global);
  await sleep(100);
  expect(FakeSocket.all.length === 0, "a socket before any stream");
  const got = [];
  const off = h.stream(sign("p"), (d) => got.push(d));
  expect(FakeSocket.all.length === 1, "no socket once a stream is held");
  last().open();
  const first = last().sent[0];
  expect(first.action === "recover" && !("since" in first) && named(first).join() === sign("p"), `first frame: ${JSON.stringify(first)}`);
  last().answer({ hermes: "subscribed", streams: [{ name: sign("p"), stream: "p", epoch: "P1", seq: 1 }] });
  expect(start({ ...base, token: "anon2", anonymous: true }, global) === h && h.token === "anon2", "start() again for nobody replaced the client");
  off();
  await sleep(500);
  expect(last().readyState === 1, "parked within the grace period");
  await sleep(700);
  expect(last().readyState === 3 && h.parked, "not parked after the grace period");
  h.stream(sign("p"), (d) => got.push(d));
  expect(FakeSocket.all.length === 2, "no socket for the next stream");
  last().open();
  last().answer({ hermes: "subscribed", streams: [{ name: sign("p"), stream: "p", epoch: "P1", seq: 1 }] });
  // Someone signs in: the tag starts the client for them; the stream moves to it.
  const user = start({ ...base, token: "u", user_id: 5, room_id: "R" }, global);
  expect(user !== h && h.closedByUser && global.Hermes === user, "the client was not replaced");
  expect(FakeSocket.all.length === 3, `${FakeSocket.all.length} sockets`);
  last().open();
  const r = last().sent[0];
  expect(r.action === "recover" && r.since === 0 && JSON.stringify(r.streams) === JSON.stringify([{ name: sign("p"), since: 1, epoch: "P1" }]),
    `the new client's recover: ${JSON.stringify(r)}`);
  last().answer({ hermes: "recovered", stream: "p", name: sign("p"), recovered: true, epoch: "P1", seq: 1 });
  last().answer(frame("p", 2, "p2", "P1"));
  expect(JSON.stringify(got) === '["p2"]', `after the switch: ${JSON.stringify(got)}`);
  user.close();
});

await check("the connect tag's stub queues stream() and hands it to the client", async () => {
  const stub = readFileSync(path.join(root, "vendor/javascript/hermes-stub.js"), "utf8");
  const window = {};
  vm.runInNewContext(stub, { window });
  const got = [];
  const off = window.Hermes.stream(sign("q"), (d) => got.push(d));
  const offLater = window.Hermes.stream(sign("r"), () => {});
  offLater(); // let go before the client loaded: never asked
  let threw = false;
  try {
    window.Hermes.stream("", () => {});
  } catch (e) {
    threw = /signed stream name/.test(e.message); // a TypeError of the stub's own realm
  }
  expect(threw, "the stub took an empty name");
  const client = start({ url: "ws://x", stage: "s", token: "t", user_id: 1, room_id: "R", WebSocketImpl: FakeSocket }, window);
  expect(window.Hermes === client, "not installed");
  last().open();
  expect(JSON.stringify(last().sent[0].streams) === JSON.stringify([sign("q")]), `handed over: ${JSON.stringify(last().sent[0])}`);
  last().answer({ hermes: "subscribed", streams: [{ name: sign("q"), stream: "q", epoch: "Q1", seq: 0 }] });
  last().answer(frame("q", 1, "q1", "Q1"));
  off();
  expect(JSON.stringify(got) === '["q1"]', `got ${JSON.stringify(got)}`);
  expect(client.streams.entries.get(sign("q")).subs.size === 0, "the stub's unsubscribe did not reach the client");
  client.close();
});

clearTimeout(deadline);
console.log(`streams: ${8 - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
