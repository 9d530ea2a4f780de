// Turbo Streams across a hermes-local restart, in Chromium: hermes-local on its AWS backend
// against moto (DynamoDB keeps the streams' history across the restart, SQS the broadcasts
// queued while it is down), all on 127.0.0.1. A page of nobody (a streams token, signed as
// Minter::mint_streams does) shows two <turbo-cable-stream-source> elements (names signed with
// the key derived from HERMES_JWT_SECRET). hermes-local is stopped, 3 broadcasts per stream are
// queued, hermes-local starts again on the same port; the page's way back (a TCP proxy) opens
// only once the history holds them, so what the page shows it can only have recovered: each
// stream the 3 it missed, in order, once, after one recover frame naming both at their seqs.
// Run by script/test-browser under script/with-moto; bounded in time.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { launchChromium, signStream, sleep, startGateway, streamKey, streamSeqs, streamsToken, tcpProxy, until } from "./lib.mjs";
import { page as html, startSite } from "./site.mjs";

const endpoint = process.env.HERMES_TEST_AWS_ENDPOINT;
const queueUrl = process.env.HERMES_TEST_QUEUE_URL;
if (!endpoint || !queueUrl) throw new Error("run under script/with-moto (HERMES_TEST_AWS_ENDPOINT, HERMES_TEST_QUEUE_URL)");

const deadline = setTimeout(() => {
  console.error("turbo-restart: timed out after 120 s");
  process.exit(1);
}, 120000);

const say = (m) => console.log(`turbo-restart: ${m}`);
const secret = "e2e-turbo-secret-for-hs512-0123456789-abcdefghij";
const env = {
  HERMES_BACKEND: "aws",
  HERMES_AWS_ENDPOINT_URL: endpoint,
  HERMES_QUEUE_URL: queueUrl,
  HERMES_JWT_SECRET: secret,
  HERMES_PASSCODE: "e2e-passcode",
};
const key = streamKey(secret);
// Unique per run: moto's tables outlive a run only within one with-moto, but stay apart anyway.
const run = Date.now().toString(36);
const streams = { b1: `board_1_${run}`, b2: `board_2_${run}` };
const S = { b1: signStream(key, streams.b1), b2: signStream(key, streams.b2) };

// What Hermes.broadcast queues (docs/protocol.md, "Queue record"), sent with boto3 from the
// venv script/with-moto runs moto from.
function enqueue(records) {
  const bodies = records.map(([stream, data]) => JSON.stringify({ hermes: "broadcast", stream, data }));
  execFileSync(path.join(process.env.HERMES_VENV, "bin/python"), ["-c", `
import boto3, json, sys
sqs = boto3.client("sqs", endpoint_url=sys.argv[1], region_name="eu-west-1", aws_access_key_id="test", aws_secret_access_key="test")
for body in json.loads(sys.argv[3]):
    sqs.send_message(QueueUrl=sys.argv[2], MessageBody=body)
`, endpoint, queueUrl, JSON.stringify(bodies)], { timeout: 30000 });
}
const append = (stream, target, text) =>
  [stream, `<turbo-stream action="append" target="${target}"><template><p class="got">${text}</p></template></turbo-stream>`];

let gw;
let proxy;
let site;
let browser;
let failed = 0;
try {
  gw = await startGateway(["--stage", "development"], env);
  proxy = await tcpProxy(gw.port);
  site = await startSite(async (p) => p !== "/" ? null : html({
    title: "public boards",
    start: { url: proxy.url, stage: "development", anonymous: true, token: streamsToken(secret) },
    streams: [{ id: "s1", signed: S.b1 }, { id: "s2", signed: S.b2 }],
    body: '<div id="board_1"></div><div id="board_2"></div>',
  }));
  browser = await launchChromium();
  const p = await browser.newPage();
  const sent = [];
  const received = [];
  const errors = [];
  p.on("pageerror", (e) => errors.push(String(e)));
  p.on("websocket", (ws) => {
    ws.on("framesent", (f) => sent.push(JSON.parse(f.payload)));
    ws.on("framereceived", (f) => received.push(JSON.parse(f.payload)));
  });
  await p.goto(`${site.base}/`);
  await until("both streams connected", () =>
    p.evaluate(() => ["s1", "s2"].every((id) => document.getElementById(id).hasAttribute("connected"))), 20000);
  enqueue([append(streams.b1, "board_1", "b1-0"), append(streams.b2, "board_2", "b2-0")]);
  const shown = () => p.evaluate(() => ["board_1", "board_2"].map((id) => [...document.querySelectorAll(`#${id} p.got`)].map((e) => e.textContent)));
  await until("the first broadcasts", async () => JSON.stringify(await shown()) === '[["b1-0"],["b2-0"]]', 20000);
  say("a page of nobody on the AWS backend: both streams connected, first broadcasts shown");

  // Down: the page's way back cut, hermes-local stopped; 3 per stream queued meanwhile.
  proxy.cut();
  await gw.stop();
  await until("the page saw its socket go", () => p.evaluate(() => !document.getElementById("s1").hasAttribute("connected")), 10000);
  // The stopped process's last long poll (1 s) may still be open on the queue's side: a message
  // sent into it would be handed to nobody and come back only after the visibility timeout.
  await sleep(1500);
  const t0 = Date.now();
  enqueue([1, 2, 3].flatMap((n) => [append(streams.b1, "board_1", `b1-${n}`), append(streams.b2, "board_2", `b2-${n}`)]));
  gw = await startGateway(["--stage", "development"], env, gw.port);
  const restartMs = Date.now() - t0;
  await until("hermes-local to sequence what was queued", async () => {
    const at = await streamSeqs(gw.url, secret, [S.b1, S.b2]).catch(() => ({}));
    return at[streams.b1] === 4 && at[streams.b2] === 4;
  }, 30000);
  if (JSON.stringify(await shown()) !== '[["b1-0"],["b2-0"]]') throw new Error("the page got frames while cut off: the test shows nothing");
  const sentBefore = sent.length;
  const t1 = Date.now();
  proxy.restore();
  await until("each stream's 3 missed broadcasts", async () => (await shown()).flat().length === 8, 30000);
  const recoveredMs = Date.now() - t1;
  await sleep(1000); // a duplicate would show now
  const got = await shown();
  if (JSON.stringify(got) !== '[["b1-0","b1-1","b1-2","b1-3"],["b2-0","b2-1","b2-2","b2-3"]]') throw new Error(`after the restart: ${JSON.stringify(got)}`);
  const recovers = sent.slice(sentBefore).filter((f) => f.action === "recover");
  if (recovers.length !== 1 || "since" in recovers[0] || recovers[0].streams.length !== 2 ||
      !recovers[0].streams.every((s) => s.since === 1 && typeof s.epoch === "string" && s.epoch)) {
    throw new Error(`recover frames after the restart: ${JSON.stringify(recovers)}`);
  }
  const answers = received.filter((f) => f.hermes === "recovered" && f.stream);
  const last = (s) => answers.filter((a) => a.stream === s).pop();
  if (!last(streams.b1)?.recovered || !last(streams.b2)?.recovered || last(streams.b1).seq !== 4) {
    throw new Error(`recovered answers: ${JSON.stringify(answers)}`);
  }
  if (await p.evaluate(() => (window.gaps || []).length)) throw new Error(`onGap called: ${JSON.stringify(await p.evaluate(() => window.gaps))}`);
  if (errors.length) throw new Error(`page errors: ${errors.join(" | ")}`);
  say(`3 broadcasts per stream queued and hermes-local started again in ${restartMs} ms; once the page could reach it, one ` +
    `recover frame (both streams at seq 1) and each stream showed its 3, in order, once, ${recoveredMs} ms later; no gap`);
} catch (e) {
  failed = 1;
  console.error(`turbo-restart: FAILED: ${e.stack || e}`);
} finally {
  clearTimeout(deadline);
  if (browser) await browser.close().catch(() => {});
  if (site) site.close();
  if (proxy) proxy.close();
  if (gw) await gw.stop();
}
console.log(`turbo-restart: ${failed ? "0 passed, 1 failed" : "1 passed, 0 failed"}`);
process.exit(failed);
