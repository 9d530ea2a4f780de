// What the walkthrough's browser halves (run.mjs, turbo.mjs) share: the app's processes (Puma,
// `bundle exec hermes-local` from the app, `bin/rails runner`), each in its own process group so
// stopping it stops what it started, and a time limit that kills them all.
import { spawn, execFile } from "node:child_process";
import net from "node:net";
import { freePort, launchChromium, sleep } from "../lib.mjs";

export { freePort, launchChromium, sleep };

// Polls `check` (errors count as "not yet") until it gives something truthy, which it returns.
export async function until(what, check, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = await check().catch(() => false);
    if (got) return got;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(200);
  }
}

export const listening = (port) =>
  new Promise((r) => net.connect(port, "127.0.0.1").on("connect", function () { this.end(); r(true); }).on("error", () => r(false)));

// The Rails app in APP_DIR and the processes a developer runs beside it. `env` is the shell
// they run in. `limitMs` bounds the whole run: past it, everything started is killed and the
// process exits 1.
export function appProcesses({ appDir, label, env, limitMs }) {
  const started = Date.now();
  const say = (m) => console.log(`${label} ${((Date.now() - started) / 1000).toFixed(1)}s: ${m}`);
  const children = new Set();

  function start(cmd, args, opts = {}) {
    const child = spawn(cmd, args, { cwd: appDir, env, detached: true, stdio: ["ignore", "pipe", "pipe"], ...opts });
    const log = [];
    const keep = (d) => { log.push(d.toString()); if (log.length > 200) log.shift(); };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.log = log;
    children.add(child);
    child.on("exit", () => children.delete(child));
    return child;
  }

  async function stop(child) {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    try { process.kill(-child.pid, "SIGTERM"); } catch {}
    const timer = setTimeout(() => { try { process.kill(-child.pid, "SIGKILL"); } catch {} }, 10000);
    await exited;
    clearTimeout(timer);
  }

  // hermes-local as a developer starts it in another terminal: `bundle exec hermes-local` from
  // the app. The port was free a moment ago and is reused on restart; retried if something
  // took it.
  async function startLocal(port, args = [], extraEnv = {}) {
    for (let i = 0; i < 5; i++) {
      const gw = start("bundle", ["exec", "hermes-local", "--port", String(port), ...args], { env: { ...env, ...extraEnv } });
      const exited = new Promise((r) => gw.once("exit", () => r("exited")));
      const up = await Promise.race([exited, until("hermes-local to listen", async () => (await listening(port)) && "up", 20000)]);
      if (up === "up" && gw.exitCode === null) return gw;
      say(`hermes-local did not start: ${gw.log.join("").trim()}`);
      await sleep(500);
    }
    throw new Error("hermes-local could not bind its port");
  }

  async function startPuma(port, extraEnv = {}) {
    const puma = start("bin/rails", ["server", "-b", "127.0.0.1", "-p", String(port)], { env: { ...env, ...extraEnv } });
    const base = `http://127.0.0.1:${port}`;
    await until("Puma to answer", async () => (await fetch(`${base}/`)).status === 200, 90000).catch((e) => {
      throw new Error(`${e.message}\n${puma.log.join("")}`);
    });
    return puma;
  }

  const runner = (code, extraEnv = {}) =>
    new Promise((resolve, reject) =>
      execFile("bin/rails", ["runner", code], { cwd: appDir, env: { ...env, ...extraEnv }, timeout: 90000 }, (e, out, err) =>
        e ? reject(new Error(`bin/rails runner failed: ${e.message}\n${out}\n${err}`)) : resolve(out.trim())));

  const deadline = setTimeout(() => {
    console.error(`${label}: timed out after ${limitMs / 1000} s`);
    for (const c of children) { try { process.kill(-c.pid, "SIGKILL"); } catch {} }
    process.exit(1);
  }, limitMs);

  async function stopAll() {
    clearTimeout(deadline);
    for (const c of [...children]) await stop(c);
  }

  return { say, start, stop, startLocal, startPuma, runner, stopAll };
}

// A development endpoint of the hermes-local on `port` (what the gem's local backend calls):
// POSTs `body`, returns the JSON answer.
export async function gatewayDev(port, path, body) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path} answered ${res.status}`);
  return res.json();
}

// Page errors collected, failed responses and console errors printed with tokens filtered out.
export function watchPage(page, label, exceptions) {
  page.on("pageerror", (e) => exceptions.push(String(e)));
  page.on("response", (r) => {
    if (r.status() >= 400) console.log(`${label} ${r.status()} for ${r.url().replace(/token=[^&]+/, "token=[FILTERED]")}`);
  });
  page.on("console", (m) => {
    if (m.type() === "error") console.log(`${label} page console: ${m.text().replace(/token=[^'&\s]+/g, "token=[FILTERED]")}`);
  });
}
