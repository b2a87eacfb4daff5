import { describe, expect, it } from 'vitest';
import { parseMeshYaml } from '../config/load.ts';
import { EditError, setRateLimit, setRouteFault, setRouteWeights } from './config-edits.ts';

const TEXT = `# the mesh
services:
  reviews:
    protocol: http
    port: 9080
    subsets:
      v1: { version: v1 }
      v2: { version: v2 }
    routes:
      - match: { headers: { x-canary: "true" } }   # unnamed: route-0
        backends: [{ subset: v2 }]
      - name: main
        backends:
          - subset: v1   # baseline
            weight: 90
          - subset: v2
            weight: 10
  details:
    protocol: http
    port: 9081
    rateLimit: { requestsPerSecond: 10, burst: 5, side: server }
`;
const model = parseMeshYaml(TEXT, 'mesh.yaml');

function changedLines(a: string, b: string): string[] {
  const x = a.split('\n');
  return b.split('\n').filter((l, i) => l !== x[i]);
}

describe('setRouteWeights', () => {
  it('sets weights in place, keeping comments and the rest of the file', () => {
    const out = setRouteWeights(TEXT, model, 'reviews', 'main', { v1: 50, v2: 50 });
    expect(changedLines(TEXT, out)).toEqual(['            weight: 50', '            weight: 50']);
    expect(out).toContain('# baseline');
    expect(parseMeshYaml(out, 'x').services.get('reviews')!.routes[1]!.backends!.map((b) => b.weight)).toEqual([50, 50]);
  });

  it('addresses "default" as the catch-all route and routes by generated name', () => {
    const out = setRouteWeights(TEXT, model, 'reviews', 'default', { v2: 1 });
    expect(parseMeshYaml(out, 'x').services.get('reviews')!.routes[1]!.backends).toEqual([{ service: 'reviews', subset: 'v2', weight: 1 }]);
    const first = setRouteWeights(TEXT, model, 'reviews', 'route-0', { v1: 1, v2: 3 });
    expect(parseMeshYaml(first, 'x').services.get('reviews')!.routes[0]!.backends!.map((b) => `${b.subset}:${b.weight}`)).toEqual(['v2:3', 'v1:1']);
  });

  it("creates a service's default route when it has none, and accepts other services as backends", () => {
    const out = setRouteWeights(TEXT, model, 'details', 'default', { details: 3, reviews: 1 });
    const routes = parseMeshYaml(out, 'x').services.get('details')!.routes;
    expect(routes.map((r) => r.name)).toEqual(['default']);
    expect(routes[0]!.backends).toEqual([
      { service: 'details', weight: 3 },
      { service: 'reviews', weight: 1 },
    ]);
  });

  it('refuses unknown backends, routes and services with the status to answer', () => {
    const fail = (f: () => unknown): EditError => {
      try {
        f();
      } catch (err) {
        return err as EditError;
      }
      throw new Error('did not throw');
    };
    expect(fail(() => setRouteWeights(TEXT, model, 'reviews', 'main', { v3: 1 }))).toMatchObject({ status: 400, issues: [{ path: 'weights.v3' }] });
    expect(fail(() => setRouteWeights(TEXT, model, 'reviews', 'nope', { v1: 1 }))).toMatchObject({ status: 404, message: expect.stringMatching(/routes: route-0, main/) });
    expect(fail(() => setRouteWeights(TEXT, model, 'ghost', 'default', { v1: 1 })).status).toBe(404);
    expect(fail(() => setRouteWeights(TEXT, model, 'reviews', 'main', {})).status).toBe(400);
  });
});

describe('setRouteFault and setRateLimit', () => {
  it('adds and removes a fault on a route', () => {
    const on = setRouteFault(TEXT, 'reviews', 'main', { delay: { percent: 10, duration: '50ms' } });
    expect(parseMeshYaml(on, 'x').services.get('reviews')!.routes[1]!.fault).toEqual({ delay: { percent: 10, durationMs: 50 } });
    expect(setRouteFault(on, 'reviews', 'main', undefined)).toBe(TEXT);
    // Turning off a fault of an implicit default route is a no-op, not an error.
    expect(setRouteFault(TEXT, 'details', 'default', undefined)).toBe(TEXT);
  });

  it('merges rate-limit fields and removes the limit', () => {
    const out = setRateLimit(TEXT, 'details', { requestsPerSecond: 20 });
    expect(parseMeshYaml(out, 'x').services.get('details')!.rateLimit).toMatchObject({ requestsPerSecond: 20, burst: 5, side: 'server' });
    const created = setRateLimit(TEXT, 'reviews', { requestsPerSecond: 5 });
    expect(created).toContain('    rateLimit: { requestsPerSecond: 5 }\n');
    expect(parseMeshYaml(setRateLimit(TEXT, 'details', undefined), 'x').services.get('details')!.rateLimit).toBeUndefined();
  });
});
