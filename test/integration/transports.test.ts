/**
 * Every hooked client API (fetch, undici.request, undici.stream, http.request,
 * http.get) against real HTTP servers on 127.0.0.1: routing, weighted splits,
 * retries, timeouts and pass-through must behave identically.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { init, type Mesh } from '../../src/index.ts';
import { startBackend, type Backend } from '../helpers/http-backend.ts';
import { clients, runMany } from '../helpers/clients.ts';
import { createMeshFile, type MeshFile } from '../helpers/mesh-file.ts';

let v1: Backend;
let v2: Backend;
let outside: Backend;
let mesh: Mesh;
let file: MeshFile;

function meshYaml(routes: string, extra = ''): string {
  return `
mesh: { name: test }
services:
  reviews:
    protocol: http
    port: 9080
    endpoints:
      - { address: ${v1.address}, labels: { version: v1 } }
      - { address: ${v2.address}, labels: { version: v2 } }
    subsets:
      v1: { version: v1 }
      v2: { version: v2 }
${extra}    routes:
${routes}
`;
}

const SPLIT_ROUTES = `
      - name: canary-by-header
        match: { headers: { x-canary: "true" } }
        backends: [{ subset: v2 }]
      - name: default
        backends: [{ subset: v1, weight: 80 }, { subset: v2, weight: 20 }]
`;

beforeAll(async () => {
  [v1, v2, outside] = await Promise.all([startBackend('v1'), startBackend('v2'), startBackend('outside')]);
  file = await createMeshFile(meshYaml(SPLIT_ROUTES));
  mesh = await init({ config: file.path });
});

afterAll(async () => {
  await mesh?.close();
  await Promise.all([v1?.close(), v2?.close(), outside?.close()]);
  await file?.remove();
});

beforeEach(() => {
  v1.reset();
  v2.reset();
  outside.reset();
});

describe.each(Object.entries(clients))('%s', (_name, client) => {
  it('splits traffic by weight within ±5 % over 2,000 requests', async () => {
    const replies = await runMany(2000, 25, () => client('http://reviews:9080/reviews/1'));
    const fromV2 = replies.filter((r) => r.body === 'v2').length;
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(fromV2 / 2000).toBeGreaterThan(0.15);
    expect(fromV2 / 2000).toBeLessThan(0.25);
  });

  it('routes on a header and reaches the service on its default port', async () => {
    const replies = await runMany(50, 10, () => client('http://reviews/x', { headers: { 'x-canary': 'true' } }));
    expect(replies.map((r) => r.body)).toEqual(new Array(50).fill('v2'));
    expect(v2.seen[0]!.headers.host).toBe('reviews:9080');
  });

  it('passes non-mesh hosts through untouched', async () => {
    const reply = await client(`http://127.0.0.1:${outside.port}/direct?q=1`, { headers: { 'x-test': 'yes' } });
    expect(reply.body).toBe('outside');
    expect(outside.seen[0]!.url).toBe('/direct?q=1');
    expect(outside.seen[0]!.headers['x-test']).toBe('yes');
    expect(outside.seen[0]!.headers['x-enmesh-timeout-ms']).toBeUndefined();
  });
});

describe('retries and timeouts on every transport', () => {
  beforeAll(async () => {
    await file.apply(
      mesh,
      meshYaml(`
      - name: slow
        match: { path: { prefix: /slow } }
        backends: [{ subset: v1 }]
        timeout: 300ms
      - name: per-try
        match: { path: { prefix: /per-try } }
        backends: [{ subset: v1 }]
        timeout: 2s
        retries: { attempts: 2, perTryTimeout: 100ms, on: [5xx, reset, connect-failure], backoff: { base: 1ms, max: 5ms }, budget: { percent: 100, minPerSecond: 1000 } }
      - name: post-retry
        match: { path: { prefix: /post-retry } }
        backends: [{ subset: v1 }]
        retries: { attempts: 3, methods: [POST], backoff: { base: 1ms, max: 5ms }, budget: { percent: 100, minPerSecond: 1000 } }
      - name: default
        backends: [{ subset: v1 }]
        retries: { attempts: 3, on: [5xx, reset, connect-failure], backoff: { base: 1ms, max: 5ms }, budget: { percent: 100, minPerSecond: 1000 } }
`),
    );
  });

  describe.each(Object.entries(clients))('%s', (_name, client) => {
    it('recovers from a backend that fails the first 2 attempts', async () => {
      v1.failNext(2, 503);
      const reply = await client('http://reviews:9080/item');
      expect(reply.status).toBe(200);
      expect(reply.body).toBe('v1');
      expect(v1.seen.length).toBe(3);
    });

    it('gives up after the configured attempts and says so', async () => {
      v1.failNext(10, 503);
      const reply = await client('http://reviews:9080/item');
      expect(reply.status).toBe(503);
      expect(reply.headers['x-enmesh-response-flags']).toBe('URX');
      expect(v1.seen.length).toBe(4); // first try + 3 retries
    });

    it('does not retry POST unless the route allows it', async () => {
      v1.failNext(1, 503);
      const reply = await client('http://reviews:9080/item', { method: 'POST', body: 'payload' });
      expect(reply.status).toBe(503);
      expect(v1.seen.length).toBe(1);
    });

    it('answers 504 when the total timeout expires', async () => {
      v1.delay(1000);
      const started = performance.now();
      const reply = await client('http://reviews:9080/slow');
      const took = performance.now() - started;
      expect(reply.status).toBe(504);
      expect(reply.headers['x-enmesh-response-flags']).toBe('UT');
      expect(took).toBeGreaterThanOrEqual(280);
      expect(took).toBeLessThan(900);
    });

    it('retries an attempt that exceeds its per-try timeout', async () => {
      v1.delay(400);
      const started = performance.now();
      const reply = await client('http://reviews:9080/per-try');
      const took = performance.now() - started;
      // three attempts of 100 ms each, then 504 UT: well under the 400 ms the backend needs
      expect(reply.status).toBe(504);
      expect(took).toBeLessThan(390 + 300);
      await new Promise((r) => setTimeout(r, 450)); // let the delayed backend record all three
      expect(v1.seen.length).toBe(3);
      v1.delay(0);
      const ok = await client('http://reviews:9080/per-try');
      expect(ok.status).toBe(200);
    });
  });

  // http.get() ends the request at once: it cannot carry a body, so it is not in this group.
  describe.each(Object.entries(clients).filter(([name]) => name !== 'http.get'))('%s with a body', (_name, client) => {
    it('retries POST where configured, replaying the body intact', async () => {
      v1.failNext(2, 503);
      const reply = await client('http://reviews:9080/post-retry', { method: 'POST', body: 'payload-123' });
      expect(reply.status).toBe(200);
      expect(v1.seen.map((s) => s.body)).toEqual(['payload-123', 'payload-123', 'payload-123']);
    });
  });
});

describe('request bodies and replay', () => {
  it('replays a streamed fetch body on retry', async () => {
    v1.failNext(1, 503);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('part-1;'));
        controller.enqueue(new TextEncoder().encode('part-2'));
        controller.close();
      },
    });
    const res = await fetch('http://reviews:9080/post-retry', { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(200);
    await res.text();
    expect(v1.seen.map((s) => s.body)).toEqual(['part-1;part-2', 'part-1;part-2']);
  });

  it('streams a body over the replay limit and does not retry it, never sending a partial replay', async () => {
    v1.failNext(1, 503);
    const big = 'x'.repeat(100 * 1024);
    const reply = await clients['http.request']!('http://reviews:9080/post-retry', { method: 'POST', body: big });
    expect(reply.status).toBe(503);
    expect(v1.seen).toHaveLength(1);
    expect(v1.seen[0]!.body.length).toBe(big.length);
  });
});

describe("undici's responseHeaders: 'raw'", () => {
  it('gets the response headers as name/value pairs through the mesh, as from a raw request', async () => {
    const { request } = await import('undici');
    const res = await request('http://reviews:9080/raw', { responseHeaders: 'raw' });
    expect(res.statusCode).toBe(200);
    const backend = await res.body.text();
    const raw = res.headers as unknown as string[];
    expect(Array.isArray(raw)).toBe(true);
    const pairs = new Map<string, string>();
    for (let i = 0; i + 1 < raw.length; i += 2) pairs.set(String(raw[i]).toLowerCase(), String(raw[i + 1]));
    expect(['v1', 'v2']).toContain(backend);
    expect(pairs.get('x-backend')).toBe(backend);
    expect(pairs.get('server')).toBe('test-backend');
  });
});

describe('node:http with Expect: 100-continue', () => {
  it("emits 'continue' itself and sends the body without the header, as Envoy does by default", async () => {
    const http = await import('node:http');
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ host: 'reviews', port: 9080, method: 'PUT', path: '/expect', headers: { Expect: '100-continue', 'content-length': 7 } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('continue', () => req.end('payload'));
      req.on('error', reject);
    });
    expect(reply.status).toBe(200);
    const seen = [...v1.seen, ...v2.seen].find((s) => s.url === '/expect');
    expect(seen?.body).toBe('payload');
    expect(seen?.headers.expect).toBeUndefined();
  });
});

describe('node:http with a shared AbortSignal', () => {
  it('leaves no listener on the signal once each request is done', async () => {
    const http = await import('node:http');
    const { EventEmitter } = await import('node:events');
    const shared = new AbortController();
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = http.get('http://reviews:9080/signal', { signal: shared.signal }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
      });
    }
    await new Promise((r) => setImmediate(r));
    expect(EventEmitter.getEventListeners(shared.signal, 'abort')).toHaveLength(0);
  });
});

describe('node:http with hop-by-hop headers undici refuses', () => {
  it('sends the request without Transfer-Encoding and Keep-Alive, as a proxy would, instead of failing', async () => {
    const http = await import('node:http');
    for (const headers of [{ 'Transfer-Encoding': 'chunked' }, { Connection: 'keep-alive', 'Keep-Alive': 'timeout=5' }]) {
      const reply = await new Promise<number>((resolve, reject) => {
        const req = http.request('http://reviews:9080/hop', { method: 'POST', headers }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.write('part-1;');
        req.end('part-2');
      });
      expect(reply, JSON.stringify(headers)).toBe(200);
    }
    const seen = [...v1.seen, ...v2.seen].filter((s) => s.url === '/hop');
    expect(seen.map((s) => s.body)).toEqual(['part-1;part-2', 'part-1;part-2']);
    expect(seen.map((s) => s.headers['keep-alive'])).toEqual([undefined, undefined]);
  });
});
