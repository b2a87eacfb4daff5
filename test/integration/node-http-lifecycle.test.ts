/**
 * The life of an `http.ClientRequest` through the mesh is the one Node's own
 * client gives, because HTTP libraries are written against it:
 * - 'socket' comes on the tick after `http.request()`, and the socket's idle
 *   timeout counts from the response's activity (follow-redirects, and so
 *   axios, and needle start their timeouts there; got measures its timings);
 * - destroying the request, aborting it or destroying its socket ends it
 *   with the same events as Node: "socket hang up" before the response,
 *   'aborted' and an "aborted" ECONNRESET on the response during it.
 * Each case runs against the same server directly and through the mesh, and
 * the two must agree; axios and got are then run as their users run them.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import axios from 'axios';
import got from 'got';
import { init, type Mesh } from '../../src/index.ts';
import { createMeshFile, type MeshFile } from '../helpers/mesh-file.ts';

let server: http.Server;
let mesh: Mesh;
let file: MeshFile;
let direct: string;
const viaMesh = 'http://slow:9080';

beforeAll(async () => {
  // /slow: first byte after 100 ms, the rest 200 ms later. /trickle: a chunk every 40 ms for 400 ms.
  server = http.createServer((req, res) => {
    if (req.url === '/trickle') {
      let n = 0;
      const t = setInterval(() => {
        if (++n === 10) {
          clearInterval(t);
          res.end('.');
        } else res.write('.');
      }, 40);
      res.on('close', () => clearInterval(t));
      return;
    }
    const t = setTimeout(() => {
      res.write('a');
      setTimeout(() => res.end('b'), 200);
    }, 100);
    res.on('close', () => clearTimeout(t));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  direct = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  file = await createMeshFile(`
services:
  slow:
    protocol: http
    port: 9080
    endpoints: [{ address: 127.0.0.1:${(server.address() as AddressInfo).port} }]
`);
  mesh = await init({ config: file.path, watch: false });
});

afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
  await mesh?.close();
  await file?.remove();
});

type Act = (req: http.ClientRequest) => void;
type When = 'sync' | 'before response' | 'during response';

/** The events a request and its response emit when `act` ends it at `when`. */
function lifecycle(base: string, when: When, act: Act): Promise<string[]> {
  return new Promise((resolve) => {
    const events: string[] = [];
    const req = http.request(`${base}/slow`, (res) => {
      events.push('response');
      res.on('aborted', () => events.push('res aborted'));
      res.on('error', (e: NodeJS.ErrnoException) => events.push(`res error ${e.code} ${e.message}`));
      res.on('close', () => events.push('res close'));
      res.resume();
      if (when === 'during response') setTimeout(() => act(req), 50);
    });
    req.on('socket', () => events.push('socket'));
    req.on('abort', () => events.push('abort'));
    req.on('error', (e: NodeJS.ErrnoException) => events.push(`error ${e.code} ${e.message}`));
    req.on('close', () => {
      events.push('close');
      setTimeout(() => resolve(events), 50);
    });
    req.end();
    if (when === 'sync') act(req);
    else if (when === 'before response') setTimeout(() => act(req), 30);
  });
}

const boom = (): Error => Object.assign(new Error('boom'), { code: 'EBOOM' });
const cases: [string, When, Act][] = [
  ['destroy()', 'sync', (r) => r.destroy()],
  ['destroy()', 'before response', (r) => r.destroy()],
  ['destroy()', 'during response', (r) => r.destroy()],
  ['destroy(err)', 'before response', (r) => r.destroy(boom())],
  ['destroy(err)', 'during response', (r) => r.destroy(boom())],
  ['abort()', 'sync', (r) => r.abort()],
  ['abort()', 'before response', (r) => r.abort()],
  ['abort()', 'during response', (r) => r.abort()],
  ['socket.destroy()', 'before response', (r) => r.socket!.destroy()],
  ['socket.destroy()', 'during response', (r) => r.socket!.destroy()],
];

describe('ending a request emits what Node emits', () => {
  for (const [what, when, act] of cases) {
    it(`${what} ${when}`, async () => {
      const [plain, meshed] = await Promise.all([lifecycle(direct, when, act), lifecycle(viaMesh, when, act)]);
      expect(plain.length).toBeGreaterThan(1);
      // Same events; the relative order of the request's 'error' and the response's events may differ.
      expect([...meshed].sort()).toEqual([...plain].sort());
    });
  }
});

describe('the request socket', () => {
  it("is given on the tick after http.request(), reused-connection style, and is the response's socket", async () => {
    const req = http.request(`${viaMesh}/slow`);
    expect(req.socket).toBeNull();
    const socket = await new Promise<import('node:net').Socket>((r) => req.once('socket', r));
    expect(socket.connecting).toBe(false);
    expect(socket.writable).toBe(true);
    expect(req.socket).toBe(socket);
    req.end();
    const res = await new Promise<http.IncomingMessage>((r) => req.once('response', r));
    expect(res.socket).toBe(socket);
    res.resume();
    await new Promise((r) => res.on('end', r));
  });

  it('times out after a silence, not while the response keeps coming', async () => {
    const idle = (path: string): Promise<string> =>
      new Promise((resolve) => {
        const req = http.get(`${viaMesh}${path}`, (res) => {
          res.resume();
          res.on('end', () => resolve('completed'));
        });
        req.on('socket', (s) => {
          s.setTimeout(80);
          s.once('timeout', () => {
            resolve('timed out');
            req.destroy();
          });
        });
        req.on('error', () => {});
      });
    // /trickle runs 400 ms in 40 ms steps; /slow is silent for 100 ms, then for 200 ms.
    expect(await idle('/trickle')).toBe('completed');
    expect(await idle('/slow')).toBe('timed out');
  });
});

describe('what the request reports', () => {
  it("Node's default Host header, unless set, removed or turned off", () => {
    const plain = http.request(`${viaMesh}/slow`);
    expect(plain.getHeader('host')).toBe('slow:9080');
    expect(plain.hasHeader('Host')).toBe(true);
    expect(plain.getHeaderNames()).toContain('host');
    expect(plain.getHeaders().host).toBe('slow:9080');
    plain.removeHeader('host');
    expect(plain.getHeader('host')).toBeUndefined();
    const own = http.request(`${viaMesh}/slow`, { headers: { Host: 'custom' } });
    expect(own.getHeader('host')).toBe('custom');
    const none = http.request(`${viaMesh}/slow`, { setHost: false });
    expect(none.getHeader('host')).toBeUndefined();
    for (const r of [plain, own, none]) r.destroy();
    for (const r of [plain, own, none]) r.on('error', () => {});
  });

  it('is finished and destroyed once over, as Node leaves it', async () => {
    const over = async (base: string) => {
      const req = http.get(`${base}/slow`);
      const res = await new Promise<http.IncomingMessage>((r) => req.once('response', r));
      res.resume();
      await new Promise((r) => req.once('close', r));
      return { finished: req.finished, destroyed: req.destroyed, url: res.url, method: res.method, complete: res.complete };
    };
    const [plain, meshed] = await Promise.all([over(direct), over(viaMesh)]);
    expect(plain).toEqual({ finished: true, destroyed: true, url: '', method: null, complete: true });
    expect(meshed).toEqual(plain);
  });
});

describe('HTTP libraries', () => {
  it("axios's timeout fires through the mesh (it starts on 'socket')", async () => {
    const started = Date.now();
    const err = (await axios.get(`${viaMesh}/slow`, { timeout: 60 }).catch((e: unknown) => e)) as { code?: string };
    expect(err.code).toBe('ECONNABORTED');
    expect(Date.now() - started).toBeLessThan(250);
    const ok = await axios.get(`${viaMesh}/slow`, { timeout: 2000, responseType: 'text' });
    expect(ok.data).toBe('ab');
  });

  it("got's timings have every phase through the mesh", async () => {
    const res = await got(`${viaMesh}/slow`);
    expect(res.body).toBe('ab');
    const phases = res.timings?.phases;
    if (phases === undefined) throw new Error('got reported no timings');
    for (const phase of ['wait', 'dns', 'tcp', 'request', 'firstByte', 'download', 'total'] as const) expect(phases[phase], phase).toBeTypeOf('number');
    expect(phases.firstByte!).toBeGreaterThanOrEqual(90);
  });
});
