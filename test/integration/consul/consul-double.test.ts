/**
 * The Consul double keeps the semantics enmesh relies on, checked through the
 * `consul` npm client as the control plane uses it: blocking queries hold
 * until the index passes the one asked for (or `wait` runs out), the index
 * only grows (until a reset), reads need a leader unless `stale`, and KV
 * check-and-set follows ModifyIndex.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { QueryContext, blockingRead, createConsulClient } from '../../../src/control-plane/consul/client.ts';
import type { ConsulClient, ConsulSettings } from '../../../src/control-plane/consul/client.ts';
import { startConsulDouble } from '../../helpers/consul-double.ts';
import type { ConsulDouble } from '../../helpers/consul-double.ts';

let consul: ConsulDouble;
let client: ConsulClient;
let settings: ConsulSettings;

const health = (index: number, s: ConsulSettings = settings) =>
  blockingRead<unknown[]>((o) => client.health.service(o as never), { service: 'web', passing: true }, index, s, new QueryContext());

beforeAll(async () => {
  consul = await startConsulDouble();
  settings = { address: consul.url, waitMs: 1000 };
  client = createConsulClient(settings);
});

afterAll(async () => {
  client?.destroy();
  await consul?.close();
});

it('holds a blocking query until the index passes the one asked for, and answers the change', async () => {
  consul.register({ id: 'web-1', name: 'web', address: '127.0.0.1', port: 8001 });
  const first = await health(0);
  expect(first.body).toHaveLength(1);
  const t = Date.now();
  setTimeout(() => consul.register({ id: 'web-2', name: 'web', address: '127.0.0.1', port: 8002 }), 300);
  const second = await health(first.index);
  expect(Date.now() - t).toBeGreaterThanOrEqual(250);
  expect(Date.now() - t).toBeLessThan(900);
  expect(second.index).toBeGreaterThan(first.index);
  expect(second.body).toHaveLength(2);
});

it('answers the unchanged result when wait runs out', async () => {
  const now = await health(0);
  const t = Date.now();
  const same = await health(now.index);
  const took = Date.now() - t;
  // wait 1 s plus up to wait/16 of jitter.
  expect(took).toBeGreaterThanOrEqual(950);
  expect(took).toBeLessThan(2000);
  expect(same.index).toBe(now.index);
});

it('filters ?passing and wakes a passing watch when an instance turns critical', async () => {
  const now = await health(0);
  setTimeout(() => consul.setStatus('web-2', 'critical'), 100);
  const next = await health(now.index);
  expect((next.body as { Service: { ID: string } }[]).map((e) => e.Service.ID)).toEqual(['web-1']);
});

it('needs a leader for default and consistent reads, not for stale ones', async () => {
  consul.loseLeader();
  try {
    await expect(health(0)).rejects.toThrow(/No cluster leader/);
    await expect(health(0, { ...settings, consistency: 'consistent' })).rejects.toThrow(/No cluster leader/);
    const stale = await health(0, { ...settings, consistency: 'stale' });
    expect(stale.knownLeader).toBe(false);
  } finally {
    consul.regainLeader();
  }
  expect((await health(0)).knownLeader).toBe(true);
});

it('keeps the index monotonic until a reset, which moves it back', async () => {
  const seen: number[] = [];
  for (let i = 0; i < 5; i++) {
    consul.putKv(`k/${i}`, String(i));
    seen.push(consul.index());
  }
  expect([...seen].sort((a, b) => a - b)).toEqual(seen);
  expect(new Set(seen).size).toBe(seen.length);
  const before = (await health(0)).index;
  consul.resetIndex(2);
  expect((await health(0)).index).toBeLessThan(before);
});

// A refused check-and-set answers `false`; the client hands that back as a falsy value (undefined).
it('KV check-and-set follows ModifyIndex; cas=0 only creates', async () => {
  expect(await client.kv.set({ key: 'cfg', value: 'a', cas: 0 })).toBe(true);
  expect(await client.kv.set({ key: 'cfg', value: 'b', cas: 0 })).toBeFalsy();
  const item = (await client.kv.get('cfg'))!;
  expect(item.Value).toBe('a');
  expect(await client.kv.set({ key: 'cfg', value: 'c', cas: item.ModifyIndex + 1 })).toBeFalsy();
  expect(await client.kv.set({ key: 'cfg', value: 'c', cas: item.ModifyIndex })).toBe(true);
  expect((await client.kv.get('cfg'))!.Value).toBe('c');
  expect(await client.kv.get('missing')).toBeUndefined();
});

it('expires a TTL check that is not passed, and requires the ACL token when one is set', async () => {
  await client.agent.service.register({ name: 'ttl', id: 'ttl-1', address: '127.0.0.1', port: 9000, check: { ttl: '1s', status: 'passing' } } as never);
  expect(consul.instances('ttl')[0]!.status).toBe('passing');
  await new Promise((r) => setTimeout(r, 1300));
  expect(consul.instances('ttl')[0]!.status).toBe('critical');
  await client.agent.check.pass('service:ttl-1');
  expect(consul.instances('ttl')[0]!.status).toBe('passing');

  const locked = await startConsulDouble({ aclToken: 'tok' });
  const anon = createConsulClient({ address: locked.url });
  const withToken = createConsulClient({ address: locked.url, token: 'tok' });
  try {
    await expect(anon.catalog.service.list()).rejects.toThrow(/ACL not found/);
    expect(await withToken.catalog.service.list()).toEqual({});
  } finally {
    anon.destroy();
    withToken.destroy();
    await locked.close();
  }
});
