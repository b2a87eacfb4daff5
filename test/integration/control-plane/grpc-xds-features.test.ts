/**
 * What a plain grpc-js-xds client (1.14.1, in a child process) applies of
 * what the control plane serves: method matching, route timeouts, fault
 * injection, max-requests circuit breaking and outlier detection. Each test
 * counts which backend answered each call, and with which status.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshFixture } from '../../helpers/grpc-xds/fixture.ts';
import { startRatingsBackend } from '../../helpers/grpc-xds/server.ts';
import type { RatingsBackend } from '../../helpers/grpc-xds/server.ts';
import { spawnXdsClient } from '../../helpers/grpc-xds/spawn-client.ts';
import type { CallLine, XdsClientOptions, XdsClientRun } from '../../helpers/grpc-xds/spawn-client.ts';
import { clientView as viewOf, expectEveryTypeAcked, startHarness, until } from './harness.ts';
import type { Harness } from './harness.ts';

let v1: RatingsBackend;
let v2: RatingsBackend;
let bad: RatingsBackend;
let h: Harness;
const runs: XdsClientRun[] = [];

const features = (): string => meshFixture('ratings-features.yaml', { v1: v1.port, v2: v2.port });
const withOutlier = (outlier: string): string => meshFixture('ratings-outlier.yaml', { good: v1.port, bad: bad.port, outlier });

function client(nodeId: string, calls: number, options: Omit<XdsClientOptions, 'xdsPort' | 'nodeId' | 'calls'> = {}): XdsClientRun {
  const run = spawnXdsClient({ xdsPort: h.cp.xdsPort, nodeId, calls, ...options });
  runs.push(run);
  return run;
}

const codes = (lines: readonly CallLine[]): number[] => lines.map((l) => l.code);
const backends = (lines: readonly CallLine[]): (string | null)[] => lines.map((l) => l.backend);
/** Every call but the first, which also waited for xDS and the connection. */
const afterFirst = (lines: readonly CallLine[]): CallLine[] => lines.filter((l) => l.i > 0);

beforeAll(async () => {
  v1 = await startRatingsBackend('v1');
  v2 = await startRatingsBackend('v2');
  bad = await startRatingsBackend('bad', { failWith: grpc.status.UNAVAILABLE });
  h = await startHarness(meshFixture('ratings-features.yaml', { v1: v1.port, v2: v2.port }));
});

afterAll(async () => {
  for (const r of runs) r.stop();
  await Promise.allSettled(runs.map((r) => r.done));
  await h?.close();
  await Promise.allSettled([v1?.close(), v2?.close(), bad?.close()]);
});

describe('grpc-js-xds applies route features', () => {
  it('matches routes on the gRPC method: exactly Get → v1, the rest of the service by prefix → v2', async () => {
    await h.apply(features());
    // Paced, so the client is still connected when its view is read.
    const get = client('method-get', 40, { intervalMs: 25 });
    const list = client('method-list', 40, { method: 'List', intervalMs: 25 });
    await get.waitFor((l) => l.length >= 5, 15_000);
    expectEveryTypeAcked(await viewOf(h, 'method-get'));
    const [getLines, listLines] = await Promise.all([get.done, list.done]);
    expect(backends(getLines)).toEqual(Array(40).fill('v1'));
    expect(backends(listLines)).toEqual(Array(40).fill('v2'));
  });

  it('ends a call at the route timeout with DEADLINE_EXCEEDED when the backend is slow, and not when it is fast', async () => {
    const slow = client('timeout-slow', 6, { headers: { 'x-test': 'timeout', 'x-delay-ms': '1500' } });
    const fast = client('timeout-fast', 6, { headers: { 'x-test': 'timeout', 'x-delay-ms': '20' } });
    const [slowLines, fastLines] = await Promise.all([slow.done, fast.done]);
    expect(codes(slowLines)).toEqual(Array(6).fill(grpc.status.DEADLINE_EXCEEDED));
    // The route's 200 ms, not the call's own 5 s deadline nor the backend's 1.5 s.
    for (const l of afterFirst(slowLines)) {
      expect(l.ms).toBeGreaterThanOrEqual(190);
      expect(l.ms).toBeLessThan(900);
    }
    expect(codes(fastLines)).toEqual(Array(6).fill(grpc.status.OK));
  });

  it('aborts about the configured share of calls, with HTTP 503 mapped to UNAVAILABLE', async () => {
    const run = client('abort-half', 200, { headers: { 'x-test': 'abort-half' } });
    const lines = await run.done;
    expect(lines).toHaveLength(200);
    const failed = lines.filter((l) => l.code !== grpc.status.OK);
    // 50 % of 200: the standard deviation is about 7 calls, so 70..130 is over four of them either way.
    expect(failed.length).toBeGreaterThanOrEqual(70);
    expect(failed.length).toBeLessThanOrEqual(130);
    expect(new Set(failed.map((l) => l.code))).toEqual(new Set([grpc.status.UNAVAILABLE]));
    expect(new Set(failed.map((l) => l.details))).toEqual(new Set(['Fault injected']));
    expect(lines.filter((l) => l.code === grpc.status.OK).every((l) => l.backend === 'v1')).toBe(true);
  });

  it('maps an abort with HTTP 403 to PERMISSION_DENIED, on every call, without reaching a backend', async () => {
    const before = v1.calls;
    const lines = await client('abort-forbidden', 10, { headers: { 'x-test': 'abort-forbidden' } }).done;
    expect(codes(lines)).toEqual(Array(10).fill(grpc.status.PERMISSION_DENIED));
    expect(v1.calls).toBe(before);
  });

  it('delays every call by the fault delay', async () => {
    const delayed = client('delay', 6, { headers: { 'x-test': 'delay' } });
    const plain = client('no-delay', 6);
    const [delayedLines, plainLines] = await Promise.all([delayed.done, plain.done]);
    expect(codes(delayedLines)).toEqual(Array(6).fill(grpc.status.OK));
    for (const l of afterFirst(delayedLines)) expect(l.ms).toBeGreaterThanOrEqual(295);
    for (const l of afterFirst(plainLines)) expect(l.ms).toBeLessThan(200);
  });
});

describe('grpc-js-xds applies cluster features', () => {
  it('fails calls beyond connectionPool.maxRequests fast with UNAVAILABLE while others are in flight', async () => {
    // One warm-up call, then ten calls 20 ms apart, each held 600 ms by the backend: three fit.
    const run = client('max-requests', 11, { concurrency: 10, staggerMs: 20, headers: { 'x-delay-ms': '600' } });
    const lines = afterFirst(await run.done);
    expect(lines).toHaveLength(10);
    const ok = lines.filter((l) => l.code === grpc.status.OK);
    const dropped = lines.filter((l) => l.code !== grpc.status.OK);
    expect(ok.map((l) => l.i).sort((a, b) => a - b)).toEqual([1, 2, 3]);
    expect(ok.every((l) => l.backend === 'v1' && l.ms >= 590)).toBe(true);
    expect(dropped).toHaveLength(7);
    for (const l of dropped) {
      expect(l.code).toBe(grpc.status.UNAVAILABLE);
      expect(l.details).toContain('dropped');
      expect(l.ms).toBeLessThan(200);
    }
  });

  it('ejects a backend that fails every call, by success rate: it then gets no traffic while ejected', async () => {
    await h.apply(withOutlier('{ interval: 300ms, baseEjectionTime: 30s, maxEjectionPercent: 50, successRate: { minimumHosts: 2, requestVolume: 5, stdevFactor: 0.5 } }'));
    const badBefore = bad.calls;
    const run = client('outlier-success-rate', 1500, { intervalMs: 2 });
    await run.waitFor((l) => l.length >= 20, 15_000);
    const view = await viewOf(h, 'outlier-success-rate');
    expectEveryTypeAcked(view);
    expect(view.degradations.some((d) => d.includes('consecutive-failure ejection'))).toBe(true);
    // Ejected: 40 successes in a row (each had even odds of reaching `bad` before).
    const lastFailure = (lines: readonly CallLine[]): number => lines.findLastIndex((l) => l.code !== grpc.status.OK);
    await run.waitFor((l) => l.length - 1 - lastFailure(l) >= 40, 10_000);
    const badWhileEjected = bad.calls;
    const mark = run.lines.length;
    await run.waitFor((l) => l.length >= mark + 150, 10_000);
    run.stop();
    const lines = await run.done;
    expect(bad.calls).toBe(badWhileEjected);
    expect(backends(lines.slice(mark))).toEqual(Array(lines.length - mark).fill('v1'));
    // Before the ejection the broken backend did get calls, and they failed.
    expect(badWhileEjected).toBeGreaterThan(badBefore);
    expect(lines.some((l) => l.code === grpc.status.UNAVAILABLE)).toBe(true);
  });

  it('does not eject on consecutive failures alone (gRPC has no such ejection): the broken backend keeps its share', async () => {
    await h.apply(withOutlier('{ consecutive5xx: 2, interval: 300ms, baseEjectionTime: 30s, maxEjectionPercent: 50 }'));
    const run = client('outlier-consecutive', 1500, { intervalMs: 2 });
    await run.waitFor((l) => l.length >= 20, 15_000);
    const view = await viewOf(h, 'outlier-consecutive');
    expectEveryTypeAcked(view);
    expect(view.degradations.some((d) => d.includes('outlierDetection (gRPC ejects on success rate'))).toBe(true);
    // Several intervals pass; round-robin still sends every other call to the broken backend.
    const start = run.lines.length;
    await until(() => run.lines.length >= start + 300, 10_000, 'no 300 calls');
    run.stop();
    const late = (await run.done).slice(start);
    const failedShare = late.filter((l) => l.code === grpc.status.UNAVAILABLE).length / late.length;
    expect(failedShare).toBeGreaterThan(0.4);
    expect(failedShare).toBeLessThan(0.6);
  });
});
