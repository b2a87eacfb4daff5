import { describe, expect, it } from 'vitest';
import { toEndpoints } from './catalog-source.ts';

const entry = (id: string, port: number, extra: Record<string, unknown> = {}, checks: string[] = ['passing']) => ({
  Node: { Address: '10.0.0.9', Datacenter: 'dc1' },
  Service: { ID: id, Address: '', Port: port, Tags: [], Meta: {}, Weights: { Passing: 1 }, ...extra },
  Checks: checks.map((Status) => ({ Status })),
});

describe('toEndpoints', () => {
  it('maps address, k=v tags and meta to labels, zone and weight; sorted by address', () => {
    const eps = toEndpoints(
      [
        entry('b', 9002, { Address: '10.0.0.2', Meta: { version: 'v2', zone: 'zone-b' }, Weights: { Passing: 4 } }),
        entry('a', 9001, { Tags: ['version=v1', 'canary', 'version=v0'], Meta: { team: 'x', version: 'v1' } }),
      ],
      'dc1',
      true,
    );
    expect(eps).toEqual([
      { host: '10.0.0.2', port: 9002, labels: { version: 'v2' }, weight: 4, zone: 'zone-b', healthy: true, origin: 'consul' },
      { host: '10.0.0.9', port: 9001, labels: { version: 'v1', team: 'x' }, weight: 1, zone: 'dc1', healthy: true, origin: 'consul' },
    ]);
  });

  it('keeps passing instances only, or warning ones too when accepted', () => {
    const entries = [entry('p', 1, {}, ['passing', 'passing']), entry('w', 2, {}, ['passing', 'warning']), entry('c', 3, {}, ['warning', 'critical'])];
    expect(toEndpoints(entries, 'dc1', true).map((e) => e.port)).toEqual([1]);
    expect(toEndpoints(entries, 'dc1', false).map((e) => e.port)).toEqual([1, 2]);
  });

  it('merges two registrations of one address (an instance written through by two replicas) and skips bad ports', () => {
    const eps = toEndpoints([entry('x~r1', 9000, { Meta: { version: 'v1' } }), entry('x~r2', 9000, { Meta: { version: 'v1' } }), entry('bad', 0)], 'dc1', true);
    expect(eps).toHaveLength(1);
    expect(eps[0]!.labels).toEqual({ version: 'v1' });
  });
});
