/**
 * Self-registration end to end: `reviews` has no endpoints in mesh.yaml; its
 * instances announce themselves (`ENMESH_SERVICE` + the port they serve) and a
 * client finds them through the control plane. A SIGKILLed instance leaves the
 * client's endpoint set within the registration grace period, a gracefully
 * closed one at once, and the client's retried traffic never fails meanwhile.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';
import { spawnControlPlane } from '../../helpers/cp/control-plane-process.ts';
import type { ControlPlaneProcess } from '../../helpers/cp/control-plane-process.ts';
import { reviewsYaml } from '../../helpers/cp/reviews-yaml.ts';
import { spawnSdk } from '../../helpers/cp/sdk-process.ts';
import type { SdkProcess } from '../../helpers/cp/sdk-process.ts';
import { sleep } from '../../helpers/cp/wait.ts';

let file: MeshFile;
let cp: ControlPlaneProcess;
const procs: SdkProcess[] = [];

beforeAll(async () => {
  file = await createMeshFile(reviewsYaml({ retries: true }));
  cp = await spawnControlPlane({ config: file.path });
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill()));
  await cp?.kill();
  await file?.remove();
});

async function instance(name: string, version: string): Promise<SdkProcess> {
  const p = await spawnSdk({ controlPlane: [cp.url], service: 'reviews', labels: `version=${version}`, serve: name });
  procs.push(p);
  return p;
}

it('finds registered instances, drops a killed one within the grace period and a closed one at once, with no failed call', async () => {
  const [a, b, c] = await Promise.all([instance('a', 'v1'), instance('b', 'v2'), instance('c', 'v1')]);
  const client = await spawnSdk({ controlPlane: [cp.url], service: 'productpage' });
  procs.push(client);
  const addr = (p: SdkProcess): string => `127.0.0.1:${p.port}`;
  const all = [addr(a), addr(b), addr(c)];
  await client.waitForConfig((e) => all.every((x) => e.services.reviews?.endpoints.includes(x) === true), 15_000);
  const { services } = await cp.admin<{ services: { name: string; endpoints: { address: string; origin: string; labels: Record<string, string> }[] }[] }>('/api/v1/services');
  const reviews = services.find((s) => s.name === 'reviews')!;
  expect(reviews.endpoints.map((e) => [e.address, e.origin, e.labels.version]).sort()).toEqual(
    [[addr(a), 'registered', 'v1'], [addr(b), 'registered', 'v2'], [addr(c), 'registered', 'v1']].sort(),
  );

  const warm = await client.load({ url: 'http://reviews:9080/', count: 300, concurrency: 6, maxMs: 15_000 }).result;
  expect(warm.ok).toBe(300);
  expect(Object.keys(warm.byBackend).sort()).toEqual(['a', 'b', 'c']);

  // Steady traffic (100/s) across a SIGKILL and a graceful close.
  const steady = client.load({ url: 'http://reviews:9080/', count: 2000, rps: 100, maxMs: 20_000 });
  await sleep(1000);
  let from = client.configs.length;
  const killedAt = Date.now();
  await a.kill('SIGKILL');
  const withoutA = await client.waitForConfig((e) => e.services.reviews?.endpoints.includes(addr(a)) === false, 10_000, from);
  const removalMs = withoutA.t - killedAt;
  console.log(`[measure] SIGKILLed instance left the client's endpoints ${removalMs} ms after the kill`);
  expect(withoutA.services.reviews!.endpoints).toEqual(expect.arrayContaining([addr(b), addr(c)]));
  // The 2 s registration grace, plus the publish and the push.
  expect(removalMs).toBeGreaterThanOrEqual(1500);
  expect(removalMs).toBeLessThan(4000);

  await sleep(500);
  from = client.configs.length;
  const closedAt = await b.close();
  const withoutB = await client.waitForConfig((e) => e.services.reviews?.endpoints.includes(addr(b)) === false, 10_000, from);
  const drainMs = withoutB.t - closedAt;
  console.log(`[measure] gracefully closed instance left the client's endpoints ${drainMs} ms after mesh.close()`);
  expect(withoutB.services.reviews!.endpoints).toEqual([addr(c)]);
  expect(drainMs).toBeLessThan(1000);

  await sleep(1000);
  await steady.stop();
  const result = await steady.result;
  expect(result.failures).toEqual([]);
  expect(result.failed).toBe(0);
  expect(result.sent).toBeGreaterThan(400);
  expect(result.byBackend.c).toBeGreaterThan(0);
});
