/**
 * HTTP routing driven by the control plane, end to end: `enmesh control-plane`
 * (a child process) serves a mesh.yaml; an application process in
 * control-plane mode calls `http://reviews:9080/` by name. The split, a header
 * route and a live weight edit must all reach real backends, in both ADS
 * flavours.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../../helpers/http-backend.ts';
import type { Backend } from '../../helpers/http-backend.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';
import { spawnControlPlane } from '../../helpers/cp/control-plane-process.ts';
import type { ControlPlaneProcess } from '../../helpers/cp/control-plane-process.ts';
import { reviewsYaml } from '../../helpers/cp/reviews-yaml.ts';
import { spawnSdk } from '../../helpers/cp/sdk-process.ts';
import type { ConfigEvent, SdkProcess } from '../../helpers/cp/sdk-process.ts';

let v1: Backend;
let v2: Backend;
let file: MeshFile;
let cp: ControlPlaneProcess;
const sdks: SdkProcess[] = [];

const yaml = (w1: number, w2: number): string =>
  reviewsYaml({ endpoints: { v1: v1.address, v2: v2.address }, split: [w1, w2], canary: true });

/** Whether the model's default reviews route splits w1/w2 between v1 and v2. */
const splits = (w1: number, w2: number) => (c: ConfigEvent): boolean => {
  const route = c.services.reviews?.routes.find((r) => r.name === 'default');
  return route?.backends.map((b) => `${b.subset}:${b.weight}`).join(',') === `v1:${w1},v2:${w2}`;
};

beforeAll(async () => {
  v1 = await startBackend('v1');
  v2 = await startBackend('v2');
  file = await createMeshFile(yaml(80, 20));
  cp = await spawnControlPlane({ config: file.path });
});

afterAll(async () => {
  await Promise.all(sdks.map((s) => s.kill()));
  await cp?.kill();
  await file?.remove();
  await v1?.close();
  await v2?.close();
});

describe.each(['delta', 'sotw'] as const)('control-plane mode over %s ADS', (mode) => {
  it('splits 80/20, routes by header, and applies a weight edit in under a second', async () => {
    await file.write(yaml(80, 20));
    const sdk = await spawnSdk({ controlPlane: [cp.url], mode, service: 'productpage' });
    sdks.push(sdk);
    await sdk.waitForConfig(splits(80, 20), 15_000);
    expect(sdk.latest()!.services.reviews!.endpoints).toEqual([v1.address, v2.address]);
    const { clients } = await cp.admin<{ clients: { nodeId: string; kind: string }[] }>('/api/v1/clients');
    expect(clients.filter((c) => c.nodeId.includes(`~${sdk.child.pid}~`)).map((c) => c.kind)).toEqual([mode]);

    const before = await sdk.load({ url: 'http://reviews:9080/', count: 1000, concurrency: 8, maxMs: 30_000 }).result;
    expect(before.failures).toEqual([]);
    expect(before.ok).toBe(1000);
    const v2Before = (before.byBackend.v2 ?? 0) / before.ok;
    expect(v2Before).toBeGreaterThanOrEqual(0.15);
    expect(v2Before).toBeLessThanOrEqual(0.25);

    const canary = await sdk.load({ url: 'http://reviews:9080/api', count: 50, concurrency: 4, maxMs: 10_000, headers: { 'x-canary': 'true' } }).result;
    expect(canary.ok).toBe(50);
    expect(canary.byBackend).toEqual({ v2: 50 });

    const from = sdk.configs.length;
    const written = Date.now();
    await file.write(yaml(20, 80));
    const applied = await sdk.waitForConfig(splits(20, 80), 5000, from);
    const convergenceMs = applied.t - written;
    console.log(`[measure] ${mode}: mesh.yaml weight edit applied by the SDK ${convergenceMs} ms after the write`);
    expect(convergenceMs).toBeLessThan(1000);

    const after = await sdk.load({ url: 'http://reviews:9080/', count: 1000, concurrency: 8, maxMs: 30_000 }).result;
    expect(after.ok).toBe(1000);
    const v2After = (after.byBackend.v2 ?? 0) / after.ok;
    expect(v2After).toBeGreaterThanOrEqual(0.75);
    expect(v2After).toBeLessThanOrEqual(0.85);
    await sdk.kill();
  });
});
