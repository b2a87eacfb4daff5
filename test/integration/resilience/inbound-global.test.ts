/**
 * The server-side rate limit (`side: server`) with `scope: global`: the
 * replicas of a service share one bucket in Redis, as callers do for the
 * client-side limit; with Redis gone each replica falls back to its own
 * local bucket, and says so in enmesh_rate_limit_fallbacks_total.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { init, type Mesh } from '../../../src/index.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';
import { redisAvailable, startRedis, type RedisServer } from './redis-server.ts';

const REPLICA = fileURLToPath(new URL('./inbound-global-replica.ts', import.meta.url));

describe.skipIf(!redisAvailable())('server-side global rate limit', () => {
  let redis: RedisServer;
  let file: MeshFile;
  let mesh: Mesh;
  let server: http.Server;
  let child: ChildProcess;
  let ports: number[];

  beforeAll(async () => {
    redis = await startRedis();
    // Refill is negligible during the test (one token every 100 s): what passes is the shared burst.
    file = await createMeshFile(`
services:
  ratings:
    protocol: http
    port: 9080
    rateLimit: { requestsPerSecond: 0.01, burst: 4, scope: global, side: server }
`);
    mesh = await init({ service: { name: 'ratings' }, config: file.path, redis: redis.url });
    server = http.createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    child = spawn(process.execPath, [REPLICA, file.path, redis.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c));
    const childPort = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c: Buffer) => {
        out += c;
        if (out.includes('\n')) resolve((JSON.parse(out) as { port: number }).port);
      });
      child.once('exit', (code) => reject(new Error(`replica exited with ${code}: ${err}`)));
    });
    const connected = (): boolean => (mesh.policies() as { inbound: { rateLimit: { connected?: boolean } } }).inbound.rateLimit.connected === true;
    const until = Date.now() + 10_000;
    while (!connected() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    ports = [(server.address() as AddressInfo).port, childPort];
  });

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    server?.closeAllConnections();
    server?.close();
    await mesh?.close();
    await file?.remove();
    await redis?.stop();
  });

  /** `n` requests to each replica in turn; the statuses in order. */
  async function alternate(n: number): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) {
      for (const port of ports) {
        const res = await request(`http://127.0.0.1:${port}/`);
        await res.body.dump();
        statuses.push(res.statusCode);
      }
    }
    return statuses;
  }

  it('shares one bucket between the replicas, and falls back to a local one per replica without Redis', async () => {
    const shared = await alternate(5);
    expect(shared.filter((s) => s === 200)).toHaveLength(4); // the burst of 4, for both replicas together
    expect(shared.filter((s) => s === 429)).toHaveLength(6);
    expect(await mesh.metrics()).toMatch(/enmesh_rate_limited_total\{destination_service="ratings",scope="global"\} 3\n/);

    await redis.kill();
    const started = performance.now();
    const local = await alternate(5);
    expect(performance.now() - started).toBeLessThan(3000); // decided at once, not held for Redis
    // Each replica's fallback bucket lets its own burst through.
    expect(local.filter((s) => s === 200).length).toBeGreaterThan(4);
    expect(await mesh.metrics()).toMatch(/enmesh_rate_limit_fallbacks_total\{destination_service="ratings"\} 5\n/);
  });
});
