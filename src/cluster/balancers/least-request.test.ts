import { describe, expect, it } from 'vitest';
import { createLeastRequest } from './least-request.ts';
import { seeded } from '../../../test/helpers/seeded.ts';
import { states, tally } from '../../../test/helpers/endpoints.ts';

describe('least request', () => {
  it('follows the weights when every endpoint is idle', () => {
    const eps = states(2, [1, 3]);
    const b = createLeastRequest(eps, { random: seeded(4) });
    const n = 40_000;
    const got = tally(() => b.pick({}), eps, n);
    expect(Math.abs(got[0] / n - 0.25)).toBeLessThan(0.02);
  });

  it('prefers idle endpoints to busy ones', () => {
    const eps = states(4);
    eps[0].active = 10;
    eps[1].active = 5;
    const b = createLeastRequest(eps, { random: seeded(5) });
    const got = tally(() => b.pick({}), eps, 10_000);
    // Two distinct candidates: the busiest can never win, the idle pair takes most.
    expect(got[0]).toBe(0);
    expect(got[2] + got[3]).toBeGreaterThan(0.8 * 10_000);
  });

  it('weighs load by weight: active/weight', () => {
    const eps = states(2, [1, 4]);
    eps[0].active = 2; // 2 per unit of weight
    eps[1].active = 6; // 1.5 per unit of weight
    const b = createLeastRequest(eps, { random: seeded(6) });
    expect(tally(() => b.pick({}), eps, 100)).toEqual([0, 100]);
    eps[1].active = 12; // 3 per unit of weight
    expect(tally(() => b.pick({}), eps, 100)).toEqual([100, 0]);
  });

  it('shifts traffic away from an endpoint that holds on to requests', () => {
    // A closed-loop simulation: endpoint 0 never answers, the others answer at once.
    const eps = states(3);
    const b = createLeastRequest(eps, { random: seeded(7) });
    let stuck = 0;
    for (let i = 0; i < 3_000; i++) {
      const ep = b.pick({})!;
      if (ep === eps[0]) {
        ep.active++;
        stuck++;
      }
    }
    expect(stuck).toBeLessThanOrEqual(2);
  });
});
