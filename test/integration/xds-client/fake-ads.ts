/**
 * A scriptable ADS server for the xDS client's protocol tests: a real
 * @grpc/grpc-js server on 127.0.0.1 built from the repo's protos. With `auto`
 * it answers subscriptions from the resources last published (SotW: the whole
 * set a request covers, once per server version; delta: what the client does
 * not hold yet, and removals); tests also write any response by hand, record
 * every request, and fail or end streams.
 */
import * as grpc from '@grpc/grpc-js';
import { parseMeshYaml } from '../../../src/config/load.ts';
import { Mesh } from '../../../src/mesh.ts';
import { XdsClient } from '../../../src/xds/client/ads-client.ts';
import type { XdsClientOptions } from '../../../src/xds/client/ads-client.ts';
import type { XdsClock } from '../../../src/xds/client/clock.ts';
import type { XdsMode } from '../../../src/xds/client/env.ts';
import { fromAny, serviceDefinitions } from '../../../src/xds/protos.ts';
import { ENMESH_PROFILE, translateModel } from '../../../src/xds/translate/index.ts';
import type { XdsResource } from '../../../src/xds/translate/index.ts';
import { makeResource } from '../../../src/xds/translate/resource.ts';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION } from '../../../src/xds/type-urls.ts';

export type Req = Record<string, any>;
export type ByType = ReadonlyMap<string, ReadonlyMap<string, XdsResource>>;

const ADS = serviceDefinitions()['envoy.service.discovery.v3.AggregatedDiscoveryService'] as grpc.ServiceDefinition;
export const ADS_TYPES = [CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION] as const;

interface Sub {
  wildcard: boolean;
  names: Set<string>;
  /** SotW: what was last pushed, so a push happens once per server version and subscription. */
  sentKey: string;
  /** Delta: resource versions the client holds. */
  has: Map<string, string>;
}

export class AdsStream {
  readonly kind: XdsMode;
  readonly call: grpc.ServerDuplexStream<Req, Req>;
  readonly requests: Req[] = [];
  /** Responses written, in order. */
  readonly sent: Req[] = [];
  ended = false;
  readonly #server: FakeAds;
  readonly #sub = new Map<string, Sub>();
  readonly #waiters: { pred: (r: Req) => boolean; resolve: (r: Req) => void }[] = [];
  #nonce = 0;

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

  /** The first request, received or to come, matching `pred`. */
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

  /** The client's answer to the response with this nonce. */
  answerTo(nonce: string, timeoutMs = 3000): Promise<Req> {
    return this.request((r) => r.response_nonce === nonce, timeoutMs);
  }

  /** The last response of a type written on this stream. */
  lastSent(typeUrl: string): Req | undefined {
    return this.sent.filter((r) => r.type_url === typeUrl).at(-1);
  }

  /** Writes a response with a fresh nonce; returns the nonce. */
  send(msg: Req): string {
    this.#nonce += 1;
    const nonce = `${this.#server.noncePrefix}${this.#nonce}`;
    const full = { ...msg, nonce };
    this.sent.push(full);
    this.call.write(full);
    return nonce;
  }

  sotw(typeUrl: string, version: string, resources: readonly { readonly any: XdsResource['any'] }[]): string {
    return this.send({ version_info: version, type_url: typeUrl, resources: resources.map((r) => r.any) });
  }

  delta(typeUrl: string, version: string, resources: readonly XdsResource[], removed: readonly string[] = []): string {
    return this.send({
      system_version_info: version,
      type_url: typeUrl,
      resources: resources.map((r) => ({ name: r.name, version: r.version, resource: r.any })),
      removed_resources: [...removed],
    });
  }

  /** Ends the stream with an error status. */
  fail(code: grpc.status = grpc.status.UNAVAILABLE, details = 'going away'): void {
    this.ended = true;
    this.call.emit('error', { code, details });
  }

  push(): void {
    for (const typeUrl of ADS_TYPES) this.#pushType(typeUrl);
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
    const all = this.#server.byType.get(typeUrl) ?? new Map<string, XdsResource>();
    const wanted = [...all.values()].filter((r) => sub.wildcard || sub.names.has(r.name));
    if (this.kind === 'sotw') {
      if (!sub.wildcard && wanted.length === 0) return;
      const key = `${this.#server.version}|${[...sub.names].join(',')}`;
      if (key === sub.sentKey) return;
      sub.sentKey = key;
      this.sotw(typeUrl, this.#server.version, wanted);
      return;
    }
    const changed = wanted.filter((r) => sub.has.get(r.name) !== r.version);
    const removed = [...sub.has.keys()].filter((n) => !all.has(n));
    if (changed.length === 0 && removed.length === 0) return;
    for (const r of changed) sub.has.set(r.name, r.version);
    for (const n of removed) sub.has.delete(n);
    this.delta(typeUrl, this.#server.version, changed, removed);
  }
}

export class FakeAds {
  readonly server = new grpc.Server();
  readonly streams: AdsStream[] = [];
  byType: ByType = new Map();
  version = '0';
  auto = true;
  port = 0;
  /** Prefix of every nonce, so two server lives never share one. */
  noncePrefix = 'n';
  /** Runs on each new stream before anything is read from it. */
  onStream: ((s: AdsStream) => void) | undefined;
  readonly #streamWaiters: (() => void)[] = [];

  constructor() {
    this.server.addService(ADS, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<Req, Req>) => this.#add(new AdsStream(this, 'sotw', call)),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<Req, Req>) => this.#add(new AdsStream(this, 'delta', call)),
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
  stream(n: number, timeoutMs = 3000): Promise<AdsStream> {
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

  #add(s: AdsStream): void {
    this.streams.push(s);
    this.onStream?.(s);
    for (const w of this.#streamWaiters.splice(0)) w();
  }
}

// ---- resources ----------------------------------------------------------------

export interface ReviewsConfig {
  /** Endpoint address per version label; each label becomes a subset. */
  readonly endpoints: Readonly<Record<string, string>>;
  /** Default route's weight per subset. */
  readonly split: Readonly<Record<string, number>>;
  /** A second service, `ratings` on port 9090, with this endpoint. */
  readonly ratings?: string;
}

export function meshYaml(c: ReviewsConfig): string {
  const lines = ['mesh: { name: audit }', 'services:', '  reviews:', '    protocol: http', '    port: 9080', '    endpoints:'];
  for (const [v, address] of Object.entries(c.endpoints)) lines.push(`      - { address: "${address}", labels: { version: ${v} } }`);
  lines.push('    subsets:');
  for (const v of Object.keys(c.endpoints)) lines.push(`      ${v}: { version: ${v} }`);
  const backends = Object.entries(c.split).map(([v, w]) => `{ subset: ${v}, weight: ${w} }`);
  lines.push('    routes:', '      - name: default', `        backends: [${backends.join(', ')}]`);
  if (c.ratings !== undefined) {
    lines.push('  ratings:', '    protocol: http', '    port: 9090', `    endpoints: [{ address: "${c.ratings}" }]`);
  }
  return `${lines.join('\n')}\n`;
}

export function resourcesOf(c: ReviewsConfig): ByType {
  return translateModel(parseMeshYaml(meshYaml(c), 'mesh.yaml'), ENMESH_PROFILE).byType;
}

/** A copy of `byType` with one resource decoded, changed by `edit` and re-encoded (new content version). */
export function edited(byType: ByType, typeUrl: string, name: string, edit: (m: Record<string, any>) => void): ByType {
  const out = new Map<string, Map<string, XdsResource>>();
  for (const [t, m] of byType) out.set(t, new Map(m));
  const target = out.get(typeUrl)?.get(name);
  if (target === undefined) throw new Error(`no ${typeUrl} "${name}"`);
  const message = fromAny(target.any);
  edit(message);
  out.get(typeUrl)!.set(name, makeResource(typeUrl, name, message));
  return out;
}

/** A copy of `byType` without the named resources of a type. */
export function without(byType: ByType, typeUrl: string, names: readonly string[]): ByType {
  const out = new Map<string, Map<string, XdsResource>>();
  for (const [t, m] of byType) out.set(t, new Map([...m].filter(([n]) => t !== typeUrl || !names.includes(n))));
  return out;
}

/** A copy of `byType` whose resource versions are replaced (a server with another version history). */
export function reversioned(byType: ByType, version: (r: XdsResource) => string): ByType {
  const out = new Map<string, Map<string, XdsResource>>();
  for (const [t, m] of byType) out.set(t, new Map([...m].map(([n, r]) => [n, { ...r, version: version(r) }])));
  return out;
}

export function resource(byType: ByType, typeUrl: string, name: string): XdsResource {
  const r = byType.get(typeUrl)?.get(name);
  if (r === undefined) throw new Error(`no ${typeUrl} "${name}"`);
  return r;
}

export function all(byType: ByType, typeUrl: string): XdsResource[] {
  return [...(byType.get(typeUrl)?.values() ?? [])];
}

// ---- client, mesh, calls ----------------------------------------------------------

/** System time, with every delay asked for recorded. */
export function recordingClock(): XdsClock & { readonly delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    now: () => Date.now(),
    setTimeout: (fn, ms) => {
      delays.push(ms);
      return setTimeout(fn, ms);
    },
    clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  };
}

export function newClient(options: Partial<XdsClientOptions> & Pick<XdsClientOptions, 'servers'>): XdsClient & { warnings: Error[] } {
  const c = new XdsClient({
    node: { id: 'audit-node', locality: { zone: 'zone-a' }, metadata: { team: 'books' } },
    backoff: { initialMs: 50, maxMs: 200 },
    ...options,
  }) as XdsClient & { warnings: Error[] };
  c.warnings = [];
  c.on('warning', (w) => c.warnings.push(w));
  return c;
}

/** A mesh (no hooks) whose config is what `client` emits: calls go through `mesh.dispatcher`. */
export function meshFedBy(client: XdsClient): Mesh {
  const mesh = new Mesh({ service: { name: 'audit' }, hooks: { undici: false, http: false, grpc: false } });
  mesh.on('error', () => {});
  client.on('model', (m) => mesh.applyModel(m));
  if (client.model !== undefined) mesh.applyModel(client.model);
  return mesh;
}

/** One GET to reviews through the mesh: the answering backend's name, or the status when not 200. */
export async function callReviews(mesh: Mesh): Promise<string> {
  const { request } = await import('undici');
  const res = await request('http://reviews:9080/', { dispatcher: mesh.dispatcher, signal: AbortSignal.timeout(3000) });
  await res.body.text();
  return res.statusCode === 200 ? String(res.headers['x-backend']) : `status ${res.statusCode}`;
}

export async function callsTo(mesh: Mesh, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await callReviews(mesh));
  return out;
}

export function endpointsOf(c: { model: { services: ReadonlyMap<string, { endpoints: readonly { host: string; port: number }[] }> } | undefined }, service: string): string[] {
  return (c.model?.services.get(service)?.endpoints ?? []).map((e) => `${e.host}:${e.port}`).sort();
}
