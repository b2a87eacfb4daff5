/**
 * fetch and undici keep their own semantics when the origin is a mesh
 * service: each behaviour is checked against real servers on 127.0.0.1,
 * mostly by making the same request to the mesh name and straight to the
 * endpoint's address and comparing what the application sees. Where the mesh
 * answers itself (no healthy upstream, overflow, timeout), the application
 * gets a Response with the status and flags docs/resilience-basics.md lists.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { pipeline as streamPipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Agent, connect, getGlobalDispatcher, interceptors, pipeline, request, stream, upgrade, type Dispatcher } from 'undici';
import { init, type Mesh } from '../../src/index.ts';
import { createMeshFile, type MeshFile } from '../helpers/mesh-file.ts';

interface Seen {
  readonly server: string;
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  body: string;
  /** The whole request body arrived. */
  complete: boolean;
  /** The connection closed before the response was finished: the client gave up. */
  cancelled: boolean;
  /** The response was sent. */
  answered: boolean;
}

const REPLAY_LIMIT = 1024;
const seen: Seen[] = [];
/** How each attempt at /upload is answered, in order, before its body is read; then with an echo of it. */
let uploadPlan: ('503' | '503, retry after 1 s')[] = [];
let hugeWritten = 0;

function makeServer(name: string): http.Server {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const rec: Seen = { server: name, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '', complete: false, cancelled: false, answered: false };
    seen.push(rec);
    res.on('close', () => (rec.cancelled = !res.writableFinished));
    res.on('finish', () => (rec.answered = true));
    req.on('data', (c: Buffer) => (rec.body += c.toString('latin1')));
    req.on('error', () => {});
    req.on('end', () => (rec.complete = true));
    const path = url.pathname.replace(/^\/retried(?=\/)/, '');
    // Answers that do not wait for the request body.
    if (path === '/slow-headers') {
      setTimeout(() => res.end('late'), 5000).unref();
      return;
    }
    if (path === '/slow-body') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first;');
      setTimeout(() => res.end('last'), 5000).unref();
      return;
    }
    const plan = path === '/upload' ? uploadPlan.shift() : undefined;
    if (plan !== undefined) {
      res.writeHead(503, { 'content-type': 'text/plain', ...(plan === '503' ? {} : { 'retry-after': '1' }) });
      res.end('not now');
      return;
    }
    if (path === '/huge') {
      hugeWritten = 0;
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const block = Buffer.alloc(64 * 1024, 97);
      const write = (): void => {
        while (hugeWritten < 64 * 1024 * 1024 && !res.destroyed) {
          hugeWritten += block.length;
          if (!res.write(block)) {
            res.once('drain', write);
            return;
          }
        }
        res.end();
      };
      write();
      return;
    }
    req.on('end', () => {
      switch (path) {
        case '/redirect':
          res.writeHead(Number(url.searchParams.get('status')), { location: url.searchParams.get('to') ?? '/' });
          res.end('moved');
          return;
        case '/cookies':
          res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; HttpOnly']);
          res.end('ok');
          return;
        case '/trailers':
          res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
          res.write('data');
          res.addTrailers({ 'x-checksum': 'abc' });
          res.end();
          return;
        case '/short':
          res.writeHead(200, { 'content-length': '10' });
          res.write('12345');
          setTimeout(() => res.socket?.destroy(), 20);
          return;
        case '/no-content':
          res.writeHead(204);
          res.end();
          return;
        case '/not-modified':
          res.writeHead(304, { etag: '"v1"' });
          res.end();
          return;
        default:
          res.writeHead(200, { 'content-type': 'application/json', 'x-server': name });
          res.end(
            JSON.stringify({
              server: name,
              method: req.method,
              url: req.url,
              contentType: req.headers['content-type'],
              contentLength: req.headers['content-length'],
              chunked: req.headers['transfer-encoding'] === 'chunked',
              body: rec.body,
            }),
          );
      }
    });
  });
  // A tunnel that echoes: the answer to an `upgrade` request, and to CONNECT.
  const echo = (socket: Socket, head: string): void => {
    socket.write(head);
    socket.on('data', (d: Buffer) => socket.write(d));
    socket.on('error', () => {});
  };
  server.on('upgrade', (_req, socket: Socket) => echo(socket, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n'));
  server.on('connect', (_req, socket: Socket) => echo(socket, 'HTTP/1.1 200 Connection Established\r\n\r\n'));
  return server;
}

let reviews: http.Server;
let ratings: http.Server;
let outside: http.Server;
let mesh: Mesh;
let file: MeshFile;
let direct = '';
let outsideOrigin = '';
const MESH = 'http://reviews:9080';

const addr = (s: http.Server): string => `127.0.0.1:${(s.address() as AddressInfo).port}`;

beforeAll(async () => {
  [reviews, ratings, outside] = [makeServer('reviews'), makeServer('ratings'), makeServer('outside')];
  for (const s of [reviews, ratings, outside]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  direct = `http://${addr(reviews)}`;
  outsideOrigin = `http://${addr(outside)}`;
  file = await createMeshFile(`
services:
  reviews:
    protocol: http
    port: 9080
    endpoints: [{ address: ${addr(reviews)} }]
    routes:
      - name: upload
        match: { path: { prefix: /upload } }
        retries: { attempts: 2, methods: [POST], on: [5xx], backoff: { base: 1ms, max: 2ms } }
        backends: [{ service: reviews }]
      - name: empty-answer
        match: { path: { exact: /mesh-no-content } }
        directResponse: { status: 204, body: "never sent" }
      - name: retried
        match: { path: { prefix: /retried } }
        retries: { attempts: 3, on: [5xx, reset], backoff: { base: 1ms, max: 2ms } }
        backends: [{ service: reviews }]
      - name: default
        backends: [{ service: reviews }]
  ratings:
    protocol: http
    port: 9080
    endpoints: [{ address: ${addr(ratings)} }]
    routes:
      - name: default
        backends: [{ service: ratings }]
  nowhere:
    protocol: http
    port: 9080
    endpoints: []
    routes:
      - name: default
        backends: [{ service: nowhere }]
  limited:
    protocol: http
    port: 9080
    endpoints: [{ address: ${addr(reviews)} }]
    connectionPool: { maxRequests: 1, maxPendingRequests: 1 }
    routes:
      - name: default
        backends: [{ service: limited }]
  hurried:
    protocol: http
    port: 9080
    endpoints: [{ address: ${addr(reviews)} }]
    routes:
      - name: default
        timeout: 200ms
        backends: [{ service: hurried }]
`);
  mesh = await init({ config: file.path, watch: false, replayLimit: REPLAY_LIMIT });
});

afterAll(async () => {
  await mesh?.close();
  for (const s of [reviews, ratings, outside]) {
    s?.closeAllConnections();
    s?.close();
  }
  await file?.remove();
});

beforeEach(() => {
  seen.length = 0;
  uploadPlan = [];
});

/** What a request did, as data (an error is data too), so the mesh's and the direct outcome compare. */
async function outcome(f: () => Promise<unknown>): Promise<unknown> {
  try {
    return await f();
  } catch (err) {
    const e = err as Error & { code?: unknown; cause?: Error & { code?: unknown } };
    return { threw: e.name, code: e.code, message: e.message, cause: e.cause === undefined ? undefined : { name: e.cause.name, code: e.cause.code, message: e.cause.message } };
  }
}

/** Runs `f` against the mesh name and against the endpoint's address; both outcomes, with the origin written as BASE. */
async function viaMeshAndDirect(f: (base: string) => Promise<unknown>): Promise<{ mesh: string; direct: string }> {
  const norm = (x: unknown): string =>
    JSON.stringify(x)
      .replaceAll(encodeURIComponent(MESH), 'BASE')
      .replaceAll(encodeURIComponent(direct), 'BASE')
      .replaceAll(MESH, 'BASE')
      .replaceAll(direct, 'BASE')
      .replaceAll(/"x-enmesh-timeout-ms":"\d+",?/g, '');
  const m = norm(await outcome(() => f(MESH)));
  const d = norm(await outcome(() => f(direct)));
  return { mesh: m, direct: d };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

describe('redirects', () => {
  it("fetch follows, returns or refuses 301/302/303/307/308 exactly as without the mesh, to a mesh service, elsewhere or the same origin", { timeout: 20_000 }, async () => {
    const targets = ['http://ratings:9080/echo', () => `${outsideOrigin}/echo`, '/echo'];
    for (const status of [301, 302, 303, 307, 308]) {
      for (const target of targets) {
        for (const mode of ['follow', 'manual', 'error'] as const) {
          for (const method of ['GET', 'POST']) {
            const to = typeof target === 'string' ? target : target();
            const r = await viaMeshAndDirect(async (base) => {
              const res = await fetch(`${base}/redirect?status=${status}&to=${encodeURIComponent(to)}`, {
                method,
                redirect: mode,
                ...(method === 'POST' ? { body: 'hello' } : {}),
                signal: AbortSignal.timeout(3000),
              });
              return [res.status, res.redirected, res.url, res.headers.get('location'), await res.text()];
            });
            expect(r.mesh, `${status} ${to} ${mode} ${method}`).toBe(r.direct);
          }
        }
      }
    }
  });

  it('a followed 307 reaches the other mesh service with the method and body, and the response says where it ended', async () => {
    const res = await fetch(`${MESH}/redirect?status=307&to=${encodeURIComponent('http://ratings:9080/echo')}`, { method: 'PUT', body: 'payload' });
    expect(res.redirected).toBe(true);
    expect(res.url).toBe('http://ratings:9080/echo');
    expect(await res.json()).toMatchObject({ server: 'ratings', method: 'PUT', body: 'payload' });
  });

  it("undici's redirect interceptor follows through the mesh, to a mesh service and elsewhere", async () => {
    const follow = getGlobalDispatcher().compose(interceptors.redirect({ maxRedirections: 3 }));
    for (const to of ['http://ratings:9080/echo', `${outsideOrigin}/echo`, '/echo']) {
      const r = await viaMeshAndDirect(async (base) => {
        const res = await request(`${base}/redirect?status=302&to=${encodeURIComponent(to)}`, { dispatcher: follow, signal: AbortSignal.timeout(3000) });
        return [res.statusCode, await res.body.json()];
      });
      expect(r.mesh, to).toBe(r.direct);
    }
  });
});

describe('aborts and timeouts', () => {
  it('AbortSignal.timeout() before the response: TimeoutError, and the upstream request is cancelled', async () => {
    const r = await viaMeshAndDirect(async (base) => (await fetch(`${base}/slow-headers`, { signal: AbortSignal.timeout(100) })).status);
    expect(r.mesh).toBe(r.direct);
    expect(JSON.parse(r.mesh)).toMatchObject({ threw: 'TimeoutError' });
    await until(() => seen.length === 2 && seen.every((s) => s.cancelled));
  });

  it('controller.abort(reason) mid-body: the reason, from fetch and undici alike, and the upstream response is cancelled', async () => {
    const reason = new Error('gave up');
    const viaFetch = await viaMeshAndDirect(async (base) => {
      const c = new AbortController();
      const res = await fetch(`${base}/slow-body`, { signal: c.signal });
      const reader = res.body!.getReader();
      const first = Buffer.from((await reader.read()).value!).toString();
      c.abort(reason);
      return [first, await outcome(() => reader.read())];
    });
    expect(viaFetch.mesh).toBe(viaFetch.direct);
    expect(viaFetch.mesh).toContain('"message":"gave up"');
    const viaUndici = await viaMeshAndDirect(async (base) => {
      const c = new AbortController();
      const res = await request(`${base}/slow-body`, { signal: c.signal });
      setTimeout(() => c.abort(reason), 50);
      return await res.body.text();
    });
    expect(viaUndici.mesh).toBe(viaUndici.direct);
    await until(() => seen.length === 4 && seen.every((s) => s.cancelled));
  });

  it('an abort on a retried route is not retried', async () => {
    const res = await outcome(() => fetch(`${MESH}/retried/slow-headers`, { signal: AbortSignal.timeout(100) }));
    expect(res).toMatchObject({ threw: 'TimeoutError' });
    await sleep(150);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.cancelled).toBe(true);
  });
});

describe('request bodies', () => {
  it('streams ReadableStream (duplex half) and async-iterable bodies, and sends Blob, FormData, URLSearchParams and bytes with their content type and length', async () => {
    const enc = new TextEncoder();
    const bodies: Record<string, () => RequestInit> = {
      ReadableStream: () => ({
        body: new ReadableStream({
          async start(c) {
            for (const part of ['one;', 'two;', 'three']) {
              c.enqueue(enc.encode(part));
              await sleep(5);
            }
            c.close();
          },
        }),
        duplex: 'half',
      }) as RequestInit,
      'async iterable': () =>
        ({
          body: (async function* () {
            yield enc.encode('a');
            await sleep(5);
            yield enc.encode('bc');
          })(),
          duplex: 'half',
        }) as unknown as RequestInit,
      Blob: () => ({ body: new Blob(['blob'], { type: 'application/x-blob' }) }),
      URLSearchParams: () => ({ body: new URLSearchParams({ a: '1', b: 'two' }) }),
      ArrayBuffer: () => ({ body: new Uint8Array([1, 2, 3]).buffer }),
      FormData: () => {
        const form = new FormData();
        form.append('field', 'value');
        form.append('file', new Blob(['content'], { type: 'text/plain' }), 'f.txt');
        return { body: form };
      },
    };
    for (const [name, init] of Object.entries(bodies)) {
      const r = await viaMeshAndDirect(async (base) => {
        const res = await fetch(`${base}/echo`, { method: 'POST', ...init(), signal: AbortSignal.timeout(3000) });
        const echoed = (await res.json()) as Record<string, unknown>;
        // The multipart boundary is random: compare the type and that the parts arrived.
        if (name === 'FormData') return [String(echoed.contentType).split(';')[0], String(echoed.body).includes('content')];
        return echoed;
      });
      expect(r.mesh, name).toBe(r.direct);
    }
  });

  it('a request Content-Length that does not match the body fails as undici fails it', async () => {
    for (const body of [() => 'abc', () => Readable.from([Buffer.from('abc')])]) {
      const r = await viaMeshAndDirect(async (base) => (await request(`${base}/echo`, { method: 'POST', body: body(), headers: { 'content-length': '10' } })).statusCode);
      expect(r.mesh).toBe(r.direct);
      expect(r.mesh).toContain('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
    }
  });

  it('fetch with keepalive: true', async () => {
    const r = await viaMeshAndDirect(async (base) => await (await fetch(`${base}/echo`, { method: 'POST', body: 'k', keepalive: true })).json());
    expect(r.mesh).toBe(r.direct);
  });

  it("a dispatch handler gets undici's request body progress (onBodySent, onRequestSent) through the mesh", async () => {
    // npm undici's Agent reports it (Node's bundled one does not, with or without the mesh).
    const plain = new Agent();
    const meshed = new Agent().compose(mesh.interceptor());
    const progress = async (dispatcher: Dispatcher, origin: string): Promise<{ bytes: number; done: number; status: number }> => {
      const seenBy = { bytes: 0, done: 0, status: 0 };
      const finished = new Promise<void>((resolve, reject) => {
        dispatcher.dispatch(
          { origin, path: '/echo', method: 'POST', body: Readable.from([Buffer.from('12345'), Buffer.from('678')]) },
          {
            onRequestStart: () => {},
            onBodySent: (chunk) => void (seenBy.bytes += chunk.length),
            onRequestSent: () => void seenBy.done++,
            onResponseStart: (_c, status) => void (seenBy.status = status),
            onResponseData: () => {},
            onResponseEnd: () => resolve(),
            onResponseError: (_c, err) => reject(err),
          },
        );
      });
      await Promise.race([finished, sleep(3000).then(() => Promise.reject(new Error('no answer in 3 s')))]);
      return seenBy;
    };
    try {
      expect(await progress(plain, direct)).toEqual({ bytes: 8, done: 1, status: 200 });
      expect(await progress(meshed, MESH)).toEqual({ bytes: 8, done: 1, status: 200 });
    } finally {
      await plain.close();
    }
  });
});

describe('retries of streamed request bodies', () => {
  /** A request body the test feeds piece by piece. */
  function feed(): { body: ReadableStream<Uint8Array>; push(s: string): void; end(): void } {
    let ctl!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) });
    return { body, push: (s) => ctl.enqueue(new TextEncoder().encode(s)), end: () => ctl.close() };
  }

  it('an upstream that answers 503 while the body is still uploading gets the whole body on the retry', { timeout: 10_000 }, async () => {
    uploadPlan = ['503'];
    const src = feed();
    src.push('first;');
    const reply = fetch(`${MESH}/upload`, { method: 'POST', body: src.body, duplex: 'half', signal: AbortSignal.timeout(5000) } as RequestInit).then(
      async (res) => ({ status: res.status, body: await res.text() }),
      (err: Error) => ({ status: 0, body: `${err.name}: ${err.message} (${(err.cause as Error | undefined)?.message})` }),
    );
    // The retry is under way, its body waiting for what the application sends next.
    let done = false;
    void reply.then(() => (done = true));
    await until(() => done || (seen.length === 2 && seen[1]!.body === 'first;'));
    src.push('second;');
    src.push('third');
    src.end();
    const res = await reply;
    expect(res).toEqual({ status: 200, body: expect.stringContaining('"body":"first;second;third"') });
    expect(seen.map((s) => [s.body, s.complete])).toEqual([
      ['first;', false],
      ['first;second;third', true],
    ]);
  });

  it('a body that outgrows the replay limit after its retry began is still sent whole by that retry', { timeout: 10_000 }, async () => {
    uploadPlan = ['503'];
    const src = feed();
    src.push('first;');
    const reply = fetch(`${MESH}/upload`, { method: 'POST', body: src.body, duplex: 'half', signal: AbortSignal.timeout(5000) } as RequestInit).then(
      async (res) => ({ status: res.status, body: await res.text() }),
      (err: Error) => ({ status: 0, body: `${err.name}: ${err.message} (${(err.cause as Error | undefined)?.message})` }),
    );
    let done = false;
    void reply.then(() => (done = true));
    await until(() => done || (seen.length === 2 && seen[1]!.body === 'first;'));
    const big = 'x'.repeat(REPLAY_LIMIT);
    src.push(big);
    src.push(';last');
    src.end();
    expect(await reply).toMatchObject({ status: 200 });
    expect(seen.map((s) => [s.body, s.complete])).toEqual([
      ['first;', false],
      [`first;${big};last`, true],
    ]);
  });

  it('a body that outgrows the replay limit while a retry waits (Retry-After) is not sent again: 503 URX', { timeout: 10_000 }, async () => {
    uploadPlan = ['503, retry after 1 s'];
    const src = feed();
    src.push('first;');
    const reply = fetch(`${MESH}/upload`, { method: 'POST', body: src.body, duplex: 'half', signal: AbortSignal.timeout(5000) } as RequestInit).then(
      async (res) => ({ status: res.status, flags: res.headers.get('x-enmesh-response-flags'), body: await res.text() }),
      (err: Error) => ({ status: 0, flags: null, body: `${err.name}: ${err.message} (${(err.cause as Error | undefined)?.message})` }),
    );
    // The 503 has reached the mesh, which now waits out its Retry-After.
    await until(() => seen.length === 1 && seen[0]!.answered);
    await sleep(200);
    src.push('x'.repeat(REPLAY_LIMIT));
    src.push(';last');
    src.end();
    expect(await reply).toMatchObject({ status: 503, flags: 'URX', body: expect.stringContaining('replay limit') });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.complete).toBe(false);
  });

  it('a body past the replay limit before the failure is not retried: the upstream answer is delivered', async () => {
    uploadPlan = ['503'];
    const src = feed();
    src.push('y'.repeat(REPLAY_LIMIT + 1));
    src.end();
    const res = await fetch(`${MESH}/upload`, { method: 'POST', body: src.body, duplex: 'half', signal: AbortSignal.timeout(5000) } as RequestInit);
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('not now');
    expect(seen).toHaveLength(1);
  });
});

describe('responses', () => {
  it('Set-Cookie headers stay separate: getSetCookie() and undici arrays', async () => {
    const r = await viaMeshAndDirect(async (base) => {
      const viaFetch = await fetch(`${base}/cookies`);
      await viaFetch.text();
      const viaUndici = await request(`${base}/cookies`);
      await viaUndici.body.text();
      return [viaFetch.headers.getSetCookie(), viaUndici.headers['set-cookie']];
    });
    expect(r.mesh).toBe(r.direct);
    expect(JSON.parse(r.mesh)).toEqual([
      ['a=1; Path=/', 'b=2; HttpOnly'],
      ['a=1; Path=/', 'b=2; HttpOnly'],
    ]);
  });

  it('trailers reach undici; fetch reads the body around them', async () => {
    const r = await viaMeshAndDirect(async (base) => {
      const res = await request(`${base}/trailers`);
      const text = await res.body.text();
      return [text, res.trailers, await (await fetch(`${base}/trailers`)).text()];
    });
    expect(r.mesh).toBe(r.direct);
    expect(JSON.parse(r.mesh)).toEqual(['data', { 'x-checksum': 'abc' }, 'data']);
  });

  it('Response.body streams with backpressure: an unread body stops the upstream writing', async () => {
    const res = await fetch(`${MESH}/huge`);
    const reader = res.body!.getReader();
    await reader.read();
    await sleep(200);
    const written = hugeWritten;
    await sleep(200);
    expect(hugeWritten).toBe(written);
    expect(written).toBeLessThan(16 * 1024 * 1024);
    await reader.cancel();
    await until(() => seen[0]!.cancelled);
  });

  it('HEAD, 204 and 304 have no body; a body shorter than its Content-Length fails as it does directly', async () => {
    const r = await viaMeshAndDirect(async (base) => {
      const head = await fetch(`${base}/echo`, { method: 'HEAD' });
      const noContent = await fetch(`${base}/no-content`);
      const notModified = await fetch(`${base}/not-modified`);
      const undiciHead = await request(`${base}/echo`, { method: 'HEAD' });
      return [
        [head.status, head.body, await head.text()],
        [noContent.status, noContent.body, await noContent.text()],
        [notModified.status, notModified.body, notModified.headers.get('etag')],
        [undiciHead.statusCode, await undiciHead.body.text()],
        await outcome(async () => (await fetch(`${base}/short`)).text()),
        await outcome(async () => (await request(`${base}/short`)).body.text()),
      ];
    });
    expect(r.mesh).toBe(r.direct);
  });
});

describe('undici APIs', () => {
  it('stream() and pipeline() through the mesh', async () => {
    const r = await viaMeshAndDirect(async (base) => {
      const chunks: Buffer[] = [];
      const sink = (): Writable => new Writable({ write: (c: Buffer, _e, cb) => void (chunks.push(c), cb()) });
      const streamed = await stream(`${base}/echo`, { method: 'POST', body: 'streamed', opaque: 'op' }, () => sink());
      const viaStream = Buffer.concat(chunks.splice(0)).toString();
      await streamPipeline(Readable.from([Buffer.from('piped')]), pipeline(`${base}/echo`, { method: 'POST' }, ({ body }) => body), sink());
      // pipeline()'s body has usually ended when undici writes it, so undici sends it with a Content-Length;
      // the mesh counts it as a stream and it goes chunked (noted in outbound-call.ts). Same bytes either way.
      const piped = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
      return [streamed.opaque, JSON.parse(viaStream), piped.method, piped.body];
    });
    expect(r.mesh).toBe(r.direct);
  });

  it('upgrade() and connect() to a mesh origin open the tunnel to the endpoint', async () => {
    const roundTrip = async (socket: import('node:stream').Duplex): Promise<string> => {
      socket.write('ping');
      const [data] = (await Promise.race([new Promise((r) => socket.once('data', (d: Buffer) => r([d]))), sleep(2000, ['timeout'])])) as [Buffer | string];
      socket.destroy();
      return data.toString();
    };
    const r = await viaMeshAndDirect(async (base) => {
      const up = await upgrade(`${base}/tunnel`, { protocol: 'echo', signal: AbortSignal.timeout(2000) });
      const viaUpgrade = [up.headers.upgrade, await roundTrip(up.socket)];
      const tunnel = await connect(`${base}/`, { signal: AbortSignal.timeout(2000) });
      return [viaUpgrade, tunnel.statusCode, await roundTrip(tunnel.socket)];
    });
    expect(r.mesh).toBe(r.direct);
    expect(JSON.parse(r.mesh)).toEqual([['echo', 'ping'], 200, 'ping']);
  });

  it("expectContinue: the body follows the upstream's 100 Continue; fetch refuses an Expect header either way", async () => {
    const r = await viaMeshAndDirect(async (base) => {
      const res = await request(`${base}/echo`, { method: 'PUT', body: 'after-continue', expectContinue: true });
      return [res.statusCode, await res.body.json(), await outcome(() => fetch(`${base}/echo`, { method: 'PUT', body: 'x', headers: { expect: '100-continue' } }))];
    });
    expect(r.mesh).toBe(r.direct);
    expect(r.mesh).toContain('after-continue');
  });
});

describe("the mesh's own answers", () => {
  it('no healthy upstream, overflow and timeout reach fetch as Responses (503 UH, 503 UO, 504 UT) with the reason phrase', { timeout: 10_000 }, async () => {
    const nowhere = await fetch('http://nowhere:9080/x');
    expect([nowhere.status, nowhere.statusText, nowhere.headers.get('x-enmesh-response-flags')]).toEqual([503, 'Service Unavailable', 'UH']);
    expect(await nowhere.text()).toContain('no healthy upstream');

    const hold = new AbortController();
    const held = [fetch('http://limited:9080/slow-headers', { signal: hold.signal }).catch(() => undefined), fetch('http://limited:9080/slow-headers', { signal: hold.signal }).catch(() => undefined)];
    await until(() => seen.length === 1);
    const overflow = await fetch('http://limited:9080/slow-headers');
    hold.abort();
    await Promise.all(held);
    expect([overflow.status, overflow.statusText, overflow.headers.get('x-enmesh-response-flags')]).toEqual([503, 'Service Unavailable', 'UO']);

    const timeout = await fetch('http://hurried:9080/slow-headers');
    expect([timeout.status, timeout.statusText, timeout.headers.get('x-enmesh-response-flags')]).toEqual([504, 'Gateway Timeout', 'UT']);
    await timeout.text();
  });

  it("undici's responseError interceptor throws on them as on an upstream's error status", async () => {
    const strict = getGlobalDispatcher().compose(interceptors.responseError());
    const err = (await outcome(() => request('http://nowhere:9080/x', { dispatcher: strict }))) as { threw: string; code: string };
    expect(err).toMatchObject({ threw: 'ResponseError', code: 'UND_ERR_RESPONSE' });
  });

  it('a local answer to HEAD, or with status 204, has no body, as a server would send it', async () => {
    const head = await request('http://nowhere:9080/x', { method: 'HEAD' });
    expect([head.statusCode, head.headers['x-enmesh-response-flags'], await head.body.text()]).toEqual([503, 'UH', '']);
    const fetchHead = await fetch('http://nowhere:9080/x', { method: 'HEAD' });
    expect([fetchHead.status, fetchHead.body]).toEqual([503, null]);
    const noContent = await request(`${MESH}/mesh-no-content`);
    expect([noContent.statusCode, noContent.headers['content-length'], await noContent.body.text()]).toEqual([204, undefined, '']);
    const nodeHead = await new Promise<[number, string]>((resolve, reject) => {
      const req = http.request('http://nowhere:9080/x', { method: 'HEAD' }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve([res.statusCode ?? 0, body]));
      });
      req.on('error', reject);
      req.end();
    });
    expect(nodeHead).toEqual([503, '']);
  });
});
