/**
 * One replica in the global rate-limit test: waits until the shared start
 * time, offers `rate` requests per second for `seconds` to a global limiter
 * backed by Redis, and prints how many were admitted as one JSON line.
 *
 * argv: redisUrl startAtEpochMs rate seconds limitRps burst
 */
import { GlobalRateLimiter } from '../../../src/resilience/global-rate-limiter.ts';

const [url, startAt, rate, seconds, limitRps, burst] = process.argv.slice(2);
const limiter = new GlobalRateLimiter('catalog', { requestsPerSecond: Number(limitRps), burst: Number(burst), scope: 'global' }, { redis: url! });
const req = { path: '/', header: () => undefined };

const deadline = Date.now() + 10_000;
while (!limiter.connected) {
  if (Date.now() > deadline) throw new Error('worker could not connect to Redis');
  await new Promise((r) => setTimeout(r, 20));
}
const start = Number(startAt);
await new Promise((r) => setTimeout(r, Math.max(0, start - Date.now())));

const total = Number(rate) * Number(seconds);
const decisions: Promise<number>[] = [];
const began = performance.now();
for (let i = 0; i < total; i++) {
  // Open loop, paced: request i is due at i / rate seconds; bounded by count and time.
  const due = began + (i * 1000) / Number(rate);
  const wait = due - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  if (performance.now() - began > Number(seconds) * 1000 + 2_000) break;
  decisions.push(Promise.resolve(limiter.check(req)));
}
const waits = await Promise.all(decisions);
const allowed = waits.filter((w) => w === 0).length;
process.stdout.write(`${JSON.stringify({ offered: waits.length, allowed, counters: limiter.counters })}\n`);
await limiter.close();
