/**
 * https:// to a mesh service: node:https (request and get) and undici with a
 * TLS-configured dispatcher reach the endpoints over TLS, with the same
 * routing and retries as plain HTTP.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { init, type Mesh } from '../../src/index.ts';
import { createMeshFile, type MeshFile } from '../helpers/mesh-file.ts';
import { httpsClient, runMany } from '../helpers/clients.ts';
import { selfSignedCert, type TestCert } from '../helpers/tls.ts';

let cert: TestCert;
let servers: https.Server[] = [];
let ports: number[] = [];
let failures = 0;
const hits = [0, 0];
let mesh: Mesh;
let file: MeshFile;

beforeAll(async () => {
  cert = await selfSignedCert('reviews');
  servers = [0, 1].map((i) =>
    https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
      hits[i]!++;
      if (failures > 0) {
        failures--;
        res.writeHead(503).end('fail');
        return;
      }
      res.end(`tls-${i}:${req.url}`);
    }),
  );
  ports = await Promise.all(
    servers.map((s) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)))),
  );
  file = await createMeshFile(`
services:
  reviews:
    protocol: http
    port: 9443
    endpoints:
      - { address: 127.0.0.1:${ports[0]}, labels: { version: v1 } }
      - { address: 127.0.0.1:${ports[1]}, labels: { version: v2 } }
    routes:
      - retries: { attempts: 2, backoff: { base: 1ms, max: 2ms } }
`);
  mesh = await init({ config: file.path });
});

afterAll(async () => {
  await mesh?.close();
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  await file?.remove();
});

it('balances https.request over TLS endpoints, verifying the certificate', async () => {
  const client = httpsClient(cert.cert);
  hits[0] = hits[1] = 0;
  const replies = await runMany(40, 5, () => client('https://reviews:9443/r'));
  expect(replies.every((r) => r.status === 200 && /^tls-[01]:\/r$/.test(r.body))).toBe(true);
  expect(hits[0]).toBeGreaterThan(0);
  expect(hits[1]).toBeGreaterThan(0);
});

it('retries over TLS', async () => {
  failures = 1;
  const reply = await httpsClient(cert.cert)('https://reviews:9443/again');
  expect(reply.status).toBe(200);
});

it('https.get works and an untrusted certificate fails the request', async () => {
  const body = await new Promise<string>((resolve, reject) => {
    https
      .get('https://reviews:9443/get', { ca: cert.cert }, (res) => {
        let t = '';
        res.on('data', (c: Buffer) => (t += c));
        res.on('end', () => resolve(t));
      })
      .on('error', reject);
  });
  expect(body).toMatch(/^tls-[01]:\/get$/);
  await expect(httpsClient('')('https://reviews:9443/untrusted')).rejects.toThrow();
});

it('undici with a TLS dispatcher composed with the mesh interceptor', async () => {
  const dispatcher = new Agent({ connect: { ca: cert.cert } }).compose(mesh.interceptor());
  const res = await request('https://reviews:9443/undici', { dispatcher });
  expect(res.statusCode).toBe(200);
  expect(await res.body.text()).toMatch(/^tls-[01]:\/undici$/);
});
