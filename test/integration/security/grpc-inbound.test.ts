/**
 * gRPC servers under init() with mTLS strict: the server bound after init()
 * serves the SVID and requires the caller's; the caller's verified SPIFFE ID
 * is `mesh.peer(call)`; authorization on the method path and JWT from the
 * metadata run before the handler (PERMISSION_DENIED / UNAUTHENTICATED).
 */
import * as grpc from '@grpc/grpc-js';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { startControlPlane, type ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import type { SvidManager } from '../../../src/security/svid-manager.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';
import { callRatings as call, freePort, ratingsClientAs, ratingsService as service, svidFor as svidFrom } from './fixtures/grpc-ratings.ts';

let file: MeshFile;
let cp: ControlPlane;
let mesh: Mesh;
let server: grpc.Server;
let port: number;
let issuerKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
const clients: SvidManager[] = [];
const handled: string[] = [];

async function svidFor(name: string): Promise<SvidManager> {
  const m = await svidFrom(cp, 'demo.local', name);
  clients.push(m);
  return m;
}

const clientAs = (svids: SvidManager | undefined): grpc.Client => ratingsClientAs(port, svids, 'spiffe://demo.local/service/ratings');

beforeAll(async () => {
  port = await freePort();
  const keys = await generateKeyPair('ES256');
  issuerKey = keys.privateKey;
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256' };
  file = await createMeshFile(`
mesh: { trustDomain: demo.local, mtls: strict }
services:
  ratings: { protocol: grpc, port: 50051, endpoints: [{ address: 127.0.0.1:${port} }] }
policies:
  authentication:
    - name: users
      target: ratings
      jwt: { issuer: https://issuer.test, audiences: [ratings], jwks: '${JSON.stringify({ keys: [jwk] })}' }
  authorization:
    - name: reviews-reads
      target: ratings
      from: [{ service: reviews }]
      to: [{ paths: [/ratings.Ratings/Get] }]
`);
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, ca: { svidTtlMs: 3600_000 } });
  mesh = await init({ service: { name: 'ratings', port }, config: file.path, security: { token: await cp.ca!.mintToken('ratings'), caUrl: `http://127.0.0.1:${cp.adminPort}` } });
  server = new grpc.Server();
  server.addService(service, {
    Get: (c: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      handled.push('Get');
      cb(null, { caller: mesh.peer(c)?.spiffeId ?? null });
    },
    Delete: (_c: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      handled.push('Delete');
      cb(null, {});
    },
  });
  // The application binds with insecure credentials: the mesh serves its SVID instead (strict).
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
});

afterAll(async () => {
  server?.forceShutdown();
  for (const c of clients) c.close();
  await mesh?.close();
  await cp?.close();
  await file?.remove();
});

describe('gRPC inbound under mTLS strict', () => {
  it('reviews may call Get; the handler sees the verified caller', async () => {
    const reviews = clientAs(await svidFor('reviews'));
    const r = await call(reviews, 'Get');
    expect(r).toEqual({ code: 0, details: '', body: { caller: 'spiffe://demo.local/service/reviews' } });
    reviews.close();
  });

  it('details may not (PERMISSION_DENIED), nor may reviews call Delete; the handler never runs', async () => {
    handled.length = 0;
    const details = clientAs(await svidFor('details'));
    const reviews = clientAs(clients[0]);
    expect((await call(details, 'Get')).code).toBe(grpc.status.PERMISSION_DENIED);
    const del = await call(reviews, 'Delete');
    expect(del.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(del.details).toMatch(/RBAC: access denied/);
    expect(handled).toEqual([]);
    details.close();
    reviews.close();
  });

  it('a bad JWT in the metadata is UNAUTHENTICATED; a good one passes', async () => {
    const reviews = clientAs(clients[0]);
    const bad = new grpc.Metadata();
    bad.set('authorization', 'Bearer not.a.token');
    expect((await call(reviews, 'Get', bad)).code).toBe(grpc.status.UNAUTHENTICATED);
    const good = new grpc.Metadata();
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://issuer.test').setSubject('u1').setAudience('ratings').setExpirationTime('5m').sign(issuerKey);
    good.set('authorization', `Bearer ${token}`);
    expect((await call(reviews, 'Get', good)).code).toBe(0);
    reviews.close();
  });

  it('a plaintext client cannot reach the server', async () => {
    const plain = clientAs(undefined);
    plain.waitForReady(Date.now() + 20_000, () => undefined);
    const r = await call(plain, 'Get');
    expect(r.code).toBe(grpc.status.UNAVAILABLE);
    plain.close();
  });

  it('counts denials per policy in enmesh_authz_denials_total', async () => {
    const text = await mesh.metrics();
    expect(text).toMatch(/enmesh_authz_denials_total\{destination_service="ratings",policy="",dry_run="false"\} [2-9]/);
  });
});
