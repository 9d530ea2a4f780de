// The browser half of script/test-walkthrough, on an app that script has prepared by
// following the README's "Rails in 10 minutes": boots Puma and hermes-local (`bundle exec
// hermes-local` from the app, as the README says; each on a free 127.0.0.1 port), opens the
// page in Chromium, enqueues from `bin/rails runner` and sees the notification on the page;
// runs the connect tag's scripts again, then follows a link with Turbo 8's own Drive (from npm:
// the new page's head scripts run, its body replaces the old) and counts the page's sockets on
// the gateway: one; opens a second page whose socket is held back while a notification goes
// out, and sees it once the socket opens; restarts hermes-local and sees the next one without
// a reload; stops it and checks that the page still renders. Bounded in time; stops what it
// started.
//   node e2e/walkthrough/run.mjs APP_DIR VARIANT
import { readFileSync } from "node:fs";
import path from "node:path";
import { appProcesses, freePort, gatewayDev, launchChromium, sleep, until, watchPage } from "./app.mjs";

const [appDir, variant] = process.argv.slice(2);
if (!appDir || !variant) throw new Error("usage: run.mjs APP_DIR VARIANT");

const railsPort = await freePort();
const localPort = await freePort();
// Local development as the README says: HERMES_BACKEND=local, and where hermes-local is
// (it runs on a free port here, not its default 3001). Nothing else.
const env = {
  ...process.env,
  RAILS_ENV: "development",
  HERMES_BACKEND: "local",
  HERMES_LOCAL_URL: `http://127.0.0.1:${localPort}`,
};
for (const k of ["HERMES_JWT_SECRET", "HERMES_PASSCODE", "HERMES_QUEUE_URL", "HERMES_WEBSOCKET_URL", "HERMES_AWS_ENDPOINT_URL"]) delete env[k];
const label = `walkthrough[${variant}]`;
const app = appProcesses({ appDir, label, env, limitMs: 300000 });
const { say, stop, runner } = app;
// hermes-local runs as a developer starts it in another terminal, from the app (the gem's own,
// README step 5), in a shell that exported HERMES_BACKEND=local for Rails: it takes that as
// its own memory backend, with a development secret made up for each run.
const startLocal = (args, extraEnv) => app.startLocal(localPort, args, extraEnv);

// What the gateway holds for the app's room (its development endpoint, as the gem's local
// backend calls it): the sockets open there.
const gatewayRoom = () => gatewayDev(localPort, "/_hermes/presence", { room_id: "ACME" });
// The count must stay put: a second socket would open within milliseconds of a script run.
async function socketsStay(what, n) {
  for (let i = 0; i < 15; i++) {
    const { connections } = await gatewayRoom();
    if (connections !== n) throw new Error(`${what}: ${connections} sockets for the room on the gateway, want ${n}`);
    await sleep(100);
  }
}

// A Drive visit by Turbo's own JavaScript: a click on the page's link to /again. Returns how
// many of the new page's head scripts Turbo ran (the ones the old head lacked).
async function turboVisit(page) {
  await page.evaluate(() => {
    window.headScriptsBefore = new Set([...document.head.querySelectorAll("script")].map((s) => s.outerHTML));
    window.turboLoaded = new Promise((r) => addEventListener("turbo:load", () => r(location.pathname), { once: true }));
  });
  await page.click("#again");
  const landed = await page.evaluate(() => window.turboLoaded);
  if (landed !== "/again") throw new Error(`the Turbo visit landed on ${landed}`);
  return page.evaluate(() => [...document.head.querySelectorAll("script")].filter((s) => !window.headScriptsBefore.has(s.outerHTML)).length);
}

// A page whose WebSockets open only when the test says: rendered (token and room position in
// the page), its socket held back while a notification goes out.
const HOLD_SOCKETS = `(() => {
  const Real = window.WebSocket;
  let release;
  const gate = new Promise((r) => (release = r));
  window.releaseSockets = () => release();
  window.WebSocket = class HeldWebSocket {
    constructor(url) {
      this.readyState = 0;
      gate.then(() => {
        if (this.readyState === 3) return;
        const ws = (this.real = new Real(url));
        ws.onopen = (e) => { this.readyState = 1; if (this.onopen) this.onopen(e); };
        ws.onmessage = (e) => { if (this.onmessage) this.onmessage(e); };
        ws.onclose = (e) => { this.readyState = 3; if (this.onclose) this.onclose(e); };
      });
    }
    send(data) { this.real.send(data); }
    close(code) { this.readyState = 3; if (this.real) this.real.close(code); }
  };
})();`;

let browser;
let puma;
let gateway;
let failed = false;
try {
  gateway = await startLocal();
  say(`hermes-local on 127.0.0.1:${localPort}`);
  puma = await app.startPuma(railsPort);
  const base = `http://127.0.0.1:${railsPort}`;
  say(`Puma on ${base}`);

  browser = await launchChromium();
  const page = await browser.newPage();
  const exceptions = [];
  // Refused and failed attempts are expected while hermes-local restarts; shown without tokens.
  watchPage(page, label, exceptions);
  await page.goto(`${base}/`);
  const opened = () => page.evaluate(() => window.Hermes && window.Hermes.ws && window.Hermes.ws.readyState === 1 && window.Hermes.ws);
  await until("the page's WebSocket to open", opened, 30000);
  await page.evaluate(() => { window.loadedOnce = true; });
  if (!(await page.evaluate(() => window.hermesResolved === true))) throw new Error('the module specifier "hermes" did not resolve for the page\'s own module');
  say("page connected");

  const shown = (text) => until(`"${text}" on the page`, () => page.evaluate((t) => [...document.querySelectorAll("#notifications li")].some((li) => li.textContent === t), text), 30000);
  await runner('NotifyJob.perform_now("Backup finished")');
  await shown("Backup finished");
  say("notification shown");
  if (!gateway.log.join("").includes("HERMES_BACKEND=local is the Rails app's setting")) {
    throw new Error("hermes-local did not say it took HERMES_BACKEND=local as its memory backend");
  }

  if (variant === "nopipeline") {
    // No asset pipeline: the import map points at the engine, which serves the client.
    const html = await (await fetch(`${base}/`)).text();
    const client = html.match(/"hermes":"(\/hermes\/hermes-[0-9a-f]{16}\.js)"/);
    if (!client) throw new Error(`the import map does not point at the engine: ${html.match(/importmap">[^<]*/)}`);
    const res = await fetch(`${base}${client[1]}`);
    const headers = Object.fromEntries(res.headers);
    if (res.status !== 200 || headers["content-type"] !== "text/javascript; charset=utf-8" ||
        headers["cache-control"] !== "public, max-age=31536000, immutable" || !headers.etag) {
      throw new Error(`the engine served the client with ${res.status} ${JSON.stringify(headers)}`);
    }
    const again = await fetch(`${base}${client[1]}`, { headers: { "If-None-Match": headers.etag } });
    if (again.status !== 304) throw new Error(`revalidating the client answered ${again.status}`);
    say(`no asset pipeline: the client is ${client[1]} from the engine (text/javascript, immutable, 304 on its ETag)`);
  }

  // One socket per page, however often the tag's scripts run.
  await until("the gateway to count the page's socket", async () => (await gatewayRoom()).connections === 1, 20000);
  const before = await page.evaluate(() => { window.clientBefore = window.Hermes; window.wsBefore = window.Hermes.ws; return true; });
  const rerun = await page.evaluate(() => {
    // The tag's own scripts (the stub, the import map unless importmap-rails renders it, the
    // module), run again as new elements.
    const tag = [...document.head.querySelectorAll("script")].filter((s) =>
      s.textContent.includes("__hermesInstall") || s.textContent.includes('from "hermes"'));
    for (const script of tag) {
      const copy = document.createElement("script");
      for (const { name, value } of script.attributes) copy.setAttribute(name, value);
      copy.textContent = script.textContent;
      document.head.appendChild(copy);
    }
    window.refreshBefore = window.Hermes.refreshToken;
    return tag.length;
  });
  if (!before || rerun !== 2) throw new Error(`expected the tag's 2 scripts in <head>, found ${rerun}`);
  await socketsStay("the tag's scripts run twice", 1);
  if (!(await page.evaluate(() => typeof window.Turbo === "object" && window.Turbo.session.drive))) throw new Error("Turbo Drive is not running on the page");
  const ran = await turboVisit(page);
  if (ran < 1) throw new Error("the Turbo visit ran none of the new page's head scripts: the test shows nothing");
  if (!(await page.evaluate(() => window.loadedOnce === true))) throw new Error("the link was followed by a full load, not a Turbo visit");
  await until("the tag's module to run again on the visit", () => page.evaluate(() => window.Hermes.refreshToken !== window.refreshBefore), 20000);
  await socketsStay("after a Turbo visit", 1);
  const kept = await page.evaluate(() => window.Hermes === window.clientBefore && window.Hermes.ws === window.wsBefore && window.Hermes.ws.readyState === 1);
  if (!kept) throw new Error("the page's client or socket was replaced");
  await runner('NotifyJob.perform_now("After a Turbo visit")');
  await shown("After a Turbo visit");
  const copies = await page.evaluate(() => [...document.querySelectorAll("#notifications li")].filter((li) => li.textContent === "After a Turbo visit").length);
  if (copies !== 1) throw new Error(`"After a Turbo visit" shown ${copies} times`);
  say(`tag scripts run twice, then a Turbo Drive visit (${ran} new head scripts ran): one client, one socket on the gateway, notification shown once`);

  // Sent between the render and the socket opening: recovered from the position in the page.
  const held = await browser.newPage();
  held.on("pageerror", (e) => exceptions.push(String(e)));
  await held.addInitScript(HOLD_SOCKETS);
  await held.goto(`${base}/`);
  await until("the held page's client", () => held.evaluate(() => window.Hermes && window.Hermes.ws && window.Hermes.ws.readyState === 0), 30000);
  await runner('NotifyJob.perform_now("Sent while the page was opening")');
  await shown("Sent while the page was opening"); // delivered (and in the history) before the held socket opens
  if ((await gatewayRoom()).connections !== 1) throw new Error("the held page opened a socket too early: the test shows nothing");
  await held.evaluate(() => window.releaseSockets());
  await until('"Sent while the page was opening" on the page rendered before it', () =>
    held.evaluate(() => [...document.querySelectorAll("#notifications li")].some((li) => li.textContent === "Sent while the page was opening")), 30000);
  await held.close();
  say("a notification sent after the render and before the socket opened reached the page");

  // A restart: new development secret, new memory queue. The page's token is refused; it
  // fetches a fresh one from the gem's endpoint and reconnects, with no reload.
  await page.evaluate(() => { window.firstSocket = window.Hermes.ws; });
  await stop(gateway);
  gateway = await startLocal();
  await until("the page to reconnect with a fresh token", () => page.evaluate(() => window.Hermes.ws !== window.firstSocket && window.Hermes.ws.readyState === 1), 90000);
  await runner('NotifyJob.perform_now("After the restart")');
  await shown("After the restart");
  if (!(await page.evaluate(() => window.loadedOnce === true))) throw new Error("the page was reloaded");
  say("reconnected after a hermes-local restart, next notification shown without a reload");

  if (variant === "sprockets") {
    // Issue 9's report, scaled down: tokens that expire before API Gateway closes the socket
    // (60 s tokens, the shortest allowed, and 75 s sockets: the 10 s leeway has passed too).
    // The reconnect after the close is refused ("token has expired"); the page fetches a
    // fresh token and goes on.
    await stop(gateway);
    gateway = await startLocal(["--max-age", "75"], { HERMES_TOKEN_TTL: "60" });
    await until("the page to reconnect to the short-lived gateway", () => page.evaluate(() => window.Hermes.ws.readyState === 1 && (window.shortSocket = window.Hermes.ws)), 90000);
    await until("the socket to be closed at its maximum age and reopened with a fresh token", () => page.evaluate(() => window.Hermes.ws !== window.shortSocket && window.Hermes.ws.readyState === 1), 90000);
    await runner('NotifyJob.perform_now("After the token expired")');
    await shown("After the token expired");
    say("socket closed at its maximum age with an expired token: refreshed, next notification shown");
  }

  // hermes-local stopped: pages still render (one line in the log, no live notifications).
  await stop(gateway);
  const res = await fetch(`${base}/`);
  const html = await res.text();
  if (res.status !== 200) throw new Error(`with hermes-local stopped the page answered ${res.status}`);
  if (!html.includes("window.Hermes")) throw new Error("with hermes-local stopped the page lost its Hermes stub");
  const log = readFileSync(path.join(appDir, "log/development.log"), "utf8");
  if (!/\[hermes\] no live notifications for this page: Hermes::LocalBackendError: cannot reach hermes-local/.test(log)) {
    throw new Error("with hermes-local stopped, log/development.log has no [hermes] line");
  }
  say("hermes-local stopped: the page still renders (HTTP 200), one line logged");
  if (exceptions.length) throw new Error(`page exceptions: ${exceptions.join(" | ")}`);
} catch (e) {
  failed = true;
  console.error(`walkthrough[${variant}]: FAILED: ${e.stack || e}`);
  if (puma) console.error(`--- Puma's output ---\n${puma.log.join("").slice(-4000)}`);
  if (gateway) console.error(`--- hermes-local's output ---\n${gateway.log.join("").slice(-2000)}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  await app.stopAll();
}
say(failed ? "failed" : "passed");
process.exit(failed ? 1 : 0);
