import { describe, expect, it } from 'vitest';
import type { AdaptiveConcurrencyModel } from '../model/types.ts';
import { AdaptiveConcurrencyLimiter } from './adaptive-concurrency.ts';

const MODEL: AdaptiveConcurrencyModel = {
  dryRun: false,
  initialLimit: 20,
  minLimit: 2,
  maxLimit: 200,
  intervalMs: 100,
  tolerance: 1.5,
  maxEventLoopDelayMs: 0,
};

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 0;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/**
 * Drives `intervals` update intervals against a simulated server: the load
 * tries to keep `demand` requests in flight (as many as the limiter admits),
 * and the server serves `capacity` at once in 10 ms, queueing the rest, so
 * latency = 10 ms × max(1, admitted / capacity). Returns the limit after each interval.
 */
function drive(l: AdaptiveConcurrencyLimiter, c: ReturnType<typeof clock>, intervals: number, demand: number, capacity: (i: number) => number): number[] {
  const limits: number[] = [];
  for (let i = 0; i < intervals; i++) {
    let admitted = 0;
    for (let k = 0; k < demand; k++) if (l.tryAcquire()) admitted++;
    const latency = 10 * Math.max(1, admitted / capacity(i));
    c.advance(MODEL.intervalMs);
    for (let k = 0; k < admitted; k++) l.release(latency);
    limits.push(l.limit);
  }
  return limits;
}

describe('AdaptiveConcurrencyLimiter', () => {
  it('grows under steady latency, converges down as latency rises, and grows back when it recovers', () => {
    const c = clock();
    const l = new AdaptiveConcurrencyLimiter('reviews', MODEL, { now: c.now, eventLoopDelay: () => 0 });
    // A server that handles 100 at once: the limit grows to about there (plus tolerance).
    const steady = drive(l, c, 60, 500, () => 100);
    const grown = steady[steady.length - 1];
    expect(grown).toBeGreaterThan(100);
    expect(grown).toBeLessThan(200);

    // The server slows down to 10 at once: latency rises, the limit must come down to match.
    const slowed = drive(l, c, 60, 500, () => 10);
    const low = slowed[slowed.length - 1];
    expect(low).toBeLessThan(grown / 3);
    expect(low).toBeGreaterThan(10);
    expect(l.counters.decreases).toBeGreaterThan(10);
    expect(l.counters.shed).toBeGreaterThan(0);

    // Back to 100: the limit grows back.
    const recovered = drive(l, c, 100, 500, () => 100);
    expect(recovered[recovered.length - 1]).toBeGreaterThan(low * 3);
  });

  it('sheds beyond the limit, and admits again as requests end', () => {
    const c = clock();
    const l = new AdaptiveConcurrencyLimiter('reviews', { ...MODEL, initialLimit: 3 }, { now: c.now, eventLoopDelay: () => 0 });
    expect([l.tryAcquire(), l.tryAcquire(), l.tryAcquire(), l.tryAcquire()]).toEqual([true, true, true, false]);
    l.release(5);
    expect(l.tryAcquire()).toBe(true);
    expect(l.snapshot()).toMatchObject({ inFlight: 3, limit: 3, counters: { admitted: 4, shed: 1 } });
  });

  it('in dry run counts what it would shed and sheds nothing', () => {
    const c = clock();
    const l = new AdaptiveConcurrencyLimiter('reviews', { ...MODEL, initialLimit: 2, dryRun: true }, { now: c.now, eventLoopDelay: () => 0 });
    for (let i = 0; i < 5; i++) expect(l.tryAcquire()).toBe(true);
    expect(l.counters).toMatchObject({ shed: 0, wouldShed: 3, admitted: 5 });
  });

  it('shrinks on event-loop delay even when latencies look fine', () => {
    const c = clock();
    let eld = 0;
    const l = new AdaptiveConcurrencyLimiter('reviews', { ...MODEL, maxEventLoopDelayMs: 50 }, { now: c.now, eventLoopDelay: () => eld });
    drive(l, c, 20, 500, () => 1_000);
    const before = l.limit;
    eld = 400;
    drive(l, c, 20, 500, () => 1_000);
    expect(l.limit).toBeLessThan(before / 3);
    expect(l.snapshot().eventLoopDelayMs).toBe(400);
  });

  it('does not grow while most of the limit is unused', () => {
    const c = clock();
    const l = new AdaptiveConcurrencyLimiter('reviews', MODEL, { now: c.now, eventLoopDelay: () => 0 });
    drive(l, c, 50, 5, () => 1_000);
    expect(l.limit).toBe(MODEL.initialLimit);
  });

  it('stays within minLimit and maxLimit', () => {
    const c = clock();
    const l = new AdaptiveConcurrencyLimiter('reviews', { ...MODEL, minLimit: 6, maxLimit: 30 }, { now: c.now, eventLoopDelay: () => 0 });
    drive(l, c, 100, 500, () => 1_000);
    expect(l.limit).toBe(30);
    drive(l, c, 200, 500, () => 0.01);
    expect(l.limit).toBe(6);
  });

  it('uses the real event-loop monitor by default and stops it on close', () => {
    const l = new AdaptiveConcurrencyLimiter('reviews', { ...MODEL, maxEventLoopDelayMs: 100 });
    expect(l.tryAcquire()).toBe(true);
    l.close();
  });
});
