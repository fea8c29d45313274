// The event-purged consistency class (prices, inventory): never served stale, whatever the origin
// or an older stored copy allows, kept no longer than the class's backstop TTL, not kept by
// browsers; and every stored copy is found again by the purge the invalidator sends for a URL
// (its Cache-Tag, the tag Python's path_cache_tag gives), in every spelling and query variant.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  NETWORK_ERROR,
  SITE,
  loadBindings,
  pythonCacheTags,
  sleep,
  startWorkers,
} from "../testing.mjs";

const BINDINGS = loadBindings();
const EVENT_PURGED = JSON.parse(BINDINGS.EVENT_PURGED);
const NO_BROWSER_COPY = "public, max-age=0, must-revalidate";

let edge;
before(async () => {
  edge = await startWorkers({ edge: BINDINGS });
});
after(() => edge?.dispose());

const versioned = (cacheControl) => (_request, call) =>
  new Response(`v${call}`, { headers: { "cache-control": cacheControl } });
const generous = "max-age=1, stale-while-revalidate=600, stale-if-error=3600";

describe("event-purged", { concurrency: true, timeout: 30_000 }, () => {
  test("the rendered class covers prices and inventory", () => {
    assert.deepEqual(EVENT_PURGED.pathPrefixes, ["/api/prices", "/api/inventory"]);
    assert.ok(EVENT_PURGED.edgeTtl > 0);
  });

  for (const path of ["/api/prices/500", "/api/inventory/sku-500"]) {
    test(`${path}: an origin 503 after expiry is passed on, never the stale copy`, async () => {
      const url = `${SITE}${path}`;
      const script = edge.origin.script(path, versioned(generous));
      assert.equal((await edge.get(url)).status, "MISS");
      const stored = await edge.stored(url);
      assert.deepEqual([stored.meta.swr, stored.meta.sie], [0, 0], "stored without stale windows");
      await sleep(stored.meta.storedAt + 1100 - Date.now());
      script.handler = () => new Response("down", { status: 503 });
      const answer = await edge.get(url);
      // MISS: the Cache API already dropped the copy (kept for its fresh life alone); EXPIRED:
      // still there, not served. Never STALE.
      assert.equal(answer.response.status, 503);
      assert.ok(["MISS", "EXPIRED"].includes(answer.status), answer.status);
      assert.notEqual(answer.body, "v1");
    });
  }

  test("a network failure is a 502 even with an old copy that allowed stale-if-error", async () => {
    const url = `${SITE}/api/prices/501`;
    edge.origin.script("/api/prices/501", () => NETWORK_ERROR);
    // Stored before the path became event-purged: fresh 10 s, stale-if-error for 300 more.
    await edge.plant(url, "old price", { ageSeconds: 20, fresh: 10, swr: 300, sie: 300 });
    const answer = await edge.get(url);
    assert.deepEqual([answer.response.status, answer.status], [502, "EXPIRED"]);
    assert.notEqual(answer.body, "old price");
  });

  test("an old copy inside its stale-while-revalidate window is refetched, not served", async () => {
    const url = `${SITE}/api/inventory/sku-502`;
    const script = edge.origin.script("/api/inventory/sku-502", versioned("max-age=600"));
    await edge.plant(url, "old stock", { ageSeconds: 20, fresh: 10, swr: 300 });
    const answer = await edge.get(url);
    assert.deepEqual([answer.status, answer.body], ["EXPIRED", "v1"]);
    assert.equal(script.calls.length, 1, "fetched while the client waited");
  });

  test("the backstop TTL caps the origin's and an old copy's lifetime", async () => {
    const url = `${SITE}/api/prices/503`;
    edge.origin.script("/api/prices/503", versioned("public, s-maxage=86400, max-age=3600"));
    const first = await edge.get(url);
    assert.equal(first.response.headers.get("cache-control"), NO_BROWSER_COPY);
    assert.equal((await edge.stored(url)).meta.fresh, EVENT_PURGED.edgeTtl);

    const old = `${SITE}/api/prices/504`;
    const script = edge.origin.script("/api/prices/504", versioned("max-age=600"));
    await edge.plant(old, "old", { ageSeconds: EVENT_PURGED.edgeTtl + 5, fresh: 86400 });
    assert.deepEqual((await edge.get(old)).body, "v1");
    assert.equal(script.calls.length, 1);
  });

  test("a fresh copy is a HIT that browsers must revalidate; no tag leaves the edge", async () => {
    const url = `${SITE}/api/prices/505`;
    edge.origin.script("/api/prices/505", versioned("max-age=600"));
    const miss = await edge.get(url);
    await edge.stored(url);
    const hit = await edge.get(url);
    assert.deepEqual([miss.status, hit.status, hit.body], ["MISS", "HIT", "v1"]);
    for (const answer of [miss, hit]) {
      assert.equal(answer.response.headers.get("cache-control"), NO_BROWSER_COPY);
      assert.equal(answer.response.headers.get("cache-tag"), null);
    }
  });

  test("the Worker's Cache-Tag is Python's path_cache_tag, for every spelling", async () => {
    const urls = [
      `${SITE}/api/prices/600`,
      `${SITE}/API/Prices/601`,
      `${SITE}/api//prices/602?currency=EUR`,
      `${SITE}/products/%C3%A9t%C3%A9,2024`,
      `${SITE}/products/a%20b`,
      `${SITE}/catalog/${"x".repeat(1100)}`,
    ];
    for (const url of urls) edge.origin.script(new URL(url).pathname, versioned("max-age=600"));
    const expected = pythonCacheTags(urls);
    for (const url of urls) {
      assert.equal((await edge.get(url)).status, "MISS", url);
      const entry = await edge.stored(url);
      assert.ok(entry, url);
      assert.equal(entry.tag, expected[url], url);
      assert.ok(entry.tag.length <= 1024 && !/[\s,]/.test(entry.tag), entry.tag);
    }
  });

  test("the purge the invalidator sends for a price event drops every copy of the price", async () => {
    const price = `${SITE}/api/prices/12345`;
    const variants = [price, `${SITE}/api/prices/12345?currency=EUR`, `${SITE}/API/Prices/12345`];
    const other = `${SITE}/api/prices/999`;
    const calls = {};
    for (const path of ["/api/prices/12345", "/API/Prices/12345", "/api/prices/999"]) {
      calls[path] = edge.origin.script(path, versioned("max-age=600")).calls;
    }
    for (const url of [...variants, other]) {
      assert.equal((await edge.get(url)).status, "MISS", url);
      await edge.stored(url);
      assert.equal((await edge.get(url)).status, "HIT", url);
    }

    // A URL purge does not reach the Worker's entries (Cloudflare's docs); the tag purge does.
    assert.deepEqual(await edge.purge({ files: [price] }), []);
    const { [price]: tag } = pythonCacheTags([price]);
    const removed = await edge.purge({ tags: [tag] });
    assert.deepEqual(removed.sort(), [...variants].sort());

    for (const url of variants) assert.equal((await edge.get(url)).status, "MISS", url);
    // Each copy was fetched again: 2 query variants of one path, one other spelling.
    assert.deepEqual(
      [calls["/api/prices/12345"].length, calls["/API/Prices/12345"].length],
      [4, 2],
    );
    assert.equal((await edge.get(other)).status, "HIT", "another price stays cached");
    assert.equal(calls["/api/prices/999"].length, 1);
  });

  test("a prefix purge (a category rebuild) drops the entries under it", async () => {
    const under = `${SITE}/api/inventory/shelf-7/a`;
    const beside = `${SITE}/api/inventory/shelf-8`;
    edge.origin.script("/api/inventory/shelf-7/a", versioned("max-age=600"));
    edge.origin.script("/api/inventory/shelf-8", versioned("max-age=600"));
    for (const url of [under, beside]) {
      await edge.get(url);
      await edge.stored(url);
    }
    const host = new URL(SITE).host;
    assert.deepEqual(await edge.purge({ prefixes: [`${host}/api/inventory/shelf-7`] }), [under]);
    assert.equal((await edge.get(under)).status, "MISS");
    assert.equal((await edge.get(beside)).status, "HIT");
  });
});
