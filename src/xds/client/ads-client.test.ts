/**
 * XdsClient against a small ADS server written here with @grpc/grpc-js on
 * 127.0.0.1:0: real streams, real xDS resources (translated from a mesh.yaml),
 * and a manual clock for backoff and does-not-exist timers.
 */
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMeshYaml } from '../../config/load.ts';
import type { MeshModel } from '../../model/types.ts';
import { serviceDefinitions, toAny } from '../protos.ts';
import type { AnyMessage } from '../protos.ts';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION } from '../type-urls.ts';
import { ENMESH_PROFILE, translateModel } from '../translate/index.ts';
import { XdsClient } from './ads-client.ts';
import type { XdsClientOptions } from './ads-client.ts';
import type { XdsClock } from './clock.ts';
import type { XdsMode } from './env.ts';
import { readRegistration } from './node.ts';

// ---- fixtures ---------------------------------------------------------------

const MESH_V1 = `
mesh: { name: test }
services:
  reviews:
    protocol: http
    port: 9080
    endpoints:
      - { address: 127.0.0.1:9081, labels: { version: v1 } }
      - { address: 127.0.0.1:9082, labels: { version: v2 } }
    subsets: { v1: { version: v1 }, v2: { version: v2 } }
    routes:
      - name: default
        backends: [{ subset: v1, weight: 90 }, { subset: v2, weight: 10 }]
  ratings:
    protocol: grpc
    port: 50051
    endpoints: [{ address: 127.0.0.1:50052 }]
`;
const MESH_V2 = MESH_V1.replace('127.0.0.1:50052', '127.0.0.1:50053');

interface Res {
  readonly name: string;
  readonly version: string;
  readonly any: AnyMessage;
}
type ByType = ReadonlyMap<string, ReadonlyMap<string, Res>>;

function resources(yaml: string): { model: MeshModel; byType: ByType } {
  const model = parseMeshYaml(yaml, 'mesh.yaml');
  return { model, byType: translateModel(model, ENMESH_PROFILE).byType };
}

/** A copy of `byType` with one resource replaced. */
function withResource(byType: ByType, typeUrl: string, res: Res): ByType {
  const out = new Map<string, Map<string, Res>>();
  for (const [t, m] of byType) out.set(t, new Map(m));
  out.get(typeUrl)!.set(res.name, res);
  return out;
}

/** Cluster names referencing a service's endpoints, as the translator names them. */
function clusterOf(byType: ByType, service: string): string {
  const name = [...byType.get(CLUSTER)!.keys()].find((n) => n.endsWith(`|${service}`) && n.split('|')[2] === '');
  if (name === undefined) throw new Error(`no cluster for ${service}`);
  return name;
}

/** An EDS resource whose only endpoint has an out-of-range port: the decoder must refuse it. */
function invalidAssignment(name: string): Res {
  return {
    name,
    version: 'bad',
    any: toAny(CLUSTER_LOAD_ASSIGNMENT, {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 70000 } } } }] }],
    }),
  };
}

function endpointsOf(model: MeshModel | undefined, service: string): string[] {
  return (model?.services.get(service)?.endpoints ?? []).map((e) => `${e.host}:${e.port}`).sort();
}

// ---- a small ADS server -----------------------------------------------------

type Req = Record<string, any>;

const ADS = serviceDefinitions()['envoy.service.discovery.v3.AggregatedDiscoveryService'] as grpc.ServiceDefinition;

/** One client stream as the server sees it. With `auto`, it serves the server's current resources. */
class FakeStream {
  readonly kind: XdsMode;
  readonly call: grpc.ServerDuplexStream<Req, Req>;
  readonly requests: Req[] = [];
  readonly #server: FakeAds;
  readonly #waiters: { pred: (r: Req) => boolean; resolve: (r: Req) => void }[] = [];
  #nonce = 0;
  /** SotW: per type, the subscription and what was last sent. Delta: per type, subscription and what the client holds. */
  readonly #sub = new Map<string, { wildcard: boolean; names: Set<string>; sentKey: string; has: Map<string, string> }>();
  ended = false;

  constructor(server: FakeAds, kind: XdsMode, call: grpc.ServerDuplexStream<Req, Req>) {
    this.#server = server;
    this.kind = kind;
    this.call = call;
    call.on('data', (req: Req) => this.#onRequest(req));
    call.on('end', () => {
      this.ended = true;
      call.end();
    });
    call.on('error', () => {});
    call.on('cancelled', () => (this.ended = true));
  }

  /** The first request (already received or coming) matching `pred`. */
  request(pred: (r: Req) => boolean, timeoutMs = 3000): Promise<Req> {
    const found = this.requests.find(pred);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no such request')), timeoutMs);
      this.#waiters.push({
        pred,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
    });
  }

  nextNonce(): string {
    this.#nonce += 1;
    return `n${this.#nonce}`;
  }

  send(msg: Req): void {
    this.call.write(msg);
  }

  /** Pushes whatever the current resources say this client lacks. */
  push(): void {
    for (const typeUrl of [CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION]) this.#pushType(typeUrl);
  }

  #onRequest(req: Req): void {
    this.requests.push(req);
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      if (this.#waiters[i].pred(req)) this.#waiters.splice(i, 1)[0].resolve(req);
    }
    const typeUrl = req.type_url as string;
    let sub = this.#sub.get(typeUrl);
    if (this.kind === 'sotw') {
      const names = (req.resource_names as string[]) ?? [];
      const first = sub === undefined;
      if (sub === undefined) {
        sub = { wildcard: names.length === 0, names: new Set(), sentKey: '', has: new Map() };
        this.#sub.set(typeUrl, sub);
      }
      const changed = first || names.length !== sub.names.size || names.some((n) => !sub!.names.has(n));
      sub.names = new Set(names);
      if (changed) sub.sentKey = '';
    } else {
      const subscribe = (req.resource_names_subscribe as string[]) ?? [];
      if (sub === undefined) {
        sub = { wildcard: subscribe.length === 0, names: new Set(), sentKey: '', has: new Map() };
        this.#sub.set(typeUrl, sub);
        for (const [n, v] of Object.entries((req.initial_resource_versions as Record<string, string>) ?? {})) sub.has.set(n, v);
      }
      for (const n of subscribe) sub.names.add(n);
      for (const n of (req.resource_names_unsubscribe as string[]) ?? []) {
        sub.names.delete(n);
        sub.has.delete(n);
      }
    }
    if (this.#server.auto) this.#pushType(typeUrl);
  }

  #pushType(typeUrl: string): void {
    const sub = this.#sub.get(typeUrl);
    if (sub === undefined || this.ended) return;
    const all = this.#server.byType.get(typeUrl) ?? new Map<string, Res>();
    const wanted = [...all.values()].filter((r) => sub.wildcard || sub.names.has(r.name));
    if (this.kind === 'sotw') {
      if (!sub.wildcard && wanted.length === 0) return;
      // A new server version resends the set even when no resource changed (as SotW servers may).
      const key = `${this.#server.version}|${wanted.map((r) => `${r.name}@${r.version}`).join(',')}`;
      if (key === sub.sentKey) return;
      sub.sentKey = key;
      this.send({ version_info: this.#server.version, resources: wanted.map((r) => r.any), type_url: typeUrl, nonce: this.nextNonce() });
      return;
    }
    const changed = wanted.filter((r) => sub.has.get(r.name) !== r.version);
    const removed = [...sub.has.keys()].filter((n) => !all.has(n));
    if (changed.length === 0 && removed.length === 0) return;
    for (const r of changed) sub.has.set(r.name, r.version);
    for (const n of removed) sub.has.delete(n);
    this.send({
      system_version_info: this.#server.version,
      resources: changed.map((r) => ({ name: r.name, version: r.version, resource: r.any })),
      removed_resources: removed,
      type_url: typeUrl,
      nonce: this.nextNonce(),
    });
  }
}

class FakeAds {
  readonly server = new grpc.Server();
  readonly streams: FakeStream[] = [];
  byType: ByType = new Map();
  version = '0';
  auto = true;
  port = 0;
  readonly #streamWaiters: (() => void)[] = [];

  /** `sotwOnly`: a server without incremental ADS (DeltaAggregatedResources answers UNIMPLEMENTED). */
  constructor(sotwOnly = false) {
    this.server.addService(ADS, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<Req, Req>) => this.#add(new FakeStream(this, 'sotw', call)),
      ...(sotwOnly
        ? {}
        : { DeltaAggregatedResources: (call: grpc.ServerDuplexStream<Req, Req>) => this.#add(new FakeStream(this, 'delta', call)) }),
    });
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<this> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    return this;
  }

  /** The n-th stream (0-based), waiting for it if needed. */
  stream(n: number, timeoutMs = 3000): Promise<FakeStream> {
    if (this.streams.length > n) return Promise.resolve(this.streams[n]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no stream #${n}`)), timeoutMs);
      const check = (): void => {
        if (this.streams.length > n) {
          clearTimeout(timer);
          resolve(this.streams[n]);
        } else this.#streamWaiters.push(check);
      };
      this.#streamWaiters.push(check);
    });
  }

  publish(byType: ByType, version: string): void {
    this.byType = byType;
    this.version = version;
    for (const s of this.streams) s.push();
  }

  stop(): void {
    this.server.forceShutdown();
  }

  #add(s: FakeStream): void {
    this.streams.push(s);
    const waiters = this.#streamWaiters.splice(0);
    for (const w of waiters) w();
  }
}

/** Timers that run only when the test says so; the delays asked for are recorded. */
class ManualClock implements XdsClock {
  t = 0;
  #seq = 0;
  readonly timers = new Map<number, { at: number; ms: number; fn: () => void }>();
  readonly delays: number[] = [];
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    this.#seq += 1;
    this.timers.set(this.#seq, { at: this.t + ms, ms, fn });
    this.delays.push(ms);
    return this.#seq;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Moves time forward, running what falls due. */
  advance(ms: number): void {
    this.t += ms;
    for (const [id, timer] of [...this.timers].sort((a, b) => a[1].at - b[1].at)) {
      if (timer.at <= this.t && this.timers.delete(id)) timer.fn();
    }
  }
  pending(ms: number): boolean {
    return [...this.timers.values()].some((t) => t.ms === ms);
  }
}

// ---- harness ----------------------------------------------------------------

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(sotwOnly = false): Promise<FakeAds> {
  const s = await new FakeAds(sotwOnly).start();
  cleanups.push(() => s.stop());
  return s;
}

function client(options: Partial<XdsClientOptions> & Pick<XdsClientOptions, 'servers'>): XdsClient {
  const c = new XdsClient({ node: { id: 'test-node', locality: { zone: 'zone-a' } }, random: () => 0.5, ...options });
  c.on('warning', () => {});
  cleanups.push(() => c.close());
  return c.start();
}

/** Resolves with the next 'model' event. */
function nextModel(c: XdsClient, timeoutMs = 3000): Promise<MeshModel> {
  return once(c, 'model', { signal: AbortSignal.timeout(timeoutMs) }).then(([m]) => m as MeshModel);
}

function nextWarning(c: XdsClient, pattern: RegExp, timeoutMs = 3000): Promise<Error> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no warning matching ${pattern}`)), timeoutMs);
    const on = (w: Error): void => {
      if (!pattern.test(w.message)) return;
      clearTimeout(timer);
      c.off('warning', on);
      resolve(w);
    };
    c.on('warning', on);
  });
}

/** Polls `cond` until it holds (bounded). */
async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

// ---- tests ------------------------------------------------------------------

describe.each(['sotw', 'delta'] as const)('XdsClient (%s)', (mode) => {
  it('subscribes CDS and LDS wildcard, then EDS and RDS by name, and builds the model the resources describe', async () => {
    const ads = await server();
    const { model: expected, byType } = resources(MESH_V1);
    ads.publish(byType, 'v1');
    const c = client({ servers: [ads.address], mode });
    const model = await c.ready();
    const s = await ads.stream(0);

    // Order and shape of the first requests: node on the first only, CDS before LDS, wildcard = no names.
    const types = s.requests.map((r) => r.type_url as string);
    expect(types.indexOf(CLUSTER)).toBeLessThan(types.indexOf(LISTENER));
    expect(s.requests[0].node.id).toBe('test-node');
    expect(s.requests[0].node.user_agent_name).toBe('enmesh');
    expect(s.requests[0].node.locality.zone).toBe('zone-a');
    expect(s.requests.slice(1).every((r) => r.node === null || r.node === undefined)).toBe(true);
    const eds = await s.request((r) => r.type_url === CLUSTER_LOAD_ASSIGNMENT);
    const edsNames = mode === 'sotw' ? eds.resource_names : eds.resource_names_subscribe;
    expect([...edsNames].sort()).toEqual([...byType.get(CLUSTER_LOAD_ASSIGNMENT)!.keys()].sort());
    const rds = await s.request((r) => r.type_url === ROUTE_CONFIGURATION);
    expect([...(mode === 'sotw' ? rds.resource_names : rds.resource_names_subscribe)].sort()).toEqual(
      [...byType.get(ROUTE_CONFIGURATION)!.keys()].sort(),
    );

    expect([...model.services.keys()].sort()).toEqual([...expected.services.keys()].sort());
    expect(endpointsOf(model, 'reviews')).toEqual(['127.0.0.1:9081', '127.0.0.1:9082']);
    expect(endpointsOf(model, 'ratings')).toEqual(['127.0.0.1:50052']);
    expect(model.services.get('reviews')!.routes[0].backends?.map((b) => [b.subset, b.weight])).toEqual([
      ['v1', 90],
      ['v2', 10],
    ]);
    expect(c.model).toBe(model);
  });

  it('ACKs every response with its nonce (and SotW version) and reports it in status()', async () => {
    const ads = await server();
    ads.publish(resources(MESH_V1).byType, 'v1');
    const c = client({ servers: [ads.address], mode });
    await c.ready();
    const s = await ads.stream(0);
    await until(() => c.status().perType[ROUTE_CONFIGURATION].acked);
    for (const typeUrl of [CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION]) {
      const st = c.status().perType[typeUrl];
      const ack = await s.request((r) => r.type_url === typeUrl && r.response_nonce === st.nonce);
      expect(ack.error_detail).toBeFalsy();
      if (mode === 'sotw') expect(ack.version_info).toBe('v1');
      expect(st).toMatchObject({ version: 'v1', acked: true });
      expect(st.lastNack).toBeUndefined();
    }
    expect(c.status()).toMatchObject({ connectedTo: ads.address, mode });
  });

  it('emits a new model when the config changes, and none when a resend changes nothing', async () => {
    const ads = await server();
    ads.publish(resources(MESH_V1).byType, 'v1');
    const c = client({ servers: [ads.address], mode });
    const first = await c.ready();
    let events = 0;
    c.on('model', () => events++);
    const next = nextModel(c);
    ads.publish(resources(MESH_V2).byType, 'v2');
    const second = await next;
    expect(endpointsOf(second, 'ratings')).toEqual(['127.0.0.1:50053']);
    expect(second.version).not.toBe(first.version);
    // Same content under a new version label: nothing new for the app.
    const s = await ads.stream(0);
    const before = s.requests.length;
    ads.publish(resources(MESH_V2).byType, 'v3');
    if (mode === 'sotw') {
      // SotW resends the whole set under the new version; the client ACKs it.
      await s.request((r) => s.requests.indexOf(r) >= before && r.version_info === 'v3');
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toBe(1);
  });
});

describe('NACK', () => {
  it('SotW: a response with one invalid resource is rejected whole, with error_detail and the previous version', async () => {
    const ads = await server();
    const v1 = resources(MESH_V1).byType;
    ads.publish(v1, 'v1');
    const c = client({ servers: [ads.address], mode: 'sotw' });
    const model = await c.ready();
    const s = await ads.stream(0);
    let models = 0;
    c.on('model', () => models++);
    const warned = nextWarning(c, /NACK/);

    // v2 changes ratings' endpoints (valid) and breaks reviews' assignment (invalid).
    const reviewsEds = clusterOf(v1, 'reviews');
    ads.publish(withResource(resources(MESH_V2).byType, CLUSTER_LOAD_ASSIGNMENT, invalidAssignment(reviewsEds)), 'v2');
    const nack = await s.request((r) => r.type_url === CLUSTER_LOAD_ASSIGNMENT && r.error_detail != null);
    expect(nack.version_info).toBe('v1');
    expect(nack.response_nonce).toBe(c.status().perType[CLUSTER_LOAD_ASSIGNMENT].nonce);
    expect(nack.error_detail.code).toBe(3);
    expect(nack.error_detail.message).toContain(reviewsEds);
    expect((await warned).message).toContain('version v2');
    expect(c.status().perType[CLUSTER_LOAD_ASSIGNMENT]).toMatchObject({ version: 'v1', acked: false, lastNack: { rejectedVersion: 'v2' } });
    await new Promise((r) => setTimeout(r, 50));
    expect(models).toBe(0);
    expect(c.model).toBe(model);
    expect(endpointsOf(c.model, 'ratings')).toEqual(['127.0.0.1:50052']); // the valid sibling was not applied either
  });

  it('delta: valid siblings in the same response are applied; the invalid one keeps its last good version', async () => {
    const ads = await server();
    const v1 = resources(MESH_V1).byType;
    ads.publish(v1, 'v1');
    const c = client({ servers: [ads.address], mode: 'delta' });
    await c.ready();
    const s = await ads.stream(0);
    const updated = nextModel(c);
    const reviewsEds = clusterOf(v1, 'reviews');
    ads.publish(withResource(resources(MESH_V2).byType, CLUSTER_LOAD_ASSIGNMENT, invalidAssignment(reviewsEds)), 'v2');
    const nack = await s.request((r) => r.type_url === CLUSTER_LOAD_ASSIGNMENT && r.error_detail != null);
    expect(nack.error_detail.code).toBe(3);
    expect(nack.error_detail.message).toContain(reviewsEds);
    const model = await updated;
    expect(endpointsOf(model, 'ratings')).toEqual(['127.0.0.1:50053']);
    expect(endpointsOf(model, 'reviews')).toEqual(['127.0.0.1:9081', '127.0.0.1:9082']);
    expect(c.status().perType[CLUSTER_LOAD_ASSIGNMENT]).toMatchObject({ acked: false, lastNack: { nonce: nack.response_nonce } });
  });
});

describe('reconnect', () => {
  it('backs off ×1.6 with ±20 % jitter, capped, while no server answers', async () => {
    const dead = await server();
    const port = dead.port;
    dead.stop();
    const clock = new ManualClock();
    let r = 0;
    const randoms = [0, 0.999_999, 0.5]; // first pick, then jitter at the low, high and middle ends
    const c = client({
      servers: [`127.0.0.1:${port}`],
      clock,
      random: () => randoms[r++ % randoms.length],
      backoff: { initialMs: 1000, multiplier: 1.6, jitter: 0.2, maxMs: 3000 },
      initialFetchTimeoutMs: 999_999,
    });
    const reconnects: number[] = [];
    for (let i = 0; i < 5; i++) {
      await until(() => [...clock.timers.values()].some((t) => t.ms !== 999_999));
      const t = [...clock.timers.values()].find((x) => x.ms !== 999_999)!;
      reconnects.push(t.ms);
      clock.advance(t.ms);
    }
    // Jitter factor per attempt from random(): 0.5 → ±0, 0 → -20 %, 0.999… → +20 %.
    // Schedule 1000, 1600, 2560, 3000 (cap), 3000.
    expect(reconnects).toEqual([1200, 1600, 2048, 3600, 3000]);
    expect(c.model).toBeUndefined();
  });

  it('fails over to the next server when the first refuses', async () => {
    const dead = await server();
    const deadAddress = dead.address;
    dead.stop();
    const live = await server();
    live.publish(resources(MESH_V1).byType, 'v1');
    const clock = new ManualClock();
    const c = client({ servers: [deadAddress, live.address], clock, random: () => 0 }); // random 0: start at the first
    const connected = once(c, 'connected', { signal: AbortSignal.timeout(3000) });
    const warning = await nextWarning(c, /ended/);
    expect(warning.message).toContain(deadAddress);
    expect(warning.message).toContain(`reconnecting to ${live.address}`);
    clock.advance(clock.delays.find((d) => d !== 15_000)!);
    expect((await connected)[0]).toBe(live.address);
    await c.ready();
    expect(c.status().connectedTo).toBe(live.address);
  });

  it('starts at a random server so clients spread over replicas', async () => {
    const a = await server();
    const b = await server();
    for (const s of [a, b]) s.publish(resources(MESH_V1).byType, 'v1');
    const first = client({ servers: [a.address, b.address], random: () => 0.2 });
    const second = client({ servers: [a.address, b.address], random: () => 0.7 });
    await Promise.all([first.ready(), second.ready()]);
    expect(first.status().connectedTo).toBe(a.address);
    expect(second.status().connectedTo).toBe(b.address);
  });

  it.each(['sotw', 'delta'] as const)('%s: keeps the last good model while disconnected, resyncs after reconnecting', async (mode) => {
    const ads = await server();
    const v1 = resources(MESH_V1).byType;
    ads.publish(v1, 'v1');
    const clock = new ManualClock();
    const c = client({ servers: [ads.address], mode, clock });
    const model = await c.ready();
    let models = 0;
    c.on('model', () => models++);

    const disconnected = once(c, 'disconnected', { signal: AbortSignal.timeout(3000) });
    const port = ads.port;
    ads.stop();
    expect((await disconnected)[0]).toBe(ads.address);
    expect(c.model).toBe(model);
    expect(c.status().connectedTo).toBeUndefined();

    // The control plane comes back on the same port with a newer config.
    const back = new FakeAds();
    await back.start(port);
    cleanups.push(() => back.stop());
    back.publish(resources(MESH_V2).byType, 'v2');
    const updated = nextModel(c);
    await until(() => clock.timers.size > 0);
    clock.advance(Math.max(...[...clock.timers.values()].map((t) => t.ms)));
    const s = await back.stream(0);
    expect(models).toBe(0);
    const m = await updated;
    expect(endpointsOf(m, 'ratings')).toEqual(['127.0.0.1:50053']);
    // It told the new server what it held.
    const cds = await s.request((r) => r.type_url === CLUSTER);
    if (mode === 'sotw') expect(cds.version_info).toBe('v1');
    else expect(Object.keys(cds.initial_resource_versions).sort()).toEqual([...v1.get(CLUSTER)!.keys()].sort());
    expect(s.requests[0].node.id).toBe('test-node');
  });

  it('reports connected once the channel is up, even before the server says anything', async () => {
    const ads = await server();
    ads.auto = false;
    const c = client({ servers: [ads.address] });
    const [address] = await once(c, 'connected', { signal: AbortSignal.timeout(3000) });
    expect(address).toBe(ads.address);
    expect(c.status().connectedTo).toBe(ads.address);
    expect(c.model).toBeUndefined();
  });

  it('falls back to SotW when the server does not implement delta ADS', async () => {
    const ads = await server(true);
    ads.publish(resources(MESH_V1).byType, 'v1');
    const clock = new ManualClock();
    const c = client({ servers: [ads.address], mode: 'delta', clock });
    const w = await nextWarning(c, /does not implement delta/);
    expect(w.message).toContain(ads.address);
    clock.advance(Math.max(...[...clock.timers.values()].map((t) => t.ms)));
    const model = await c.ready();
    expect(endpointsOf(model, 'ratings')).toEqual(['127.0.0.1:50052']);
    expect(c.status().mode).toBe('sotw');
    expect((await ads.stream(0)).kind).toBe('sotw');
  });

  it('fails the stream with a clear warning when a response exceeds the size limit', async () => {
    const ads = await server();
    ads.publish(resources(MESH_V1).byType, 'v1');
    const clock = new ManualClock();
    const c = client({ servers: [ads.address], clock, maxReceiveMessageBytes: 64 });
    const w = await nextWarning(c, /limit/);
    expect(w.message).toContain('64-byte limit');
    expect((w as { code?: string }).code).toBe('ENMESH_ERR_XDS_STREAM');
    expect(c.model).toBeUndefined();
  });
});

describe('does-not-exist', () => {
  it('waits for a referenced resource, then goes on without it after initialFetchTimeoutMs', async () => {
    const ads = await server();
    const v1 = resources(MESH_V1).byType;
    const ratingsEds = clusterOf(v1, 'ratings');
    const withoutRatingsEds = new Map([...v1].map(([t, m]) => [t, new Map([...m].filter(([n]) => !(t === CLUSTER_LOAD_ASSIGNMENT && n === ratingsEds)))]));
    ads.publish(withoutRatingsEds, 'v1');
    const clock = new ManualClock();
    const c = client({ servers: [ads.address], clock, initialFetchTimeoutMs: 5000 });
    let models = 0;
    c.on('model', () => models++);
    const s = await ads.stream(0);
    await s.request((r) => r.type_url === ROUTE_CONFIGURATION && r.response_nonce !== '');
    await until(() => clock.pending(5000));
    await new Promise((r) => setTimeout(r, 30));
    expect(models).toBe(0); // an assignment is still awaited

    const warned = nextWarning(c, /does not exist/);
    const modelP = nextModel(c);
    clock.advance(5000);
    expect((await warned).message).toContain(ratingsEds);
    const model = await modelP;
    expect(endpointsOf(model, 'ratings')).toEqual([]);
    expect(endpointsOf(model, 'reviews')).toEqual(['127.0.0.1:9081', '127.0.0.1:9082']);
    expect(c.status().perType[CLUSTER_LOAD_ASSIGNMENT].missing).toEqual([ratingsEds]);
  });
});

describe('registration and close', () => {
  it.each(['sotw', 'delta'] as const)('%s: announces the instance on the first request and drains on close', async (mode) => {
    const ads = await server();
    ads.publish(resources(MESH_V1).byType, 'v1');
    const registration = { service: 'reviews', host: '127.0.0.1', port: 9083, labels: { version: 'v3' }, zone: 'zone-a' };
    const c = client({ servers: [ads.address], mode, registration });
    await c.ready();
    const s = await ads.stream(0);
    expect(readRegistration(s.requests[0].node)).toEqual({ registration, draining: false });

    const closing = c.close();
    expect(c.close()).toBe(closing); // idempotent
    await closing;
    const last = s.requests.at(-1)!;
    expect(readRegistration(last.node)).toEqual({ registration, draining: true });
    expect(last.type_url).toBe(LISTENER);
    expect(last.error_detail).toBeFalsy();
    await until(() => s.ended);
    expect(s.requests.filter((r) => r.node != null && readRegistration(r.node).draining)).toHaveLength(1);
  });

  it('connects only on start(), once however often it is called, and never after close()', async () => {
    const ads = await server();
    ads.publish(resources(MESH_V1).byType, 'v1');
    const c = new XdsClient({ servers: [ads.address], node: { id: 'lazy' } });
    cleanups.push(() => c.close());
    await new Promise((r) => setTimeout(r, 50));
    expect(ads.streams).toHaveLength(0);
    expect(c.start().start()).toBe(c);
    await c.ready();
    expect(ads.streams).toHaveLength(1);

    const closed = new XdsClient({ servers: [ads.address], node: { id: 'closed' } });
    await closed.close();
    closed.start();
    await new Promise((r) => setTimeout(r, 50));
    expect(ads.streams).toHaveLength(1);
  });

  it('without registration, close sends nothing more and rejects a pending ready()', async () => {
    const dead = await server();
    const address = dead.address;
    dead.stop();
    const c = client({ servers: [address], clock: new ManualClock() });
    const rejected = expect(c.ready()).rejects.toMatchObject({ code: 'ENMESH_ERR_XDS_STREAM' });
    await c.close();
    await rejected;
    await expect(c.ready()).rejects.toThrow(/closed/);
  });
});
