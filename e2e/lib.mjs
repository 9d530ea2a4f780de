// What the e2e scripts share: free ports, a hermes-local process, its development endpoints,
// Chromium, a TCP proxy, signed stream names and streams tokens.
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { chromium } from "playwright-core";
import WebSocket from "ws";

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

// Waits for `cond()` (sync or async) to hold, polling; throws `what` after `ms`.
export async function until(what, cond, ms = 30000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms / 1000} s`);
    await sleep(50);
  }
}

// hermes-local on 127.0.0.1 (memory backend unless env says otherwise), on `port` when given
// (a restart keeps the pages' URL); stop() kills it and resolves once it has exited.
export async function startGateway(args = [], env = {}, port = null) {
  port ||= await freePort();
  const bin = path.join(process.env.CARGO_TARGET_DIR || path.join(process.env.HOME, ".cache/hermes/target"), "debug", "hermes-local");
  const child = spawn(bin, ["--port", String(port), ...args], {
    env: { ...process.env, RUST_LOG: "warn", ...env },
    stdio: ["ignore", "inherit", "inherit"],
  });
  await until("hermes-local listening", () =>
    new Promise((r) => net.connect(port, "127.0.0.1").on("connect", function () { this.end(); r(true); }).on("error", () => r(false))),
  );
  const call = async (method, p, body) => {
    const res = await fetch(`http://127.0.0.1:${port}${p}`, {
      method,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    post: (p, body) => call("POST", p, body),
    del: (p, body) => call("DELETE", p, body),
    stop: () => {
      const exited = child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      return exited;
    },
  };
}

export function launchChromium() {
  return chromium.launch({
    executablePath: ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].find((p) => existsSync(p)),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
    timeout: 30000,
  });
}

// A TCP proxy on 127.0.0.1 to `targetPort`, as between a page and a gateway: cut() resets its
// connections and refuses new ones (a network drop) until restore().
export async function tcpProxy(targetPort) {
  const port = await freePort();
  const pairs = new Set();
  let open = true;
  let accepted = 0;
  const server = net.createServer((client) => {
    if (!open) {
      client.resetAndDestroy();
      return;
    }
    accepted += 1;
    const upstream = net.connect(targetPort, "127.0.0.1");
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    for (const s of [client, upstream]) s.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  const cut = () => {
    for (const { client, upstream } of pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    pairs.clear();
  };
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    accepted: () => accepted,
    connections: () => pairs.size,
    cut() {
      open = false;
      cut();
    },
    restore() {
      open = true;
    },
    close() {
      open = false;
      cut();
      server.close();
    },
  };
}

const hmac = (algo, key, data, encoding) => createHmac(algo, key).update(data).digest(encoding);

// The stream key (core/src/stream_name.rs): derived from HERMES_JWT_SECRET, or, on
// hermes-local's memory backend, the fixed development key.
export const streamKey = (secret) => hmac("sha256", secret, "hermes signed stream names v1", "hex");
export const developmentStreamKey = () => streamKey("hermes-local development");

// What the Rails app renders as signed-stream-name (ActiveSupport::MessageVerifier, SHA256,
// JSON): base64 of the JSON of the name, "--", the hex HMAC of that base64.
export function signStream(key, name) {
  const data = Buffer.from(JSON.stringify(name)).toString("base64");
  return `${data}--${hmac("sha256", key, data, "hex")}`;
}

// Throws unless signStream agrees with the vectors ActiveSupport itself wrote.
export function checkStreamVectors() {
  const v = JSON.parse(readFileSync(path.join(root, "core/tests/vectors/streams.json"), "utf8"));
  for (const { name, signed } of v.signed) {
    if (signStream(v.key, name) !== signed) throw new Error(`signStream disagrees with the vectors for ${JSON.stringify(name)}`);
  }
  return v.signed.length;
}

// A streams token (a page of nobody), as Minter::mint_streams makes it: HS512 over
// {"scope": "streams", "exp", "iat"}.
export function streamsToken(secret, ttlSecs = 3600) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ typ: "JWT", alg: "HS512" })}.${b64({ scope: "streams", exp: now + ttlSecs, iat: now })}`;
  return `${body}.${hmac("sha512", secret, body, "base64url")}`;
}

// Where each stream's history stands, as a fresh subscription on a socket of nobody's own on the
// gateway at `wsUrl` (stage development) tells: {stream: seq}, {} if it answers nothing in 5 s.
export async function streamSeqs(wsUrl, secret, signedNames) {
  const ws = new WebSocket(`${wsUrl}/development?token=${encodeURIComponent(streamsToken(secret))}`);
  try {
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    const answer = new Promise((resolve) => ws.on("message", (m) => {
      const f = JSON.parse(m);
      if (f.hermes === "subscribed") resolve(f.streams);
    }));
    ws.send(JSON.stringify({ action: "subscribe", streams: signedNames }));
    const got = await Promise.race([answer, sleep(5000).then(() => [])]);
    return Object.fromEntries(got.map((s) => [s.stream, s.seq]));
  } finally {
    ws.terminate();
  }
}
