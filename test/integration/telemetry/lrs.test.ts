/**
 * Load reporting end to end: the control plane names itself as LRS server in
 * its clusters, a real grpc-js-xds client (child process) reports its calls,
 * enmesh's own LoadReportClient reports with latency buckets, and the admin
 * API's live view adds them up per service and per edge.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness } from '../control-plane/harness.ts';
import type { Harness } from '../control-plane/harness.ts';
import { meshFixture } from '../../helpers/grpc-xds/fixture.ts';
import { startRatingsBackend } from '../../helpers/grpc-xds/server.ts';
import type { RatingsBackend } from '../../helpers/grpc-xds/server.ts';
import { spawnXdsClient } from '../../helpers/grpc-xds/spawn-client.ts';
import type { XdsClientRun } from '../../helpers/grpc-xds/spawn-client.ts';
import { LoadReportClient, LoadStore } from '../../../src/telemetry/load-reporter.ts';
import { buildNode } from '../../../src/xds/client/node.ts';
import { addLoadReportingService, LoadAggregator } from '../../../src/control-plane/lrs/index.ts';
import type { EdgeView, LoadView, ServiceLoadView } from '../../../src/control-plane/lrs/index.ts';

const INTERVAL_MS = 500;

let v1: RatingsBackend;
let v2: RatingsBackend;
let h: Harness;
const runs: XdsClientRun[] = [];
const reporters: LoadReportClient[] = [];

beforeAll(async () => {
  v1 = await startRatingsBackend('v1');
  v2 = await startRatingsBackend('v2');
  h = await startHarness(meshFixture('ratings.yaml', { v1: v1.port, v2: v2.port, w1: 50, w2: 50, lb: 'round-robin' }), { loadReportIntervalMs: INTERVAL_MS });
});

afterAll(async () => {
  for (const r of runs) r.stop();
  await Promise.allSettled(runs.map((r) => r.done));
  await Promise.allSettled(reporters.map((r) => r.close()));
  await h?.close();
  await v1?.close();
  await v2?.close();
});

type View = LoadView & { intervalMs: number };

/** Polls the admin API's load view until `pick` finds something. */
async function waitForView<T>(pick: (v: View) => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: View | undefined;
  while (Date.now() < deadline) {
    last = await h.admin<View>('/api/v1/load');
    const hit = pick(last);
    if (hit !== undefined) return hit;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} within ${timeoutMs} ms; last view: ${JSON.stringify(last)}`);
}

const edge = (v: View, source: string, destination: string): EdgeView | undefined =>
  v.edges.find((e) => e.source === source && e.destination === destination);

describe('load reporting (LRS)', () => {
  it("aggregates a grpc-js-xds client's reports into the per-service view", async () => {
    // The node id's first field names the client's service, as enmesh's SDK builds ids.
    const run = spawnXdsClient({ xdsPort: h.cp.xdsPort, nodeId: 'productpage~1~grpc', calls: 100_000, intervalMs: 5 });
    runs.push(run);
    const e = await waitForView((v) => {
      const x = edge(v, 'productpage', 'ratings');
      return x !== undefined && x.requests >= 100 ? x : undefined;
    }, 20_000, 'no productpage → ratings edge with 100 requests');
    run.stop();
    await run.done;

    expect(e.successRate).toBe(1);
    expect(e.requestsPerSecond).toBeGreaterThan(0);
    // grpc-js-xds reports no latency.
    expect(e.latency).toEqual({ meanMs: null, p50Ms: null, p99Ms: null });
    // Every request reported was served by a backend (allowing for the calls in flight).
    expect(e.requests).toBeLessThanOrEqual(v1.calls + v2.calls + 2);

    const view = await h.admin<View>('/api/v1/load');
    expect(view.intervalMs).toBe(INTERVAL_MS);
    const ratings = view.services.find((s) => s.service === 'ratings')!;
    // The 50/50 split sends load to both subsets' clusters.
    expect(ratings.clusters).toEqual(['outbound|50051|v1|ratings', 'outbound|50051|v2|ratings']);
    expect(h.cp.load.view().edges.some((x) => x.source === 'productpage')).toBe(true);
  });

  it("aggregates enmesh's own reports, with latency percentiles, beside grpc-js-xds ones", async () => {
    const store = new LoadStore();
    const client = new LoadReportClient({
      server: `127.0.0.1:${h.cp.xdsPort}`,
      node: buildNode({ id: 'reviews~2~sdk', cluster: 'reviews', zone: 'z' }, undefined, false),
      store,
    });
    reporters.push(client);
    const interval = new Promise<number>((resolve) => client.once('interval', resolve));
    client.start();
    expect(await interval).toBe(INTERVAL_MS);

    const v1Load = store.locality('outbound|50051|v1|ratings', { zone: 'z' });
    for (let i = 0; i < 100; i++) {
      v1Load.start();
      v1Load.end(i < 95, i < 90 ? 4 : 400);
    }
    const e = await waitForView((v) => {
      const x = edge(v, 'reviews', 'ratings');
      return x !== undefined && x.requests >= 100 ? x : undefined;
    }, 10_000, 'no reviews → ratings edge');
    expect(e.requests).toBe(100);
    expect(e.successRate).toBe(0.95);
    expect(e.latency.p50Ms).toBeGreaterThan(2.5);
    expect(e.latency.p50Ms).toBeLessThanOrEqual(5);
    expect(e.latency.p99Ms).toBeGreaterThan(250);
    expect(e.latency.p99Ms).toBeLessThanOrEqual(500);
    expect(e.latency.meanMs).toBeCloseTo((90 * 4 + 10 * 400) / 100, 3);

    const view = await h.admin<View>('/api/v1/load');
    const ratings = view.services.find((s: ServiceLoadView) => s.service === 'ratings')!;
    expect(ratings.requests).toBeGreaterThanOrEqual(100);
    expect(view.reporters.some((r) => r.nodeId === 'reviews~2~sdk' && r.client === 'enmesh')).toBe(true);

    // Load counted after the last report goes out on close.
    v1Load.start();
    v1Load.end(true, 1);
    await client.close();
    await waitForView((v) => ((edge(v, 'reviews', 'ratings')?.requests ?? 0) >= 101 ? true : undefined), 5000, 'the final report did not arrive');
  });

  it('reconnects after the LRS server went away and reports to the new one', async () => {
    const serve = async (port: number): Promise<{ server: grpc.Server; aggregator: LoadAggregator; port: number }> => {
      const server = new grpc.Server();
      const aggregator = new LoadAggregator();
      addLoadReportingService(server, { aggregator, intervalMs: 200 });
      const bound = await new Promise<number>((resolve, reject) =>
        server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err))),
      );
      return { server, aggregator, port: bound };
    };
    const first = await serve(0);
    const store = new LoadStore();
    const client = new LoadReportClient({
      server: `127.0.0.1:${first.port}`,
      node: buildNode({ id: 'details~3~sdk', cluster: 'details' }, undefined, false),
      store,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    reporters.push(client);
    const intervals: number[] = [];
    client.on('interval', (ms) => intervals.push(ms));
    client.start();
    const until = async (predicate: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(what);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until(() => intervals.length === 1, 'no first interval');
    first.server.forceShutdown();
    await until(() => client.intervalMs === undefined, 'the stream did not end');
    const second = await serve(first.port);
    try {
      await until(() => intervals.length === 2, 'no reconnection');
      const load = store.locality('outbound|9080||reviews');
      load.start();
      load.end(true, 2);
      await until(() => second.aggregator.view().edges.some((e) => e.source === 'details' && e.destination === 'reviews' && e.requests === 1), 'no report after reconnecting');
    } finally {
      await client.close();
      second.server.forceShutdown();
    }
  });
});
