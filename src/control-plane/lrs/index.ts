/**
 * Load reporting on the control plane: the LRS service on the xDS gRPC server,
 * the aggregator behind it, and the admin route that shows the live view
 * (`GET /api/v1/load`).
 */
import type * as grpc from '@grpc/grpc-js';
import type { AdminServer } from '../admin.ts';
import type { Logger } from '../log.ts';
import type { ControlPlaneMetrics } from '../../telemetry/control-plane-metrics.ts';
import { LoadAggregator } from './aggregator.ts';
import { addLoadReportingService } from './lrs-service.ts';

export { LoadAggregator } from './aggregator.ts';
export { MAX_REPORTED_COUNT, REPORTER_LIMITS } from './aggregator.ts';
export type { EdgeView, IngestResult, LatencyView, LoadView, PolicyStateView, Reporter, ServiceLoadView, TrafficView } from './aggregator.ts';
export { addLoadReportingService, DEFAULT_LOAD_REPORT_INTERVAL_MS, MIN_LOAD_REPORT_INTERVAL_MS, reporterOf } from './lrs-service.ts';

export interface LoadReportingOptions {
  /** Interval clients are asked to report at, at least 100 ms. Default 10 s. */
  readonly intervalMs?: number;
  /** How far back the view looks. Default 60 s (at least three intervals). */
  readonly windowMs?: number;
  readonly metrics?: ControlPlaneMetrics;
  readonly log?: Logger;
}

export interface LoadReporting {
  readonly aggregator: LoadAggregator;
  /** Mounts `GET /api/v1/load` on the admin API. */
  mount(admin: AdminServer): void;
  close(): void;
}

export function attachLoadReporting(server: grpc.Server, options: LoadReportingOptions = {}): LoadReporting {
  const intervalMs = options.intervalMs ?? 10_000;
  const aggregator = new LoadAggregator({ windowMs: options.windowMs ?? Math.max(60_000, 3 * intervalMs) });
  const service = addLoadReportingService(server, {
    aggregator,
    intervalMs,
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
    ...(options.log === undefined ? {} : { log: options.log }),
  });
  return {
    aggregator,
    mount(admin) {
      admin.route('GET', '/api/v1/load', () => ({ intervalMs, ...aggregator.view() }));
    },
    close() {
      service.close();
    },
  };
}
