// The browser client's import map, by the rule its files follow: vendor/javascript/hermes.js is
// the entry "hermes", hermes-NAME.js the entry "hermes/NAME" (hermes-stub.js is inlined by the
// connect tag, not an entry). Test pages get it as an import map; Node (chaos.mjs) through
// client-hooks.mjs.
import { readdirSync } from "node:fs";
import path from "node:path";

export const clientDir = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../vendor/javascript");

// [[specifier, file name], ...]
export function clientEntries() {
  return readdirSync(clientDir)
    .filter((f) => /^hermes(-[a-z]+)?\.js$/.test(f) && f !== "hermes-stub.js")
    .sort()
    .map((f) => [f === "hermes.js" ? "hermes" : `hermes/${f.slice("hermes-".length, -".js".length)}`, f]);
}

// {"hermes": `${prefix}hermes.js`, "hermes/socket": `${prefix}hermes-socket.js`, ...}
export function clientImports(prefix) {
  return Object.fromEntries(clientEntries().map(([spec, file]) => [spec, `${prefix}${file}`]));
}
