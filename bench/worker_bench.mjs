// The edge Worker's cost per cached request (HIT) in workerd, beside a minimal Cache-API Worker
// measured in the same run: most of a dispatchFetch is the node <-> workerd round trip, so only
// the ratio means anything across machines. Goal: ratio <= 1.5.
//
//   node bench/worker_bench.mjs            (REQUESTS=1000 by default)
import { Miniflare } from "miniflare";
import {
  COMPATIBILITY_DATE,
  WORKER_SCRIPT,
  loadBindings,
} from "../components/cdn/worker/testing.mjs";

const REQUESTS = Number(process.env.REQUESTS ?? 1000);
const WARM_UP = 100;
const GOAL = 1.5;
const URL_UNDER_TEST = "http://shop.example.com/products/42?color=red&utm_source=bench";

const MINIMAL_CACHE_WORKER = `export default {
  async fetch(request, env, ctx) {
    const cached = await caches.default.match(request);
    if (cached) return cached;
    const response = await fetch(request);
    ctx.waitUntil(caches.default.put(request, response.clone()));
    return response;
  },
};`;

const body = JSON.stringify({ id: 42, name: "Trail shoe", price: 89.9, tags: Array(40).fill("x") });
let originCalls = 0;
const origin = () => {
  originCalls += 1;
  return new Response(body, {
    headers: { "content-type": "application/json", "cache-control": "max-age=3600" },
  });
};

const common = { modules: true, compatibilityDate: COMPATIBILITY_DATE, outboundService: origin };
const candidates = {
  worker: new Miniflare({ ...common, scriptPath: WORKER_SCRIPT, bindings: loadBindings() }),
  minimal: new Miniflare({ ...common, script: MINIMAL_CACHE_WORKER }),
};

async function request(mf) {
  const started = performance.now();
  const response = await mf.dispatchFetch(URL_UNDER_TEST);
  await response.arrayBuffer();
  return { ms: performance.now() - started, status: response.headers.get("x-cache-status") };
}

// The first request fills the cache (its put runs after the response): wait until a HIT.
async function warm(name, mf) {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const before = originCalls;
    await request(mf);
    if (originCalls === before) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${name}: never served from its cache`);
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

try {
  for (const [name, mf] of Object.entries(candidates)) await warm(name, mf);
  for (let i = 0; i < WARM_UP; i += 1) {
    for (const mf of Object.values(candidates)) await request(mf);
  }
  const callsBefore = originCalls;
  const times = { worker: [], minimal: [] };
  // Interleaved, so both see the same background load of a shared machine.
  for (let i = 0; i < REQUESTS; i += 1) {
    for (const [name, mf] of Object.entries(candidates)) {
      const { ms, status } = await request(mf);
      if (name === "worker" && status !== "HIT") throw new Error(`worker answered ${status}`);
      times[name].push(ms);
    }
  }
  if (originCalls !== callsBefore) throw new Error("the origin was called while measuring hits");
  const worker = median(times.worker);
  const minimal = median(times.minimal);
  const ratio = worker / minimal;
  console.log(
    `worker hit median: ${worker.toFixed(3)} ms; minimal cache worker: ${minimal.toFixed(3)} ms; ` +
      `ratio: ${ratio.toFixed(2)} (goal <= ${GOAL}) over ${REQUESTS} dispatchFetch calls each`,
  );
  if (ratio > GOAL) console.log("note: ratio above the goal in this run");
} finally {
  await Promise.all(Object.values(candidates).map((mf) => mf.dispose()));
}
