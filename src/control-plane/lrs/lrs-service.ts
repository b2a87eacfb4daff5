/**
 * `envoy.service.load_stats.v3.LoadReportingService` on the control plane's
 * gRPC server. Each stream: the client's first message names its node; the
 * server answers once with the reporting interval and `send_all_clusters`,
 * then every further message is a report for the aggregator.
 *
 * `send_all_clusters` rather than a cluster list: the control plane wants
 * every cluster's load, and grpc-js-xds mishandles an explicit list (it skips
 * the first cluster named).
 */
import * as grpc from '@grpc/grpc-js';
import { readRegistration } from '../../xds/client/node.ts';
import { serviceDefinitions } from '../../xds/protos.ts';
import { profileForNode } from '../../xds/translate/profile.ts';
import type { ControlPlaneMetrics } from '../../telemetry/control-plane-metrics.ts';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import type { LoadAggregator, ReceivedClusterStats, Reporter } from './aggregator.ts';

const LRS_SERVICE = 'envoy.service.load_stats.v3.LoadReportingService';

export const DEFAULT_LOAD_REPORT_INTERVAL_MS = 10_000;

export interface LrsServiceOptions {
  readonly aggregator: LoadAggregator;
  /** Interval clients are asked to report at. Default 10 s. */
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
  const interval = { seconds: Math.floor(intervalMs / 1000), nanos: Math.round((intervalMs % 1000) * 1e6) };
  const calls = new Set<LrsStream>();
  let nextId = 0;

  server.addService(serviceDefinitions()[LRS_SERVICE] as grpc.ServiceDefinition, {
    StreamLoadStats(call: LrsStream) {
      calls.add(call);
      options.metrics?.loadReportStreams.inc();
      const id = `lrs-${++nextId}`;
      let reporter: Reporter | undefined;
      let ended = false;
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
        if (reporter === undefined) {
          if (req.node == null || !req.node.id) {
            call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'the first LoadStatsRequest must carry the node' });
            end('no node in the first message');
            return;
          }
          reporter = reporterOf(id, req.node);
          options.aggregator.connect(reporter);
          log.info(`load reports from ${reporter.nodeId} (${reporter.service}, ${reporter.client}) every ${intervalMs} ms`);
          call.write({ clusters: [], send_all_clusters: true, load_reporting_interval: interval, report_endpoint_granularity: false });
        }
        const stats = req.cluster_stats ?? [];
        if (stats.length > 0) options.metrics?.loadReports.inc({ client: reporter.client });
        // An empty report still counts: it says no breaker is open and nothing is ejected any more.
        options.aggregator.ingest(reporter, stats);
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
