// The browser half of script/test-walkthrough for its Hotwire app: a `rails new` app with
// turbo-rails (its stand-in), Turbo 8 from npm, `adapter: hermes` in config/cable.yml, and
// boards whose cards `broadcasts_to :board`; each board page shows `turbo_stream_from @board`
// and `turbo_stream_from "announcements"`. In Chromium:
// 1. in development on hermes-local's memory backend (`bundle exec hermes-local`, as the README
//    says): a card created, renamed and destroyed through the app appends, replaces and removes
//    it on the page; each of the page's two streams gets only its own messages, and a card of
//    the other board reaches nobody; a tampered name and a name signed with another key get
//    nothing; a Turbo Drive visit to the other board unsubscribes the old board's stream,
//    subscribes the new one and keeps the announcements, on the same single socket; a page of
//    nobody (/public/) gets its stream;
// 2. on moto (hermes-local and Rails on their AWS backends, under script/with-moto): with
//    hermes-local stopped, three cards and three announcements are queued; once it runs again,
//    the page (whose way back opens only when the streams' history holds them) shows each
//    stream's three, in order, once.
// Bounded in time; stops what it started.
//   script/with-moto node e2e/walkthrough/turbo.mjs APP_DIR
import { createHmac } from "node:crypto";
import { streamSeqs, tcpProxy } from "../lib.mjs";
import { appProcesses, freePort, gatewayDev, launchChromium, sleep, until, watchPage } from "./app.mjs";

const [appDir] = process.argv.slice(2);
if (!appDir) throw new Error("usage: turbo.mjs APP_DIR");
const endpoint = process.env.HERMES_TEST_AWS_ENDPOINT;
const queueUrl = process.env.HERMES_TEST_QUEUE_URL;
if (!endpoint || !queueUrl) throw new Error("run under script/with-moto (HERMES_TEST_AWS_ENDPOINT, HERMES_TEST_QUEUE_URL)");

const label = "walkthrough[turbo]";
const railsPort = await freePort();
const localPort = await freePort();
const base = `http://127.0.0.1:${railsPort}`;
const env = { ...process.env, RAILS_ENV: "development", HERMES_BACKEND: "local", HERMES_LOCAL_URL: `http://127.0.0.1:${localPort}` };
for (const k of ["HERMES_JWT_SECRET", "HERMES_PASSCODE", "HERMES_QUEUE_URL", "HERMES_WEBSOCKET_URL", "HERMES_AWS_ENDPOINT_URL"]) delete env[k];
const app = appProcesses({ appDir, label, env, limitMs: 300000 });
const { say, stop } = app;

// Every message each <turbo-cable-stream-source> hands Turbo (a MessageEvent on the element,
// which does not bubble: seen on its way down), and every frame the page sends.
const RECORD = `(() => {
  window.streamMessages = [];
  addEventListener("message", (e) => {
    const el = e.target;
    if (el instanceof Element && el.localName === "turbo-cable-stream-source") {
      window.streamMessages.push({ name: el.getAttribute("signed-stream-name"), data: e.data });
    }
  }, true);
  window.sentFrames = [];
  window.socketsOpened = 0;
  const Real = window.WebSocket;
  window.WebSocket = class extends Real {
    constructor(...args) {
      super(...args);
      window.socketsOpened += 1;
    }
  };
  const send = Real.prototype.send;
  Real.prototype.send = function (data) {
    try { window.sentFrames.push(JSON.parse(data)); } catch {}
    return send.call(this, data);
  };
})();`;

const json = async (method, p, body) => {
  const res = await fetch(`${base}${p}`, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${p} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  return res.status === 204 ? null : res.json();
};
const createCard = (board, title) => json("POST", "/cards", { board_id: board, title });

// The gateway's development endpoint: who holds a stream (by its name, as Rails broadcasts it).
const streamPresence = async (name) => (await gatewayDev(localPort, "/_hermes/streams/presence", { stream: name })).connections;
const roomSockets = async () => (await gatewayDev(localPort, "/_hermes/presence", { room_id: "ACME" })).connections;

// The page's stream sources: {name (signed), stream (what it names), connected}.
const sources = (page) => page.evaluate(() => [...document.querySelectorAll("turbo-cable-stream-source")].map((el) => {
  const signed = el.getAttribute("signed-stream-name");
  return { signed, stream: JSON.parse(atob(signed.split("--")[0])), connected: el.hasAttribute("connected") };
}));
const texts = (page, list) => page.evaluate((id) => [...document.querySelectorAll(`#${id} li`)].map((li) => li.textContent), list);
const allConnected = async (page) => (await sources(page)).every((s) => s.connected);

// The page's socket stays the one it had before a visit, open, for 8 s after it, and no other
// was opened.
async function keepsSocket(page, since, what) {
  const opened = await page.evaluate(() => window.socketsOpened);
  await sleep(Math.max(0, since + 8000 - Date.now()));
  const now = await page.evaluate(() => ({
    same: window.Hermes.ws === window.wsBefore && window.Hermes.ws.readyState === 1,
    loadedOnce: window.loadedOnce === true,
    opened: window.socketsOpened,
  }));
  if (!now.same || !now.loadedOnce || now.opened !== opened) throw new Error(`${what}: ${JSON.stringify({ ...now, openedBefore: opened })}`);
}

async function openBoard(browser, path) {
  const page = await browser.newPage();
  watchPage(page, label, exceptions);
  await page.addInitScript(RECORD);
  await page.goto(`${base}${path}`);
  await until(`${path}'s two streams to be connected`, async () => (await sources(page)).length === 2 && allConnected(page), 30000);
  return page;
}

const exceptions = [];
let browser;
let puma;
let gateway;
let failed = false;
let proxy;
try {
  // 1. Development, on the memory backend.
  gateway = await app.startLocal(localPort);
  puma = await app.startPuma(railsPort);
  say(`hermes-local on 127.0.0.1:${localPort}, Puma on ${base}`);
  browser = await launchChromium();
  const page = await openBoard(browser, "/boards/1");
  await page.evaluate(() => { window.loadedOnce = true; });
  const [boardSrc, newsSrc] = await sources(page);
  // turbo-rails names a record by its GlobalID's to_param: the gid, Base64 (URL-safe, no padding).
  const gid = Buffer.from(boardSrc.stream, "base64url").toString();
  if (!/^gid:\/\/[^/]+\/Board\/1$/.test(gid) || newsSrc.stream !== "announcements") {
    throw new Error(`the page's streams are ${boardSrc.stream} (${gid}) and ${newsSrc.stream}`);
  }
  const board1 = boardSrc.stream;
  const board2 = Buffer.from(gid.replace(/1$/, "2")).toString("base64url");
  say(`/boards/1 holds ${board1} (${gid}) and announcements, both connected`);

  // append, replace, remove
  const { id } = await createCard(1, "First card");
  await until("the card appended", async () => (await texts(page, "cards")).join() === "First card", 20000);
  await json("PATCH", `/cards/${id}`, { title: "Renamed card" });
  await until("the card replaced", async () => (await texts(page, "cards")).join() === "Renamed card", 20000);
  await json("DELETE", `/cards/${id}`);
  await until("the card removed", async () => (await texts(page, "cards")).length === 0, 20000);
  say("a card created, renamed, destroyed: appended, replaced, removed on the page");

  // two streams, each its own; the other board's card reaches nobody here
  await createCard(2, "Elsewhere");
  await json("POST", "/announcements", { text: "Hello all" });
  await createCard(1, "Second card");
  await until("the announcement and the second card", async () =>
    (await texts(page, "announcements")).join() === "Hello all" && (await texts(page, "cards")).join() === "Second card", 20000);
  const messages = await page.evaluate(() => window.streamMessages);
  const wrong = messages.filter((m) =>
    (m.name === boardSrc.signed) !== /target="(cards|card_\d+)"/.test(m.data) || m.data.includes("Elsewhere"));
  if (wrong.length || messages.length !== 5) throw new Error(`messages by element: ${JSON.stringify(messages)}`);
  if ((await streamPresence(board2)) !== 0) throw new Error("board 2's stream has a subscriber");
  say("each stream source got only its own messages (5), board 2's card none");

  // forged names: board 2's name with board 1's digest, and board 2's name signed with another key
  const [data, digest] = boardSrc.signed.split("--");
  const data2 = Buffer.from(JSON.stringify(board2)).toString("base64");
  const tampered = `${data2}--${digest}`;
  const foreign = `${data2}--${createHmac("sha256", "not the app's key").update(data2).digest("hex")}`;
  if (data === data2) throw new Error("the tampered name is the real one");
  const sentBeforeForgery = await page.evaluate(() => window.sentFrames.length);
  await page.evaluate((names) => {
    for (const [i, name] of names.entries()) {
      const el = document.createElement("turbo-cable-stream-source");
      el.id = `forged${i}`;
      el.setAttribute("channel", "Turbo::StreamsChannel");
      el.setAttribute("signed-stream-name", name);
      document.body.append(el);
    }
  }, [tampered, foreign]);
  await until("the page to ask for the forged names", () => page.evaluate((n) =>
    window.sentFrames.slice(n).some((f) => f.action === "subscribe" && f.streams.length === 2), sentBeforeForgery), 10000);
  await sleep(1000);
  await createCard(2, "For board 2 only");
  await json("POST", "/announcements", { text: "After the forgery" });
  await until("the announcement after the forgery", async () => (await texts(page, "announcements")).includes("After the forgery"), 20000);
  await sleep(500);
  const forged = await page.evaluate(() => ({
    connected: [...document.querySelectorAll("[id^=forged]")].some((el) => el.hasAttribute("connected")),
    got: window.streamMessages.filter((m) => m.data.includes("For board 2 only")).length,
  }));
  if (forged.connected || forged.got || (await streamPresence(board2)) !== 0) throw new Error(`forged names: ${JSON.stringify(forged)}`);
  await page.evaluate(() => document.querySelectorAll("[id^=forged]").forEach((el) => el.remove()));
  await sleep(1500); // past the client's delay before letting a stream go
  say("a tampered name and a foreign one: not connected, nothing delivered, board 2 has no subscriber");

  // a Turbo Drive visit to board 2, on the same socket
  const ws = await page.evaluate(() => { window.wsBefore = window.Hermes.ws; return window.Hermes.ws.readyState; });
  if (ws !== 1) throw new Error("the page's socket is not open");
  const sentBefore = await page.evaluate(() => window.sentFrames.length);
  const visited = Date.now();
  await page.click("#other");
  await until("board 2 shown by a Turbo visit", () => page.evaluate(() => document.querySelector("h1").textContent === "Board 2"), 20000);
  await until("board 2's streams connected", () => allConnected(page), 20000);
  await until("board 1's stream let go", async () => (await streamPresence(board1)) === 0, 10000);
  const after = await page.evaluate((n) => ({
    loadedOnce: window.loadedOnce === true,
    same: window.Hermes.ws === window.wsBefore && window.Hermes.ws.readyState === 1,
    frames: window.sentFrames.slice(n).filter((f) => f.action === "subscribe" || f.action === "unsubscribe"),
  }), sentBefore);
  if (!after.loadedOnce || !after.same) throw new Error(`the visit: ${JSON.stringify(after)}`);
  const subscribed = after.frames.filter((f) => f.action === "subscribe").flatMap((f) => f.streams);
  const unsubscribed = after.frames.filter((f) => f.action === "unsubscribe").flatMap((f) => f.streams);
  const names = (list) => list.map((s) => JSON.parse(Buffer.from((s.name || s).split("--")[0], "base64").toString()));
  if (JSON.stringify(names(subscribed)) !== JSON.stringify([board2]) || JSON.stringify(names(unsubscribed)) !== JSON.stringify([board1])) {
    throw new Error(`the visit subscribed ${JSON.stringify(names(subscribed))} and unsubscribed ${JSON.stringify(names(unsubscribed))}`);
  }
  if ((await streamPresence(board2)) !== 1 || (await streamPresence("announcements")) !== 1 || (await roomSockets()) !== 1) {
    throw new Error("after the visit the gateway does not hold one socket on board 2 and the announcements");
  }
  await createCard(2, "Seen on board 2");
  await until("board 2's card", async () => (await texts(page, "cards")).includes("Seen on board 2"), 20000);
  await keepsSocket(page, visited, "after the Turbo visit");
  say("a Turbo visit to board 2: board 1 unsubscribed, board 2 subscribed, announcements kept, one socket, still the same 8 s later");

  // a page of nobody
  const anonymous = await browser.newContext().then(async (ctx) => {
    const p = await ctx.newPage();
    watchPage(p, label, exceptions);
    await p.goto(`${base}/public/boards/1`);
    await until("the public page's streams connected", async () => (await sources(p)).length === 2 && allConnected(p), 30000);
    return p;
  });
  await createCard(1, "For everyone");
  await until("the card on the public page", async () => (await texts(anonymous, "cards")).includes("For everyone"), 20000);
  if ((await roomSockets()) !== 1) throw new Error("the public page's socket joined the room");
  say("a page of nobody (/public/boards/1) got its stream, and no room");
  await browser.close();
  browser = null;
  await stop(gateway);

  // 2. On moto: a restart the streams recover from.
  const secret = "walkthrough-turbo-secret-for-hs512-0123456789abcdef";
  const aws = {
    HERMES_BACKEND: "aws",
    HERMES_AWS_ENDPOINT_URL: endpoint,
    HERMES_QUEUE_URL: queueUrl,
    HERMES_JWT_SECRET: secret,
    HERMES_PASSCODE: "walkthrough-passcode",
  };
  const startAws = () => app.startLocal(localPort, ["--stage", "development"], aws);
  gateway = await startAws();
  proxy = await tcpProxy(localPort);
  await stop(puma);
  puma = await app.startPuma(railsPort, { ...aws, HERMES_WEBSOCKET_URL: proxy.url });
  browser = await launchChromium();
  const live = await openBoard(browser, "/boards/1");
  const held = await sources(live);
  const before = { cards: await texts(live, "cards"), news: await texts(live, "announcements") };
  // Where each stream's history stands, asked as a page of nobody would subscribe.
  const seqs = async () => {
    const at = await streamSeqs(`ws://127.0.0.1:${localPort}`, secret, held.map((s) => s.signed));
    return held.every((s) => s.stream in at) && at;
  };
  const seq0 = await until("the streams' positions", seqs, 20000);
  proxy.cut();
  await stop(gateway);
  // From a script, with jobs run inline: the order they are queued in is the order written.
  await app.runner(`ActiveJob::Base.queue_adapter = :inline
    1.upto(3) do |i|
      Card.create!(board_id: 1, title: "Missed card #{i}")
      Turbo::StreamsChannel.broadcast_append_to "announcements", target: "announcements", html: ActionController::Base.helpers.tag.li("Missed news #{i}")
    end`, aws);
  gateway = await startAws();
  await until("the history to hold the 6 broadcasts", async () => {
    const s = await seqs();
    return s && held.every(({ stream }) => s[stream] >= seq0[stream] + 3);
  }, 60000);
  proxy.restore();
  const want = {
    cards: [...before.cards, "Missed card 1", "Missed card 2", "Missed card 3"],
    news: [...before.news, "Missed news 1", "Missed news 2", "Missed news 3"],
  };
  const now = async () => ({ cards: await texts(live, "cards"), news: await texts(live, "announcements") });
  await until("each stream's 3 missed broadcasts", async () => JSON.stringify(await now()) === JSON.stringify(want), 60000)
    .catch(async (e) => { throw new Error(`${e.message}: ${JSON.stringify(await now())}`); });
  await sleep(1000); // a duplicate would show now
  if (JSON.stringify(await now()) !== JSON.stringify(want)) throw new Error(`after the restart: ${JSON.stringify(await now())}`);
  say("on moto: after a hermes-local restart each stream showed the 3 it missed, in order, once");

  // A Turbo visit with the socket through the proxy, as a deployed page's goes through a network.
  await live.evaluate(() => { window.wsBefore = window.Hermes.ws; window.loadedOnce = true; });
  const accepted = proxy.accepted();
  const clicked = Date.now();
  await live.click("#other");
  await until("board 2 shown by a Turbo visit", () => live.evaluate(() => document.querySelector("h1").textContent === "Board 2"), 20000);
  await keepsSocket(live, clicked, "after a Turbo visit through the proxy");
  if (proxy.accepted() !== accepted) throw new Error(`the visit opened ${proxy.accepted() - accepted} connection(s) through the proxy`);
  say("on moto, through a TCP proxy: a Turbo visit kept the page's one socket for 8 s (no new connection)");
  if (exceptions.length) throw new Error(`page exceptions: ${exceptions.join(" | ")}`);
} catch (e) {
  failed = true;
  console.error(`${label}: FAILED: ${e.stack || e}`);
  if (puma) console.error(`--- Puma's output ---\n${puma.log.join("").slice(-4000)}`);
  if (gateway) console.error(`--- hermes-local's output ---\n${gateway.log.join("").slice(-2000)}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  if (proxy) proxy.close();
  await app.stopAll();
}
say(failed ? "failed" : "passed");
process.exit(failed ? 1 : 0);
