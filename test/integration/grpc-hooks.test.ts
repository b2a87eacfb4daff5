/**
 * gRPC clients and servers in a process with enmesh run the mesh's
 * interceptors on every call — including ones created before init() — and
 * close() removes them.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../src/index.ts';
import { createMeshFile, type MeshFile } from '../helpers/mesh-file.ts';
import { ratingsClient, ratingsService, type GetReply } from '../helpers/grpc-xds/ratings-proto.ts';

let server: grpc.Server;
let port: number;
let file: MeshFile;

function call(client: grpc.Client, key: string): Promise<GetReply> {
  return new Promise((resolve, reject) => {
    (client as unknown as { Get: (req: unknown, cb: (err: Error | null, reply: GetReply) => void) => void }).Get({ key }, (err, reply) =>
      err ? reject(err) : resolve(reply),
    );
  });
}

beforeAll(async () => {
  // Created before init(): the hooks must still see its calls.
  server = new grpc.Server();
  server.addService(ratingsService(), {
    Get: (_call: unknown, cb: (err: null, reply: GetReply) => void) => cb(null, { backend: 'direct', attempt: 1 }),
  });
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  file = await createMeshFile('services:\n  ratings:\n    protocol: grpc\n    port: 50051\n');
});

afterAll(async () => {
  server?.forceShutdown();
  await file?.remove();
});

it('counts client and server calls while hooked, and nothing after close()', async () => {
  const Client = ratingsClient();
  const early = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const mesh: Mesh = await init({ config: file.path });
  try {
    const late = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    expect((await call(early, 'a')).backend).toBe('direct');
    expect((await call(late, 'b')).backend).toBe('direct');
    const s = mesh.stats();
    expect(s.grpcClientCalls).toBe(2);
    expect(s.grpcServerCalls).toBe(2);
    late.close();
  } finally {
    await mesh.close();
  }
  const before = mesh.stats();
  expect((await call(early, 'c')).backend).toBe('direct');
  expect(mesh.stats()).toEqual(before);
  early.close();
});
