/**
 * The SDK side of load reporting (LRS): counts load per cluster and locality
 * ({@link LoadStore}) and streams it to the control plane's
 * `envoy.service.load_stats.v3.LoadReportingService`, the way grpc-js-xds
 * does when a cluster names an LRS server:
 *
 *   client: { node, cluster_stats: [] }           — opens the stream
 *   server: { load_reporting_interval, send_all_clusters | clusters, report_endpoint_granularity }
 *   client: { cluster_stats } every interval      — counters since the last report
 *
 * The server may send a new response at any time to change the interval or
 * the clusters. A broken stream is reopened after a jittered backoff; the
 * counters keep accumulating meanwhile and go out with the next report, whose
 * `load_report_interval` covers the gap. LRS has no acknowledgement: a report
 * written just as the stream breaks is lost, never sent twice.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { EnmeshError } from '../errors.ts';
import { serviceDefinitions } from '../xds/protos.ts';
import { Backoff } from '../xds/client/backoff.ts';
import type { BackoffOptions } from '../xds/client/backoff.ts';
import { systemClock } from '../xds/client/clock.ts';
import type { XdsClock } from '../xds/client/clock.ts';
import type { NodeMessage } from '../xds/client/node.ts';
import type { MeshModel } from '../model/types.ts';
import { clusterName } from '../xds/resource-names.ts';
import { addPolicyStats } from './load-stats.ts';
import type { ClusterPolicyReport, ClusterStatsMessage, LoadStore } from './load-stats.ts';

export { LATENCY_BOUNDS_MS, LATENCY_METRIC, LoadStore, LocalityLoad, latencyQuantile, readLatency } from './load-stats.ts';
export { BREAKER_OPEN_METRIC, EJECTED_METRIC, addPolicyStats } from './load-stats.ts';
export type { ClusterPolicyReport, ClusterStatsMessage, LatencyStats, Locality } from './load-stats.ts';

const LRS_SERVICE = 'envoy.service.load_stats.v3.LoadReportingService';
/** What a client announces so a server may answer `send_all_clusters`. */
export const LRS_CLIENT_FEATURE = 'envoy.lrs.supports_send_all_clusters';
/** Intervals below this are raised to it: a misconfigured server must not make clients spin. */
export const MIN_REPORT_INTERVAL_MS = 100;

export interface LoadReportClientOptions {
  /** `host:port` of the LRS server (the control plane's xDS port). */
  readonly server: string;
  /** The node, as sent on ADS. */
  readonly node: NodeMessage;
  readonly store: LoadStore;
  /** Default insecure, as the control plane serves xDS. */
  readonly credentials?: grpc.ChannelCredentials;
  readonly backoff?: BackoffOptions;
  readonly clock?: XdsClock;
  readonly random?: () => number;
  /** The resilience state to report with every report (open breakers, ejected endpoints); see {@link policyReportOf}. */
  readonly policies?: () => readonly ClusterPolicyReport[];
}

export interface LoadReportClientEvents {
  /** A report was sent (clusters with activity only). */
  report: [stats: readonly ClusterStatsMessage[]];
  /** The server set (or changed) the reporting interval. */
  interval: [ms: number];
  warning: [warning: EnmeshError];
}

interface LoadStatsResponse {
  clusters?: string[];
  send_all_clusters?: boolean;
  load_reporting_interval?: { seconds?: string | number; nanos?: number } | null;
  report_endpoint_granularity?: boolean;
}

type LrsCall = grpc.ClientDuplexStream<object, LoadStatsResponse>;

export class LoadReportClient extends EventEmitter<LoadReportClientEvents> {
  readonly #options: LoadReportClientOptions;
  readonly #clock: XdsClock;
  readonly #backoff: Backoff;
  readonly #client: grpc.Client;
  #call: LrsCall | undefined;
  #timer: unknown;
  #reconnect: unknown;
  #intervalMs: number | undefined;
  #wanted: (cluster: string) => boolean = () => false;
  /** The server asked for per-endpoint entries (`report_endpoint_granularity`). */
  #endpoints = false;
  #closed = false;

  constructor(options: LoadReportClientOptions) {
    super();
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#backoff = new Backoff(options.backoff, options.random);
    const Ctor = grpc.makeClientConstructor(serviceDefinitions()[LRS_SERVICE] as grpc.ServiceDefinition, 'LoadReportingService');
    this.#client = new Ctor(options.server, options.credentials ?? grpc.credentials.createInsecure());
  }

  /** The interval the server asked for, once it answered. */
  get intervalMs(): number | undefined {
    return this.#intervalMs;
  }

  start(): void {
    if (this.#closed || this.#call !== undefined) return;
    const method = (this.#client as unknown as Record<string, (md: grpc.Metadata) => LrsCall>).StreamLoadStats!;
    const call = method.call(this.#client, new grpc.Metadata({ waitForReady: true }));
    this.#call = call;
    const features = new Set([...((this.#options.node as { client_features?: string[] }).client_features ?? []), LRS_CLIENT_FEATURE]);
    call.write({ node: { ...this.#options.node, client_features: [...features] }, cluster_stats: [] });
    call.on('data', (res: LoadStatsResponse) => this.#onResponse(call, res));
    call.on('error', () => {}); // the status event says why
    call.on('status', (status: grpc.StatusObject) => this.#onEnd(call, status));
  }

  /** Sends what was counted since the last report, then ends the stream. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clock.clearTimeout(this.#timer);
    this.#clock.clearTimeout(this.#reconnect);
    const call = this.#call;
    this.#call = undefined;
    if (call !== undefined) {
      if (this.#intervalMs !== undefined) this.#send(call);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          call.cancel();
          resolve();
        }, 1000);
        call.once('status', done);
        call.end();
      });
    }
    this.#client.close();
  }

  #onResponse(call: LrsCall, res: LoadStatsResponse): void {
    if (call !== this.#call) return;
    this.#backoff.reset();
    const d = res.load_reporting_interval;
    const ms = d == null ? 0 : Number(d.seconds ?? 0) * 1000 + Number(d.nanos ?? 0) / 1e6;
    const interval = Number.isFinite(ms) ? Math.max(MIN_REPORT_INTERVAL_MS, ms) : MIN_REPORT_INTERVAL_MS;
    this.#endpoints = res.report_endpoint_granularity === true;
    if (res.send_all_clusters === true) {
      this.#wanted = () => true;
    } else {
      const names = new Set(res.clusters ?? []);
      this.#wanted = (c) => names.has(c);
    }
    if (interval !== this.#intervalMs) {
      this.#intervalMs = interval;
      this.#clock.clearTimeout(this.#timer);
      this.#schedule(call);
      this.emit('interval', interval);
    }
  }

  #schedule(call: LrsCall): void {
    this.#timer = this.#clock.setTimeout(() => {
      if (call !== this.#call) return;
      this.#send(call);
      this.#schedule(call);
    }, this.#intervalMs!);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  #send(call: LrsCall): void {
    const stats = this.#options.store.take(this.#wanted);
    const policies = this.#options.policies;
    if (policies !== undefined) {
      try {
        addPolicyStats(stats, policies().filter((p) => this.#wanted(p.cluster)), this.#endpoints);
      } catch {
        // Policy state is a courtesy: a failure to read it must not stop load reports.
      }
    }
    call.write({ cluster_stats: stats });
    this.emit('report', stats);
  }

  #onEnd(call: LrsCall, status: grpc.StatusObject): void {
    if (call !== this.#call) return;
    this.#call = undefined;
    this.#intervalMs = undefined;
    this.#clock.clearTimeout(this.#timer);
    if (this.#closed) return;
    if (this.listenerCount('warning') > 0) {
      this.emit('warning', new EnmeshError('ENMESH_ERR_XDS_STREAM', `load reporting stream to ${this.#options.server} ended (${grpc.status[status.code] ?? status.code}: ${status.details}); reconnecting`));
    }
    this.#reconnect = this.#clock.setTimeout(() => this.start(), this.#backoff.next());
    (this.#reconnect as { unref?: () => void }).unref?.();
  }
}

/**
 * Open breakers and ejected endpoints per destination cluster, read from a
 * mesh's `policyState()` (the SDK's resilience state) and its model (for the
 * cluster names). Called once per report, not per request.
 */
export function policyReportOf(state: Record<string, unknown>, model: MeshModel | undefined): ClusterPolicyReport[] {
  const services = (state.services ?? {}) as Record<string, { breaker?: { state?: string }; outlierDetection?: { ejected?: readonly { endpoint?: string }[] } }>;
  const out: ClusterPolicyReport[] = [];
  for (const [name, s] of Object.entries(services)) {
    const svc = model?.services.get(name);
    if (svc === undefined) continue;
    const breakerOpen = s.breaker?.state === 'open';
    const ejected = (s.outlierDetection?.ejected ?? []).map((e) => e.endpoint ?? '').filter((e) => e !== '');
    if (breakerOpen || ejected.length > 0) out.push({ cluster: clusterName(name, svc.port), breakerOpen, ejected });
  }
  return out;
}
