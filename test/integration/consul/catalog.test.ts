/**
 * The control plane over the Consul double: catalog instances become
 * endpoints (tags and meta as labels, datacenter as zone) next to the static
 * ones; a passing → critical change leaves the endpoints within one blocking
 * round trip, a deregistered service loses its Consul endpoints; and
 * every kind of Consul trouble (hang, 500, no leader, index reset) keeps the
 * last good view, with changes made meanwhile picked up after recovery.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import type { ControlPlane } from '../../../src/control-plane/server.ts';
import type { EndpointModel } from '../../../src/model/types.ts';
import { startConsulDouble } from '../../helpers/consul-double.ts';
import type { ConsulDouble } from '../../helpers/consul-double.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';
import { sleep, until } from '../../helpers/cp/wait.ts';

const YAML = `mesh: { name: consul-e2e }
services:
  reviews:
    protocol: http
    port: 9080
    subsets:
      v1: { version: v1 }
      v2: { version: v2 }
  ratings:
    protocol: http
    port: 9090
    endpoints:
      - { address: 127.0.0.1:7001, labels: { version: v1 } }
`;

// A short wait so outage tests need not wait Consul's default 5 minutes; a long one when
// measuring how fast a change arrives (it must come from the wake-up, not the timeout).
const WAIT_MS = 2000;

let consul: ConsulDouble;
let file: MeshFile;
let cp: ControlPlane;

const endpoints = (service: string): EndpointModel[] => [...(cp.cache.model()?.services.get(service)?.endpoints ?? [])];
const addresses = (service: string): string[] => endpoints(service).map((e) => `${e.host}:${e.port}`);
const sourceUpMetric = async (): Promise<string | undefined> =>
  /enmesh_control_plane_source_up\{source="consul"\} (\d)/.exec(await (await fetch(`http://127.0.0.1:${cp.adminPort}/metrics`)).text())?.[1];
const sources = async (): Promise<{ sources: { up: boolean; error: string | null; failing: string[] }[] }> =>
  (await fetch(`http://127.0.0.1:${cp.adminPort}/api/v1/sources`)).json() as never;

beforeAll(async () => {
  consul = await startConsulDouble();
  consul.register({ id: 'reviews-1', name: 'reviews', address: '127.0.0.1', port: 9101, tags: ['version=v1', 'plain-tag'], meta: { team: 'books' } });
  consul.register({ id: 'reviews-2', name: 'reviews', address: '127.0.0.1', port: 9102, meta: { version: 'v2', zone: 'zone-b' }, weight: 3 });
  consul.register({ id: 'reviews-3', name: 'reviews', address: '127.0.0.1', port: 9103, tags: ['version=v1'], status: 'critical' });
  consul.register({ id: 'other-1', name: 'not-in-mesh', address: '127.0.0.1', port: 9200 });
  file = await createMeshFile(YAML);
  cp = await startControlPlane({
    config: file.path,
    xdsPort: 0,
    adminPort: 0,
    log: silentLogger,
    ca: false,
    consul: { address: consul.url, waitMs: WAIT_MS, backoff: { baseMs: 100, maxMs: 500 } },
  });
  await until(() => addresses('reviews').length === 2, 10_000, 'reviews endpoints from the catalog');
});

afterAll(async () => {
  await cp?.close();
  await consul?.close();
  await file?.remove();
});

it('turns passing catalog instances into endpoints with labels, zone and weight', () => {
  const eps = endpoints('reviews');
  expect(eps).toEqual([
    { host: '127.0.0.1', port: 9101, labels: { version: 'v1', team: 'books' }, weight: 1, zone: 'dc1', healthy: true, origin: 'consul' },
    { host: '127.0.0.1', port: 9102, labels: { version: 'v2' }, weight: 3, zone: 'zone-b', healthy: true, origin: 'consul' },
  ]);
  // Static endpoints stay, and a service Consul does not list keeps only them.
  expect(addresses('ratings')).toEqual(['127.0.0.1:7001']);
});

it('lists the services Consul has that the mesh config does not declare', async () => {
  const body = (await (await fetch(`http://127.0.0.1:${cp.adminPort}/api/v1/sources`)).json()) as {
    config: { source: string };
    sources: { source: string; up: boolean; catalog: { undeclared: string[] } }[];
  };
  expect(body.config.source).toBe('file');
  expect(body.sources[0]).toMatchObject({ source: 'consul', up: true, catalog: { undeclared: ['not-in-mesh'] } });
});

it('drops an instance that turns critical within one blocking round trip, and takes it back when it passes', async () => {
  const before = Date.now();
  consul.setStatus('reviews-2', 'critical');
  await until(() => !addresses('reviews').includes('127.0.0.1:9102'), WAIT_MS, 'critical instance left the endpoints');
  const took = Date.now() - before;
  console.log(`[measure] passing → critical left the endpoints after ${took} ms (blocking wait ${WAIT_MS} ms)`);
  // Woken by the change, not by the wait running out (50 ms publish debounce included).
  expect(took).toBeLessThan(WAIT_MS / 2);
  consul.setStatus('reviews-3', 'passing');
  consul.setStatus('reviews-2', 'passing');
  await until(() => addresses('reviews').length === 3, WAIT_MS, 'instances back');
});

it('adds instances after the static endpoints, an address in both once; a service deregistered from Consul keeps only its static ones', async () => {
  const view = (): [string, string][] => endpoints('ratings').map((e) => [`${e.host}:${e.port}`, e.origin]);
  consul.register({ id: 'ratings-1', name: 'ratings', address: '127.0.0.1', port: 7001, tags: ['version=v1'] });
  consul.register({ id: 'ratings-2', name: 'ratings', address: '127.0.0.1', port: 7002, tags: ['version=v2'] });
  await until(() => addresses('ratings').length === 2, WAIT_MS, 'ratings instances from the catalog');
  expect(view()).toEqual([
    ['127.0.0.1:7001', 'static'],
    ['127.0.0.1:7002', 'consul'],
  ]);
  // Every instance deregistered: the service leaves the catalog and its Consul endpoints go with it.
  consul.deregister('ratings-1');
  consul.deregister('ratings-2');
  await until(() => addresses('ratings').length === 1, WAIT_MS, 'deregistered instances gone');
  expect(view()).toEqual([['127.0.0.1:7001', 'static']]);
  const listed = async (): Promise<string[]> =>
    ((await (await fetch(`http://127.0.0.1:${cp.adminPort}/api/v1/sources`)).json()) as { sources: { catalog: { services: Record<string, string[]> } }[] }).sources[0]!.catalog.services.default!;
  await until(async () => !(await listed()).includes('ratings'), WAIT_MS, 'ratings left the catalog');
  // Registered again: watched again.
  consul.register({ id: 'ratings-2', name: 'ratings', address: '127.0.0.1', port: 7002, tags: ['version=v2'] });
  await until(() => addresses('ratings').includes('127.0.0.1:7002'), WAIT_MS, 'ratings back after registering again');
  consul.deregister('ratings-2');
  await until(() => addresses('ratings').length === 1, WAIT_MS, 'ratings back to its static endpoint');
});

it('keeps the last good view while Consul hangs, and picks up changes made meanwhile after it resumes', async () => {
  const version = cp.cache.model()!.version;
  consul.pause();
  await sleep(300);
  consul.register({ id: 'reviews-4', name: 'reviews', address: '127.0.0.1', port: 9104, tags: ['version=v2'] });
  // Held queries give up after wait + wait/16 + a margin: a hung Consul is reported like a down one.
  await until(async () => (await sources()).sources[0]!.up === false, WAIT_MS * 3, 'hung source reported down');
  expect((await sources()).sources[0]!.error).toMatch(/timed out/);
  expect(cp.cache.model()!.version).toBe(version);
  consul.resume();
  await until(() => addresses('reviews').includes('127.0.0.1:9104'), 5000, 'instance registered during the hang');
  await until(async () => (await sources()).sources[0]!.up, 5000, 'source reported up');
});

it('keeps the last good view through 500s, reports the source down, and recovers by itself', async () => {
  const version = cp.cache.model()!.version;
  consul.failWith(500);
  await until(async () => (await sources()).sources[0]!.up === false, 5000, 'source reported down');
  const down = (await sources()).sources[0]!;
  expect(down.error).toMatch(/HTTP 500/);
  expect(await sourceUpMetric()).toBe('0');
  consul.register({ id: 'reviews-5', name: 'reviews', address: '127.0.0.1', port: 9105, tags: ['version=v2'] });
  await sleep(800);
  expect(cp.cache.model()!.version).toBe(version);
  expect(addresses('reviews')).not.toContain('127.0.0.1:9105');
  const recovered = Date.now();
  consul.failWith(0);
  await until(() => addresses('reviews').includes('127.0.0.1:9105'), 5000, 'instance registered during the outage');
  console.log(`[measure] instance registered during a 500 outage served ${Date.now() - recovered} ms after recovery`);
  await until(async () => (await sources()).sources[0]!.up, 3000, 'source reported up');
  expect(await sourceUpMetric()).toBe('1');
});

it('keeps the last good view without a leader, and recovers when one is elected', async () => {
  const version = cp.cache.model()!.version;
  // The dashboard's event stream is told as it happens.
  const events = new AbortController();
  const res = await fetch(`http://127.0.0.1:${cp.adminPort}/api/v1/events`, { signal: events.signal });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let stream = '';
  const sawDown = (async () => {
    while (!/event: sources\ndata: .*"up":false/.test(stream)) {
      const { value, done } = await reader.read();
      if (done) break;
      stream += value;
    }
  })().catch(() => undefined);
  consul.loseLeader();
  await until(async () => (await sources()).sources[0]!.up === false, 5000, 'source reported down');
  expect((await sources()).sources[0]!.error).toMatch(/No cluster leader/);
  await Promise.race([sawDown, sleep(2000)]);
  events.abort();
  expect(stream).toMatch(/event: sources\ndata: .*"up":false/);
  consul.deregister('reviews-5');
  await sleep(500);
  expect(cp.cache.model()!.version).toBe(version);
  consul.regainLeader();
  await until(() => !addresses('reviews').includes('127.0.0.1:9105'), 5000, 'deregistration made without a leader');
});

it('survives an index reset: the watch restarts from 0 and keeps following changes', async () => {
  const version = cp.cache.model()!.version;
  const high = consul.index();
  consul.resetIndex(3);
  // The watches block on an index the server no longer has; they get the lower one at the latest
  // when the wait runs out, reset to 0, and follow the new index from there.
  consul.register({ id: 'reviews-6', name: 'reviews', address: '127.0.0.1', port: 9106, tags: ['version=v1'] });
  expect(consul.index()).toBeLessThan(high);
  await until(() => addresses('reviews').includes('127.0.0.1:9106'), WAIT_MS * 3, 'change after the index reset');
  expect(cp.cache.model()!.version).not.toBe(version);
  consul.setStatus('reviews-6', 'critical');
  await until(() => !addresses('reviews').includes('127.0.0.1:9106'), WAIT_MS, 'later change followed at the new index');
});
