import { describe, expect, it } from 'vitest';
import type { EndpointModel } from '../model/types.ts';
import { createEndpointState } from './endpoint-state.ts';
import { createEndpointFeedback, decayedEwma } from './feedback.ts';

const model: EndpointModel = { host: 'a', port: 1, labels: {}, weight: 1, zone: '', healthy: true, origin: 'static' };

function setup() {
  const clock = { t: 1_000 };
  const feedback = createEndpointFeedback({ now: () => clock.t, decayMs: 10_000 });
  return { clock, feedback, ep: createEndpointState(model) };
}

describe('createEndpointFeedback', () => {
  it('counts requests in flight and never goes below zero', () => {
    const { feedback, ep } = setup();
    feedback.onStart(ep);
    feedback.onStart(ep);
    expect(ep.active).toBe(2);
    feedback.onEnd(ep, 5, true);
    feedback.onEnd(ep, 5, true);
    feedback.onEnd(ep, 5, true);
    expect(ep.active).toBe(0);
  });

  it('takes the first sample as the estimate and stamps it', () => {
    const { feedback, ep } = setup();
    feedback.onEnd(ep, 20, true);
    expect(ep.ewmaMs).toBe(20);
    expect(ep.ewmaStamp).toBe(1_000);
  });

  it('jumps to a slower sample at once and comes down only over time', () => {
    const { clock, feedback, ep } = setup();
    feedback.onEnd(ep, 10, true);
    clock.t += 1;
    feedback.onEnd(ep, 500, true);
    expect(ep.ewmaMs).toBe(500);
    // A fast answer 1 ms later barely moves it...
    clock.t += 1;
    feedback.onEnd(ep, 10, true);
    expect(ep.ewmaMs).toBeGreaterThan(499);
    // ...while after ten decay constants the fast answer dominates.
    clock.t += 100_000;
    feedback.onEnd(ep, 10, true);
    expect(ep.ewmaMs).toBeLessThan(10.1);
  });

  it('after one decay constant the estimate is down to 1/e, and a lower sample weighs 1 - 1/e', () => {
    const { clock, feedback, ep } = setup();
    feedback.onEnd(ep, 100, true);
    clock.t += 10_000;
    feedback.onEnd(ep, 10, true);
    const k = 1 / Math.E;
    expect(ep.ewmaMs).toBeCloseTo(100 * k * k + 10 * (1 - k), 6);
  });

  it('a sample above the decayed estimate replaces it', () => {
    const { clock, feedback, ep } = setup();
    feedback.onEnd(ep, 100, true);
    clock.t += 30_000; // decayed to ~5
    feedback.onEnd(ep, 20, true);
    expect(ep.ewmaMs).toBe(20);
  });

  it('a failed attempt never pulls the estimate below its decay, but may raise it', () => {
    const { clock, feedback, ep } = setup();
    feedback.onEnd(ep, 100, true);
    clock.t += 1_000;
    const before = decayedEwma(ep, clock.t, 10_000);
    feedback.onEnd(ep, 1, false);
    expect(ep.ewmaMs).toBeCloseTo(before, 9);
    feedback.onEnd(ep, 300, false);
    expect(ep.ewmaMs).toBe(300);
  });

  it('a zero latency still counts as measured', () => {
    const { feedback, ep } = setup();
    feedback.onEnd(ep, 0, true);
    expect(ep.ewmaMs).toBeGreaterThan(0);
  });
});

describe('decayedEwma', () => {
  it('decays towards zero while no response comes back', () => {
    const { feedback, ep } = setup();
    feedback.onEnd(ep, 100, true);
    expect(decayedEwma(ep, 1_000, 10_000)).toBe(100);
    expect(decayedEwma(ep, 11_000, 10_000)).toBeCloseTo(100 / Math.E, 6);
    expect(decayedEwma(ep, 500, 10_000)).toBe(100);
  });
});
