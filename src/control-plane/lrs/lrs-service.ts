/**
 * `envoy.service.load_stats.v3.LoadReportingService` on the control plane's
 * gRPC server. Each stream: the client's first message names its node; the
 * server answers once with the reporting interval, `send_all_clusters` and
 * `report_endpoint_granularity`, then every message (the first included) is a
 * report for the aggregator.
 *
 * `send_all_clusters` rather than a cluster list: the control plane wants
 * every cluster's load, and grpc-js-xds mishandles an explicit list (it skips
 * the first cluster named). Clients honour it only when they announce
 * `envoy.lrs.supports_send_all_clusters` (enmesh, grpc-js-xds and Envoy do);
 * one that does not reports nothing, and is logged.
 *
 * Endpoint granularity is asked for because enmesh's SDKs send the endpoints
 * they ejected as `upstream_endpoint_stats`; the traffic figures are read
 * from the locality totals only, so per-endpoint entries are not counted twice.
 */
import * as grpc from '@grpc/grpc-js';
import { readRegistration } from '../../xds/client/node.ts';
import { serviceDefinitions } from '../../xds/protos.ts';
import { profileForNode } from '../../xds/translate/profile.ts';
import { durationOf } from '../../telemetry/load-stats.ts';
import type { ControlPlaneMetrics } from '../../telemetry/control-plane-metrics.ts';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import type { LoadAggregator, ReceivedClusterStats, Reporter } from './aggregator.ts';

const LRS_SERVICE = 'envoy.service.load_stats.v3.LoadReportingService';

export const DEFAULT_LOAD_REPORT_INTERVAL_MS = 10_000;
/** The shortest interval clients may be asked for: a shorter one would have them report in a loop. */
export const MIN_LOAD_REPORT_INTERVAL_MS = 100;
const SEND_ALL_CLUSTERS_FEATURE = 'envoy.lrs.supports_send_all_clusters';

export interface LrsServiceOptions {
  readonly aggregator: LoadAggregator;
  /** Interval clients are asked to report at, at least {@link MIN_LOAD_REPORT_INTERVAL_MS}. Default 10 s. */
  readonly intervalMs?: number;
  readonly metrics?: ControlPlaneMetrics;
  readonly log?: Logger;
}

interface LoadStatsRequest {
  node?: {
    id?: string;
    cluster?: string;
    user_agent_name?: string;
    client_features?: string[];
    metadata?: unknown;
  } | null;
  cluster_stats?: ReceivedClusterStats[];
}

type LrsStream = grpc.ServerDuplexStream<LoadStatsRequest, object>;

export interface LrsService {
  /** Open streams. */
  readonly streams: number;
  /** Ends every stream (clients reconnect to another replica). */
  close(): void;
}

/** Adds the service to `server` (before or after it is bound). */
export function addLoadReportingService(server: grpc.Server, options: LrsServiceOptions): LrsService {
  const log = options.log ?? silentLogger;
  const intervalMs = options.intervalMs ?? DEFAULT_LOAD_REPORT_INTERVAL_MS;
  if (!Number.isFinite(intervalMs) || intervalMs < MIN_LOAD_REPORT_INTERVAL_MS) {
    throw new RangeError(`the load report interval must be at least ${MIN_LOAD_REPORT_INTERVAL_MS} ms, got ${intervalMs}`);
  }
  const interval = durationOf(intervalMs);
  const calls = new Set<LrsStream>();
  let nextId = 0;

  server.addService(serviceDefinitions()[LRS_SERVICE] as grpc.ServiceDefinition, {
    StreamLoadStats(call: LrsStream) {
      calls.add(call);
      options.metrics?.loadReportStreams.inc();
      const id = `lrs-${++nextId}`;
      let reporter: Reporter | undefined;
      let ended = false;
      let warned = false;
      const end = (why: string): void => {
        if (ended) return;
        ended = true;
        calls.delete(call);
        options.metrics?.loadReportStreams.dec();
        if (reporter !== undefined) {
          options.aggregator.disconnect(reporter.id);
          log.info(`load reports from ${reporter.nodeId} (${reporter.service}) ended: ${why}`);
        }
      };
      call.on('data', (req: LoadStatsRequest) => {
        if (ended) return;
        if (reporter === undefined) {
          if (req.node == null || !req.node.id) {
            call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'the first LoadStatsRequest must carry the node' });
            end('no node in the first message');
            return;
          }
          reporter = reporterOf(id, req.node);
          options.aggregator.connect(reporter);
          log.info(`load reports from ${reporter.nodeId} (${reporter.service}, ${reporter.client}) every ${intervalMs} ms`);
          if (req.node.client_features?.includes(SEND_ALL_CLUSTERS_FEATURE) !== true) {
            log.warn(`${reporter.nodeId} does not announce ${SEND_ALL_CLUSTERS_FEATURE}: it will report no cluster's load`);
          }
          call.write({ clusters: [], send_all_clusters: true, load_reporting_interval: interval, report_endpoint_granularity: true });
        }
        const stats = req.cluster_stats ?? [];
        if (stats.length > 0) options.metrics?.loadReports.inc({ client: reporter.client });
        // An empty report still counts: it says no breaker is open and nothing is ejected any more.
        const result = options.aggregator.ingest(reporter, stats);
        if (result.rejected > 0 && !warned) {
          // Once per stream: a client that keeps sending bad entries must not flood the log.
          warned = true;
          log.warn(`load report from ${reporter.nodeId}: ${result.rejected} entries ignored, first for ${result.reason}; later ones on this stream not logged`);
        }
      });
      call.on('end', () => {
        end('client closed the stream');
        call.end();
      });
      call.on('cancelled', () => end('cancelled'));
      call.on('error', (err: Error) => end(`error: ${err.message}`));
      call.on('close', () => end('closed'));
    },
  });

  return {
    get streams() {
      return calls.size;
    },
    close() {
      for (const call of calls) {
        try {
          call.end();
        } catch {
          // Already gone.
        }
      }
      calls.clear();
    },
  };
}

/**
 * The reporting client's own service, the source of its edges: the node's
 * `cluster` (Envoy's service cluster; enmesh's SDK sets it), else its
 * self-registration, else the first `~` field of its id (enmesh and Istio
 * node ids start with it), else the id itself.
 */
export function reporterOf(id: string, node: NonNullable<LoadStatsRequest['node']>): Reporter {
  const nodeId = node.id ?? '';
  const registered = readRegistration(node).registration?.service;
  const tilde = nodeId.indexOf('~');
  const service = node.cluster || registered || (tilde > 0 ? nodeId.slice(0, tilde) : nodeId) || 'unknown';
  return { id, nodeId, service, client: profileForNode(node).kind };
}
