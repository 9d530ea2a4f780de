// What hermes_connect_tag's module script calls, in Chromium against hermes-local (memory
// backend), 127.0.0.1; sockets counted on the gateway's side (POST /_hermes/presence):
//   - start() run again for the same url, stage and user (Turbo and Turbolinks run a new page's
//     head scripts on each visit) keeps the page's one client and socket and takes the new
//     token; for another user it closes the old socket first and the page's subscribers move
//     to the new client; the signed-out script closes it;
//   - a page rendered at the room's position ({seq, epoch}) gets what was sent before its
//     socket opened; a page rendered before the room's first message ({seq: 0, epoch: null})
//     gets the whole room; without a position (the old first open) they are lost.
// Run by script/test-browser; bounded in time.
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import { sleep, startGateway, until } from "./lib.mjs";

const deadline = setTimeout(() => {
  console.error("start: timed out after 120 s");
  process.exit(1);
}, 120000);

let gw;
let browser;
let failed = 0;
try {
  gw = await startGateway(["--stage", "development"], { HERMES_BACKEND: "memory" });
  browser = await chromium.launch({
    executablePath: ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].find((p) => existsSync(p)),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
    timeout: 30000,
  });
  const pageErrors = [];
  const newPage = async () => {
    const page = await browser.newPage();
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.goto(`http://127.0.0.1:${gw.port}/`);
    await page.evaluate(() => {
      window.mint = async (user, room) => {
        const r = await fetch("/_hermes/tokens", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ user_id: user, room_id: room }),
        });
        return (await r.json()).token;
      };
      window.options = async (user, room, extra = {}) => ({
        url: `ws://${location.host}`, stage: "development", user_id: user, room_id: room, token: await window.mint(user, room), ...extra,
      });
    });
    return page;
  };
  const sockets = async (room) => (await gw.post("/_hermes/presence", { room_id: room })).connections;
  const users = async (room) => (await gw.post("/_hermes/presence", { room_id: room })).users;
  // The count must stay put: a second socket would open within milliseconds of the call.
  const stays = async (what, room, n) => {
    for (let i = 0; i < 15; i++) {
      const got = await sockets(room);
      if (got !== n) throw new Error(`${what}: ${got} sockets in ${room}, want ${n}`);
      await sleep(100);
    }
  };
  const enqueue = (room, data) => gw.post("/_hermes/notifications", { user_id: 7, room_id: room, data: { type: "info", data } });

  // ---- one client per page
  const page = await newPage();
  await page.evaluate(async () => {
    const { start } = await import("/hermes.js");
    window.got = [];
    window.first = start(await window.options(42, "TURBO"));
    window.Hermes.subscribe("info", (d) => window.got.push(d));
  });
  await until("the first socket", async () => (await sockets("TURBO")) === 1, 20000);
  // The tag's script again, as on a Turbo visit: new token, same user.
  const renewed = await page.evaluate(async () => {
    const { start } = await import("/hermes.js");
    const before = { ws: window.Hermes.ws, token: window.Hermes.token };
    const o = await window.options(42, "TURBO");
    o.token = `${o.token}`; // a token minted for this render
    const again = start(o);
    const again2 = start(await window.options("42", "TURBO")); // ids compare as text
    return { same: again === window.first && again2 === window.first, sameWs: window.Hermes.ws === before.ws };
  });
  if (!renewed.same || !renewed.sameWs) throw new Error(`start() again replaced the client: ${JSON.stringify(renewed)}`);
  await stays("start() run again for the same user", "TURBO", 1);
  await enqueue("TURBO", "one");
  await until("delivered once to the kept client", () => page.evaluate(() => window.got.length === 1));
  console.log("start: run three times for the same user: one client, one socket");

  // Another user signs in on the same page (a Turbo visit after a sign-in as someone else).
  await page.evaluate(async () => {
    const { start } = await import("/hermes.js");
    window.second = start(await window.options(43, "TURBO"));
  });
  await until("the old socket closed and the new one open", async () =>
    JSON.stringify(await users("TURBO")) === '["43"]' && (await sockets("TURBO")) === 1, 20000);
  await stays("after switching user", "TURBO", 1);
  const moved = await page.evaluate(() => ({ closed: window.first.closedByUser, current: window.Hermes === window.second }));
  if (!moved.closed || !moved.current) throw new Error(`switching user: ${JSON.stringify(moved)}`);
  await until("the new client's first answer", () => page.evaluate(() => window.second.ws && window.second.ws.readyState === 1 && !window.second.recovering));
  await enqueue("TURBO", "two");
  await until("the page's subscriber moved to the new client", () => page.evaluate(() => window.got.length === 2));
  // Signed out: the tag renders window.Hermes.close().
  await page.evaluate(() => window.Hermes.close());
  await until("no socket once signed out", async () => (await sockets("TURBO")) === 0, 20000);
  console.log("start: another user -> the old socket closed first, subscribers kept; signed out -> closed");

  // ---- recovery from the render position
  const rendered = async (room, position) => {
    const p = await newPage();
    await p.evaluate(async ({ room, position }) => {
      window.got = [];
      window.options0 = await window.options(42, room, position === undefined ? {} : { position });
    }, { room, position });
    return p;
  };
  const connectNow = (p) => p.evaluate(async () => {
    const { start } = await import("/hermes.js");
    start(window.options0).subscribe("info", (d) => window.got.push(d));
  });
  const settled = (p) => until("the recovery answer", () => p.evaluate(() => window.Hermes.ws && window.Hermes.ws.readyState === 1 && !window.Hermes.recovering));
  const inHistory = (room, seq) => until(`${room} at seq ${seq}`, async () => (await gw.post("/_hermes/position", { room_id: room })).seq === seq, 20000);

  // The room before its first message: rendered at {seq: 0, epoch: null}.
  const fresh = await gw.post("/_hermes/position", { room_id: "FRESH" });
  if (fresh.seq !== 0 || fresh.epoch !== null) throw new Error(`a new room's position: ${JSON.stringify(fresh)}`);
  const freshPage = await rendered("FRESH", fresh);
  const freshOld = await rendered("FRESH"); // no position: the first open only takes a baseline
  for (const n of [1, 2, 3]) await enqueue("FRESH", n);
  await inHistory("FRESH", 3);
  await connectNow(freshPage);
  await connectNow(freshOld);
  await until("the page rendered before the room's first message got all 3", () => freshPage.evaluate(() => window.got.length === 3));
  await settled(freshOld);
  const freshGot = await freshPage.evaluate(() => window.got);
  if (JSON.stringify(freshGot) !== "[1,2,3]") throw new Error(`from the start: ${freshGot}`);
  if ((await freshOld.evaluate(() => window.got.length)) !== 0) throw new Error("a page without a position recovered: the test shows nothing");

  // A room with history: rendered at its position, 2 more before the socket opens.
  const at = await gw.post("/_hermes/position", { room_id: "FRESH" });
  const later = await rendered("FRESH", at);
  await enqueue("FRESH", 4);
  await enqueue("FRESH", 5);
  await inHistory("FRESH", 5);
  await connectNow(later);
  await until("the 2 sent before the socket opened", () => later.evaluate(() => window.got.length === 2));
  await settled(later);
  const laterGot = await later.evaluate(() => window.got);
  if (JSON.stringify(laterGot) !== "[4,5]") throw new Error(`from the render position: ${laterGot}`);
  console.log("start: rendered at {seq, epoch} or before the first message: what went out before the socket opened is shown");

  if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join(" | ")}`);
} catch (e) {
  failed = 1;
  console.error(`start: FAILED: ${e.stack || e}`);
} finally {
  clearTimeout(deadline);
  if (browser) await browser.close().catch(() => {});
  if (gw) gw.stop();
}
console.log(`start: ${failed ? "0 passed, 1 failed" : "1 passed, 0 failed"}`);
process.exit(failed);
