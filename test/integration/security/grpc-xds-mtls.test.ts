/**
 * gRPC over xDS with mTLS strict, in control-plane mode: the control plane
 * sends grpc-js-xds an UpstreamTlsContext naming the bootstrap's `enmesh`
 * certificate provider, whose files this process keeps current; a client
 * created with insecure credentials for `xds:///ratings` is upgraded to xDS
 * credentials and reaches the server (bound with insecure credentials,
 * served with the SVID) over mTLS, as the verified caller.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { startControlPlane, type ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';

const json = {
  requestSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  requestDeserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
  responseSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  responseDeserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
};
const service = { Get: { path: '/ratings.Ratings/Get', requestStream: false, responseStream: false, ...json } } as unknown as grpc.ServiceDefinition;
const Client = grpc.makeGenericClientConstructor(service, 'Ratings');

let file: MeshFile;
let cp: ControlPlane;
let mesh: Mesh;
let server: grpc.Server;
let port: number;
const savedBootstrap = process.env.GRPC_XDS_BOOTSTRAP_CONFIG;

function get(client: grpc.Client, deadlineMs = 15_000): Promise<{ code: number; body?: unknown; details?: string }> {
  return new Promise((resolve) => {
    (client as unknown as { Get: (r: unknown, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: unknown) => void) => void }).Get(
      {},
      { deadline: Date.now() + deadlineMs },
      (err, res) => resolve(err === null ? { code: 0, body: res } : { code: err.code, details: err.details }),
    );
  });
}

beforeAll(async () => {
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  file = await createMeshFile(`
mesh: { trustDomain: demo.local, mtls: strict }
services:
  ratings: { protocol: grpc, port: 50051 }
`);
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, startupHoldMs: 0, ca: { svidTtlMs: 3600_000 } });
  delete process.env.GRPC_XDS_BOOTSTRAP_CONFIG;
  mesh = await init({
    service: { name: 'ratings', port },
    controlPlane: `xds://127.0.0.1:${cp.xdsPort}`,
    security: { token: await cp.ca!.mintToken('ratings'), caUrl: `http://127.0.0.1:${cp.adminPort}` },
  });
  await mesh.ready;
  server = new grpc.Server();
  server.addService(service, {
    Get: (c: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { caller: mesh.peer(c)?.spiffeId ?? null }),
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
}, 60_000);

afterAll(async () => {
  server?.forceShutdown();
  await mesh?.close();
  await cp?.close();
  await file?.remove();
  if (savedBootstrap === undefined) delete process.env.GRPC_XDS_BOOTSTRAP_CONFIG;
  else process.env.GRPC_XDS_BOOTSTRAP_CONFIG = savedBootstrap;
});

it('the bootstrap names the enmesh certificate provider, over files this process keeps', () => {
  const bootstrap = JSON.parse(process.env.GRPC_XDS_BOOTSTRAP_CONFIG ?? '{}') as { certificate_providers?: Record<string, { plugin_name: string }> };
  expect(bootstrap.certificate_providers?.enmesh?.plugin_name).toBe('file_watcher');
  expect(mesh.security().grpcXdsFiles).toBeDefined();
});

it('an insecure xds:///ratings client reaches the server over mTLS as the verified caller', { timeout: 40_000 }, async () => {
  const client = new Client('xds:///ratings', grpc.credentials.createInsecure());
  try {
    // The instance registers itself; retry until its endpoint is in the cluster.
    let r = await get(client);
    for (let i = 0; i < 20 && r.code === grpc.status.UNAVAILABLE; i++) {
      await new Promise((res) => setTimeout(res, 500));
      r = await get(client);
    }
    expect(r).toEqual({ code: 0, body: { caller: 'spiffe://demo.local/service/ratings' } });
    // The client side's metrics name the identity the server presented (destination_principal).
    const sourceLines = (await mesh.metrics()).split('\n').filter((l) => l.startsWith('istio_requests_total{') && l.includes('reporter="source"') && l.includes('grpc_response_status="0"'));
    expect(sourceLines.length).toBeGreaterThan(0);
    for (const line of sourceLines) expect(line).toContain('destination_principal="spiffe://demo.local/service/ratings"');
  } finally {
    client.close();
  }
});

it('a plaintext client to the same port gets nowhere', async () => {
  const plain = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    expect((await get(plain, 3000)).code).not.toBe(0);
  } finally {
    plain.close();
  }
});
