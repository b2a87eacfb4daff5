/**
 * `registerGrpcXds` end to end: an in-process @grpc/grpc-js client calls
 * `xds:///ratings`, resolved by @grpc/grpc-js-xds through enmesh's control
 * plane, and reaches the ratings server named in mesh.yaml.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import type { ControlPlane } from '../../../src/control-plane/server.ts';
import { registerGrpcXds } from '../../../src/xds/grpc-bootstrap.ts';

const identity = (b: Buffer): Buffer => b;
const GET: grpc.MethodDefinition<Buffer, Buffer> = {
  path: '/ratings.Ratings/Get',
  requestStream: false,
  responseStream: false,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
};
const RATINGS: grpc.ServiceDefinition = { Get: GET };

let ratings: grpc.Server;
let cp: ControlPlane;
let dir: string;

beforeAll(async () => {
  ratings = new grpc.Server();
  ratings.addService(RATINGS, {
    Get: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(`5 stars for ${call.request.toString()}`)),
  });
  const port = await new Promise<number>((resolve, reject) =>
    ratings.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  dir = await mkdtemp(join(tmpdir(), 'enmesh-grpc-xds-'));
  const file = join(dir, 'mesh.yaml');
  await writeFile(
    file,
    `
mesh: { name: demo }
services:
  ratings:
    protocol: grpc
    port: 50051
    endpoints: [{ address: 127.0.0.1:${port} }]
`,
  );
  cp = await startControlPlane({ config: file, xdsPort: 0, adminPort: 0, log: silentLogger });
});

afterAll(async () => {
  await cp?.close();
  ratings?.forceShutdown();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('registerGrpcXds', () => {
  it('lets a grpc-js client call xds:///ratings through the control plane', async () => {
    delete process.env.GRPC_XDS_BOOTSTRAP;
    delete process.env.GRPC_XDS_BOOTSTRAP_CONFIG;
    expect(registerGrpcXds({ servers: [`127.0.0.1:${cp.xdsPort}`], nodeId: 'grpc-it-1', zone: 'zone-a' })).toEqual({ bootstrap: 'enmesh' });
    const c = new grpc.Client('xds:///ratings', grpc.credentials.createInsecure());
    try {
      const reply = await new Promise<Buffer>((resolve, reject) =>
        c.makeUnaryRequest(GET.path, identity, identity, Buffer.from('book-1'), { deadline: Date.now() + 10_000 }, (err, res) =>
          err ? reject(err) : resolve(res!),
        ),
      );
      expect(reply.toString()).toBe('5 stars for book-1');
      // The control plane saw a grpc-js-xds client (its own profile), not an enmesh SDK.
      const clients = cp.registry.list();
      expect(clients.some((x) => x.nodeId === 'grpc-it-1' && x.profile === 'grpc-xds' && x.zone === 'zone-a')).toBe(true);
    } finally {
      c.close();
    }
  });
});
