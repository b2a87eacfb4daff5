import { describe, expect, it } from 'vitest';
import { createEndpointFeedback } from '../feedback.ts';
import type { EndpointState } from '../types.ts';
import { createPeakEwma } from './peak-ewma.ts';
import { seeded } from '../../../test/helpers/seeded.ts';
import { states, tally } from '../../../test/helpers/endpoints.ts';

/** Sequential requests on a fake clock; each endpoint answers in its own latency. */
function simulate(eps: EndpointState[], latency: (ep: EndpointState, i: number) => number, n: number, seed: number) {
  const clock = { t: 0 };
  const now = () => clock.t;
  const b = createPeakEwma(eps, { random: seeded(seed), now });
  const feedback = createEndpointFeedback({ now });
  const perRound: number[][] = [];
  const got = new Array<number>(eps.length).fill(0);
  for (let i = 0; i < n; i++) {
    const ep = b.pick({})!;
    got[eps.indexOf(ep)]++;
    feedback.onStart(ep);
    const ms = latency(ep, i);
    clock.t += ms;
    feedback.onEnd(ep, ms, true);
    if ((i + 1) % 1_000 === 0) perRound.push(got.slice());
  }
  return { got, perRound };
}

describe('peak EWMA', () => {
  it('shifts traffic away from a slow endpoint', () => {
    const eps = states(3);
    const { got } = simulate(eps, (ep) => (ep === eps[0] ? 200 : 10), 5_000, 11);
    expect(got[0] / 5_000).toBeLessThan(0.02);
    expect(Math.abs(got[1] - got[2]) / 5_000).toBeLessThan(0.2);
  });

  it('leaves an endpoint at once when it slows down and returns once it recovers', () => {
    const eps = states(2);
    // Endpoint 0 is slow for requests 1000..1999 only.
    const { perRound } = simulate(eps, (ep, i) => (ep === eps[0] && i >= 1_000 && i < 2_000 ? 300 : 10), 6_000, 12);
    const share = (r: number) => (perRound[r][0] - (r > 0 ? perRound[r - 1][0] : 0)) / 1_000;
    expect(share(0)).toBeGreaterThan(0.3);
    expect(share(1)).toBeLessThan(0.05);
    expect(share(5)).toBeGreaterThan(0.3);
  });

  it('sends nothing more to an unmeasured endpoint with a request in flight', () => {
    const eps = states(2);
    eps[1].ewmaMs = 50;
    eps[0].active = 1;
    const b = createPeakEwma(eps, { random: seeded(13), now: () => 0 });
    expect(tally(() => b.pick({}), eps, 100)).toEqual([0, 100]);
    eps[0].active = 0;
    // Idle and unmeasured: cost 0, tried first.
    expect(tally(() => b.pick({}), eps, 100)).toEqual([100, 0]);
  });

  it('cost grows with requests in flight', () => {
    const eps = states(2);
    eps[0].ewmaMs = 10;
    eps[1].ewmaMs = 30;
    const b = createPeakEwma(eps, { random: seeded(14), now: () => 0 });
    expect(tally(() => b.pick({}), eps, 50)).toEqual([50, 0]);
    eps[0].active = 3; // 10 * 4 = 40 > 30 * 1
    expect(tally(() => b.pick({}), eps, 50)).toEqual([0, 50]);
  });
});
