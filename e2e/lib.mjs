// What the e2e scripts share: free ports, a hermes-local process, its development endpoints.
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";

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

// hermes-local on 127.0.0.1 (memory backend unless env says otherwise); stop() kills it.
export async function startGateway(args = [], env = {}) {
  const port = await freePort();
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
    stop: () => child.kill("SIGTERM"),
  };
}
