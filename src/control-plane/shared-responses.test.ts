/**
 * Streams share work per snapshot (a type whose version did not move is
 * skipped, SotW selections and delta changes are computed once and encoded
 * once). These tests hold the shortcuts to the protocol's promise: after any
 * sequence of publishes and subscription changes, every client holds exactly
 * what it should; and the shared bytes decode to the response a stream would
 * have sent on its own.
 */
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serviceDefinitions } from '../xds/protos.ts';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT as CLA, LISTENER, ROUTE_CONFIGURATION as RDS } from '../xds/type-urls.ts';
import type { AdsCall, StreamContext } from './ads-stream.ts';
import { ClientRecord, ClientRegistry } from './client-registry.ts';
import { DeltaStream } from './delta-stream.ts';
import { silentLogger } from './log.ts';
import type { DeltaDiscoveryResponse, DiscoveryResponse } from './messages.ts';
import type { Snapshot, SnapshotResource } from './snapshot.ts';
import type { ChangeListener } from './snapshot-cache.ts';
import { SotwStream } from './sotw-stream.ts';

const TYPES = [CLUSTER, CLA, LISTENER, RDS];
const NAMES = ['a', 'b', 'c', 'd'];
/** Type → name → version. */
type Spec = Record<string, Record<string, string>>;

let seq = 0;
function snapshot(spec: Spec): Snapshot {
  seq += 1;
  const resources = new Map<string, Map<string, SnapshotResource>>();
  const typeVersions = new Map<string, string>();
  for (const typeUrl of TYPES) {
    const byName = new Map<string, SnapshotResource>();
    for (const [name, version] of Object.entries(spec[typeUrl] ?? {})) {
      byName.set(name, { typeUrl, name, version, any: { type_url: typeUrl, value: Buffer.from(`${name}@${version}`) } });
    }
    resources.set(typeUrl, byName);
    // Content-derived, as in production: equal content, equal version.
    typeVersions.set(typeUrl, [...byName.values()].map((r) => `${r.name}@${r.version}`).sort().join(',') || 'empty');
  }
  return { version: `s${seq}`, modelVersion: `m${seq}`, profile: 'test', resources, typeVersions, degradations: [] };
}

class Cache {
  snap: Snapshot;
  readonly listeners = new Set<ChangeListener>();
  constructor(spec: Spec) {
    this.snap = snapshot(spec);
  }
  current(): Snapshot {
    return this.snap;
  }
  onChange(l: ChangeListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  publish(spec: Spec): void {
    this.snap = snapshot(spec);
    for (const l of this.listeners) l({ modelVersion: this.snap.modelVersion, previousModelVersion: undefined });
  }
}

class Call<T> implements AdsCall<T> {
  readonly written: T[] = [];
  write(message: T): boolean {
    this.written.push(message);
    return true;
  }
  once(): unknown {
    return this;
  }
}

const methods = serviceDefinitions()['envoy.service.discovery.v3.AggregatedDiscoveryService'] as grpc.ServiceDefinition;
const sotwMethod = methods.StreamAggregatedResources!;
const deltaMethod = methods.DeltaAggregatedResources!;

function context(cache: Cache, encoded: boolean): StreamContext {
  return {
    cache,
    registry: new ClientRegistry(),
    profileForNode: () => ({ kind: 'test' }),
    log: silentLogger,
    ...(encoded
      ? {
          encode: {
            sotw: (r: DiscoveryResponse) => sotwMethod.responseSerialize(r),
            delta: (r: DeltaDiscoveryResponse) => deltaMethod.responseSerialize(r),
          },
        }
      : {}),
  };
}

let ids = 0;
const record = (kind: 'sotw' | 'delta'): ClientRecord => new ClientRecord({ id: `c${++ids}`, kind, address: 't', connectedSince: 0 });
const nameOf = (value: Uint8Array): [string, string] => Buffer.from(value).toString().split('@') as [string, string];

/** What a client holds after applying every response so far: type → name → version. */
function sotwView(responses: readonly DiscoveryResponse[]): Map<string, Map<string, string>> {
  const view = new Map<string, Map<string, string>>();
  for (const r of responses) view.set(r.type_url, new Map((r.resources ?? []).map((a) => nameOf(a.value))));
  return view;
}

/** A delta client: applies responses as they come, and forgets what it unsubscribes from. */
class DeltaClient {
  readonly view = new Map<string, Map<string, string>>();
  readonly call: Call<DeltaDiscoveryResponse>;
  #seen = 0;
  constructor(call: Call<DeltaDiscoveryResponse>) {
    this.call = call;
  }
  read(): Map<string, Map<string, string>> {
    for (const r of this.call.written.slice(this.#seen)) {
      const held = this.#held(r.type_url);
      for (const x of r.resources ?? []) held.set(x.name, x.version);
      for (const n of r.removed_resources ?? []) held.delete(n);
    }
    this.#seen = this.call.written.length;
    return this.view;
  }
  unsubscribe(typeUrl: string, names: readonly string[]): void {
    this.read();
    for (const n of names) this.#held(typeUrl).delete(n);
  }
  #held(typeUrl: string): Map<string, string> {
    let held = this.view.get(typeUrl);
    if (held === undefined) this.view.set(typeUrl, (held = new Map()));
    return held;
  }
}

const specArb: fc.Arbitrary<Spec> = fc.record(
  Object.fromEntries(
    TYPES.map((t) => [t, fc.dictionary(fc.constantFrom(...NAMES), fc.constantFrom('1', '2', '3'), { maxKeys: NAMES.length })]),
  ) as Record<string, fc.Arbitrary<Record<string, string>>>,
);

type Op = { publish: Spec } | { subscribe: { typeUrl: string; names: string[] } };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: specArb.map((publish) => ({ publish })) },
  {
    weight: 1,
    arbitrary: fc
      .record({ typeUrl: fc.constantFrom(CLA, RDS), names: fc.subarray(NAMES, { minLength: 1 }) })
      .map((subscribe) => ({ subscribe })),
  },
);

describe('shared responses', () => {
  it('leave every client holding exactly what it subscribed to, through any publishes and subscription changes', () => {
    fc.assert(
      fc.property(specArb, fc.array(opArb, { maxLength: 25 }), (initial, ops) => {
        const cache = new Cache(initial);
        const sotwCall = new Call<DiscoveryResponse>();
        const deltaCall = new Call<DeltaDiscoveryResponse>();
        const sotw = new SotwStream(sotwCall as never, context(cache, false), record('sotw'));
        const delta = new DeltaStream(deltaCall as never, context(cache, false), record('delta'));
        const client = new DeltaClient(deltaCall);
        const subs = new Map<string, string[]>([
          [CLA, ['a', 'b']],
          [RDS, ['c']],
        ]);
        sotw.onRequest({ node: { id: 's' }, type_url: LISTENER, resource_names: [] });
        sotw.onRequest({ type_url: CLUSTER, resource_names: [] });
        delta.onRequest({ node: { id: 'd' }, type_url: LISTENER, resource_names_subscribe: [] });
        delta.onRequest({ type_url: CLUSTER, resource_names_subscribe: [] });
        for (const [typeUrl, names] of subs) {
          sotw.onRequest({ type_url: typeUrl, resource_names: names });
          delta.onRequest({ type_url: typeUrl, resource_names_subscribe: names });
        }
        const check = (): void => {
          const s = sotwView(sotwCall.written);
          const d = client.read();
          for (const typeUrl of TYPES) {
            const all = cache.snap.resources.get(typeUrl)!;
            const wanted = subs.get(typeUrl);
            const expected = new Map([...all.values()].filter((r) => wanted === undefined || wanted.includes(r.name)).map((r) => [r.name, r.version]));
            expect(d.get(typeUrl) ?? new Map()).toEqual(expected);
            // SotW RDS/EDS: nothing is sent while none of the names exists; the client keeps what it had.
            if (wanted === undefined || expected.size > 0) expect(s.get(typeUrl) ?? new Map()).toEqual(expected);
          }
        };
        check();
        for (const op of ops) {
          if ('publish' in op) {
            cache.publish(op.publish);
          } else {
            const { typeUrl, names } = op.subscribe;
            const before = subs.get(typeUrl)!;
            subs.set(typeUrl, names);
            sotw.onRequest({ type_url: typeUrl, resource_names: names });
            const dropped = before.filter((n) => !names.includes(n));
            client.unsubscribe(typeUrl, dropped);
            delta.onRequest({ type_url: typeUrl, resource_names_subscribe: names.filter((n) => !before.includes(n)), resource_names_unsubscribe: dropped });
          }
          check();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('encode a shared response once, and it decodes to what the stream would have sent on its own (but for the nonce)', () => {
    const spec: Spec = { [CLUSTER]: { a: '1', b: '1' }, [CLA]: { a: '1', b: '1' } };
    const next: Spec = { [CLUSTER]: { a: '1', b: '2' }, [CLA]: { a: '2', b: '1' } };
    const plainCache = new Cache(spec);
    const sharedCache = new Cache(spec);
    const plain = { sotw: new Call<DiscoveryResponse>(), delta: new Call<DeltaDiscoveryResponse>() };
    const shared = [0, 1].map(() => ({ sotw: new Call<Uint8Array | object>(), delta: new Call<Uint8Array | object>() }));
    const open = (cache: Cache, encoded: boolean, calls: { sotw: Call<unknown>; delta: Call<unknown> }): void => {
      const s = new SotwStream(calls.sotw as never, context(cache, encoded), record('sotw'));
      const d = new DeltaStream(calls.delta as never, context(cache, encoded), record('delta'));
      s.onRequest({ node: { id: 's' }, type_url: CLUSTER, resource_names: [] });
      s.onRequest({ type_url: CLA, resource_names: ['a', 'b'] });
      d.onRequest({ node: { id: 'd' }, type_url: CLUSTER, resource_names_subscribe: ['*'] });
      d.onRequest({ type_url: CLA, resource_names_subscribe: ['a', 'b'] });
    };
    open(plainCache, false, plain);
    for (const calls of shared) open(sharedCache, true, calls);
    // Same content, different snapshot objects: the second publish goes through the shared paths.
    plainCache.publish(next);
    sharedCache.publish(next);

    // A response not shared (a stream's first, say) is written as an object, for the transport to serialize.
    const decodeSotw = (b: Uint8Array | object): unknown => (b instanceof Uint8Array ? sotwMethod.responseDeserialize(Buffer.from(b)) : b);
    const decodeDelta = (b: Uint8Array | object): unknown => (b instanceof Uint8Array ? deltaMethod.responseDeserialize(Buffer.from(b)) : b);
    const norm = (r: object): unknown => JSON.parse(JSON.stringify(r, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString() : v)));
    const sameShape = (decoded: unknown, own: object): void => {
      const d = decoded as Record<string, unknown>;
      const o = norm(own) as Record<string, unknown>;
      for (const key of Object.keys(o)) {
        if (key === 'nonce') continue;
        const empty = Array.isArray(o[key]) && (o[key] as unknown[]).length === 0;
        expect(empty ? (d[key] ?? []) : norm(d[key] as object)).toEqual(o[key]);
      }
    };
    for (const calls of shared) {
      expect(calls.sotw.written).toHaveLength(plain.sotw.written.length);
      expect(calls.delta.written).toHaveLength(plain.delta.written.length);
      calls.sotw.written.forEach((b, i) => sameShape(decodeSotw(b), plain.sotw.written[i]!));
      calls.delta.written.forEach((b, i) => sameShape(decodeDelta(b), plain.delta.written[i]!));
    }
    // After the publish both types went out as shared bytes: the very same buffers on both streams.
    const after = shared.map((calls) => [...calls.sotw.written.slice(2), ...calls.delta.written.slice(2)]);
    expect(after[0]!.length).toBeGreaterThanOrEqual(4);
    after[0]!.forEach((w, i) => {
      expect(w).toBeInstanceOf(Uint8Array);
      expect(after[1]![i]).toBe(w);
    });
    // On each stream, every response of a type has a nonce of its own.
    for (const calls of shared) {
      for (const [list, decode] of [
        [calls.sotw.written, decodeSotw],
        [calls.delta.written, decodeDelta],
      ] as const) {
        const nonces = list.map((w) => `${(decode(w) as { type_url: string }).type_url} ${(decode(w) as { nonce: string }).nonce}`);
        expect(new Set(nonces).size).toBe(nonces.length);
      }
    }
  });
});
