import { describe, expect, it } from 'vitest';
import { isEnmeshError } from '../errors.ts';
import type { BackendRef, RouteMatchModel, RouteModel, ServiceModel } from '../model/types.ts';
import { compileRouteTable } from './route-table.ts';
import type { RequestView } from './types.ts';
import { seeded } from '../../test/helpers/seeded.ts';

const anyMatch: RouteMatchModel = { methods: [], headers: [], query: [] };

function route(name: string, match: Partial<RouteMatchModel>, backends?: BackendRef[], extra: Partial<RouteModel> = {}): RouteModel {
  return { name, match: { ...anyMatch, ...match }, timeoutMs: 0, ...(backends ? { backends } : {}), ...extra };
}

function service(routes: RouteModel[]): ServiceModel {
  return {
    name: 'reviews',
    protocol: 'http',
    port: 9080,
    endpoints: [],
    subsets: new Map(),
    loadBalancer: 'round-robin',
    routes,
  };
}

function request(path: string, headers: Record<string, string> = {}, method = 'GET'): RequestView {
  return { method, path, header: (n) => headers[n] };
}

const v1: BackendRef = { service: 'reviews', subset: 'v1', weight: 90 };
const v2: BackendRef = { service: 'reviews', subset: 'v2', weight: 10 };

describe('compileRouteTable', () => {
  const table = compileRouteTable(
    service([
      route('canary', { path: { kind: 'prefix', value: '/api' }, methods: ['GET'], headers: [{ name: 'x-canary', match: { kind: 'exact', value: 'true' } }] }, [{ ...v2, weight: 1 }]),
      route('api', { path: { kind: 'prefix', value: '/api' } }, [{ ...v1, weight: 1 }]),
      route('default', {}, [v1, v2]),
    ]),
  );

  it('returns the first matching route', () => {
    expect(table.select(request('/api/x', { 'x-canary': 'true' }))?.route.name).toBe('canary');
    expect(table.select(request('/api/x', { 'x-canary': 'true' }, 'POST'))?.route.name).toBe('api');
    expect(table.select(request('/api/x'))?.route.name).toBe('api');
  });

  it('falls through to the default route', () => {
    expect(table.select(request('/other?x=1'))?.route.name).toBe('default');
  });

  it('returns undefined when no route matches', () => {
    const strict = compileRouteTable(service([route('only', { path: { kind: 'exact', value: '/a' } }, [v1])]));
    expect(strict.select(request('/b'))).toBeUndefined();
    expect(strict.select(request('/a?q'))?.route.name).toBe('only');
  });

  it('splits by weight: 90/10 within 2 % over 100k picks', () => {
    const def = table.select(request('/'))!;
    const random = seeded(42);
    let first = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) if (def.pickBackend(random()) === v1) first++;
    expect(Math.abs(first / n - 0.9)).toBeLessThan(0.02);
  });

  it('maps the random number onto cumulative weights, zero weights never chosen', () => {
    const a: BackendRef = { service: 's', weight: 1 };
    const zero: BackendRef = { service: 's', weight: 0 };
    const b: BackendRef = { service: 's', weight: 3 };
    const r = compileRouteTable(service([route('r', {}, [a, zero, b])])).select(request('/'))!;
    expect(r.pickBackend(0)).toBe(a);
    expect(r.pickBackend(0.249)).toBe(a);
    expect(r.pickBackend(0.25)).toBe(b);
    expect(r.pickBackend(0.999)).toBe(b);
  });

  it('uses binary search for many backends with the same result', () => {
    const backends = Array.from({ length: 20 }, (_, i): BackendRef => ({ service: 's', subset: `s${i}`, weight: i + 1 }));
    const r = compileRouteTable(service([route('r', {}, backends)])).select(request('/'))!;
    const total = (20 * 21) / 2;
    let before = 0;
    for (let i = 0; i < 20; i++) {
      expect(r.pickBackend(before / total)).toBe(backends[i]);
      before += i + 1;
      expect(r.pickBackend((before - 0.5) / total)).toBe(backends[i]);
    }
  });

  it('splits evenly when every weight is zero', () => {
    const a: BackendRef = { service: 's', weight: 0 };
    const b: BackendRef = { service: 's', weight: 0 };
    const r = compileRouteTable(service([route('r', {}, [a, b])])).select(request('/'))!;
    expect(r.pickBackend(0.4)).toBe(a);
    expect(r.pickBackend(0.6)).toBe(b);
  });

  it('returns a single backend whatever the number', () => {
    const only: BackendRef = { service: 's', weight: 5 };
    const r = compileRouteTable(service([route('r', {}, [only])])).select(request('/'))!;
    expect(r.pickBackend(0.999)).toBe(only);
    expect(r.pickBackend(Number.NaN)).toBe(only);
  });

  it('refuses to pick a backend for a redirect route', () => {
    const r = compileRouteTable(
      service([route('moved', {}, undefined, { redirect: { status: 301, stripQuery: false, path: '/new' } })]),
    ).select(request('/'))!;
    let caught: unknown;
    try {
      r.pickBackend(0.5);
    } catch (err) {
      caught = err;
    }
    expect(isEnmeshError(caught)).toBe(true);
    expect((caught as Error).message).toContain('services.reviews.routes[0] (moved)');
  });
});
