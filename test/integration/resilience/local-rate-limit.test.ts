/** The local limiter against the real clock: the admitted rate stays within ±10 % under a 3× overload. */
import { expect, it } from 'vitest';
import { LocalRateLimiter } from '../../../src/resilience/rate-limiter.ts';

it('admits the configured rate within ±10 % over 4 s of real time', async () => {
  const limiter = new LocalRateLimiter('catalog', { requestsPerSecond: 200, burst: 20, scope: 'local' });
  const req = { path: '/', header: () => undefined };
  const rate = 600;
  const ms = 4_000;
  let admitted = 0;
  let offered = 0;
  const began = performance.now();
  for (let i = 0; i < (rate * ms) / 1000; i++) {
    const delay = began + (i * 1000) / rate - performance.now();
    if (delay > 1) await new Promise((r) => setTimeout(r, delay));
    if (performance.now() - began > ms + 1_000) break;
    offered++;
    if (limiter.check(req) === 0) admitted++;
  }
  const elapsed = (performance.now() - began) / 1000;
  const expected = 200 * elapsed + 20;
  expect(offered).toBeGreaterThan(2 * expected);
  expect(Math.abs(admitted - expected) / expected).toBeLessThan(0.1);
});
