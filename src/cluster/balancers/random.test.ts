import { describe, expect, it } from 'vitest';
import { createRandom } from './random.ts';
import { seeded } from '../../../test/helpers/seeded.ts';
import { states, tally } from '../../../test/helpers/endpoints.ts';

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
