// The edge caching Worker of ADR-011: caches anonymous GET/HEAD responses in the data centre's
// Cache API on the short/medium/long TTL tiers, serves stale copies per RFC 5861, and never lets
// one user's response reach another.
//
// Configured only through plain-text bindings (rendered by components/cdn/bindings.py):
//   SESSION_COOKIE   cookie name marking a signed-in user
//   BYPASS_PATHS     JSON list of path prefixes never cached (matched on the decoded,
//                    lower-cased path: /Cart and /%63art are /cart)
//   PUBLIC_PATHS     JSON list of path prefixes whose responses are the same for everyone: only
//                    there (and for static extensions) is a response without Cache-Control cached
//   CACHE_TIERS      JSON {tier: {edgeTtl, browserTtl, staleWhileRevalidate, staleIfError}}
//   TIER_RULES       JSON [{tier, pathPrefixes?, extensions?}]
//   TRACKING_PARAMS  JSON list of query parameters dropped from the cache key ("utm_*": prefix)
//   EVENT_PURGED     JSON {pathPrefixes, edgeTtl}: the event-purged consistency class
//                    (matched on the routed path like BYPASS_PATHS)
//
// The Cache API ignores stale-while-revalidate and stale-if-error, so an entry is stored for its
// freshness lifetime plus the longer stale window, and the Worker decides from the metadata it
// keeps in an internal header of the stored copy. Internal headers never leave the Worker.
//
// Found again by a purge (stackconfig/edge_consistency.py has the sources): cache.delete would
// reach one data center only, and a purge by URL does not reach an entry stored under the
// Worker's own key; a purge by Cache-Tag does, in every data center and on every plan. So every
// stored copy carries `Cache-Tag: path:<host><routed path>` (pathCacheTag; the invalidator
// computes the same tag with path_cache_tag for each URL an event names). An event-purged path is
// never served stale and browsers keep no copy of it: its edge TTL is only the backstop for a
// lost event.

const STATUS_HEADER = "x-cache-status";
const META_HEADER = "x-edge-cache-meta";
const INTERNAL_HEADER_PREFIX = "x-edge-";
const CACHE_TAG_HEADER = "cache-tag";
const PATH_TAG_PREFIX = "path:";
// A purge call takes tags of at most 1,024 characters; a longer one is cut (a shared prefix then
// shares a tag: one purge drops both, a harmless miss).
const MAX_CACHE_TAG_LENGTH = 1024;
// No purge reaches a browser: an event-purged response is revalidated on every use.
const EVENT_PURGED_BROWSER_CACHE_CONTROL = "public, max-age=0, must-revalidate";

// A tier's default lifetime applies only to successful answers: a 404 cached for a day would
// hide a page published an hour later. An origin that sets max-age explicitly may cache more.
const TIER_CACHEABLE_STATUSES = new Set([200, 203, 204, 300, 301, 308]);
const EXPLICITLY_CACHEABLE_STATUSES = new Set([
  ...TIER_CACHEABLE_STATUSES,
  404, 405, 410, 414, 501,
]);
// The only Vary the cache key honours by itself (the Cache API and the edge normalise it). A
// response varying on anything else (Accept-Language, Origin, Cookie, *) has variants the key
// does not tell apart: the first visitor's would be served to everyone.
const SHAREABLE_VARY = new Set(["accept-encoding"]);
const UNCACHEABLE_DIRECTIVES = ["no-store", "private", "no-cache"];
const CONDITIONAL_HEADERS = [
  "if-none-match",
  "if-modified-since",
  "if-match",
  "if-unmodified-since",
  "if-range",
];

// W3C Trace Context: the client's trace continues at the origin. The Worker records no span of
// its own, so it forwards a valid `traceparent` (and its `tracestate`) unchanged on every origin
// fetch (fills, revalidations, background refreshes, bypasses) and drops a malformed pair, which
// the origin's SDK would otherwise have to distrust. Neither is part of the cache key.
const TRACEPARENT = /^[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

function withTraceContext(request) {
  const traceparent = request.headers.get("traceparent");
  if (traceparent === null || (TRACEPARENT.test(traceparent) && !traceparent.startsWith("ff"))) {
    return request;
  }
  const headers = new Headers(request.headers);
  headers.delete("traceparent");
  headers.delete("tracestate");
  return new Request(request, { headers });
}

const configs = new WeakMap();

function parseJsonBinding(env, name) {
  const raw = env[name];
  if (typeof raw !== "string" || raw === "") {
    throw new Error(`binding ${name} is missing`);
  }
  return JSON.parse(raw);
}

function readConfig(env) {
  const sessionCookie = env.SESSION_COOKIE;
  if (typeof sessionCookie !== "string" || sessionCookie === "") {
    throw new Error("binding SESSION_COOKIE is missing");
  }
  const tiers = parseJsonBinding(env, "CACHE_TIERS");
  const rules = parseJsonBinding(env, "TIER_RULES").map((rule) => {
    if (!(rule.tier in tiers)) throw new Error(`TIER_RULES names unknown tier ${rule.tier}`);
    return {
      tier: tiers[rule.tier],
      prefixes: rule.pathPrefixes ?? [],
      extensions: new Set((rule.extensions ?? []).map((e) => e.toLowerCase())),
    };
  });
  const tracking = parseJsonBinding(env, "TRACKING_PARAMS").map((p) => p.toLowerCase());
  const lowerPaths = (name) => parseJsonBinding(env, name).map((p) => p.toLowerCase());
  const eventPurged = parseJsonBinding(env, "EVENT_PURGED");
  if (!Array.isArray(eventPurged.pathPrefixes) || !(eventPurged.edgeTtl > 0)) {
    throw new Error("binding EVENT_PURGED needs pathPrefixes and a positive edgeTtl");
  }
  return {
    sessionCookie,
    bypassPaths: lowerPaths("BYPASS_PATHS"),
    publicPaths: parseJsonBinding(env, "PUBLIC_PATHS"),
    rules,
    trackingExact: new Set(tracking.filter((p) => !p.endsWith("*"))),
    trackingPrefixes: tracking.filter((p) => p.endsWith("*")).map((p) => p.slice(0, -1)),
    eventPurgedPaths: eventPurged.pathPrefixes.map((p) => p.toLowerCase()),
    eventPurgedTier: {
      edgeTtl: eventPurged.edgeTtl,
      browserTtl: 0,
      staleWhileRevalidate: 0,
      staleIfError: 0,
      eventPurged: true,
    },
  };
}

function configFor(env) {
  let config = configs.get(env);
  if (config === undefined) {
    config = readConfig(env);
    configs.set(env, config);
  }
  return config;
}

function hasCookie(request, name) {
  const header = request.headers.get("cookie");
  if (!header) return false;
  return header.split(";").some((pair) => pair.split("=", 1)[0].trim() === name);
}

// The path as an origin is likely to route it: percent-decoded, case-folded, runs of '/' as one.
// null when it does not decode (such a request is never cached).
function routedPath(pathname) {
  try {
    return decodeURIComponent(pathname).toLowerCase().replace(/\/{2,}/g, "/");
  } catch {
    return null;
  }
}

// The tag every stored copy of `url` carries, whatever its query: host and routed path, encoded
// as encodeURIComponent does with '/' kept. stackconfig/edge_consistency.py path_cache_tag is the
// twin. null when the path does not decode (such a request is never cached).
function pathCacheTag(url) {
  const path = routedPath(url.pathname);
  if (path === null) return null;
  const encoded = encodeURIComponent(path).replace(/%2F/g, "/");
  return `${PATH_TAG_PREFIX}${url.hostname}${encoded}`.slice(0, MAX_CACHE_TAG_LENGTH);
}

function isEventPurged(pathname, config) {
  const path = routedPath(pathname);
  return path !== null && config.eventPurgedPaths.some((prefix) => path.startsWith(prefix));
}

function isBypassed(request, url, config) {
  const path = routedPath(url.pathname);
  return (
    (request.method !== "GET" && request.method !== "HEAD") ||
    request.headers.has("authorization") ||
    hasCookie(request, config.sessionCookie) ||
    path === null ||
    config.bypassPaths.some((prefix) => path.startsWith(prefix))
  );
}

function isTrackingParam(name, config) {
  const lower = name.toLowerCase();
  return (
    config.trackingExact.has(lower) || config.trackingPrefixes.some((p) => lower.startsWith(p))
  );
}

// Tracking parameters never change the page; the order of differently named ones never does
// either. Repeated names keep their order (?id=2&id=1 may mean something else than ?id=1&id=2):
// the sort compares names only and is stable. This URL is also the one the origin is asked for,
// so a parameter left out of the key can never shape a stored page.
function cacheKeyUrl(url, config) {
  const key = new URL(url);
  const kept = [...url.searchParams].filter(([name]) => !isTrackingParam(name, config));
  kept.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  key.search = new URLSearchParams(kept).toString();
  key.hash = "";
  return key.toString();
}

// A static extension wins over any prefix; otherwise the longest prefix wins (/api/prices over
// /api/), a tie going to the later rule. stackconfig/tiers.py tier_for_path is the twin.
function extensionOf(pathname) {
  const lastSegment = pathname.slice(pathname.lastIndexOf("/") + 1);
  const dot = lastSegment.lastIndexOf(".");
  return dot >= 0 ? lastSegment.slice(dot + 1).toLowerCase() : "";
}

function tierFor(pathname, config) {
  const extension = extensionOf(pathname);
  let chosen = null;
  let longest = -1;
  for (const rule of config.rules) {
    if (extension && rule.extensions.has(extension)) return rule.tier;
    for (const prefix of rule.prefixes) {
      if (pathname.startsWith(prefix) && prefix.length >= longest) {
        chosen = rule.tier;
        longest = prefix.length;
      }
    }
  }
  return chosen;
}

// Static assets and the configured public prefixes: where a response without Cache-Control is
// known to be the same for everyone (anything else may be personal: /api/orders, /api/me).
function isKnownPublic(pathname, config) {
  const extension = extensionOf(pathname);
  return (
    (extension !== "" && config.rules.some((rule) => rule.extensions.has(extension))) ||
    config.publicPaths.some((prefix) => pathname.startsWith(prefix))
  );
}

function parseCacheControl(header) {
  const directives = new Map();
  if (!header) return directives;
  for (const part of header.split(",")) {
    const [rawName, ...rest] = part.split("=");
    const name = rawName.trim().toLowerCase();
    if (name) directives.set(name, rest.join("=").trim().replace(/^"|"$/g, ""));
  }
  return directives;
}

function seconds(directives, name) {
  if (!directives.has(name)) return undefined;
  const value = Number.parseInt(directives.get(name), 10);
  return Number.isFinite(value) && value >= 0 ? value : 0;
}

// How long the edge may keep `response`, or null when it must not be stored at all.
// `knownPublic`: the path may be cached on its tier without the origin saying so.
function storagePolicy(response, tier, knownPublic, now) {
  const headers = response.headers;
  if (headers.has("set-cookie")) return null;
  const vary = (headers.get("vary") ?? "").split(",").map((v) => v.trim().toLowerCase());
  if (vary.some((v) => v !== "" && !SHAREABLE_VARY.has(v))) return null;
  const directives = parseCacheControl(headers.get("cache-control"));
  if (UNCACHEABLE_DIRECTIVES.some((d) => directives.has(d))) return null;

  let fresh = seconds(directives, "s-maxage") ?? seconds(directives, "max-age");
  if (fresh === undefined && headers.has("expires")) {
    const expires = Date.parse(headers.get("expires"));
    const date = Date.parse(headers.get("date") ?? "") || now;
    fresh = Number.isNaN(expires) ? 0 : Math.floor((expires - date) / 1000);
  }
  const explicit = fresh !== undefined;
  if (!explicit) {
    if (tier === null || !knownPublic) return null;
    fresh = tier.edgeTtl;
  }
  const statuses = explicit ? EXPLICITLY_CACHEABLE_STATUSES : TIER_CACHEABLE_STATUSES;
  if (!statuses.has(response.status) || fresh <= 0) return null;

  if (tier?.eventPurged) {
    // Whatever the origin allows: no stale copy, and no longer than the backstop TTL.
    return {
      fresh: Math.min(fresh, tier.edgeTtl),
      swr: 0,
      sie: 0,
      cacheControl: EVENT_PURGED_BROWSER_CACHE_CONTROL,
    };
  }
  const swr = seconds(directives, "stale-while-revalidate") ?? tier?.staleWhileRevalidate ?? 0;
  const sie = seconds(directives, "stale-if-error") ?? tier?.staleIfError ?? 0;
  let cacheControl = headers.get("cache-control");
  if (tier !== null) {
    // Browsers never keep a copy longer than the edge, nor longer than the origin allows them.
    const limits = [tier.browserTtl, fresh, seconds(directives, "max-age") ?? Infinity];
    cacheControl = `public, max-age=${Math.min(...limits)}`;
  }
  return { fresh, swr, sie, cacheControl };
}

function withoutInternalHeaders(headers) {
  const clean = new Headers(headers);
  for (const name of [...clean.keys()]) {
    if (name.startsWith(INTERNAL_HEADER_PREFIX)) clean.delete(name);
  }
  return clean;
}

async function store(cache, key, response, policy, now) {
  const headers = withoutInternalHeaders(response.headers);
  headers.delete("age");
  // The Cache API evicts at max-age: keep the copy through the longer of the stale windows.
  const keep = policy.fresh + Math.max(policy.swr, policy.sie);
  headers.set("cache-control", `public, max-age=${keep}`);
  const tag = pathCacheTag(new URL(key.url));
  if (tag !== null) headers.set(CACHE_TAG_HEADER, tag);
  headers.set(META_HEADER, JSON.stringify({ storedAt: now, ...policy }));
  const copy = new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
  await cache.put(key, copy);
}

function readMeta(cached) {
  try {
    const meta = JSON.parse(cached.headers.get(META_HEADER) ?? "null");
    if (meta && Number.isFinite(meta.storedAt) && Number.isFinite(meta.fresh)) {
      return { ...meta, swr: meta.swr ?? 0, sie: meta.sie ?? 0 };
    }
  } catch {
    // An entry this Worker did not write: treated as absent.
  }
  return null;
}

function respond(response, status, { head = false, cacheControl, age } = {}) {
  const headers = withoutInternalHeaders(response.headers);
  // Cloudflare strips it from what leaves the edge; a stored copy's own must not leak either.
  headers.delete(CACHE_TAG_HEADER);
  // null: the origin sent none, and the stored copy's own (the edge's lifetime) must not leak.
  if (cacheControl !== undefined) {
    if (cacheControl === null) headers.delete("cache-control");
    else headers.set("cache-control", cacheControl);
  }
  if (age !== undefined) headers.set("age", String(Math.max(0, Math.floor(age))));
  headers.set(STATUS_HEADER, status);
  return new Response(head ? null : response.body, {
    status: response.status,
    statusText: response.statusText,
    headers,
  });
}

function badGateway() {
  return new Response("origin unreachable\n", {
    status: 502,
    headers: { "content-type": "text/plain", "cache-control": "no-store" },
  });
}

async function originFetch(request) {
  try {
    return await fetch(request);
  } catch (error) {
    console.error(`origin fetch failed: ${error}`);
    return null;
  }
}

// The request that fills the cache: always a GET (a HEAD is answered from the GET entry) for the
// cache key's URL, with the client's conditionals replaced by the stored copy's validators when
// revalidating.
function fillRequest(request, key, validators) {
  const headers = new Headers(request.headers);
  for (const name of CONDITIONAL_HEADERS) headers.delete(name);
  if (validators?.etag) headers.set("if-none-match", validators.etag);
  if (validators?.lastModified) headers.set("if-modified-since", validators.lastModified);
  return new Request(key.url, { method: "GET", headers, redirect: "manual" });
}

// Nothing usable in the cache: fetches from the origin, stores what may be stored, answers.
async function fetchAndStore(request, key, placement, ctx) {
  const label = "MISS";
  const now = Date.now();
  const response = await originFetch(fillRequest(request, key));
  if (response === null) return respond(badGateway(), label);
  const head = request.method === "HEAD";
  const policy = storagePolicy(response, placement.tier, placement.knownPublic, now);
  if (policy === null) return respond(response, label, { head });
  ctx.waitUntil(store(caches.default, key, response.clone(), policy, now));
  return respond(response, label, { head, cacheControl: policy.cacheControl, age: 0 });
}

// Asks the origin again for an expired or stale entry, conditionally when it has validators.
// `write` (null: nothing to store) stores the outcome; the caller decides whether to wait for it.
async function revalidate(request, key, placement, cached) {
  const now = Date.now();
  const validators = {
    etag: cached.headers.get("etag"),
    lastModified: cached.headers.get("last-modified"),
  };
  const response = await originFetch(fillRequest(request, key, validators));
  if (response === null || response.status >= 500) {
    return { response, outcome: "error", policy: null, write: null };
  }
  let fresh = response;
  let outcome = "replaced";
  if (response.status === 304 && (validators.etag || validators.lastModified)) {
    // The stored body is still current: keep it, with the origin's updated headers.
    const merged = new Headers(cached.headers);
    for (const [name, value] of response.headers) {
      if (!["content-length", "content-encoding", "transfer-encoding"].includes(name)) {
        merged.set(name, value);
      }
    }
    fresh = new Response(cached.body, {
      status: cached.status,
      statusText: cached.statusText,
      headers: merged,
    });
    outcome = "revalidated";
  }
  const policy = storagePolicy(fresh, placement.tier, placement.knownPublic, now);
  const copy = policy === null ? null : fresh.clone();
  const write = copy === null ? null : () => store(caches.default, key, copy, policy, now);
  return { response: fresh, outcome, policy, write };
}

async function refreshInBackground(request, key, placement, cached) {
  try {
    const { outcome, response, write } = await revalidate(request, key, placement, cached);
    if (outcome === "error") {
      console.error(`background refresh of ${key.url} failed: ${response?.status ?? "network"}`);
      return;
    }
    if (write !== null) await write();
    // A body nobody reads would hold the origin connection open.
    await response.body?.cancel();
  } catch (error) {
    console.error(`background refresh of ${key.url} failed: ${error}`);
  }
}

export default {
  async fetch(incoming, env, ctx) {
    const request = withTraceContext(incoming);
    let config;
    try {
      config = configFor(env);
    } catch (error) {
      // Misconfigured: keep the site up, but cache nothing rather than guess.
      console.error(`cache disabled: ${error}`);
      const response = await originFetch(request);
      return respond(response ?? badGateway(), "BYPASS");
    }

    const url = new URL(request.url);
    if (isBypassed(request, url, config)) {
      const response = await originFetch(request);
      return respond(response ?? badGateway(), "BYPASS");
    }

    const head = request.method === "HEAD";
    const eventPurged = isEventPurged(url.pathname, config);
    const placement = {
      tier: eventPurged ? config.eventPurgedTier : tierFor(url.pathname, config),
      knownPublic: isKnownPublic(url.pathname, config),
    };
    const key = new Request(cacheKeyUrl(url, config), { method: "GET" });
    const cached = await caches.default.match(key);
    let meta = cached ? readMeta(cached) : null;
    if (!cached || meta === null) {
      return fetchAndStore(request, key, placement, ctx);
    }
    if (eventPurged) {
      // A copy stored before the path became event-purged keeps its old stale windows.
      meta = {
        ...meta,
        fresh: Math.min(meta.fresh, config.eventPurgedTier.edgeTtl),
        swr: 0,
        sie: 0,
        cacheControl: EVENT_PURGED_BROWSER_CACHE_CONTROL,
      };
    }

    const now = Date.now();
    const age = (now - meta.storedAt) / 1000;
    const serveCached = (status, response = cached) =>
      respond(response, status, { head, cacheControl: meta.cacheControl ?? null, age });

    if (age < meta.fresh) return serveCached("HIT");
    if (age < meta.fresh + meta.swr) {
      ctx.waitUntil(refreshInBackground(request, key, placement, cached.clone()));
      return serveCached("STALE");
    }

    const { response, outcome, policy, write } = await revalidate(
      request,
      key,
      placement,
      cached.clone(),
    );
    if (outcome === "error") {
      if (age < meta.fresh + meta.sie) return serveCached("STALE");
      return respond(response ?? badGateway(), "EXPIRED", { head });
    }
    const label = outcome === "revalidated" ? "REVALIDATED" : "EXPIRED";
    if (write !== null) ctx.waitUntil(write());
    if (policy === null) return respond(response, label, { head });
    return respond(response, label, { head, cacheControl: policy.cacheControl, age: 0 });
  },
};
