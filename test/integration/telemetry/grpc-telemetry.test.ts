/**
 * gRPC calls through the mesh report like HTTP ones: real grpc-js client and
 * server in an application started in control-plane mode (the client calls
 * `xds:///ratings`, resolved by grpc-js-xds from a real control plane).
 * Istio metrics with request_protocol="grpc", response_code 200 and the gRPC
 * status; a call span with its CLIENT attempt, whose child is the callee's
 * SERVER span; access log lines on both sides. A call to a plain address is
 * not a mesh call: only its server side is recorded.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { context, trace } from '@opentelemetry/api';
import { SpanKind } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { startControlPlane, type ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';
import { until } from '../../helpers/cp/wait.ts';
import { startRatingsBackend, type RatingsBackend } from '../../helpers/grpc-xds/server.ts';
import { ratingsClient, ratingsService, type GetReply } from '../../helpers/grpc-xds/ratings-proto.ts';

let backend: RatingsBackend;
let file: MeshFile;
let cp: ControlPlane;
let mesh: Mesh;
let dir: string;
let logPath: string;

beforeAll(async () => {
  backend = await startRatingsBackend('v1');
  file = await createMeshFile(`
services:
  ratings:
    protocol: grpc
    port: 50051
    endpoints: [{ address: 127.0.0.1:${backend.port}, labels: { version: v1 } }]
`);
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, startupHoldMs: 0, ca: false, log: silentLogger });
  dir = await mkdtemp(join(tmpdir(), 'enmesh-grpc-log-'));
  logPath = join(dir, 'access.log');
  mesh = await init({
    service: { name: 'reviews', labels: { version: 'v2' } },
    controlPlane: `xds://127.0.0.1:${cp.xdsPort}`,
    tracing: { exporter: 'memory', sampleRate: 1 },
    accessLog: { destination: logPath },
  });
  await mesh.ready;
});

afterAll(async () => {
  await mesh?.close();
  await cp?.close();
  await backend?.close();
  await file?.remove();
  await rm(dir, { recursive: true, force: true });
});

function get(client: grpc.Client, key: string, metadata = new grpc.Metadata()): Promise<{ reply?: GetReply; code: number }> {
  return new Promise((resolve) => {
    (client as unknown as { Get: (req: unknown, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, reply: GetReply) => void) => void }).Get(
      { key },
      metadata,
      (err, reply) => resolve(err ? { code: err.code } : { reply, code: 0 }),
    );
  });
}

function sample(text: string, name: string, labels: Record<string, string>): number {
  const lines = text.split('\n').filter((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return lines.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** The bytes one message takes in the HTTP/2 body: the serialized message plus gRPC's 5-byte prefix. */
const size = (bytes: Buffer): number => bytes.length + 5;
const request = (key: string): number => size(ratingsService().Get!.requestSerialize({ key }));
const reply = (backend: string): number => size(ratingsService().Get!.responseSerialize({ backend, attempt: 1 }));

it("runs a server handler in its call's server span, continuing the caller's trace", async () => {
  const server = new grpc.Server();
  let active: string | undefined;
  server.addService(ratingsService(), {
    Get: (_call: unknown, cb: (err: null, reply: GetReply) => void) => {
      active = trace.getActiveSpan()?.spanContext().spanId;
      cb(null, { backend: 'traced', attempt: 1 });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const client = new (ratingsClient())(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    const md = new grpc.Metadata();
    md.set('traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
    expect((await get(client, 'x', md)).code).toBe(0);
    const tracing = mesh.telemetry()!.tracing!;
    const span = tracing.memory!.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER && s.spanContext().traceId === '4bf92f3577b34da6a3ce929d0e0e4736');
    expect(span?.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(active).toBe(span?.spanContext().spanId);
    tracing.memory!.reset();
  } finally {
    client.close();
    server.forceShutdown();
  }
});

it('records client and server calls as Istio gRPC metrics, one trace per call, and access log lines', async () => {
  const Client = ratingsClient();
  const meshClient = new Client('xds:///ratings', grpc.credentials.createInsecure());
  const direct = new Client(`127.0.0.1:${backend.port}`, grpc.credentials.createInsecure());
  try {
    // The application's own span is the parent of the mesh's call span.
    const app = trace.getTracer('app').startSpan('handler');
    const first = await context.with(trace.setSpan(context.active(), app), () => get(meshClient, 'k0'));
    app.end();
    expect(first.code).toBe(0);
    for (let i = 1; i < 5; i++) expect((await get(meshClient, `k${i}`)).code).toBe(0);
    const failing = new grpc.Metadata();
    failing.set('x-fail', String(grpc.status.NOT_FOUND));
    for (let i = 0; i < 2; i++) expect((await get(meshClient, `f${i}`, failing)).code).toBe(grpc.status.NOT_FOUND);
    expect((await get(direct, 'd')).code).toBe(0);

    // Metrics: the client side (source) and, the backend being in this process, the server side (destination).
    const text = await mesh.metrics();
    const out = { reporter: 'source', request_protocol: 'grpc', destination_service: 'ratings', source_workload: 'reviews-v2' };
    expect(sample(text, 'istio_requests_total', { ...out, response_code: '200', grpc_response_status: '0' })).toBe(5);
    expect(sample(text, 'istio_requests_total', { ...out, response_code: '200', grpc_response_status: '5' })).toBe(2);
    expect(sample(text, 'istio_request_duration_milliseconds_count', out)).toBe(7);
    const inbound = { reporter: 'destination', request_protocol: 'grpc', destination_service: 'reviews' };
    expect(sample(text, 'istio_requests_total', { ...inbound, response_code: '200', grpc_response_status: '0' })).toBe(6 + 1); // + the traced call of the first test
    expect(sample(text, 'istio_requests_total', { ...inbound, response_code: '200', grpc_response_status: '5' })).toBe(2);
    // The direct call is not a mesh call on the client side.
    expect(sample(text, 'istio_requests_total', { reporter: 'source', request_protocol: 'grpc' })).toBe(7);
    expect(mesh.stats().grpcClientCalls).toBe(8 + 1);
    expect(mesh.stats().grpcServerCalls).toBe(8 + 1);

    // Message bytes, both sides: the serialized message plus gRPC's 5-byte prefix, per message.
    expect(request('k0')).toBeGreaterThan(5);
    expect(sample(text, 'istio_request_bytes_sum', out)).toBe(7 * request('k0'));
    expect(sample(text, 'istio_response_bytes_sum', out)).toBe(5 * reply('v1'));
    expect(sample(text, 'istio_request_bytes_count', out)).toBe(7);
    const failed = { ...inbound, grpc_response_status: '5' };
    expect(sample(text, 'istio_request_bytes_sum', failed)).toBe(2 * request('f0'));
    expect(sample(text, 'istio_response_bytes_sum', failed)).toBe(0);
    const answered = { ...inbound, grpc_response_status: '0' };
    expect(sample(text, 'istio_request_bytes_sum', answered)).toBe(5 * request('k0') + request('d') + request('x'));
    expect(sample(text, 'istio_response_bytes_sum', answered)).toBe(6 * reply('v1') + reply('traced'));

    // Spans: call (INTERNAL) → attempt (CLIENT) → server span (SERVER), in one trace.
    const tracing = mesh.telemetry()!.tracing!;
    await tracing.flush();
    const spans = tracing.memory!.getFinishedSpans();
    const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;
    const calls = spans.filter((s) => s.kind === SpanKind.INTERNAL && s.name === '/ratings.Ratings/Get');
    expect(calls).toHaveLength(7);
    const root = calls.find((s) => parentOf(s) === app.spanContext().spanId);
    expect(root?.spanContext().traceId).toBe(app.spanContext().traceId);
    for (const call of calls) {
      const attempt = spans.find((s) => s.kind === SpanKind.CLIENT && parentOf(s) === call.spanContext().spanId);
      expect(attempt?.attributes['enmesh.cluster']).toBe('outbound|50051||ratings');
      const server = spans.find((s) => s.kind === SpanKind.SERVER && parentOf(s) === attempt?.spanContext().spanId);
      expect(server?.spanContext().traceId).toBe(call.spanContext().traceId);
      expect(server?.attributes['enmesh.service']).toBe('reviews');
      expect(server?.attributes['client.address']).toBe('127.0.0.1');
      expect(server?.attributes['rpc.grpc.status_code']).toBe(call.attributes['rpc.grpc.status_code']);
    }
    expect(calls.filter((s) => s.attributes['rpc.grpc.status_code'] === grpc.status.NOT_FOUND)).toHaveLength(2);
    expect(calls.filter((s) => s.status.code === 2 /* ERROR */)).toHaveLength(2);
    // The direct call: a server span with no mesh caller span.
    const servers = spans.filter((s) => s.kind === SpanKind.SERVER);
    expect(servers).toHaveLength(8);

    // No answer before the deadline: response_code 0 on the client side. The server side ends with
    // whichever comes first: its own deadline timer (it answers DEADLINE_EXCEEDED) or the caller's reset (CANCELLED).
    const slow = new grpc.Metadata();
    slow.set('x-delay-ms', '1000');
    const code = await new Promise<number>((resolve) => {
      (meshClient as unknown as { Get: (req: unknown, md: grpc.Metadata, o: grpc.CallOptions, cb: (err: grpc.ServiceError | null) => void) => void }).Get(
        { key: 'slow' },
        slow,
        { deadline: Date.now() + 150 },
        (err) => resolve(err?.code ?? 0),
      );
    });
    expect(code).toBe(grpc.status.DEADLINE_EXCEEDED);
    const serverEnded = async (): Promise<number> => {
      const t = await mesh.metrics();
      return [grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED].reduce((n, c) => n + sample(t, 'istio_requests_total', { ...inbound, grpc_response_status: String(c) }), 0);
    };
    await until(async () => (await serverEnded()) === 1, 5000, 'server side of the expired call');
    const late = await mesh.metrics();
    expect(sample(late, 'istio_requests_total', { ...out, response_code: '0', grpc_response_status: String(grpc.status.DEADLINE_EXCEEDED) })).toBe(1);
  } finally {
    meshClient.close();
    direct.close();
  }

  await mesh.close(); // flushes the access log
  const lines = (await readFile(logPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const outLines = lines.filter((l) => l.direction === 'outbound');
  const inLines = lines.filter((l) => l.direction === 'inbound');
  expect(outLines).toHaveLength(7 + 1);
  expect(inLines).toHaveLength(8 + 1 + 1);
  expect(outLines.at(-1)).toMatchObject({ response_code: 0, grpc_status: grpc.status.DEADLINE_EXCEEDED });
  expect(outLines[0]).toMatchObject({ method: 'POST', authority: 'ratings', path: '/ratings.Ratings/Get', protocol: 'HTTP/2', response_code: 200, grpc_status: 0, upstream_cluster: 'outbound|50051||ratings', bytes_sent: request('k0'), bytes_received: reply('v1') });
  expect(outLines.filter((l) => l.grpc_status === grpc.status.NOT_FOUND)).toHaveLength(2);
  expect(inLines[0]).toMatchObject({ path: '/ratings.Ratings/Get', protocol: 'HTTP/2', response_code: 200, downstream_remote_address: '127.0.0.1' });
  expect(String(inLines[0]!.user_agent)).toContain('grpc-node-js');
  // Both sides of a call carry its trace id.
  expect(inLines.map((l) => l.trace_id)).toEqual(expect.arrayContaining(outLines.map((l) => l.trace_id)));
});
