// The edge for end-to-end tests of the invalidation path: the Worker in workerd (miniflare) with
// the rendered bindings in front of a scripted origin, and Cloudflare's purge_cache endpoint
// applied to the Worker's cache as Cloudflare applies it to Cache API entries (testing.mjs
// `purge`: tags, prefixes, hosts and everything reach them, URLs do not).
//
//   node components/cdn/worker/edge_emulator.mjs
//
// Listens on 127.0.0.1 on a free port and prints one JSON line, {"url": ...}, once ready:
//   POST /client/v4/zones/<zone>/purge_cache  a purge, answered as Cloudflare's API answers
//   anything else                             a request to the Worker for http://shop.example.com
// The origin answers every path with {"path", "fill"} (fill: its call count for that path) and no
// Cache-Control: the Worker caches on the path's class alone. Stops on SIGTERM or SIGINT.
import http from "node:http";
import { SITE, loadBindings, startWorkers } from "./testing.mjs";

// The body is passed on decoded and whole.
const HOP_HEADERS = new Set(["content-length", "content-encoding", "transfer-encoding", "connection"]);
const PURGE = /^\/client\/v4\/zones\/[0-9a-f]{32}\/purge_cache$/;

const edge = await startWorkers({ edge: loadBindings() });
const fills = new Map();
edge.origin.scriptFallback((request) => {
  const { pathname } = new URL(request.url);
  const fill = (fills.get(pathname) ?? 0) + 1;
  fills.set(pathname, fill);
  return new Response(JSON.stringify({ path: pathname, fill }), {
    headers: { "content-type": "application/json" },
  });
});

async function readBody(request) {
  const chunks = [];
  for await (const chunk of request) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

function reply(response, status, headers, body) {
  response.writeHead(status, headers);
  response.end(body);
}

const server = http.createServer(async (request, response) => {
  try {
    if (request.method === "POST" && PURGE.test(request.url)) {
      const purged = await edge.purge(JSON.parse(await readBody(request)));
      console.error(`purged ${purged.length} entries: ${purged.join(" ")}`);
      const answer = { success: true, errors: [], messages: [], result: { id: "emulated" } };
      reply(response, 200, { "content-type": "application/json" }, JSON.stringify(answer));
      return;
    }
    const headers = Object.fromEntries(
      Object.entries(request.headers).filter(([name]) => name !== "host"),
    );
    const { response: answer, body } = await edge.get(`${SITE}${request.url}`, {
      method: request.method,
      headers,
    });
    const passed = [...answer.headers].filter(([name]) => !HOP_HEADERS.has(name));
    reply(response, answer.status, Object.fromEntries(passed), body);
  } catch (error) {
    reply(response, 500, { "content-type": "text/plain" }, `emulator: ${error}\n`);
  }
});

server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});

const stop = async () => {
  server.close();
  await edge.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
