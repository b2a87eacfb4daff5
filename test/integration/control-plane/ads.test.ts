/**
 * The ADS protocol driven by hand (a bare grpc-js client): SotW and delta
 * convergence, NACK handling, incremental pushes, reconnects, registration
 * and hot reload of a bad file.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNode } from '../../../src/xds/client/node.ts';
import { fromAny } from '../../../src/xds/protos.ts';
import type { AnyMessage } from '../../../src/xds/protos.ts';
import { clusterName } from '../../../src/xds/resource-names.ts';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT as CLA, LISTENER, ROUTE_CONFIGURATION as RDS } from '../../../src/xds/type-urls.ts';
import type { DeltaDiscoveryResponse } from '../../../src/control-plane/messages.ts';
import { meshFixture } from '../../helpers/grpc-xds/fixture.ts';
import { RawAds } from '../../helpers/grpc-xds/raw-ads.ts';
import { clientView, startHarness, until } from './harness.ts';
import type { Harness } from './harness.ts';

const V1_PORT = 7101;
const V2_PORT = 7102;
const ALL = clusterName('ratings', 50051);
const CLUSTERS = [clusterName('ratings', 50051, 'v1'), clusterName('ratings', 50051, 'v2'), ALL];

let h: Harness;
const streams: RawAds<'sotw' | 'delta'>[] = [];

const ratings = (w1: number, w2: number, lb = 'round-robin'): string =>
  meshFixture('ratings.yaml', { v1: V1_PORT, v2: V2_PORT, w1, w2, lb });

function open<K extends 'sotw' | 'delta'>(kind: K): RawAds<K> {
  const s = new RawAds(h.cp.xdsPort, kind);
  streams.push(s as RawAds<'sotw' | 'delta'>);
  return s;
}

const nameOf = (a: AnyMessage): string => String(fromAny<{ name?: string; cluster_name?: string }>(a).name ?? fromAny<{ cluster_name?: string }>(a).cluster_name);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function endpointsOf(cla: AnyMessage): string[] {
  const m = fromAny<{ endpoints?: { lb_endpoints?: { endpoint?: { address?: { socket_address?: { address: string; port_value: number } } } }[] }[] }>(cla);
  return (m.endpoints ?? []).flatMap((l) =>
    (l.lb_endpoints ?? []).map((e) => `${e.endpoint?.address?.socket_address?.address}:${e.endpoint?.address?.socket_address?.port_value}`),
  );
}

function deltaHasEndpoint(r: DeltaDiscoveryResponse, address: string): boolean {
  return r.resources.some((res) => res.name === ALL && endpointsOf(res.resource).includes(address));
}

beforeAll(async () => {
  h = await startHarness(ratings(80, 20));
});

afterAll(async () => {
  for (const s of streams) s.close();
  await h?.close();
});

describe('state of the world', () => {
  it('converges LDS → RDS → CDS → EDS and records every ACK', async () => {
    await h.apply(ratings(80, 20));
    const s = open('sotw');
    s.send({ node: { id: 'sotw-converge' }, type_url: LISTENER, resource_names: [] });
    const lds = await s.next((r) => r.type_url === LISTENER);
    expect(lds.resources.map(nameOf).sort()).toEqual(['ratings', 'ratings:50051']);
    s.send({ type_url: LISTENER, resource_names: [], version_info: lds.version_info, response_nonce: lds.nonce });

    s.send({ type_url: RDS, resource_names: ['ratings'] });
    const rds = await s.next((r) => r.type_url === RDS);
    expect(rds.resources.map(nameOf)).toEqual(['ratings']);
    s.send({ type_url: RDS, resource_names: ['ratings'], version_info: rds.version_info, response_nonce: rds.nonce });

    s.send({ type_url: CLUSTER, resource_names: [] });
    const cds = await s.next((r) => r.type_url === CLUSTER);
    expect(cds.resources.map(nameOf).sort()).toEqual([...CLUSTERS].sort());
    s.send({ type_url: CLUSTER, resource_names: [], version_info: cds.version_info, response_nonce: cds.nonce });

    s.send({ type_url: CLA, resource_names: [ALL, 'not-there'] });
    const eds = await s.next((r) => r.type_url === CLA);
    // Only what exists; the client keeps waiting for the rest.
    expect(eds.resources.map(nameOf)).toEqual([ALL]);
    expect(endpointsOf(eds.resources[0]!).sort()).toEqual([`127.0.0.1:${V1_PORT}`, `127.0.0.1:${V2_PORT}`]);
    s.send({ type_url: CLA, resource_names: [ALL, 'not-there'], version_info: eds.version_info, response_nonce: eds.nonce });

    await until(() => h.cp.registry.byNodeId('sotw-converge')[0]?.types.get(CLA)?.acks === 1, 2000, 'EDS ACK not recorded');
    const record = h.cp.registry.byNodeId('sotw-converge')[0]!;
    for (const [typeUrl, resp] of [[LISTENER, lds], [RDS, rds], [CLUSTER, cds], [CLA, eds]] as const) {
      const t = record.types.get(typeUrl)!;
      expect(t.ackedVersion).toBe(resp.version_info);
      expect(t.lastNack).toBeUndefined();
    }
    expect(record.kind).toBe('sotw');
  });

  it('records a NACK, never resends the NACKed version, and sends the next new one', async () => {
    await h.apply(ratings(80, 20));
    const s = open('sotw');
    s.send({ node: { id: 'sotw-nack' }, type_url: CLUSTER, resource_names: [] });
    const first = await s.next((r) => r.type_url === CLUSTER);
    s.send({
      type_url: CLUSTER,
      resource_names: [],
      version_info: '',
      response_nonce: first.nonce,
      error_detail: { code: 3, message: 'cluster rejected on purpose' },
    });
    await sleep(1000);
    expect(s.of(CLUSTER)).toHaveLength(1);
    const t = h.cp.registry.byNodeId('sotw-nack')[0]!.types.get(CLUSTER)!;
    expect(t.lastNack).toMatchObject({ version: first.version_info, error: 'cluster rejected on purpose' });
    expect(t.ackedVersion).toBe('');

    // A change elsewhere (routes only) publishes a new snapshot but no new cluster version.
    await h.apply(ratings(70, 30));
    await sleep(300);
    expect(s.of(CLUSTER)).toHaveLength(1);

    // A new cluster version is sent.
    await h.apply(ratings(70, 30, 'random'));
    const second = await s.next((r) => r.type_url === CLUSTER && r.version_info !== first.version_info);
    expect(second.resources).toHaveLength(3);
    expect(s.of(CLUSTER)).toHaveLength(2);
  });

  it('clears lastNack once the client ACKs a newer version of the type', async () => {
    await h.apply(ratings(80, 20));
    const s = open('sotw');
    s.send({ node: { id: 'sotw-nack-ack' }, type_url: CLUSTER, resource_names: [] });
    const first = await s.next((r) => r.type_url === CLUSTER);
    s.send({ type_url: CLUSTER, resource_names: [], version_info: '', response_nonce: first.nonce, error_detail: { code: 3, message: 'not this one' } });
    await until(() => h.cp.registry.byNodeId('sotw-nack-ack')[0]?.types.get(CLUSTER)?.nacks === 1, 2000, 'NACK not recorded');
    expect((await clientView(h, 'sotw-nack-ack')).types[CLUSTER]!.lastNack).toMatchObject({ version: first.version_info, error: 'not this one' });

    await h.apply(ratings(80, 20, 'random'));
    const second = await s.next((r) => r.type_url === CLUSTER && r.version_info !== first.version_info);
    s.send({ type_url: CLUSTER, resource_names: [], version_info: second.version_info, response_nonce: second.nonce });
    await until(() => h.cp.registry.byNodeId('sotw-nack-ack')[0]?.types.get(CLUSTER)?.acks === 1, 2000, 'ACK not recorded');
    const t = (await clientView(h, 'sotw-nack-ack')).types[CLUSTER]!;
    expect(t).toMatchObject({ ackedVersion: second.version_info, sentVersion: second.version_info, lastNack: null, nacks: 1 });
  });
});

describe('delta', () => {
  async function subscribeAll(nodeId: string, initial?: Record<string, string>): Promise<RawAds<'delta'>> {
    const s = open('delta');
    s.send({ node: { id: nodeId }, type_url: CLUSTER, resource_names_subscribe: ['*'], ...(initial && { initial_resource_versions: initial }) });
    s.send({ type_url: CLA, resource_names_subscribe: CLUSTERS });
    s.send({ type_url: LISTENER, resource_names_subscribe: [] });
    s.send({ type_url: RDS, resource_names_subscribe: ['ratings'] });
    for (const t of [CLUSTER, CLA, LISTENER, RDS]) {
      const r = await s.next((x) => x.type_url === t);
      s.send({ type_url: t, response_nonce: r.nonce });
    }
    return s;
  }

  it('converges: wildcard LDS/CDS, named RDS/EDS, pushed CDS → EDS → LDS → RDS', async () => {
    await h.apply(ratings(80, 20));
    const s = await subscribeAll('delta-converge');
    const names = (t: string): string[] => s.of(t).flatMap((r) => r.resources.map((x) => x.name)).sort();
    expect(names(CLUSTER)).toEqual([...CLUSTERS].sort());
    expect(names(CLA)).toEqual([...CLUSTERS].sort());
    expect(names(LISTENER)).toEqual(['ratings', 'ratings:50051']);
    expect(names(RDS)).toEqual(['ratings']);
    for (const r of s.responses) expect(r.removed_resources).toEqual([]);
    await until(() => h.cp.registry.byNodeId('delta-converge')[0]?.types.get(RDS)?.acks === 1, 2000, 'RDS ACK not recorded');

    // A change touching every type arrives in make-before-break order: new and
    // changed clusters and endpoints, then routes, then the removals.
    const mark = s.responses.length;
    await h.apply(meshFixture('ratings-ring-hash.yaml', { v1: V1_PORT, v2: V2_PORT }).replace(`127.0.0.1:${V2_PORT}`, '127.0.0.2:7102'));
    await s.next((r) => r.type_url === CLA && r.removed_resources.length > 0, 3000, mark);
    await sleep(200);
    const pushed = s.responses.slice(mark);
    expect(pushed.map((r) => r.type_url)).toEqual([CLUSTER, CLA, RDS, CLUSTER, CLA]);
    const subsets = CLUSTERS.filter((c) => c !== ALL).sort();
    expect(pushed[0]!.resources.map((r) => r.name)).toEqual([ALL]);
    expect(pushed[0]!.removed_resources).toEqual([]);
    expect(pushed[3]!.resources).toEqual([]);
    expect(pushed[3]!.removed_resources.sort()).toEqual(subsets);
    expect(pushed[4]!.removed_resources.sort()).toEqual(subsets);
  });

  it('sends only the changed resources after an edit', async () => {
    await h.apply(ratings(80, 20));
    const s = await subscribeAll('delta-incremental');
    const mark = s.responses.length;
    await h.apply(ratings(70, 30));
    await s.next((r) => r.type_url === RDS, 3000, mark);
    await sleep(300);
    const pushed = s.responses.slice(mark);
    expect(pushed).toHaveLength(1);
    expect(pushed[0]!.resources.map((r) => r.name)).toEqual(['ratings']);
    expect(pushed[0]!.removed_resources).toEqual([]);
  });

  it('does not resend what a reconnecting client holds (initial_resource_versions)', async () => {
    await h.apply(ratings(80, 20));
    const a = open('delta');
    a.send({ node: { id: 'delta-reconnect' }, type_url: CLUSTER, resource_names_subscribe: ['*'] });
    const held: Record<string, string> = {};
    for (const r of (await a.next((x) => x.type_url === CLUSTER)).resources) held[r.name] = r.version;
    expect(Object.keys(held)).toHaveLength(3);
    a.close();

    const b = open('delta');
    b.send({ node: { id: 'delta-reconnect' }, type_url: CLUSTER, resource_names_subscribe: ['*'], initial_resource_versions: held });
    const upToDate = await b.next((x) => x.type_url === CLUSTER);
    expect(upToDate.resources).toEqual([]);
    expect(upToDate.removed_resources).toEqual([]);

    const c = open('delta');
    c.send({
      node: { id: 'delta-reconnect' },
      type_url: CLUSTER,
      resource_names_subscribe: ['*'],
      initial_resource_versions: { ...held, [ALL]: 'stale', gone: 'v0' },
    });
    const partial = await c.next((x) => x.type_url === CLUSTER);
    expect(partial.resources.map((r) => r.name)).toEqual([ALL]);
    // What the client holds but no longer exists is removed next (clusters are removed last).
    const removal = await c.next((x) => x.type_url === CLUSTER, 3000, 1);
    expect(removal.resources).toEqual([]);
    expect(removal.removed_resources).toEqual(['gone']);
    await sleep(200);
    expect(c.responses).toHaveLength(2);
  });

  it('clears lastNack once the client ACKs a later response of the type', async () => {
    await h.apply(ratings(80, 20));
    const s = open('delta');
    s.send({ node: { id: 'delta-nack-ack' }, type_url: CLUSTER, resource_names_subscribe: ['*'] });
    const first = await s.next((r) => r.type_url === CLUSTER);
    expect(first.resources).toHaveLength(3);
    s.send({ type_url: CLUSTER, response_nonce: first.nonce, error_detail: { code: 3, message: 'not these' } });
    await until(() => h.cp.registry.byNodeId('delta-nack-ack')[0]?.types.get(CLUSTER)?.nacks === 1, 2000, 'NACK not recorded');
    expect((await clientView(h, 'delta-nack-ack')).types[CLUSTER]!.lastNack).toMatchObject({ version: first.system_version_info, error: 'not these' });

    // The balancer of every ratings cluster changes: all three come again.
    await h.apply(ratings(80, 20, 'random'));
    const second = await s.next((r) => r.type_url === CLUSTER, 3000, s.responses.indexOf(first) + 1);
    expect(second.resources.map((r) => r.name).sort()).toEqual([...CLUSTERS].sort());
    s.send({ type_url: CLUSTER, response_nonce: second.nonce });
    await until(() => h.cp.registry.byNodeId('delta-nack-ack')[0]?.types.get(CLUSTER)?.acks === 1, 2000, 'ACK not recorded');
    const t = (await clientView(h, 'delta-nack-ack')).types[CLUSTER]!;
    expect(t).toMatchObject({ ackedVersion: second.system_version_info, sentVersion: second.system_version_info, lastNack: null, nacks: 1 });
  });

  it('answers a subscription to a missing name with removed_resources, once', async () => {
    const s = open('delta');
    s.send({ node: { id: 'delta-missing' }, type_url: RDS, resource_names_subscribe: ['nope'] });
    const r = await s.next((x) => x.type_url === RDS);
    expect(r.resources).toEqual([]);
    expect(r.removed_resources).toEqual(['nope']);
    s.send({ type_url: RDS, response_nonce: r.nonce, resource_names_subscribe: ['ratings'] });
    const r2 = await s.next((x) => x.type_url === RDS, 3000, 1);
    expect(r2.resources.map((x) => x.name)).toEqual(['ratings']);
    expect(r2.removed_resources).toEqual([]);
  });
});

describe('self-registration', () => {
  const registrant = fileURLToPath(new URL('../../helpers/grpc-xds/registrant.ts', import.meta.url));

  it('adds a registered instance to EDS and removes it within 3 s of a SIGKILL', async () => {
    await h.apply(ratings(80, 20));
    const watch = open('delta');
    watch.send({ node: { id: 'eds-watch' }, type_url: CLA, resource_names_subscribe: [ALL] });
    await watch.next((r) => r.type_url === CLA);

    const child = spawn(
      process.execPath,
      [registrant, '--port', String(h.cp.xdsPort), '--node-id', 'doomed', '--host', '127.0.0.9', '--instance-port', '7009'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await watch.next((r) => deltaHasEndpoint(r, '127.0.0.9:7009'), 10_000);
      const { services } = await h.admin<{ services: { name: string; endpoints: { address: string; origin: string }[] }[] }>('/api/v1/services');
      expect(services.find((s) => s.name === 'ratings')!.endpoints).toContainEqual(
        expect.objectContaining({ address: '127.0.0.9:7009', origin: 'registered' }),
      );
      const mark = watch.responses.length;
      const killedAt = Date.now();
      child.kill('SIGKILL');
      await watch.next((r) => r.resources.some((x) => x.name === ALL) && !deltaHasEndpoint(r, '127.0.0.9:7009'), 3000, mark);
      expect(Date.now() - killedAt).toBeLessThan(3000);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('finds a frozen peer by keepalive and removes its instance within a few seconds', async () => {
    const watch = open('delta');
    watch.send({ node: { id: 'eds-watch-2' }, type_url: CLA, resource_names_subscribe: [ALL] });
    await watch.next((r) => r.type_url === CLA);
    const child = spawn(
      process.execPath,
      [registrant, '--port', String(h.cp.xdsPort), '--node-id', 'frozen', '--host', '127.0.0.10', '--instance-port', '7010'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await watch.next((r) => deltaHasEndpoint(r, '127.0.0.10:7010'), 10_000);
      const mark = watch.responses.length;
      const frozenAt = Date.now();
      // SIGSTOP keeps the TCP connection open but nothing answers: only keepalive can tell.
      child.kill('SIGSTOP');
      await watch.next((r) => r.resources.some((x) => x.name === ALL) && !deltaHasEndpoint(r, '127.0.0.10:7010'), 8000, mark);
      const elapsed = Date.now() - frozenAt;
      // About keepalive interval + timeout + registration grace (1 s + 1 s + 2 s).
      expect(elapsed).toBeGreaterThan(2000);
      expect(elapsed).toBeLessThan(6000);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('removes a draining instance at once, without the grace period', async () => {
    const reg = { service: 'ratings', host: '127.0.0.8', port: 7008, labels: { version: 'v1' } };
    const s = open('sotw');
    s.send({ node: buildNode({ id: 'drainer' }, reg, false), type_url: LISTENER, resource_names: [] });
    await until(() => h.cp.registrations.list().some((i) => i.instance === 'ratings/127.0.0.8:7008'), 2000, 'not registered');
    expect(h.cp.registry.byNodeId('drainer')[0]!.registration).toBe('ratings/127.0.0.8:7008');
    const at = Date.now();
    s.send({ node: buildNode({ id: 'drainer' }, reg, true) });
    s.end();
    await until(() => h.cp.registrations.list().length === 0, 1000, 'draining instance still registered');
    expect(Date.now() - at).toBeLessThan(1000);
  });

  it('reports a registration for a service the config lacks', async () => {
    const s = open('sotw');
    s.send({
      node: buildNode({ id: 'stranger' }, { service: 'nowhere', host: '127.0.0.7', port: 7007 }, false),
      type_url: LISTENER,
      resource_names: [],
    });
    await s.next((r) => r.type_url === LISTENER);
    await until(() => h.cp.registrations.errors().length > 0, 2000, 'no registration error');
    const { errors } = await h.admin<{ errors: { instance: string; message: string }[] }>('/api/v1/registrations');
    expect(errors).toContainEqual(expect.objectContaining({ instance: 'nowhere/127.0.0.7:7007' }));
    expect(errors[0]!.message).toMatch(/service "nowhere" is not declared/);
    s.close();
  });
});

describe('hot reload', () => {
  it('keeps the last good snapshot when the file turns invalid, and says why', async () => {
    await h.apply(ratings(80, 20));
    const before = await h.admin<{ modelVersion: string }>('/api/v1/snapshot');
    expect((await h.admin<{ error: unknown }>('/api/v1/config/errors')).error).toBeNull();

    await h.file.write(ratings(80, 20).replace('loadBalancer: round-robin', 'loadBalancer: round-robin\n    retryPolicy: {}'));
    await until(() => h.cp.configError() !== null, 3000, 'invalid edit not reported');
    const { error } = await h.admin<{ error: { kind: string; file: string; message: string; issues: { path: string }[] } }>('/api/v1/config/errors');
    expect(error.kind).toBe('config');
    expect(error.file).toBe(h.file.path);
    expect(error.issues.map((i) => i.path)).toContain('services.ratings.retryPolicy');
    expect((await h.admin<{ modelVersion: string }>('/api/v1/snapshot')).modelVersion).toBe(before.modelVersion);

    await h.file.write('services: [');
    await until(() => /YAML|syntax/i.test(h.cp.configError()?.message ?? ''), 3000, 'syntax error not reported');
    expect((await h.admin<{ modelVersion: string }>('/api/v1/snapshot')).modelVersion).toBe(before.modelVersion);

    await h.apply(ratings(80, 20));
    expect((await h.admin<{ error: unknown }>('/api/v1/config/errors')).error).toBeNull();
  });
});
