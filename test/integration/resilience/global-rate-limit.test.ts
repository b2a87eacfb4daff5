/**
 * The global rate limit against a real redis-server: three processes sharing
 * one limit admit the configured rate together, and a Redis outage falls
 * back to the local limit (counted) instead of failing or stalling requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GlobalRateLimiter } from '../../../src/resilience/global-rate-limiter.ts';
import { redisAvailable, startRedis, type RedisServer } from './redis-server.ts';

const WORKER = fileURLToPath(new URL('./global-worker.ts', import.meta.url));
const req = { path: '/', header: () => undefined };

interface WorkerResult {
  offered: number;
  allowed: number;
  counters: { redisErrors: number; fallbacks: number };
}

function runWorker(args: string[]): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`worker exited with ${code}: ${err}`));
      else resolve(JSON.parse(out.trim()) as WorkerResult);
    });
  });
}

/** Offers `rate` requests/s for `ms`, open loop; returns the decisions (0 = admitted) with their offsets. */
async function offer(check: () => number | Promise<number>, rate: number, ms: number): Promise<{ at: number; wait: number }[]> {
  const decisions: Promise<{ at: number; wait: number }>[] = [];
  const began = performance.now();
  const total = Math.floor((rate * ms) / 1000);
  for (let i = 0; i < total; i++) {
    const due = began + (i * 1000) / rate;
    const delay = due - performance.now();
    if (delay > 1) await new Promise((r) => setTimeout(r, delay));
    if (performance.now() - began > ms + 2_000) break;
    const at = performance.now() - began;
    decisions.push(Promise.resolve(check()).then((wait) => ({ at, wait })));
  }
  return Promise.all(decisions);
}

describe.skipIf(!redisAvailable())('global rate limit (Redis)', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('holds one limit across three processes within ±10 %', async () => {
    const limit = 150;
    const burst = 15;
    const seconds = 6;
    const startAt = Date.now() + 1_500; // time for the workers to start and connect
    const results = await Promise.all([0, 1, 2].map(() => runWorker([redis.url, String(startAt), '120', String(seconds), String(limit), String(burst)])));
    const allowed = results.reduce((s, r) => s + r.allowed, 0);
    const offered = results.reduce((s, r) => s + r.offered, 0);
    const expected = limit * seconds + burst;
    expect(offered).toBeGreaterThan(2 * expected); // the limit was really under pressure
    expect(Math.abs(allowed - expected) / expected).toBeLessThan(0.1);
    for (const r of results) {
      // A rare late answer (a busy shared machine) is decided locally; that must stay rare.
      expect(r.counters.redisErrors).toBeLessThan(r.offered / 100);
      // Tokens go to whichever replica asks first after a refill, so shares differ; each gets some.
      expect(r.allowed).toBeGreaterThan(0);
    }
  });

  it('falls back to the local limit when Redis dies, counts the errors, and returns to Redis', async () => {
    const limiter = new GlobalRateLimiter('fallback', { requestsPerSecond: 100, burst: 10, scope: 'global' }, { redis: redis.url });
    try {
      while (!limiter.connected) await new Promise((r) => setTimeout(r, 10));
      const killAt = 1_500;
      const run = offer(() => limiter.check(req), 300, 3_000);
      await new Promise((r) => setTimeout(r, killAt));
      await redis.kill();
      const decisions = await run; // every decision resolved: nothing stalled on the dead Redis
      expect(decisions.length).toBe(900);
      expect(limiter.counters.redisErrors + limiter.counters.connectionErrors).toBeGreaterThan(0);
      expect(limiter.counters.fallbacks).toBeGreaterThan(0);
      expect(limiter.connected).toBe(false);

      // After the outage the local bucket (100/s, burst 10) decided: it still limits.
      const after = decisions.filter((d) => d.at > killAt + 100);
      const seconds = (3_000 - killAt - 100) / 1000;
      const admitted = after.filter((d) => d.wait === 0).length;
      const expected = 100 * seconds + 10;
      expect(Math.abs(admitted - expected) / expected).toBeLessThan(0.15);
      expect(after.filter((d) => d.wait > 0).length).toBeGreaterThan(after.length / 2);

      await redis.restart();
      const deadline = Date.now() + 15_000;
      while (!limiter.connected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(limiter.connected).toBe(true);
      const fallbacks = limiter.counters.fallbacks;
      expect(await limiter.check(req)).toBe(0);
      expect(limiter.counters.fallbacks).toBe(fallbacks);
    } finally {
      await limiter.close();
    }
  });

  it('decides locally at once while Redis cannot be reached', async () => {
    const limiter = new GlobalRateLimiter('down', { requestsPerSecond: 1, burst: 2, scope: 'global' }, { redis: 'redis://127.0.0.1:1' });
    try {
      expect([limiter.check(req), limiter.check(req), limiter.check(req)]).toEqual([0, 0, 1_000]);
      expect(limiter.counters.fallbacks).toBe(3);
    } finally {
      await limiter.close();
    }
  });
});
