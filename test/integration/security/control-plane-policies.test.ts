/**
 * Control-plane mode: authorization policies reach the SDK as RBAC filters
 * and are enforced in-process on the verified mTLS identity; an instance
 * that registers with a token is labelled as serving mTLS, so even
 * `permissive` callers dial it with mTLS. A policy edit on the control
 * plane's mesh.yaml takes effect without a restart.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { startControlPlane, type ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';

let file: MeshFile;
let cp: ControlPlane;
let mesh: Mesh;
let server: http.Server;
let port: number;

const yaml = (allowed: string): string => `
mesh: { trustDomain: demo.local, mtls: permissive }
services:
  ratings: { protocol: http, port: 9080 }
policies:
  authorization:
    - name: only-${allowed}
      target: ratings
      from: [{ service: ${allowed} }]
`;

/** Waits until the model in force satisfies `ok`. */
async function until(ok: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  server = http.createServer((req, res) => res.end(mesh.peer(req)?.spiffeId ?? 'plaintext'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  file = await createMeshFile(yaml('reviews'));
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, startupHoldMs: 0, ca: { svidTtlMs: 3600_000 } });
  mesh = await init({
    service: { name: 'ratings', port },
    controlPlane: `xds://127.0.0.1:${cp.xdsPort}`,
    security: { token: await cp.ca!.mintToken('ratings'), caUrl: `http://127.0.0.1:${cp.adminPort}` },
  });
  await mesh.ready;
  await until(() => (mesh.config()?.services.get('ratings')?.endpoints.length ?? 0) > 0, 'the registered endpoint');
}, 60_000);

afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
  await mesh?.close();
  await cp?.close();
  await file?.remove();
});

it('the registered instance is labelled as serving mTLS, and the policy arrived through xDS', () => {
  const model = mesh.config()!;
  expect(model.source).toBe('xds');
  expect(model.services.get('ratings')!.endpoints[0]!.labels['security.enmesh.io/tlsMode']).toBe('mtls');
  expect(model.policies.authorization).toEqual([
    { name: 'only-reviews', target: 'ratings', action: 'allow', dryRun: false, from: [{ service: 'reviews' }], to: [] },
  ]);
});

it('enforces it on the verified caller: ratings is not reviews (403); then the edited policy lets it in over mTLS', async () => {
  const denied = await fetch('http://ratings:9080/');
  expect(denied.status).toBe(403);
  await file.write(yaml('ratings'));
  await until(() => mesh.config()?.policies.authorization[0]?.name === 'only-ratings', 'the edited policy');
  const allowed = await fetch('http://ratings:9080/');
  expect(allowed.status).toBe(200);
  expect(await allowed.text()).toBe('spiffe://demo.local/service/ratings');
});
