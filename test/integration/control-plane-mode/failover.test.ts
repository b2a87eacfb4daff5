/**
 * Two control-plane replicas over one mesh.yaml: they compute the same
 * snapshot, and an application given both addresses fails over from the one
 * it uses (SIGKILLed under load) to the other without a failed call, and
 * takes later edits from the survivor.
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

let v1: Backend;
let v2: Backend;
let file: MeshFile;
let replicas: ControlPlaneProcess[] = [];
let sdk: SdkProcess | undefined;

const yaml = (w1: number, w2: number): string => reviewsYaml({ endpoints: { v1: v1.address, v2: v2.address }, split: [w1, w2] });

interface SnapshotReply {
  modelVersion: string;
  snapshots: Record<string, { version: string; typeVersions: Record<string, string>; resources: Record<string, string[]> }>;
}

beforeAll(async () => {
  v1 = await startBackend('v1');
  v2 = await startBackend('v2');
  file = await createMeshFile(yaml(100, 0));
  replicas = await Promise.all([spawnControlPlane({ config: file.path }), spawnControlPlane({ config: file.path })]);
});

afterAll(async () => {
  await sdk?.kill();
  await Promise.all(replicas.map((r) => r.kill()));
  await file?.remove();
  await v1?.close();
  await v2?.close();
});

it('replicas of one file serve the same snapshot version', async () => {
  const [a, b] = await Promise.all(replicas.map((r) => r.admin<SnapshotReply>('/api/v1/snapshot')));
  expect(a!.snapshots.enmesh?.version).toMatch(/^[0-9a-f]{16}$/);
  expect(b!.modelVersion).toBe(a!.modelVersion);
  expect(b!.snapshots.enmesh).toEqual(a!.snapshots.enmesh);
});

it('fails over to the other replica under load with no failed call, and takes edits from it', async () => {
  sdk = await spawnSdk({ controlPlane: replicas.map((r) => r.url), service: 'productpage' });
  const s = sdk;
  const mine = (ids: string[]): boolean => ids.some((id) => id.includes(`~${s.child.pid}~`));
  await s.waitForConfig((c) => c.services.reviews?.endpoints.length === 2, 15_000);

  const connected = await Promise.all(replicas.map(async (r) => mine(await connectedNodeIds(r))));
  expect(connected.filter(Boolean)).toHaveLength(1);
  const used = replicas[connected.indexOf(true)]!;
  const other = replicas[connected.indexOf(false)]!;

  const load = s.load({ url: 'http://reviews:9080/', count: 5000, rps: 100, maxMs: 40_000 });
  await sleep(1000);
  const configsBefore = s.configs.length;
  const killedAt = Date.now();
  await used.kill('SIGKILL');
  await until(async () => mine(await connectedNodeIds(other)), 10_000, 'client failed over to the other replica', 100);
  const failoverMs = Date.now() - killedAt;
  console.log(`[measure] client moved to the other replica ${failoverMs} ms after its replica was SIGKILLed`);
  // The first retry waits the initial backoff, 1 s ± 20 %.
  expect(failoverMs).toBeLessThan(3000);
  // Same file, same versions: the move changes nothing in the client's model.
  await sleep(300);
  expect(s.configs.length).toBe(configsBefore);

  const written = Date.now();
  await file.write(yaml(0, 100));
  const applied = await s.waitForConfig((c) => c.services.reviews?.routes[0]?.backends.map((b) => b.weight).join() === '0,100', 5000, configsBefore);
  console.log(`[measure] edit applied through the surviving replica ${applied.t - written} ms after the write`);
  await until(() => v2.seen.length > 0, 5000, 'traffic moved to v2');

  await sleep(500);
  await load.stop();
  const result = await load.result;
  expect(result.failures).toEqual([]);
  expect(result.failed).toBe(0);
  expect(result.byBackend.v1).toBeGreaterThan(100);
  expect(result.byBackend.v2).toBeGreaterThan(0);
});
