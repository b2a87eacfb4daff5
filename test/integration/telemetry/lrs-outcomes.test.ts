/**
 * What the SDK's load reports say about calls that did not fail at an
 * endpoint, with real backends and undici through the mesh: a hedged copy
 * that lost the race and a call the application aborted are neither
 * successes nor errors; calls the destination's limits refused are drops
 * (LRS counts circuit-breaker overflow so).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { MeshRuntime } from '../../../src/runtime/mesh-runtime.ts';
import { createMeshInterceptor } from '../../../src/transports/undici/interceptor.ts';
import { parseMeshYaml } from '../../../src/config/load.ts';
import { LoadStore, type ClusterStatsMessage } from '../../../src/telemetry/load-reporter.ts';

const servers: http.Server[] = [];
let slow: string;
/** Two endpoints where only the very first request is slow: the first try of a call, wherever it goes. */
let firstSlow: [string, string];
let firstTaken = false;
let runtime: MeshRuntime;
let agent: Agent;
let dispatcher: ReturnType<Agent['compose']>;

async function listen(delayMs: () => number): Promise<string> {
  const server = http.createServer((req, res) => {
    req.resume();
    const t = setTimeout(() => res.end('ok'), delayMs());
    res.on('close', () => clearTimeout(t));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  slow = await listen(() => 400);
  const once = (): number => (firstTaken ? 0 : ((firstTaken = true), 400));
  firstSlow = [await listen(once), await listen(once)];
  runtime = new MeshRuntime();
  runtime.setModel(
    parseMeshYaml(
      `
services:
  hedged:
    protocol: http
    port: 8080
    endpoints: [{ address: ${firstSlow[0]} }, { address: ${firstSlow[1]} }]
    routes:
      - name: default
        hedge: { delay: 30ms, maxAttempts: 2 }
  plain:
    protocol: http
    port: 8080
    endpoints: [{ address: ${slow} }]
  limited:
    protocol: http
    port: 8080
    connectionPool: { maxRequests: 1, maxPendingRequests: 1 }
    endpoints: [{ address: ${slow} }]
`,
      'mesh.yaml',
    ),
  );
  agent = new Agent();
  dispatcher = agent.compose(createMeshInterceptor(runtime));
});

afterAll(async () => {
  await agent?.close();
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
});

/** Totals of one cluster's report. */
function totals(stats: ClusterStatsMessage[], service: string) {
  const c = stats.find((s) => s.cluster_name.includes(service));
  const sum = (k: 'total_successful_requests' | 'total_error_requests' | 'total_requests_in_progress' | 'total_issued_requests'): number =>
    (c?.upstream_locality_stats ?? []).reduce((n, l) => n + Number(l[k]), 0);
  return {
    succeeded: sum('total_successful_requests'),
    errors: sum('total_error_requests'),
    inProgress: sum('total_requests_in_progress'),
    issued: sum('total_issued_requests'),
    dropped: Number(c?.total_dropped_requests ?? 0),
  };
}

it('counts neither a hedged copy that lost the race nor an aborted call as an error', async () => {
  runtime.load = new LoadStore();
  // The first try is slow; the copy sent after 30 ms to the other endpoint wins.
  const res = await request('http://hedged:8080/', { dispatcher });
  expect(res.statusCode).toBe(200);
  await res.body.text();
  await expect(request('http://plain:8080/', { dispatcher, signal: AbortSignal.timeout(50) })).rejects.toThrow();
  const stats = runtime.load.take();
  expect(totals(stats, 'hedged')).toEqual({ succeeded: 1, errors: 0, inProgress: 0, issued: 2, dropped: 0 });
  expect(totals(stats, 'plain')).toEqual({ succeeded: 0, errors: 0, inProgress: 0, issued: 1, dropped: 0 });
});

it('reports calls refused by the concurrency limit as drops', async () => {
  runtime.load = new LoadStore();
  const results = await Promise.all(
    Array.from({ length: 4 }, async () => {
      const res = await request('http://limited:8080/', { dispatcher });
      await res.body.text();
      return res.statusCode;
    }),
  );
  expect(results.filter((s) => s === 503)).toHaveLength(2);
  const t = totals(runtime.load.take(), 'limited');
  expect(t.dropped).toBe(2);
  expect(t.succeeded).toBe(2);
});
