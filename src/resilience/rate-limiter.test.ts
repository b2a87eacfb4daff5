import { describe, expect, it } from 'vitest';
import type { RateLimitModel } from '../model/types.ts';
import { LocalRateLimiter } from './rate-limiter.ts';
import { descriptorKey, retryAfterSeconds, type RateLimitRequest } from './rate-limit-descriptors.ts';

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

function req(path = '/', headers: Record<string, string> = {}, sourceService?: string, route?: string): RateLimitRequest {
  return { path, header: (n) => headers[n], sourceService, route };
}

const MODEL: RateLimitModel = { requestsPerSecond: 100, burst: 10, scope: 'local' };

describe('LocalRateLimiter', () => {
  it('admits the configured rate within 10 % over 10 s of a 4× overload', () => {
    const c = clock();
    const limiter = new LocalRateLimiter('reviews', MODEL, { now: c.now });
    let admitted = 0;
    // 400 requests/s offered for 10 s, at uneven intervals.
    for (let i = 0; i < 4_000; i++) {
      c.advance(i % 3 === 0 ? 1 : 3.5);
      if (limiter.check(req()) === 0) admitted++;
    }
    const expected = 100 * 10 + 10; // rate × time + the initial burst
    expect(Math.abs(admitted - expected) / expected).toBeLessThan(0.1);
    expect(limiter.counters.allowed).toBe(admitted);
    expect(limiter.counters.limited).toBe(4_000 - admitted);
  });

  it('allows a burst at once, then refuses with the wait until the next token', () => {
    const c = clock();
    const limiter = new LocalRateLimiter('reviews', MODEL, { now: c.now });
    for (let i = 0; i < 10; i++) expect(limiter.check(req())).toBe(0);
    expect(limiter.check(req())).toBe(10);
    c.advance(10);
    expect(limiter.check(req())).toBe(0);
    expect(retryAfterSeconds(10)).toBe('1');
    expect(retryAfterSeconds(2_500)).toBe('3');
  });

  it('keeps a bucket per header value, and takes nothing when any bucket refuses', () => {
    const c = clock();
    const limiter = new LocalRateLimiter('reviews', { ...MODEL, burst: 100, descriptors: [{ by: 'header', header: 'x-user', requestsPerSecond: 1, burst: 2 }] }, { now: c.now });
    const alice = req('/', { 'x-user': 'alice' });
    const bob = req('/', { 'x-user': 'bob' });
    expect([limiter.check(alice), limiter.check(alice)]).toEqual([0, 0]);
    expect(limiter.check(alice)).toBe(1_000);
    expect(limiter.check(bob)).toBe(0);
    expect(limiter.check(req('/'))).toBe(0); // no x-user: only the service bucket applies
    // 4 admitted of the service's 100; alice's refusal took no service token.
    expect(limiter.tokens).toBe(96);
    expect(limiter.snapshot().descriptors).toEqual([{ by: 'header', buckets: 2 }]);
  });

  it('limits a path prefix, a source service and a route with one shared bucket each', () => {
    const c = clock();
    const limiter = new LocalRateLimiter(
      'reviews',
      {
        ...MODEL,
        burst: 100,
        descriptors: [
          { by: 'path', value: '/api/search', requestsPerSecond: 1, burst: 1 },
          { by: 'source-service', value: 'frontend', requestsPerSecond: 1, burst: 1 },
          { by: 'route', value: 'canary', requestsPerSecond: 1, burst: 1 },
        ],
      },
      { now: c.now },
    );
    expect(limiter.check(req('/api/search?q=1'))).toBe(0);
    expect(limiter.check(req('/api/search/more'))).toBeGreaterThan(0);
    expect(limiter.check(req('/api/other'))).toBe(0);
    expect(limiter.check(req('/x', {}, 'frontend'))).toBe(0);
    expect(limiter.check(req('/x', {}, 'frontend'))).toBeGreaterThan(0);
    expect(limiter.check(req('/x', {}, 'backend'))).toBe(0);
    expect(limiter.check(req('/x', {}, undefined, 'canary'))).toBe(0);
    expect(limiter.check(req('/x', {}, undefined, 'canary'))).toBeGreaterThan(0);
  });

  it('bounds the buckets kept per descriptor, dropping idle (full) ones first', () => {
    const c = clock();
    const limiter = new LocalRateLimiter('reviews', { ...MODEL, burst: 1_000_000, requestsPerSecond: 1e6, descriptors: [{ by: 'path', requestsPerSecond: 1, burst: 5 }] }, { now: c.now, maxKeys: 100 });
    for (let i = 0; i < 100; i++) limiter.check(req(`/p/${i}`));
    c.advance(10_000); // every bucket refilled: all idle
    limiter.check(req('/hot'));
    expect(limiter.snapshot().descriptors[0].buckets).toBe(1);
    for (let i = 0; i < 500; i++) limiter.check(req(`/q/${i}`)); // none idle: oldest tenth dropped as needed
    expect(limiter.snapshot().descriptors[0].buckets).toBeLessThanOrEqual(100);
  });
});

describe('descriptorKey', () => {
  it('keys per distinct value without a configured value, strips the query from paths', () => {
    expect(descriptorKey({ by: 'path', requestsPerSecond: 1, burst: 1 }, req('/a/b?x=1'))).toBe('/a/b');
    expect(descriptorKey({ by: 'header', header: 'x-user', requestsPerSecond: 1, burst: 1 }, req('/', { 'x-user': 'u1' }))).toBe('u1');
    expect(descriptorKey({ by: 'header', header: 'x-user', requestsPerSecond: 1, burst: 1 }, req('/'))).toBeUndefined();
    expect(descriptorKey({ by: 'source-service', requestsPerSecond: 1, burst: 1 }, req('/', {}, 'frontend'))).toBe('frontend');
    expect(descriptorKey({ by: 'header', header: 'x-plan', value: 'free', requestsPerSecond: 1, burst: 1 }, req('/', { 'x-plan': 'paid' }))).toBeUndefined();
  });
});
