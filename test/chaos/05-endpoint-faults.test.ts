/**
 * Scenario 5, endpoint crash, hang and slow tail under load: five endpoints of
 * one service (backends in processes of their own, one behind the fault
 * proxy) take 200 GET/s through the mesh while one is SIGKILLed, one is
 * frozen with SIGSTOP (connections accepted, nothing answered) and one turns
 * slow (150 ± 150 ms each way); then all three come back.
 *
 * Pass: the bad endpoints are ejected by outlier detection; 0 failed requests
 * (idempotent, with retries); every endpoint takes traffic again after it
 * returns. Default phases of 5 s; ENMESH_CHAOS_FULL=1: 20 s.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init } from '../../src/index.ts';
import type { Mesh } from '../../src/index.ts';
import { createMeshFile } from '../helpers/mesh-file.ts';
import type { MeshFile } from '../helpers/mesh-file.ts';
import { sleep } from '../helpers/cp/wait.ts';
import { startFaultProxy } from './lib/fault-proxy.ts';
import type { FaultProxy } from './lib/fault-proxy.ts';
import { report, scaled } from './lib/figures.ts';
import { byBackend, failures, openLoop } from './lib/open-loop.ts';
import { spawnBackend } from './lib/processes.ts';
import type { BackendProcess } from './lib/processes.ts';

const RPS = 200;
const PHASE_MS = scaled(5000, 20_000);
const NAMES = ['crash', 'hang', 'steady1', 'steady2', 'slow'] as const;

const backends = new Map<string, BackendProcess>();
let slowProxy: FaultProxy;
let mesh: Mesh | undefined;
let file: MeshFile;

beforeAll(async () => {
  for (const name of NAMES) backends.set(name, await spawnBackend(name));
  slowProxy = await startFaultProxy({ port: backends.get('slow')!.port });
  const address = (name: string): string => (name === 'slow' ? slowProxy.address : backends.get(name)!.address);
  file = await createMeshFile(`
services:
  pool:
    protocol: http
    port: 8080
    endpoints:
${NAMES.map((n) => `      - { address: "${address(n)}" }`).join('\n')}
    outlierDetection: { consecutive5xx: 3, consecutiveLocalOriginFailures: 2, interval: 500ms, baseEjectionTime: 3s, maxEjectionPercent: 60, panicThreshold: 30 }
    routes:
      - timeout: 8s
        retries: { attempts: 4, perTryTimeout: 250ms, on: [5xx, reset, connect-failure], backoff: { base: 5ms, max: 50ms }, budget: { percent: 50, minPerSecond: 20 } }
`);
  mesh = await init({ config: file.path });
});

afterAll(async () => {
  await mesh?.close();
  for (const b of backends.values()) await b.kill();
  await slowProxy?.close();
  await file?.remove();
});

interface OutlierView {
  ejected: { endpoint?: string; address?: string }[];
}

it('ejects crashed, hung and slow endpoints with 0 failed requests, and takes them back when they return', async () => {
  const m = mesh!;
  const ejectedNow = (): number => ((m.policies() as { services: Record<string, { outlierDetection?: OutlierView }> }).services.pool?.outlierDetection?.ejected.length ?? 0);
  let maxEjected = 0;
  const poll = setInterval(() => (maxEjected = Math.max(maxEjected, ejectedNow())), 50);
  const load = openLoop('http://pool:8080/item', RPS, PHASE_MS * 8 + 30_000);
  try {
    await sleep(PHASE_MS);
    await backends.get('crash')!.kill('SIGKILL');
    await sleep(PHASE_MS);
    backends.get('hang')!.child.kill('SIGSTOP');
    await sleep(PHASE_MS);
    slowProxy.set({ latencyMs: 150, jitterMs: 150 });
    await sleep(PHASE_MS);

    // Everything returns: the crashed one restarts on its port, the hung one continues, the slow one heals.
    backends.set('crash', await spawnBackend('crash', { port: backends.get('crash')!.port }));
    backends.get('hang')!.child.kill('SIGCONT');
    slowProxy.heal();
    await sleep(Math.max(PHASE_MS * 2, 10_000));
  } finally {
    clearInterval(poll);
  }
  const outcomes = await load.stop();
  const failed = failures(outcomes);
  const metrics = await m.metrics();
  const ejections = Number(/enmesh_outlier_ejections_total\{destination_service="pool"\} (\d+)/.exec(metrics)?.[1] ?? 0);
  const lastStart = Math.max(...outcomes.map((o) => o.t));
  const tail = byBackend(outcomes, lastStart - 3000);
  report('5', {
    requests: outcomes.length,
    failed: failed.length,
    ejections,
    maxEjectedAtOnce: maxEjected,
    endpointsServingAtEnd: Object.keys(tail).length,
    lastSecondsByBackend: JSON.stringify(tail),
  });
  expect(failed.slice(0, 10)).toEqual([]);
  expect(outcomes.length).toBeGreaterThan((RPS * PHASE_MS * 4) / 1000);
  // Crash, hang and slow tail were each ejected (at least three ejections, up to three at once).
  expect(ejections).toBeGreaterThanOrEqual(3);
  expect(maxEjected).toBeGreaterThanOrEqual(2);
  // Recovery: every endpoint serves again in the last 3 s.
  for (const name of NAMES) expect(tail[name], `${name} serves again`).toBeGreaterThan(0);
});
