/**
 * Server-side rate-limit descriptors keyed by the caller's service: over
 * mTLS the caller's verified SPIFFE ID names it, so `by: source-service`
 * applies to inbound requests (a caller without a verified identity has no
 * service, and only the service-wide bucket applies to it).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { startControlPlane, type ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import type { SvidManager } from '../../../src/security/svid-manager.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';
import { svidFor } from './fixtures/grpc-ratings.ts';

let file: MeshFile;
let cp: ControlPlane;
let mesh: Mesh;
let server: http.Server;
let port: number;
const svids: SvidManager[] = [];
const agents: Agent[] = [];
let handled = 0;

beforeAll(async () => {
  server = http.createServer((_req, res) => {
    handled++;
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  file = await createMeshFile(`
mesh: { trustDomain: demo.local, mtls: strict }
services:
  ratings:
    protocol: http
    port: 9080
    endpoints: [{ address: 127.0.0.1:${port} }]
    rateLimit:
      requestsPerSecond: 1000
      side: server
      descriptors:
        - { by: source-service, value: batch, requestsPerSecond: 0.01, burst: 1 }
        - { by: source-service, requestsPerSecond: 0.01, burst: 3 }
`);
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, ca: { svidTtlMs: 3600_000 } });
  mesh = await init({ service: { name: 'ratings', port }, config: file.path, security: { token: await cp.ca!.mintToken('ratings'), caUrl: `http://127.0.0.1:${cp.adminPort}` } });
  await mesh.ready;
});

afterAll(async () => {
  for (const a of agents) await a.close();
  for (const s of svids) s.close();
  server?.closeAllConnections();
  server?.close();
  await mesh?.close();
  await cp?.close();
  await file?.remove();
});

/** A client presenting the SVID of `service` (the server's is checked against the bundle; it names no host). */
async function clientAs(service: string): Promise<() => Promise<number>> {
  const m = await svidFor(cp, 'demo.local', service);
  svids.push(m);
  const agent = new Agent({ connect: { ...m.contextOptions(), checkServerIdentity: () => undefined } });
  agents.push(agent);
  return async () => {
    const res = await request(`https://127.0.0.1:${port}/`, { dispatcher: agent });
    await res.body.dump();
    return res.statusCode;
  };
}

it('limits each calling service by its verified identity', async () => {
  const batch = await clientAs('batch');
  const reviews = await clientAs('reviews');
  handled = 0;
  // batch: its own bucket of 1.
  expect([await batch(), await batch(), await batch()]).toEqual([200, 429, 429]);
  // reviews: the per-caller bucket of 3, which batch's requests did not drain.
  expect([await reviews(), await reviews(), await reviews(), await reviews()]).toEqual([200, 200, 200, 429]);
  expect(handled).toBe(4);
  const state = (mesh.policies() as { inbound: { rateLimit: { descriptors: { by: string; value?: string; buckets: number }[] } } }).inbound.rateLimit;
  expect(state.descriptors).toEqual([
    { by: 'source-service', value: 'batch', buckets: 1 },
    { by: 'source-service', buckets: 2 },
  ]);
});
