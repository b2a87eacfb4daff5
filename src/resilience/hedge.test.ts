import { afterEach, describe, expect, it, vi } from 'vitest';
import { RetryBudget } from '../policy/retry-budget.ts';
import { HedgePolicy, HedgeTimer, NO_HEDGE } from './hedge.ts';
import { LatencyHistogram } from './latency-histogram.ts';

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 0;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('LatencyHistogram', () => {
  it('reports percentiles within one 10 % bucket of the truth', () => {
    const c = clock();
    const h = new LatencyHistogram({ now: c.now, refreshMs: 0 });
    for (let i = 1; i <= 1_000; i++) h.record(i / 10); // 0.1 .. 100 ms, uniform
    for (const [p, truth] of [
      [50, 50],
      [95, 95],
      [99, 99],
    ]) {
      const v = h.percentile(p);
      expect(v).toBeGreaterThanOrEqual(truth);
      expect(v).toBeLessThanOrEqual(truth * 1.1);
    }
  });

  it('reports nothing below the minimum sample count', () => {
    const h = new LatencyHistogram({ minSamples: 10, refreshMs: 0 });
    for (let i = 0; i < 9; i++) h.record(5);
    expect(h.percentile(90)).toBe(-1);
    h.record(5);
    expect(h.percentile(90)).toBeGreaterThan(0);
  });

  it('forgets samples older than the window', () => {
    const c = clock();
    const h = new LatencyHistogram({ now: c.now, halfWindowMs: 1_000, minSamples: 1, refreshMs: 0 });
    for (let i = 0; i < 100; i++) h.record(100);
    c.advance(1_000);
    for (let i = 0; i < 100; i++) h.record(1);
    expect(h.percentile(90)).toBeGreaterThan(90); // old slow samples still in the window
    c.advance(1_000);
    h.record(1);
    expect(h.percentile(90)).toBeLessThan(1.2);
    expect(h.count).toBe(101);
    c.advance(5_000);
    expect(h.count).toBe(0);
  });

  it('reuses a computed percentile for refreshMs', () => {
    const c = clock();
    const h = new LatencyHistogram({ now: c.now, minSamples: 1, refreshMs: 100 });
    h.record(10);
    const first = h.percentile(50);
    for (let i = 0; i < 100; i++) h.record(1_000);
    expect(h.percentile(50)).toBe(first);
    c.advance(100);
    expect(h.percentile(50)).toBeGreaterThan(first);
  });
});

describe('HedgePolicy', () => {
  it('hedges idempotent requests after the fixed delay, never others', () => {
    const hedge = new HedgePolicy('r', { delayMs: 50, maxAttempts: 2 }, undefined, undefined);
    expect(hedge.delayMs('GET')).toBe(50);
    expect(hedge.delayMs('POST')).toBe(NO_HEDGE);
    expect(new HedgePolicy('r', { delayMs: 50, maxAttempts: 1 }, undefined, undefined).delayMs('GET')).toBe(NO_HEDGE);
    // gRPC routes can name their safe methods.
    expect(new HedgePolicy('r', { delayMs: 5, maxAttempts: 2 }, undefined, undefined, ['POST']).delayMs('POST')).toBe(5);
  });

  it('hedges after the backend latency percentile, floored by the delay, once enough is known', () => {
    const c = clock();
    const h = new LatencyHistogram({ now: c.now, minSamples: 100, refreshMs: 0 });
    const hedge = new HedgePolicy('r', { delayMs: 5, maxAttempts: 2, percentile: 90 }, h, undefined);
    expect(hedge.delayMs('GET')).toBe(NO_HEDGE);
    expect(hedge.counters.noEstimate).toBe(1);
    for (let i = 0; i < 100; i++) h.record(i < 90 ? 20 : 200);
    const d = hedge.delayMs('GET');
    expect(d).toBeGreaterThanOrEqual(20);
    expect(d).toBeLessThan(22);
    for (let i = 0; i < 1_000; i++) h.record(1);
    expect(hedge.delayMs('GET')).toBe(5);
  });

  it('pays for every hedge from the retry budget and respects maxAttempts', () => {
    const budget = new RetryBudget({ percent: 0, minPerSecond: 2 }, () => 0); // 2 retries in its first second
    const hedge = new HedgePolicy('r', { delayMs: 10, maxAttempts: 3 }, undefined, budget);
    expect(hedge.tryHedge(1)).toBe(true);
    expect(hedge.tryHedge(2)).toBe(true);
    expect(hedge.tryHedge(3)).toBe(false); // maxAttempts in flight: no budget spent
    expect(hedge.tryHedge(1)).toBe(false);
    expect(hedge.counters).toEqual({ hedges: 2, budgetExhausted: 1, noEstimate: 0 });
    expect(budget.retriesInWindow).toBe(2);
  });
});

describe('HedgeTimer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends a copy after each delay with no response, up to maxAttempts in flight', () => {
    vi.useFakeTimers();
    const hedge = new HedgePolicy('r', { delayMs: 50, maxAttempts: 3 }, undefined, undefined);
    let inFlight = 1;
    const sentAt: number[] = [];
    const t0 = Date.now();
    const timer = new HedgeTimer(hedge, () => (sentAt.push(Date.now() - t0), inFlight++, true), () => inFlight);
    expect(timer.start('GET')).toBe(true);
    vi.advanceTimersByTime(49);
    expect(sentAt).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(sentAt).toEqual([50]);
    vi.advanceTimersByTime(500);
    expect(sentAt).toEqual([50, 100]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sends nothing once a response stopped it, or for a request that must not be hedged', () => {
    vi.useFakeTimers();
    const hedge = new HedgePolicy('r', { delayMs: 50, maxAttempts: 2 }, undefined, undefined);
    let sent = 0;
    const timer = new HedgeTimer(hedge, () => (sent++, true), () => 1);
    timer.start('GET');
    vi.advanceTimersByTime(30);
    timer.stop();
    vi.advanceTimersByTime(100);
    expect(sent).toBe(0);
    expect(new HedgeTimer(hedge, () => true, () => 1).start('POST')).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stops hedging when the budget refuses or no copy could be sent', () => {
    vi.useFakeTimers();
    const budget = new RetryBudget({ percent: 0, minPerSecond: 0 }, () => 0);
    const refused = new HedgeTimer(new HedgePolicy('r', { delayMs: 10, maxAttempts: 5 }, undefined, budget), () => true, () => 1);
    refused.start('GET');
    vi.advanceTimersByTime(100);
    let tries = 0;
    const noEndpoint = new HedgeTimer(new HedgePolicy('r', { delayMs: 10, maxAttempts: 5 }, undefined, undefined), () => (tries++, false), () => 1);
    noEndpoint.start('GET');
    vi.advanceTimersByTime(100);
    expect(tries).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});
