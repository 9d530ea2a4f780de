// A small static site for the browser tests, served by node on 127.0.0.1 (no Rails): pages
// with Turbo 8 from npm, the connect tag's scripts as hermes_connect_tag renders them (the
// stub inlined, the import map, a module starting the page's client and loading "hermes/turbo")
// and <turbo-cable-stream-source> elements as turbo_stream_from renders them.
import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { clientDir, clientEntries, clientImports } from "./clientmap.mjs";
import { freePort, root } from "./lib.mjs";

const TURBO = path.join(root, "e2e/node_modules/@hotwired/turbo/dist/turbo.es2017-esm.js");
// As the connect tag inlines it: lines starting with // dropped.
const STUB = readFileSync(path.join(clientDir, "hermes-stub.js"), "utf8")
  .split("\n").filter((l) => !l.trimStart().startsWith("//")).join("\n").trim();

const json = (v) => JSON.stringify(v).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");
const attr = (s) => String(s).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");

// A page: `start` are the options of the client's start() (null: no client), `streams`
// [{id, signed}], `body` the rest of the body's HTML; Turbo loads `turboAfterMs` late when given.
export function page({ title, start, streams = [], body = "", turboAfterMs = null }) {
  const imports = { ...clientImports("/js/"), "@hotwired/turbo": "/turbo.js" };
  const client = start
    ? `<script type="module">
import { start } from "hermes";
const o = ${json(start)};
window.statuses ||= [];
start({ ...o, onStatus: (s, d) => window.statuses.push([s, d && typeof d === "object" ? { ...d } : d]),
  onGap: (g) => (window.gaps ||= []).push(g) });
import("hermes/turbo");
</script>`
    : "";
  const sources = streams.map((s) =>
    `<turbo-cable-stream-source id="${attr(s.id)}" channel="Turbo::StreamsChannel" signed-stream-name="${attr(s.signed)}"></turbo-cable-stream-source>`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${attr(title)}</title>
<link rel="icon" href="data:,">
<script type="importmap">${json({ imports })}</script>
<script>${STUB}</script>
${client}
${turboAfterMs === null
    ? '<script type="module">import "@hotwired/turbo";</script>'
    : `<script type="module">setTimeout(() => import("@hotwired/turbo"), ${turboAfterMs});</script>`}
</head>
<body>
${sources.join("\n")}
${body}
</body>
</html>`;
}

// Serves the client's files under /js/, Turbo at /turbo.js, and `pages(path)` (async: HTML,
// or null for a 404).
export async function startSite(pages) {
  const files = new Map(clientEntries().map(([, f]) => [`/js/${f}`, path.join(clientDir, f)]));
  files.set("/turbo.js", TURBO);
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, "http://127.0.0.1");
      const file = files.get(url.pathname);
      if (file) {
        res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-store" });
        res.end(readFileSync(file));
        return;
      }
      const html = await pages(url.pathname);
      res.writeHead(html === null ? 404 : 200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
      res.end(html ?? "not found");
    } catch (e) {
      res.writeHead(500, { "Content-Type": "text/plain" });
      res.end(String(e.stack || e));
    }
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  return { port, base: `http://127.0.0.1:${port}`, close: () => server.close() };
}
