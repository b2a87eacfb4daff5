/**
 * The ADS gRPC server: StreamAggregatedResources (state of the world) and
 * DeltaAggregatedResources (incremental) on one port. Each call becomes a
 * SotwStream or DeltaStream; this file only wires grpc-js events to them.
 *
 * Server keepalive pings every client each second, so the stream of a peer
 * that vanished without closing its TCP connection (power loss, partition)
 * ends within about two seconds, and with it the peer's registration.
 *
 * New streams are paced (stream-admission.ts): one over the limit ends at once
 * with UNAVAILABLE, before any resource work, and its client retries later.
 */
import * as grpc from '@grpc/grpc-js';
import { EnmeshError } from '../errors.ts';
import { serviceDefinitions } from '../xds/protos.ts';
import { ClientRecord } from './client-registry.ts';
import type { ClientRegistry, StreamKind } from './client-registry.ts';
import { StreamRefusal } from './ads-stream.ts';
import type { StreamContext, StreamHooks } from './ads-stream.ts';
import { DeltaStream } from './delta-stream.ts';
import { FanOut } from './fan-out.ts';
import type { Logger } from './log.ts';
import { silentLogger } from './log.ts';
import type { DeltaDiscoveryResponse, DiscoveryResponse, NodeLike } from './messages.ts';
import type { ProfileLike } from './snapshot-cache.ts';
import { SotwStream } from './sotw-stream.ts';
import { StreamAdmission, pacedDetails } from './stream-admission.ts';
import type { StreamAdmissionOptions } from './stream-admission.ts';

export interface AdsServerOptions<P extends ProfileLike = ProfileLike> {
  readonly cache: StreamContext<P>['cache'];
  readonly registry: ClientRegistry;
  readonly profileForNode: (node: NodeLike) => P;
  readonly hooks?: StreamHooks;
  readonly log?: Logger;
  /** Interval of server keepalive pings. Default 1000 ms. */
  readonly keepaliveTimeMs?: number;
  /** How long a ping may go unanswered before the connection is dropped. Default 1000 ms. */
  readonly keepaliveTimeoutMs?: number;
  /** Pacing of new ADS streams (SotW and delta). Default: 20 per second, or 20 % of the connected streams if more; `{ floor: 0 }`: none. */
  readonly admission?: StreamAdmissionOptions;
  /** Called for each stream refused by the pacing (metrics). */
  readonly onPaced?: () => void;
}

const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/**
 * The largest DiscoveryRequest the ADS server takes, inflated (grpc-js's default, pinned): about
 * 2.7x the largest realistic one. A gzip bomb costs about this much before it is refused.
 */
export const MAX_DISCOVERY_REQUEST_BYTES = 4 * 1024 * 1024;

/** What the server needs of a SotW or delta stream (method parameters are bivariant). */
interface ServedStream {
  onRequest(req: unknown): void;
  close(): void;
}

export class AdsServer<P extends ProfileLike = ProfileLike> {
  readonly #server: grpc.Server;
  readonly #ctx: StreamContext<P>;
  readonly #calls = new Map<ServedStream, grpc.ServerDuplexStream<unknown, unknown>>();
  readonly #fanOut: FanOut;
  readonly #admission: StreamAdmission;
  readonly #onPaced: (() => void) | undefined;
  #port = 0;

  constructor(options: AdsServerOptions<P>) {
    const log = options.log ?? silentLogger;
    this.#admission = new StreamAdmission(options.admission);
    this.#onPaced = options.onPaced;
    const definition = serviceDefinitions()[ADS_SERVICE] as grpc.ServiceDefinition;
    const sotw = definition.StreamAggregatedResources!;
    const delta = definition.DeltaAggregatedResources!;
    this.#fanOut = new FanOut({ onError: (err) => log.error(`push failed: ${err instanceof Error ? err.message : String(err)}`) });
    this.#ctx = {
      cache: options.cache,
      registry: options.registry,
      profileForNode: options.profileForNode,
      log,
      encode: {
        sotw: (response: DiscoveryResponse) => sotw.responseSerialize(response),
        delta: (response: DeltaDiscoveryResponse) => delta.responseSerialize(response),
      },
      fanOut: this.#fanOut,
      ...(options.hooks === undefined ? {} : { hooks: options.hooks }),
    };
    this.#server = new grpc.Server({
      'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? 1000,
      'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? 1000,
      // ADS streams are the only calls; keep pinging while they are idle.
      'grpc.keepalive_permit_without_calls': 1,
      // Also the most a compressed request may inflate to before it is refused. The largest
      // realistic DiscoveryRequest, a delta reconnect holding 10 000 resources (~60-byte names in
      // resource_names_subscribe and again with their versions in initial_resource_versions, plus
      // a NACK's error_detail, capped at 4 KiB by our client), is about 1.5 MB.
      'grpc.max_receive_message_length': MAX_DISCOVERY_REQUEST_BYTES,
    });
    this.#server.addService(withBytesPassedThrough(definition), {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => this.#serve(call, 'sotw'),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => this.#serve(call, 'delta'),
    });
  }

  /** The grpc-js server, for adding more services (LRS, CSDS) on the same port. */
  get grpcServer(): grpc.Server {
    return this.#server;
  }

  get port(): number {
    return this.#port;
  }

  /** New streams refused by the pacing since start. */
  get pacedStreams(): number {
    return this.#admission.paced;
  }

  /** Whether a new stream was refused by the pacing in the last `ms` milliseconds. */
  pacedWithin(ms: number): boolean {
    return this.#admission.pacedWithin(ms);
  }

  /** Binds `host:port` (0 for an ephemeral port) and resolves with the port bound. */
  listen(host: string, port: number): Promise<number> {
    const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) => {
      this.#server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) => {
        if (err !== null) {
          reject(new EnmeshError('ENMESH_ERR_CONTROL_PLANE', `cannot listen for xDS on ${address}: ${err.message}`, { cause: err }));
          return;
        }
        this.#port = bound;
        resolve(bound);
      });
    });
  }

  /** Ends every stream (clients see a clean end and reconnect elsewhere) and stops the server. */
  close(graceMs = 1000): Promise<void> {
    for (const [stream, call] of this.#calls) {
      stream.close();
      try {
        call.end();
      } catch {
        // The call may already be gone.
      }
    }
    this.#calls.clear();
    this.#fanOut.clear();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #serve(call: grpc.ServerDuplexStream<unknown, unknown>, kind: StreamKind): void {
    const open = this.#calls.size;
    if (!this.#admission.tryAdmit(open)) {
      // Nothing is built for a paced stream: no record, no subscription, no registration.
      this.#onPaced?.();
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: pacedDetails(this.#admission.limit(open)) });
      return;
    }
    const record = new ClientRecord({
      id: this.#ctx.registry.nextId(),
      kind,
      address: call.getPeer(),
      connectedSince: Date.now(),
    });
    const stream: ServedStream =
      kind === 'sotw' ? new SotwStream<P>(call, this.#ctx, record) : new DeltaStream<P>(call, this.#ctx, record);
    this.#calls.set(stream, call);
    const log = this.#ctx.log;
    let finished = false;
    const finish = (why: string): void => {
      if (finished) return;
      finished = true;
      this.#calls.delete(stream);
      stream.close();
      log.info(`client ${record.id} (${record.nodeId || 'no node'}) ${kind} stream ended: ${why}`);
    };
    call.on('data', (req: unknown) => {
      try {
        stream.onRequest(req);
      } catch (err) {
        if (err instanceof StreamRefusal) {
          // A request beyond what one stream may hold: end it, and everything it held, now.
          log.warn(`client ${record.id} (${record.nodeId || 'no node'}): ${err.message}`);
          finish(`refused: ${err.message}`);
          call.emit('error', { code: grpc.status[err.code], details: err.message });
          return;
        }
        // A bug must not take the server down: end this stream, the client reconnects.
        const message = err instanceof Error ? err.message : String(err);
        log.error(`client ${record.id}: ${message}`);
        finish(`internal error: ${message}`);
        call.emit('error', { code: grpc.status.INTERNAL, details: message });
      }
    });
    call.on('end', () => {
      finish('client closed the stream');
      call.end();
    });
    call.on('cancelled', () => finish('cancelled (client gone or keepalive failed)'));
    call.on('error', (err: Error) => finish(`error: ${err.message}`));
    call.on('close', () => finish('closed'));
  }
}

/**
 * The service with response serializers that pass a Buffer through as is: a
 * response shared by many streams arrives already encoded (see
 * `StreamContext.encode`).
 */
function withBytesPassedThrough(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  return Object.fromEntries(
    Object.entries(definition).map(([name, method]) => {
      const serialize = method.responseSerialize;
      return [name, { ...method, responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : serialize(value)) }];
    }),
  );
}
