/**
 * The SDK's xDS client against a scripted ADS server (fake-ads.ts): what the
 * transport protocol and docs/xds-client.md promise, checked on the wire.
 * ACK and NACK contents, deletion by absence (SotW) and by removal (delta),
 * resources never sent, responses nobody asked for, duplicates, size limits,
 * reconnect and resubscription, a control plane that restarts with another
 * version history, and a server that goes silent. Where routing is at stake,
 * HTTP calls go through a mesh fed by the client.
 */
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { init } from '../../../src/mesh.ts';
import type { MeshModel } from '../../../src/model/types.ts';
import type { XdsClient } from '../../../src/xds/client/ads-client.ts';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION } from '../../../src/xds/type-urls.ts';
import { startBackend } from '../../helpers/http-backend.ts';
import type { Backend } from '../../helpers/http-backend.ts';
import { sleep, until } from '../../helpers/cp/wait.ts';
import {
  ADS_TYPES,
  FakeAds,
  all,
  callsTo,
  edited,
  endpointsOf,
  meshFedBy,
  newClient,
  recordingClock,
  resource,
  resourcesOf,
  reversioned,
  without,
} from './fake-ads.ts';
import type { AdsStream, ReviewsConfig } from './fake-ads.ts';

const SECRET = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';
const MAIN = 'outbound|9080||reviews';
const RATINGS = 'outbound|9090||ratings';

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

async function server(port = 0): Promise<FakeAds> {
  const s = await new FakeAds().start(port);
  cleanups.push(() => s.stop());
  return s;
}

function client(...args: Parameters<typeof newClient>): ReturnType<typeof newClient> {
  const c = newClient(...args);
  cleanups.push(() => c.close());
  return c;
}

function fedMesh(c: XdsClient): ReturnType<typeof meshFedBy> {
  const mesh = meshFedBy(c);
  cleanups.push(() => mesh.close());
  return mesh;
}

const base = (): ReviewsConfig => ({ endpoints: { v1: v1.address, v2: v2.address }, split: { v1: 100, v2: 0 }, ratings: '127.0.0.1:9091' });

function nextModel(c: XdsClient, timeoutMs = 3000): Promise<MeshModel> {
  return once(c, 'model', { signal: AbortSignal.timeout(timeoutMs) }).then(([m]) => m as MeshModel);
}

function warning(c: ReturnType<typeof newClient>, pattern: RegExp, timeoutMs = 3000): Promise<Error> {
  return until(() => c.warnings.some((w) => pattern.test(w.message)), timeoutMs, `warning ${pattern}`).then(
    () => c.warnings.find((w) => pattern.test(w.message))!,
  );
}

/** Waits until every ADS type has been answered on `s` (the client is in sync with what was sent). */
async function settled(s: AdsStream): Promise<void> {
  await until(() => ADS_TYPES.every((t) => { const last = s.lastSent(t); return last !== undefined && s.requests.some((r) => r.response_nonce === last.nonce); }), 3000, 'every type answered');
}

describe.each(['sotw', 'delta'] as const)('ACK and NACK (%s)', (mode) => {
  it('ACKs with the nonce (and SotW version); NACKs with the previous version, the nonce and an error naming resource and field; calls keep the last good routes', async () => {
    const ads = await server();
    ads.publish(resourcesOf(base()), '1');
    // The real wiring: init() in control-plane mode, calls through the mesh's dispatcher.
    const mesh = await init({ controlPlane: [`xds://${ads.address}`], xdsMode: mode, hooks: { undici: false, http: false, grpc: false } });
    cleanups.push(() => mesh.close());
    mesh.on('error', () => {});
    await Promise.race([mesh.ready, sleep(5000).then(() => Promise.reject(new Error('no config')))]);
    expect(await callsTo(mesh, 4)).toEqual(['v1', 'v1', 'v1', 'v1']);
    const s = await ads.stream(0);
    await settled(s);
    for (const typeUrl of ADS_TYPES) {
      const res = s.lastSent(typeUrl)!;
      const ack = await s.answerTo(res.nonce);
      expect(ack.type_url).toBe(typeUrl);
      expect(ack.error_detail ?? undefined).toBeUndefined();
      if (mode === 'sotw') expect(ack.version_info).toBe('1');
    }

    // Version 2 sends everything to v2, through a route that also names a cluster enmesh cannot read.
    const bad = edited(resourcesOf({ ...base(), split: { v1: 0, v2: 100 } }), ROUTE_CONFIGURATION, 'reviews', (rc) => {
      rc.virtual_hosts[0].routes[0].route.weighted_clusters.clusters.push({ name: 'bogus', weight: { value: 1 } });
    });
    ads.publish(bad, '2');
    await until(() => s.sent.filter((r) => r.type_url === ROUTE_CONFIGURATION).length === 2, 3000, 'bad RDS sent');
    const nack = await s.answerTo(s.lastSent(ROUTE_CONFIGURATION)!.nonce);
    expect(nack.type_url).toBe(ROUTE_CONFIGURATION);
    expect(nack.error_detail.code).toBe(3);
    expect(nack.error_detail.message).toContain('RouteConfiguration "reviews"');
    expect(nack.error_detail.message).toContain('weighted_clusters.clusters[2].name');
    expect(nack.error_detail.message).toContain('"bogus"');
    if (mode === 'sotw') expect(nack.version_info).toBe('1');
    expect(await callsTo(mesh, 6)).toEqual(['v1', 'v1', 'v1', 'v1', 'v1', 'v1']);

    // The next good version is taken.
    ads.publish(resourcesOf({ ...base(), split: { v1: 0, v2: 100 } }), '3');
    await until(async () => (await callsTo(mesh, 1))[0] === 'v2', 3000, 'calls to v2');
    expect(await callsTo(mesh, 3)).toEqual(['v2', 'v2', 'v2']);
  });

  it('NACKs a response naming one resource twice, applying neither copy', async () => {
    const ads = await server();
    const good = resourcesOf(base());
    ads.publish(good, '1');
    const c = client({ servers: [ads.address], mode }).start();
    const model = await c.ready();
    const s = await ads.stream(0);
    await settled(s);
    let models = 0;
    c.on('model', () => models++);
    const original = resource(good, CLUSTER, MAIN);
    const changed = resource(edited(good, CLUSTER, MAIN, (m) => (m.lb_policy = 'LEAST_REQUEST')), CLUSTER, MAIN);
    const nonce =
      mode === 'sotw'
        ? s.sotw(CLUSTER, '2', [...all(good, CLUSTER), changed])
        : s.delta(CLUSTER, '2', [original, { ...changed, version: 'changed' }]);
    const nack = await s.answerTo(nonce);
    expect(nack.error_detail?.code).toBe(3);
    expect(nack.error_detail.message).toContain(`"${MAIN}"`);
    expect(nack.error_detail.message).toMatch(/twice|more than once|duplicate/);
    if (mode === 'sotw') expect(nack.version_info).toBe('1');
    await sleep(50);
    expect(models).toBe(0);
    expect(c.model).toBe(model);
    expect(c.model!.services.get('reviews')!.loadBalancer).toBe('round-robin');
    expect(c.status().perType[CLUSTER]).toMatchObject({ acked: false, lastNack: { nonce } });
  });

  // SotW has no removal list.
  if (mode === 'delta') it('delta: NACKs a name both sent and removed in one response, applying neither', async () => {
    const ads = await server();
    const good = resourcesOf(base());
    ads.publish(good, '1');
    const c = client({ servers: [ads.address], mode }).start();
    const model = await c.ready();
    const s = await ads.stream(0);
    await settled(s);
    const changed = resource(edited(good, CLUSTER, MAIN, (m) => (m.lb_policy = 'LEAST_REQUEST')), CLUSTER, MAIN);
    const nonce = s.delta(CLUSTER, '2', [changed], [MAIN]);
    const nack = await s.answerTo(nonce);
    expect(nack.error_detail?.code).toBe(3);
    expect(nack.error_detail.message).toContain(`"${MAIN}" is both sent and removed`);
    expect(c.status().perType[CLUSTER].resources).toContain(MAIN);
    await sleep(50);
    expect(c.model).toBe(model);
  });

  it('bounds the NACK message when a response holds thousands of bad resources', async () => {
    const ads = await server();
    ads.publish(resourcesOf(base()), '1');
    const c = client({ servers: [ads.address], mode }).start();
    await c.ready();
    const s = await ads.stream(0);
    await settled(s);
    const bad = Array.from({ length: 2000 }, (_, i) => ({
      name: `outbound|9080|x${i}|reviews`,
      version: '1',
      any: resource(edited(resourcesOf(base()), CLUSTER, MAIN, (m) => { m.name = `outbound|9080|x${i}|reviews`; m.lb_policy = 'MAGLEV'; }), CLUSTER, MAIN).any,
      typeUrl: CLUSTER,
    }));
    const nonce = mode === 'sotw' ? s.sotw(CLUSTER, '2', bad) : s.delta(CLUSTER, '2', bad);
    const nack = await s.answerTo(nonce);
    expect(nack.error_detail.message).toContain('outbound|9080|x0|reviews');
    expect(nack.error_detail.message.length).toBeLessThan(4200);
    expect(nack.error_detail.message).toContain('2000 errors');
  });
});

describe('deletion', () => {
  it('SotW: a cluster or listener absent from a response is deleted; an assignment absent from an EDS response is kept', async () => {
    const ads = await server();
    const v1config = resourcesOf(base());
    ads.publish(v1config, '1');
    const c = client({ servers: [ads.address], mode: 'sotw' }).start();
    await c.ready();
    expect(endpointsOf(c, 'ratings')).toEqual(['127.0.0.1:9091']);
    const s = await ads.stream(0);
    await settled(s);

    // Version 2 drops ratings: CDS and LDS responses without its resources delete them.
    ads.publish(resourcesOf({ ...base(), ratings: undefined }), '2');
    await until(() => c.model?.services.has('ratings') === false, 3000, 'ratings gone');
    expect(c.status().perType[CLUSTER].resources).not.toContain(RATINGS);
    // It is no longer asked for.
    const eds = await s.request((r) => r.type_url === CLUSTER_LOAD_ASSIGNMENT && r.version_info === '2');
    expect(eds.resource_names).not.toContain(RATINGS);

    // An EDS response naming only one of the subscribed assignments leaves the others as they were.
    let models = 0;
    c.on('model', () => models++);
    const held = c.status().perType[CLUSTER_LOAD_ASSIGNMENT].resources;
    const nonce = s.sotw(CLUSTER_LOAD_ASSIGNMENT, '3', [resource(v1config, CLUSTER_LOAD_ASSIGNMENT, MAIN)]);
    const ack = await s.answerTo(nonce);
    expect(ack.error_detail ?? undefined).toBeUndefined();
    expect(ack.version_info).toBe('3');
    expect([...c.status().perType[CLUSTER_LOAD_ASSIGNMENT].resources].sort()).toEqual([...held].sort());
    await sleep(50);
    expect(models).toBe(0);
  });

  it('delta: removed_resources deletes a cluster or listener at once, and a removed subscribed assignment is known missing without waiting', async () => {
    const ads = await server();
    ads.publish(resourcesOf(base()), '1');
    const c = client({ servers: [ads.address], mode: 'delta', initialFetchTimeoutMs: 60_000 }).start();
    await c.ready();
    const s = await ads.stream(0);
    await settled(s);

    ads.publish(resourcesOf({ ...base(), ratings: undefined }), '2');
    await until(() => c.model?.services.has('ratings') === false, 3000, 'ratings gone');
    const lds = s.sent.find((r) => r.type_url === LISTENER && r.removed_resources.length > 0)!;
    expect(lds.removed_resources.sort()).toEqual(['ratings', 'ratings:9090']);

    // The server says the main assignment of reviews is gone: no endpoints, no does-not-exist wait.
    ads.auto = false;
    const gone = nextModel(c, 1000);
    const nonce = s.delta(CLUSTER_LOAD_ASSIGNMENT, '3', [], [MAIN]);
    expect((await s.answerTo(nonce)).error_detail ?? undefined).toBeUndefined();
    const m3 = await gone;
    expect(m3.services.get('reviews')!.endpoints).toEqual([]);
    expect(c.status().perType[CLUSTER_LOAD_ASSIGNMENT].missing).toEqual([MAIN]);
  });
});

describe('resources never sent', () => {
  it('a referenced assignment that never comes is declared missing after initialFetchTimeoutMs, with a warning naming it', async () => {
    const ads = await server();
    ads.publish(without(resourcesOf(base()), CLUSTER_LOAD_ASSIGNMENT, [RATINGS]), '1');
    const c = client({ servers: [ads.address], initialFetchTimeoutMs: 300 }).start();
    const started = Date.now();
    const model = await c.ready();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect((await warning(c, /does not exist/)).message).toContain(RATINGS);
    expect(endpointsOf(c, 'ratings')).toEqual([]);
    expect(endpointsOf(c, 'reviews')).toEqual([v1.address, v2.address].sort());
    expect(model.services.has('ratings')).toBe(true);
    expect(c.status().perType[CLUSTER_LOAD_ASSIGNMENT].missing).toEqual([RATINGS]);
  });

  it('a server that never answers: after initialFetchTimeoutMs the wildcard types count as empty (documented), with a warning', async () => {
    const ads = await server();
    ads.auto = false;
    const c = client({ servers: [ads.address], initialFetchTimeoutMs: 200 }).start();
    const model = await c.ready();
    expect(model.services.size).toBe(0);
    expect(c.warnings.map((w) => w.message).join('\n')).toMatch(/no cluster resources received after 200 ms/);
    expect(c.status().connectedTo).toBe(ads.address);
  });
});

describe.each(['sotw', 'delta'] as const)('responses nobody asked for (%s)', (mode) => {
  it('an unknown type URL is ignored with a warning, never answered, and the stream goes on', async () => {
    const ads = await server();
    ads.publish(resourcesOf(base()), '1');
    const c = client({ servers: [ads.address], mode }).start();
    const model = await c.ready();
    const s = await ads.stream(0);
    await settled(s);
    const before = s.requests.length;
    s.send(mode === 'sotw' ? { version_info: 'x', type_url: SECRET, resources: [] } : { system_version_info: 'x', type_url: SECRET, resources: [] });
    await warning(c, /unrequested type/);
    await sleep(50);
    expect(s.requests.slice(before).filter((r) => r.type_url === SECRET)).toEqual([]);
    expect(c.model).toBe(model);
    const next = nextModel(c);
    ads.publish(resourcesOf({ ...base(), split: { v1: 0, v2: 100 } }), '2');
    await next;
  });

  it('a known type sent before it was subscribed is ignored: no accidental wildcard subscription', async () => {
    const ads = await server();
    const cfg = resourcesOf(base());
    ads.byType = cfg;
    ads.version = '1';
    ads.auto = false;
    // The server pushes endpoints before the client asked for any.
    ads.onStream = (st) => {
      if (mode === 'sotw') st.sotw(CLUSTER_LOAD_ASSIGNMENT, '1', all(cfg, CLUSTER_LOAD_ASSIGNMENT));
      else st.delta(CLUSTER_LOAD_ASSIGNMENT, '1', all(cfg, CLUSTER_LOAD_ASSIGNMENT));
    };
    const c = client({ servers: [ads.address], mode }).start();
    const s = await ads.stream(0);
    await s.request((r) => r.type_url === LISTENER);
    await sleep(150);
    // Answering it would be the stream's first EDS request, with no names: a wildcard subscription.
    expect(s.requests.filter((r) => r.type_url === CLUSTER_LOAD_ASSIGNMENT)).toEqual([]);
    await warning(c, /unrequested type/);
    ads.auto = true;
    s.push();
    await c.ready();
    const first = s.requests.find((r) => r.type_url === CLUSTER_LOAD_ASSIGNMENT)!;
    const names = mode === 'sotw' ? first.resource_names : first.resource_names_subscribe;
    expect([...names].sort()).toEqual([...cfg.get(CLUSTER_LOAD_ASSIGNMENT)!.keys()].sort());
    expect(first.response_nonce).toBe('');
    expect(endpointsOf(c, 'reviews')).toEqual([v1.address, v2.address].sort());
  });

  it('resources of names not subscribed are ACKed and not kept', async () => {
    const ads = await server();
    const cfg = resourcesOf(base());
    ads.publish(cfg, '1');
    const c = client({ servers: [ads.address], mode }).start();
    await c.ready();
    const s = await ads.stream(0);
    await settled(s);
    const ghost = resource(edited(cfg, CLUSTER_LOAD_ASSIGNMENT, RATINGS, (m) => (m.cluster_name = 'outbound|1||ghost')), CLUSTER_LOAD_ASSIGNMENT, RATINGS);
    const extra = { ...ghost, name: 'outbound|1||ghost' };
    const nonce = mode === 'sotw' ? s.sotw(CLUSTER_LOAD_ASSIGNMENT, '2', [...all(cfg, CLUSTER_LOAD_ASSIGNMENT), extra]) : s.delta(CLUSTER_LOAD_ASSIGNMENT, '2', [extra]);
    expect((await s.answerTo(nonce)).error_detail ?? undefined).toBeUndefined();
    expect(c.status().perType[CLUSTER_LOAD_ASSIGNMENT].resources).not.toContain('outbound|1||ghost');
  });
});

describe.each(['sotw', 'delta'] as const)('size limits (%s)', (mode) => {
  it('a response over maxReceiveMessageBytes fails the stream with a warning; the model stays and the client comes back', async () => {
    const ads = await server();
    ads.publish(resourcesOf(base()), '1');
    const c = client({ servers: [ads.address], mode, maxReceiveMessageBytes: 256 * 1024 }).start();
    const model = await c.ready();
    const s = await ads.stream(0);
    await settled(s);
    let models = 0;
    c.on('model', () => models++);
    const huge = { any: { type_url: CLUSTER, value: Buffer.alloc(300 * 1024, 1) }, name: 'huge', version: '1', typeUrl: CLUSTER };
    if (mode === 'sotw') s.sotw(CLUSTER, '2', [huge]);
    else s.delta(CLUSTER, '2', [huge]);
    expect((await warning(c, /limit/)).message).toContain('exceeds the 262144-byte limit (maxReceiveMessageBytes)');
    const again = await ads.stream(1);
    await again.request((r) => r.type_url === ROUTE_CONFIGURATION);
    if (mode === 'sotw') await settled(again);
    expect(c.model).toBe(model);
    expect(models).toBe(0);
    expect(c.status().connectedTo).toBe(ads.address);
  });
});

describe.each(['sotw', 'delta'] as const)('reconnect (%s)', (mode) => {
  it('backs off exponentially with bounded jitter while streams fail, and starts over once a response arrives', async () => {
    const ads = await server();
    ads.publish(resourcesOf(base()), '1');
    let failing = 5;
    ads.onStream = (st) => {
      if (failing > 0) {
        failing--;
        st.fail();
      }
    };
    const clock = recordingClock();
    const c = client({ servers: [ads.address], mode, clock, initialFetchTimeoutMs: 60_000, closeTimeoutMs: 900, backoff: { initialMs: 20, multiplier: 2, jitter: 0.5, maxMs: 100 } }).start();
    await c.ready();
    const delays = () => clock.delays.filter((d) => d !== 60_000 && d !== 900);
    const bases = [20, 40, 80, 100, 100];
    expect(delays()).toHaveLength(5);
    delays().forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(Math.floor(bases[i] * 0.5));
      expect(d).toBeLessThanOrEqual(Math.ceil(bases[i] * 1.5));
    });
    (await ads.stream(5)).fail();
    await ads.stream(6);
    expect(delays()).toHaveLength(6);
    expect(delays()[5]).toBeLessThanOrEqual(30); // reset after a delivered response
  });

  it('resubscribes on the new stream: node on its first request only, what it holds (delta initial_resource_versions, SotW version_info), every referenced name', async () => {
    const ads = await server();
    const cfg = resourcesOf(base());
    ads.publish(cfg, '1');
    const c = client({ servers: [ads.address], mode }).start();
    await c.ready();
    const s0 = await ads.stream(0);
    await settled(s0);
    s0.fail();
    const s1 = await ads.stream(1);
    await s1.request((r) => r.type_url === ROUTE_CONFIGURATION);
    if (mode === 'sotw') await settled(s1);
    else await sleep(50);
    for (const s of [s0, s1]) {
      expect(s.requests[0].node).toMatchObject({ id: 'audit-node', user_agent_name: 'enmesh', locality: { zone: 'zone-a' } });
      expect(s.requests[0].node.metadata.fields.team).toMatchObject({ stringValue: 'books' });
      expect(s.requests.slice(1).every((r) => r.node == null)).toBe(true);
    }
    const firstOf = (t: string) => s1.requests.find((r) => r.type_url === t)!;
    expect(s1.requests.map((r) => r.type_url).slice(0, 4)).toEqual([CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION]);
    for (const t of ADS_TYPES) {
      const req = firstOf(t);
      expect(req.response_nonce).toBe('');
      expect(req.error_detail ?? undefined).toBeUndefined();
      const names = [...cfg.get(t)!.keys()].sort();
      if (mode === 'sotw') {
        expect(req.version_info).toBe('1');
        expect([...(req.resource_names ?? [])].sort()).toEqual(t === CLUSTER || t === LISTENER ? [] : names);
      } else {
        expect(req.initial_resource_versions).toEqual(Object.fromEntries([...cfg.get(t)!.values()].map((r) => [r.name, r.version])));
        expect([...(req.resource_names_subscribe ?? [])].sort()).toEqual(t === CLUSTER || t === LISTENER ? [] : names);
      }
    }
    // Nothing changed: the delta server had nothing to send.
    if (mode === 'delta') expect(s1.sent).toEqual([]);
  });

  it('a control plane that comes back with another version history: what it sends is applied, whatever the versions say', async () => {
    const ads = await server();
    const before = resourcesOf(base());
    ads.publish(reversioned(before, () => '7'), '7');
    const c = client({ servers: [ads.address], mode }).start();
    await c.ready();
    await settled(await ads.stream(0));
    const port = ads.port;
    const down = once(c, 'disconnected', { signal: AbortSignal.timeout(3000) });
    ads.stop();
    await down;

    // Back with no ratings, reviews on v3 only, and every version restarting at 1.
    const after = resourcesOf({ endpoints: { v3: v3.address }, split: { v3: 100 } });
    const back = await server(port);
    back.noncePrefix = 'b';
    back.publish(reversioned(after, () => '1'), '1');
    const s = await back.stream(0, 5000);
    await until(() => endpointsOf(c, 'reviews').join() === v3.address, 5000, 'new config applied');
    expect(c.model!.services.has('ratings')).toBe(false);
    const cds = s.requests.find((r) => r.type_url === CLUSTER)!;
    if (mode === 'sotw') expect(cds.version_info).toBe('7');
    else expect(Object.values(cds.initial_resource_versions).every((v) => v === '7')).toBe(true);
    await settled(s);
    if (mode === 'sotw') expect((await s.answerTo(s.lastSent(CLUSTER)!.nonce)).version_info).toBe('1');

    // New content under the very version strings the client holds still counts: content decides.
    back.auto = false;
    const moved = reversioned(resourcesOf({ endpoints: { v3: v2.address }, split: { v3: 100 } }), () => '1');
    const next = nextModel(c);
    const nonce = mode === 'sotw' ? s.sotw(CLUSTER_LOAD_ASSIGNMENT, '1', all(moved, CLUSTER_LOAD_ASSIGNMENT)) : s.delta(CLUSTER_LOAD_ASSIGNMENT, '1', all(moved, CLUSTER_LOAD_ASSIGNMENT));
    expect((await s.answerTo(nonce)).error_detail ?? undefined).toBeUndefined();
    const m = await next;
    expect(endpointsOf({ model: m }, 'reviews')).toEqual([v2.address]);
  });

  // A delta stream's first request of a type never carried error_detail.
  if (mode === 'sotw') it('SotW: a NACK does not follow the client onto a new stream', async () => {
    const ads = await server();
    const good = resourcesOf(base());
    ads.publish(good, '1');
    const c = client({ servers: [ads.address], mode }).start();
    await c.ready();
    const s0 = await ads.stream(0);
    await settled(s0);
    const bad = edited(good, CLUSTER, MAIN, (m) => (m.lb_policy = 'MAGLEV'));
    ads.publish(bad, '2');
    await s0.request((r) => r.type_url === CLUSTER && r.error_detail != null);
    ads.auto = false;
    s0.fail();
    const s1 = await ads.stream(1);
    const cds = await s1.request((r) => r.type_url === CLUSTER);
    expect(cds.version_info).toBe('1');
    expect(cds.response_nonce).toBe('');
    // A NACK answers a response of the old stream; on this one nothing has been rejected yet.
    expect(cds.error_detail ?? undefined).toBeUndefined();
  });
});

describe('a server that goes silent', () => {
  it('keeps the last good config in force (calls still routed), reports the connection, and declares nothing missing', async () => {
    const ads = await server();
    ads.publish(resourcesOf(base()), '1');
    const c = client({ servers: [ads.address], initialFetchTimeoutMs: 200 }).start();
    const model = await c.ready();
    const mesh = fedMesh(c);
    await mesh.ready;
    const s0 = await ads.stream(0);
    await settled(s0);
    ads.auto = false;
    const states: string[] = [];
    c.on('state', (_server, state) => states.push(state));
    let models = 0;
    c.on('model', () => models++);
    const warned = c.warnings.length;
    s0.fail();
    const s1 = await ads.stream(1);
    await s1.request((r) => r.type_url === ROUTE_CONFIGURATION);
    await sleep(500); // over twice initialFetchTimeoutMs, with no answer
    expect(s1.sent).toEqual([]);
    expect(models).toBe(0);
    expect(c.model).toBe(model);
    expect(c.warnings.slice(warned).filter((w) => /does not exist|treating the set as empty/.test(w.message))).toEqual([]);
    expect(states).toEqual(['disconnected', 'connecting', 'connected']);
    expect(c.status()).toMatchObject({ connectedTo: ads.address });
    expect(await callsTo(mesh, 4)).toEqual(['v1', 'v1', 'v1', 'v1']);
  });
});
