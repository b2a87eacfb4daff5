/**
 * Consul unreachable (connections refused, as when the agent is stopped), at start and mid-run,
 * and without a leader in `stale` mode:
 * - started while Consul is unreachable, the control plane publishes nothing until the catalog has
 *   answered (publishing earlier would empty every service discovered from Consul);
 * - unreachable mid-run, the endpoints and the KV config stay as they were, the source is reported
 *   down, and what changed meanwhile (KV edit, instances registered and deregistered) is picked up
 *   once Consul is back;
 * - `stale` reads keep following the catalog without a leader, shown as `knownLeader: false`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { init } from '../../../src/index.ts';
import { parseMeshYaml } from '../../../src/config/load.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import type { ControlPlane } from '../../../src/control-plane/server.ts';
import type { MeshModel } from '../../../src/model/types.ts';
import { startConsulDouble } from '../../helpers/consul-double.ts';
import type { ConsulDouble } from '../../helpers/consul-double.ts';
import { reviewsYaml } from '../../helpers/cp/reviews-yaml.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import { sleep, until } from '../../helpers/cp/wait.ts';
import { startConsulGate } from './consul-gate.ts';

const KEY = 'enmesh/mesh.yaml';
const LOCATION = `consul-kv://${KEY}`;
const OPTIONS = { waitMs: 2000, backoff: { baseMs: 100, maxMs: 500 } } as const;

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const addresses = (m: MeshModel | undefined, service = 'reviews'): string[] => (m?.services.get(service)?.endpoints ?? []).map((e) => `${e.host}:${e.port}`);
type SourcesBody = { sources: { up: boolean; error: string | null; knownLeader: boolean; failing: string[] }[] };
const sources = async (cp: ControlPlane): Promise<SourcesBody['sources'][number]> =>
  ((await (await fetch(`http://127.0.0.1:${cp.adminPort}/api/v1/sources`)).json()) as SourcesBody).sources[0]!;

async function listening(): Promise<number> {
  const server = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise((r) => server.close(r)));
  return (server.address() as AddressInfo).port;
}

async function double(): Promise<ConsulDouble> {
  const consul = await startConsulDouble();
  cleanup.push(() => consul.close());
  return consul;
}

it('started while Consul refuses connections, publishes nothing until the catalog answers, then serves its instances', async () => {
  const consul = await double();
  consul.register({ id: 'r1', name: 'reviews', address: '127.0.0.1', port: 9101, tags: ['version=v1'] });
  const gate = await startConsulGate(consul.port, { open: false });
  cleanup.push(() => gate.shut());
  const file = await createMeshFile(reviewsYaml({}));
  cleanup.push(() => file.remove());
  // No startup hold at all: the wait for Consul's first answer does not depend on it.
  const cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, ca: false, startupHoldMs: 0, consul: { address: gate.url, ...OPTIONS } });
  cleanup.push(() => cp.close());
  const published: MeshModel[] = [];
  cp.cache.onChange(() => published.push(cp.cache.model()!));

  await until(async () => (await sources(cp)).up === false, 3000, 'source reported down');
  expect((await sources(cp)).error).toMatch(/ECONNREFUSED/);
  await sleep(1000);
  expect(cp.cache.model()).toBeUndefined();
  expect(published).toEqual([]);

  const opened = Date.now();
  await gate.open();
  await until(() => cp.cache.model() !== undefined, 5000, 'first publish once Consul answers');
  console.log(`[measure] first publish ${Date.now() - opened} ms after Consul became reachable`);
  // The very first model pushed already has the instance: reviews was never published empty.
  expect(addresses(published[0])).toEqual(['127.0.0.1:9101']);
  await until(async () => (await sources(cp)).up, 3000, 'source reported up');
});

it('unreachable mid-run: keeps endpoints and KV config, reports the source down, and catches up after it is back', async () => {
  const consul = await double();
  const yaml = (w1: number, w2: number): string => reviewsYaml({ split: [w1, w2] });
  consul.putKv(KEY, yaml(100, 0));
  consul.register({ id: 'r1', name: 'reviews', address: '127.0.0.1', port: 9101, tags: ['version=v1'] });
  consul.register({ id: 'r2', name: 'reviews', address: '127.0.0.1', port: 9102, tags: ['version=v2'] });
  const gate = await startConsulGate(consul.port);
  cleanup.push(() => gate.shut());
  const cp = await startControlPlane({ config: LOCATION, xdsPort: 0, adminPort: 0, log: silentLogger, ca: false, consul: { address: gate.url, ...OPTIONS } });
  cleanup.push(() => cp.close());
  await until(() => addresses(cp.cache.model()).length === 2, 5000, 'instances from the catalog');
  const before = cp.cache.model()!;

  await gate.shut();
  // Held queries are cut (ECONNRESET); their retries are then refused.
  await until(async () => /ECONNREFUSED/.test((await sources(cp)).error ?? ''), 3000, 'source reported down, connections refused');
  const down = await sources(cp);
  expect(down.up).toBe(false);
  // Every watch failed, the KV one included; that is an outage, not a config error.
  expect(down.failing).toEqual(expect.arrayContaining(['catalog/services', 'health/reviews', `kv/${KEY}`]));
  consul.putKv(KEY, yaml(50, 50));
  consul.register({ id: 'r3', name: 'reviews', address: '127.0.0.1', port: 9103, tags: ['version=v2'] });
  consul.deregister('r1');
  await sleep(1000);
  expect(cp.cache.model()).toBe(before);
  expect(cp.configError()).toBeNull();

  const reopened = Date.now();
  await gate.open();
  await until(() => cp.configVersion() === parseMeshYaml(yaml(50, 50), LOCATION).version, 5000, 'KV edit made during the outage');
  await until(() => addresses(cp.cache.model()).join() === '127.0.0.1:9102,127.0.0.1:9103', 5000, 'catalog changes made during the outage');
  console.log(`[measure] changes made while connections were refused served ${Date.now() - reopened} ms after Consul was back`);
  await until(async () => (await sources(cp)).up, 3000, 'source reported up');
  expect(cp.configError()).toBeNull();
});

it('with stale reads, keeps following the catalog without a leader and shows knownLeader false', async () => {
  const consul = await double();
  consul.register({ id: 'r1', name: 'reviews', address: '127.0.0.1', port: 9101, tags: ['version=v1'] });
  const file = await createMeshFile(reviewsYaml({}));
  cleanup.push(() => file.remove());
  // Short TTL: written-through registrations are passed every 200 ms during the test.
  const cp = await startControlPlane({
    config: file.path,
    xdsPort: 0,
    adminPort: 0,
    log: silentLogger,
    ca: false,
    consul: { address: consul.url, consistency: 'stale', registrationTtlMs: 600, ...OPTIONS },
  });
  cleanup.push(() => cp.close());
  await until(() => addresses(cp.cache.model()).length === 1, 5000, 'instance from the catalog');
  // An instance registered over ADS, so the replica keeps calling its agent meanwhile.
  const port = await listening();
  const mesh = await init({ service: { name: 'reviews', port, labels: { version: 'v2' } }, controlPlane: [`xds://127.0.0.1:${cp.xdsPort}`], hooks: { undici: false, http: false, grpc: false } });
  cleanup.push(() => mesh.close());
  await until(() => addresses(cp.cache.model()).includes(`127.0.0.1:${port}`), 5000, 'written-through instance served');

  consul.loseLeader();
  consul.register({ id: 'r2', name: 'reviews', address: '127.0.0.1', port: 9102, tags: ['version=v2'] });
  await until(() => addresses(cp.cache.model()).includes('127.0.0.1:9102'), 3000, 'change followed without a leader');
  // Agent calls (check passes) succeed without a leader too, but say nothing about one.
  await sleep(500);
  expect(await sources(cp)).toMatchObject({ up: true, knownLeader: false, error: null });

  consul.regainLeader();
  consul.deregister('r1');
  await until(() => !addresses(cp.cache.model()).includes('127.0.0.1:9101'), 3000, 'change followed with a leader again');
  expect(await sources(cp)).toMatchObject({ up: true, knownLeader: true });
});
