// What the edge Worker stores, under which key, for how long, and what it sends back: the Worker
// in workerd with the bindings the Python renderer gives, the origin scripted per path. Every
// test counts origin calls, so a cache that silently does nothing cannot pass.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  SITE,
  loadBindings,
  pythonConsistency,
  pythonTiers,
  sleep,
  startWorkers,
} from "../testing.mjs";

const BINDINGS = loadBindings();
const TIERS = JSON.parse(BINDINGS.CACHE_TIERS);
const SHORT_TIER_OF_TWO_SECONDS = {
  ...BINDINGS,
  CACHE_TIERS: JSON.stringify({
    ...TIERS,
    short: { ...TIERS.short, edgeTtl: 2, staleWhileRevalidate: 0, staleIfError: 0 },
  }),
};

let edge;
before(async () => {
  edge = await startWorkers({ edge: BINDINGS, "edge-short-tier-2s": SHORT_TIER_OF_TWO_SECONDS });
});
after(() => edge?.dispose());

const cacheable = { "cache-control": "max-age=600" };

describe("caching", { concurrency: true, timeout: 30_000 }, () => {
  test("a cacheable GET is a MISS, then a HIT without calling the origin", async () => {
    const page = edge.origin.script("/products/42");
    const first = await edge.get(`${SITE}/products/42`);
    assert.deepEqual([first.status, first.body], ["MISS", "origin body"]);
    assert.equal((await edge.stored(`${SITE}/products/42`))?.body, "origin body");
    const second = await edge.get(`${SITE}/products/42`);
    assert.deepEqual([second.status, second.body], ["HIT", "origin body"]);
    assert.equal(page.calls.length, 1);
  });

  test("tracking parameters are dropped from the cache key, the others sorted", async () => {
    const page = edge.origin.script("/products/1");
    await edge.get(`${SITE}/products/1?b=2&a=1&utm_source=mail&gclid=x`);
    assert.ok(await edge.stored(`${SITE}/products/1?a=1&b=2`), "stored under the normalised key");
    for (const url of [
      `${SITE}/products/1?a=1&b=2`,
      `${SITE}/products/1?utm_campaign=z&b=2&a=1&fbclid=q&UTM_MEDIUM=y`,
    ]) {
      assert.equal((await edge.get(url)).status, "HIT", url);
    }
    assert.equal(page.calls.length, 1);
  });

  test("other parameters still vary the entry", async () => {
    const page = edge.origin.script("/products/2");
    await edge.get(`${SITE}/products/2?page=1`);
    await edge.stored(`${SITE}/products/2?page=1`);
    assert.equal((await edge.get(`${SITE}/products/2?page=2`)).status, "MISS");
    assert.equal((await edge.get(`${SITE}/products/2?page=1&sort=price`)).status, "MISS");
    assert.equal(page.calls.length, 3);
  });

  test("responses with Set-Cookie are never stored", async () => {
    const page = edge.origin.script(
      "/products/5",
      () => new Response("personal", { headers: { "set-cookie": "sid=1", ...cacheable } }),
    );
    for (let i = 0; i < 2; i += 1) {
      assert.equal((await edge.get(`${SITE}/products/5`)).status, "MISS");
    }
    assert.equal(await edge.stored(`${SITE}/products/5`, { timeout: 300 }), undefined);
    assert.equal(page.calls.length, 2);
  });

  for (const [n, directive] of [
    "no-store",
    "private, max-age=600",
    "no-cache",
    "max-age=0",
    "public, no-store",
  ].entries()) {
    test(`origin Cache-Control "${directive}" is respected`, async () => {
      const path = `/products/directive-${n}`;
      const page = edge.origin.script(
        path,
        () => new Response("x", { headers: { "cache-control": directive } }),
      );
      await edge.get(`${SITE}${path}`);
      const second = await edge.get(`${SITE}${path}`);
      assert.equal(second.response.headers.get("cache-control"), directive, "passed on as is");
      assert.equal(page.calls.length, 2);
      assert.equal(await edge.stored(`${SITE}${path}`, { timeout: 300 }), undefined);
    });
  }

  for (const [n, vary] of ["Accept-Encoding, Cookie", "Authorization", "*"].entries()) {
    test(`responses that vary on "${vary}" are not stored`, async () => {
      const path = `/products/vary-${n}`;
      const page = edge.origin.script(
        path,
        () => new Response("x", { headers: { vary, ...cacheable } }),
      );
      await edge.get(`${SITE}${path}`);
      await edge.get(`${SITE}${path}`);
      assert.equal(page.calls.length, 2);
    });
  }

  test("the origin's max-age applies where no tier matches; nothing stored without it", async () => {
    const withAge = edge.origin.script(
      "/misc/with",
      () => new Response("x", { headers: { "cache-control": "max-age=60" } }),
    );
    const without = edge.origin.script("/misc/without");
    await edge.get(`${SITE}/misc/with`);
    await edge.stored(`${SITE}/misc/with`);
    const hit = await edge.get(`${SITE}/misc/with`);
    assert.equal(hit.status, "HIT");
    assert.equal(hit.response.headers.get("cache-control"), "max-age=60", "the origin's own");
    await edge.get(`${SITE}/misc/without`);
    await edge.get(`${SITE}/misc/without`);
    assert.deepEqual([withAge.calls.length, without.calls.length], [1, 2]);
  });

  test("an Expires header alone sets the lifetime; the edge's own Cache-Control stays inside", async () => {
    const expires = new Date(Date.now() + 120_000).toUTCString();
    const page = edge.origin.script(
      "/misc/expires",
      () => new Response("x", { headers: { expires, date: new Date().toUTCString() } }),
    );
    await edge.get(`${SITE}/misc/expires`);
    const entry = await edge.stored(`${SITE}/misc/expires`);
    assert.ok(entry.meta.fresh > 100 && entry.meta.fresh <= 120, `fresh ${entry.meta.fresh}`);
    const hit = await edge.get(`${SITE}/misc/expires`);
    assert.equal(hit.status, "HIT");
    assert.equal(hit.response.headers.get("cache-control"), null);
    assert.equal(hit.response.headers.get("expires"), expires);
    assert.equal(page.calls.length, 1);
  });

  test("the origin's s-maxage wins over the tier; browsers get no more than its max-age", async () => {
    edge.origin.script(
      "/catalog/s-maxage",
      () => new Response("x", { headers: { "cache-control": "max-age=30, s-maxage=120" } }),
    );
    const first = await edge.get(`${SITE}/catalog/s-maxage`);
    assert.equal(first.response.headers.get("cache-control"), "public, max-age=30");
    assert.equal((await edge.stored(`${SITE}/catalog/s-maxage`)).meta.fresh, 120);
  });

  test("each path is on the tier Python's tier_for_path gives it (browser TTL tells)", async () => {
    const paths = [
      "/products/tier",
      "/api/catalog/tier",
      "/api/search/tier",
      "/api/prices/tier",
      "/API/Prices/tier-case",
      "/api/inventory/sku-9",
      "/api/prices/chart.png",
      "/search",
      "/assets/app.js",
      "/products/photo.webp",
      "/catalog/shoe.JPG",
      "/products/a.b/c",
      "/about",
      "/cart/app.js",
      "/checkout",
    ];
    const tiers = pythonTiers(paths);
    const consistency = pythonConsistency(paths);
    assert.equal(tiers["/api/search/tier"], "short", "the longer prefix wins over /api/");
    // An event-purged path keeps its tier in Python but is cached on its own class's terms.
    const expected = Object.fromEntries(
      paths.map((p) => [p, consistency[p] === "event-purged" ? "event-purged" : tiers[p]]),
    );
    assert.equal(expected["/api/prices/tier"], "event-purged");
    const byCacheControl = new Map([
      ...Object.entries(TIERS).map(([name, t]) => [`public, max-age=${t.browserTtl}`, name]),
      ["public, max-age=0, must-revalidate", "event-purged"],
    ]);
    assert.equal(byCacheControl.size, Object.keys(TIERS).length + 1, "browser TTLs are distinct");
    // A year-long max-age: the tier caps what browsers get, so the answer names the tier.
    const longLived = { "cache-control": "max-age=31536000" };
    for (const path of paths) {
      edge.origin.script(path, () => new Response("x", { headers: longLived }));
    }
    for (const path of paths) {
      const answer = await edge.get(`${SITE}${path}`);
      const cacheControl = answer.response.headers.get("cache-control");
      const tier = answer.status === "BYPASS" ? null : (byCacheControl.get(cacheControl) ?? null);
      assert.equal(tier, expected[path], path);
    }
  });

  test("a tier's edge TTL is the entry's lifetime (short set to 2 s, medium as rendered)", async () => {
    const short = edge.origin.script("/api/search/ttl");
    const medium = edge.origin.script("/products/ttl");
    const get = (path) => edge.get(`${SITE}${path}`, undefined, "edge-short-tier-2s");
    const storedAt = {};
    for (const path of ["/api/search/ttl", "/products/ttl"]) {
      assert.equal((await get(path)).status, "MISS");
      storedAt[path] = (await edge.stored(`${SITE}${path}`)).meta.storedAt;
      assert.equal((await get(path)).status, "HIT");
    }
    // Timed from the entry's own clock, so a slow machine cannot make the test pass or fail.
    await sleep(storedAt["/api/search/ttl"] + 2100 - Date.now());
    assert.ok(["MISS", "EXPIRED"].includes((await get("/api/search/ttl")).status), "expired");
    assert.equal((await get("/products/ttl")).status, "HIT", "medium: still fresh");
    assert.deepEqual([short.calls.length, medium.calls.length], [2, 1]);
  });

  test("internal headers never reach the client, nor are taken from the origin", async () => {
    const forged = JSON.stringify({ storedAt: Date.now() + 1e9, fresh: 1e9, swr: 0, sie: 0 });
    edge.origin.script(
      "/products/11",
      () => new Response("x", { headers: { ...cacheable, "x-edge-cache-meta": forged } }),
    );
    const miss = await edge.get(`${SITE}/products/11`);
    assert.equal((await edge.stored(`${SITE}/products/11`)).meta.fresh, 600);
    const hit = await edge.get(`${SITE}/products/11`);
    for (const answer of [miss, hit]) {
      for (const name of answer.response.headers.keys()) {
        assert.ok(!name.startsWith("x-edge-"), name);
      }
    }
    assert.ok(Number(hit.response.headers.get("age")) >= 0);
  });

  test("HEAD is served from the GET entry", async () => {
    const page = edge.origin.script("/products/12");
    await edge.get(`${SITE}/products/12`);
    await edge.stored(`${SITE}/products/12`);
    const head = await edge.get(`${SITE}/products/12`, { method: "HEAD" });
    assert.deepEqual([head.status, head.body, head.response.status], ["HIT", "", 200]);
    assert.equal(page.calls.length, 1);
  });

  test("HEAD on an empty cache fetches GET once, answers without a body, fills the entry", async () => {
    const page = edge.origin.script("/products/13");
    const head = await edge.get(`${SITE}/products/13`, { method: "HEAD" });
    assert.deepEqual([head.status, head.body, head.response.status], ["MISS", "", 200]);
    assert.equal(page.calls[0].method, "GET");
    await edge.stored(`${SITE}/products/13`);
    const full = await edge.get(`${SITE}/products/13`);
    assert.deepEqual([full.status, full.body], ["HIT", "origin body"]);
    assert.equal(page.calls.length, 1);
  });
});
