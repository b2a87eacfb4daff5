/**
 * The inbound limits of a gRPC service, as for HTTP and before the handler:
 * the server-side rate limit (RESOURCE_EXHAUSTED, keyed by the caller's
 * verified service), inbound faults (an abort's HTTP status read as gRPC
 * reads it: 503 → UNAVAILABLE, 404 → UNIMPLEMENTED; delays), and adaptive
 * concurrency (UNAVAILABLE, as Envoy's 503 reads in gRPC), whose slots are
 * given back when the calls end.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { startControlPlane, type ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import type { SvidManager } from '../../../src/security/svid-manager.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';
import { callRatings as call, freePort, ratingsClientAs, ratingsService as service, svidFor } from './fixtures/grpc-ratings.ts';

let file: MeshFile;
let cp: ControlPlane;
let mesh: Mesh;
let server: grpc.Server;
let port: number;
let batch: grpc.Client;
let reviews: grpc.Client;
const svids: SvidManager[] = [];
let handled = 0;
let delayMs = 0;

const yaml = (extra: string): string => `
mesh: { trustDomain: demo.local, mtls: strict }
services:
  ratings:
    protocol: grpc
    port: 50051
    endpoints: [{ address: 127.0.0.1:${port} }]
${extra}`;

async function clientAs(name: string): Promise<grpc.Client> {
  const m = await svidFor(cp, 'demo.local', name);
  svids.push(m);
  return ratingsClientAs(port, m, 'spiffe://demo.local/service/ratings');
}

beforeAll(async () => {
  port = await freePort();
  file = await createMeshFile(yaml(''));
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, ca: { svidTtlMs: 3600_000 } });
  mesh = await init({ service: { name: 'ratings', port }, config: file.path, security: { token: await cp.ca!.mintToken('ratings'), caUrl: `http://127.0.0.1:${cp.adminPort}` } });
  server = new grpc.Server();
  server.addService(service, {
    Get: (_c: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      handled++;
      setTimeout(() => cb(null, { ok: true }), delayMs);
    },
    Delete: (_c: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  batch = await clientAs('batch');
  reviews = await clientAs('reviews');
});

afterAll(async () => {
  batch?.close();
  reviews?.close();
  server?.forceShutdown();
  for (const s of svids) s.close();
  await mesh?.close();
  await cp?.close();
  await file?.remove();
});

const metric = async (name: string): Promise<string[]> => (await mesh.metrics()).split('\n').filter((l) => l.startsWith(`${name}{`));

describe('gRPC inbound limits', () => {
  it('rate-limits per calling service with RESOURCE_EXHAUSTED, before the handler', async () => {
    await file.apply(
      mesh,
      yaml(`    rateLimit:
      requestsPerSecond: 1000
      side: server
      descriptors: [{ by: source-service, value: batch, requestsPerSecond: 0.01, burst: 1 }]
`),
    );
    handled = 0;
    expect((await call(batch, 'Get')).code).toBe(grpc.status.OK);
    const limited = await call(batch, 'Get');
    expect(limited).toEqual({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'rate limit exceeded' });
    expect((await call(reviews, 'Get')).code).toBe(grpc.status.OK);
    expect(handled).toBe(2);
    expect(await metric('enmesh_rate_limited_total')).toEqual(['enmesh_rate_limited_total{destination_service="ratings",scope="local"} 1']);
    // The refused call is recorded by the destination reporter too, with its status and flag.
    const refused = (await metric('istio_requests_total')).filter((l) => l.includes('reporter="destination"') && l.includes('grpc_response_status="8"'));
    expect(refused, (await metric('istio_requests_total')).join('\n')).toHaveLength(1);
    expect(refused[0]).toContain('source_principal="spiffe://demo.local/service/batch"');
    expect(refused[0]).toContain('response_flags="RL"');
  });

  it('injects faults: an abort status as gRPC reads it, delays before the handler', async () => {
    await file.apply(mesh, yaml('    inboundFault: { abort: { status: 503 }, header: x-chaos }\n'));
    handled = 0;
    const chaos = new grpc.Metadata();
    chaos.set('x-chaos', '1');
    expect(await call(reviews, 'Get', chaos)).toEqual({ code: grpc.status.UNAVAILABLE, details: 'fault filter abort' });
    expect((await call(reviews, 'Get')).code).toBe(grpc.status.OK);
    await file.apply(mesh, yaml('    inboundFault: { abort: { status: 404 } }\n'));
    expect((await call(reviews, 'Get')).code).toBe(grpc.status.UNIMPLEMENTED);
    expect(handled).toBe(1);
    await file.apply(mesh, yaml('    inboundFault: { delay: { duration: 150ms } }\n'));
    const started = performance.now();
    expect((await call(reviews, 'Get')).code).toBe(grpc.status.OK);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    const faults = await metric('enmesh_faults_injected_total');
    expect(faults).toContain('enmesh_faults_injected_total{destination_service="ratings",route="",kind="abort"} 2');
    expect(faults).toContain('enmesh_faults_injected_total{destination_service="ratings",route="",kind="delay"} 1');
  });

  it('sheds calls over the adaptive limit with UNAVAILABLE, and frees the slots as calls end', async () => {
    await file.apply(mesh, yaml('    adaptiveConcurrency: { initialLimit: 2, minLimit: 1, maxLimit: 2 }\n'));
    handled = 0;
    delayMs = 200;
    const results = await Promise.all(Array.from({ length: 8 }, () => call(reviews, 'Get')));
    delayMs = 0;
    const shed = results.filter((r) => r.code === grpc.status.UNAVAILABLE);
    expect(shed).toHaveLength(6);
    expect(shed[0]!.details).toMatch(/overloaded/);
    expect(handled).toBe(2);
    // Every slot came back with the status of its call.
    expect((mesh.policies() as { inbound: { adaptiveConcurrency: { inFlight: number } } }).inbound.adaptiveConcurrency.inFlight).toBe(0);
    expect((await call(reviews, 'Get')).code).toBe(grpc.status.OK);
    expect(await metric('enmesh_adaptive_concurrency_shed_total')).toEqual(['enmesh_adaptive_concurrency_shed_total{destination_service="ratings",dry_run="false"} 6']);
  });
});
