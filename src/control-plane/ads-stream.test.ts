import { describe, expect, it } from 'vitest';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT as CLA, LISTENER, ROUTE_CONFIGURATION as RDS } from '../xds/type-urls.ts';
import type { AdsCall, StreamContext } from './ads-stream.ts';
import { ClientRecord, ClientRegistry } from './client-registry.ts';
import { DeltaStream } from './delta-stream.ts';
import { silentLogger } from './log.ts';
import type { DeltaDiscoveryResponse, DiscoveryResponse } from './messages.ts';
import type { Snapshot, SnapshotResource } from './snapshot.ts';
import type { ChangeListener } from './snapshot-cache.ts';
import { SotwStream } from './sotw-stream.ts';

/** Name → version per type; the resource bytes are the version's text. */
type Spec = Partial<Record<string, Record<string, string>>>;

let snapSeq = 0;
function snapshot(spec: Spec): Snapshot {
  snapSeq += 1;
  const resources = new Map<string, Map<string, SnapshotResource>>();
  const typeVersions = new Map<string, string>();
  for (const typeUrl of [CLUSTER, CLA, LISTENER, RDS]) {
    const byName = new Map<string, SnapshotResource>();
    for (const [name, version] of Object.entries(spec[typeUrl] ?? {})) {
      byName.set(name, { typeUrl, name, version, any: { type_url: typeUrl, value: new TextEncoder().encode(`${name}@${version}`) } });
    }
    resources.set(typeUrl, byName);
    typeVersions.set(typeUrl, Object.entries(spec[typeUrl] ?? {}).map(([n, v]) => `${n}@${v}`).sort().join(',') || 'empty');
  }
  return { version: `s${snapSeq}`, modelVersion: `m${snapSeq}`, profile: 'test', resources, typeVersions, degradations: ['one thing'] };
}

class FakeCache {
  snap: Snapshot | undefined;
  readonly listeners = new Set<ChangeListener>();
  current(): Snapshot | undefined {
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

/** A call whose transport buffer is "full" while `full` is set. */
class FakeCall<T> implements AdsCall<T> {
  readonly written: T[] = [];
  full = false;
  #drain: (() => void) | undefined;
  write(message: T): boolean {
    this.written.push(message);
    return !this.full;
  }
  once(_event: 'drain', listener: () => void): unknown {
    this.#drain = listener;
    return this;
  }
  drain(): void {
    this.full = false;
    const d = this.#drain;
    this.#drain = undefined;
    d?.();
  }
}

function setup<S>(kind: 'sotw' | 'delta', spec: Spec) {
  const cache = new FakeCache();
  cache.publish(spec);
  const registry = new ClientRegistry();
  const ctx: StreamContext = { cache, registry, profileForNode: () => ({ kind: 'test' }), log: silentLogger };
  const record = new ClientRecord({ id: registry.nextId(), kind, address: 'test', connectedSince: 0 });
  const call = new FakeCall<S>();
  const stream = kind === 'sotw' ? new SotwStream(call as never, ctx, record) : new DeltaStream(call as never, ctx, record);
  return { cache, registry, record, call, stream };
}

const names = (r: DiscoveryResponse): string[] => r.resources.map((a) => new TextDecoder().decode(a.value));

describe('SotW stream', () => {
  it('answers a wildcard CDS request with every cluster and records the node', () => {
    const { call, stream, record } = setup<DiscoveryResponse>('sotw', { [CLUSTER]: { a: '1', b: '1' } });
    stream.onRequest({ node: { id: 'n1', user_agent_name: 'agent', locality: { zone: 'z1' } }, type_url: CLUSTER, resource_names: [] });
    expect(call.written.map(names)).toEqual([['a@1', 'b@1']]);
    expect(record).toMatchObject({ nodeId: 'n1', userAgent: 'agent', zone: 'z1', profile: 'test', degradations: ['one thing'] });
    expect(record.type(CLUSTER).wildcard).toBe(true);
  });

  it('records a NACK against the version sent and never resends that version', () => {
    const { cache, call, stream, record } = setup<DiscoveryResponse>('sotw', { [CLUSTER]: { a: '1' }, [LISTENER]: { l: '1' } });
    stream.onRequest({ node: { id: 'n' }, type_url: CLUSTER, resource_names: [] });
    const sent = call.written[0]!;
    stream.onRequest({ type_url: CLUSTER, response_nonce: sent.nonce, error_detail: { code: 3, message: 'no good' } });
    const t = record.type(CLUSTER);
    expect(t.lastNack).toMatchObject({ version: sent.version_info, error: 'no good' });
    expect(t.nacks).toBe(1);
    expect(t.ackedVersion).toBe('');
    // Publishes that leave clusters as they are (and the NACK itself) send nothing.
    for (let i = 2; i < 7; i++) cache.publish({ [CLUSTER]: { a: '1' }, [LISTENER]: { l: String(i) } });
    expect(call.written).toHaveLength(1);
    cache.publish({ [CLUSTER]: { a: '2' } });
    expect(call.written.map(names)).toEqual([['a@1'], ['a@2']]);
    stream.onRequest({ type_url: CLUSTER, response_nonce: call.written[1]!.nonce, version_info: call.written[1]!.version_info });
    expect(t.ackedVersion).toBe(call.written[1]!.version_info);
    expect(t.acks).toBe(1);
  });

  it('clears lastNack when the client ACKs a newer version, not when it ACKs the NACKed one', () => {
    const { cache, call, stream, record } = setup<DiscoveryResponse>('sotw', { [CLUSTER]: { a: '1' } });
    stream.onRequest({ node: { id: 'n' }, type_url: CLUSTER, resource_names: [] });
    const t = record.type(CLUSTER);
    stream.onRequest({ type_url: CLUSTER, response_nonce: call.written[0]!.nonce, error_detail: { message: 'no good' } });
    // A confused client answering the same response again with no error: still the rejected version.
    stream.onRequest({ type_url: CLUSTER, response_nonce: call.written[0]!.nonce });
    expect(t.lastNack).toMatchObject({ error: 'no good' });
    cache.publish({ [CLUSTER]: { a: '2' } });
    stream.onRequest({ type_url: CLUSTER, response_nonce: call.written[1]!.nonce, version_info: call.written[1]!.version_info });
    expect(t.lastNack).toBeUndefined();
    expect(t.nacks).toBe(1);
  });

  it('takes no ACK or NACK from a stale nonce', () => {
    const { cache, call, stream, record } = setup<DiscoveryResponse>('sotw', { [CLUSTER]: { a: '1' } });
    stream.onRequest({ node: { id: 'n' }, type_url: CLUSTER, resource_names: [] });
    cache.publish({ [CLUSTER]: { a: '2' } });
    stream.onRequest({ type_url: CLUSTER, response_nonce: call.written[0]!.nonce, error_detail: { message: 'late' } });
    expect(record.type(CLUSTER).nacks).toBe(0);
    expect(record.type(CLUSTER).lastNack).toBeUndefined();
  });

  it('lets a client wait for a missing RDS name and answers when it appears', () => {
    const { cache, call, stream } = setup<DiscoveryResponse>('sotw', { [RDS]: {} });
    stream.onRequest({ node: { id: 'n' }, type_url: RDS, resource_names: ['r'] });
    expect(call.written).toHaveLength(0);
    cache.publish({ [RDS]: { r: '1', other: '1' } });
    expect(call.written.map(names)).toEqual([['r@1']]);
  });

  it('answers a new LDS subscription even when nothing it names exists', () => {
    const { call, stream } = setup<DiscoveryResponse>('sotw', { [LISTENER]: { l: '1' } });
    stream.onRequest({ node: { id: 'n' }, type_url: LISTENER, resource_names: ['l'] });
    stream.onRequest({ type_url: LISTENER, resource_names: ['l', 'missing'], response_nonce: call.written[0]!.nonce });
    expect(call.written.map(names)).toEqual([['l@1'], ['l@1']]);
  });

  it('keeps a removed cluster until the routes moved, then drops it', () => {
    const { cache, call, stream } = setup<DiscoveryResponse>('sotw', { [CLUSTER]: { a: '1', b: '1' }, [RDS]: { r: 'to-a-and-b' } });
    stream.onRequest({ node: { id: 'n' }, type_url: CLUSTER, resource_names: [] });
    stream.onRequest({ type_url: RDS, resource_names: ['r'] });
    call.written.length = 0;
    cache.publish({ [CLUSTER]: { a: '1', c: '1' }, [RDS]: { r: 'to-a-and-c' } });
    expect(call.written.map((r) => [r.type_url, names(r)])).toEqual([
      [CLUSTER, ['a@1', 'b@1', 'c@1']],
      [RDS, ['r@to-a-and-c']],
      [CLUSTER, ['a@1', 'c@1']],
    ]);
  });

  it('holds at most one response per type for a client that stops reading, and sends the latest when it reads', () => {
    const { cache, call, stream } = setup<DiscoveryResponse>('sotw', { [CLUSTER]: { a: '0' }, [LISTENER]: { l: '0' } });
    stream.onRequest({ node: { id: 'n' }, type_url: CLUSTER, resource_names: [] });
    stream.onRequest({ type_url: LISTENER, resource_names: [] });
    expect(call.written).toHaveLength(2);
    call.full = true;
    for (let i = 1; i <= 1000; i++) cache.publish({ [CLUSTER]: { a: String(i) }, [LISTENER]: { l: String(i) } });
    // The write that filled the buffer, then nothing until 'drain'.
    expect(call.written).toHaveLength(3);
    expect(names(call.written[2]!)).toEqual(['a@1']);
    call.drain();
    expect(call.written.slice(3).map((r) => [r.type_url, names(r)])).toEqual([
      [CLUSTER, ['a@1000']],
      [LISTENER, ['l@1000']],
    ]);
    cache.publish({ [CLUSTER]: { a: '1001' }, [LISTENER]: { l: '1000' } });
    expect(call.written.slice(5).map(names)).toEqual([['a@1001']]);
  });

  it('leaves the registry when closed and follows the cache no more', () => {
    const { cache, call, stream, registry, record } = setup<DiscoveryResponse>('sotw', { [CLUSTER]: { a: '1' } });
    stream.onRequest({ node: { id: 'n' }, type_url: CLUSTER, resource_names: [] });
    expect(registry.get(record.id)).toBe(record);
    stream.close();
    expect(registry.get(record.id)).toBeUndefined();
    expect(cache.listeners.size).toBe(0);
    cache.publish({ [CLUSTER]: { a: '2' } });
    expect(call.written).toHaveLength(1);
  });
});

describe('delta stream', () => {
  const summary = (r: DeltaDiscoveryResponse): [string, string[], string[]] => [
    r.type_url,
    r.resources.map((x) => `${x.name}@${x.version}`),
    r.removed_resources,
  ];

  it('sends only changed resources, and removals after the routes', () => {
    const { cache, call, stream } = setup<DeltaDiscoveryResponse>('delta', { [CLUSTER]: { a: '1', b: '1' }, [RDS]: { r: '1' } });
    stream.onRequest({ node: { id: 'n' }, type_url: CLUSTER, resource_names_subscribe: ['*'] });
    stream.onRequest({ type_url: RDS, resource_names_subscribe: ['r'] });
    expect(call.written.map(summary)).toEqual([
      [CLUSTER, ['a@1', 'b@1'], []],
      [RDS, ['r@1'], []],
    ]);
    cache.publish({ [CLUSTER]: { a: '2', c: '1' }, [RDS]: { r: '2' } });
    expect(call.written.slice(2).map(summary)).toEqual([
      [CLUSTER, ['a@2', 'c@1'], []],
      [RDS, ['r@2'], []],
      [CLUSTER, [], ['b']],
    ]);
  });

  it('records a NACK and does not resend the rejected resource version', () => {
    const { cache, call, stream, record } = setup<DeltaDiscoveryResponse>('delta', { [CLUSTER]: { a: '1' }, [LISTENER]: { l: '1' } });
    stream.onRequest({ node: { id: 'n' }, type_url: CLUSTER, resource_names_subscribe: [] });
    stream.onRequest({ type_url: CLUSTER, response_nonce: call.written[0]!.nonce, error_detail: { message: 'bad a' } });
    expect(record.type(CLUSTER).lastNack).toMatchObject({ version: call.written[0]!.system_version_info, error: 'bad a' });
    cache.publish({ [CLUSTER]: { a: '1' }, [LISTENER]: { l: '2' } });
    expect(call.written).toHaveLength(1);
    cache.publish({ [CLUSTER]: { a: '2' } });
    expect(call.written.slice(1).map(summary)).toEqual([[CLUSTER, ['a@2'], []]]);
  });

  it('clears lastNack when the client ACKs a later response of the type', () => {
    const { cache, call, stream, record } = setup<DeltaDiscoveryResponse>('delta', { [CLUSTER]: { a: '1', b: '1' } });
    stream.onRequest({ node: { id: 'n' }, type_url: CLUSTER, resource_names_subscribe: ['*'] });
    const t = record.type(CLUSTER);
    stream.onRequest({ type_url: CLUSTER, response_nonce: call.written[0]!.nonce, error_detail: { message: 'bad a@1' } });
    expect(t.lastNack).toMatchObject({ version: call.written[0]!.system_version_info, error: 'bad a@1' });
    cache.publish({ [CLUSTER]: { a: '2', b: '1' } });
    expect(summary(call.written[1]!)).toEqual([CLUSTER, ['a@2'], []]);
    stream.onRequest({ type_url: CLUSTER, response_nonce: call.written[1]!.nonce });
    expect(t.ackedVersion).toBe(call.written[1]!.system_version_info);
    expect(t.lastNack).toBeUndefined();
    expect(t.nacks).toBe(1);
  });

  it('records a NACK of a response that a newer one of the same type has already followed', () => {
    const { cache, call, stream, record } = setup<DeltaDiscoveryResponse>('delta', { [RDS]: { r: '1' } });
    stream.onRequest({ node: { id: 'n' }, type_url: RDS, resource_names_subscribe: ['r'] });
    cache.publish({ [RDS]: { r: '2' } });
    const [first, second] = call.written;
    expect(first!.nonce).not.toBe(second!.nonce);
    stream.onRequest({ type_url: RDS, response_nonce: first!.nonce, error_detail: { message: 'bad r@1' } });
    expect(record.type(RDS).lastNack).toMatchObject({ version: first!.system_version_info, error: 'bad r@1' });
    expect(record.type(RDS).nacks).toBe(1);
    stream.onRequest({ type_url: RDS, response_nonce: second!.nonce });
    expect(record.type(RDS).ackedVersion).toBe(second!.system_version_info);
    // Both are answered now: a replay of the first nonce is stale.
    stream.onRequest({ type_url: RDS, response_nonce: first!.nonce, error_detail: { message: 'again' } });
    expect(record.type(RDS).nacks).toBe(1);
  });

  it('starts from initial_resource_versions and answers once even when nothing changed', () => {
    const { call, stream } = setup<DeltaDiscoveryResponse>('delta', { [CLUSTER]: { a: '1', b: '1' } });
    stream.onRequest({ node: { id: 'n' }, type_url: CLUSTER, resource_names_subscribe: ['*'], initial_resource_versions: { a: '1', b: '1' } });
    expect(call.written.map(summary)).toEqual([[CLUSTER, [], []]]);
  });

  it('forgets what was unsubscribed, so a new subscribe gets it again', () => {
    const { call, stream } = setup<DeltaDiscoveryResponse>('delta', { [RDS]: { r: '1' } });
    stream.onRequest({ node: { id: 'n' }, type_url: RDS, resource_names_subscribe: ['r'] });
    stream.onRequest({ type_url: RDS, resource_names_unsubscribe: ['r'] });
    stream.onRequest({ type_url: RDS, resource_names_subscribe: ['r'] });
    expect(call.written.map(summary)).toEqual([
      [RDS, ['r@1'], []],
      [RDS, ['r@1'], []],
    ]);
  });
});

/** A call whose transport takes a message only when told to, as HTTP/2 does when the peer reads. */
class TransportCall<T> implements AdsCall<T> {
  readonly written: T[] = [];
  readonly #untaken: (() => void)[] = [];
  get writableLength(): number {
    return this.#untaken.length;
  }
  write(message: T, done?: () => void): boolean {
    this.written.push(message);
    this.#untaken.push(done ?? (() => {}));
    // grpc-js's own buffer holds 16 messages before write says it is full.
    return this.#untaken.length < 16;
  }
  once(): unknown {
    return this;
  }
  /** The transport takes the oldest message. */
  take(): void {
    this.#untaken.shift()?.();
  }
}

describe('stream limits', () => {
  function withTransport(spec: Spec) {
    const cache = new FakeCache();
    cache.publish(spec);
    const registry = new ClientRegistry();
    const ctx: StreamContext = { cache, registry, profileForNode: () => ({ kind: 'test' }), log: silentLogger };
    const record = new ClientRecord({ id: registry.nextId(), kind: 'sotw', address: 'test', connectedSince: 0 });
    const call = new TransportCall<DiscoveryResponse>();
    const stream = new SotwStream(call as never, ctx, record);
    return { cache, call, stream };
  }

  it('hands the transport a response only while at most three others wait there', () => {
    const spec = (v: string): Spec => ({ [CLUSTER]: { a: v }, [CLA]: { e: v }, [LISTENER]: { l: v }, [RDS]: { r: v } });
    const { cache, call, stream } = withTransport(spec('0'));
    stream.onRequest({ node: { id: 'n' }, type_url: CLUSTER, resource_names: [] });
    for (const [type, name] of [[CLA, 'e'], [LISTENER, 'l'], [RDS, 'r']] as const) stream.onRequest({ type_url: type, resource_names: [name] });
    // A whole push in one pass; then four untaken, and nothing more goes.
    expect(call.written).toHaveLength(4);
    for (let i = 1; i <= 50; i++) cache.publish(spec(String(i)));
    expect(call.written).toHaveLength(4);
    // The transport takes one: one more goes.
    call.take();
    expect(call.written).toHaveLength(5);
    // The peer reads on: each type's latest state goes out, not the 50 versions in between.
    while (call.writableLength > 0) call.take();
    expect(call.written.slice(4).map((r) => names(r))).toEqual([['a@50'], ['e@50'], ['l@50'], ['r@50']]);
  });

  it('counts one answer per response and keeps at most 4 KiB of a NACK error', () => {
    const { call, stream } = withTransport({ [CLUSTER]: { a: '1' } });
    stream.onRequest({ node: { id: 'n' }, type_url: CLUSTER, resource_names: [] });
    const sent = call.written[0]!;
    const record = (stream as unknown as { record: ClientRecord }).record;
    stream.onRequest({ type_url: CLUSTER, resource_names: [], response_nonce: sent.nonce, error_detail: { message: 'x'.repeat(100_000) } });
    stream.onRequest({ type_url: CLUSTER, resource_names: [], response_nonce: sent.nonce, error_detail: { message: 'again' } });
    // A confused client answering the same response again without an error: not an ACK of what it rejected.
    stream.onRequest({ type_url: CLUSTER, resource_names: [], response_nonce: sent.nonce });
    const t = record.type(CLUSTER);
    expect(t.nacks).toBe(1);
    expect(t.acks).toBe(0);
    expect(t.ackedVersion).toBe('');
    expect(t.lastNack!.error.length).toBeLessThanOrEqual(4097);
  });

  it('takes a first delta request that only unsubscribes as naming something, not as the legacy wildcard', () => {
    const { call, stream, record } = setup<DeltaDiscoveryResponse>('delta', { [CLUSTER]: { a: '1' } });
    stream.onRequest({ node: { id: 'n' }, type_url: CLUSTER, resource_names_unsubscribe: ['gone'] });
    expect(record.type(CLUSTER).wildcard).toBe(false);
    expect(call.written).toEqual([]);
  });

  it('ignores a repeated name in a SotW request', () => {
    const { call, stream } = setup<DiscoveryResponse>('sotw', { [LISTENER]: { l: '1' } });
    stream.onRequest({ node: { id: 'n' }, type_url: LISTENER, resource_names: ['l', 'l'] });
    stream.onRequest({ type_url: LISTENER, resource_names: ['l', 'l', 'l'], response_nonce: call.written[0]!.nonce });
    stream.onRequest({ type_url: LISTENER, resource_names: ['l'], response_nonce: call.written[0]!.nonce });
    expect(call.written).toHaveLength(1);
  });
});
