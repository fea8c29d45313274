// One user's response never reaches another: requests that bypass the cache are proven never to
// read it (a poisoned entry is not served) and never to write it (the entry survives them).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { SITE, loadBindings, startWorkers } from "../testing.mjs";

const BINDINGS = loadBindings();
const BYPASS_PATH = JSON.parse(BINDINGS.BYPASS_PATHS)[0];
const { TIER_RULES: _omitted, ...WITHOUT_TIER_RULES } = BINDINGS;
const POISON = "someone else's page";

let edge;
before(async () => {
  edge = await startWorkers({ edge: BINDINGS, "edge-without-tier-rules": WITHOUT_TIER_RULES });
});
after(() => edge?.dispose());

const mine = () => new Response("mine", { headers: { "cache-control": "max-age=600" } });

describe("isolation", { concurrency: true, timeout: 30_000 }, () => {
  for (const [label, path, init] of [
    [
      "the session cookie",
      "/products/7",
      { headers: { cookie: `theme=dark; ${BINDINGS.SESSION_COOKIE}=abc` } },
    ],
    ["an Authorization header", "/products/8", { headers: { authorization: "Bearer token" } }],
    ["a POST", "/products/9", { method: "POST", body: "order" }],
    ["a PUT", "/products/10", { method: "PUT", body: "x" }],
    ["a bypass path", `${BYPASS_PATH}/items`, {}],
  ]) {
    test(`${label}: bypasses, never served a poisoned entry, never overwrites it`, async () => {
      const url = `${SITE}${path}`;
      const page = edge.origin.script(path, mine);
      await edge.plant(url, POISON);
      const bypassed = await edge.get(url, init);
      assert.deepEqual([bypassed.status, bypassed.body], ["BYPASS", "mine"]);
      assert.equal(page.calls.length, 1);
      const left = await edge.stored(url, { until: (e) => e?.body !== POISON, timeout: 300 });
      assert.equal(left?.body, POISON, "the bypassed response was written to the cache");
      if (!path.startsWith(BYPASS_PATH)) {
        // The control: an anonymous request is served the planted entry, so it is reachable.
        const anonymous = await edge.get(url);
        assert.deepEqual([anonymous.status, anonymous.body], ["HIT", POISON]);
        assert.equal(page.calls.length, 1);
      }
    });
  }

  test("a bypassed request leaves an empty cache empty", async () => {
    const page = edge.origin.script("/products/14", mine);
    const url = `${SITE}/products/14`;
    const auth = { headers: { authorization: "Bearer token" } };
    assert.equal((await edge.get(url, auth)).status, "BYPASS");
    assert.equal(await edge.stored(url, { timeout: 300 }), undefined);
    assert.equal((await edge.get(url)).status, "MISS");
    assert.equal(page.calls.length, 2);
  });

  test("a cookie whose name only contains the session cookie's does not bypass", async () => {
    const page = edge.origin.script("/products/15");
    const cookie = `theme=dark; my_${BINDINGS.SESSION_COOKIE}=1; x=${BINDINGS.SESSION_COOKIE}`;
    const answer = await edge.get(`${SITE}/products/15`, { headers: { cookie } });
    assert.equal(answer.status, "MISS");
    assert.equal(page.calls.length, 1);
  });

  test("without its bindings the Worker caches nothing but keeps serving", async () => {
    const page = edge.origin.script("/products/16", mine);
    for (let i = 0; i < 2; i += 1) {
      const answer = await edge.get(`${SITE}/products/16`, undefined, "edge-without-tier-rules");
      assert.deepEqual([answer.status, answer.body], ["BYPASS", "mine"]);
    }
    assert.equal(page.calls.length, 2);
  });
});
