// The edge Worker (components/cdn/worker/worker.js) in workerd, via miniflare, on 127.0.0.1 in
// front of the catalog service: `node loadtest/edge.mjs --port P --origin URL --bindings FILE`.
// The Worker fetches its origin with the incoming URL, as on a Cloudflare route; the outbound
// service sends that request to the catalog service instead. The bindings are the ones
// components/cdn/worker_module.py renders (the harness writes them to FILE). Stops on SIGTERM.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Miniflare } from "miniflare";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WORKER = path.join(ROOT, "components/cdn/worker/worker.js");
// The Worker tests' compatibility date (components/cdn/worker/testing.mjs).
const COMPATIBILITY_DATE = "2025-09-01";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    origin: { type: "string" },
    bindings: { type: "string" },
  },
});
for (const name of ["port", "origin", "bindings"]) {
  if (!values[name]) {
    console.error(`error: --${name} is required`);
    process.exit(2);
  }
}
const origin = new URL(values.origin);

// The request as the Worker sent it, to the catalog service's address.
async function toOrigin(request) {
  const target = new URL(request.url);
  target.protocol = origin.protocol;
  target.host = origin.host;
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  return fetch(target, {
    method: request.method,
    headers: request.headers,
    body: hasBody ? await request.arrayBuffer() : undefined,
    redirect: "manual",
  });
}

const mf = new Miniflare({
  host: "127.0.0.1",
  port: Number(values.port),
  modules: true,
  scriptPath: WORKER,
  modulesRoot: path.dirname(WORKER),
  compatibilityDate: COMPATIBILITY_DATE,
  bindings: JSON.parse(readFileSync(values.bindings, "utf8")),
  outboundService: toOrigin,
});
await mf.ready;
console.log(`edge worker on 127.0.0.1:${values.port} -> ${origin.origin}`);

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await mf.dispose();
    process.exit(0);
  });
}
