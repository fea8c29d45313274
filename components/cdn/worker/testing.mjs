// Shared by the workerd tests and the Worker benchmark: the Worker's bindings as rendered by
// components/cdn/worker_module.py (never a hand-copied configuration), a scripted origin, and one
// workerd (miniflare) running the Worker in several configurations.
// Kept outside test/ so that `node --test components/cdn/worker/test/` does not run it as a test.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare, Response as WorkerdResponse } from "miniflare";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
// WORKER_SCRIPT may name another build of the Worker (a mutated copy, to check the tests bite).
export const WORKER_SCRIPT =
  process.env.WORKER_SCRIPT ?? path.join(REPO_ROOT, "components/cdn/worker/worker.js");
export const COMPATIBILITY_DATE = "2025-09-01";
export const SITE = "http://shop.example.com";
export const META_HEADER = "x-edge-cache-meta";

const PYTHON = process.env.PYTHON ?? path.join(REPO_ROOT, ".venv/bin/python");

function renderer(...args) {
  return execFileSync(PYTHON, ["-m", "components.cdn.worker_module", ...args], {
    cwd: REPO_ROOT,
    encoding: "utf8",
  });
}

// WORKER_BINDINGS may name a JSON file (a plan's rendered bindings); otherwise the defaults are
// rendered by the Python renderer itself.
export function loadBindings() {
  if (process.env.WORKER_BINDINGS) {
    return JSON.parse(readFileSync(process.env.WORKER_BINDINGS, "utf8"));
  }
  return JSON.parse(renderer());
}

// The tier Python's tier_for_path gives each path, to compare with what the Worker does.
export function pythonTiers(paths) {
  return JSON.parse(renderer("--classify", ...paths));
}

// The edge consistency class Python gives each path ("ttl" or "event-purged").
export function pythonConsistency(paths) {
  return JSON.parse(renderer("--consistency", ...paths));
}

// The Cache-Tag Python's path_cache_tag gives each URL (the tag the invalidator purges).
export function pythonCacheTags(urls) {
  return JSON.parse(renderer("--tag", ...urls));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Returned by a handler: the Worker's fetch() rejects, as on a refused connection.
export const NETWORK_ERROR = Symbol("network error");
const NETWORK_ERROR_HEADER = "x-test-network-error";

// The origin: one script per path (so tests can run side by side), each counting its calls.
export class ScriptedOrigin {
  constructor() {
    this.scripts = new Map();
    this.fetch = async (request) => {
      const { pathname } = new URL(request.url);
      const script = this.scripts.get(pathname) ?? this.fallback;
      if (script === undefined) return new Response(`no script for ${pathname}`, { status: 599 });
      script.calls.push({
        url: request.url,
        method: request.method,
        headers: Object.fromEntries(request.headers),
      });
      const answer = await script.handler(request, script.calls.length);
      if (answer === NETWORK_ERROR) {
        return new Response(null, { status: 599, headers: { [NETWORK_ERROR_HEADER]: "1" } });
      }
      return answer;
    };
  }

  // `handler(request, callNumber)` answers every path without a script of its own.
  scriptFallback(handler) {
    this.fallback = { calls: [], handler };
    return this.fallback;
  }

  // `handler(request, callNumber)` answers requests for `pathname`; change it on the result.
  script(pathname, handler = () => new Response("origin body")) {
    if (this.scripts.has(pathname)) throw new Error(`${pathname} is scripted twice`);
    const script = { calls: [], handler };
    this.scripts.set(pathname, script);
    return script;
  }
}

// A Worker between the edge Worker and the scripted origin: an exception thrown by a service
// makes its caller's fetch() reject, which is how a real network failure looks to the Worker (a
// function outboundService can only answer with a response).
const ORIGIN_RELAY = `export default {
  async fetch(request) {
    const response = await fetch(request);
    if (response.headers.has("${NETWORK_ERROR_HEADER}")) throw new Error("connection refused");
    return response;
  },
};`;

// One workerd with the Worker under each name of `configurations` (name -> bindings), all
// behind one scripted origin. workerd's start-up dominates a test's time, hence one per file.
export async function startWorkers(configurations) {
  const origin = new ScriptedOrigin();
  const mf = new Miniflare({
    workers: [
      ...Object.entries(configurations).map(([name, bindings]) => ({
        name,
        modules: true,
        scriptPath: WORKER_SCRIPT,
        modulesRoot: path.dirname(WORKER_SCRIPT),
        compatibilityDate: COMPATIBILITY_DATE,
        bindings,
        outboundService: "origin",
      })),
      {
        name: "origin",
        modules: true,
        script: ORIGIN_RELAY,
        compatibilityDate: COMPATIBILITY_DATE,
        outboundService: origin.fetch,
      },
    ],
  });
  let cache;
  const workers = new Map();
  try {
    cache = (await mf.getCaches()).default;
    for (const name of Object.keys(configurations)) workers.set(name, await mf.getWorker(name));
  } catch (error) {
    // A Worker that fails to start must not leave workerd running (node would never exit).
    await mf.dispose();
    throw error;
  }

  // Every URL asked of a Worker: where the purge emulator looks for entries.
  const requested = new Set();

  // A request to the Worker `name`, its body read.
  const get = async (url, init, name = Object.keys(configurations)[0]) => {
    requested.add(String(url));
    const response = await workers.get(name).fetch(url, init);
    const body = await response.text();
    return { response, body, status: response.headers.get("x-cache-status") };
  };

  // The cache entry of `url` ({body, meta, tag} or undefined) once `until` holds, or at the timeout.
  // Writes run in ctx.waitUntil: tests wait for them instead of sleeping a guessed time.
  const stored = async (url, { until = (entry) => entry !== undefined, timeout = 5000 } = {}) => {
    const deadline = Date.now() + timeout;
    for (;;) {
      const entry = await cache.match(url);
      const seen = entry
        ? {
            body: await entry.text(),
            meta: JSON.parse(entry.headers.get(META_HEADER) ?? "null"),
            tag: entry.headers.get("cache-tag"),
          }
        : undefined;
      if (until(seen) || Date.now() > deadline) return seen;
      await sleep(20);
    }
  };

  // An entry as the Worker writes it, `ageSeconds` old, kept by the cache for an hour.
  const plant = async (url, body, { ageSeconds = 0, fresh = 600, swr = 0, sie = 0 } = {}) => {
    const meta = {
      storedAt: Date.now() - ageSeconds * 1000,
      fresh,
      swr,
      sie,
      cacheControl: "public, max-age=60",
    };
    const headers = { "cache-control": "max-age=3600", [META_HEADER]: JSON.stringify(meta) };
    await cache.put(url, new WorkerdResponse(body, { headers }));
  };

  // Applies a purge_cache body as Cloudflare does to the Worker's Cache API entries (read from its
  // docs, stackconfig/edge_consistency.py): tags, prefixes, hosts and everything reach them, a URL
  // (`files`) does not. workerd's cache cannot be listed, so only entries stored under a URL that
  // was requested are seen: the emulator can fail to purge, never purge what Cloudflare would not.
  // The URLs whose entries it removed.
  const purge = async (body) => {
    const tags = new Set((body.tags ?? []).map((t) => t.trim().toLowerCase()));
    const prefixes = body.prefixes ?? [];
    const hosts = new Set((body.hosts ?? []).map((h) => h.toLowerCase()));
    const removed = [];
    for (const url of requested) {
      const entry = await cache.match(url);
      if (entry === undefined) continue;
      const entryTags = (entry.headers.get("cache-tag") ?? "")
        .split(",")
        .map((t) => t.trim().toLowerCase())
        .filter((t) => t !== "");
      await entry.arrayBuffer();
      const parsed = new URL(url);
      const bare = url.slice(url.indexOf("://") + 3);
      const hit =
        body.purge_everything === true ||
        entryTags.some((t) => tags.has(t)) ||
        prefixes.some((p) => bare.startsWith(p.replace(/^https?:\/\//, ""))) ||
        hosts.has(parsed.hostname);
      if (hit && (await cache.delete(url))) removed.push(url);
    }
    return removed;
  };

  return { origin, get, stored, plant, purge, dispose: () => mf.dispose() };
}
