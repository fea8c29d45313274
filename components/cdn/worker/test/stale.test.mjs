// RFC 5861 built by the Worker (the Cache API ignores both directives): stale-while-revalidate
// serves the stale copy and refreshes it in the background; stale-if-error serves it when the
// origin fails inside the window. Real-time tests use max-age=1; the window edges use entries
// planted with a past storage time, so no test sleeps longer than about a second.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { NETWORK_ERROR, SITE, loadBindings, sleep, startWorkers } from "../testing.mjs";

let edge;
before(async () => {
  edge = await startWorkers({ edge: loadBindings() });
});
after(() => edge?.dispose());

const versioned = (cacheControl) => (_request, call) =>
  new Response(`v${call}`, { headers: { "cache-control": cacheControl } });

describe("stale", { concurrency: true, timeout: 30_000 }, () => {
  test("stale-while-revalidate: STALE now, refreshed in the background, then HIT", async () => {
    const url = `${SITE}/products/20`;
    const page = edge.origin.script(
      "/products/20",
      versioned("max-age=1, stale-while-revalidate=30"),
    );
    await edge.get(url);
    assert.equal((await edge.stored(url))?.body, "v1");
    await sleep(1100);
    const stale = await edge.get(url);
    assert.deepEqual([stale.status, stale.body], ["STALE", "v1"]);
    assert.equal((await edge.stored(url, { until: (e) => e?.body === "v2" }))?.body, "v2");
    assert.equal(page.calls.length, 2, "refreshed once, in the background");
    const fresh = await edge.get(url);
    assert.deepEqual([fresh.status, fresh.body], ["HIT", "v2"]);
    assert.equal(page.calls.length, 2);
  });

  test("stale-if-error: a 503 inside the window gives the stored copy with 200", async () => {
    const url = `${SITE}/products/30`;
    const page = edge.origin.script(
      "/products/30",
      versioned("max-age=1, stale-while-revalidate=0, stale-if-error=60"),
    );
    await edge.get(url);
    await edge.stored(url);
    await sleep(1100);
    page.handler = () => new Response("down", { status: 503 });
    const answer = await edge.get(url);
    assert.deepEqual([answer.response.status, answer.status, answer.body], [200, "STALE", "v1"]);
    assert.equal(page.calls.length, 2, "the origin was tried first");
  });

  test("stale-if-error: a network failure inside the window gives the stored copy", async () => {
    const url = `${SITE}/products/31`;
    const page = edge.origin.script("/products/31", () => NETWORK_ERROR);
    await edge.plant(url, "last good page", { ageSeconds: 20, fresh: 10, sie: 30 });
    const answer = await edge.get(url);
    assert.deepEqual(
      [answer.response.status, answer.status, answer.body],
      [200, "STALE", "last good page"],
    );
    assert.equal(page.calls.length, 1);
  });

  test("stale-if-error: past the window a 503 goes through, a network failure is a 502", async () => {
    const url = `${SITE}/products/32`;
    const page = edge.origin.script("/products/32", () => new Response("down", { status: 503 }));
    await edge.plant(url, "last good page", { ageSeconds: 100, fresh: 10, swr: 20, sie: 30 });
    const failing = await edge.get(url);
    assert.deepEqual([failing.response.status, failing.body], [503, "down"]);
    page.handler = () => NETWORK_ERROR;
    const unreachable = await edge.get(url);
    assert.deepEqual([unreachable.response.status, unreachable.status], [502, "EXPIRED"]);
  });

  test("past stale-while-revalidate the origin is awaited and the entry replaced (EXPIRED)", async () => {
    const url = `${SITE}/products/40`;
    const page = edge.origin.script(
      "/products/40",
      () => new Response("new", { headers: { "cache-control": "max-age=600" } }),
    );
    await edge.plant(url, "old", { ageSeconds: 40, fresh: 10, swr: 20, sie: 60 });
    const answer = await edge.get(url);
    assert.deepEqual([answer.status, answer.body], ["EXPIRED", "new"]);
    assert.equal((await edge.stored(url, { until: (e) => e?.body === "new" }))?.body, "new");
    assert.equal((await edge.get(url)).status, "HIT");
    assert.equal(page.calls.length, 1);
  });

  test("an expired entry with an ETag is revalidated with If-None-Match (REVALIDATED)", async () => {
    const url = `${SITE}/products/50`;
    const headers = {
      "cache-control": "max-age=1, stale-while-revalidate=0, stale-if-error=60",
      etag: '"v1"',
    };
    const page = edge.origin.script("/products/50", (request) =>
      request.headers.get("if-none-match") === '"v1"'
        ? new Response(null, { status: 304, headers })
        : new Response("version 1", { headers }),
    );
    assert.equal((await edge.get(url)).status, "MISS");
    const first = await edge.stored(url);
    await sleep(1100);
    const revalidated = await edge.get(url);
    assert.deepEqual(
      [revalidated.response.status, revalidated.status, revalidated.body],
      [200, "REVALIDATED", "version 1"],
    );
    assert.equal(page.calls[1].headers["if-none-match"], '"v1"');
    const restarted = (e) => e?.meta.storedAt > first.meta.storedAt;
    assert.ok(restarted(await edge.stored(url, { until: restarted })), "clock restarted");
    assert.equal((await edge.get(url)).status, "HIT");
    assert.equal(page.calls.length, 2);
  });
});
