/**
 * Certificate rotation under load through init(): a short SVID lifetime
 * (6 s here; the CA accepts lifetimes down to 1 s, and the mechanism is the
 * same as with 60 s, renewal at ~50 %) over several renewals while requests
 * run, half of them on new connections (new handshakes with the new
 * certificate): 0 failed requests. Then the CA goes away: once the
 * certificate expires, mTLS fails closed with a clear error and a metric.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { startControlPlane, type ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';

const TTL_MS = 6000;
const LOAD_MS = 20_000;

let file: MeshFile;
let cp: ControlPlane | undefined;
let mesh: Mesh;
let server: http.Server;
let port: number;
const errors: Error[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => res.end(mesh.peer(req)?.service ?? 'none'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  file = await createMeshFile(`
mesh: { trustDomain: demo.local, mtls: strict }
services:
  ratings: { protocol: http, port: 9080, endpoints: [{ address: 127.0.0.1:${port} }] }
`);
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, ca: { svidTtlMs: TTL_MS } });
  const token = await cp.ca!.mintToken('ratings');
  mesh = await init({ service: { name: 'ratings', port }, config: file.path, security: { token, caUrl: `http://127.0.0.1:${cp.adminPort}` } });
  mesh.on('error', (err) => errors.push(err));
});

afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
  await mesh?.close();
  await cp?.close();
  await file?.remove();
});

it(`rotates across several renewals under load with 0 failed requests`, { timeout: 90_000 }, async () => {
  const svids = mesh.security().svids!;
  const firstSerial = svids.current()!.serial;
  const renewalsBefore = svids.renewals;
  const serials = new Set<string>([firstSerial]);
  svids.on('rotated', (s: { serial: string }) => serials.add(s.serial));
  let ok = 0;
  let failed = 0;
  const failures: string[] = [];
  const deadline = Date.now() + LOAD_MS;
  const MAX_REQUESTS = 200_000;
  const worker = async (fresh: boolean): Promise<void> => {
    while (Date.now() < deadline && ok + failed < MAX_REQUESTS) {
      try {
        // reset: this request's connection closes after it, so the next one handshakes again.
        const res = await request('http://ratings:9080/', { reset: fresh });
        const body = await res.body.text();
        if (res.statusCode === 200 && body === 'ratings') ok++;
        else (failed++, failures.push(`${res.statusCode} ${body}`));
      } catch (err) {
        failed++;
        if (failures.length < 5) failures.push((err as Error).message);
      }
    }
  };
  await Promise.all([worker(true), worker(true), worker(false), worker(false)]);
  expect(failures).toEqual([]);
  expect(failed).toBe(0);
  expect(ok).toBeGreaterThan(200);
  // 20 s at ~3 s per renewal: at least 4 renewals (bounds, not exact: the machine is shared).
  expect(svids.renewals - renewalsBefore).toBeGreaterThanOrEqual(4);
  expect(serials.size).toBeGreaterThanOrEqual(5);
});

it('fails closed once the certificate expires while the CA is down', { timeout: 60_000 }, async () => {
  const svids = mesh.security().svids!;
  await cp!.close();
  cp = undefined;
  const expiresAt = svids.current()!.notAfter;
  // Wait past expiry (bounded: the lifetime is TTL_MS plus at most 10 % back-dating).
  await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now()) + 500));
  expect(svids.ready).toBe(false);
  const err = await request('http://ratings:9080/', { reset: true }).then(
    () => undefined,
    (e: unknown) => e as Error & { cause?: { code?: string } },
  );
  expect(err).toBeDefined();
  const text = `${err!.message} ${String(err!.cause?.code ?? '')} ${(err as { code?: string }).code ?? ''}`;
  expect(text).toMatch(/ENMESH_ERR_SVID_UNAVAILABLE|no healthy|expired/);
  expect(errors.some((e) => /expired .* mTLS is refused until the CA answers again/.test(e.message))).toBe(true);
  const metrics = await mesh.metrics();
  expect(metrics).toMatch(/enmesh_mtls_refusals_total\{reason="svid-unavailable"\} [1-9]/);
  expect(metrics).toMatch(/enmesh_cert_expiry_seconds\{principal="spiffe:\/\/demo\.local\/service\/ratings"\} (-\d+|0)/);
});
