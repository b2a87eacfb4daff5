import { describe, expect, it } from 'vitest';
import { createEndpointState } from './endpoint-state.ts';
import { createLocalityBalancer } from './locality.ts';
import type { EndpointState } from './types.ts';
import { seeded } from '../../test/helpers/seeded.ts';

function zoned(zones: string[]): EndpointState[] {
  return zones.map((zone, i) =>
    createEndpointState({ host: `10.0.0.${i + 1}`, port: 80, labels: {}, weight: 1, zone, healthy: true, origin: 'static' }),
  );
}

function seen(pick: () => EndpointState | undefined, n = 500): Set<EndpointState> {
  const out = new Set<EndpointState>();
  for (let i = 0; i < n; i++) out.add(pick()!);
  return out;
}

describe('createLocalityBalancer', () => {
  it('picks only same-zone endpoints while one is available', () => {
    const eps = zoned(['a', 'b', 'a', 'c']);
    const b = createLocalityBalancer('random', eps, 'a', { random: seeded(1) });
    expect(seen(() => b.pick({}))).toEqual(new Set([eps[0], eps[2]]));
    expect(b.endpoints).toHaveLength(4);
  });

  it('stays local with one local endpoint left', () => {
    const eps = zoned(['a', 'b', 'a']);
    eps[0].available = false;
    const b = createLocalityBalancer('round-robin', eps, 'a', { random: seeded(2) });
    expect(seen(() => b.pick({}))).toEqual(new Set([eps[2]]));
  });

  it('fails over to every available endpoint when no local one is', () => {
    const eps = zoned(['a', 'b', 'a', 'c']);
    eps[0].available = false;
    eps[2].available = false;
    const b = createLocalityBalancer('least-request', eps, 'a', { random: seeded(3) });
    expect(seen(() => b.pick({}))).toEqual(new Set([eps[1], eps[3]]));
    // Recovery brings traffic back home without a rebuild.
    eps[2].available = true;
    expect(seen(() => b.pick({}))).toEqual(new Set([eps[2]]));
  });

  it('a retry avoiding the only local endpoint goes to another zone', () => {
    const eps = zoned(['a', 'b']);
    const b = createLocalityBalancer('round-robin', eps, 'a', { random: seeded(4) });
    expect(b.pick({ avoid: eps[0] })).toBe(eps[1]);
    expect(b.pick({})).toBe(eps[0]);
  });

  it('panics across all zones when nothing is available', () => {
    const eps = zoned(['a', 'b']);
    for (const ep of eps) ep.available = false;
    const b = createLocalityBalancer('random', eps, 'a', { random: seeded(5) });
    expect(seen(() => b.pick({}))).toEqual(new Set(eps));
  });

  it('without a local zone, or with none of its endpoints, balances over all', () => {
    const eps = zoned(['a', 'b', 'c']);
    const none = createLocalityBalancer('random', eps, '', { random: seeded(6) });
    expect(seen(() => none.pick({})).size).toBe(3);
    const other = createLocalityBalancer('random', eps, 'z', { random: seeded(7) });
    expect(seen(() => other.pick({})).size).toBe(3);
  });

  it('keeps ring-hash keys within the local zone', () => {
    const eps = zoned(['a', 'b', 'a', 'b', 'a']);
    const b = createLocalityBalancer('ring-hash', eps, 'b', { random: seeded(8) });
    const picked = new Set<EndpointState>();
    for (let i = 0; i < 300; i++) picked.add(b.pick({ hashKey: `k${i}` })!);
    expect(picked).toEqual(new Set([eps[1], eps[3]]));
  });
});
