/**
 * An application that gives up while the mesh is retrying (here: while a
 * retriable 503's body drains, before the next attempt) gets its abort error
 * and no further attempt is sent, on every transport; the call is counted
 * once, as Envoy counts a downstream cancel.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';
import { abortableClients } from '../../helpers/clients.ts';

let server: http.Server;
let mesh: Mesh;
let file: MeshFile;
let seen = 0;

beforeAll(async () => {
  // Every answer is a 503 whose body takes 400 ms: the mesh drains it before retrying.
  server = http.createServer((_req, res) => {
    seen++;
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.write('partial ');
    setTimeout(() => res.end('rest'), 400);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  file = await createMeshFile(`
services:
  flaky:
    protocol: http
    port: 9080
    endpoints: [{ address: 127.0.0.1:${(server.address() as AddressInfo).port} }]
    routes:
      - name: all
        retries: { attempts: 3, on: [5xx], backoff: { base: 1ms, max: 2ms } }
        backends: [{ service: flaky }]
`);
  mesh = await init({ config: file.path, watch: false, metrics: { port: 0, host: '127.0.0.1' } });
});

afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
  await mesh?.close();
  await file?.remove();
});

it.each(Object.entries(abortableClients))('%s: an abort while a retried answer drains ends the call, with no further attempt', async (_name, send) => {
  seen = 0;
  const outcome = send('http://flaky:9080/x', AbortSignal.timeout(150)).then(
    () => 'answered',
    (err: Error) => err.name,
  );
  expect(await outcome).toMatch(/AbortError|TimeoutError/);
  await sleep(700); // past the drain and any retry that would have followed
  expect(seen).toBe(1);
});

it('counts each aborted call once, as response code 0 with the downstream-cancel flag DC', async () => {
  const lines = (await mesh.metrics()).split('\n').filter((l) => l.startsWith('istio_requests_total{') && l.includes('reporter="source"') && l.includes('destination_service="flaky"'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain('response_code="0"');
  expect(lines[0]).toContain('response_flags="DC"');
  expect(Number(lines[0]!.split(' ').at(-1))).toBe(Object.keys(abortableClients).length);
});
