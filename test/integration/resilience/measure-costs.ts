/**
 * Measures the per-request cost of the resilience policies, and of the
 * libraries considered for them (opossum, bottleneck). Not a test: run it by
 * hand and copy the numbers into docs/resilience.md.
 *
 *     node test/integration/resilience/measure-costs.ts
 *
 * Numbers vary by machine; what matters is their order of magnitude.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import Opossum from 'opossum';
import { createEndpointState } from '../../../src/cluster/endpoint-state.ts';
import { AdaptiveConcurrencyLimiter } from '../../../src/resilience/adaptive-concurrency.ts';
import { CircuitBreaker } from '../../../src/resilience/circuit-breaker.ts';
import { ConcurrencyLimit } from '../../../src/resilience/concurrency-limit.ts';
import { FaultInjector } from '../../../src/resilience/fault.ts';
import { GlobalRateLimiter } from '../../../src/resilience/global-rate-limiter.ts';
import { HedgePolicy } from '../../../src/resilience/hedge.ts';
import { LatencyHistogram } from '../../../src/resilience/latency-histogram.ts';
import { Mirror } from '../../../src/resilience/mirror.ts';
import { OutlierDetector } from '../../../src/resilience/outlier-detector.ts';
import { LocalRateLimiter } from '../../../src/resilience/rate-limiter.ts';
import { redisAvailable, startRedis } from './redis-server.ts';

const require = createRequire(import.meta.url);
type Job = () => Promise<unknown>;
interface BottleneckLimiter {
  schedule(job: Job): Promise<unknown>;
  check(): Promise<boolean>;
  ready(): Promise<unknown>;
  on(event: string, fn: (e: Error) => void): void;
  disconnect(flush?: boolean): Promise<void>;
}
type BottleneckCtor = (new (options: Record<string, unknown>) => BottleneckLimiter) & { strategy: { OVERFLOW: number } };
const Bottleneck = require('bottleneck') as BottleneckCtor;

function syncNs(name: string, n: number, fn: (i: number) => void): void {
  for (let i = 0; i < Math.min(n, 100_000); i++) fn(i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  console.log(`${name.padEnd(64)} ${(Number(process.hrtime.bigint() - t0) / n).toFixed(1)} ns/op`);
}

async function asyncNs(name: string, n: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < Math.min(n, 20_000); i++) await fn(i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  console.log(`${name.padEnd(64)} ${(Number(process.hrtime.bigint() - t0) / n).toFixed(0)} ns/op`);
}

const ok = (): Promise<number> => Promise.resolve(1);
const quiet = { rollingPercentilesEnabled: false, enableSnapshots: false, rotateBucketController: new EventEmitter() } as Opossum.Options;

console.log('--- opossum');
await asyncNs('baseline: await action()', 200_000, () => ok());
const o1 = new Opossum(ok, { timeout: false });
await asyncNs('opossum fire(), success, timeout off', 200_000, () => o1.fire());
const o2 = new Opossum(ok, { timeout: 10_000 });
await asyncNs('opossum fire(), success, timeout 10 s (a timer per call)', 200_000, () => o2.fire());
const flaky = (i: number): Promise<number> => (i % 10 === 0 ? Promise.reject(new Error('x')) : Promise.resolve(1));
const o3 = new Opossum(flaky, { timeout: false, errorThresholdPercentage: 99, volumeThreshold: 1e12 });
await asyncNs('opossum fire(), 10 % failures, default percentiles', 30_000, (i) => o3.fire(i).catch(() => 0));
const o4 = new Opossum(flaky, { ...quiet, timeout: false, errorThresholdPercentage: 99, volumeThreshold: 1e12 });
await asyncNs('opossum fire(), 10 % failures, percentiles off', 30_000, (i) => o4.fire(i).catch(() => 0));
for (const o of [o1, o2, o3, o4]) o.shutdown();

console.log('--- enmesh policies (synchronous, per request)');
const breaker = new CircuitBreaker('b', { errorThresholdPercent: 99, volumeThreshold: 1e9, windowMs: 10_000, resetTimeoutMs: 30_000, halfOpenRequests: 1 });
syncNs('CircuitBreaker tryAcquire + onSuccess/onFailure (10 % fail)', 5_000_000, (i) => {
  if (breaker.tryAcquire()) {
    if (i % 10 === 0) breaker.onFailure();
    else breaker.onSuccess();
  }
});
breaker.close();
const eps = Array.from({ length: 10 }, (_, i) => createEndpointState({ host: `10.0.0.${i}`, port: 80, labels: {}, weight: 1, zone: '', healthy: true, origin: 'static' }));
const detector = new OutlierDetector('o', { consecutive5xx: 1e9, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10 }, eps);
syncNs('OutlierDetector onResult', 5_000_000, (i) => detector.onResult(eps[i % 10], i % 7 === 0 ? '5xx' : 'success'));
detector.close();
const pool = new ConcurrencyLimit('c', { maxRequests: 100, maxPendingRequests: 10 });
const waiter = { onSlot() {} };
syncNs('ConcurrencyLimit acquire + release', 5_000_000, () => {
  pool.acquire(waiter);
  pool.release();
});
const req = { path: '/api/items?id=3', header: (n: string) => (n === 'x-user' ? 'alice' : undefined) };
let t = 0;
const fastClock = (): number => (t += 0.001);
const local = new LocalRateLimiter('l', { requestsPerSecond: 1e6, burst: 1000, scope: 'local' }, { now: fastClock });
syncNs('LocalRateLimiter check, no descriptors (injected clock)', 5_000_000, () => local.check(req));
const localReal = new LocalRateLimiter('l', { requestsPerSecond: 1e6, burst: 1000, scope: 'local' });
syncNs('LocalRateLimiter check, no descriptors (performance.now)', 5_000_000, () => localReal.check(req));
const withDescriptors = new LocalRateLimiter(
  'l',
  {
    requestsPerSecond: 1e6,
    burst: 1000,
    scope: 'local',
    descriptors: [
      { by: 'header', header: 'x-user', requestsPerSecond: 1e6, burst: 1000 },
      { by: 'path', value: '/api', requestsPerSecond: 1e6, burst: 1000 },
    ],
  },
  { now: fastClock },
);
syncNs('LocalRateLimiter check, header + path descriptors', 2_000_000, () => withDescriptors.check(req));
const fault = new FaultInjector('f', { delay: { percent: 1, durationMs: 5 }, abort: { percent: 1, status: 503 } });
syncNs('FaultInjector decide (+ release when faulted)', 5_000_000, () => {
  if (fault.decide(req) !== 0) fault.release();
});
const histogram = new LatencyHistogram();
syncNs('LatencyHistogram record', 5_000_000, (i) => histogram.record((i % 100) + 1));
const hedge = new HedgePolicy('h', { delayMs: 5, maxAttempts: 2, percentile: 95 }, histogram, undefined);
syncNs('HedgePolicy delayMs, percentile mode (cached 100 ms)', 5_000_000, () => hedge.delayMs('GET'));
const mirror = new Mirror('m', { service: 's', percent: 5 }, () => undefined);
syncNs('Mirror shouldMirror', 5_000_000, () => mirror.shouldMirror());
const adaptive = new AdaptiveConcurrencyLimiter('a', { dryRun: false, initialLimit: 100, minLimit: 1, maxLimit: 1000, intervalMs: 250, tolerance: 1.5, maxEventLoopDelayMs: 0 });
syncNs('AdaptiveConcurrencyLimiter tryAcquire + release', 5_000_000, () => {
  if (adaptive.tryAcquire()) adaptive.release(1);
});
adaptive.close();

console.log('--- bottleneck, local');
{
  const lim = new Bottleneck({ reservoir: 1e9 });
  const n = 2_000;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await lim.schedule(ok);
    total += performance.now() - s;
  }
  console.log(`${'bottleneck schedule(), one at a time: latency added'.padEnd(64)} ${((total / n) * 1000).toFixed(0)} µs/call`);
  const m = 2_000;
  const s = performance.now();
  await Promise.all(Array.from({ length: m }, () => lim.schedule(ok)));
  console.log(`${`bottleneck schedule(), ${m} at once: throughput`.padEnd(64)} ${((m / (performance.now() - s)) * 1000).toFixed(0)} calls/s`);
  let c = 0;
  const s2 = performance.now();
  for (let i = 0; i < 500; i++) await lim.check().then(() => c++);
  console.log(`${'bottleneck check()'.padEnd(64)} ${(((performance.now() - s2) / 500) * 1000).toFixed(0)} µs/call`);
}
{
  // Leaky mode, as a rate limiter must be configured: 100/s, burst 10, no queue.
  const lim = new Bottleneck({ reservoir: 10, reservoirIncreaseAmount: 1, reservoirIncreaseInterval: 10, reservoirIncreaseMaximum: 10, highWater: 0, strategy: Bottleneck.strategy.OVERFLOW });
  let admitted = 0;
  const jobs: Promise<unknown>[] = [];
  const began = performance.now();
  for (let i = 0; i < 800; i++) {
    const delay = began + i * 2.5 - performance.now();
    if (delay > 1) await new Promise((r) => setTimeout(r, delay));
    jobs.push(lim.schedule(ok).then(() => admitted++, () => 0));
  }
  await Promise.all(jobs);
  console.log(`${'bottleneck leaky mode 100/s burst 10, 400/s offered for 2 s'.padEnd(64)} ${admitted} admitted (a token bucket: ~210)`);
}

if (redisAvailable()) {
  console.log('--- Redis (127.0.0.1, redis-server 7)');
  const server = await startRedis();
  const admin = new Redis(server.url);
  try {
    const mk = (): BottleneckLimiter => new Bottleneck({ id: 'm', datastore: 'ioredis', clientOptions: { host: '127.0.0.1', port: server.port }, reservoir: 1e9, highWater: 0, strategy: Bottleneck.strategy.OVERFLOW });
    const b = mk();
    b.on('error', () => undefined);
    await b.ready();
    await admin.config('RESETSTAT');
    const n = 1_000;
    const s = performance.now();
    for (let i = 0; i < n; i++) await b.schedule(ok);
    const per = ((performance.now() - s) / n) * 1000;
    const stats = await admin.info('commandstats');
    const counted = [...stats.matchAll(/cmdstat_(\w+):calls=(\d+)/g)].filter((m) => m[1] !== 'config' && m[1] !== 'info');
    const calls = counted.reduce((sum, m) => sum + Number(m[2]), 0);
    const scripts = counted.filter((m) => m[1] === 'evalsha' || m[1] === 'eval').reduce((sum, m) => sum + Number(m[2]), 0);
    console.log(`${'bottleneck (ioredis) schedule(), one at a time'.padEnd(64)} ${per.toFixed(0)} µs/call, ${(scripts / n).toFixed(1)} scripts/call running ${((calls - scripts) / n).toFixed(1)} commands`);
    await b.disconnect(false);

    const g = new GlobalRateLimiter('m', { requestsPerSecond: 1e6, burst: 1e6, scope: 'global' }, { redis: server.url });
    while (!g.connected) await new Promise((r) => setTimeout(r, 10));
    await admin.config('RESETSTAT');
    const s2 = performance.now();
    for (let i = 0; i < n; i++) await g.check(req);
    const per2 = ((performance.now() - s2) / n) * 1000;
    const stats2 = await admin.info('commandstats');
    const counted2 = [...stats2.matchAll(/cmdstat_(\w+):calls=(\d+)/g)].filter((m) => m[1] !== 'config' && m[1] !== 'info');
    const calls2 = counted2.reduce((sum, m) => sum + Number(m[2]), 0);
    const scripts2 = counted2.filter((m) => m[1] === 'evalsha' || m[1] === 'eval').reduce((sum, m) => sum + Number(m[2]), 0);
    console.log(`${'GlobalRateLimiter check(), one at a time'.padEnd(64)} ${per2.toFixed(0)} µs/call, ${(scripts2 / n).toFixed(1)} scripts/call running ${((calls2 - scripts2) / n).toFixed(1)} commands`);
    const m = 10_000;
    const s3 = performance.now();
    await Promise.all(Array.from({ length: m }, () => g.check(req)));
    console.log(`${`GlobalRateLimiter check(), ${m} at once: throughput`.padEnd(64)} ${((m / (performance.now() - s3)) * 1000).toFixed(0)} decisions/s`);
    await g.close();
  } finally {
    admin.disconnect();
    await server.stop();
  }
}
process.exit(0);
