/**
 * Reporters coming and going, over real gRPC: a grpc-js-xds client (child
 * process) that stops leaves the live rates at once, and an SDK whose LRS
 * stream is broken and reopened is counted once, not twice.
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
import type { EdgeView, LoadView } from '../../../src/control-plane/lrs/index.ts';

let v1: RatingsBackend;
let v2: RatingsBackend;
let h: Harness;
const runs: XdsClientRun[] = [];

beforeAll(async () => {
  v1 = await startRatingsBackend('v1');
  v2 = await startRatingsBackend('v2');
  h = await startHarness(meshFixture('ratings.yaml', { v1: v1.port, v2: v2.port, w1: 50, w2: 50, lb: 'round-robin' }), { loadReportIntervalMs: 300 });
});

afterAll(async () => {
  for (const r of runs) r.stop();
  await Promise.allSettled(runs.map((r) => r.done));
  await h?.close();
  await v1?.close();
  await v2?.close();
});

async function waitFor<T>(read: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const hit = await read();
    if (hit !== undefined) return hit;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} within ${timeoutMs} ms`);
}

const edge = (v: LoadView, source: string, destination: string): EdgeView | undefined => v.edges.find((e) => e.source === source && e.destination === destination);

describe('LRS reporters that go away', () => {
  it("drops a stopped grpc-js-xds client's rate and in-flight count at once, keeping what it reported", async () => {
    const run = spawnXdsClient({ xdsPort: h.cp.xdsPort, nodeId: 'checkout~1~grpc', calls: 1_000_000, intervalMs: 5 });
    runs.push(run);
    const live = await waitFor(async () => {
      const v = await h.admin<LoadView>('/api/v1/load');
      const e = edge(v, 'checkout', 'ratings');
      return e !== undefined && e.requests >= 50 && e.requestsPerSecond > 0 ? e : undefined;
    }, 'no live checkout → ratings edge');
    expect(live.successRate).toBe(1);
    run.stop();
    await run.done;
    // The stream ends with the process: within a second or so, not a window (60 s) later.
    const gone = await waitFor(async () => {
      const v = await h.admin<LoadView>('/api/v1/load');
      const e = edge(v, 'checkout', 'ratings');
      return v.reporters.every((r) => r.nodeId !== 'checkout~1~grpc') && e?.requestsPerSecond === 0 ? { v, e } : undefined;
    }, 'the stopped client still counted', 3000);
    expect(gone.e.inProgress).toBe(0);
    expect(gone.e.requests).toBeGreaterThanOrEqual(live.requests);
    expect(gone.v.services.find((s) => s.service === 'ratings')?.requestsPerSecond).toBe(0);
  });

  it('counts an SDK whose stream broke and reopened once, not twice', async () => {
    const server = new grpc.Server();
    const aggregator = new LoadAggregator();
    const service = addLoadReportingService(server, { aggregator, intervalMs: 100 });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err))),
    );
    const store = new LoadStore();
    const client = new LoadReportClient({ server: `127.0.0.1:${port}`, node: buildNode({ id: 'details~9~sdk', cluster: 'details' }, undefined, false), store, backoff: { initialMs: 20, maxMs: 50 } });
    const intervals: number[] = [];
    client.on('interval', (ms) => intervals.push(ms));
    client.start();
    // A steady load, as a clock counts it: the rate is the same before and after.
    const load = store.locality('outbound|9080||reviews');
    let last = performance.now();
    let owed = 0;
    const traffic = setInterval(() => {
      const now = performance.now();
      owed += (now - last) * 0.5; // 500 requests per second
      last = now;
      for (; owed >= 1; owed--) {
        load.start();
        load.end(true, 1);
      }
    }, 10);
    const rate = (): number => edge(aggregator.view(), 'details', 'reviews')?.requestsPerSecond ?? 0;
    try {
      await waitFor(() => (aggregator.view().edges.length > 0 && (edge(aggregator.view(), 'details', 'reviews')?.requests ?? 0) > 200 ? true : undefined), 'no reports');
      const before = rate();
      expect(before).toBeGreaterThan(350);
      expect(before).toBeLessThan(650);
      // The server ends every stream; the client opens a new one and reports on.
      service.close();
      await waitFor(() => (intervals.length >= 2 ? true : undefined), 'no second stream');
      await new Promise((r) => setTimeout(r, 500));
      const after = rate();
      expect(aggregator.view().reporters).toHaveLength(1);
      expect(after).toBeGreaterThan(before * 0.7);
      expect(after).toBeLessThan(before * 1.3);
    } finally {
      clearInterval(traffic);
      await client.close();
      server.forceShutdown();
    }
  });
});
