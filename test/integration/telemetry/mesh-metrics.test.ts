/**
 * Istio-standard request metrics recorded by the mesh itself, for real
 * traffic: outbound (reporter="source") per destination and response code,
 * local replies with their response flags, and inbound (reporter="destination").
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { startBackend, type Backend } from '../../helpers/http-backend.ts';
import { runMany } from '../../helpers/clients.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';

let backend: Backend;
let mesh: Mesh;
let file: MeshFile;
let server: http.Server;

beforeAll(async () => {
  backend = await startBackend('reviews-v1');
  file = await createMeshFile(`
services:
  reviews:
    protocol: http
    port: 9080
    endpoints: [{ address: ${backend.address}, labels: { version: v1 } }]
    routes:
      - match: { path: { prefix: /api } }
`);
  mesh = await init({ service: { name: 'productpage', labels: { version: 'v1' } }, config: file.path, metrics: { port: 0 } });
  server = http.createServer((_req, res) => res.end('hello'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});

afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
  await mesh?.close();
  await backend?.close();
  await file?.remove();
});

function sample(text: string, name: string, labels: Record<string, string>): number {
  const lines = text.split('\n').filter((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return lines.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

it('counts outbound requests by destination and code, local replies by flag, and inbound requests', async () => {
  backend.failNext(5, 503);
  await runMany(40, 8, async () => (await fetch('http://reviews:9080/api/x')).text());
  await runMany(3, 3, async () => (await fetch('http://reviews:9080/elsewhere')).text()); // 404 NR, local
  const port = (server.address() as AddressInfo).port;
  await runMany(7, 7, async () => (await fetch(`http://127.0.0.1:${port}/`)).text());

  const addr = mesh.metricsAddress()!;
  const text = await (await fetch(`http://${addr.host}:${addr.port}/metrics`)).text();
  expect(text).toBe(await mesh.metrics());
  const out = { reporter: 'source', source_workload: 'productpage-v1', destination_service_name: 'reviews' };
  expect(sample(text, 'istio_requests_total', { ...out, response_code: '200' })).toBe(35);
  expect(sample(text, 'istio_requests_total', { ...out, response_code: '503' })).toBe(5);
  expect(sample(text, 'istio_requests_total', { ...out, response_code: '404', response_flags: 'NR' })).toBe(3);
  expect(sample(text, 'istio_request_duration_milliseconds_count', { ...out })).toBe(43);
  // Inbound: the 7 requests to our server, and the 35 successful ones the test backend (also in
  // this process, so also hooked) answered.
  expect(sample(text, 'istio_requests_total', { reporter: 'destination', response_code: '200' })).toBe(7 + 35);
  expect(sample(text, 'istio_requests_total', { reporter: 'destination', response_code: '503' })).toBe(5);
});
