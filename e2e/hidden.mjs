// A hidden page costs no connection minutes, in Chromium against hermes-local (memory backend),
// 127.0.0.1; sockets counted on the gateway's side (POST /_hermes/presence and
// /_hermes/streams/presence):
//   - a page (start(), closeHiddenAfterMs: 2000, its room and one stream) hidden for less than
//     that keeps its socket; hidden longer, the gateway holds no socket of it, in the room or on
//     the stream, and the page opens none while it stays hidden;
//   - 20 notifications to the room and 20 broadcasts to the stream go out meanwhile; shown
//     again, the page opens one socket at once and shows all 40, once each and in order, after
//     the 3 + 3 it got live, without onGap; live delivery goes on.
// The page's visibility is Chromium's document.visibilityState, as a background tab reports it,
// set by an init script (headless Chromium reports every tab as visible), with the
// visibilitychange event the browser fires.
// Run by script/test-browser; bounded in time.
import { launchChromium, sleep, startGateway, until } from "./lib.mjs";

const deadline = setTimeout(() => {
  console.error("hidden: timed out after 100 s");
  process.exit(1);
}, 100000);

const ROOM = "HIDDEN";
const STREAM = "hidden-board";
const HIDE_MS = 2000;

let gw;
let browser;
let failed = 0;
try {
  gw = await startGateway(["--stage", "development"], { HERMES_BACKEND: "memory" });
  browser = await launchChromium();
  const page = await browser.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && pageErrors.push(m.text()));
  await page.addInitScript(() => {
    let state = "visible";
    Object.defineProperty(Document.prototype, "visibilityState", { configurable: true, get: () => state });
    Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => state === "hidden" });
    window.setVisibility = (s) => {
      state = s;
      document.dispatchEvent(new Event("visibilitychange"));
    };
    // Every socket the page opens, and whether the page was hidden then.
    const Real = window.WebSocket;
    window.opened = [];
    window.WebSocket = class extends Real {
      constructor(...args) {
        super(...args);
        window.opened.push(state);
      }
    };
  });
  await page.goto(`http://127.0.0.1:${gw.port}/`);
  const { signed } = await gw.post("/_hermes/streams/sign", { stream: STREAM });
  await page.evaluate(async ({ room, signed, hideMs }) => {
    const { start } = await import("/hermes.js");
    const mint = async () => {
      const r = await fetch("/_hermes/tokens", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ user_id: 42, room_id: room }),
      });
      return (await r.json()).token;
    };
    Object.assign(window, { got: [], streamGot: [], gaps: [], statuses: [] });
    const h = start({
      url: `ws://${location.host}`, stage: "development", user_id: 42, room_id: room, token: await mint(),
      refreshToken: mint, closeHiddenAfterMs: hideMs,
      onGap: (g) => window.gaps.push(g),
      onStatus: (s, d) => window.statuses.push(d === undefined || typeof d === "object" ? s : `${s}:${d}`),
    });
    h.subscribe("info", (n) => window.got.push(n));
    h.stream(signed, (n) => window.streamGot.push(n));
  }, { room: ROOM, signed, hideMs: HIDE_MS });

  const inPage = (fn, arg) => page.evaluate(fn, arg);
  const roomSockets = async () => (await gw.post("/_hermes/presence", { room_id: ROOM })).connections;
  const streamSockets = async () => (await gw.post("/_hermes/streams/presence", { stream: STREAM })).connections;
  const enqueue = (from, to) =>
    gw.post("/_hermes/notifications/batch",
      Array.from({ length: to - from }, (_, k) => ({ user_id: 7, room_id: ROOM, data: { type: "info", data: from + k } })));
  const broadcast = (from, to) =>
    gw.post("/_hermes/broadcasts/batch", Array.from({ length: to - from }, (_, k) => ({ stream: STREAM, data: from + k })));
  const count = (s) => inPage((s) => window.statuses.filter((x) => x === s).length, s);
  const range = (n) => JSON.stringify([...Array(n).keys()]);

  await until("the socket and the stream", async () => (await roomSockets()) === 1 && (await streamSockets()) === 1, 20000);
  await enqueue(0, 3);
  await broadcast(0, 3);
  await until("3 + 3 live", () => inPage(() => window.got.length === 3 && window.streamGot.length === 3), 20000);

  // Hidden for less than closeHiddenAfterMs: the socket stays.
  await inPage(() => window.setVisibility("hidden"));
  const briefly = Date.now();
  while (Date.now() - briefly < HIDE_MS / 2) {
    if ((await roomSockets()) !== 1) throw new Error("the socket closed before closeHiddenAfterMs");
    await sleep(100);
  }
  await inPage(() => window.setVisibility("visible"));
  await sleep(HIDE_MS * 1.5);
  if ((await roomSockets()) !== 1 || (await inPage(() => window.opened.length)) !== 1) {
    throw new Error("a page hidden briefly lost or replaced its socket");
  }
  console.log(`hidden: hidden for ${HIDE_MS / 2000} s (< closeHiddenAfterMs): the socket stayed`);

  // Hidden for longer: no socket on the gateway, in the room or on the stream.
  await inPage(() => window.setVisibility("hidden"));
  const hiddenAt = Date.now();
  await until("no socket of the hidden page", async () => (await roomSockets()) === 0 && (await streamSockets()) === 0, 10000);
  const closedAfter = Date.now() - hiddenAt;
  if (closedAfter < HIDE_MS - 100) throw new Error(`closed ${closedAfter} ms after hiding, before closeHiddenAfterMs`);
  if ((await count("parked:hidden")) !== 1) throw new Error(`statuses: ${await inPage(() => window.statuses)}`);
  // Sent while it is hidden, spread over 4 s; the page opens no socket meanwhile.
  for (let i = 0; i < 4; i++) {
    await enqueue(3 + i * 5, 8 + i * 5);
    await broadcast(3 + i * 5, 8 + i * 5);
    for (let t = 0; t < 10; t++) {
      if ((await roomSockets()) !== 0 || (await streamSockets()) !== 0) throw new Error("a socket opened while the page was hidden");
      await sleep(100);
    }
  }
  const seen = await inPage(() => ({ got: window.got.length, stream: window.streamGot.length, opened: window.opened }));
  if (seen.got !== 3 || seen.stream !== 3) throw new Error(`a parked page got frames: ${JSON.stringify(seen)}`);
  if (seen.opened.includes("hidden")) throw new Error(`a socket opened while hidden: ${JSON.stringify(seen.opened)}`);
  const position = await gw.post("/_hermes/position", { room_id: ROOM });
  if (position.seq !== 23) throw new Error(`the room is at ${JSON.stringify(position)}, want seq 23`);
  console.log(`hidden: parked ${closedAfter} ms after hiding: no socket on the gateway for 4 s while 20 + 20 went out`);

  // Shown: one socket at once, everything missed shown once and in order, no gap.
  const shownAt = Date.now();
  await inPage(() => window.setVisibility("visible"));
  await until("all 23 + 23 after the return", () => inPage(() => window.got.length >= 23 && window.streamGot.length >= 23), 20000);
  const tookMs = Date.now() - shownAt;
  await sleep(500); // anything shown twice would show by now
  const after = await inPage(() => ({ got: window.got, stream: window.streamGot, gaps: window.gaps, opened: window.opened }));
  if (JSON.stringify(after.got) !== range(23)) throw new Error(`room after the return: ${after.got}`);
  if (JSON.stringify(after.stream) !== range(23)) throw new Error(`stream after the return: ${after.stream}`);
  if (after.gaps.length) throw new Error(`onGap called: ${JSON.stringify(after.gaps)}`);
  if (after.opened.length !== 2) throw new Error(`${after.opened.length} sockets opened in all, want 2`);
  if ((await roomSockets()) !== 1 || (await streamSockets()) !== 1) throw new Error("not one socket after the return");
  await enqueue(23, 24);
  await broadcast(23, 24);
  await until("live after the return", () => inPage(() => window.got.length === 24 && window.streamGot.length === 24), 20000);
  if (pageErrors.length) throw new Error(`the page logged errors: ${pageErrors.join(" | ")}`);
  console.log(`hidden: shown again: one socket, the 20 + 20 missed shown once and in order in ${tookMs} ms, no onGap, live goes on`);
} catch (e) {
  failed = 1;
  console.error(`hidden: FAILED: ${e.stack || e}`);
} finally {
  clearTimeout(deadline);
  if (browser) await browser.close().catch(() => {});
  if (gw) await gw.stop();
}
console.log(`hidden: ${failed ? "0 passed, 1 failed" : "1 passed, 0 failed"}`);
process.exit(failed);
