/**
 * mTLS with an operator-supplied intermediate CA: SVIDs chain to the root
 * through it, and gRPC (whose API shows only the caller's leaf) still
 * verifies callers, completing the path with this workload's own
 * intermediates; HTTP mTLS from init() to another workload works the same.
 */
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { startControlPlane, type ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { privateKeyToPem } from '../../../src/security/x509.ts';
import { attachMeshTls } from '../../../src/security/permissive-listener.ts';
import type { SvidManager } from '../../../src/security/svid-manager.ts';
import { makeIntermediate, makeRoot } from '../../fixtures/security/pki.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';
import { callRatings, freePort, ratingsClientAs, ratingsService, svidFor } from './fixtures/grpc-ratings.ts';

let file: MeshFile;
let cp: ControlPlane;
let mesh: Mesh;
let server: grpc.Server;
let web: http.Server;
let port: number;
let webPort: number;
let reviews: SvidManager;

beforeAll(async () => {
  port = await freePort();
  web = http.createServer((req, res) => res.end(mesh.peer(req)?.spiffeId ?? 'plaintext'));
  await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
  webPort = (web.address() as AddressInfo).port;
  file = await createMeshFile(`
mesh: { trustDomain: demo.local, mtls: strict }
services:
  ratings: { protocol: grpc, port: 50051, endpoints: [{ address: 127.0.0.1:${port} }] }
  reviews: { protocol: http, port: 80, endpoints: [{ address: 127.0.0.1:${webPort} }] }
`);
  const root = await makeRoot('CN=operator root');
  const intermediate = await makeIntermediate(root, 'CN=operator intermediate');
  const dir = dirname(file.path);
  await writeFile(join(dir, 'int.pem'), intermediate.pem);
  await writeFile(join(dir, 'int-key.pem'), await privateKeyToPem(intermediate.keys.privateKey));
  await writeFile(join(dir, 'root.pem'), root.pem);
  cp = await startControlPlane({
    config: file.path,
    xdsPort: 0,
    adminPort: 0,
    log: silentLogger,
    ca: { certFile: join(dir, 'int.pem'), keyFile: join(dir, 'int-key.pem'), bundleFile: join(dir, 'root.pem'), svidTtlMs: 3600_000 },
  });
  reviews = await svidFor(cp, 'demo.local', 'reviews');
  // Another workload's HTTP server (reviews), with its own SVID: not this process's service port.
  attachMeshTls(web, { mode: 'strict', svids: reviews });
  mesh = await init({ service: { name: 'ratings', port }, config: file.path, security: { token: await cp.ca!.mintToken('ratings'), caUrl: `http://127.0.0.1:${cp.adminPort}` } });
  server = new grpc.Server();
  server.addService(ratingsService, {
    Get: (c: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { caller: mesh.peer(c)?.spiffeId ?? null }),
    Delete: (_c: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
});

afterAll(async () => {
  server?.forceShutdown();
  web?.close();
  reviews?.close();
  await mesh?.close();
  await cp?.close();
  await file?.remove();
});

it('SVIDs carry the intermediate, and a gRPC caller signed through it is verified', async () => {
  expect(mesh.security().svids!.current()!.certChainPem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
  const client = ratingsClientAs(port, reviews, 'spiffe://demo.local/service/ratings');
  try {
    expect(await callRatings(client, 'Get')).toEqual({ code: 0, details: '', body: { caller: 'spiffe://demo.local/service/reviews' } });
  } finally {
    client.close();
  }
});

it('HTTP mTLS from init() to another workload verifies through the intermediate both ways', async () => {
  expect(await (await fetch('http://reviews/')).text()).toBe('spiffe://demo.local/service/ratings');
});
