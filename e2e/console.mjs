// hermes-local's demo page as a console, in Chromium (memory backend, 127.0.0.1):
//   - a page connects as user 42 in ACME and subscribes to the stream board_1 (signed by
//     POST /_hermes/streams/sign); the console lists its socket, the room and the stream;
//   - the broadcast form reaches it: the Turbo Stream's HTML shows as text in the page's log,
//     and the frame among the last frames posted; the enqueue form reaches the room;
//   - a second page, of nobody, subscribes to board_1 too: the console counts 2 sockets in the
//     stream, one of them nobody's.
// Needs the browser client's streams (HermesSocket#stream). Bounded in time; writes
// test-results/console.png.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { launchChromium, root, startGateway } from "./lib.mjs";

const deadline = setTimeout(() => {
  console.error("console: timed out after 90 s");
  process.exit(1);
}, 90000);

let gw;
let browser;
let failed = 0;
try {
  gw = await startGateway(["--stage", "development"], { HERMES_BACKEND: "memory" });
  browser = await launchChromium();
  const errors = [];
  const open = async () => {
    const page = await browser.newPage();
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.goto(`http://127.0.0.1:${gw.port}/`);
    return page;
  };
  // The text of a table's rows, cell by cell.
  const rows = (page, id) =>
    page.$$eval(`#${id} tbody tr`, (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
  const waitRow = (page, id, pred, what) =>
    page.waitForFunction(
      ({ id, src }) => [...document.querySelectorAll(`#${id} tbody tr`)]
        .map((tr) => [...tr.cells].map((td) => td.textContent))
        .some(new Function("r", `return (${src})(r)`)),
      { id, src: pred.toString() },
      { timeout: 15000 },
    ).catch(async () => { throw new Error(`${what}: not shown; ${id} has ${JSON.stringify(await rows(page, id))}`); });

  const user = await open();
  await user.click("#connect");
  await user.waitForFunction(() => document.getElementById("status").textContent === "open", null, { timeout: 15000 });
  await user.fill("#stream", "board_1");
  await user.click("#subscribe");
  await user.waitForFunction(() => [...document.querySelectorAll("#log li")].some((li) => li.textContent === "subscribed to board_1"),
    null, { timeout: 15000 });
  await waitRow(user, "sockets", (r) => r[1] === "42" && r[2] === "ACME" && r[4] === "board_1", "the user's socket");
  await waitRow(user, "rooms", (r) => r[0] === "ACME" && r[1] === "1" && r[2] === "42", "the room");
  await waitRow(user, "streams", (r) => r[0] === "board_1" && r[1] === "1", "the stream");

  await user.fill("#broadcast-stream", "board_1");
  await user.click("#broadcast");
  const got = await user.waitForSelector('#log li[data-stream="board_1"]', { timeout: 15000 });
  const text = await got.textContent();
  if (!text.includes('<turbo-stream action="append" target="cards">')) throw new Error(`the broadcast shown as ${text}`);
  if (await user.$("#log template")) throw new Error("a frame's HTML was rendered into the page");
  await waitRow(user, "frames", (r) => r[3] === "200" && r[4].includes('"stream":"board_1"'), "the broadcast's frame");

  await user.click("#notify");
  await user.waitForSelector('#log li[data-type="info"]', { timeout: 15000 });
  await waitRow(user, "frames", (r) => r[4].includes('"type":"info"'), "the notification's frame");

  const nobody = await open();
  await nobody.click("#anonymous");
  await nobody.fill("#stream", "board_1");
  await nobody.click("#subscribe");
  await nobody.waitForFunction(() => document.getElementById("status").textContent === "open", null, { timeout: 15000 });
  await waitRow(user, "streams", (r) => r[0] === "board_1" && r[1] === "2" && r[2] === "42", "the stream's two sockets");
  await waitRow(user, "sockets", (r) => r[1] === "nobody" && r[2] === "—" && r[4] === "board_1", "the socket of nobody");

  if (errors.length) throw new Error(`the pages logged errors: ${errors.join(" | ")}`);
  mkdirSync(path.join(root, "test-results"), { recursive: true });
  await user.screenshot({ path: path.join(root, "test-results", "console.png"), fullPage: true });
  console.log("console: sockets, rooms, streams and frames shown; the forms reach the page (test-results/console.png)");
} catch (e) {
  console.error(`console: FAILED: ${e.stack || e}`);
  failed += 1;
} finally {
  clearTimeout(deadline);
  if (browser) await browser.close().catch(() => {});
  if (gw) gw.stop();
}
console.log(`${failed ? 0 : 1} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
