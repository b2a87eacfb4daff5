/**
 * Three control-plane replicas (real `enmesh control-plane` processes) over
 * one Consul (the double): mesh.yaml in KV, instances from the catalog, the
 * backends registering through whichever replica they talk to. Clients given
 * all three addresses carry traffic while the replicas are SIGKILLed one at a
 * time and restarted: no request fails, every replica serves the same
 * snapshot version, and every client has each config change within 5 s.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseMeshYaml } from '../../../src/config/load.ts';
import { startConsulDouble } from '../../helpers/consul-double.ts';
import type { ConsulDouble } from '../../helpers/consul-double.ts';
import { connectedNodeIds, spawnControlPlane } from '../../helpers/cp/control-plane-process.ts';
import type { ControlPlaneProcess } from '../../helpers/cp/control-plane-process.ts';
import { reviewsYaml } from '../../helpers/cp/reviews-yaml.ts';
import { spawnSdk } from '../../helpers/cp/sdk-process.ts';
import type { RunningLoad, SdkProcess } from '../../helpers/cp/sdk-process.ts';
import { sleep, until } from '../../helpers/cp/wait.ts';

const KEY = 'enmesh/mesh.yaml';
const CONFIG = `consul-kv://${KEY}`;
const yaml = (w1: number, w2: number): string => reviewsYaml({ split: [w1, w2], retries: true });

let consul: ConsulDouble;
const replicas: ControlPlaneProcess[] = [];
const backends: SdkProcess[] = [];
const clients: SdkProcess[] = [];

const start = (ports?: { xdsPort: number; adminPort: number }): Promise<ControlPlaneProcess> =>
  spawnControlPlane({ config: CONFIG, registrationGraceMs: 1000, ...(ports ?? {}), args: ['--consul', consul.url] });

interface SnapshotReply {
  modelVersion: string | null;
  snapshots: Record<string, { version: string; typeVersions: Record<string, string> } | undefined>;
}
/** The snapshot version with its per-type versions: what a client that fails over compares. */
const snapshotVersion = async (cp: ControlPlaneProcess): Promise<string | undefined> => {
  const snap = (await cp.admin<SnapshotReply>('/api/v1/snapshot')).snapshots.enmesh;
  return snap === undefined ? undefined : `${snap.version} ${JSON.stringify(snap.typeVersions)}`;
};

/** Which replica (index) each client's ADS stream is on; -1 while it has none. */
async function placement(live: ControlPlaneProcess[]): Promise<number[]> {
  const ids = await Promise.all(live.map((r) => connectedNodeIds(r).catch(() => [] as string[])));
  return clients.map((c) => live.findIndex((_, i) => ids[i]!.some((id) => id.startsWith('productpage~') && id.includes(`~${c.child.pid}~`) && !id.endsWith('~grpc'))));
}

const weights = (c: SdkProcess): string | undefined => c.latest()?.services.reviews?.routes[0]?.backends.map((b) => b.weight).join();

beforeAll(async () => {
  consul = await startConsulDouble();
  consul.putKv(KEY, yaml(100, 0));
  replicas.push(...(await Promise.all([start(), start(), start()])));
  const urls = replicas.map((r) => r.url);
  backends.push(
    ...(await Promise.all([
      spawnSdk({ controlPlane: urls, service: 'reviews', labels: 'version=v1', serve: 'v1' }),
      spawnSdk({ controlPlane: urls, service: 'reviews', labels: 'version=v2', serve: 'v2' }),
    ])),
  );
  clients.push(...(await Promise.all([0, 1, 2].map(() => spawnSdk({ controlPlane: urls, service: 'productpage' })))));
  await Promise.all(clients.map((c) => c.waitForConfig((m) => m.services.reviews?.endpoints.length === 2, 20_000)));
}, 90_000);

afterAll(async () => {
  await Promise.all([...clients, ...backends].map((s) => s.kill()));
  await Promise.all(replicas.map((r) => r.kill()));
  await consul?.close();
});

it('replicas over one Consul serve the same snapshot version, registrations included', async () => {
  const versions = await Promise.all(replicas.map(snapshotVersion));
  expect(versions[0]).toMatch(/^[0-9a-f]{16} \{/);
  expect(new Set(versions).size).toBe(1);
  // Both backends are in Consul, written through by the replica each registered with.
  expect(consul.instances('reviews').filter((i) => i.status === 'passing').map((i) => i.meta.version).sort()).toEqual(['v1', 'v2']);
  console.log(`[measure] replica each client started on: ${JSON.stringify(await placement(replicas))}`);
});

it('kill and restart every replica in turn under traffic: 0 failed requests, every client converges within 5 s of each change', async () => {
  const loads: RunningLoad[] = clients.map((c) => c.load({ url: 'http://reviews:9080/', count: 20_000, rps: 25, maxMs: 120_000 }));
  const splits: [number, number][] = [
    [0, 100],
    [50, 50],
    [100, 0],
  ];
  for (let i = 0; i < replicas.length; i++) {
    const victim = replicas[i]!;
    const ports = { xdsPort: victim.xdsPort, adminPort: victim.adminPort };
    const before = clients.map((c) => c.configs.length);
    await victim.kill('SIGKILL');
    const live = replicas.filter((_, j) => j !== i);
    await until(async () => (await placement(live)).every((p) => p >= 0), 10_000, `clients of replica ${i} moved`, 100);
    // Same source, same versions: moving to another replica (and a backend re-registering through
    // another one) changes nothing in any client's model.
    await sleep(1500);
    expect(clients.map((c) => c.configs.length)).toEqual(before);

    // A config change while one replica is down: every client has it within 5 s.
    const [w1, w2] = splits[i]!;
    const from = clients.map((c) => c.configs.length);
    const written = Date.now();
    consul.putKv(KEY, yaml(w1, w2));
    const applied = await Promise.all(clients.map((c, k) => c.waitForConfig((m) => m.services.reviews?.routes[0]?.backends.map((b) => b.weight).join() === `${w1},${w2}`, 5000, from[k])));
    const slowest = Math.max(...applied.map((a) => a.t - written));
    console.log(`[measure] replica ${i} down: KV edit in force in all ${clients.length} clients after ${slowest} ms`);
    expect(slowest).toBeLessThan(5000);

    // Back on its old ports: it serves the same version as the others.
    replicas[i] = await start(ports);
    const want = parseMeshYaml(yaml(w1, w2), CONFIG).version;
    await until(async () => (await replicas[i]!.admin<{ configVersion: string | null }>('/healthz')).configVersion === want, 10_000, `replica ${i} back`, 100);
    await until(async () => new Set(await Promise.all(replicas.map(snapshotVersion))).size === 1, 10_000, 'replicas agree again', 100);
    await sleep(500);
  }
  expect(clients.every((c) => weights(c) === '100,0')).toBe(true);
  await Promise.all(loads.map((l) => l.stop()));
  const results = await Promise.all(loads.map((l) => l.result));
  const sent = results.reduce((n, r) => n + r.sent, 0);
  console.log(`[measure] ${sent} requests across three replica kills, ${results.reduce((n, r) => n + r.failed, 0)} failed`);
  for (const r of results) {
    expect(r.failures).toEqual([]);
    expect(r.failed).toBe(0);
    expect(r.ok).toBeGreaterThan(50);
  }
  // The splits moved traffic: both backends served.
  const byBackend = results.reduce<Record<string, number>>((acc, r) => {
    for (const [k, v] of Object.entries(r.byBackend)) acc[k] = (acc[k] ?? 0) + v;
    return acc;
  }, {});
  expect(byBackend.v1).toBeGreaterThan(0);
  expect(byBackend.v2).toBeGreaterThan(0);
}, 120_000);
