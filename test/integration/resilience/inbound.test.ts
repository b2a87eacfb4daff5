/**
 * Inbound protection of a process's own service, before the application
 * sees a request: the server-side rate limit and adaptive concurrency.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { request } from 'undici';
import { init, type Mesh } from '../../../src/index.ts';
import { runMany } from '../../helpers/clients.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';

let mesh: Mesh;
let file: MeshFile;
let server: http.Server;
let port: number;
let handled = 0;
let delayMs = 0;

const yaml = (extra: string): string => `
services:
  ratings:
    protocol: http
    port: 9080
${extra}`;

beforeAll(async () => {
  file = await createMeshFile(yaml('    rateLimit: { requestsPerSecond: 10, burst: 5, side: server }\n'));
  mesh = await init({ service: { name: 'ratings' }, config: file.path });
  server = http.createServer((_req, res) => {
    handled++;
    setTimeout(() => res.end('ok'), delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
  await mesh?.close();
  await file?.remove();
});

async function hit(): Promise<{ status: number; flags: unknown; retryAfter: unknown }> {
  const res = await request(`http://127.0.0.1:${port}/`);
  await res.body.dump();
  return { status: res.statusCode, flags: res.headers['x-enmesh-response-flags'], retryAfter: res.headers['retry-after'] };
}

it('refuses requests over the server-side rate limit before the application sees them', async () => {
  handled = 0;
  const replies = await runMany(30, 30, hit);
  const limited = replies.filter((r) => r.status === 429);
  expect(limited.length).toBeGreaterThanOrEqual(20);
  expect(handled).toBe(30 - limited.length);
  expect(limited[0]!.flags).toBe('RL');
  expect(Number(limited[0]!.retryAfter)).toBeGreaterThanOrEqual(1);
});

it('sheds load with 503 OM when adaptive concurrency says the process is saturated', async () => {
  await file.apply(mesh, yaml('    adaptiveConcurrency: { initialLimit: 4, minLimit: 2, maxLimit: 4 }\n'));
  handled = 0;
  delayMs = 200;
  const replies = await runMany(20, 20, hit);
  delayMs = 0;
  const shed = replies.filter((r) => r.status === 503);
  expect(shed.length).toBeGreaterThanOrEqual(16); // at most 4 in flight
  expect(shed[0]!.flags).toBe('OM');
  expect(handled).toBe(20 - shed.length);
  // Released as responses finish: a later request is admitted again.
  expect((await hit()).status).toBe(200);
});

it('injects faults into requests this service receives, gated by a header', async () => {
  await file.apply(mesh, yaml('    inboundFault: { abort: { percent: 100, status: 503 }, header: x-chaos }\n'));
  handled = 0;
  expect((await hit()).status).toBe(200);
  const res = await request(`http://127.0.0.1:${port}/`, { headers: { 'x-chaos': '1' } });
  await res.body.dump();
  expect(res.statusCode).toBe(503);
  expect(res.headers['x-enmesh-response-flags']).toBe('FI');
  expect(handled).toBe(1);
  await file.apply(mesh, yaml('    inboundFault: { delay: { percent: 100, duration: 150ms } }\n'));
  const started = performance.now();
  expect((await hit()).status).toBe(200);
  expect(performance.now() - started).toBeGreaterThanOrEqual(140);
});
