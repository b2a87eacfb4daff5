import { describe, expect, it } from 'vitest';
import { isEnmeshError } from '../errors.ts';
import type { EndpointModel, ServiceModel } from '../model/types.ts';
import { createEndpointState, formatAuthority } from './endpoint-state.ts';
import { matchesLabels, selectSubset, subsetEndpoints } from './subset.ts';

function model(host: string, port: number, labels: Record<string, string> = {}, healthy = true): EndpointModel {
  return { host, port, labels, weight: 1, zone: '', healthy, origin: 'static' };
}

describe('createEndpointState', () => {
  it('builds origin and authority', () => {
    const s = createEndpointState(model('10.0.0.1', 9080));
    expect(s.authority).toBe('10.0.0.1:9080');
    expect(s.origin).toBe('http://10.0.0.1:9080');
    expect(s.tlsOrigin).toBe('https://10.0.0.1:9080');
    expect(s).toMatchObject({ active: 0, ewmaMs: 0, ewmaStamp: 0, available: true });
  });

  it('brackets IPv6 literals', () => {
    const s = createEndpointState(model('::1', 8080));
    expect(s.authority).toBe('[::1]:8080');
    expect(s.origin).toBe('http://[::1]:8080');
    expect(s.tlsOrigin).toBe('https://[::1]:8080');
    expect(formatAuthority('[fe80::1]', 80)).toBe('[fe80::1]:80');
    expect(formatAuthority('reviews.svc', 80)).toBe('reviews.svc:80');
  });

  it('starts unavailable when unhealthy', () => {
    expect(createEndpointState(model('a', 1, {}, false)).available).toBe(false);
  });
});

describe('subsets', () => {
  const states = [
    createEndpointState(model('a', 1, { version: 'v1', zone: 'x' })),
    createEndpointState(model('b', 1, { version: 'v2' })),
    createEndpointState(model('c', 1, { version: 'v1' })),
  ];

  it('selects endpoints carrying every label of the selector', () => {
    expect(selectSubset(states, { version: 'v1' }).map((s) => s.endpoint.host)).toEqual(['a', 'c']);
    expect(selectSubset(states, { version: 'v1', zone: 'x' }).map((s) => s.endpoint.host)).toEqual(['a']);
    expect(selectSubset(states, { version: 'v3' })).toEqual([]);
    expect(selectSubset(states, {})).toHaveLength(3);
    expect(matchesLabels({ a: '1' }, { a: '2' })).toBe(false);
  });

  it('resolves a backend subset by name, or all endpoints without one', () => {
    const svc = { name: 'reviews', subsets: new Map([['v2', { version: 'v2' }]]) } as unknown as ServiceModel;
    expect(subsetEndpoints(svc, 'v2', states).map((s) => s.endpoint.host)).toEqual(['b']);
    expect(subsetEndpoints(svc, undefined, states)).toHaveLength(3);
    let caught: unknown;
    try {
      subsetEndpoints(svc, 'v9', states);
    } catch (err) {
      caught = err;
    }
    expect(isEnmeshError(caught)).toBe(true);
    expect((caught as Error).message).toContain('"v9"');
  });
});
