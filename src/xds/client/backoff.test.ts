import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff.ts';

describe('Backoff', () => {
  it('grows by the multiplier from the initial delay and caps at max (no jitter at random = 0.5)', () => {
    const b = new Backoff({ initialMs: 1000, multiplier: 1.6, jitter: 0.2, maxMs: 5000 }, () => 0.5);
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([1000, 1600, 2560, 4096, 5000, 5000]);
  });

  it('defaults to gRPC connection-backoff steps (1 s, ×1.6) capped at 4 s', () => {
    const b = new Backoff({}, () => 0.5);
    const delays: number[] = [];
    for (let i = 0; i < 20; i++) delays.push(b.next());
    expect(delays.slice(0, 4)).toEqual([1000, 1600, 2560, 4000]);
    expect(Math.max(...delays)).toBe(4_000);
    expect(delays.at(-1)).toBe(4_000);
  });

  it('spreads each delay by ±jitter around the schedule', () => {
    const low = new Backoff({ initialMs: 1000, multiplier: 2, jitter: 0.2, maxMs: 60_000 }, () => 0);
    const high = new Backoff({ initialMs: 1000, multiplier: 2, jitter: 0.2, maxMs: 60_000 }, () => 0.999_999);
    expect([low.next(), low.next()]).toEqual([800, 1600]);
    expect([high.next(), high.next()]).toEqual([1200, 2400]);
  });

  it('keeps the cap jittered too, and reset() starts over', () => {
    const b = new Backoff({ initialMs: 100, multiplier: 10, jitter: 0.2, maxMs: 1000 }, () => 0);
    b.next();
    b.next();
    expect(b.next()).toBe(800); // 1000 - 20 %
    b.reset();
    expect(b.next()).toBe(80);
  });
});
