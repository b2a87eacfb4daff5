/**
 * The SDK's xDS client: one ADS stream (delta or state-of-the-world) to one of
 * the configured control-plane servers, turning what it receives into a
 * MeshModel.
 *
 * - Subscribes wildcard CDS and LDS, then EDS and RDS by the names those
 *   reference (order CDS, EDS, LDS, RDS, so a server can push dependencies first).
 * - Every response of a type requested on the stream is ACKed or NACKed (see
 *   sotw.ts / delta.ts for what a NACK keeps); others are ignored. A model is
 *   assembled once nothing subscribed, and no cluster a listener or route
 *   references, is still awaited, and emitted only when its version changes.
 * - A failed stream is retried after a jittered exponential backoff, each time
 *   on the next server of the list (the first one picked at random, so clients
 *   spread over replicas). Until then the last good model stays in force.
 *
 * Events: `model` (MeshModel), `warning` (EnmeshError: NACKs, stream failures,
 * resources that do not exist), `connected` / `disconnected` (server address);
 * for metrics, `ack` / `nack` per response and `state` on every stream
 * transition (connecting, connected, disconnected; `reconnect` set on attempts
 * after the first).
 * Warnings use their own event name so a process without listeners never
 * crashes the way an unhandled `'error'` would.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { EnmeshError } from '../../errors.ts';
import type { EnmeshErrorCode } from '../../errors.ts';
import type { MeshModel } from '../../model/types.ts';
import { serviceDefinitions } from '../protos.ts';
import { assemble, decodeResource, referencedNames } from './assemble.ts';
import { Backoff } from './backoff.ts';
import type { BackoffOptions } from './backoff.ts';
import { systemClock } from './clock.ts';
import type { XdsClock } from './clock.ts';
import { applyDeltaResponse, deltaAckRequest, deltaInitialRequest, deltaSubscriptionRequest } from './delta.ts';
import type { XdsMode } from './env.ts';
import type { DeltaResponse, SotwResponse } from './messages.ts';
import { buildNode } from './node.ts';
import type { NodeMessage, Registration, XdsNodeOptions } from './node.ts';
import { applySotwResponse, sotwRequest } from './sotw.ts';
import { ResourceState } from './state.ts';
import type { ClientStatus, TypeState } from './state.ts';

const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

export const DEFAULT_INITIAL_FETCH_TIMEOUT_MS = 15_000;
export const DEFAULT_MAX_RECEIVE_MESSAGE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_CLOSE_TIMEOUT_MS = 1000;

export interface XdsClientOptions {
  /** `host:port` of each control-plane replica; several give failover. */
  readonly servers: readonly string[];
  readonly node: XdsNodeOptions;
  /** Default `delta`. */
  readonly mode?: XdsMode;
  /** How long a subscribed resource may stay unanswered before it is treated as not existing. Default 15 s. */
  readonly initialFetchTimeoutMs?: number;
  /** Reconnect schedule (gRPC connection-backoff rules). */
  readonly backoff?: BackoffOptions;
  /** Announce this instance to the control plane (self-registration). */
  readonly registration?: Registration;
  /** Largest response accepted; bigger ones fail the stream. Default 16 MiB. */
  readonly maxReceiveMessageBytes?: number;
  /** Default insecure (plaintext), as the control plane serves xDS. */
  readonly credentials?: grpc.ChannelCredentials;
  /** On close, how long to wait for the server to end the stream before cancelling it. Default 1 s. */
  readonly closeTimeoutMs?: number;
  readonly clock?: XdsClock;
  /** In [0, 1), like Math.random: picks the first server and jitters the backoff. */
  readonly random?: () => number;
}

export interface XdsClientEvents {
  model: [model: MeshModel];
  warning: [warning: EnmeshError];
  connected: [server: string];
  disconnected: [server: string];
  /** A response of `typeUrl` was accepted; `version` is the type's version now in force. */
  ack: [typeUrl: string, version: string];
  /** A response of `typeUrl` was rejected; `version` is the one refused. */
  nack: [typeUrl: string, version: string, message: string];
  /** The stream to `server` changed state. `reconnect`: a stream attempt after the first. */
  state: [server: string, state: XdsConnectionState, reconnect: boolean];
}

export type XdsConnectionState = 'connecting' | 'connected' | 'disconnected';

type AdsMessage = SotwResponse | DeltaResponse;
type AdsCall = grpc.ClientDuplexStream<object, AdsMessage>;

/** One attempt: a channel and the stream on it. Callbacks from an old attempt are recognised and ignored. */
interface Attempt {
  readonly server: string;
  readonly client: grpc.Client;
  readonly call: AdsCall;
  connected: boolean;
  nodeSent: boolean;
  ended: boolean;
  onEnd: (() => void) | undefined;
}

export class XdsClient extends EventEmitter<XdsClientEvents> {
  readonly #servers: readonly string[];
  #mode: XdsMode;
  readonly #nodeOptions: XdsNodeOptions;
  readonly #registration: Registration | undefined;
  readonly #fetchTimeoutMs: number;
  readonly #maxBytes: number;
  readonly #closeTimeoutMs: number;
  readonly #credentials: grpc.ChannelCredentials;
  readonly #clock: XdsClock;
  readonly #backoff: Backoff;
  #method: MethodDefinition<object, AdsMessage>;
  readonly #state = new ResourceState();
  /** Does-not-exist timers by `typeUrl name` ('' name: a wildcard type's first response). */
  readonly #timers = new Map<string, unknown>();
  #node: NodeMessage | undefined;
  #serverIndex: number;
  #attempt: Attempt | undefined;
  #reconnectTimer: unknown;
  #model: MeshModel | undefined;
  #started = false;
  #attempts = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  #ready: { promise: Promise<MeshModel>; resolve: (m: MeshModel) => void; reject: (e: Error) => void } | undefined;

  constructor(options: XdsClientOptions) {
    super();
    if (options.servers.length === 0) {
      throw new EnmeshError('ENMESH_ERR_CONFIG_INVALID', 'xDS client: `servers` is empty; give at least one control-plane host:port.');
    }
    if (options.node?.id === undefined || options.node.id === '') {
      throw new EnmeshError('ENMESH_ERR_CONFIG_INVALID', 'xDS client: `node.id` is required (a unique id of this process).');
    }
    this.#servers = [...options.servers];
    this.#mode = options.mode ?? 'delta';
    if (this.#mode !== 'delta' && this.#mode !== 'sotw') {
      throw new EnmeshError('ENMESH_ERR_CONFIG_INVALID', `xDS client: mode "${String(this.#mode)}" is not delta or sotw.`);
    }
    this.#nodeOptions = options.node;
    this.#registration = options.registration;
    this.#fetchTimeoutMs = options.initialFetchTimeoutMs ?? DEFAULT_INITIAL_FETCH_TIMEOUT_MS;
    this.#maxBytes = options.maxReceiveMessageBytes ?? DEFAULT_MAX_RECEIVE_MESSAGE_BYTES;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.#credentials = options.credentials ?? grpc.credentials.createInsecure();
    this.#clock = options.clock ?? systemClock;
    const random = options.random ?? Math.random;
    this.#backoff = new Backoff(options.backoff, random);
    this.#serverIndex = Math.min(this.#servers.length - 1, Math.floor(random() * this.#servers.length));
    this.#method = adsMethod(this.#mode);
  }

  /**
   * Opens the ADS stream. Separate from construction so listeners can be
   * attached first. Idempotent; does nothing after `close()`.
   */
  start(): this {
    if (this.#started || this.#closed) return this;
    this.#started = true;
    this.#connect();
    return this;
  }

  /** The last good model, if one was received. It stays in force while disconnected. */
  get model(): MeshModel | undefined {
    return this.#model;
  }

  /** Resolves with the first model (at once if there is one); rejects if the client is closed first. Needs `start()`. */
  ready(): Promise<MeshModel> {
    if (this.#model !== undefined) return Promise.resolve(this.#model);
    if (this.#closed) return Promise.reject(closedBeforeReady());
    if (this.#ready === undefined) {
      let resolve!: (m: MeshModel) => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<MeshModel>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.#ready = { promise, resolve, reject };
    }
    return this.#ready.promise;
  }

  /** Diagnostics: where the stream is and, per type, what was accepted or rejected. */
  status(): ClientStatus {
    const a = this.#attempt;
    return this.#state.status(a !== undefined && a.connected && !a.ended ? a.server : undefined, this.#mode);
  }

  /**
   * Ends the client. A registered instance first tells the control plane it is
   * draining (one more request whose node metadata has `enmesh.draining: true`),
   * then the stream is half-closed and the channel shut once the server ends it
   * (or after `closeTimeoutMs`). Idempotent: every call returns the same promise.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    if (this.#reconnectTimer !== undefined) {
      this.#clock.clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = undefined;
    }
    this.#clearTimers();
    if (this.#ready !== undefined && this.#model === undefined) this.#ready.reject(closedBeforeReady());
    const attempt = this.#attempt;
    if (attempt === undefined || attempt.ended) {
      this.#closing = Promise.resolve();
      return this.#closing;
    }
    this.#closing = new Promise<void>((resolve) => {
      const timer = this.#clock.setTimeout(() => attempt.call.cancel(), this.#closeTimeoutMs);
      attempt.onEnd = () => {
        this.#clock.clearTimeout(timer);
        resolve();
      };
      if (this.#registration !== undefined) this.#sendDraining(attempt);
      attempt.call.end();
    });
    return this.#closing;
  }

  // ---- connection ---------------------------------------------------------

  #connect(): void {
    const server = this.#servers[this.#serverIndex];
    const client = new grpc.Client(server, this.#credentials, {
      'grpc.max_receive_message_length': this.#maxBytes,
      // A connection of its own per attempt: from the shared pool, an attempt would inherit a
      // subchannel still backing off from an earlier failure and fail without trying, so
      // reconnects would follow grpc-js's schedule on top of ours.
      'grpc.use_local_subchannel_pool': 1,
      // Notice a control plane that vanished without closing the connection (host down, partition).
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
    });
    const call = client.makeBidiStreamRequest(
      this.#method.path,
      this.#method.requestSerialize,
      this.#method.responseDeserialize,
    ) as AdsCall;
    const attempt: Attempt = { server, client, call, connected: false, nodeSent: false, ended: false, onEnd: undefined };
    this.#attempt = attempt;
    this.#state.resetStream();
    this.emit('state', server, 'connecting', this.#attempts++ > 0);
    call.on('data', (msg: AdsMessage) => this.#onResponse(attempt, msg));
    // The 'status' handler reports failures; this listener only keeps a failed call from throwing.
    call.on('error', () => {});
    call.on('status', (status: grpc.StatusObject) => this.#onStreamEnd(attempt, status));
    // Connected means the channel is up; a server with nothing new to say may not answer at once.
    client.waitForReady(Infinity, (err) => {
      if (err === undefined && attempt === this.#attempt && !attempt.ended) this.#markConnected(attempt);
    });
    for (const s of this.#state.ordered) {
      if (s.wanted()) this.#sendInitial(attempt, s);
    }
  }

  #onStreamEnd(attempt: Attempt, status: grpc.StatusObject): void {
    attempt.ended = true;
    attempt.client.close();
    if (attempt !== this.#attempt) return;
    this.#clearTimers();
    this.emit('state', attempt.server, 'disconnected', false);
    if (attempt.connected) this.emit('disconnected', attempt.server);
    if (this.#closed) {
      attempt.onEnd?.();
      return;
    }
    if (this.#mode === 'delta' && status.code === grpc.status.UNIMPLEMENTED) {
      // A server that only implements state-of-the-world ADS: speak that to it from now on.
      this.#mode = 'sotw';
      this.#method = adsMethod('sotw');
      this.#warn('ENMESH_ERR_XDS_STREAM', `${attempt.server} does not implement delta ADS; switching to state-of-the-world`);
    }
    const delay = this.#backoff.next();
    this.#serverIndex = (this.#serverIndex + 1) % this.#servers.length;
    const next = this.#servers[this.#serverIndex];
    this.#warn('ENMESH_ERR_XDS_STREAM', `${streamEndReason(attempt.server, status, this.#maxBytes)}; reconnecting to ${next} in ${delay} ms`);
    this.#reconnectTimer = this.#clock.setTimeout(() => {
      this.#reconnectTimer = undefined;
      if (!this.#closed) this.#connect();
    }, delay);
  }

  #markConnected(attempt: Attempt): void {
    if (attempt.connected) return;
    attempt.connected = true;
    this.emit('state', attempt.server, 'connected', false);
    this.emit('connected', attempt.server);
  }

  #write(attempt: Attempt, req: object): void {
    if (attempt.ended || attempt !== this.#attempt) return;
    attempt.call.write(req);
  }

  /** The node goes with the first request of a stream only (allowed on any, required on the first). */
  #nodeOnce(attempt: Attempt): NodeMessage | undefined {
    if (attempt.nodeSent) return undefined;
    attempt.nodeSent = true;
    this.#node ??= buildNode(this.#nodeOptions, this.#registration, false);
    return this.#node;
  }

  #sendInitial(attempt: Attempt, s: TypeState): void {
    const node = this.#nodeOnce(attempt);
    s.requested = true;
    this.#write(attempt, this.#mode === 'sotw' ? sotwRequest(s, node) : deltaInitialRequest(s, node));
    if (s.wildcard) {
      if (!s.fetched) this.#startTimer(s, '');
    } else {
      for (const name of s.pending()) this.#startTimer(s, name);
    }
  }

  #sendSubscription(s: TypeState): void {
    const attempt = this.#attempt;
    if (attempt === undefined || attempt.ended) return; // the next stream subscribes afresh
    if (!s.requested) {
      // A first request naming nothing would subscribe to every resource of the type.
      if (s.wanted()) this.#sendInitial(attempt, s);
      return;
    }
    if (this.#mode === 'sotw') {
      this.#write(attempt, sotwRequest(s));
    } else {
      const req = deltaSubscriptionRequest(s);
      if (req !== undefined) this.#write(attempt, req);
    }
    for (const name of s.pending()) this.#startTimer(s, name);
  }

  /** Same shape as an ACK of the last LDS response, plus the draining node: harmless to any server. */
  #sendDraining(attempt: Attempt): void {
    const node = buildNode(this.#nodeOptions, this.#registration, true);
    const s = this.#state.listeners;
    attempt.call.write(this.#mode === 'sotw' ? sotwRequest(s, node) : deltaAckRequest(s, node));
  }

  // ---- responses ----------------------------------------------------------

  #onResponse(attempt: Attempt, msg: AdsMessage): void {
    if (attempt !== this.#attempt || this.#closed) return;
    this.#markConnected(attempt);
    this.#backoff.reset();
    const typeUrl = msg.type_url ?? '';
    const s = this.#state.get(typeUrl);
    // Not answered either: an ACK would be this type's first request on the stream and, naming
    // nothing, a wildcard subscription to a type the client asks for by name.
    if (s === undefined || !s.requested) {
      this.#warn('ENMESH_ERR_XDS_INVALID', `xDS server ${attempt.server} sent resources of unrequested type "${typeUrl}"; ignored`);
      return;
    }
    const wasFetched = s.fetched;
    const out =
      this.#mode === 'sotw'
        ? applySotwResponse(s, msg as SotwResponse, decodeResource, this.#clock.now())
        : applyDeltaResponse(s, msg as DeltaResponse, decodeResource, this.#clock.now());
    this.#write(attempt, out.reply);
    this.#stopTimer(s, '');
    for (const name of out.received) this.#stopTimer(s, name);
    if (out.error === undefined) this.emit('ack', typeUrl, s.version);
    else this.emit('nack', typeUrl, s.lastNack?.rejectedVersion ?? '', out.error);
    if (out.error !== undefined) {
      const v = s.lastNack?.rejectedVersion ?? '';
      this.#warn(
        'ENMESH_ERR_XDS_INVALID',
        `rejected ${typeName(typeUrl)} ${v === '' ? 'update' : `version ${v}`} from ${attempt.server} (NACK): ${out.error}`,
      );
    }
    if (out.changed || s.fetched !== wasFetched) this.#afterChange();
  }

  #afterChange(): void {
    const refs = referencedNames(this.#state);
    // EDS before RDS, as everywhere: a route never points at a cluster whose endpoints were not asked for.
    this.#resubscribe(this.#state.assignments, refs.assignments);
    this.#resubscribe(this.#state.routeConfigs, refs.routeConfigs);
    this.#maybeEmit(refs.clusters);
  }

  #resubscribe(s: TypeState, want: ReadonlySet<string>): void {
    let changed = false;
    for (const name of s.subscribed) {
      if (want.has(name)) continue;
      s.subscribed.delete(name);
      s.resources.delete(name);
      s.missing.delete(name);
      this.#stopTimer(s, name);
      changed = true;
    }
    for (const name of want) {
      if (s.subscribed.has(name)) continue;
      s.subscribed.add(name);
      changed = true;
    }
    if (changed) this.#sendSubscription(s);
  }

  /**
   * How many referenced clusters are neither held nor declared missing. CDS is a wildcard subscription, so they
   * cannot be asked for by name; they are waited for like named resources, under the same
   * does-not-exist timer, so that a model never routes to a cluster the client does not know:
   * one announced after the route to it, or removed before the routes moved off it.
   */
  #awaitedClusters(refs: ReadonlySet<string>): number {
    const s = this.#state.clusters;
    for (const name of s.missing) if (!refs.has(name) || s.resources.has(name)) s.missing.delete(name);
    const awaited = new Set<string>();
    for (const name of refs) if (!s.resources.has(name) && !s.missing.has(name)) awaited.add(name);
    const prefix = `${s.typeUrl} `;
    for (const key of [...this.#timers.keys()]) {
      const name = key.slice(prefix.length);
      if (key.startsWith(prefix) && name !== '' && !awaited.has(name)) this.#stopTimer(s, name);
    }
    const a = this.#attempt;
    // Timers run only on a live stream, as for named resources (a reconnect restarts them).
    if (a !== undefined && !a.ended) for (const name of awaited) this.#startTimer(s, name);
    return awaited.size;
  }

  /** Emits a model once nothing subscribed or referenced is still awaited, and only if its version moved. */
  #maybeEmit(referencedClusters: ReadonlySet<string> = referencedNames(this.#state).clusters): void {
    const awaitedClusters = this.#awaitedClusters(referencedClusters);
    for (const s of this.#state.ordered) {
      if (s.wildcard ? !s.fetched : s.pending().length > 0) return;
    }
    if (awaitedClusters > 0) return;
    let model: MeshModel;
    try {
      model = assemble(this.#state);
    } catch (err) {
      const code = (err as EnmeshError).code ?? 'ENMESH_ERR_XDS_INVALID';
      this.#warn(code, `could not build a model from the xDS resources held; keeping the previous one: ${(err as Error).message}`);
      return;
    }
    if (model.version === this.#model?.version) return;
    this.#model = model;
    if (this.#ready !== undefined) {
      this.#ready.resolve(model);
      this.#ready = undefined;
    }
    this.emit('model', model);
  }

  // ---- does-not-exist timers ---------------------------------------------

  #startTimer(s: TypeState, name: string): void {
    const key = `${s.typeUrl} ${name}`;
    if (this.#timers.has(key)) return;
    const handle = this.#clock.setTimeout(() => {
      this.#timers.delete(key);
      this.#onFetchTimeout(s, name);
    }, this.#fetchTimeoutMs);
    this.#timers.set(key, handle);
  }

  #stopTimer(s: TypeState, name: string): void {
    const key = `${s.typeUrl} ${name}`;
    const handle = this.#timers.get(key);
    if (handle === undefined) return;
    this.#clock.clearTimeout(handle);
    this.#timers.delete(key);
  }

  #clearTimers(): void {
    for (const handle of this.#timers.values()) this.#clock.clearTimeout(handle);
    this.#timers.clear();
  }

  #onFetchTimeout(s: TypeState, name: string): void {
    if (this.#closed) return;
    const after = `after ${this.#fetchTimeoutMs} ms`;
    if (name === '') {
      if (s.fetched) return;
      s.fetched = true; // treated as an empty set, so the rest of the config can be used
      this.#warn('ENMESH_ERR_CONTROL_PLANE', `no ${typeName(s.typeUrl)} resources received ${after}; treating the set as empty`);
    } else {
      if (s.resources.has(name)) return;
      // A wildcard type's named timer is a referenced cluster's (see #awaitedClusters).
      if (s.wildcard ? !referencedNames(this.#state).clusters.has(name) : !s.subscribed.has(name)) return;
      s.missing.add(name);
      this.#warn('ENMESH_ERR_CONTROL_PLANE', `${typeName(s.typeUrl)} "${name}" does not exist (not received ${after}); going on without it`);
    }
    this.#maybeEmit();
  }

  #warn(code: EnmeshErrorCode, message: string): void {
    this.emit('warning', new EnmeshError(code, `xDS client: ${message}`));
  }
}

function adsMethod(mode: XdsMode): MethodDefinition<object, AdsMessage> {
  const def = serviceDefinitions()[ADS_SERVICE] as unknown as Record<string, MethodDefinition<object, AdsMessage>>;
  return mode === 'delta' ? def.DeltaAggregatedResources : def.StreamAggregatedResources;
}

function closedBeforeReady(): EnmeshError {
  return new EnmeshError('ENMESH_ERR_XDS_STREAM', 'xDS client: closed before the first config was received.');
}

const TYPE_NAMES: Record<string, string> = {
  'envoy.config.listener.v3.Listener': 'listener',
  'envoy.config.route.v3.RouteConfiguration': 'route configuration',
  'envoy.config.cluster.v3.Cluster': 'cluster',
  'envoy.config.endpoint.v3.ClusterLoadAssignment': 'cluster load assignment',
};

function typeName(typeUrl: string): string {
  const full = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  return TYPE_NAMES[full] ?? full;
}

function streamEndReason(server: string, status: grpc.StatusObject, maxBytes: number): string {
  if (status.code === grpc.status.RESOURCE_EXHAUSTED && /larger than max/i.test(status.details)) {
    return (
      `xDS response from ${server} exceeds the ${maxBytes}-byte limit (maxReceiveMessageBytes), stream closed: ` +
      `raise the limit or reduce the config size`
    );
  }
  const name = grpc.status[status.code] ?? String(status.code);
  return `xDS stream to ${server} ended (${name}${status.details === '' ? '' : `: ${status.details}`})`;
}
