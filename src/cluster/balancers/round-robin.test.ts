import { describe, expect, it } from 'vitest';
import { createRoundRobin } from './round-robin.ts';
import { states, tally } from '../../../test/helpers/endpoints.ts';

describe('round robin, equal weights', () => {
  it('visits endpoints in order, one each per cycle', () => {
    const eps = states(3);
    const b = createRoundRobin(eps, { random: () => 0 });
    expect(Array.from({ length: 6 }, () => eps.indexOf(b.pick({})!))).toEqual([0, 1, 2, 0, 1, 2]);
  });

  it('starts at a random offset', () => {
    const eps = states(4);
    expect(eps.indexOf(createRoundRobin(eps, { random: () => 0.5 }).pick({})!)).toBe(2);
    expect(eps.indexOf(createRoundRobin(eps, { random: () => 0.99 }).pick({})!)).toBe(3);
  });

  it('steps past unavailable and avoided endpoints', () => {
    const eps = states(4);
    eps[1].available = false;
    const b = createRoundRobin(eps, { random: () => 0 });
    expect(Array.from({ length: 6 }, () => eps.indexOf(b.pick({})!))).toEqual([0, 2, 3, 0, 2, 3]);
    expect(eps.indexOf(b.pick({ avoid: eps[0] })!)).toBe(2);
  });
});

describe('round robin, weighted (smooth)', () => {
  it('interleaves 5:1:1 as a a b a c a a', () => {
    const eps = states(3, [5, 1, 1]);
    const b = createRoundRobin(eps);
    const seq = Array.from({ length: 14 }, () => 'abc'[eps.indexOf(b.pick({})!)]).join('');
    expect(seq).toBe('aabacaa'.repeat(2));
  });

  it('gives exact proportions over whole cycles', () => {
    const eps = states(4, [3, 2, 1, 4]);
    const b = createRoundRobin(eps);
    expect(tally(() => b.pick({}), eps, 1_000)).toEqual([300, 200, 100, 400]);
  });

  it('keeps the others exact while one is unavailable', () => {
    const eps = states(3, [3, 2, 1]);
    eps[1].available = false;
    const b = createRoundRobin(eps);
    expect(tally(() => b.pick({}), eps, 400)).toEqual([300, 0, 100]);
  });

  it('is deterministic: two balancers over the same set agree', () => {
    const a = createRoundRobin(states(3, [2, 7, 3]));
    const b = createRoundRobin(states(3, [2, 7, 3]));
    for (let i = 0; i < 100; i++) expect(a.pick({})!.authority).toBe(b.pick({})!.authority);
  });
});
