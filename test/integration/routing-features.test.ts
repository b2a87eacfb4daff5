/**
 * The route tier as the application sees it through a real mesh: matches on
 * path (exact, prefix, regex), method, headers (exact, prefix, regex, present,
 * absent) and query; header mutations both ways; prefix rewrite; redirect;
 * direct response; ring-hash stickiness; Retry-After honoured; 404 NR.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { init, type Mesh } from '../../src/index.ts';
import { startBackend, type Backend } from '../helpers/http-backend.ts';
import { runMany } from '../helpers/clients.ts';
import { createMeshFile, type MeshFile } from '../helpers/mesh-file.ts';

let a: Backend;
let b: Backend;
let c: Backend;
let mesh: Mesh;
let file: MeshFile;

async function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const res = await request(url, { method: method as 'GET', headers });
  return { status: res.statusCode, body: await res.body.text(), headers: res.headers };
}

beforeAll(async () => {
  [a, b, c] = await Promise.all([startBackend('a'), startBackend('b'), startBackend('c')]);
  file = await createMeshFile(`
services:
  web:
    protocol: http
    port: 8080
    endpoints:
      - { address: ${a.address}, labels: { name: a } }
      - { address: ${b.address}, labels: { name: b } }
      - { address: ${c.address}, labels: { name: c } }
    subsets: { a: { name: a }, b: { name: b }, c: { name: c } }
    routes:
      - name: exact
        match: { path: { exact: /exact } }
        backends: [{ subset: a }]
      - name: regex
        match: { path: { regex: "/items/[0-9]+" } }
        backends: [{ subset: b }]
      - name: method
        match: { path: { prefix: /m }, method: [PUT, PATCH] }
        backends: [{ subset: c }]
      - name: header-prefix
        match: { headers: { x-user: { prefix: admin- } } }
        backends: [{ subset: c }]
      - name: header-regex
        match: { headers: { x-tier: { regex: "gold|platinum" } } }
        backends: [{ subset: b }]
      - name: present
        match: { path: { prefix: /p }, headers: { x-debug: { present: true } } }
        backends: [{ subset: c }]
      - name: absent
        match: { path: { prefix: /p }, headers: { x-debug: { absent: true } } }
        backends: [{ subset: a }]
      - name: query
        match: { path: { prefix: /q }, query: { version: "2" } }
        backends: [{ subset: b }]
      - name: rewrite
        match: { path: { prefix: /api/v1 } }
        rewrite: { prefix: /v2 }
        backends: [{ subset: a }]
        headers:
          request: { set: { x-route: rewrite }, add: { x-added: one }, remove: [x-secret] }
          response: { set: { x-served-via: mesh }, remove: [server] }
      - name: redirect
        match: { path: { prefix: /old } }
        redirect: { prefixRewrite: /new, status: 301 }
        headers: { response: { set: { cache-control: no-store } } }
      - name: direct
        match: { path: { exact: /health } }
        directResponse: { status: 200, body: "mesh-ok", headers: { x-direct: "yes" } }
        headers: { response: { set: { x-served-via: mesh }, remove: [x-direct] } }
      - name: throttled
        match: { path: { prefix: /throttled } }
        backends: [{ subset: a }]
        retries: { attempts: 1, statusCodes: [429], backoff: { base: 1ms, max: 2ms } }
      - name: slow-retry
        match: { path: { prefix: /retry-after } }
        backends: [{ subset: a }]
        retries: { attempts: 1, on: [5xx], backoff: { base: 1ms, max: 2ms } }
      - name: not-found-only-for-api
        match: { path: { prefix: /fallback } }
        backends: [{ subset: b }]
  sticky:
    protocol: http
    port: 8081
    loadBalancer: ring-hash
    hashOn: { header: x-user }
    endpoints:
      - { address: ${a.address} }
      - { address: ${b.address} }
      - { address: ${c.address} }
  by-ip:
    protocol: http
    port: 8082
    loadBalancer: ring-hash
    hashOn: { sourceIp: true }
    endpoints:
      - { address: ${a.address} }
      - { address: ${b.address} }
      - { address: ${c.address} }
  sticky-front:
    protocol: http
    port: 8084
    endpoints: [{ address: ${a.address} }]
    routes:
      - backends: [{ service: sticky }]
  strict:
    protocol: http
    port: 8083
    endpoints: [{ address: ${a.address} }]
    routes:
      - match: { path: { prefix: /only } }
`);
  mesh = await init({ config: file.path });
});

afterAll(async () => {
  await mesh?.close();
  await Promise.all([a?.close(), b?.close(), c?.close()]);
  await file?.remove();
});

describe('matching', () => {
  it('matches exact and regex paths, methods, headers, query', async () => {
    expect((await get('http://web:8080/exact')).body).toBe('a');
    expect((await get('http://web:8080/items/42')).body).toBe('b');
    expect((await get('http://web:8080/items/42x')).status).toBe(404); // regexes match the whole path
    expect((await get('http://web:8080/m', {}, 'PUT')).body).toBe('c');
    expect((await get('http://web:8080/x', { 'x-user': 'admin-jo' })).body).toBe('c');
    expect((await get('http://web:8080/x', { 'x-tier': 'gold' })).body).toBe('b');
    expect((await get('http://web:8080/p', { 'x-debug': '1' })).body).toBe('c');
    expect((await get('http://web:8080/p')).body).toBe('a');
    expect((await get('http://web:8080/q?x=1&version=2')).body).toBe('b');
  });

  it('answers 404 NR when no route matches', async () => {
    const res = await get('http://strict:8083/elsewhere');
    expect(res.status).toBe(404);
    expect(res.headers['x-enmesh-response-flags']).toBe('NR');
    expect(a.seen.some((s) => s.url === '/elsewhere')).toBe(false);
  });
});

describe('actions', () => {
  it('rewrites the prefix and mutates request and response headers', async () => {
    a.reset();
    const res = await get('http://web:8080/api/v1/users?id=3', { 'x-secret': 's3cr3t', 'x-added': 'zero' });
    expect(res.body).toBe('a');
    const seen = a.seen[0]!;
    expect(seen.url).toBe('/v2/users?id=3');
    expect(seen.headers['x-route']).toBe('rewrite');
    expect(seen.headers['x-added']).toBe('zero, one');
    expect(seen.headers['x-secret']).toBeUndefined();
    expect(res.headers['x-served-via']).toBe('mesh');
    expect(res.headers.server).toBeUndefined();
  });

  it('redirects with a prefix rewrite and answers directly, with the route response header edits', async () => {
    const r = await get('http://web:8080/old/page?k=v');
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('http://web:8080/new/page?k=v');
    expect(r.headers['cache-control']).toBe('no-store');
    const d = await get('http://web:8080/health');
    expect(d.status).toBe(200);
    expect(d.body).toBe('mesh-ok');
    // The route's response header edits apply to its own answer too.
    expect(d.headers['x-served-via']).toBe('mesh');
    expect(d.headers['x-direct']).toBeUndefined();
  });

  it('marks a retriable status that ran out of retries URX, 4xx included', async () => {
    a.reset();
    a.failNext(2, 429);
    const r = await get('http://web:8080/throttled');
    expect(r.status).toBe(429);
    expect(r.headers['x-enmesh-response-flags']).toBe('URX');
    expect(a.seen).toHaveLength(2);
  });

  it('honours Retry-After before retrying', async () => {
    a.reset();
    a.failNext(1, 503, { 'retry-after': '1' });
    const started = performance.now();
    const res = await get('http://web:8080/retry-after');
    expect(res.status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    expect(a.seen).toHaveLength(2);
  });
});

describe('ring hash', () => {
  it('keeps a header value on one endpoint and spreads different values', async () => {
    const bodies = await runMany(30, 5, async () => (await get('http://sticky:8081/', { 'x-user': 'alice' })).body);
    expect(new Set(bodies).size).toBe(1);
    const users = await runMany(60, 10, async (i) => (await get('http://sticky:8081/', { 'x-user': `user-${i}` })).body);
    expect(new Set(users).size).toBeGreaterThan(1);
  });

  it("hashes on the backend service's key when another service's route sends to it", async () => {
    for (const user of ['alice', 'bob', 'carol']) {
      const bodies = await runMany(12, 4, async () => (await get('http://sticky-front:8084/', { 'x-user': user })).body);
      expect(new Set(bodies).size, user).toBe(1);
      // The same endpoint as a direct call with that key.
      expect(bodies[0]).toBe((await get('http://sticky:8081/', { 'x-user': user })).body);
    }
  });

  it('hashes on the inbound caller address for calls made while handling a request', async () => {
    const front = http.createServer((_req, res) => {
      get('http://by-ip:8082/').then((r) => res.end(r.body), (e: Error) => res.end(`error ${e.message}`));
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    const port = (front.address() as AddressInfo).port;
    try {
      const answers = await runMany(20, 4, async () => (await get(`http://127.0.0.1:${port}/`)).body);
      expect(new Set(answers).size).toBe(1); // one caller address → one endpoint
    } finally {
      front.closeAllConnections();
      front.close();
    }
  });
});
