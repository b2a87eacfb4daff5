/**
 * The control plane down for 30 s under load: an application keeps calling a
 * service with static endpoints while `enmesh control-plane` is SIGKILLed and,
 * 30 s later, started again on the same ports. No call may fail, the client
 * must come back on its own, and an edit made after the restart must reach it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBackend } from '../../helpers/http-backend.ts';
import type { Backend } from '../../helpers/http-backend.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';
import { connectedNodeIds, spawnControlPlane } from '../../helpers/cp/control-plane-process.ts';
import type { ControlPlaneProcess } from '../../helpers/cp/control-plane-process.ts';
import { reviewsYaml } from '../../helpers/cp/reviews-yaml.ts';
import { spawnSdk } from '../../helpers/cp/sdk-process.ts';
import type { SdkProcess } from '../../helpers/cp/sdk-process.ts';
import { sleep, until } from '../../helpers/cp/wait.ts';

const OUTAGE_MS = 30_000;
let v1: Backend;
let v2: Backend;
let file: MeshFile;
const cps: ControlPlaneProcess[] = [];
let sdk: SdkProcess | undefined;

beforeAll(async () => {
  v1 = await startBackend('v1');
  v2 = await startBackend('v2');
  file = await createMeshFile(reviewsYaml({ endpoints: { v1: v1.address, v2: v2.address }, split: [100, 0] }));
});

afterAll(async () => {
  await sdk?.kill();
  await Promise.all(cps.map((c) => c.kill()));
  await file?.remove();
  await v1?.close();
  await v2?.close();
});

it('keeps serving for 30 s without a control plane, then reconnects and takes new config', { timeout: 120_000 }, async () => {
  const first = await spawnControlPlane({ config: file.path });
  cps.push(first);
  sdk = await spawnSdk({ controlPlane: [first.url], service: 'productpage' });
  const s = sdk;
  const mine = (ids: string[]): boolean => ids.some((id) => id.includes(`~${s.child.pid}~`));
  await s.waitForConfig((c) => c.services.reviews?.endpoints.length === 2, 15_000);
  expect(mine(await connectedNodeIds(first))).toBe(true);

  const load = s.load({ url: 'http://reviews:9080/', count: 10_000, rps: 100, maxMs: 90_000 });
  await sleep(1000);
  const configsBefore = s.configs.length;
  const errorsBefore = s.errors.length;
  const killedAt = Date.now();
  await first.kill('SIGKILL');
  // The SDK notices (a warning naming the stream), and keeps its model.
  await until(() => s.errors.slice(errorsBefore).some((e) => e.code === 'ENMESH_ERR_XDS_STREAM'), 5000, 'stream failure reported');
  await sleep(killedAt + OUTAGE_MS - Date.now());
  expect(s.configs.length).toBe(configsBefore);
  expect((await s.status()).version).toBe(s.latest()!.version);

  const second = await spawnControlPlane({ config: file.path, xdsPort: first.xdsPort, adminPort: first.adminPort });
  cps.push(second);
  const restartedAt = Date.now();
  // The client retries on gRPC's connection backoff (1 s × 1.6ⁿ, ±20 %): after 30 s down, its
  // tries fall about 26 s and 43 s after the kill (each ±20 %), so it is back within ~21 s.
  await until(async () => mine(await connectedNodeIds(second)), 30_000, 'client reconnected to the restarted control plane', 200);
  const reconnectMs = Date.now() - restartedAt;
  console.log(`[measure] after a ${OUTAGE_MS} ms outage the client reconnected ${reconnectMs} ms after the restart`);
  expect(reconnectMs).toBeLessThan(25_000);
  // Same file, same model: the reconnect itself changes nothing.
  expect(s.configs.length).toBe(configsBefore);

  const from = s.configs.length;
  const written = Date.now();
  await file.write(reviewsYaml({ endpoints: { v1: v1.address, v2: v2.address }, split: [0, 100] }));
  const applied = await s.waitForConfig((c) => c.services.reviews?.routes[0]?.backends.map((b) => b.weight).join() === '0,100', 5000, from);
  console.log(`[measure] edit after the restart applied ${applied.t - written} ms after the write`);
  await until(() => v2.seen.length > 0, 5000, 'traffic moved to v2');

  await load.stop();
  const result = await load.result;
  expect(result.failures).toEqual([]);
  expect(result.failed).toBe(0);
  // ~100/s over the whole run, outage included.
  expect(result.sent).toBeGreaterThan((OUTAGE_MS / 1000) * 100);
  expect(result.byBackend.v1).toBeGreaterThan(0);
  expect(result.byBackend.v2).toBeGreaterThan(0);
});
