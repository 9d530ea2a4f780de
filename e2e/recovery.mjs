// The browser client's recovery in Chromium, against hermes-local (memory backend), 127.0.0.1:
//   - a page connected with hermes.js is revoked: its live socket closes and its old token is
//     refused; 20 notifications go out meanwhile (a page running the seed's own onmessage code
//     sees them live); once the page can mint a token again it reconnects and shows exactly
//     those 20, in order, after the first 5;
//   - 101 missed notifications are more than a recovery replays: onGap is called, none of them
//     shown, and live delivery goes on;
//   - presence() answers; no control frame ever reaches a subscriber, the seed's included.
// Run by script/test-browser; bounded in time.
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import { startGateway, until } from "./lib.mjs";

const deadline = setTimeout(() => {
  console.error("recovery: timed out after 120 s");
  process.exit(1);
}, 120000);

let gw;
let browser;
let failed = 0;
try {
  gw = await startGateway(["--stage", "development"], { HERMES_BACKEND: "memory" });
  const executablePath = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].find((p) => existsSync(p));
  browser = await chromium.launch({
    executablePath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
    timeout: 30000,
  });
  const page = await browser.newPage();
  const pageErrors = [];
  page.on("console", (m) => {
    // A refused upgrade (the revoked token) is reported by Chromium itself; that one is expected.
    if (m.type() === "error" && !/WebSocket connection to .* failed/.test(m.text())) pageErrors.push(m.text());
  });
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  await page.goto(`http://127.0.0.1:${gw.port}/`);
  await page.evaluate(async () => {
    const { connect } = await import("/hermes.js");
    const mint = async (user) => {
      const r = await fetch("/_hermes/tokens", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ user_id: user, room_id: "E2E" }),
      });
      return (await r.json()).token;
    };
    Object.assign(window, { got: [], frames: [], gaps: [], statuses: [], canMint: true, seedGot: [] });
    window.h = connect({
      url: `ws://${location.host}`,
      stage: "development",
      token: await mint(42),
      // Blocked while the test keeps the page out (as if its session were being re-established).
      refreshToken: async () => {
        while (!window.canMint) await new Promise((r) => setTimeout(r, 50));
        return mint(42);
      },
      onGap: (g) => window.gaps.push(g),
      onStatus: (s) => window.statuses.push(s),
    });
    window.h.subscribe("info", (n) => window.got.push(n));
    window.h.subscribe("*", (message, frame) => window.frames.push(frame));
    // The seed article's browser code, as written there, on a socket of its own.
    const subscribers = [{ type: "info", callback: (data) => window.seedGot.push(data) }];
    const seed = new WebSocket(`ws://${location.host}/development?token=${await mint(43)}`);
    seed.onmessage = function (evt) {
      const notification = JSON.parse(evt.data);
      const message = notification.data;
      subscribers.forEach(function (subscriber) {
        if (subscriber.type === message.type) subscriber.callback(message.data);
      });
    };
    await new Promise((r) => (seed.onopen = r));
  });
  const inPage = (fn, arg) => page.evaluate(fn, arg);
  const enqueue = (from, to) =>
    gw.post("/_hermes/notifications/batch",
      Array.from({ length: to - from }, (_, k) => ({ user_id: 7, room_id: "E2E", data: { type: "info", data: from + k } })));
  const waitIn = (what, fn, arg, ms = 20000) => until(what, () => inPage(fn, arg), ms);
  const count = (s) => inPage((s) => window.statuses.filter((x) => x === s).length, s);

  await waitIn("first answer", () => window.statuses.includes("recovered"));
  await enqueue(0, 5);
  await waitIn("5 live", () => window.got.length === 5);

  // Revoked: the live socket closes within seconds, and the page cannot come back yet.
  await inPage(() => (window.canMint = false));
  const closedBefore = await count("closed");
  const { revoked } = await gw.del("/_hermes/tokens", { user_id: 42, room_id: "E2E" });
  if (revoked !== true) throw new Error("nothing was revoked");
  await until("the revoked page's socket closed", async () => (await count("closed")) > closedBefore, 15000);
  await enqueue(5, 25);
  await waitIn("the seed page got the 20 live", () => window.seedGot.length === 25);
  const missedWhileOut = await inPage(() => window.got.length);
  if (missedWhileOut !== 5) throw new Error(`the page was not out: it holds ${missedWhileOut}`);
  const opensBefore = await count("open");
  await inPage(() => (window.canMint = true));
  await waitIn("the page reconnected and recovered 20", () => window.got.length === 25);
  const got = await inPage(() => window.got);
  if (JSON.stringify(got) !== JSON.stringify([...Array(25).keys()])) throw new Error(`out of order or duplicated: ${got}`);
  if ((await count("open")) <= opensBefore) throw new Error("no reconnect happened");
  if ((await inPage(() => window.gaps.length)) !== 0) throw new Error("a gap was reported for a full recovery");
  console.log("recovery: revoked page reconnected and showed exactly the 20 it missed, in order");

  // 101 missed: more than a recovery replays. onGap, nothing replayed, live goes on.
  await inPage(() => (window.canMint = false));
  const closed2 = await count("closed");
  await gw.del("/_hermes/tokens", { user_id: 42, room_id: "E2E" });
  await until("closed again", async () => (await count("closed")) > closed2, 15000);
  await enqueue(25, 126);
  await waitIn("the seed page got the 101", () => window.seedGot.length === 126);
  await inPage(() => (window.canMint = true));
  await waitIn("onGap called", () => window.gaps.length === 1);
  await enqueue(126, 127);
  await waitIn("live after the gap", () => window.got.length === 26);
  const tail = await inPage(() => window.got.slice(-2));
  if (JSON.stringify(tail) !== "[24,126]") throw new Error(`after a gap, expected [24,126], got ${tail}`);
  console.log("recovery: 101 missed -> onGap, none replayed, live delivery continues");

  const presence = await inPage(() => window.h.presence());
  if (JSON.stringify(presence.users) !== '["42","43"]' || presence.connections !== 2 || presence.room_id !== "E2E") {
    throw new Error(`presence: ${JSON.stringify(presence)}`);
  }
  const frames = await inPage(() => window.frames);
  if (frames.some((f) => "hermes" in f || !("data" in f))) throw new Error("a control frame reached a subscriber");
  if (frames.some((f) => typeof f.seq !== "number" || typeof f.epoch !== "string")) throw new Error("a frame without seq/epoch");
  if (new Set(frames.map((f) => f.id)).size !== frames.length) throw new Error("a frame was shown twice");
  const seed = await inPage(() => window.seedGot);
  if (JSON.stringify(seed) !== JSON.stringify([...Array(127).keys()])) throw new Error(`the seed's code got ${seed.length}`);
  if (pageErrors.length) throw new Error(`the page logged errors: ${pageErrors.join(" | ")}`);
  console.log(`recovery: presence ${JSON.stringify(presence.users)}; the seed's code got all 127 and no control frame`);
} catch (e) {
  failed = 1;
  console.error(`recovery: FAILED: ${e.stack || e}`);
} finally {
  clearTimeout(deadline);
  if (browser) await browser.close().catch(() => {});
  if (gw) gw.stop();
}
console.log(`recovery: ${failed ? "0 passed, 1 failed" : "1 passed, 0 failed"}`);
process.exit(failed);
