/**
 * A request through productpage → reviews → ratings, each hop an outbound
 * call through the mesh and an inbound request on a hooked server, forms one
 * trace: server spans are children of the caller's attempt spans, attempt
 * spans children of the call spans, and each retry is its own attempt span.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';

let mesh: Mesh;
let file: MeshFile;
const servers: http.Server[] = [];
let ratingsFailures = 0;

async function listen(handler: http.RequestListener): Promise<number> {
  const s = http.createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as AddressInfo).port;
}

beforeAll(async () => {
  const ratings = await listen((_req, res) => {
    if (ratingsFailures > 0) {
      ratingsFailures--;
      res.writeHead(503).end();
      return;
    }
    res.end('5');
  });
  const reviews = await listen((_req, res) => {
    fetch('http://ratings:9080/r').then(async (r) => res.end(`stars ${await r.text()}`), () => res.writeHead(502).end());
  });
  const productpage = await listen((_req, res) => {
    fetch('http://reviews:9080/reviews').then(async (r) => res.end(await r.text()), () => res.writeHead(502).end());
  });
  file = await createMeshFile(`
services:
  productpage: { protocol: http, port: 9080, endpoints: [{ address: 127.0.0.1:${productpage} }] }
  reviews: { protocol: http, port: 9080, endpoints: [{ address: 127.0.0.1:${reviews} }] }
  ratings:
    protocol: http
    port: 9080
    endpoints: [{ address: 127.0.0.1:${ratings} }]
    routes:
      - retries: { attempts: 2, backoff: { base: 1ms, max: 2ms } }
`);
  mesh = await init({ service: { name: 'bookinfo' }, config: file.path, tracing: { exporter: 'memory', sampleRate: 1 } });
});

afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  await mesh?.close();
  await file?.remove();
});

it('links the whole chain into one trace, with each retry its own attempt span', async () => {
  ratingsFailures = 1;
  const res = await fetch('http://productpage:9080/');
  expect(await res.text()).toBe('stars 5');
  const tracing = mesh.telemetry()!.tracing!;
  await tracing.flush();
  const spans = tracing.memory!.getFinishedSpans();
  const traceIds = new Set(spans.map((s) => s.spanContext().traceId));
  expect(traceIds.size).toBe(1);
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  const parentOf = (s: (typeof spans)[number]) => byId.get(s.parentSpanContext?.spanId ?? '');
  const servers = spans.filter((s) => s.kind === 1); // SERVER
  expect(servers).toHaveLength(4); // productpage, reviews, and ratings twice (the first try failed)
  // Every server span but the entry's hangs under a client attempt span of its caller.
  const clients = spans.filter((s) => s.kind === 2); // CLIENT (attempts)
  expect(clients.length).toBe(4); // productpage→reviews, reviews→ratings twice (one retry), entry call
  for (const server of servers) {
    const parent = parentOf(server);
    expect(parent?.kind).toBe(2);
  }
  // The retry is a second attempt span under the same call span.
  const ratingsAttempts = clients.filter((c) => parentOf(c)?.attributes['enmesh.service'] === 'ratings');
  expect(ratingsAttempts).toHaveLength(2);
  expect(new Set(ratingsAttempts.map((c) => parentOf(c)!.spanContext().spanId)).size).toBe(1);
});
