/**
 * Make-before-break on the client: whatever order a server sends CDS, EDS,
 * LDS and RDS in, the xDS client never publishes a model in which a route or
 * listener points at a cluster it does not hold (a cluster announced later,
 * or removed before the routes moved off it). Calls go through a mesh fed by
 * the client; none may fail while the config changes under them.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, ROUTE_CONFIGURATION } from '../../../src/xds/type-urls.ts';
import { startBackend } from '../../helpers/http-backend.ts';
import type { Backend } from '../../helpers/http-backend.ts';
import { sleep, until } from '../../helpers/cp/wait.ts';
import { ADS_TYPES, FakeAds, all, callsTo, meshFedBy, newClient, resource, resourcesOf } from './fake-ads.ts';
import type { AdsStream } from './fake-ads.ts';

const V2 = 'outbound|9080|v2|reviews';
const V3 = 'outbound|9080|v3|reviews';

let v1: Backend;
let v2: Backend;
let v3: Backend;
beforeAll(async () => {
  [v1, v2, v3] = await Promise.all([startBackend('v1'), startBackend('v2'), startBackend('v3')]);
});
afterAll(async () => {
  await Promise.all([v1?.close(), v2?.close(), v3?.close()]);
});

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(mode: 'sotw' | 'delta', split: Record<string, number>, initialFetchTimeoutMs = 5000) {
  const ads = await new FakeAds().start();
  cleanups.push(() => ads.stop());
  ads.publish(resourcesOf({ endpoints: { v1: v1.address, v2: v2.address }, split }), '1');
  const c = newClient({ servers: [ads.address], mode, initialFetchTimeoutMs }).start();
  cleanups.push(() => c.close());
  await c.ready();
  const mesh = meshFedBy(c);
  cleanups.push(() => mesh.close());
  await mesh.ready;
  const s = await ads.stream(0);
  await until(() => ADS_TYPES.every((t) => { const last = s.lastSent(t); return last !== undefined && s.requests.some((r) => r.response_nonce === last.nonce); }), 3000, 'in sync');
  ads.auto = false;
  let models = 0;
  c.on('model', () => models++);
  return { ads, c, mesh, s, models: () => models };
}

function send(s: AdsStream, typeUrl: string, version: string, resources: Parameters<AdsStream['delta']>[2], removed: string[] = []): string {
  return s.kind === 'sotw' ? s.sotw(typeUrl, version, resources) : s.delta(typeUrl, version, resources, removed);
}

describe.each(['sotw', 'delta'] as const)('make-before-break (%s)', (mode) => {
  it('a route to a cluster not received yet waits for the cluster and its endpoints; calls stay on the old route meanwhile', async () => {
    const { ads, c, mesh, s, models } = await setup(mode, { v1: 100, v2: 0 });
    expect(await callsTo(mesh, 3)).toEqual(['v1', 'v1', 'v1']);
    const next = resourcesOf({ endpoints: { v1: v1.address, v2: v2.address, v3: v3.address }, split: { v1: 0, v2: 0, v3: 100 } });

    // The route moves to v3 before the server has said anything about a v3 cluster.
    const nonce = send(s, ROUTE_CONFIGURATION, '2', [resource(next, ROUTE_CONFIGURATION, 'reviews')]);
    expect((await s.answerTo(nonce)).error_detail ?? undefined).toBeUndefined();
    await sleep(100);
    expect(await callsTo(mesh, 5)).toEqual(['v1', 'v1', 'v1', 'v1', 'v1']);
    expect(models()).toBe(0);

    // Then the cluster: the client asks for its endpoints, and only then moves.
    ads.byType = next;
    ads.version = '2';
    ads.auto = true;
    send(s, CLUSTER, '2', mode === 'sotw' ? all(next, CLUSTER) : [resource(next, CLUSTER, V3)]);
    const eds = await s.request((r) => r.type_url === CLUSTER_LOAD_ASSIGNMENT && (r.resource_names ?? r.resource_names_subscribe ?? []).includes(V3));
    expect(eds.error_detail ?? undefined).toBeUndefined();
    await until(() => models() > 0, 3000, 'model with v3');
    expect(models()).toBe(1);
    expect(await callsTo(mesh, 3)).toEqual(['v3', 'v3', 'v3']);
    expect(c.status().perType[CLUSTER].missing).toEqual([]);
  });

  it('a cluster removed while a route still points at it: the model waits for the route to move', async () => {
    const { ads, mesh, s, models } = await setup(mode, { v1: 50, v2: 50 });
    // 50/50: with 40 calls both versions answer (all 40 to one has odds of 2 in 10^12).
    const before = await callsTo(mesh, 40);
    expect(new Set(before)).toEqual(new Set(['v1', 'v2']));
    const next = resourcesOf({ endpoints: { v1: v1.address }, split: { v1: 100 } });

    // Break before make: the v2 cluster goes first.
    const nonce = send(s, CLUSTER, '2', all(next, CLUSTER), [V2]);
    expect((await s.answerTo(nonce)).error_detail ?? undefined).toBeUndefined();
    await sleep(100);
    const during = await callsTo(mesh, 6);
    expect(during.filter((b) => b.startsWith('status'))).toEqual([]);
    expect(models()).toBe(0);

    ads.byType = next;
    ads.version = '2';
    send(s, ROUTE_CONFIGURATION, '2', [resource(next, ROUTE_CONFIGURATION, 'reviews')]);
    await until(() => models() > 0, 3000, 'model without v2');
    expect(await callsTo(mesh, 4)).toEqual(['v1', 'v1', 'v1', 'v1']);
  });

  it('a referenced cluster that never comes is declared missing after initialFetchTimeoutMs, naming it, and the rest is applied', async () => {
    const { c, s, models } = await setup(mode, { v1: 100, v2: 0 }, 300);
    const next = resourcesOf({ endpoints: { v1: v1.address, v2: v2.address, v3: v3.address }, split: { v1: 0, v2: 0, v3: 100 } });
    send(s, ROUTE_CONFIGURATION, '2', [resource(next, ROUTE_CONFIGURATION, 'reviews')]);
    await sleep(150);
    expect(models()).toBe(0);
    await until(() => c.warnings.some((w) => w.message.includes(`cluster "${V3}" does not exist`)), 3000, 'warning naming the cluster');
    await until(() => models() === 1, 3000, 'model');
    expect(c.status().perType[CLUSTER].missing).toEqual([V3]);
  });
});
