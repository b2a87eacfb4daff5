/**
 * Zero-line adoption: `node --import enmesh/register app.js` configured by
 * ENMESH_* variables routes an unmodified script's calls by service name.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBackend, type Backend } from '../helpers/http-backend.ts';
import { createMeshFile, type MeshFile } from '../helpers/mesh-file.ts';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
let backend: Backend;
let file: MeshFile;

beforeAll(async () => {
  backend = await startBackend('registered');
  file = await createMeshFile(`
services:
  details:
    protocol: http
    port: 9080
    endpoints: [{ address: ${backend.address} }]
`);
});

afterAll(async () => {
  await backend?.close();
  await file?.remove();
});

const app = `
const r = await fetch('http://details:9080/details/1');
const http = await import('node:http');
const viaHttp = await new Promise((ok) => http.get('http://details/x', (res) => { let t = ''; res.on('data', (c) => t += c); res.on('end', () => ok(t)); }));
console.log(JSON.stringify({ status: r.status, body: await r.text(), viaHttp }));
process.exit(0);
`;

it('hooks an unmodified script from the environment', async () => {
  const { stdout } = await run(process.execPath, ['--conditions=enmesh-source', '--import', 'enmesh/register', '--input-type=module', '-e', app], {
    cwd: root,
    env: { ...process.env, ENMESH_CONFIG: file.path, ENMESH_SERVICE: 'productpage' },
    timeout: 20_000,
  });
  expect(JSON.parse(stdout.trim())).toEqual({ status: 200, body: 'registered', viaHttp: 'registered' });
});

it('fails fast with a clear message when no config source is set', async () => {
  const err = await run(process.execPath, ['--conditions=enmesh-source', '--import', 'enmesh/register', '-e', 'console.log(1)'], {
    cwd: root,
    env: { ...process.env, ENMESH_CONFIG: '', ENMESH_CONTROL_PLANE: '' },
    timeout: 20_000,
  }).then(
    () => undefined,
    (e: { code: number; stderr: string }) => e,
  );
  expect(err).toBeDefined();
  expect(err!.code).not.toBe(0);
  expect(err!.stderr).toContain('ENMESH_CONFIG');
});
