/**
 * mesh.yaml in Consul KV: loaded at start, every edit pushed (blocking query
 * on the key), a bad edit refused with the last good model kept, a deleted
 * key reported with the last good model kept until it is written again, and
 * the admin API's config store writing with check-and-set on ModifyIndex.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseMeshYaml } from '../../../src/config/load.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import type { ControlPlane } from '../../../src/control-plane/server.ts';
import { isEnmeshError } from '../../../src/errors.ts';
import { startConsulDouble } from '../../helpers/consul-double.ts';
import type { ConsulDouble } from '../../helpers/consul-double.ts';
import { reviewsYaml } from '../../helpers/cp/reviews-yaml.ts';
import { until } from '../../helpers/cp/wait.ts';

const KEY = 'enmesh/mesh.yaml';
const LOCATION = `consul-kv://${KEY}`;
const yaml = (w1: number, w2: number): string => reviewsYaml({ endpoints: { v1: '127.0.0.1:7101', v2: '127.0.0.1:7102' }, split: [w1, w2] });
const version = (text: string): string => parseMeshYaml(text, LOCATION).version;

let consul: ConsulDouble;
let cp: ControlPlane;

beforeAll(async () => {
  consul = await startConsulDouble({ aclToken: 'secret-token' });
  consul.putKv(KEY, yaml(100, 0));
  cp = await startControlPlane({
    config: LOCATION,
    xdsPort: 0,
    adminPort: 0,
    log: silentLogger,
    ca: false,
    consul: { address: consul.url, token: 'secret-token', waitMs: 10_000, backoff: { baseMs: 100, maxMs: 500 } },
  });
});

afterAll(async () => {
  await cp?.close();
  await consul?.close();
});

it('serves the config read from Consul KV at start', async () => {
  await until(() => cp.configVersion() !== undefined, 5000, 'first publish');
  expect(cp.configVersion()).toBe(version(yaml(100, 0)));
  expect(cp.cache.model()?.services.get('reviews')?.routes[0]?.backends?.map((b) => b.weight)).toEqual([100, 0]);
  const sources = (await (await fetch(`http://127.0.0.1:${cp.adminPort}/api/v1/sources`)).json()) as { config: unknown; sources: { source: string; up: boolean }[] };
  expect(sources.config).toEqual({ source: 'consul-kv', location: LOCATION });
  expect(sources.sources[0]).toMatchObject({ source: 'consul', up: true });
});

it('pushes a KV edit within one blocking round trip', async () => {
  const written = Date.now();
  consul.putKv(KEY, yaml(50, 50));
  await until(() => cp.configVersion() === version(yaml(50, 50)), 3000, 'KV edit published');
  const took = Date.now() - written;
  console.log(`[measure] KV edit published ${took} ms after the write (blocking wait 10 s)`);
  expect(took).toBeLessThan(2000);
});

it('refuses an invalid KV edit naming the key and path, keeps the last good model, and clears the error on a fix', async () => {
  const good = cp.cache.model()!.version;
  consul.putKv(KEY, yaml(50, 50).replace('subset: v2', 'subset: v3'));
  await until(() => cp.configError() !== null, 3000, 'bad edit reported');
  const err = cp.configError()!;
  expect(err.file).toBe(LOCATION);
  expect(err.issues.map((i) => i.path)).toContain('services.reviews.routes[0].backends[1].subset');
  expect(cp.cache.model()!.version).toBe(good);
  consul.putKv(KEY, yaml(0, 100));
  await until(() => cp.configError() === null && cp.configVersion() === version(yaml(0, 100)), 3000, 'fixed edit published');
});

it('config store: reads with ModifyIndex as version, refuses a stale write, applies a current one', async () => {
  const store = cp.consul!.configStore(KEY);
  expect(store.source).toBe('consul-kv');
  expect(store.location).toBe(LOCATION);
  const read = await store.read();
  expect(read.text).toBe(yaml(0, 100));
  expect(read.version).toMatch(/^\d+$/);

  consul.putKv(KEY, yaml(10, 90)); // someone else writes in between
  const stale = await store.write(yaml(20, 80), { expected: read.version! }).catch((e: unknown) => e);
  expect(isEnmeshError(stale) && stale.code).toBe('ENMESH_ERR_CONFIG_CONFLICT');
  expect(consul.getKv(KEY)).toBe(yaml(10, 90));

  const current = await store.read();
  const written = await store.write(yaml(30, 70), { expected: current.version! });
  expect(Number(written.version)).toBeGreaterThan(Number(current.version));
  await until(() => cp.configVersion() === version(yaml(30, 70)), 3000, 'store write published');
});

it('refuses to start on a missing key or without --consul, naming what to do', async () => {
  const missing = await startControlPlane({ config: 'consul-kv://enmesh/nope.yaml', xdsPort: 0, adminPort: 0, log: silentLogger, ca: false, consul: { address: consul.url, token: 'secret-token' } }).catch((e: unknown) => e);
  expect((missing as Error).message).toMatch(/consul-kv:\/\/enmesh\/nope\.yaml does not exist .*consul kv put/);
  const noConsul = await startControlPlane({ config: LOCATION, xdsPort: 0, adminPort: 0, log: silentLogger, ca: false }).catch((e: unknown) => e);
  expect((noConsul as Error).message).toMatch(/--consul/);
  const badToken = await startControlPlane({ config: LOCATION, xdsPort: 0, adminPort: 0, log: silentLogger, ca: false, consul: { address: consul.url, token: 'wrong' } }).catch((e: unknown) => e);
  expect((badToken as Error).message).toMatch(/cannot read consul-kv:\/\/enmesh\/mesh\.yaml .*HTTP 403/);
});

it('the admin API reads and writes mesh.yaml in Consul KV', async () => {
  const base = `http://127.0.0.1:${cp.adminPort}`;
  const got = (await (await fetch(`${base}/api/v1/config`)).json()) as { source: string; location: string; text: string; version: string };
  expect(got).toMatchObject({ source: 'consul-kv', location: LOCATION, text: consul.getKv(KEY) });
  const res = await fetch(`${base}/api/v1/config`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${cp.operator.token}` },
    body: JSON.stringify({ text: yaml(70, 30) }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  expect(consul.getKv(KEY)).toBe(yaml(70, 30));
  await until(() => cp.configVersion() === version(yaml(70, 30)), 3000, 'admin write published');
});

it('a deleted key is reported naming it, the last good config stays in force until the key is written again', async () => {
  const base = `http://127.0.0.1:${cp.adminPort}`;
  const good = cp.cache.model()!;
  const goodText = consul.getKv(KEY)!;
  const remove = async (): Promise<void> => {
    const res = await fetch(`${consul.url}/v1/kv/${KEY}`, { method: 'DELETE', headers: { 'x-consul-token': 'secret-token' } });
    expect(res.status).toBe(200);
  };
  await remove();
  await until(() => cp.configError() !== null, 3000, 'deletion reported');
  const { error } = (await (await fetch(`${base}/api/v1/config/errors`)).json()) as { error: { file: string; message: string } };
  expect(error.file).toBe(LOCATION);
  expect(error.message).toMatch(/consul-kv:\/\/enmesh\/mesh\.yaml was deleted from Consul; the last good config stays in force until it is written again/);
  // Not an empty mesh: the model in force is untouched, and Consul itself is fine.
  expect(cp.cache.model()).toBe(good);
  expect(cp.configVersion()).toBe(version(goodText));
  expect(cp.consul!.status.up).toBe(true);
  // The admin API's changes need the key to build on: refused until it is back.
  const put = await fetch(`${base}/api/v1/config`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${cp.operator.token}` },
    body: JSON.stringify({ text: yaml(40, 60) }),
  });
  expect(put.status).toBe(503);
  expect(await put.text()).toMatch(/does not exist in Consul/);
  expect(consul.getKv(KEY)).toBeUndefined();

  // Written back unchanged: the error clears and nothing is pushed.
  consul.putKv(KEY, goodText);
  await until(() => cp.configError() === null, 3000, 'error cleared when the key is back');
  expect(cp.cache.model()!.version).toBe(good.version);
  // Written back with a new config: that one is published.
  await remove();
  await until(() => cp.configError() !== null, 3000, 'second deletion reported');
  consul.putKv(KEY, yaml(60, 40));
  await until(() => cp.configError() === null && cp.configVersion() === version(yaml(60, 40)), 3000, 'new config published');
});
