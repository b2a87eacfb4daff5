/**
 * `rateLimit.scope: global` through the mesh with `init({ redis })`: the
 * bucket lives in a real Redis, and with Redis gone calls are decided by the
 * local fallback at once, never blocked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { init, type Mesh } from '../../../src/index.ts';
import { startBackend, type Backend } from '../../helpers/http-backend.ts';
import { runMany } from '../../helpers/clients.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';
import { redisAvailable, startRedis, type RedisServer } from './redis-server.ts';

describe.skipIf(!redisAvailable())('global rate limit through the mesh', () => {
  let redis: RedisServer;
  let backend: Backend;
  let file: MeshFile;
  let mesh: Mesh;

  beforeAll(async () => {
    redis = await startRedis();
    backend = await startBackend('api');
    file = await createMeshFile(`
services:
  api:
    protocol: http
    port: 8080
    endpoints: [{ address: ${backend.address} }]
    rateLimit: { requestsPerSecond: 10, burst: 5, scope: global }
`);
    mesh = await init({ config: file.path, redis: redis.url });
  });

  afterAll(async () => {
    await mesh?.close();
    await backend?.close();
    await file?.remove();
    await redis?.stop();
  });

  async function burst(n: number): Promise<number[]> {
    return runMany(n, n, async () => {
      const res = await request('http://api:8080/');
      await res.body.dump();
      return res.statusCode;
    });
  }

  it('shares the bucket in Redis, and falls back to the local limit when Redis is down', async () => {
    // The Redis client connects in the background; until it has, calls are decided locally.
    const connected = (): boolean => (mesh.policies() as { services: { api: { rateLimit: { connected: boolean } } } }).services.api.rateLimit.connected;
    const until = performance.now() + 5000;
    while (!connected() && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 600)); // the bucket refills from the decisions made locally meanwhile
    type Counters = { fallbacks: number; allowed: number; limited: number };
    const counters = (): Counters => (mesh.policies() as { services: { api: { rateLimit: { counters: Counters } } } }).services.api.rateLimit.counters;
    const before = { ...counters() };
    const statuses = await burst(30);
    const admitted = statuses.filter((s) => s === 200).length;
    // Decided by Redis: no fallback, and Redis's own counts match what callers saw.
    expect(counters().fallbacks).toBe(before.fallbacks);
    expect(counters().allowed - before.allowed).toBe(admitted);
    expect(admitted).toBeGreaterThanOrEqual(4);
    expect(admitted).toBeLessThanOrEqual(7); // the burst of 5, and at most a token refilled meanwhile
    const state = mesh.policies() as { services: { api: { rateLimit: { connected: boolean } } } };
    expect(state.services.api.rateLimit.connected).toBe(true);

    await redis.kill(); // an outage
    await new Promise((r) => setTimeout(r, 700)); // a few tokens refill locally meanwhile
    const started = performance.now();
    const during = await burst(30);
    expect(performance.now() - started).toBeLessThan(3000); // decided at once, not blocked on Redis
    const fallbackAdmitted = during.filter((s) => s === 200).length;
    expect(counters().fallbacks).toBeGreaterThan(before.fallbacks); // the outage is counted...
    expect(await mesh.metrics()).toMatch(/enmesh_rate_limit_fallbacks_total\{destination_service="api"\} [1-9]/); // ...and exported
    expect(fallbackAdmitted).toBeGreaterThan(0);
    expect(fallbackAdmitted).toBeLessThanOrEqual(12);
  });
});
