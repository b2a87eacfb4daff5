/**
 * gRPC semantics through the mesh's grpc-js hooks, with real grpc-js clients
 * and servers on 127.0.0.1:
 *
 * - file mode (client and server in a process under init()): the caller's
 *   deadline reaches the server; binary metadata, response headers and
 *   trailers pass untouched, and the application's metadata object is left
 *   as it was (the trace context goes on the call's copy); a client's cancel
 *   reaches the handler and is not retried; grpc-js's own retries happen
 *   only on a retriable status and never once a response header or message
 *   arrived; every kind of streaming call goes through; inbound refusals are
 *   gRPC statuses (a rate limit's with its retry pushback); a call cancelled
 *   before anything was sent is recorded with no response; and the server side records the status grpc-js sent, also
 *   when grpc-js ended the call itself (its deadline, a request message over
 *   the size limit or undecodable);
 * - control-plane mode (`xds:///` through grpc-js-xds): the route timeout and
 *   the caller's deadline, the sooner wins; route retries only on the listed
 *   statuses; no reachable endpoint is UNAVAILABLE.
 */
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init, type Mesh } from '../../src/index.ts';
import { startControlPlane, type ControlPlane } from '../../src/control-plane/server.ts';
import { silentLogger } from '../../src/control-plane/log.ts';
import { createMeshFile, type MeshFile } from '../helpers/mesh-file.ts';
import { freePort } from '../helpers/free-port.ts';
import { sleep, until } from '../helpers/cp/wait.ts';

type Msg = Record<string, unknown>;
const encode = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const decode = (b: Buffer): Msg => JSON.parse(b.toString()) as Msg;
const json = { requestSerialize: encode, requestDeserialize: decode, responseSerialize: encode, responseDeserialize: decode };
const echo = {
  Unary: { path: '/echo.Echo/Unary', requestStream: false, responseStream: false, ...json },
  Watch: { path: '/echo.Echo/Watch', requestStream: false, responseStream: true, ...json },
  Collect: { path: '/echo.Echo/Collect', requestStream: true, responseStream: false, ...json },
  Chat: { path: '/echo.Echo/Chat', requestStream: true, responseStream: true, ...json },
} as unknown as grpc.ServiceDefinition;
const EchoClient = grpc.makeGenericClientConstructor(echo, 'Echo');

interface Echo extends grpc.Client {
  Unary(req: Msg, md: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, reply?: Msg) => void): grpc.ClientUnaryCall;
  Watch(req: Msg, md?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<Msg>;
  Collect(md: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, reply?: Msg) => void): grpc.ClientWritableStream<Msg>;
  Chat(md?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<Msg, Msg>;
}
const echoClient = (target: string, options?: grpc.ChannelOptions): Echo => new EchoClient(target, grpc.credentials.createInsecure(), options) as unknown as Echo;

/** The handlers the server runs, set per test. */
const handlers: {
  unary?: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => void;
  watch?: (call: grpc.ServerWritableStream<Msg, Msg>) => void;
  collect?: (call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => void;
  chat?: (call: grpc.ServerDuplexStream<Msg, Msg>) => void;
} = {};

async function startEcho(options: grpc.ServerOptions, address: string): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server(options);
  server.addService(echo, {
    Unary: (c: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => handlers.unary!(c, cb),
    Watch: (c: grpc.ServerWritableStream<Msg, Msg>) => handlers.watch!(c),
    Collect: (c: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => handlers.collect!(c, cb),
    Chat: (c: grpc.ServerDuplexStream<Msg, Msg>) => handlers.chat!(c),
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { server, port };
}

interface Outcome {
  readonly code: number;
  readonly details: string;
  readonly reply?: Msg;
  readonly ms: number;
}

function unary(client: Echo, md = new grpc.Metadata(), options: grpc.CallOptions = {}): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    client.Unary({}, md, { deadline: Date.now() + 5000, ...options }, (err, reply) =>
      resolve({ code: err?.code ?? 0, details: err?.details ?? '', ...(reply !== undefined ? { reply } : {}), ms: performance.now() - started }),
    );
  });
}

function metadata(entries: Record<string, string>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) md.set(k, v);
  return md;
}

/** The error a stream ends with (status OK: undefined). */
function streamEnd(stream: grpc.ClientReadableStream<Msg> | grpc.ClientDuplexStream<Msg, Msg>): Promise<grpc.StatusObject> {
  return new Promise((resolve) => {
    stream.on('error', () => {}); // the status event carries it
    stream.on('status', resolve);
  });
}

/** The sum of a metric's samples whose labels include `labels`. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const lines = text.split('\n').filter((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return lines.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** A service config retrying every method of echo.Echo on `codes` (grpc-js's own retries). */
const retrying = (codes: string[]): grpc.ChannelOptions => ({
  'grpc.service_config': JSON.stringify({
    methodConfig: [{ name: [{ service: 'echo.Echo' }], retryPolicy: { maxAttempts: 3, initialBackoff: '0.01s', maxBackoff: '0.05s', backoffMultiplier: 2, retryableStatusCodes: codes } }],
  }),
});

describe('file mode: grpc-js client and server in a process under init()', () => {
  let file: MeshFile;
  let mesh: Mesh;
  let server: grpc.Server;
  let port: number;
  let client: Echo;
  const yaml = (extra = ''): string => `
services:
  localhost:
    protocol: grpc
    port: ${port}
    endpoints: [{ address: 127.0.0.1:${port} }]
${extra}`;
  const inbound = { reporter: 'destination', request_protocol: 'grpc' };
  const outbound = { reporter: 'source', request_protocol: 'grpc', destination_service: 'localhost' };

  beforeAll(async () => {
    port = await freePort();
    // The client dials localhost:<port>, a service of the config: both sides of every call are recorded.
    file = await createMeshFile(yaml());
    mesh = await init({ service: { name: 'localhost', port }, config: file.path, tracing: { exporter: 'memory', sampleRate: 1 } });
    await mesh.ready;
    ({ server } = await startEcho({ 'grpc.max_receive_message_length': 1024 }, `127.0.0.1:${port}`));
    client = echoClient(`localhost:${port}`);
  });

  afterAll(async () => {
    client?.close();
    server?.forceShutdown();
    await mesh?.close();
    await file?.remove();
  });

  it("sends the caller's deadline to the server; binary metadata, response headers and trailers pass untouched", async () => {
    let deadline: grpc.Deadline = Infinity;
    let received: (string | Buffer)[] = [];
    let traceparent: (string | Buffer)[] = [];
    handlers.unary = (call, cb) => {
      deadline = call.getDeadline();
      received = call.metadata.get('x-data-bin');
      traceparent = call.metadata.get('traceparent');
      call.sendMetadata(metadata({ 'x-header': 'h' }));
      const trailers = new grpc.Metadata();
      trailers.set('x-trailer-bin', Buffer.from([0, 0xff, 0x0d, 0x0a]));
      trailers.set('x-trailer', 't');
      cb(null, { ok: true }, trailers);
    };
    const md = new grpc.Metadata();
    md.add('x-data-bin', Buffer.from([0, 1, 0xfe, 0xff, 0x0a]));
    md.add('x-data-bin', Buffer.from([7]));
    const callerDeadline = Date.now() + 3000;
    const call = client.Unary({}, md, { deadline: callerDeadline }, () => {});
    const [headers, status] = await Promise.all([new Promise<grpc.Metadata>((r) => call.on('metadata', r)), new Promise<grpc.StatusObject>((r) => call.on('status', r))]);
    expect(status.code).toBe(grpc.status.OK);
    // grpc-timeout rounds up to whole milliseconds, sent a little after the call started.
    expect(Number(deadline)).toBeGreaterThanOrEqual(callerDeadline - 50);
    expect(Number(deadline)).toBeLessThanOrEqual(callerDeadline + 50);
    expect(received).toEqual([Buffer.from([0, 1, 0xfe, 0xff, 0x0a]), Buffer.from([7])]);
    expect(traceparent).toHaveLength(1); // the mesh's trace context, beside the application's metadata
    expect(headers.get('x-header')).toEqual(['h']);
    expect(status.metadata.get('x-trailer-bin')).toEqual([Buffer.from([0, 0xff, 0x0d, 0x0a])]);
    expect(status.metadata.get('x-trailer')).toEqual(['t']);
  });

  it("adds the mesh's trace context to the call's metadata, not to the application's object it may send again", async () => {
    const traceparents: (string | Buffer)[][] = [];
    handlers.unary = (call, cb) => {
      traceparents.push(call.metadata.get('traceparent'));
      cb(null, {});
    };
    const direct = echoClient(`127.0.0.1:${port}`); // not a mesh target: passed through as it is
    try {
      const shared = metadata({ authorization: 'Bearer t' });
      expect((await unary(client, shared)).code).toBe(grpc.status.OK);
      expect(shared.getMap()).toEqual({ authorization: 'Bearer t' });
      expect((await unary(client, shared)).code).toBe(grpc.status.OK);
      expect((await unary(direct, shared)).code).toBe(grpc.status.OK);
      expect(traceparents[0]).toHaveLength(1);
      expect(traceparents[1]).toHaveLength(1);
      expect(traceparents[1]).not.toEqual(traceparents[0]);
      // A stale context would make the other service's spans children of an earlier call.
      expect(traceparents[2]).toEqual([]);
    } finally {
      direct.close();
    }
  });

  it('ends a call past its deadline with DEADLINE_EXCEEDED, recorded with no response on the client side', async () => {
    let cancelled = false;
    handlers.unary = (call) => call.on('cancelled', () => (cancelled = true));
    const before = sample(await mesh.metrics(), 'istio_requests_total', { ...outbound, response_code: '0', grpc_response_status: '4' });
    const r = await unary(client, undefined, { deadline: Date.now() + 150 });
    expect(r.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(r.ms).toBeLessThan(1000);
    await until(() => cancelled, 2000, 'the handler told of the end');
    expect(sample(await mesh.metrics(), 'istio_requests_total', { ...outbound, response_code: '0', grpc_response_status: '4' })).toBe(before + 1);
  });

  it('records the status grpc-js sent when it ended a call itself: its deadline, a request over the size limit or undecodable', async () => {
    handlers.unary = () => {}; // never answers: the server's deadline ends the call
    const before = await mesh.metrics();
    /** A unary call over plain HTTP/2 with `body` as its one message: the status the server answered. */
    const raw = async (body: Buffer, headers: http2.OutgoingHttpHeaders = {}): Promise<string | string[] | undefined> => {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      try {
        const req = session.request({ ':method': 'POST', ':path': '/echo.Echo/Unary', 'content-type': 'application/grpc', te: 'trailers', ...headers });
        const frame = Buffer.alloc(5 + body.length);
        frame.writeUInt32BE(body.length, 1);
        body.copy(frame, 5);
        req.end(frame);
        return (await new Promise<http2.IncomingHttpHeaders>((resolve) => req.on('response', resolve)))['grpc-status'];
      } finally {
        session.close();
      }
    };
    // A caller that sends grpc-timeout but keeps no timer of its own (a proxy, a blocked event loop):
    // the server answers DEADLINE_EXCEEDED itself; nobody cancelled.
    expect(await raw(encode({}), { 'grpc-timeout': '100m' })).toBe(String(grpc.status.DEADLINE_EXCEEDED));
    // A message the method's deserializer throws on.
    expect(await raw(Buffer.from('not json'))).toBe(String(grpc.status.INTERNAL));
    // grpc-js refuses a message over grpc.max_receive_message_length before any interceptor sees it.
    handlers.unary = (_call, cb) => cb(null, {});
    const big = await new Promise<grpc.ServiceError | null>((resolve) => client.Unary({ pad: 'x'.repeat(4096) }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, resolve));
    expect(big?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);

    const count = (text: string, status: number, flags: string): number => sample(text, 'istio_requests_total', { ...inbound, grpc_response_status: String(status), response_flags: flags });
    await until(async () => count(await mesh.metrics(), grpc.status.RESOURCE_EXHAUSTED, '-') > count(before, grpc.status.RESOURCE_EXHAUSTED, '-'), 2000, 'the refused message recorded');
    const after = await mesh.metrics();
    expect(count(after, grpc.status.DEADLINE_EXCEEDED, '-') - count(before, grpc.status.DEADLINE_EXCEEDED, '-')).toBe(1);
    expect(count(after, grpc.status.RESOURCE_EXHAUSTED, '-') - count(before, grpc.status.RESOURCE_EXHAUSTED, '-')).toBe(1);
    expect(count(after, grpc.status.INTERNAL, '-') - count(before, grpc.status.INTERNAL, '-')).toBe(1);
    // Not a caller's cancellation.
    expect(count(after, grpc.status.CANCELLED, 'DC')).toBe(count(before, grpc.status.CANCELLED, 'DC'));
  });

  it("delivers a client's cancel to the handler, records it CANCELLED, and never retries it", async () => {
    // CANCELLED is retriable on this channel: a cancel by the caller still must not be retried.
    const c = echoClient(`localhost:${port}`, retrying(['CANCELLED', 'UNAVAILABLE']));
    try {
      let calls = 0;
      let cancelled = false;
      handlers.watch = (call) => {
        calls++;
        call.on('cancelled', () => (cancelled = true));
        call.write({ n: 1 });
      };
      const before = await mesh.metrics();
      const stream = c.Watch({}, new grpc.Metadata(), { deadline: Date.now() + 5000 });
      const ended = streamEnd(stream);
      await new Promise((resolve) => stream.once('data', resolve));
      stream.cancel();
      expect((await ended).code).toBe(grpc.status.CANCELLED);
      await until(() => cancelled, 2000, 'the handler told of the cancel');
      await sleep(100); // time for a retry, were there one
      expect(calls).toBe(1);
      const after = await mesh.metrics();
      const count = (text: string, labels: Record<string, string>): number => sample(text, 'istio_requests_total', labels);
      expect(count(after, { ...inbound, grpc_response_status: '1', response_flags: 'DC' }) - count(before, { ...inbound, grpc_response_status: '1', response_flags: 'DC' })).toBe(1);
      // The response headers came first: answered (200), then cancelled.
      expect(count(after, { ...outbound, response_code: '200', grpc_response_status: '1' }) - count(before, { ...outbound, response_code: '200', grpc_response_status: '1' })).toBe(1);
    } finally {
      c.close();
    }
  });

  it('records a call cancelled before the server sent anything with no response (response_code 0)', async () => {
    let calls = 0;
    let cancelled = false;
    handlers.watch = (call) => {
      calls++;
      call.on('cancelled', () => (cancelled = true));
    };
    const before = await mesh.metrics();
    const stream = client.Watch({}, new grpc.Metadata(), { deadline: Date.now() + 5000 });
    const ended = streamEnd(stream);
    await until(() => calls === 1, 2000, 'the handler ran');
    stream.cancel();
    expect((await ended).code).toBe(grpc.status.CANCELLED);
    await until(() => cancelled, 2000, 'the handler told of the cancel');
    const labels = { ...inbound, response_code: '0', grpc_response_status: '1', response_flags: 'DC' };
    await until(async () => sample(await mesh.metrics(), 'istio_requests_total', labels) - sample(before, 'istio_requests_total', labels) === 1, 2000, 'recorded with no response');
    expect(sample(await mesh.metrics(), 'istio_requests_total', { ...inbound, response_code: '200', grpc_response_status: '1' })).toBe(sample(before, 'istio_requests_total', { ...inbound, response_code: '200', grpc_response_status: '1' }));
  });

  it('lets grpc-js retry only on a retriable status, and never once a response header or message arrived', async () => {
    const c = echoClient(`localhost:${port}`, retrying(['UNAVAILABLE']));
    try {
      let calls = 0;
      handlers.unary = (_call, cb) => {
        calls++;
        cb(calls === 1 ? { code: grpc.status.UNAVAILABLE, details: 'first try' } : null, { calls });
      };
      const before = await mesh.metrics();
      const retried = await unary(c);
      expect(retried).toMatchObject({ code: grpc.status.OK, reply: { calls: 2 } });
      // One call on the client side (its tries are grpc-js's), two on the server side.
      const after = await mesh.metrics();
      expect(sample(after, 'istio_requests_total', outbound) - sample(before, 'istio_requests_total', outbound)).toBe(1);
      expect(sample(after, 'istio_requests_total', inbound) - sample(before, 'istio_requests_total', inbound)).toBe(2);

      calls = 0;
      handlers.unary = (_call, cb) => {
        calls++;
        cb({ code: grpc.status.NOT_FOUND, details: 'no' });
      };
      expect((await unary(c)).code).toBe(grpc.status.NOT_FOUND);
      expect(calls).toBe(1);

      // Headers only, then UNAVAILABLE: the call is committed.
      calls = 0;
      handlers.watch = (call) => {
        calls++;
        call.sendMetadata(new grpc.Metadata());
        setTimeout(() => call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'after headers' }), 20);
      };
      expect((await streamEnd(c.Watch({}, new grpc.Metadata(), { deadline: Date.now() + 5000 }))).code).toBe(grpc.status.UNAVAILABLE);
      expect(calls).toBe(1);

      // One message, then UNAVAILABLE: not retried either.
      calls = 0;
      handlers.watch = (call) => {
        calls++;
        call.write({ n: 1 });
        setTimeout(() => call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'after a message' }), 20);
      };
      const stream = c.Watch({}, new grpc.Metadata(), { deadline: Date.now() + 5000 });
      const got: Msg[] = [];
      stream.on('data', (m: Msg) => got.push(m));
      expect((await streamEnd(stream)).code).toBe(grpc.status.UNAVAILABLE);
      expect(got).toEqual([{ n: 1 }]);
      expect(calls).toBe(1);
    } finally {
      c.close();
    }
  });

  it('carries client-, server- and bidi-streaming calls, each recorded once with its status', async () => {
    handlers.collect = (call, cb) => {
      const got: unknown[] = [];
      call.on('data', (m: Msg) => got.push(m.i));
      call.on('end', () => cb(null, { got }));
    };
    handlers.watch = (call) => {
      call.write({ n: 1 });
      call.write({ n: 2 });
      call.emit('error', { code: grpc.status.ABORTED, details: 'stop' });
    };
    handlers.chat = (call) => {
      call.on('data', (m: Msg) => call.write({ echo: m.i }));
      call.on('end', () => call.end());
    };
    const stats = mesh.stats();
    const before = await mesh.metrics();

    const collected = await new Promise<Msg | undefined>((resolve, reject) => {
      const w = client.Collect(new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, reply) => (err ? reject(err) : resolve(reply)));
      for (let i = 0; i < 5; i++) w.write({ i });
      w.end();
    });
    expect(collected).toEqual({ got: [0, 1, 2, 3, 4] });

    const watch = client.Watch({}, new grpc.Metadata(), { deadline: Date.now() + 5000 });
    const watched: Msg[] = [];
    watch.on('data', (m: Msg) => watched.push(m));
    expect((await streamEnd(watch)).code).toBe(grpc.status.ABORTED);
    expect(watched).toEqual([{ n: 1 }, { n: 2 }]);

    const chat = client.Chat(new grpc.Metadata(), { deadline: Date.now() + 5000 });
    const echoed: Msg[] = [];
    chat.on('data', (m: Msg) => {
      echoed.push(m);
      if (echoed.length < 3) chat.write({ i: echoed.length });
      else chat.end();
    });
    chat.write({ i: 0 });
    expect((await streamEnd(chat)).code).toBe(grpc.status.OK);
    expect(echoed).toEqual([{ echo: 0 }, { echo: 1 }, { echo: 2 }]);

    expect(mesh.stats().grpcClientCalls - stats.grpcClientCalls).toBe(3);
    expect(mesh.stats().grpcServerCalls - stats.grpcServerCalls).toBe(3);
    const after = await mesh.metrics();
    const delta = (labels: Record<string, string>): number => sample(after, 'istio_requests_total', labels) - sample(before, 'istio_requests_total', labels);
    for (const side of [inbound, outbound]) {
      expect(delta({ ...side, grpc_response_status: '0' })).toBe(2);
      expect(delta({ ...side, grpc_response_status: String(grpc.status.ABORTED) })).toBe(1);
    }
  });

  it('refuses calls with gRPC statuses before the handler: PERMISSION_DENIED, RESOURCE_EXHAUSTED; admitted streams keep every message', async () => {
    let handled = 0;
    handlers.watch = (call) => {
      handled++;
      call.end();
    };
    handlers.collect = (call, cb) => {
      handled++;
      const got: unknown[] = [];
      call.on('data', (m: Msg) => got.push(m.i));
      call.on('end', () => cb(null, { got }));
    };
    await file.apply(
      mesh,
      yaml(`policies:
  authorization:
    - name: no-watch
      target: localhost
      action: deny
      to: [{ paths: [/echo.Echo/Watch] }]
`),
    );
    const denied = await streamEnd(client.Watch({}, new grpc.Metadata(), { deadline: Date.now() + 5000 }));
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    // Checked asynchronously: the messages that came meanwhile reach the handler, in order.
    const collected = await new Promise<Msg | undefined>((resolve, reject) => {
      const w = client.Collect(new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, reply) => (err ? reject(err) : resolve(reply)));
      for (let i = 0; i < 5; i++) w.write({ i });
      w.end();
    });
    expect(collected).toEqual({ got: [0, 1, 2, 3, 4] });
    expect(handled).toBe(1);

    await file.apply(mesh, yaml('    rateLimit: { requestsPerSecond: 0.01, burst: 1, side: server }\n'));
    handled = 0;
    expect((await streamEnd(client.Watch({}, new grpc.Metadata(), { deadline: Date.now() + 5000 }))).code).toBe(grpc.status.OK);
    const limited = await streamEnd(client.Watch({}, new grpc.Metadata(), { deadline: Date.now() + 5000 }));
    expect(limited.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(limited.metadata.get('x-enmesh-response-flags')).toEqual(['RL']);
    // gRPC's Retry-After: when the limit has a token again (one per 100 s here).
    expect(Number(limited.metadata.get('grpc-retry-pushback-ms')[0])).toBeGreaterThanOrEqual(90_000);
    expect(handled).toBe(1);
    const text = await mesh.metrics();
    expect(sample(text, 'istio_requests_total', { ...inbound, grpc_response_status: '7' })).toBe(1);
    expect(sample(text, 'istio_requests_total', { ...inbound, grpc_response_status: '8', response_flags: 'RL' })).toBe(1);
  });
});

describe('control-plane mode: grpc-js-xds applies the route of an xds:/// target', () => {
  let file: MeshFile;
  let cp: ControlPlane;
  let mesh: Mesh;
  let server: grpc.Server;
  let client: Echo;
  let calls = 0;
  let serverDeadlineMs = Infinity;

  beforeAll(async () => {
    let port: number;
    ({ server, port } = await startEcho({}, '127.0.0.1:0'));
    file = await createMeshFile(`
services:
  echo:
    protocol: grpc
    port: 50051
    endpoints: [{ address: 127.0.0.1:${port} }]
    routes:
      - name: timed
        match: { headers: { x-route: timed } }
        timeout: 300ms
      - name: default
        retries: { attempts: 2, on: [unavailable], backoff: { base: 10ms } }
  refusing:
    protocol: grpc
    port: 50051
    endpoints: [{ address: 127.0.0.1:${await freePort()} }]
  empty:
    protocol: grpc
    port: 50051
`);
    cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, startupHoldMs: 0, ca: false, log: silentLogger });
    mesh = await init({ service: { name: 'reviews' }, controlPlane: `xds://127.0.0.1:${cp.xdsPort}` });
    await mesh.ready;
    handlers.unary = (call, cb) => {
      calls++;
      serverDeadlineMs = Number(call.getDeadline()) - Date.now();
      const fail = call.metadata.get('x-fail')[0];
      const failFirst = call.metadata.get('x-fail-first')[0];
      const code = fail !== undefined ? Number(fail) : failFirst !== undefined && calls === 1 ? Number(failFirst) : 0;
      setTimeout(() => cb(code === 0 ? null : { code, details: 'failed' }, { calls }), Number(call.metadata.get('x-delay-ms')[0] ?? 0));
    };
    client = echoClient('xds:///echo');
    expect((await unary(client)).code).toBe(grpc.status.OK); // xDS resources and the connection
  });

  afterAll(async () => {
    client?.close();
    await mesh?.close();
    await cp?.close();
    server?.forceShutdown();
    await file?.remove();
  });

  it("ends a call at the route timeout or the caller's deadline, the sooner, and the server gets that deadline", async () => {
    const slow = { 'x-route': 'timed', 'x-delay-ms': '2000' };
    const byRoute = await unary(client, metadata(slow), { deadline: Date.now() + 3000 });
    expect(byRoute.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(byRoute.ms).toBeGreaterThanOrEqual(280);
    expect(byRoute.ms).toBeLessThan(1000);
    expect(serverDeadlineMs).toBeLessThanOrEqual(310);

    const byCaller = await unary(client, metadata(slow), { deadline: Date.now() + 100 });
    expect(byCaller.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(byCaller.ms).toBeLessThan(280);
    expect(serverDeadlineMs).toBeLessThanOrEqual(110);
  });

  it('retries only on the statuses the route lists, at most its attempts', async () => {
    calls = 0;
    expect(await unary(client, metadata({ 'x-fail-first': String(grpc.status.UNAVAILABLE) }))).toMatchObject({ code: grpc.status.OK, reply: { calls: 2 } });
    calls = 0;
    expect((await unary(client, metadata({ 'x-fail': String(grpc.status.UNAVAILABLE) }))).code).toBe(grpc.status.UNAVAILABLE);
    expect(calls).toBe(3); // attempts: 2 retries after the first try
    for (const code of [grpc.status.NOT_FOUND, grpc.status.RESOURCE_EXHAUSTED, grpc.status.INTERNAL]) {
      calls = 0;
      expect((await unary(client, metadata({ 'x-fail-first': String(code) }))).code).toBe(code);
      expect(calls).toBe(1);
    }
  });

  it('answers UNAVAILABLE when no endpoint can take the call, recorded with no response', async () => {
    const before = await mesh.metrics();
    for (const service of ['refusing', 'empty']) {
      const c = echoClient(`xds:///${service}`);
      try {
        const r = await unary(c, undefined, { deadline: Date.now() + 3000 });
        expect(r.code, `${service}: ${r.details}`).toBe(grpc.status.UNAVAILABLE);
      } finally {
        c.close();
      }
    }
    const after = await mesh.metrics();
    for (const service of ['refusing', 'empty']) {
      const labels = { reporter: 'source', request_protocol: 'grpc', destination_service: service, response_code: '0', grpc_response_status: '14' };
      expect(sample(after, 'istio_requests_total', labels) - sample(before, 'istio_requests_total', labels)).toBe(1);
    }
  });
});
