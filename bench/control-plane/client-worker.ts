/**
 * A worker process holding many simulated ADS clients, each one stream on a
 * few shared grpc-js channels (HTTP/2 multiplexes the streams on each
 * channel's connection).
 *
 * A simulated client behaves as an SDK does on the wire: it subscribes to
 * every listener and cluster (wildcard), then to the route configurations
 * and load assignments those name, and ACKs every response with its version
 * and nonce. It decodes only the response envelope and, for listeners and
 * clusters, the one field naming the next subscription, once per version per
 * worker. Responses arrive as raw bytes, so their serialized size is known.
 *
 * The time of each ACK is recorded per version (`Date.now()`, the clock every
 * process of the benchmark shares), so run.ts can ask when each client had a
 * given config.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { buildNode } from '../../src/xds/client/node.ts';
import type { NodeMessage } from '../../src/xds/client/node.ts';
import { serviceDefinitions } from '../../src/xds/protos.ts';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION } from '../../src/xds/type-urls.ts';
import { serve } from './ipc.ts';
import { HIST_MS } from './worker-api.ts';
import type { ByteCount, ChurnQuery, ChurnResult, ClientKind, WorkerStart } from './worker-api.ts';
import { clusterEdsName, listenerRouteName, readDeltaResponse, readSotwResponse } from './wire.ts';
import type { DeltaEnvelope, SotwEnvelope } from './wire.ts';

const ADS = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
const methods = serviceDefinitions()[ADS] as grpc.ServiceDefinition;
const sotwMethod = methods.StreamAggregatedResources!;
const deltaMethod = methods.DeltaAggregatedResources!;
const rawBytes = (b: Buffer): Buffer => b;
/** gRPC's length-prefixed message framing adds 5 bytes to each serialized message. */
const GRPC_PREFIX = 5;

// --- worker state ---------------------------------------------------------

let clients: SimClient[] = [];
const channels: grpc.Client[] = [];
/** ACK time of each client (by index; NaN = never) for each version seen. */
const ackTimes = new Map<string, Float64Array>();
const counts: Record<ClientKind, ByteCount> = {
  sotw: { bytes: 0, responses: 0, clients: 0 },
  delta: { bytes: 0, responses: 0, clients: 0 },
};
let streamErrors = 0;
let lastError = '';
/** Derived subscriptions, decoded once per worker: SotW by `type\nversion`, delta by `name@version`. */
const sotwDerived = new Map<string, string[]>();
const deltaDerived = new Map<string, string | undefined>();

const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

function cpuUs(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

function recordAck(version: string, index: number, now: number): void {
  let times = ackTimes.get(version);
  if (times === undefined) {
    times = new Float64Array(clients.length).fill(Number.NaN);
    ackTimes.set(version, times);
  }
  if (Number.isNaN(times[index]!)) times[index] = now;
}

function derivedName(typeUrl: string, buf: Buffer, value: { start: number; end: number }): string | undefined {
  return typeUrl === LISTENER ? listenerRouteName(buf, value) : clusterEdsName(buf, value);
}

/** The dependent type of a wildcard type: listeners name route configurations, clusters name load assignments. */
function dependent(typeUrl: string): string | undefined {
  return typeUrl === LISTENER ? ROUTE_CONFIGURATION : typeUrl === CLUSTER ? CLUSTER_LOAD_ASSIGNMENT : undefined;
}

abstract class SimClient {
  readonly index: number;
  readonly kind: ClientKind;
  protected call: grpc.ClientDuplexStream<unknown, Buffer> | undefined;
  protected readonly node: NodeMessage;

  constructor(index: number, kind: ClientKind, nodeId: string) {
    this.index = index;
    this.kind = kind;
    this.node = buildNode({ id: nodeId, cluster: 'bench', zone: index % 2 === 0 ? 'zone-a' : 'zone-b' }, undefined, false);
  }

  open(channel: grpc.Client): void {
    const m = this.kind === 'sotw' ? sotwMethod : deltaMethod;
    const call = channel.makeBidiStreamRequest(m.path, m.requestSerialize, rawBytes);
    this.call = call;
    call.on('data', (buf: Buffer) => {
      const c = counts[this.kind];
      c.bytes += buf.length + GRPC_PREFIX;
      c.responses += 1;
      this.onResponse(buf, Date.now());
    });
    call.on('error', (err: Error) => {
      streamErrors += 1;
      lastError = err.message;
    });
    this.subscribe();
  }

  close(): void {
    this.call?.cancel();
  }

  protected write(req: object): void {
    this.call!.write(req);
  }

  protected abstract subscribe(): void;
  protected abstract onResponse(buf: Buffer, now: number): void;
}

interface SotwType {
  version: string;
  nonce: string;
  names: string[];
  namesKey: string;
}

const sotwEnv: SotwEnvelope = { version: '', typeUrl: '', nonce: '', values: [] };

class SotwClient extends SimClient {
  readonly #types = new Map<string, SotwType>();

  protected subscribe(): void {
    this.write({ node: this.node, type_url: LISTENER, resource_names: [] });
    this.write({ type_url: CLUSTER, resource_names: [] });
  }

  #type(typeUrl: string): SotwType {
    let t = this.#types.get(typeUrl);
    if (t === undefined) {
      t = { version: '', nonce: '', names: [], namesKey: '' };
      this.#types.set(typeUrl, t);
    }
    return t;
  }

  protected onResponse(buf: Buffer, now: number): void {
    const env = readSotwResponse(buf, false, sotwEnv);
    const typeUrl = env.typeUrl;
    const t = this.#type(typeUrl);
    t.version = env.version;
    t.nonce = env.nonce;
    this.write({ version_info: t.version, resource_names: t.names, type_url: typeUrl, response_nonce: t.nonce });
    recordAck(env.version, this.index, now);

    const next = dependent(typeUrl);
    if (next === undefined) return;
    const key = `${typeUrl}\n${env.version}`;
    let names = sotwDerived.get(key);
    if (names === undefined) {
      readSotwResponse(buf, true, sotwEnv);
      const set = new Set<string>();
      for (const v of sotwEnv.values) {
        const n = derivedName(typeUrl, buf, v);
        if (n !== undefined) set.add(n);
      }
      names = [...set].sort();
      sotwDerived.set(key, names);
    }
    const d = this.#type(next);
    const namesKey = names.join(',');
    if (namesKey === d.namesKey) return;
    d.names = names;
    d.namesKey = namesKey;
    this.write({ version_info: d.version, resource_names: names, type_url: next, response_nonce: d.nonce });
  }
}

const deltaEnv: DeltaEnvelope = { version: '', typeUrl: '', nonce: '', resources: [], removed: [] };

class DeltaClient extends SimClient {
  /** Per wildcard type: name held → the dependent name it leads to. */
  readonly #held = new Map<string, Map<string, string | undefined>>();
  /** Per dependent type: names subscribed. */
  readonly #subscribed = new Map<string, Set<string>>();

  protected subscribe(): void {
    this.write({ node: this.node, type_url: LISTENER, resource_names_subscribe: [] });
    this.write({ type_url: CLUSTER, resource_names_subscribe: [] });
  }

  protected onResponse(buf: Buffer, now: number): void {
    const env = readDeltaResponse(buf, deltaEnv);
    const typeUrl = env.typeUrl;
    this.write({ type_url: typeUrl, response_nonce: env.nonce });
    recordAck(env.version, this.index, now);

    const next = dependent(typeUrl);
    if (next === undefined || (env.resources.length === 0 && env.removed.length === 0)) return;
    let held = this.#held.get(typeUrl);
    if (held === undefined) this.#held.set(typeUrl, (held = new Map()));
    for (const r of env.resources) {
      const key = `${r.name}@${r.version}`;
      let n = deltaDerived.get(key);
      if (n === undefined && !deltaDerived.has(key)) {
        n = r.value === undefined ? undefined : derivedName(typeUrl, buf, r.value);
        deltaDerived.set(key, n);
      }
      held.set(r.name, n);
    }
    for (const name of env.removed) held.delete(name);

    let subscribed = this.#subscribed.get(next);
    if (subscribed === undefined) this.#subscribed.set(next, (subscribed = new Set()));
    const wanted = new Set<string>();
    for (const n of held.values()) if (n !== undefined) wanted.add(n);
    const add: string[] = [];
    const drop: string[] = [];
    for (const n of wanted) if (!subscribed.has(n)) add.push(n);
    for (const n of subscribed) if (!wanted.has(n)) drop.push(n);
    if (add.length === 0 && drop.length === 0) return;
    for (const n of add) subscribed.add(n);
    for (const n of drop) subscribed.delete(n);
    this.write({ type_url: next, resource_names_subscribe: add, resource_names_unsubscribe: drop });
  }
}

// --- commands ---------------------------------------------------------------

async function start(args: WorkerStart): Promise<number> {
  const options: grpc.ChannelOptions = {
    // One connection per channel: without a local pool, equal channels share one subchannel.
    'grpc.use_local_subchannel_pool': 1,
    'grpc-node.flow_control_window': args.flowWindow,
  };
  for (let i = 0; i < args.channels; i++) {
    channels.push(new grpc.Client(`127.0.0.1:${args.port}`, grpc.credentials.createInsecure(), options));
  }
  clients = args.kinds.map((kind, i) => {
    const id = `bench-${args.worker}-${i}`;
    return kind === 'sotw' ? new SotwClient(i, kind, id) : new DeltaClient(i, kind, id);
  });
  for (const c of clients) counts[c.kind].clients += 1;
  // Opened in steps of 50 ms at the given rate, scheduled against the start so a late step does not slow the rest.
  const perStep = args.openPerSecond > 0 ? Math.max(1, Math.round(args.openPerSecond / 20)) : 200;
  const t0 = performance.now();
  for (let i = 0, step = 0; i < clients.length; step++) {
    if (args.openPerSecond > 0) {
      const wait = t0 + step * 50 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    } else if (i > 0) {
      await new Promise((r) => setImmediate(r));
    }
    for (const end = Math.min(clients.length, i + perStep); i < end; i++) clients[i]!.open(channels[i % channels.length]!);
  }
  return clients.length;
}

/** How many clients have ACKed every one of `versions`, and when the last of them did. */
function converged(versions: readonly string[], withTimes: boolean): { converged: number; total: number; times?: number[] } {
  const arrays = versions.map((v) => ackTimes.get(v));
  const times: number[] = [];
  let n = 0;
  if (arrays.every((a) => a !== undefined)) {
    for (let i = 0; i < clients.length; i++) {
      let at = 0;
      for (const a of arrays) {
        const t = a![i]!;
        if (Number.isNaN(t)) {
          at = Number.NaN;
          break;
        }
        if (t > at) at = t;
      }
      if (Number.isNaN(at)) continue;
      n += 1;
      if (withTimes) times.push(at);
    }
  }
  return withTimes ? { converged: n, total: clients.length, times } : { converged: n, total: clients.length };
}

/**
 * Per change, each client's latency: from the change until it ACKed the first
 * publish holding it, or any later one (a client that was busy may skip a version).
 */
function churn(q: ChurnQuery): ChurnResult {
  const n = clients.length;
  const best = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const maxMs = new Array<number>(q.changes.length).fill(0);
  const hist: Record<ClientKind, number[]> = { sotw: new Array<number>(HIST_MS + 1).fill(0), delta: new Array<number>(HIST_MS + 1).fill(0) };
  const byPublish = new Map<number, number[]>();
  q.changes.forEach((c, i) => {
    const list = byPublish.get(c.publish);
    if (list === undefined) byPublish.set(c.publish, [i]);
    else list.push(i);
  });
  for (let p = q.publishes.length - 1; p >= 0; p--) {
    const times = ackTimes.get(q.publishes[p]!);
    if (times !== undefined) for (let i = 0; i < n; i++) if (times[i]! < best[i]!) best[i] = times[i]!;
    for (const ci of byPublish.get(p) ?? []) {
      const t0 = q.changes[ci]!.t0;
      let max = 0;
      for (let i = 0; i < n; i++) {
        const ms = best[i]! - t0;
        if (ms === Number.POSITIVE_INFINITY) {
          max = -1;
          continue;
        }
        if (max >= 0 && ms > max) max = ms;
        hist[clients[i]!.kind][Math.max(0, Math.min(HIST_MS, Math.round(ms)))]! += 1;
      }
      maxMs[ci] = max;
    }
  }
  return { maxMs, hist };
}

serve(
  {
    start: (args: WorkerStart) => start(args),
    converged: (args: { versions: string[]; times?: boolean }) => converged(args.versions, args.times === true),
    churn: (args: ChurnQuery) => churn(args),
    resetBytes: () => {
      for (const c of Object.values(counts)) {
        c.bytes = 0;
        c.responses = 0;
      }
      loopDelay.reset();
      return true;
    },
    bytes: () => ({ ...counts, cpuUs: cpuUs(), loopDelayMaxMs: loopDelay.max / 1e6 }),
    errors: () => ({ streamErrors, lastError }),
    stop: () => {
      for (const c of clients) c.close();
      for (const ch of channels) ch.close();
      setImmediate(() => process.exit(0));
      return true;
    },
  },
  () => process.exit(0),
);
process.send!({ event: 'ready', pid: process.pid });
