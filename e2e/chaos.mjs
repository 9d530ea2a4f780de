// Chaos for the browser client's recovery: the real client (vendor/javascript), in Node over
// the `ws` package, against hermes-local (memory backend) on 127.0.0.1.
//   1. 300 notifications at a steady rate to 3 pages whose sockets are aborted (TCP reset, no
//      close frame) every 1-3 s, and as many broadcasts to two streams every page holds;
//   2. the same with the gateway's idle timeout and maximum connection age at a few seconds.
// Every page must end holding every message exactly once, in order, without a gap reported:
// the room's, and each stream's.
// Bounded: each run has a deadline, the whole script one more. Run by script/test-browser.
import { register } from "node:module";
import WebSocket from "ws";
import { developmentStreamKey, signStream, sleep, startGateway, until } from "./lib.mjs";

// The client's files import each other by their import map names.
register("./client-hooks.mjs", import.meta.url);
const { HermesSocket } = await import("hermes");

const MESSAGES = 300;
const PAGES = 3;
const EVERY_MS = 25; // 40 a second: 7.5 s of traffic

const deadline = setTimeout(() => {
  console.error("chaos: timed out after 240 s");
  process.exit(1);
}, 240000);

async function run(name, gatewayArgs, { abort, busyPage }) {
  const gw = await startGateway(["--stage", "chaos", ...gatewayArgs], { HERMES_BACKEND: "memory" });
  const room = `chaos-${name}`;
  const pages = [];
  try {
    for (let i = 0; i < PAGES; i++) {
      const { token } = await gw.post("/_hermes/tokens", { user_id: 100 + i, room_id: room });
      const page = { got: [], streams: { s0: [], s1: [] }, gaps: [], opens: 0, recoveries: 0 };
      page.client = new HermesSocket({
        url: gw.url,
        stage: "chaos",
        token,
        WebSocketImpl: WebSocket,
        onGap: (g) => page.gaps.push(g),
        onStatus: (s) => {
          if (s === "open") page.opens += 1;
          if (s === "recovered") page.recoveries += 1;
        },
      });
      page.client.subscribe("chaos", (n) => page.got.push(n));
      for (const s of ["s0", "s1"]) page.client.stream(signStream(developmentStreamKey(), `${room}-${s}`), (n) => page.streams[s].push(n));
      pages.push(page);
    }
    await until("every page has its first answer", () => pages.every((p) => p.recoveries >= 1));

    let producing = true;
    const chaos = pages.map(async (p, i) => {
      while (producing) {
        if (abort) {
          await sleep(1000 + Math.random() * 2000);
          // A laptop lid closing: the TCP connection goes, no close frame.
          if (producing && p.client.ws && p.client.ws.readyState === 1) p.client.ws.terminate();
        } else if (busyPage === i) {
          // Keeps this page's socket from idling out, so it meets the maximum age instead.
          await sleep(500);
          await p.client.presence(2000).catch(() => {});
        } else {
          await sleep(200);
        }
      }
    });
    const start = Date.now();
    for (let n = 0; n < MESSAGES; n++) {
      const due = start + n * EVERY_MS;
      if (due > Date.now()) await sleep(due - Date.now());
      await gw.post("/_hermes/notifications", { user_id: 1, room_id: room, data: { type: "chaos", data: n } });
      await gw.post("/_hermes/broadcasts", { stream: `${room}-s${n % 2}`, data: n });
    }
    producing = false;
    await Promise.all(chaos);
    const all = (p) => p.got.length + p.streams.s0.length + p.streams.s1.length;
    await until(`${name}: every page holds ${2 * MESSAGES} messages`, () => pages.every((p) => all(p) >= 2 * MESSAGES), 90000).catch((e) => {
      const where = pages.map((p) => ({
        room: p.got.length, s0: p.streams.s0.length, s1: p.streams.s1.length, open: p.client.isOpen(), recovering: p.client.recovering,
        inFlight: p.client.streams.inFlight && p.client.streams.inFlight.action,
        entries: [...p.client.streams.entries.values()].map((x) => `${x.stream}:${x.state}@${x.seq} held ${x.held.length}`),
      }));
      throw new Error(`${e.message}; pages: ${JSON.stringify(where)}`);
    });
    await sleep(500); // anything extra (a duplicate) would arrive now
    const want = Array.from({ length: MESSAGES }, (_, n) => n);
    pages.forEach((p, i) => {
      const same = p.got.length === MESSAGES && p.got.every((n, k) => n === want[k]);
      if (!same) {
        const dupes = p.got.filter((n, k) => p.got.indexOf(n) !== k);
        throw new Error(`${name}: page ${i} holds ${p.got.length} messages (duplicates: ${dupes.slice(0, 10)}), first out of order at ${p.got.findIndex((n, k) => n !== k)}`);
      }
      for (const [s, got] of Object.entries(p.streams)) {
        const mine = want.filter((n) => `s${n % 2}` === s);
        if (JSON.stringify(got) !== JSON.stringify(mine)) {
          throw new Error(`${name}: page ${i} stream ${s} holds ${got.length} of ${mine.length}, first wrong at ${got.findIndex((n, k) => n !== mine[k])}`);
        }
      }
      if (p.gaps.length) throw new Error(`${name}: page ${i} was told of a gap: ${JSON.stringify(p.gaps)}`);
      if (p.opens < 2) throw new Error(`${name}: page ${i} opened ${p.opens} times; the run did not exercise reconnects`);
    });
    console.log(`chaos ${name}: ${PAGES} pages x ${MESSAGES} notifications + ${MESSAGES} broadcasts on 2 streams, each exactly once and in order; ` +
      `sockets opened ${pages.map((p) => p.opens).join("/")} times`);
  } finally {
    for (const p of pages) p.client.close();
    gw.stop();
  }
}

let failed = 0;
for (const [name, args, opts] of [
  ["aborts", [], { abort: true }],
  ["idle-and-age", ["--idle-timeout", "2", "--max-age", "3"], { abort: false, busyPage: 0 }],
]) {
  try {
    await run(name, args, opts);
  } catch (e) {
    failed += 1;
    console.error(`chaos ${name}: FAILED: ${e.stack || e}`);
  }
}
clearTimeout(deadline);
console.log(`chaos: ${2 - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
