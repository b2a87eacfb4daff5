/**
 * Zero-line adoption: `node --import enmesh/register app.js` configured by
 * ENMESH_* variables routes an unmodified script's calls by service name.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBackend, type Backend } from '../helpers/http-backend.ts';
import { createMeshFile, type MeshFile } from '../helpers/mesh-file.ts';
import { freePort } from '../helpers/free-port.ts';

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

// grpc-js is loaded by the application after the mesh started (as `--import` makes it): it is hooked then, not before.
const grpcApp = `
import { createRequire } from 'node:module';
const require = createRequire(process.cwd() + '/index.js');
const loadedAtStart = Object.keys(require.cache).some((k) => k.includes('@grpc/grpc-js'));
// Nor is opossum (no circuit breaker is configured), nor OpenTelemetry's API (metrics on, tracing off).
const opossumAtStart = Object.keys(require.cache).some((k) => k.includes('/opossum/'));
const otelAtStart = Object.keys(require.cache).some((k) => k.includes('/@opentelemetry/'));
const grpc = require('@grpc/grpc-js');
const bytes = (b) => b;
const def = { Echo: { path: '/test.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes } };
const server = new grpc.Server();
server.addService(def, { Echo: (call, cb) => cb(null, call.request) });
const port = await new Promise((ok, fail) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? fail(e) : ok(p))));
const client = new (grpc.makeGenericClientConstructor(def, 'Echo'))('127.0.0.1:' + port, grpc.credentials.createInsecure());
for (let i = 0; i < 3; i++) await new Promise((ok, fail) => client.Echo(Buffer.from('hi'), (e, r) => (e ? fail(e) : ok(r))));
const metrics = await (await fetch('http://127.0.0.1:' + process.env.ENMESH_METRICS_PORT + '/metrics')).text();
const count = (reporter) => metrics.split('\\n').filter((l) => l.startsWith('istio_requests_total{') && l.includes('reporter="' + reporter + '"') && l.includes('request_protocol="grpc"')).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
console.log(JSON.stringify({ loadedAtStart, opossumAtStart, otelAtStart, server: count('destination') }));
client.close();
server.forceShutdown();
process.exit(0);
`;

it('hooks grpc-js when an unmodified script loads it after the mesh started', async () => {
  const metricsPort = await freePort();
  const { stdout } = await run(process.execPath, ['--conditions=enmesh-source', '--import', 'enmesh/register', '--input-type=module', '-e', grpcApp], {
    cwd: root,
    env: { ...process.env, ENMESH_CONFIG: file.path, ENMESH_SERVICE: 'productpage', ENMESH_METRICS_PORT: String(metricsPort) },
    timeout: 20_000,
  });
  // The server side's Istio metrics count every call (a client call to an address outside the mesh is not counted).
  expect(JSON.parse(stdout.trim())).toEqual({ loadedAtStart: false, opossumAtStart: false, otelAtStart: false, server: 3 });
});
