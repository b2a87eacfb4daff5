/**
 * The life of a Consul registration, against the double:
 * - an SDK whose Consul agent is unreachable still starts; it retries every second (not in a
 *   tight loop), reports each failure as ENMESH_ERR_REGISTRATION, and registers once the agent
 *   is back, then passes its TTL check every third of the TTL;
 * - an SDK registering itself in Consul is not registered with the control plane over ADS too;
 * - a replica that stops leaves the registrations it wrote through to expire with their TTL
 *   instead of deregistering them (their instances reconnect to another replica meanwhile);
 * - written through, an instance that closes gracefully is deregistered at once, and a service
 *   the config does not declare is registered but gets no traffic.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { init } from '../../../src/index.ts';
import type { Mesh } from '../../../src/mesh.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import { startConsulDouble } from '../../helpers/consul-double.ts';
import type { ConsulDouble } from '../../helpers/consul-double.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import { reviewsYaml } from '../../helpers/cp/reviews-yaml.ts';
import { sleep, until } from '../../helpers/cp/wait.ts';
import { startConsulGate } from './consul-gate.ts';

const NO_HOOKS = { undici: false, http: false, grpc: false } as const;
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function double(): Promise<ConsulDouble> {
  const consul = await startConsulDouble();
  cleanup.push(() => consul.close());
  return consul;
}

async function listening(): Promise<number> {
  const server = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise((r) => server.close(r)));
  return (server.address() as AddressInfo).port;
}

async function meshFile(): Promise<string> {
  const file = await createMeshFile(reviewsYaml({}));
  cleanup.push(() => file.remove());
  return file.path;
}

it('an SDK starts while its Consul agent is unreachable, retries every second, reports it, and registers once the agent is back', async () => {
  const consul = await double();
  const gate = await startConsulGate(consul.port, { open: false });
  cleanup.push(() => gate.shut());
  const port = await listening();
  const mesh: Mesh = await init({ service: { name: 'reviews', port }, config: await meshFile(), consul: { address: gate.url, intervalMs: 3000 }, hooks: NO_HOOKS });
  cleanup.push(() => mesh.close());
  const errors: Error[] = [];
  mesh.on('error', (e) => void errors.push(e));
  await sleep(2500);
  // One attempt a second: two or three in 2.5 s, not a busy loop.
  expect(errors.length).toBeGreaterThanOrEqual(2);
  expect(errors.length).toBeLessThanOrEqual(4);
  expect(errors[0]).toMatchObject({ code: 'ENMESH_ERR_REGISTRATION', message: expect.stringMatching(new RegExp(`register reviews-127\\.0\\.0\\.1-${port}: .*ECONNREFUSED.*\\(Consul at ${gate.url}\\)`)) });

  await gate.open();
  await until(() => consul.instances('reviews').some((i) => i.port === port && i.status === 'passing'), 3000, 'registered once the agent is reachable');
  const passes = (): number => consul.requests.filter((r) => decodeURIComponent(r) === `PUT /v1/agent/check/pass/service:reviews-127.0.0.1-${port}`).length;
  const before = passes();
  await sleep(2500);
  // TTL 3 s, passed every second.
  expect(passes() - before).toBeGreaterThanOrEqual(1);
  expect(passes() - before).toBeLessThanOrEqual(3);
  expect(consul.instances('reviews').find((i) => i.port === port)?.status).toBe('passing');
});

it('an SDK registering itself in Consul is not registered with the control plane over ADS as well', async () => {
  const consul = await double();
  const cp = await startControlPlane({ config: await meshFile(), xdsPort: 0, adminPort: 0, log: silentLogger, ca: false, startupHoldMs: 0, consul: { address: consul.url, waitMs: 2000 } });
  cleanup.push(() => cp.close());
  const port = await listening();
  const mesh = await init({ service: { name: 'reviews', port }, controlPlane: [`xds://127.0.0.1:${cp.xdsPort}`], consul: { address: consul.url }, hooks: NO_HOOKS });
  cleanup.push(() => mesh.close());
  await until(() => (cp.cache.model()?.services.get('reviews')?.endpoints ?? []).some((e) => e.port === port), 5000, 'served from the catalog');
  // Connected over ADS, but no registration with the control plane.
  await until(() => [...cp.registry.records()].length === 1, 5000, 'SDK connected over ADS');
  await sleep(300);
  expect(cp.registrations.list()).toEqual([]);
  expect(consul.instances('reviews').map((i) => i.id)).toEqual([`reviews-127.0.0.1-${port}`]);
});

it('a replica that stops leaves its written-through registrations to expire with their TTL', async () => {
  const consul = await double();
  const cp = await startControlPlane({
    config: await meshFile(),
    xdsPort: 0,
    adminPort: 0,
    log: silentLogger,
    ca: false,
    startupHoldMs: 0,
    consul: { address: consul.url, waitMs: 2000, registrationTtlMs: 1000 },
  });
  let closed = false;
  cleanup.push(() => (closed ? Promise.resolve() : cp.close()));
  const port = await listening();
  const mesh = await init({ service: { name: 'reviews', port, labels: { version: 'v1' } }, controlPlane: [`xds://127.0.0.1:${cp.xdsPort}`], hooks: NO_HOOKS });
  cleanup.push(() => mesh.close());
  // Its reconnect attempts once the replica is gone are expected.
  mesh.on('error', () => {});
  await until(() => consul.instances('reviews').some((i) => i.port === port && i.status === 'passing'), 5000, 'written through');
  const id = consul.instances('reviews')[0]!.id;
  const sources = (await (await fetch(`http://127.0.0.1:${cp.adminPort}/api/v1/sources`)).json()) as { sources: { registrationsWritten: string[] }[] };
  expect(sources.sources[0]!.registrationsWritten).toEqual([id]);

  await cp.close();
  closed = true;
  // Still registered (and passing until the TTL runs out), then critical: never deregistered.
  expect(consul.instances('reviews').map((i) => [i.id, i.status])).toEqual([[id, 'passing']]);
  await until(() => consul.instances('reviews')[0]?.status === 'critical', 3000, 'TTL expired');
  expect(consul.requests.filter((r) => r.startsWith('PUT /v1/agent/service/deregister/'))).toEqual([]);
});

it('written through: a graceful close deregisters at once; an undeclared service is written through, listed as undeclared, with no traffic', async () => {
  const consul = await double();
  const cp = await startControlPlane({
    config: await meshFile(),
    xdsPort: 0,
    adminPort: 0,
    log: silentLogger,
    ca: false,
    startupHoldMs: 0,
    // A grace period far longer than the test: only the graceful close can explain a quick removal.
    registrationGraceMs: 60_000,
    consul: { address: consul.url, waitMs: 2000 },
  });
  cleanup.push(() => cp.close());
  const admin = `http://127.0.0.1:${cp.adminPort}`;
  const xds = [`xds://127.0.0.1:${cp.xdsPort}`];
  const [p1, p2] = [await listening(), await listening()];
  const ghost = await init({ service: { name: 'ghost', port: p2 }, controlPlane: xds, hooks: NO_HOOKS });
  cleanup.push(() => ghost.close());
  await until(() => consul.instances('ghost').length === 1, 5000, 'undeclared service written through');
  const view = async () =>
    (await (await fetch(`${admin}/api/v1/sources`)).json()) as { sources: { catalog: { undeclared: string[] } }[] };
  await until(async () => (await view()).sources[0]!.catalog.undeclared.includes('ghost'), 3000, 'listed as undeclared');
  expect(cp.cache.model()?.services.has('ghost')).toBe(false);
  expect(((await (await fetch(`${admin}/api/v1/registrations`)).json()) as { errors: unknown[] }).errors).toEqual([]);

  const mesh = await init({ service: { name: 'reviews', port: p1 }, controlPlane: xds, hooks: NO_HOOKS });
  await until(() => (cp.cache.model()?.services.get('reviews')?.endpoints ?? []).some((e) => e.port === p1), 5000, 'served from the catalog');
  const closed = Date.now();
  await mesh.close();
  await until(() => !consul.instances('reviews').some((i) => i.port === p1), 3000, 'deregistered from Consul');
  await until(() => !(cp.cache.model()?.services.get('reviews')?.endpoints ?? []).some((e) => e.port === p1), 3000, 'gone from the model');
  console.log(`[measure] gracefully closed instance left Consul and the model ${Date.now() - closed} ms after close (grace 60 s)`);
});
