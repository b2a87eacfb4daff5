/**
 * Scenario 1, control plane killed under load: an application calls three
 * services (static endpoints) at 200 requests/s in all while `enmesh
 * control-plane` is SIGKILLed and, after the outage, started again on the same
 * ports. During the outage a new instance of a fourth service (no static
 * endpoints) starts and tries to register.
 *
 * Pass: 0 failed requests; the client keeps its last config through the outage;
 * the instance registered during the outage is reachable from the client
 * ≤ 5 s after the restart. Default outage 20 s; ENMESH_CHAOS_FULL=1: 60 s.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBackend } from '../helpers/http-backend.ts';
import type { Backend } from '../helpers/http-backend.ts';
import { createMeshFile } from '../helpers/mesh-file.ts';
import type { MeshFile } from '../helpers/mesh-file.ts';
import { spawnControlPlane } from '../helpers/cp/control-plane-process.ts';
import type { ControlPlaneProcess } from '../helpers/cp/control-plane-process.ts';
import { spawnSdk } from '../helpers/cp/sdk-process.ts';
import type { LoadResult, SdkProcess } from '../helpers/cp/sdk-process.ts';
import { sleep, until } from '../helpers/cp/wait.ts';
import { report, scaled } from './lib/figures.ts';

const OUTAGE_MS = scaled(20_000, 60_000);
const TOTAL_RPS = 200;
const SERVICES = ['alpha', 'bravo', 'charlie'] as const;

const backends: Backend[] = [];
let file: MeshFile;
const cps: ControlPlaneProcess[] = [];
const sdks: SdkProcess[] = [];

function meshYaml(): string {
  const lines = ['mesh: { name: chaos }', 'services:'];
  SERVICES.forEach((name, i) => {
    lines.push(
      `  ${name}:`,
      '    protocol: http',
      '    port: 9080',
      `    endpoints: [{ address: "${backends[i]!.address}" }]`,
      '    routes:',
      '      - retries: { attempts: 2, perTryTimeout: 2s, on: [5xx, reset, connect-failure] }',
    );
  });
  // Instances of this one register themselves; it has no static endpoints.
  lines.push('  latecomer:', '    protocol: http', '    port: 9080');
  return `${lines.join('\n')}\n`;
}

beforeAll(async () => {
  for (const name of SERVICES) backends.push(await startBackend(name));
  file = await createMeshFile(meshYaml());
});

afterAll(async () => {
  await Promise.all(sdks.map((s) => s.kill()));
  await Promise.all(cps.map((c) => c.kill()));
  await file?.remove();
  await Promise.all(backends.map((b) => b.close()));
});

it(`serves 200 requests/s across 3 services with 0 failures through a ${OUTAGE_MS / 1000} s control-plane outage`, async () => {
  const first = await spawnControlPlane({ config: file.path });
  cps.push(first);
  const client = await spawnSdk({ controlPlane: [first.url], service: 'frontend' });
  sdks.push(client);
  await client.waitForConfig((c) => SERVICES.every((s) => c.services[s]?.endpoints.length === 1), 20_000);

  const runMs = OUTAGE_MS + 30_000;
  const perService = TOTAL_RPS / SERVICES.length;
  const loads = SERVICES.map((s) => client.load({ url: `http://${s}:9080/`, rps: perService, count: Math.ceil(perService * (runMs / 1000 + 10)), maxMs: runMs + 20_000 }));
  await sleep(2000);

  const configsBefore = client.configs.length;
  const versionBefore = client.latest()!.version;
  const errorsBefore = client.errors.length;
  const killedAt = Date.now();
  await first.kill('SIGKILL');
  await until(() => client.errors.slice(errorsBefore).some((e) => e.code === 'ENMESH_ERR_XDS_STREAM'), 5000, 'stream failure reported');

  // A new instance starts while no control plane is up: it can only register after the restart.
  await sleep(OUTAGE_MS / 3);
  const latecomer = await spawnSdk({ controlPlane: [first.url], service: 'latecomer', serve: 'latecomer' });
  sdks.push(latecomer);

  await sleep(Math.max(0, killedAt + OUTAGE_MS - Date.now()));
  const configsDuringOutage = client.configs.length - configsBefore;
  const statusDuringOutage = await client.status();

  const from = client.configs.length;
  const second = await spawnControlPlane({ config: file.path, xdsPort: first.xdsPort, adminPort: first.adminPort });
  cps.push(second);
  const restartedAt = Date.now();
  const reachable = await client.waitForConfig((c) => c.services.latecomer?.endpoints.length === 1, 30_000, from);
  const reachableMs = reachable.t - restartedAt;
  const probe = await client.load({ url: 'http://latecomer:9080/', count: 20, concurrency: 2, maxMs: 10_000 }).result;

  await sleep(5000);
  const results: LoadResult[] = [];
  for (const l of loads) await l.stop();
  for (const l of loads) results.push(await l.result);
  const sent = results.reduce((a, r) => a + r.sent, 0);
  const failed = results.reduce((a, r) => a + r.failed, 0);
  const outageMs = restartedAt - killedAt;

  report('1', {
    requests: sent,
    failed,
    achievedRps: Math.round(sent / ((Date.now() - killedAt + 2000) / 1000)),
    outageMs,
    configsDuringOutage,
    reachableAfterRestartMs: reachableMs,
    probeOk: probe.ok,
  });
  expect(results.flatMap((r) => r.failures)).toEqual([]);
  expect(failed).toBe(0);
  expect(sent).toBeGreaterThan((TOTAL_RPS * outageMs) / 1000);
  for (const [i, r] of results.entries()) expect(r.byBackend[SERVICES[i]!]).toBe(r.ok);
  // The last config stayed in force: no model change while the control plane was gone.
  expect(configsDuringOutage).toBe(0);
  expect(statusDuringOutage.version).toBe(versionBefore);
  // The instance registered during the outage is reachable within 5 s of the restart.
  expect(reachableMs).toBeLessThanOrEqual(5000);
  expect(probe.ok).toBe(20);
  expect(probe.byBackend).toEqual({ latecomer: 20 });
});
