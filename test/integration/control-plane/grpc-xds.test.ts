/**
 * The control plane serving a real grpc-js-xds client (in a child process):
 * what it serves must be accepted (no NACK) and must steer real calls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meshFixture } from '../../helpers/grpc-xds/fixture.ts';
import { startRatingsBackend } from '../../helpers/grpc-xds/server.ts';
import type { RatingsBackend } from '../../helpers/grpc-xds/server.ts';
import { spawnXdsClient } from '../../helpers/grpc-xds/spawn-client.ts';
import type { CallLine, XdsClientRun } from '../../helpers/grpc-xds/spawn-client.ts';
import { clientView as viewOf, expectEveryTypeAcked, startHarness } from './harness.ts';
import type { Harness } from './harness.ts';

let v1: RatingsBackend;
let v2: RatingsBackend;
let h: Harness;
const runs: XdsClientRun[] = [];

const ratings = (w1: number, w2: number, lb = 'round-robin'): string =>
  meshFixture('ratings.yaml', { v1: v1.port, v2: v2.port, w1, w2, lb });

function client(nodeId: string, calls: number, options: { intervalMs?: number; headers?: Record<string, string> } = {}): XdsClientRun {
  const run = spawnXdsClient({ xdsPort: h.cp.xdsPort, nodeId, calls, ...options });
  runs.push(run);
  return run;
}

const ok = (lines: readonly CallLine[]): number => lines.filter((l) => l.code === 0).length;

beforeAll(async () => {
  v1 = await startRatingsBackend('v1');
  v2 = await startRatingsBackend('v2');
  h = await startHarness(ratings(80, 20));
});

afterAll(async () => {
  for (const r of runs) r.stop();
  await Promise.allSettled(runs.map((r) => r.done));
  await h?.close();
  await v1?.close();
  await v2?.close();
});

describe('control plane → grpc-js-xds', () => {
  it('splits 80/20 within ±5 % over 500 calls, with every type ACKed', async () => {
    await h.apply(ratings(80, 20));
    const run = client('split', 500);
    await run.waitFor((l) => l.length >= 20, 15_000);
    expectEveryTypeAcked(await viewOf(h, 'split'));
    const lines = await run.done;
    expect(lines).toHaveLength(500);
    expect(ok(lines)).toBe(500);
    const share = lines.filter((l) => l.backend === 'v2').length / lines.length;
    expect(share).toBeGreaterThanOrEqual(0.15);
    expect(share).toBeLessThanOrEqual(0.25);
  });

  it('routes a request with the matching header to v2', async () => {
    const run = client('header', 40, { headers: { 'x-version': 'v2' } });
    const lines = await run.done;
    expect(lines.map((l) => l.backend)).toEqual(Array(40).fill('v2'));
  });

  it('retries a call whose first attempt fails with UNAVAILABLE', async () => {
    const run = client('retry', 30, { headers: { 'x-fail-first': '1' } });
    const lines = await run.done;
    expect(ok(lines)).toBe(30);
    expect(lines.every((l) => l.attempt === 2)).toBe(true);
  });

  it('delivers a weight change in the file to a running client in under a second', async () => {
    await h.apply(ratings(1000, 1));
    const run = client('live-edit', 600, { intervalMs: 5 });
    await run.waitFor((l) => l.length >= 20, 15_000);
    expect(run.lines.filter((l) => l.backend === 'v2').length).toBeLessThan(3);
    const editedAt = Date.now();
    await h.file.write(ratings(1, 1000));
    // Switched: ten calls in a row on v2 (a v1 answer now has odds of 1 in 1001).
    const switchedAt = (lines: readonly CallLine[]): number | undefined => {
      for (let i = 0; i + 10 <= lines.length; i++) {
        if (lines[i]!.t >= editedAt && lines.slice(i, i + 10).every((l) => l.backend === 'v2')) return lines[i]!.t;
      }
      return undefined;
    };
    await run.waitFor((l) => switchedAt(l) !== undefined, 3000);
    expect(switchedAt(run.lines)! - editedAt).toBeLessThan(1000);
    run.stop();
  });

  it('removes clusters only after the routes left them: no call fails while subsets go away', async () => {
    await h.apply(ratings(50, 50));
    const run = client('make-before-break', 2000, { intervalMs: 1 });
    await run.waitFor((l) => l.length >= 30, 15_000);
    const editedAt = Date.now();
    await h.apply(meshFixture('ratings-plain.yaml', { v1: v1.port, v2: v2.port }));
    await run.waitFor((l) => l.filter((x) => x.t > editedAt + 300).length >= 50, 5000);
    run.stop();
    const lines = await run.done;
    expect(lines.filter((l) => l.code !== 0)).toEqual([]);
  });

  it('serves ring-hash, accepted: one hash key always reaches the same backend', async () => {
    await h.apply(meshFixture('ratings-ring-hash.yaml', { v1: v1.port, v2: v2.port }));
    const run = client('ring-hash', 200, { intervalMs: 2, headers: { 'x-user': 'alice' } });
    await run.waitFor((l) => l.length >= 20, 15_000);
    expectEveryTypeAcked(await viewOf(h, 'ring-hash'));
    run.stop();
    const lines = await run.done;
    expect(ok(lines)).toBe(lines.length);
    expect(new Set(lines.map((l) => l.backend)).size).toBe(1);
  });

  it('serves least-request degraded to round-robin, without a NACK, and lists the degradation', async () => {
    await h.apply(ratings(1, 1, 'least-request'));
    const run = client('least-request', 200, { intervalMs: 2 });
    await run.waitFor((l) => l.length >= 20, 15_000);
    const view = await viewOf(h, 'least-request');
    expectEveryTypeAcked(view);
    expect(view.profile).toBe('grpc-xds');
    expect(view.degradations.some((d) => d.includes('least-request') && d.includes('ROUND_ROBIN'))).toBe(true);
    run.stop();
    const lines = await run.done;
    expect(ok(lines)).toBe(lines.length);
    expect(new Set(lines.map((l) => l.backend))).toEqual(new Set(['v1', 'v2']));
  });
});
