import { afterEach, describe, expect, it } from 'vitest';
import { parseMeshYaml } from '../../config/load.ts';
import { AdminServer } from '../admin.ts';
import type { MeshModel } from '../../model/types.ts';
import { DASHBOARD_CSP, mountDashboard } from './serve.ts';
import { meshView } from './mesh-view.ts';

const YAML = `
services:
  reviews:
    protocol: http
    port: 9080
    endpoints:
      - { address: 127.0.0.1:9081, labels: { version: v1 } }
      - { address: 127.0.0.1:9082, labels: { version: v2 }, zone: zone-b }
    subsets: { v1: { version: v1 }, v2: { version: v2 } }
    rateLimit: { requestsPerSecond: 50, burst: 10 }
    routes:
      - name: canary
        match: { path: { prefix: /api }, method: GET, headers: { x-canary: "true" } }
        backends: [{ subset: v2 }]
        fault: { abort: { percent: 5, status: 503 } }
      - name: default
        backends: [{ subset: v1, weight: 80 }, { subset: v2, weight: 20 }]
        timeout: 2s
        retries: { attempts: 2 }
  ratings:
    protocol: grpc
    port: 50051
    endpoints: [{ address: 127.0.0.1:50052 }]
`;

let admin: AdminServer | undefined;
afterEach(async () => {
  await admin?.close();
  admin = undefined;
});

async function start(model: MeshModel | undefined): Promise<string> {
  admin = new AdminServer();
  mountDashboard(admin, { model: () => model });
  return `http://127.0.0.1:${await admin.listen('127.0.0.1', 0)}`;
}

describe('dashboard files', () => {
  it('serves the page, its script and style with types, a CSP and ETags that revalidate', async () => {
    const base = await start(undefined);
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const html = await page.text();
    expect(html).toContain('<script type="module" src="/ui/app.js"></script>');
    expect(html).toContain('href="/ui/app.css"');
    for (const [path, type] of [['/ui/app.js', 'text/javascript'], ['/ui/app.css', 'text/css']] as const) {
      const res = await fetch(`${base}${path}`);
      expect(res.headers.get('content-type')).toBe(`${type}; charset=utf-8`);
      const etag = res.headers.get('etag')!;
      expect(etag).toMatch(/^"[\w-]{22}"$/);
      const same = await fetch(`${base}${path}`, { headers: { 'if-none-match': etag } });
      expect(same.status).toBe(304);
      expect(await same.text()).toBe('');
      const stale = await fetch(`${base}${path}`, { headers: { 'if-none-match': '"old"' } });
      expect(stale.status).toBe(200);
    }
  });

  it('serves the browser script as JavaScript the engine can parse', async () => {
    const base = await start(undefined);
    const js = await (await fetch(`${base}/ui/app.js`)).text();
    expect(js).not.toMatch(/^\s*interface \w+/m);
    expect(js).toContain('new EventSource(');
    // Parses as a module (no leftover type syntax); not run: it needs a DOM.
    expect(() => new Function(js.replace(/^export .*$/gm, ''))).not.toThrow();
  });

  it('answers 404 naming the path for an unknown file', async () => {
    const base = await start(undefined);
    const res = await fetch(`${base}/ui/nope.js`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'no such dashboard file: /ui/nope.js' });
  });
});

describe('mesh view', () => {
  it('gives each route its weight split, match and fault, and each service its endpoints and limit', async () => {
    const model = parseMeshYaml(YAML, 'mesh.yaml');
    const base = await start(model);
    const view = (await (await fetch(`${base}/ui/mesh.json`)).json()) as ReturnType<typeof meshView>;
    expect(view).toEqual(JSON.parse(JSON.stringify(meshView(model))));
    expect(view.modelVersion).toBe(model.version);
    const reviews = view.services.find((s) => s.name === 'reviews')!;
    expect(reviews.routes.map((r) => [r.name, r.match, r.backends.map((b) => `${b.key}:${b.weight}`).join(' ')])).toEqual([
      ['canary', 'GET /api* x-canary=true', 'v2:1'],
      ['default', 'any request', 'v1:80 v2:20'],
    ]);
    expect(reviews.routes[0]!.fault).toEqual({ abort: { percent: 5, status: 503 } });
    expect(reviews.routes[1]).toMatchObject({ timeoutMs: 2000, retries: 2, fault: null });
    expect(reviews.rateLimit).toEqual({ requestsPerSecond: 50, burst: 10, scope: 'local' });
    expect(reviews.endpoints.map((e) => [e.address, e.zone, e.healthy, e.drained, e.origin])).toEqual([
      ['127.0.0.1:9081', '', true, false, 'static'],
      ['127.0.0.1:9082', 'zone-b', true, false, 'static'],
    ]);
    const ratings = view.services.find((s) => s.name === 'ratings')!;
    expect(ratings.routes[0]).toMatchObject({ match: 'any method', backends: [{ key: 'ratings', service: 'ratings', subset: null, weight: 1 }] });
  });

  it('is empty before a model is published', async () => {
    const base = await start(undefined);
    expect(await (await fetch(`${base}/ui/mesh.json`)).json()).toEqual({ modelVersion: null, mesh: null, services: [] });
  });
});
