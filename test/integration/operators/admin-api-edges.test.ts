/**
 * Admin API edges on a real control plane (listen(0), no traffic): IPv6
 * endpoints named and drained in one form, calls refused for their body
 * audited like any other rejection, and the dashboard's weight keys naming
 * another service's subset.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_BODY_BYTES } from '../../../src/control-plane/admin.ts';
import type { AuditEntry } from '../../../src/control-plane/audit.ts';
import type { MeshView } from '../../../src/control-plane/dashboard/mesh-view.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import type { ControlPlane } from '../../../src/control-plane/server.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';

const TOKEN = 'admin-api-edges-token';
const MESH = `
services:
  reviews:
    protocol: http
    port: 9080
    endpoints:
      - { address: "127.0.0.1:9101", labels: { version: v1 } }
      - { address: "127.0.0.1:9102", labels: { version: v2 } }
    subsets:
      v1: { version: v1 }
      v2: { version: v2 }
    routes:
      - name: default
        backends: [{ subset: v1, weight: 90 }, { service: ratings, subset: v2, weight: 10 }]
  ratings:
    protocol: http
    port: 9082
    endpoints:
      - { address: "[::1]:9181", labels: { version: v1 } }
      - { address: "[::1]:9182", labels: { version: v2 } }
    subsets:
      v1: { version: v1 }
      v2: { version: v2 }
`;

let file: MeshFile;
let cp: ControlPlane;
let base: string;

beforeAll(async () => {
  file = await createMeshFile(MESH);
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, startupHoldMs: 0, ca: false, adminToken: TOKEN, log: silentLogger });
  base = `http://127.0.0.1:${cp.adminPort}`;
});

afterAll(async () => {
  await cp?.close();
  await file?.remove();
});

async function call(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'x-enmesh-actor': 'tester', ...headers },
    ...(body === undefined ? {} : { body }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const get = async <T>(path: string): Promise<T> => (await call('GET', path)).body as T;
const audit = async (): Promise<AuditEntry[]> => (await get<{ entries: AuditEntry[] }>('/api/v1/audit')).entries;

interface ServicesBody {
  services: { name: string; endpoints: { address: string; draining: boolean; healthy: boolean }[] }[];
}

describe('IPv6 endpoints', () => {
  it('are listed as [host]:port, and that address drains them as the dashboard sends it; the unbracketed form works too', async () => {
    const services = await get<ServicesBody>('/api/v1/services');
    const listed = services.services.find((s) => s.name === 'ratings')!.endpoints.map((e) => e.address);
    expect(listed).toEqual(['[::1]:9181', '[::1]:9182']);
    const mesh = await get<MeshView>('/ui/mesh.json');
    expect(mesh.services.find((s) => s.name === 'ratings')!.endpoints.map((e) => e.address)).toEqual(listed);

    // The dashboard's drain button: `/services/${encodeURIComponent(service)}/endpoints/${encodeURIComponent(address)}/drain`.
    const address = listed[0]!;
    const drained = await call('POST', `/api/v1/services/ratings/endpoints/${encodeURIComponent(address)}/drain`, JSON.stringify({ drained: true }));
    expect(drained.status, JSON.stringify(drained.body)).toBe(200);
    expect(drained.body).toMatchObject({ service: 'ratings', endpoint: '[::1]:9181', drained: true });
    const after = await get<ServicesBody>('/api/v1/services');
    expect(after.services.find((s) => s.name === 'ratings')!.endpoints.map((e) => [e.address, e.draining])).toEqual([
      ['[::1]:9181', true],
      ['[::1]:9182', false],
    ]);
    const drainedView = await get<MeshView>('/ui/mesh.json');
    expect(drainedView.services.find((s) => s.name === 'ratings')!.endpoints.map((e) => e.drained)).toEqual([true, false]);

    // As the services view used to print it, unencoded: the same endpoint.
    const undrained = await call('POST', '/api/v1/services/ratings/endpoints/::1:9181/drain', JSON.stringify({ drained: false }));
    expect(undrained.status, JSON.stringify(undrained.body)).toBe(200);
    expect(undrained.body).toMatchObject({ endpoint: '[::1]:9181', drained: false });
    expect((await get<ServicesBody>('/api/v1/services')).services.find((s) => s.name === 'ratings')!.endpoints.every((e) => !e.draining)).toBe(true);
    expect((await audit()).slice(0, 2).map((e) => [e.action, e.target, e.result])).toEqual([
      ['endpoint.undrain', 'ratings/endpoints/[::1]:9181', 'applied'],
      ['endpoint.drain', 'ratings/endpoints/[::1]:9181', 'applied'],
    ]);
  });
});

describe('calls refused for their body', () => {
  it('are audited as rejected with actor, action, target and error', async () => {
    const empty = await call('POST', '/api/v1/services/reviews/routes/default/weights', '{}');
    expect(empty.status).toBe(400);
    expect(empty.body.error).toMatch(/^weights: /);
    expect((await audit())[0]).toMatchObject({ actor: 'tester', action: 'route.weights', target: 'reviews/routes/default', result: 'rejected', error: empty.body.error, diff: '' });

    const notJson = await call('POST', '/api/v1/services/ratings/endpoints/%5B%3A%3A1%5D%3A9182/drain', '{"drained": tru');
    expect(notJson.status).toBe(400);
    expect((await audit())[0]).toMatchObject({ action: 'endpoint.drain', target: 'ratings/endpoints/[::1]:9182', result: 'rejected', error: notJson.body.error });

    const huge = await call('PUT', '/api/v1/config', JSON.stringify({ text: 'x'.repeat(MAX_JSON_BODY_BYTES) }));
    expect(huge.status).toBe(413);
    expect((await audit())[0]).toMatchObject({ action: 'config.put', target: 'mesh.yaml', result: 'rejected', error: huge.body.error });

    const off = await call('POST', '/api/v1/services/reviews/rate-limit', JSON.stringify({ enabled: 'no' }));
    expect(off.status).toBe(400);
    expect((await audit())[0]).toMatchObject({ action: 'service.rate-limit', target: 'reviews', result: 'rejected' });

    const canaryBody = await call('POST', '/api/v1/canaries', JSON.stringify({ service: 'reviews' }));
    expect(canaryBody.status).toBe(400);
    expect((await audit())[0]).toMatchObject({ actor: 'tester', action: 'canary.start', target: 'reviews', result: 'rejected', error: canaryBody.body.error });
    const canaryJson = await call('POST', '/api/v1/canaries', '{"service":');
    expect(canaryJson.status).toBe(400);
    expect((await audit())[0]).toMatchObject({ action: 'canary.start', target: '', result: 'rejected', error: canaryJson.body.error });
    const noCanary = await call('DELETE', '/api/v1/canaries/reviews');
    expect(noCanary.status).toBe(404);
    expect((await audit())[0]).toMatchObject({ actor: 'tester', action: 'canary.abort', target: 'reviews', result: 'rejected', error: noCanary.body.error });

    // A dry run changes nothing and is not audited, whatever its answer.
    const before = (await audit()).length;
    const dry = await call('PUT', '/api/v1/config', JSON.stringify({ dryRun: true }));
    expect(dry.status).toBe(400);
    expect(await audit()).toHaveLength(before);
  });
});

describe("the dashboard's weight keys", () => {
  it("name another service's subset as service/subset, so the weights call changes that backend", async () => {
    const route = (view: MeshView) => view.services.find((s) => s.name === 'reviews')!.routes.find((r) => r.name === 'default')!;
    const [own, other] = route(await get<MeshView>('/ui/mesh.json')).backends;
    expect(own).toMatchObject({ key: 'v1', service: 'reviews', subset: 'v1' });
    expect(other).toMatchObject({ key: 'ratings/v2', service: 'ratings', subset: 'v2' });

    // What the slider sends.
    const res = await call('POST', '/api/v1/services/reviews/routes/default/weights', JSON.stringify({ weights: { [own!.key]: 50, [other!.key]: 50 } }));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(route(await get<MeshView>('/ui/mesh.json')).backends.map((b) => [b.service, b.subset, b.weight])).toEqual([
      ['reviews', 'v1', 50],
      ['ratings', 'v2', 50],
    ]);
  });
});
