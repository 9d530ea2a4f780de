// The whole chain in a real browser, bounded in time, on 127.0.0.1 only:
//   the gem mints a token into DynamoDB (moto) -> Chromium opens hermes-local's page with it ->
//   the gem enqueues a notification into SQS (moto) -> hermes-local polls it into the send
//   handler -> the management API pushes it to the page -> the page shows it.
// Run by script/test-browser under script/with-moto; writes test-results/e2e.png.
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const endpoint = process.env.HERMES_TEST_AWS_ENDPOINT;
const queueUrl = process.env.HERMES_TEST_QUEUE_URL;
if (!endpoint || !queueUrl) throw new Error("run under script/with-moto (HERMES_TEST_AWS_ENDPOINT, HERMES_TEST_QUEUE_URL)");

const room = `e2e-${Date.now().toString(36)}`;
const env = {
  ...process.env,
  HERMES_BACKEND: "aws",
  HERMES_AWS_ENDPOINT_URL: endpoint,
  HERMES_QUEUE_URL: queueUrl,
  HERMES_JWT_SECRET: "e2e-secret-for-hs512-0123456789-abcdefghij",
  HERMES_PASSCODE: "e2e-passcode",
  HERMES_BCRYPT_COST: "4",
};

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const ruby = (code) => execFileSync("ruby", ["-I", path.join(root, "lib"), "-e", `require "hermes"; ${code}`], { env, timeout: 30000 }).toString();

const results = { passed: 0, failed: 0 };
let gateway;
let browser;
const deadline = setTimeout(() => {
  console.error("e2e: timed out after 90 s");
  process.exit(1);
}, 90000);

try {
  const port = await freePort();
  const bin = path.join(process.env.CARGO_TARGET_DIR, "debug", "hermes-local");
  gateway = spawn(bin, ["--port", String(port), "--stage", "development"], { env, stdio: ["ignore", "inherit", "inherit"] });
  for (let i = 0; ; i++) {
    const up = await new Promise((r) => net.connect(port, "127.0.0.1").on("connect", function () { this.end(); r(true); }).on("error", () => r(false)));
    if (up) break;
    if (i > 100) throw new Error("hermes-local did not start");
    await new Promise((r) => setTimeout(r, 100));
  }

  const token = ruby(`print Hermes.generate_token(user_id: 42, company_code: ${JSON.stringify(room)})`);
  const executablePath = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].find((p) => existsSync(p));
  browser = await chromium.launch({
    executablePath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: 30000,
  });
  const page = await browser.newPage();
  const pageErrors = [];
  page.on("console", (m) => {
    console.log(`page: ${m.text()}`);
    if (m.type() === "error") pageErrors.push(m.text());
  });
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  await page.goto(`http://127.0.0.1:${port}/?token=${encodeURIComponent(token)}&user=42&room=${room}`);
  await page.waitForFunction(() => document.getElementById("status").textContent === "open", null, { timeout: 15000 });

  const id = ruby(`print Hermes.enqueue_notification(user_id: 7, room_id: ${JSON.stringify(room)}, data: { type: "info", data: "Backup finished" })`);
  const item = await page.waitForSelector('#log li[data-type="info"]', { timeout: 20000 });
  const text = await item.textContent();
  if (!text.includes("Backup finished") || !text.includes("from user 7")) throw new Error(`unexpected notification text: ${text}`);
  if (pageErrors.length) throw new Error(`the page logged errors: ${pageErrors.join(" | ")}`);
  mkdirSync(path.join(root, "test-results"), { recursive: true });
  await page.screenshot({ path: path.join(root, "test-results", "e2e.png"), fullPage: true });
  console.log(`e2e: notification ${id} reached the page: "${text}" (screenshot test-results/e2e.png)`);
  results.passed += 1;
} catch (e) {
  console.error(`e2e: FAILED: ${e.stack || e}`);
  results.failed += 1;
} finally {
  clearTimeout(deadline);
  if (browser) await browser.close().catch(() => {});
  if (gateway) gateway.kill("SIGTERM");
}
console.log(`${results.passed} passed, ${results.failed} failed`);
process.exit(results.failed ? 1 : 0);
