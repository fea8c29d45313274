// Trace context at the edge: a valid `traceparent` (with its `tracestate`) reaches the origin on
// every kind of origin fetch, a malformed one does not, and neither splits the cache.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { SITE, loadBindings, startWorkers } from "../testing.mjs";

const BINDINGS = loadBindings();
const BYPASS_PATH = JSON.parse(BINDINGS.BYPASS_PATHS)[0];
const TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const OTHER_TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const STATE = "congo=t61rcWkgMzE";

let edge;
before(async () => {
  edge = await startWorkers({ edge: BINDINGS });
});
after(() => edge?.dispose());

const cacheable = () => new Response("page", { headers: { "cache-control": "max-age=600" } });

describe("trace context", { concurrency: true, timeout: 30_000 }, () => {
  test("a cache fill carries the client's traceparent and tracestate to the origin", async () => {
    const page = edge.origin.script("/products/trace-1", cacheable);
    const first = await edge.get(`${SITE}/products/trace-1`, {
      headers: { traceparent: TRACE, tracestate: STATE },
    });
    assert.equal(first.status, "MISS");
    assert.equal(page.calls[0].headers.traceparent, TRACE);
    assert.equal(page.calls[0].headers.tracestate, STATE);
    await edge.stored(`${SITE}/products/trace-1`);
    // Another trace hits the same entry: trace headers are not part of the key.
    const second = await edge.get(`${SITE}/products/trace-1`, {
      headers: { traceparent: OTHER_TRACE },
    });
    assert.equal(second.status, "HIT");
    assert.equal(page.calls.length, 1);
  });

  test("a bypassed request keeps its trace context", async () => {
    const page = edge.origin.script(`${BYPASS_PATH}/trace`, cacheable);
    const response = await edge.get(`${SITE}${BYPASS_PATH}/trace`, {
      headers: { traceparent: TRACE, tracestate: STATE },
    });
    assert.equal(response.status, "BYPASS");
    assert.equal(page.calls[0].headers.traceparent, TRACE);
    assert.equal(page.calls[0].headers.tracestate, STATE);
  });

  for (const [label, bad] of [
    ["an all-zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"],
    ["an all-zero parent id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"],
    ["upper-case hex", TRACE.toUpperCase()],
    ["the forbidden version ff", `ff${TRACE.slice(2)}`],
    ["a truncated value", TRACE.slice(0, 40)],
  ]) {
    test(`${label}: neither traceparent nor tracestate reaches the origin`, async () => {
      const path = `/products/trace-bad-${label.replaceAll(" ", "-")}`;
      const page = edge.origin.script(path, cacheable);
      const response = await edge.get(`${SITE}${path}`, {
        headers: { traceparent: bad, tracestate: STATE },
      });
      assert.equal(response.status, "MISS");
      assert.equal(page.calls[0].headers.traceparent, undefined);
      assert.equal(page.calls[0].headers.tracestate, undefined);
    });
  }

  test("without a traceparent the origin gets none (the service starts the trace)", async () => {
    const page = edge.origin.script("/products/trace-none", cacheable);
    await edge.get(`${SITE}/products/trace-none`);
    assert.equal(page.calls[0].headers.traceparent, undefined);
  });
});
