/** The access log of outbound calls: one JSON line per call, Envoy/Istio fields, errors-only filter. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init } from '../../../src/index.ts';
import { startBackend, type Backend } from '../../helpers/http-backend.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';

let backend: Backend;
let file: MeshFile;
let dir: string;

beforeAll(async () => {
  backend = await startBackend('reviews-v1');
  file = await createMeshFile(`
services:
  reviews:
    protocol: http
    port: 9080
    endpoints: [{ address: ${backend.address} }]
    routes:
      - name: api
        match: { path: { prefix: /api } }
`);
  dir = await mkdtemp(join(tmpdir(), 'enmesh-log-'));
});

afterAll(async () => {
  await backend?.close();
  await file?.remove();
  await rm(dir, { recursive: true, force: true });
});

async function linesAfter(filter: 'all' | 'errors'): Promise<Record<string, unknown>[]> {
  const path = join(dir, `${filter}.log`);
  const mesh = await init({ config: file.path, accessLog: { destination: path, filter } });
  try {
    for (let i = 0; i < 5; i++) await (await fetch('http://reviews:9080/api/items?id=1', { headers: { 'user-agent': 'log-test' } })).text();
    await (await fetch('http://reviews:9080/nowhere')).text(); // 404 NR
  } finally {
    await mesh.close(); // flushes
  }
  return (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

it('writes one JSON line per call with the upstream, route and flags', async () => {
  const lines = await linesAfter('all');
  expect(lines).toHaveLength(6);
  const ok = lines[0]!;
  expect(JSON.stringify(ok)).toContain(backend.address);
  expect(JSON.stringify(ok)).toContain('"api"');
  expect(JSON.stringify(ok)).toContain('log-test');
  expect(Object.values(ok)).toContain(200);
  expect(JSON.stringify(lines[5])).toContain('NR');
});

it('with the errors filter, logs only failed calls', async () => {
  const lines = await linesAfter('errors');
  expect(lines).toHaveLength(1);
  expect(Object.values(lines[0]!)).toContain(404);
});
