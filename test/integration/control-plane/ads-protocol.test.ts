/**
 * The xDS transport protocol, checked with bare grpc-js clients where the
 * server's handling is easy to get subtly wrong: wildcard and subscription
 * semantics, ACK/NACK bookkeeping, the node identity, resources that do not
 * exist, unknown types, and what a client can make the server hold (types,
 * names, queued responses, shared selections) or leave behind when it goes.
 */
import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMeshYaml } from '../../../src/config/load.ts';
import { buildNode } from '../../../src/xds/client/node.ts';
import { fromAny, serviceDefinitions } from '../../../src/xds/protos.ts';
import type { AnyMessage } from '../../../src/xds/protos.ts';
import { clusterName } from '../../../src/xds/resource-names.ts';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT as CLA, LISTENER, ROUTE_CONFIGURATION as RDS } from '../../../src/xds/type-urls.ts';
import type { DiscoveryResponse } from '../../../src/control-plane/messages.ts';
import { meshFixture } from '../../helpers/grpc-xds/fixture.ts';
import { RawAds } from '../../helpers/grpc-xds/raw-ads.ts';
import { startHarness, until } from './harness.ts';
import type { Harness } from './harness.ts';

const ALL = clusterName('ratings', 50051);
const V1 = clusterName('ratings', 50051, 'v1');
const V2 = clusterName('ratings', 50051, 'v2');
const SECRET = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

let h: Harness;
const streams: RawAds<'sotw' | 'delta'>[] = [];

/** The ratings mesh; `port` moves the v1 endpoint, so each value is a new EDS version (and nothing else). */
const ratings = (port = 7101, lb = 'round-robin'): string => meshFixture('ratings.yaml', { v1: port, v2: 7102, w1: 80, w2: 20, lb });

function open<K extends 'sotw' | 'delta'>(kind: K): RawAds<K> {
  const s = new RawAds(h.cp.xdsPort, kind);
  streams.push(s as RawAds<'sotw' | 'delta'>);
  return s;
}

const nameOf = (a: AnyMessage): string => {
  const m = fromAny<{ name?: string; cluster_name?: string }>(a);
  return String(m.name ?? m.cluster_name);
};
const namesOf = (r: DiscoveryResponse): string[] => r.resources.map(nameOf).sort();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const recordOf = (nodeId: string) => h.cp.registry.byNodeId(nodeId)[0];

beforeAll(async () => {
  h = await startHarness(ratings(), { xdsAdmission: { floor: 0 }, registrationGraceMs: 100 });
});

afterAll(async () => {
  for (const s of streams) s.close();
  await h?.close();
});

describe('SotW subscriptions', () => {
  it('treats an empty resource_names after an explicit "*" as unsubscribing, not as the legacy wildcard', async () => {
    const s = open('sotw');
    s.send({ node: { id: 'sotw-star-then-empty' }, type_url: LISTENER, resource_names: ['*'] });
    const all = await s.next((r) => r.type_url === LISTENER);
    expect(namesOf(all)).toEqual(['ratings', 'ratings:50051']);
    s.send({ type_url: LISTENER, resource_names: [], version_info: all.version_info, response_nonce: all.nonce });
    // The client asked for nothing: the complete LDS state it is told is empty.
    const none = await s.next((r) => r.type_url === LISTENER, 2000, s.responses.indexOf(all) + 1);
    expect(none.resources).toEqual([]);
    expect(recordOf('sotw-star-then-empty')!.types.get(LISTENER)!.wildcard).toBe(false);
  });

  it('keeps the legacy wildcard while every request has been empty', async () => {
    const s = open('sotw');
    s.send({ node: { id: 'sotw-legacy' }, type_url: CLUSTER, resource_names: [] });
    const first = await s.next((r) => r.type_url === CLUSTER);
    expect(namesOf(first)).toEqual([V1, V2, ALL].sort());
    s.send({ type_url: CLUSTER, resource_names: [], version_info: first.version_info, response_nonce: first.nonce });
    await until(() => recordOf('sotw-legacy')?.types.get(CLUSTER)?.acks === 1, 2000, 'ACK not recorded');
    expect(recordOf('sotw-legacy')!.types.get(CLUSTER)!.wildcard).toBe(true);
    expect(s.of(CLUSTER)).toHaveLength(1);
  });
});

describe('ACK and NACK', () => {
  it('counts one NACK per response, though the client repeats error_detail on its next requests', async () => {
    await h.apply(ratings());
    const s = open('sotw');
    s.send({ node: { id: 'sotw-nack-once' }, type_url: CLA, resource_names: [ALL] });
    const first = await s.next((r) => r.type_url === CLA);
    const nack = { code: 3, message: 'endpoints rejected on purpose' };
    s.send({ type_url: CLA, resource_names: [ALL], version_info: '', response_nonce: first.nonce, error_detail: nack });
    // grpc-js-xds sends the standing error with every request of the type until a response is accepted.
    s.send({ type_url: CLA, resource_names: [ALL, V1], version_info: '', response_nonce: first.nonce, error_detail: nack });
    const second = await s.next((r) => r.type_url === CLA, 2000, s.responses.indexOf(first) + 1);
    expect(namesOf(second)).toEqual([ALL, V1].sort());
    const t = recordOf('sotw-nack-once')!.types.get(CLA)!;
    expect(t.nacks).toBe(1);
    expect(t.lastNack).toMatchObject({ version: first.version_info, error: nack.message });
    // The NACKed response is not sent again: the new subscription was, once.
    await sleep(200);
    expect(s.of(CLA)).toHaveLength(2);
  });

  it('keeps a NACKed delta resource unsent until it changes, then sends the change', async () => {
    await h.apply(ratings(7101));
    const s = open('delta');
    s.send({ node: { id: 'delta-nack-hold' }, type_url: CLA, resource_names_subscribe: [ALL] });
    const first = await s.next((r) => r.type_url === CLA);
    s.send({ type_url: CLA, response_nonce: first.nonce, error_detail: { code: 3, message: 'no' } });
    s.send({ type_url: CLA, response_nonce: first.nonce, error_detail: { code: 3, message: 'no' } });
    await sleep(200);
    expect(s.responses).toHaveLength(1);
    expect(recordOf('delta-nack-hold')!.types.get(CLA)!.nacks).toBe(1);
    await h.apply(ratings(7111));
    const second = await s.next((r) => r.type_url === CLA, 3000, 1);
    expect(second.resources.map((r) => r.name)).toEqual([ALL]);
  });
});

describe('delta subscriptions', () => {
  it('resends a resource the client subscribes to again, though it holds the latest version', async () => {
    await h.apply(ratings());
    const s = open('delta');
    s.send({ node: { id: 'delta-resubscribe' }, type_url: RDS, resource_names_subscribe: ['ratings'] });
    const first = await s.next((r) => r.type_url === RDS);
    expect(first.resources.map((r) => r.name)).toEqual(['ratings']);
    s.send({ type_url: RDS, response_nonce: first.nonce });
    // The client may have forgotten it while staying subscribed: it must be sent again.
    s.send({ type_url: RDS, resource_names_subscribe: ['ratings'] });
    const again = await s.next((r) => r.type_url === RDS, 2000, 1);
    expect(again.resources.map((r) => r.name)).toEqual(['ratings']);
    expect(again.resources[0]!.version).toBe(first.resources[0]!.version);
  });

  it('answers for a name unsubscribed while a wildcard is active: the resource if it exists, else a removal', async () => {
    const s = open('delta');
    s.send({ node: { id: 'delta-wildcard-unsub' }, type_url: CLUSTER, resource_names_subscribe: ['*', ALL, 'not-a-cluster'] });
    const first = await s.next((r) => r.type_url === CLUSTER);
    expect(first.resources.map((r) => r.name).sort()).toEqual([V1, V2, ALL].sort());
    expect(first.removed_resources).toEqual(['not-a-cluster']);
    s.send({ type_url: CLUSTER, response_nonce: first.nonce });
    // The client cannot tell whether the wildcard covers these: the server says.
    s.send({ type_url: CLUSTER, resource_names_unsubscribe: [ALL, 'not-a-cluster'] });
    const answer = await s.next((r) => r.type_url === CLUSTER, 2000, 1);
    expect(answer.resources.map((r) => r.name)).toEqual([ALL]);
    expect(answer.removed_resources).toEqual(['not-a-cluster']);
  });

  it('answers an explicit subscription to a name the wildcard already reported removed', async () => {
    await h.apply(ratings());
    const s = open('delta');
    s.send({ node: { id: 'delta-removed-then-named' }, type_url: CLUSTER, resource_names_subscribe: ['*'] });
    const first = await s.next((r) => r.type_url === CLUSTER);
    s.send({ type_url: CLUSTER, response_nonce: first.nonce });
    await h.apply(meshFixture('ratings-plain.yaml', { v1: 7101, v2: 7102 }));
    const removal = await s.next((r) => r.type_url === CLUSTER && r.removed_resources.includes(V1), 3000, 1);
    s.send({ type_url: CLUSTER, response_nonce: removal.nonce });
    const mark = s.responses.length;
    s.send({ type_url: CLUSTER, resource_names_subscribe: [V1] });
    const answer = await s.next((r) => r.type_url === CLUSTER, 2000, mark);
    expect(answer.resources).toEqual([]);
    expect(answer.removed_resources).toEqual([V1]);
    await h.apply(ratings());
  });

  it('answers a subscription to a type it does not serve as not existing, and serves the other types', async () => {
    const d = open('delta');
    d.send({ node: { id: 'delta-unknown-type' }, type_url: SECRET, resource_names_subscribe: ['cert'] });
    const none = await d.next((r) => r.type_url === SECRET);
    expect(none.resources).toEqual([]);
    expect(none.removed_resources).toEqual(['cert']);
    d.send({ type_url: SECRET, response_nonce: none.nonce });
    d.send({ type_url: CLUSTER, resource_names_subscribe: [] });
    await d.next((r) => r.type_url === CLUSTER);

    const s = open('sotw');
    s.send({ node: { id: 'sotw-unknown-type' }, type_url: SECRET, resource_names: ['cert'] });
    s.send({ type_url: CLUSTER, resource_names: [] });
    await s.next((r) => r.type_url === CLUSTER);
    await sleep(200);
    // SotW has no way to say "does not exist" for such a type: the client's timer decides.
    expect(s.of(SECRET)).toEqual([]);
  });
});

describe('node identity', () => {
  it('keeps the first node of a stream and ignores a later request naming another node', async () => {
    const s = open('sotw');
    s.send({ node: { id: 'node-a' }, type_url: LISTENER, resource_names: [] });
    const lds = await s.next((r) => r.type_url === LISTENER);
    const other = buildNode({ id: 'node-b' }, { service: 'ratings', host: '127.0.0.66', port: 7066 }, false);
    s.send({ node: other, type_url: LISTENER, resource_names: [], version_info: lds.version_info, response_nonce: lds.nonce });
    await until(() => recordOf('node-a')?.types.get(LISTENER)?.acks === 1, 2000, 'ACK not recorded');
    await sleep(100);
    expect(h.cp.registrations.list().map((i) => i.instance)).not.toContain('ratings/127.0.0.66:7066');
    expect(recordOf('node-a')!.registration).toBeUndefined();
    expect(h.cp.registry.byNodeId('node-b')).toEqual([]);
  });
});

describe('bounds', () => {
  it('ends a stream that asks for more resource types than any client uses, and forgets it', async () => {
    const s = open('sotw');
    s.send({ node: { id: 'many-types' }, type_url: LISTENER, resource_names: [] });
    await s.next((r) => r.type_url === LISTENER);
    for (let i = 0; i < 200; i++) s.send({ type_url: `type.googleapis.com/example.Made${i}`, resource_names: ['x'] });
    await until(() => s.status !== undefined, 3000, 'stream not ended');
    expect(s.status!.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(s.status!.details).toMatch(/resource types/);
    expect(h.cp.registry.byNodeId('many-types')).toEqual([]);
  });

  it('ends a SotW stream whose request names more resources than the limit', async () => {
    const s = open('sotw');
    const names = Array.from({ length: 100_001 }, (_, i) => `n${i}`);
    s.send({ node: { id: 'sotw-too-many-names' }, type_url: CLA, resource_names: names });
    await until(() => s.status !== undefined, 5000, 'stream not ended');
    expect(s.status!.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(h.cp.registry.byNodeId('sotw-too-many-names')).toEqual([]);
  });

  it('ends a delta stream whose subscriptions grow past the limit, request by request', async () => {
    const s = open('delta');
    s.send({ node: { id: 'delta-too-many-names' }, type_url: CLA, resource_names_subscribe: [ALL] });
    await s.next((r) => r.type_url === CLA);
    for (let batch = 0; batch < 3 && s.status === undefined; batch++) {
      s.send({ type_url: CLA, resource_names_subscribe: Array.from({ length: 40_000 }, (_, i) => `b${batch}-${i}`) });
      await sleep(300);
    }
    await until(() => s.status !== undefined, 5000, 'stream not ended');
    expect(s.status!.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(h.cp.registry.byNodeId('delta-too-many-names')).toEqual([]);
  });

  it('holds at most a few responses for a client that stops reading, and sends it the latest when it reads', async () => {
    // 20 more services of 120 endpoints: every EDS response (~185 kB) overflows an HTTP/2 window.
    const bulk = (port: number): string =>
      ratings(port) +
      Array.from({ length: 20 }, (_, k) => {
        const endpoints = Array.from({ length: 120 }, (_, e) => `      - { address: "10.1.${k}.${e + 1}:8080" }\n`).join('');
        return `  bulk${k}:\n    protocol: http\n    port: 8080\n    endpoints:\n${endpoints}`;
      }).join('');
    await h.apply(bulk(7200));
    const models = Array.from({ length: 12 }, (_, i) => parseMeshYaml(bulk(7201 + i), h.file.path));
    const client = new Http2Ads(h.cp.xdsPort);
    try {
      client.send({ node: { id: 'stops-reading' }, type_url: CLA, resource_names: ['*'] });
      await until(() => client.responses.length === 1, 3000, 'no first response');
      client.pause();
      for (const model of models) {
        h.cp.cache.publish(model);
        await sleep(30);
      }
      await sleep(300);
      // One response in HTTP/2's hands and at most three waiting; nothing more is queued for this client.
      const written = recordOf('stops-reading')!.types.get(CLA)!.responses;
      expect(written).toBeLessThanOrEqual(6);
      client.resume();
      const hasLatest = (r: DiscoveryResponse): boolean =>
        r.resources.some((a) => nameOf(a) === ALL && JSON.stringify(fromAny(a)).includes('7212'));
      await until(() => client.responses.some(hasLatest), 5000, 'latest endpoints not received');
      expect(recordOf('stops-reading')!.types.get(CLA)!.responses).toBeLessThanOrEqual(written + 1);
    } finally {
      client.close();
      await h.apply(ratings());
    }
  });

  it('keeps no shared selection for subscriptions a client has moved away from', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    await h.apply(ratings());
    const s = open('sotw');
    s.send({ node: { id: 'sotw-churn' }, type_url: LISTENER, resource_names: ['ratings'] });
    await s.next((r) => r.type_url === LISTENER);
    // Each subscription names the listener and 3000 made-up ones (a key of ~40 kB), all in one snapshot.
    const churn = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        const last = s.responses.at(-1)!;
        s.send({
          type_url: LISTENER,
          resource_names: ['ratings', ...Array.from({ length: 3000 }, (_, k) => `sub${i}-listener-${k}`)],
          response_nonce: last.nonce,
          version_info: last.version_info,
        });
        await s.next((r) => r.type_url === LISTENER, 2000, s.responses.length);
      }
    };
    await churn(0, 20);
    gc();
    const before = process.memoryUsage().heapUsed;
    await churn(20, 320);
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    // 300 kept selections would hold about 12 MB of keys alone.
    expect(grown).toBeLessThan(4 * 1024 * 1024);
    expect(namesOf(s.responses.at(-1)!)).toEqual(['ratings']);
  });
});

describe('stream ends', () => {
  it('forgets the client however the stream ends: half-close, cancel, a request it cannot decode', async () => {
    const before = h.cp.registry.size;
    const ended = open('delta');
    ended.send({ node: { id: 'ends-half-close' }, type_url: CLUSTER, resource_names_subscribe: [] });
    await ended.next((r) => r.type_url === CLUSTER);
    const cancelled = open('sotw');
    cancelled.send({ node: { id: 'ends-cancel' }, type_url: CLUSTER, resource_names: [] });
    await cancelled.next((r) => r.type_url === CLUSTER);
    expect(h.cp.registry.size).toBe(before + 2);

    ended.end();
    await until(() => ended.status !== undefined, 2000, 'half-closed stream not ended');
    expect(ended.status!.code).toBe(grpc.status.OK);
    cancelled.close();
    await until(() => h.cp.registry.size === before, 2000, 'cancelled stream still listed');

    const raw = new grpc.Client(`127.0.0.1:${h.cp.xdsPort}`, grpc.credentials.createInsecure());
    try {
      const call = raw.makeBidiStreamRequest(
        '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
        (b: Buffer) => b,
        (b: Buffer) => b,
      );
      let status: grpc.StatusObject | undefined;
      call.on('status', (st) => (status = st));
      call.on('error', () => {});
      call.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
      await until(() => status !== undefined, 2000, 'undecodable request not refused');
      expect(status!.code).toBe(grpc.status.INTERNAL);
      expect(h.cp.registry.size).toBe(before);
    } finally {
      raw.close();
    }
  });

  it('releases a registration when its stream ends', async () => {
    const s = open('sotw');
    s.send({ node: buildNode({ id: 'ends-registered' }, { service: 'ratings', host: '127.0.0.67', port: 7067 }, false), type_url: LISTENER, resource_names: [] });
    await until(() => h.cp.registrations.list().some((i) => i.instance === 'ratings/127.0.0.67:7067'), 2000, 'not registered');
    s.close();
    await until(() => !h.cp.registrations.list().some((i) => i.instance === 'ratings/127.0.0.67:7067'), 2000, 'registration kept');
    expect(h.cp.registry.byNodeId('ends-registered')).toEqual([]);
  });
});

const sotwMethod = (serviceDefinitions()['envoy.service.discovery.v3.AggregatedDiscoveryService'] as grpc.ServiceDefinition)
  .StreamAggregatedResources!;

/**
 * A SotW stream over bare HTTP/2. Unlike a grpc-js client, which goes on reading
 * (into its own buffer) while paused, a paused stream here stops reading: its
 * flow-control window closes, as for a client that is stuck.
 */
class Http2Ads {
  readonly responses: DiscoveryResponse[] = [];
  readonly #session: http2.ClientHttp2Session;
  readonly #stream: http2.ClientHttp2Stream;
  #pending = Buffer.alloc(0);

  constructor(port: number) {
    this.#session = http2.connect(`http://127.0.0.1:${port}`);
    this.#session.on('error', () => {});
    this.#stream = this.#session.request({
      ':method': 'POST',
      ':path': '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    this.#stream.on('error', () => {});
    this.#stream.on('data', (chunk: Buffer) => {
      this.#pending = Buffer.concat([this.#pending, chunk]);
      while (this.#pending.length >= 5 && this.#pending.length >= 5 + this.#pending.readUInt32BE(1)) {
        const size = this.#pending.readUInt32BE(1);
        const r = sotwMethod.responseDeserialize(this.#pending.subarray(5, 5 + size)) as DiscoveryResponse;
        (r as { resources?: AnyMessage[] }).resources ??= [];
        this.responses.push(r);
        this.#pending = this.#pending.subarray(5 + size);
      }
    });
  }

  send(req: object): void {
    const body = sotwMethod.requestSerialize(req);
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    this.#stream.write(frame);
  }

  pause(): void {
    this.#stream.pause();
  }

  resume(): void {
    this.#stream.resume();
  }

  close(): void {
    this.#stream.close(http2.constants.NGHTTP2_CANCEL);
    this.#session.close();
  }
}
