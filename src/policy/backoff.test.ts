import { describe, expect, it } from 'vitest';
import { MAX_RETRY_AFTER_MS, backoffDelay, parseRetryAfter } from './backoff.ts';

/** Small seeded PRNG so the statistics below are reproducible. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('backoffDelay', () => {
  it('stays within [0, min(max, base * 2^i)] with a mean near half the cap', () => {
    const random = seeded(42);
    const samples = 20_000;
    for (let i = 0; i < 8; i++) {
      const cap = Math.min(250, 25 * 2 ** i);
      let sum = 0;
      let min = Infinity;
      let max = -Infinity;
      for (let n = 0; n < samples; n++) {
        const d = backoffDelay(i, 25, 250, random);
        sum += d;
        if (d < min) min = d;
        if (d > max) max = d;
      }
      expect(min).toBeGreaterThanOrEqual(0);
      expect(max).toBeLessThanOrEqual(cap);
      expect(sum / samples).toBeGreaterThan(cap * 0.48);
      expect(sum / samples).toBeLessThan(cap * 0.52);
      // Full jitter uses the whole interval, not just its lower part.
      expect(max).toBeGreaterThan(cap * 0.99);
    }
  });

  it('reaches the cap at the extremes of the random source', () => {
    expect(backoffDelay(0, 25, 250, () => 0)).toBe(0);
    expect(backoffDelay(2, 25, 250, () => 0.5)).toBe(50);
    expect(backoffDelay(3, 25, 250, () => 0.5)).toBe(100);
    expect(backoffDelay(4, 25, 250, () => 0.5)).toBe(125);
  });

  it('handles huge retry indexes and degenerate settings without NaN', () => {
    expect(backoffDelay(5000, 25, 250, () => 0.5)).toBe(125);
    expect(backoffDelay(-3, 25, 250, () => 0.5)).toBe(12.5);
    expect(backoffDelay(1, 0, 250, () => 0.5)).toBe(0);
    expect(backoffDelay(1, 25, 0, () => 0.5)).toBe(0);
    expect(backoffDelay(1, 100, 30, () => 0.5)).toBe(15);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2025, 2, 14, 12, 0, 0); // Fri, 14 Mar 2025 12:00:00 GMT

  it('reads delta-seconds', () => {
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('5', now)).toBe(5000);
    expect(parseRetryAfter(' 3 ', now)).toBe(3000);
  });

  it('caps long waits', () => {
    expect(parseRetryAfter('120', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('99999999999999999999999', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('120', now, 60_000)).toBe(60_000);
    expect(parseRetryAfter('Fri, 14 Mar 2025 13:00:00 GMT', now)).toBe(MAX_RETRY_AFTER_MS);
  });

  it('reads the three HTTP-date forms relative to now', () => {
    expect(parseRetryAfter('Fri, 14 Mar 2025 12:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Friday, 14-Mar-25 12:00:07 GMT', now)).toBe(7000);
    expect(parseRetryAfter('Fri Mar 14 12:00:02 2025', now)).toBe(2000);
    expect(parseRetryAfter('Sat Mar  1 12:00:02 2025', Date.UTC(2025, 2, 1, 12, 0, 0))).toBe(2000);
  });

  it('gives 0 for a date in the past', () => {
    expect(parseRetryAfter('Thu, 13 Mar 2025 12:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('Sunday, 06-Nov-94 08:49:37 GMT', now)).toBe(0);
  });

  it('rejects garbage', () => {
    for (const v of [undefined, '', '  ', 'soon', '-5', '1.5', '5s', '0x10', 'Fri, 31 Feb 2025 12:00:00 GMT', 'Fri, 14 Mar 2025 25:00:00 GMT', 'Fri, 14 Foo 2025 12:00:00 GMT', '14 Mar 2025 12:00:10 GMT', 'Fri, 14 Mar 2025 12:00:10 UTC']) {
      expect(parseRetryAfter(v, now), String(v)).toBeUndefined();
    }
  });
});
