import { describe, expect, it } from 'vitest';
import { createEndpointState } from '../endpoint-state.ts';
import type { EndpointState } from '../types.ts';
import { createRandom } from './random.ts';

/** mulberry32: a small seeded PRNG so every run picks the same way. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function states(n: number, weights: number[] = []): EndpointState[] {
  return Array.from({ length: n }, (_, i) =>
    createEndpointState({ host: `10.0.0.${i + 1}`, port: 8080, labels: {}, weight: weights[i] ?? 1, zone: "", healthy: true, origin: "static" }),
  );
}

function tally(pick: () => EndpointState | undefined, eps: EndpointState[], n: number): number[] {
  const out = new Array<number>(eps.length).fill(0);
  for (let i = 0; i < n; i++) out[eps.indexOf(pick()!)]++;
  return out;
}

describe('weighted random', () => {
  it('follows the weights within 1 % over 100k picks', () => {
    const eps = states(3, [1, 2, 7]);
    const b = createRandom(eps, { random: seeded(1) });
    const n = 100_000;
    const got = tally(() => b.pick({}), eps, n);
    expect(Math.abs(got[0] / n - 0.1)).toBeLessThan(0.01);
    expect(Math.abs(got[1] / n - 0.2)).toBeLessThan(0.01);
    expect(Math.abs(got[2] / n - 0.7)).toBeLessThan(0.01);
  });

  it('is uniform over equal weights', () => {
    const eps = states(4);
    const b = createRandom(eps, { random: seeded(2) });
    const n = 40_000;
    for (const c of tally(() => b.pick({}), eps, n)) expect(Math.abs(c / n - 0.25)).toBeLessThan(0.01);
  });

  it('keeps the proportions among the rest when most endpoints are unavailable', () => {
    // 8 of 10 unavailable: the fast path mostly misses and the scan must keep the 1:3 ratio.
    const eps = states(10, [1, 3, 1, 1, 1, 1, 1, 1, 1, 1]);
    for (let i = 2; i < 10; i++) eps[i].available = false;
    const b = createRandom(eps, { random: seeded(3) });
    const n = 40_000;
    const got = tally(() => b.pick({}), eps, n);
    expect(got.slice(2).every((c) => c === 0)).toBe(true);
    expect(Math.abs(got[0] / n - 0.25)).toBeLessThan(0.01);
  });

  it('is reproducible with a seeded generator', () => {
    const eps = states(5, [1, 2, 3, 4, 5]);
    const a = createRandom(eps, { random: seeded(9) });
    const b = createRandom(eps, { random: seeded(9) });
    for (let i = 0; i < 100; i++) expect(a.pick({})).toBe(b.pick({}));
  });
});
