import { describe, expect, it } from 'vitest';
import { createEndpointState } from '../endpoint-state.ts';
import { hash32 } from '../hash32.ts';
import type { EndpointState } from '../types.ts';
import { createRingHash } from './ring-hash.ts';
import { seeded } from '../../../test/helpers/seeded.ts';

function state(i: number, weight = 1): EndpointState {
  return createEndpointState({ host: `10.0.${i >> 8}.${i & 255}`, port: 8080, labels: {}, weight, zone: '', healthy: true, origin: 'static' });
}

function states(n: number, weights: number[] = []): EndpointState[] {
  return Array.from({ length: n }, (_, i) => state(i, weights[i] ?? 1));
}

const KEYS = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);

/** Key → authority of the endpoint it maps to. */
function mapping(eps: EndpointState[]): string[] {
  const b = createRingHash(eps, { random: seeded(1) });
  return KEYS.map((k) => b.pick({ hashKey: k })!.authority);
}

describe('hash32', () => {
  it('spreads near-identical keys over the whole range', () => {
    const buckets = new Array<number>(16).fill(0);
    for (const k of KEYS) buckets[hash32(k) >>> 28]++;
    for (const b of buckets) expect(Math.abs(b / KEYS.length - 1 / 16)).toBeLessThan(0.01);
    expect(hash32('a')).not.toBe(hash32('b'));
    expect(hash32('same')).toBe(hash32('same'));
  });
});

describe('ring hash', () => {
  it('maps a key to the same endpoint every time', () => {
    const eps = states(5);
    const b = createRingHash(eps, { random: seeded(2) });
    for (const k of KEYS.slice(0, 200)) {
      const first = b.pick({ hashKey: k });
      for (let i = 0; i < 3; i++) expect(b.pick({ hashKey: k })).toBe(first);
    }
  });

  it('depends only on endpoint identity, not on list order or state objects', () => {
    const eps = states(8);
    const shuffled = [eps[5], eps[2], eps[7], eps[0], eps[3], eps[6], eps[1], eps[4]].map((s) => createEndpointState(s.endpoint));
    expect(mapping(shuffled)).toEqual(mapping(eps));
  });

  it('adding an endpoint to 10 moves at most 1.5/N of the keys, all to the new one', () => {
    const before = mapping(states(10));
    const grown = states(11);
    const after = mapping(grown);
    let moved = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] !== after[i]) {
        moved++;
        expect(after[i]).toBe(grown[10].authority);
      }
    }
    expect(moved / KEYS.length).toBeLessThanOrEqual(1.5 / 10);
    expect(moved / KEYS.length).toBeGreaterThan(0.5 / 11);
  });

  it('removing an endpoint moves only its own keys', () => {
    const eps = states(10);
    const before = mapping(eps);
    const after = mapping(eps.filter((_, i) => i !== 4));
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] !== eps[4].authority) expect(after[i]).toBe(before[i]);
    }
  });

  it('spreads keys evenly and in proportion to weight', () => {
    const eps = states(4, [1, 1, 1, 3]);
    const b = createRingHash(eps, { random: seeded(3) });
    const counts = new Map<EndpointState, number>();
    for (const k of KEYS) {
      const ep = b.pick({ hashKey: k })!;
      counts.set(ep, (counts.get(ep) ?? 0) + 1);
    }
    for (let i = 0; i < 3; i++) expect(Math.abs(counts.get(eps[i])! / KEYS.length - 1 / 6)).toBeLessThan(0.04);
    expect(Math.abs(counts.get(eps[3])! / KEYS.length - 0.5)).toBeLessThan(0.05);
  });

  it('keeps at least 1024 points, and points proportional to weight', () => {
    expect(createRingHash(states(2)).size).toBeGreaterThanOrEqual(1024);
    expect(createRingHash(states(10)).size).toBe(1280);
    expect(createRingHash(states(10, [2, 2, 2, 2, 2, 2, 2, 2, 2, 2])).size).toBe(2560);
    expect(createRingHash(states(3), { minRingSize: 4096 }).size).toBeGreaterThanOrEqual(4096);
  });

  it('sends an unavailable endpoint\'s keys to several others and leaves the rest alone', () => {
    const eps = states(6);
    const before = mapping(eps);
    eps[2].available = false;
    const b = createRingHash(eps, { random: seeded(4) });
    const heirs = new Set<string>();
    for (let i = 0; i < KEYS.length; i++) {
      const now = b.pick({ hashKey: KEYS[i] })!.authority;
      if (before[i] === eps[2].authority) heirs.add(now);
      else expect(now).toBe(before[i]);
    }
    expect(heirs.has(eps[2].authority)).toBe(false);
    expect(heirs.size).toBeGreaterThanOrEqual(3);
  });

  it('without a key, picks a random point', () => {
    const eps = states(4);
    const b = createRingHash(eps, { random: seeded(5) });
    const counts = new Map<EndpointState, number>();
    for (let i = 0; i < 20_000; i++) {
      const ep = b.pick({})!;
      counts.set(ep, (counts.get(ep) ?? 0) + 1);
    }
    for (const ep of eps) expect(Math.abs(counts.get(ep)! / 20_000 - 0.25)).toBeLessThan(0.06);
  });
});
