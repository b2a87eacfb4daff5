import { describe, expect, it } from 'vitest';
import { isEnmeshError } from '../errors.ts';
import { canonicalJson, finalizeModel, withEndpoints } from './finalize.ts';
import type { EndpointModel, MeshModel, ServiceModel } from './types.ts';

function service(name: string, endpoints: EndpointModel[] = []): ServiceModel {
  return {
    name,
    protocol: 'http',
    port: 8080,
    endpoints,
    subsets: new Map([['v1', { version: 'v1' }]]),
    loadBalancer: 'round-robin',
    routes: [
      {
        name: 'default',
        match: { methods: [], headers: [], query: [] },
        backends: [{ service: name, weight: 1 }],
        timeoutMs: 0,
      },
    ],
  };
}

function endpoint(port: number): EndpointModel {
  return { host: '127.0.0.1', port, labels: { version: 'v1' }, weight: 1, zone: '', healthy: true, origin: 'registered' };
}

function draft(source = 'mesh.yaml', services: ServiceModel[] = [service('a'), service('b')]): Omit<MeshModel, 'version'> {
  return {
    source,
    mesh: { name: 'mesh', trustDomain: 'cluster.local', mtls: 'permissive' },
    services: new Map(services.map((s) => [s.name, s])),
    policies: { authorization: [], authentication: [] },
  };
}

describe('finalizeModel', () => {
  it('computes a 16-hex-char version that ignores source and key order', () => {
    const a = finalizeModel(draft('one.yaml'));
    const b = finalizeModel(draft('two.yaml', [service('b'), service('a')]));
    expect(a.version).toMatch(/^[0-9a-f]{16}$/);
    expect(a.version).toBe(b.version);
    expect(a.source).toBe('one.yaml');
  });

  it('changes the version when content changes', () => {
    const a = finalizeModel(draft());
    const changed = draft();
    const b = finalizeModel({ ...changed, mesh: { ...changed.mesh, mtls: 'strict' } });
    expect(b.version).not.toBe(a.version);
  });

  it('freezes deeply, Maps included', () => {
    const m = finalizeModel(draft());
    const svc = m.services.get('a')!;
    expect(Object.isFrozen(m)).toBe(true);
    expect(() => {
      (m.mesh as { name: string }).name = 'x';
    }).toThrow(TypeError);
    expect(() => {
      (svc.routes as unknown as unknown[]).push({});
    }).toThrow(TypeError);
    expect(() => (m.services as Map<string, ServiceModel>).set('c', service('c'))).toThrow(/immutable/);
    expect(() => (m.services as Map<string, ServiceModel>).delete('a')).toThrow(/immutable/);
    expect(() => (svc.subsets as Map<string, unknown>).clear()).toThrow(/immutable/);
    expect(() => {
      (svc.subsets.get('v1') as Record<string, string>).version = 'v2';
    }).toThrow(TypeError);
    expect(m.services.get('a')).toBe(svc);
    expect([...m.services.keys()]).toEqual(['a', 'b']);
  });
});

describe('withEndpoints', () => {
  it('replaces one service endpoint list, shares the rest and re-versions', () => {
    const base = finalizeModel(draft());
    const next = withEndpoints(base, 'a', [endpoint(9001), endpoint(9002)]);
    expect(next.services.get('a')!.endpoints.map((e) => e.port)).toEqual([9001, 9002]);
    expect(next.services.get('b')).toBe(base.services.get('b'));
    expect(base.services.get('a')!.endpoints).toEqual([]);
    expect(next.version).not.toBe(base.version);
    expect(Object.isFrozen(next.services.get('a')!.endpoints[0])).toBe(true);
    expect(withEndpoints(next, 'a', [endpoint(9001), endpoint(9002)]).version).toBe(next.version);
    expect(withEndpoints(next, 'a', []).version).toBe(base.version);
  });

  it('does not freeze the caller’s endpoint objects', () => {
    const base = finalizeModel(draft());
    const mine = endpoint(9001);
    withEndpoints(base, 'a', [mine]);
    expect(Object.isFrozen(mine)).toBe(false);
  });

  it('rejects an unknown service with a coded error', () => {
    const base = finalizeModel(draft());
    try {
      withEndpoints(base, 'nope', []);
      expect.unreachable();
    } catch (err) {
      expect(isEnmeshError(err) && err.code).toBe('ENMESH_ERR_REGISTRATION');
      expect((err as Error).message).toContain('"nope"');
    }
  });
});

describe('canonicalJson', () => {
  it('sorts keys, orders Maps and skips undefined', () => {
    expect(canonicalJson({ b: 1, a: [1, { d: undefined, c: 'x' }] })).toBe('{"a":[1,{"c":"x"}],"b":1}');
    expect(canonicalJson(new Map([['z', 1], ['y', 2]]))).toBe(canonicalJson(new Map([['y', 2], ['z', 1]])));
    expect(canonicalJson(new Map([['z', 1]]))).not.toBe(canonicalJson({ z: 1 }));
  });
});
