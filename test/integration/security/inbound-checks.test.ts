/**
 * Inbound security checks as the docs state them: a dry-run policy counts
 * only the requests it would have denied; two Authorization headers are
 * refused (Node keeps only the first in `req.headers`); a `namespace`
 * source, which no enmesh identity can match, is reported when the policies
 * are loaded.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';

let mesh: Mesh;
let file: MeshFile;
let server: http.Server;
let port: number;
let token: string;
let jwks: string;
const seen: string[] = [];
const warnings: Error[] = [];
const onWarning = (w: Error): void => {
  warnings.push(w);
};

const yaml = (extra = ''): string => `
mesh: { trustDomain: test.local }
services:
  details: { protocol: http, port: 9080 }
${extra}
policies:
  authentication:
    - name: users
      target: details
      jwt: { issuer: https://issuer.test, audiences: [details], jwks: '${jwks}' }
  authorization:
    - name: public-only
      target: details
      to: [{ paths: [/public/*] }]
    - name: preview-dry
      target: details
      dryRun: true
      to: [{ paths: [/preview/*] }]
    - name: no-delete-dry
      target: details
      action: deny
      dryRun: true
      to: [{ methods: [DELETE] }]
    - name: batch-namespace
      target: details
      action: deny
      from: [{ namespace: batch }]
`;

beforeAll(async () => {
  const keys = await generateKeyPair('ES256');
  jwks = JSON.stringify({ keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256' }] });
  token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://issuer.test').setSubject('u1').setAudience('details').setExpirationTime('5m').sign(keys.privateKey);
  process.on('warning', onWarning);
  file = await createMeshFile(yaml());
  mesh = await init({ service: { name: 'details' }, config: file.path });
  server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  process.off('warning', onWarning);
  server?.closeAllConnections();
  server?.close();
  await mesh?.close();
  await file?.remove();
});

/** A request written as is on a socket: clients merge or refuse repeated Authorization headers. */
function raw(method: string, path: string, headers: readonly string[] = []): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`${method} ${path} HTTP/1.1\r\nHost: details\r\n${headers.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n`));
    let text = '';
    socket.on('data', (c) => (text += c));
    socket.on('end', () => resolve(Number(text.slice(9, 12))));
    socket.on('error', reject);
  });
}

const dryRunSeries = async (): Promise<string[]> => (await mesh.metrics()).split('\n').filter((l) => l.startsWith('enmesh_authz_denials_total{') && l.includes('dry_run="true"'));

it('counts as dry-run denials only the requests a dry-run policy would have denied', async () => {
  seen.length = 0;
  // Denied (no allow policy matches); the dry-run allow would let it through: not a would-be denial.
  expect(await raw('GET', '/preview/a')).toBe(403);
  expect(await dryRunSeries()).toEqual([]);
  // Allowed; the dry-run deny would have denied it: counted, and still let through.
  expect(await raw('DELETE', '/public/a')).toBe(200);
  expect(seen).toEqual(['DELETE /public/a']);
  expect(await dryRunSeries()).toEqual(['enmesh_authz_denials_total{destination_service="details",policy="no-delete-dry",dry_run="true"} 1']);
  const inbound = (mesh.policies() as { inbound: { counters: { dryRunDenials: number; denied: number } } }).inbound;
  expect(inbound.counters).toMatchObject({ dryRunDenials: 1, denied: 1 });
});

it('refuses a request with two Authorization headers, whatever the first one holds', async () => {
  seen.length = 0;
  expect(await raw('GET', '/public/one', [`Authorization: Bearer ${token}`])).toBe(200);
  expect(await raw('GET', '/public/two', [`Authorization: Bearer ${token}`, 'Authorization: Bearer forged.token.here'])).toBe(401);
  expect(await raw('GET', '/public/three', [`authorization: Bearer ${token}`, `AUTHORIZATION: Bearer ${token}`])).toBe(401);
  expect(seen).toEqual(['GET /public/one']);
});

it('reports a namespace source when the policies are loaded, once per set of policies', async () => {
  await new Promise((r) => setImmediate(r)); // process warnings are emitted on the next tick
  const namespace = warnings.filter((w) => w.message.includes('namespace "batch" never matches'));
  expect(namespace).toHaveLength(1);
  expect((namespace[0] as Error & { code?: string }).code).toBe('ENMESH_ERR_CONFIG_INVALID');
  expect(namespace[0]!.message).toContain('authorization policy "batch-namespace"');
  // A reload that leaves this service's policies alone says nothing again.
  await file.apply(mesh, yaml('  reviews: { protocol: http, port: 9080 }'));
  await new Promise((r) => setImmediate(r));
  expect(warnings.filter((w) => w.message.includes('never matches'))).toHaveLength(1);
});
