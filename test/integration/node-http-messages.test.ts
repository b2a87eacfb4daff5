/**
 * What an `http.ClientRequest` and its response carry through the mesh is
 * what Node's own client gives for the same exchange: interim responses
 * ('information', 'continue'), raw header names as sent, Node's rules for
 * repeated headers, `headersDistinct` / `trailersDistinct` / `rawTrailers`,
 * a request body sent as it is written, the AbortError of a signal, and an
 * application's exception in a listener. undici's `onInfo` and raw response
 * headers come through its interceptor the same way. On the server side, a
 * handler's exception is uncaught as under Node.
 */
import http from 'node:http';
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { init, type Mesh } from '../../src/index.ts';
import { createMeshFile, type MeshFile } from '../helpers/mesh-file.ts';

let server: http.Server;
let mesh: Mesh;
let file: MeshFile;
let direct: string;
const viaMesh = 'http://msgs:9080';

beforeAll(async () => {
  server = http.createServer((req, res) => {
    switch (req.url) {
      case '/hints':
        res.writeEarlyHints({ link: '</style.css>; rel=preload' });
        setTimeout(() => res.end('ok'), 10);
        return;
      case '/headers':
        // Repeats that Node drops (content-type), joins (cookie with '; ', others ', ') or keeps (set-cookie); mixed-case names; trailers.
        res.writeHead(200, [
          ['Content-Type', 'text/plain'],
          ['Content-Type', 'text/html'],
          ['Set-Cookie', 'a=1'],
          ['Set-Cookie', 'b=2'],
          ['Cookie', 'x=1'],
          ['Cookie', 'y=2'],
          ['X-Multi', 'one'],
          ['X-Multi', 'two'],
          ['Trailer', 'X-Checksum'],
        ].flat());
        res.write('body');
        res.addTrailers([['X-Checksum', 'abc'], ['X-Checksum', 'def']]);
        res.end();
        return;
      case '/echo-first-chunk':
        // Answers as soon as the first chunk of the body arrives, then echoes the rest: a client
        // that waits for this answer before ending its body needs the first chunk sent before end().
        req.once('data', (c: Buffer) => {
          res.writeHead(200);
          res.write(`first:${c}`);
          let rest = '';
          req.on('data', (d: Buffer) => (rest += d));
          req.on('end', () => res.end(`|rest:${rest}`));
        });
        return;
      case '/slow':
        setTimeout(() => res.end('late'), 500).unref();
        return;
      default:
        res.end('ok');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  direct = `http://127.0.0.1:${port}`;
  file = await createMeshFile(`
services:
  msgs:
    protocol: http
    port: 9080
    endpoints: [{ address: 127.0.0.1:${port} }]
`);
  mesh = await init({ config: file.path, watch: false });
});

afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
  await mesh?.close();
  await file?.remove();
});

interface Seen {
  info: Array<{ statusCode: number; headers: unknown }>;
  continued: boolean;
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaderNames: string[];
  headersDistinct: Record<string, string[]>;
  trailers: unknown;
  rawTrailers: string[];
  trailersDistinct: Record<string, string[]>;
  body: string;
}

/** Everything a request and its response show, for comparing the two ways of sending it. */
function exchange(base: string, path: string, opts: http.RequestOptions = {}, drive: (req: http.ClientRequest) => void = (req) => req.end()): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const info: Seen['info'] = [];
    let continued = false;
    const req = http.request(`${base}${path}`, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () =>
        resolve({
          info,
          continued,
          status: res.statusCode!,
          headers: withoutConnectionHeaders(res.headers),
          rawHeaderNames: res.rawHeaders.filter((_, i) => i % 2 === 0 && !CONNECTION_HEADERS.has(res.rawHeaders[i]!.toLowerCase())),
          headersDistinct: withoutConnectionHeaders(res.headersDistinct) as Record<string, string[]>,
          trailers: res.trailers,
          rawTrailers: res.rawTrailers,
          trailersDistinct: res.trailersDistinct as Record<string, string[]>,
          body,
        }),
      );
    });
    req.on('information', (i: http.InformationEvent) => info.push({ statusCode: i.statusCode, headers: i.headers }));
    req.on('continue', () => (continued = true));
    req.on('error', reject);
    drive(req);
  });
}

const CONNECTION_HEADERS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length']);
function withoutConnectionHeaders<T extends object>(h: T): T {
  return Object.fromEntries(Object.entries(h).filter(([k]) => !CONNECTION_HEADERS.has(k))) as T;
}

describe('node:http responses through the mesh', () => {
  it('reports an interim 103 Early Hints as "information", as Node does', async () => {
    const [d, m] = [await exchange(direct, '/hints'), await exchange(viaMesh, '/hints')];
    expect(d.info).toEqual([{ statusCode: 103, headers: { link: '</style.css>; rel=preload' } }]);
    expect(m.info).toEqual(d.info);
    expect(m.body).toBe('ok');
  });

  it('answers Expect: 100-continue with "continue" and "information" 100', async () => {
    const send = (req: http.ClientRequest): void => void req.on('continue', () => req.end('payload'));
    const opts = { method: 'POST', headers: { expect: '100-continue' } };
    const [d, m] = [await exchange(direct, '/', opts, send), await exchange(viaMesh, '/', opts, send)];
    expect(d.continued).toBe(true);
    expect(m.continued).toBe(true);
    expect(m.info.map((i) => i.statusCode)).toEqual(d.info.map((i) => i.statusCode));
  });

  it('keeps raw header names, applies Node rules to repeated headers, and gives the distinct views and raw trailers', async () => {
    const [d, m] = [await exchange(direct, '/headers'), await exchange(viaMesh, '/headers')];
    expect(d.headers['content-type']).toBe('text/plain');
    expect(d.headers.cookie).toBe('x=1; y=2');
    expect(d.headers['x-multi']).toBe('one, two');
    expect(d.rawHeaderNames).toContain('Set-Cookie');
    expect(m.headers).toEqual(d.headers);
    expect(m.rawHeaderNames).toEqual(d.rawHeaderNames);
    expect(m.headersDistinct).toEqual(d.headersDistinct);
    expect(m.headersDistinct['content-type']).toEqual(['text/plain', 'text/html']);
    expect(m.trailers).toEqual(d.trailers);
    expect(m.rawTrailers).toEqual(d.rawTrailers);
    expect(m.rawTrailers).toEqual(['X-Checksum', 'abc', 'X-Checksum', 'def']);
    expect(m.trailersDistinct).toEqual({ 'x-checksum': ['abc', 'def'] });
  });
});

describe('node:http requests through the mesh', () => {
  it("joins every repeated response header with Node's joinDuplicateHeaders option", async () => {
    const opts = { joinDuplicateHeaders: true } as http.RequestOptions;
    const [d, m] = [await exchange(direct, '/headers', opts), await exchange(viaMesh, '/headers', opts)];
    expect(d.headers['content-type']).toBe('text/plain, text/html');
    expect(m.headers).toEqual(d.headers);
  });

  it('refuses what Node refuses, by throwing from http.request() or setHeader() with its errors', () => {
    const thrown = (fn: () => unknown): { name?: string; code?: string; message?: string } => {
      try {
        const req = fn() as http.ClientRequest;
        req.on('error', () => {});
        req.destroy();
        return {};
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        return { name: e.name, code: e.code, message: e.message };
      }
    };
    const port = new URL(direct).port;
    const bad = (host: string, p: string | number): Array<() => unknown> => [
      () => http.request({ host, port: p, path: '/a b' }),
      () => http.request({ host, port: p, path: '/', method: 'GE T' }),
      () => http.request({ host, port: p, path: '/', headers: { 'x-a': 'a\nb' } }),
      () => http.request({ host, port: p, path: '/', headers: { 'bad name': '1' } }),
      () => http.request({ host, port: p, path: '/', headers: { 'x-undefined': undefined } as unknown as http.OutgoingHttpHeaders }),
      () => {
        const req = http.request({ host, port: p, path: '/' });
        req.on('error', () => {});
        try {
          return req.setHeader('x-b', 'c\rd');
        } finally {
          req.destroy();
        }
      },
    ];
    const d = bad('127.0.0.1', port).map(thrown);
    const m = bad('msgs', 9080).map(thrown);
    expect(d.map((e) => e.code)).toEqual(['ERR_UNESCAPED_CHARACTERS', 'ERR_INVALID_HTTP_TOKEN', 'ERR_INVALID_CHAR', 'ERR_INVALID_HTTP_TOKEN', 'ERR_HTTP_INVALID_HEADER_VALUE', 'ERR_INVALID_CHAR']);
    expect(m).toEqual(d);
  });

  it('sends a body written over several ticks as it is written, not at end()', async () => {
    // The client ends its body only once the server has answered its first chunk.
    const drive = (req: http.ClientRequest): void => {
      req.write('hello');
      req.once('response', (res) => res.once('data', () => req.end('world')));
    };
    const opts = { method: 'POST' };
    const [d, m] = [await exchange(direct, '/echo-first-chunk', opts, drive), await exchange(viaMesh, '/echo-first-chunk', opts, drive)];
    expect(d.body).toBe('first:hello|rest:world');
    expect(m.body).toBe(d.body);
  });

  it('fails a request whose signal aborts with Node\'s AbortError, the reason as its cause', async () => {
    const failure = async (base: string): Promise<NodeJS.ErrnoException> => {
      const ac = new AbortController();
      const req = http.get(`${base}/slow`, { signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      const [err] = (await once(req, 'error')) as [NodeJS.ErrnoException];
      return err;
    };
    const [d, m] = [await failure(direct), await failure(viaMesh)];
    expect({ name: d.name, code: d.code, message: d.message }).toEqual({ name: 'AbortError', code: 'ABORT_ERR', message: 'The operation was aborted' });
    expect({ name: m.name, code: m.code, message: m.message }).toEqual({ name: d.name, code: d.code, message: d.message });
    expect((m as Error).cause).toBeInstanceOf(Error);
  });

  it("leaves an application listener's exception uncaught, as Node does, instead of failing the request", async () => {
    const script = fileURLToPath(new URL('../fixtures/node-http/throwing-listener.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 20_000 });
    const out = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(out.direct).toEqual({
      response: { caught: ['thrown in response'], requestError: false },
      data: { caught: ['thrown in data'], requestError: false },
    });
    expect(out.mesh).toEqual(out.direct);
  });
});

describe('node:http servers under the mesh', () => {
  it('lets a request handler that throws after an asynchronous inbound check raise an uncaught exception, as Node does', async () => {
    const script = fileURLToPath(new URL('../fixtures/node-http/throwing-handler.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 20_000 });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual(['uncaughtException: handler failed']);
  });
});

describe('undici through the mesh', () => {
  it('passes interim responses to onInfo and raw response headers as the upstream named them', async () => {
    const call = async (base: string): Promise<{ info: number[]; names: string[] }> => {
      const info: number[] = [];
      const res = await request(`${base}/headers`, { responseHeaders: 'raw', onInfo: (i: { statusCode: number }) => info.push(i.statusCode) } as Parameters<typeof request>[1]);
      await res.body.text();
      const raw = res.headers as unknown as string[];
      return { info, names: raw.filter((_, i) => i % 2 === 0 && !CONNECTION_HEADERS.has(raw[i]!.toLowerCase())) };
    };
    const hints = async (base: string): Promise<number[]> => {
      const info: number[] = [];
      const res = await request(`${base}/hints`, { onInfo: (i: { statusCode: number }) => info.push(i.statusCode) } as Parameters<typeof request>[1]);
      await res.body.text();
      return info;
    };
    const [d, m] = [await call(direct), await call(viaMesh)];
    expect(d.names).toContain('Set-Cookie');
    expect(m).toEqual(d);
    expect(await hints(direct)).toEqual([103]);
    expect(await hints(viaMesh)).toEqual([103]);
  });
});
