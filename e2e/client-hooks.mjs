// Node module hooks resolving the browser client's bare specifiers ("hermes", "hermes/socket",
// ...) to vendor/javascript, as a page's import map does. Registered by chaos.mjs.
import path from "node:path";
import { pathToFileURL } from "node:url";
import { clientDir, clientEntries } from "./clientmap.mjs";

const files = new Map(clientEntries().map(([spec, file]) => [spec, pathToFileURL(path.join(clientDir, file)).href]));

export async function resolve(specifier, context, next) {
  const url = files.get(specifier);
  return url ? { url, format: "module", shortCircuit: true } : next(specifier, context);
}

export async function load(url, context, next) {
  // The client's files are ES modules though no package.json says so.
  if ([...files.values()].includes(url)) return next(url, { ...context, format: "module" });
  return next(url, context);
}
