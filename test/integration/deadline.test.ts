/**
 * Deadline propagation: an inbound request's remaining time travels in
 * x-enmesh-timeout-ms and bounds the outbound calls made while handling it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../src/index.ts';
import { startBackend, type Backend } from '../helpers/http-backend.ts';
import { createMeshFile, type MeshFile } from '../helpers/mesh-file.ts';

let slow: Backend;
let mesh: Mesh;
let file: MeshFile;
let front: http.Server;
let frontPort: number;

beforeAll(async () => {
  slow = await startBackend('slow');
  file = await createMeshFile(`
services:
  reviews:
    protocol: http
    port: 9080
    endpoints: [{ address: ${slow.address} }]
    routes:
      - name: per-try
        match: { path: { prefix: /per-try } }
        timeout: 5s
        retries: { attempts: 1, perTryTimeout: 300ms, on: [5xx] }
      - timeout: 5s
`);
  mesh = await init({ config: file.path });
  // A service in this process: it calls reviews while handling each request.
  front = http.createServer((req, res) => {
    const started = performance.now();
    fetch('http://reviews:9080/x').then(
      async (r) => {
        await r.text();
        res.end(JSON.stringify({ status: r.status, flags: r.headers.get('x-enmesh-response-flags'), ms: performance.now() - started }));
      },
      (err: Error) => res.end(JSON.stringify({ error: err.message })),
    );
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  frontPort = (front.address() as AddressInfo).port;
});

afterAll(async () => {
  front?.closeAllConnections();
  front?.close();
  await mesh?.close();
  await slow?.close();
  await file?.remove();
});

it('sends the remaining route timeout upstream', async () => {
  slow.reset();
  const res = await fetch('http://reviews:9080/y');
  expect(res.status).toBe(200);
  const sent = Number(slow.seen[0]!.headers['x-enmesh-timeout-ms']);
  expect(sent).toBeGreaterThan(4800);
  expect(sent).toBeLessThanOrEqual(5000);
});

it("bounds an outbound call by the inbound request's deadline", async () => {
  slow.reset();
  slow.delay(1500);
  const res = await fetch(`http://127.0.0.1:${frontPort}/`, { headers: { 'x-enmesh-timeout-ms': '250' } });
  const body = (await res.json()) as { status: number; flags: string; ms: number };
  expect(body.status).toBe(504);
  expect(body.flags).toBe('UT');
  expect(body.ms).toBeGreaterThanOrEqual(200);
  expect(body.ms).toBeLessThan(1000);
  const sent = Number(slow.seen[0]?.headers['x-enmesh-timeout-ms'] ?? NaN);
  expect(sent).toBeLessThanOrEqual(250);
});

it('without an inbound deadline the route timeout alone applies', async () => {
  slow.reset();
  slow.delay(300);
  const res = await fetch(`http://127.0.0.1:${frontPort}/`);
  const body = (await res.json()) as { status: number };
  expect(body.status).toBe(200);
});

it("sends each try's own budget when a per-try timeout is shorter than the time left", async () => {
  slow.reset();
  const res = await fetch('http://reviews:9080/per-try');
  expect(res.status).toBe(200);
  const sent = Number(slow.seen[0]!.headers['x-enmesh-timeout-ms']);
  expect(sent).toBeGreaterThan(250);
  expect(sent).toBeLessThanOrEqual(300);
});
