/**
 * Scenario 7, retry storm: a backend answering 503 to everything at 200
 * requests/s, through a route that may retry each request 3 times. The retry
 * budget must keep upstream attempts within about 1.2× the offered load.
 * Full scale in every run (30 s), on a cold route and on one that was carrying
 * its normal load before (see docs/reliability.md for what the budget grants
 * beyond the 20 % in each case).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { request } from 'undici';
import { init } from '../../src/index.ts';
import type { Mesh } from '../../src/index.ts';
import { startBackend } from '../helpers/http-backend.ts';
import type { Backend } from '../helpers/http-backend.ts';
import { createMeshFile } from '../helpers/mesh-file.ts';
import type { MeshFile } from '../helpers/mesh-file.ts';
import { report } from './lib/figures.ts';

const RPS = 200;
const SECONDS = 30;

let backend: Backend;
let mesh: Mesh;
let file: MeshFile;

beforeAll(async () => {
  backend = await startBackend('failing');
  file = await createMeshFile(`
services:
  flaky:
    protocol: http
    port: 8080
    endpoints: [{ address: ${backend.address} }]
    routes:
      - retries: { attempts: 3, on: [5xx, reset, connect-failure], backoff: { base: 5ms, max: 20ms }, budget: { percent: 20, minPerSecond: 10 } }
`);
  mesh = await init({ config: file.path });
});

afterAll(async () => {
  await mesh?.close();
  await backend?.close();
  await file?.remove();
});

interface Storm {
  readonly offered: number;
  readonly attempts: number;
  readonly achievedRps: number;
  readonly statuses: ReadonlyMap<number, number>;
}

/** `seconds` of open-loop load at RPS (request i due at start + i / RPS), bounded in count and time; counts upstream attempts. */
async function drive(seconds: number, path: string): Promise<Storm> {
  const offered = RPS * seconds;
  const statuses = new Map<number, number>();
  const pending: Promise<void>[] = [];
  const seenBefore = backend.seen.length;
  const started = performance.now();
  for (let i = 0; i < offered && performance.now() - started < (seconds + 20) * 1000; i++) {
    const wait = started + (i * 1000) / RPS - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      request(`http://flaky:8080${path}`, { headersTimeout: 10_000 }).then(
        async (r) => {
          await r.body.dump();
          statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
        },
        () => void statuses.set(0, (statuses.get(0) ?? 0) + 1),
      ),
    );
  }
  await Promise.all(pending);
  return { offered, attempts: backend.seen.length - seenBefore, achievedRps: Math.round(offered / ((performance.now() - started) / 1000)), statuses };
}

it(`bounds upstream attempts by the retry budget: 100 % 503 at ${RPS} requests/s for ${SECONDS} s`, async () => {
  // A storm on a route with no traffic before it (a fresh retry budget).
  backend.failAll(503);
  const cold = await drive(SECONDS, '/cold');
  const coldRatio = cold.attempts / cold.offered;

  // The route carries its normal load for 5 s, then the backend starts failing everything. The
  // budget counts requests over a sliding 10 s window, so the healthy requests of the last 10 s
  // fund retries too: up to 20 % of them come on top of the storm's own 20 %.
  await mesh.close();
  mesh = await init({ config: file.path });
  backend.reset();
  const warm = await drive(5, '/warm');
  backend.failAll(503);
  const storm = await drive(SECONDS, '/storm');
  const stormRatio = storm.attempts / storm.offered;
  const inUseRatio = (warm.attempts + storm.attempts) / (warm.offered + storm.offered);

  report('7', {
    offered: cold.offered,
    seconds: SECONDS,
    achievedRps: cold.achievedRps,
    attempts: cold.attempts,
    ratio: coldRatio,
    status503: cold.statuses.get(503) ?? 0,
    afterHealthyOffered: storm.offered,
    afterHealthyAttempts: storm.attempts,
    afterHealthyRatio: stormRatio,
    ratioIncludingHealthy: inUseRatio,
  });
  // Every request got the backend's answer (no local error), and retries happened...
  expect(cold.statuses.get(503)).toBe(cold.offered);
  expect(storm.statuses.get(503)).toBe(storm.offered);
  expect(warm.statuses.get(200)).toBe(warm.offered);
  expect(warm.attempts).toBe(warm.offered);
  expect(cold.attempts).toBeGreaterThan(1.1 * cold.offered);
  expect(storm.attempts).toBeGreaterThan(1.1 * storm.offered);
  // ...within the 1.2x on the cold route (without a budget it would be 4x)...
  expect(coldRatio).toBeLessThanOrEqual(1.2);
  // ...and, after healthy traffic, within 1.2x over the whole time the route was in use: the
  // storm alone may go above it by the 20 % the healthy requests earned.
  expect(inUseRatio).toBeLessThanOrEqual(1.2);
  expect(storm.attempts).toBeLessThanOrEqual(1.2 * storm.offered + 0.2 * warm.offered);
});
