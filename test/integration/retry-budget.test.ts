/**
 * The retry budget keeps a failing backend from a retry storm: against a
 * backend answering 503 to everything, upstream attempts stay within 1.2× the
 * offered load although each request may retry 3 times.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { request } from 'undici';
import { init, type Mesh } from '../../src/index.ts';
import { startBackend, type Backend } from '../helpers/http-backend.ts';
import { createMeshFile, type MeshFile } from '../helpers/mesh-file.ts';

let backend: Backend;
let mesh: Mesh;
let file: MeshFile;

beforeAll(async () => {
  backend = await startBackend('failing');
  file = await createMeshFile(`
services:
  flaky:
    protocol: http
    port: 8080
    endpoints: [{ address: ${backend.address} }]
    routes:
      - retries: { attempts: 3, on: [5xx], backoff: { base: 1ms, max: 2ms }, budget: { percent: 20, minPerSecond: 10 } }
`);
  mesh = await init({ config: file.path });
});

afterAll(async () => {
  await mesh?.close();
  await backend?.close();
  await file?.remove();
});

it('caps upstream attempts at 1.2x the offered load against a 100 % 503 backend', async () => {
  backend.failAll(503);
  // 300 requests/s for 3 s, open loop, bounded in count and time.
  const offered = 900;
  const pending: Promise<number>[] = [];
  const started = performance.now();
  for (let i = 0; i < offered; i++) {
    const due = started + (i * 1000) / 300;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(request('http://flaky:8080/x').then(async (r) => (await r.body.dump(), r.statusCode)));
  }
  const statuses = await Promise.all(pending);
  expect(statuses.every((s) => s === 503)).toBe(true);
  const attempts = backend.seen.length;
  expect(attempts).toBeGreaterThan(offered); // retries happened...
  expect(attempts / offered).toBeLessThanOrEqual(1.2); // ...but within the budget
});
