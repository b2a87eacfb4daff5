/**
 * istio_request_bytes / istio_response_bytes of gRPC calls count every
 * message, on both sides, for streaming calls too: a real grpc-js client and
 * server in a process under init(), JSON-serialized messages so the expected
 * sizes are computed from the same serializer.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';
import { freePort } from '../security/fixtures/grpc-ratings.ts';

const encode = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const decode = (b: Buffer): unknown => JSON.parse(b.toString()) as unknown;
const json = { requestSerialize: encode, requestDeserialize: decode, responseSerialize: encode, responseDeserialize: decode };
const words = {
  Split: { path: '/words.Words/Split', requestStream: false, responseStream: true, ...json },
  Join: { path: '/words.Words/Join', requestStream: true, responseStream: false, ...json },
} as unknown as grpc.ServiceDefinition;
const WordsClient = grpc.makeGenericClientConstructor(words, 'Words');

/** What one message takes in the HTTP/2 body. */
const size = (v: unknown): number => encode(v).length + 5;
const LIST = ['a', 'bb', 'ccc', 'a much longer word to make sizes differ'];

let file: MeshFile;
let mesh: Mesh;
let server: grpc.Server;
let port: number;

beforeAll(async () => {
  port = await freePort();
  // The client dials localhost:<port>: a service of that name makes it a mesh call (reporter="source").
  file = await createMeshFile(`
services:
  localhost: { protocol: grpc, port: ${port}, endpoints: [{ address: 127.0.0.1:${port} }] }
`);
  mesh = await init({ service: { name: 'words', port }, config: file.path });
  await mesh.ready;
  server = new grpc.Server();
  server.addService(words, {
    Split: (call: grpc.ServerWritableStream<{ words: string[] }, unknown>) => {
      for (const w of call.request.words) call.write({ w });
      call.end();
    },
    Join: (call: grpc.ServerReadableStream<{ w: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const got: string[] = [];
      call.on('data', (m: { w: string }) => got.push(m.w));
      call.on('end', () => cb(null, { joined: got.join(' ') }));
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
});

afterAll(async () => {
  server?.forceShutdown();
  await mesh?.close();
  await file?.remove();
});

function sample(text: string, name: string, labels: Record<string, string>): number {
  const lines = text.split('\n').filter((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return lines.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

it('counts every message of server- and client-streaming calls, on both sides', async () => {
  const client = new WordsClient(`localhost:${port}`, grpc.credentials.createInsecure()) as unknown as {
    Split(req: unknown, options: grpc.CallOptions): grpc.ClientReadableStream<{ w: string }>;
    Join(options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { joined: string }) => void): grpc.ClientWritableStream<unknown>;
    close(): void;
  };
  try {
    const split = await new Promise<string[]>((resolve, reject) => {
      const got: string[] = [];
      const s = client.Split({ words: LIST }, { deadline: Date.now() + 15_000 });
      s.on('data', (m: { w: string }) => got.push(m.w));
      s.on('error', reject);
      s.on('end', () => resolve(got));
    });
    expect(split).toEqual(LIST);
    const joined = await new Promise<string>((resolve, reject) => {
      const w = client.Join({ deadline: Date.now() + 15_000 }, (err, res) => (err ? reject(err) : resolve(res!.joined)));
      for (const x of LIST) w.write({ w: x });
      w.end();
    });
    expect(joined).toBe(LIST.join(' '));
  } finally {
    client.close();
  }

  const requestBytes = size({ words: LIST }) + LIST.reduce((n, w) => n + size({ w }), 0);
  const responseBytes = LIST.reduce((n, w) => n + size({ w }), 0) + size({ joined: LIST.join(' ') });
  const text = await mesh.metrics();
  for (const side of [
    { reporter: 'source', destination_service: 'localhost' },
    { reporter: 'destination', destination_service: 'words' },
  ]) {
    const labels = { ...side, request_protocol: 'grpc', grpc_response_status: '0' };
    expect(sample(text, 'istio_requests_total', labels), side.reporter).toBe(2);
    expect(sample(text, 'istio_request_bytes_sum', labels), side.reporter).toBe(requestBytes);
    expect(sample(text, 'istio_response_bytes_sum', labels), side.reporter).toBe(responseBytes);
  }
});
