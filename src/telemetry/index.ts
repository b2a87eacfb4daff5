/**
 * Telemetry of one process, started together: metrics (always counted,
 * served when asked), tracing and access logs (off unless asked), and the
 * load store LRS reports from. `init()` starts one and closes it with the mesh.
 */
import type { AccessLogOptions } from './access-log.ts';
import { AccessLog } from './access-log.ts';
import { LoadStore } from './load-stats.ts';
import { createMeshMetrics, startMetricsServer } from './metrics.ts';
import type { MeshMetrics, MetricsServer } from './metrics.ts';
import { loadTraceReader } from './request-log.ts';
import type { MeshTracing, TracingOptions } from './tracing.ts';

export interface TelemetryOptions {
  /** Serve metrics (`/metrics`, `/stats/prometheus`) on `port`, default 15090, even when given as `{}`; false or absent: counted, not served. */
  readonly metrics?: false | { readonly port?: number; readonly host?: string; readonly maxLabelSets?: number };
  readonly tracing?: false | TracingOptions;
  readonly accessLog?: false | AccessLogOptions;
}

/** This process, as telemetry names it. */
export interface TelemetryIdentity {
  readonly service: string;
  /** Instance labels (`version`, `app`, `workload`, ...), as in mesh.yaml endpoints. */
  readonly labels?: Readonly<Record<string, string>>;
  /** SPIFFE id, when this process has one. */
  readonly principal?: string;
  readonly trustDomain?: string;
  readonly namespace?: string;
}

export interface Telemetry {
  readonly metrics: MeshMetrics;
  readonly metricsServer: MetricsServer | undefined;
  readonly tracing: MeshTracing | undefined;
  readonly accessLog: AccessLog | undefined;
  readonly load: LoadStore;
  /** Stops what was started (flushes traces and logs). Idempotent. */
  close(): Promise<void>;
}

export async function startTelemetry(identity: TelemetryIdentity, options: TelemetryOptions = {}): Promise<Telemetry> {
  const labels = identity.labels ?? {};
  const version = labels.version;
  const m = options.metrics === false ? undefined : options.metrics;
  const metrics = createMeshMetrics({
    self: {
      service: identity.service,
      workload: labels.workload ?? (version !== undefined ? `${identity.service}-${version}` : identity.service),
      app: labels.app ?? identity.service,
      canonicalService: labels['service.istio.io/canonical-name'] ?? labels.app ?? identity.service,
      ...(version !== undefined ? { version } : {}),
      ...(identity.principal !== undefined ? { principal: identity.principal } : {}),
      ...(identity.namespace !== undefined ? { namespace: identity.namespace } : {}),
    },
    ...(identity.trustDomain !== undefined ? { trustDomain: identity.trustDomain } : {}),
    ...(m?.maxLabelSets !== undefined ? { maxLabelSets: m.maxLabelSets } : {}),
  });
  const started: { close(): Promise<void> }[] = [];
  try {
    const metricsServer = m === undefined ? undefined : await startMetricsServer({ registry: metrics.registry, ...m });
    if (metricsServer !== undefined) started.push(metricsServer);
    // OpenTelemetry's modules load only with tracing or an access log (about 3 MB of a process's memory).
    const tracing = options.tracing ? await (await import('./tracing.ts')).startTracing({ serviceName: identity.service, ...options.tracing }) : undefined;
    if (tracing !== undefined) started.push(tracing);
    const accessLog = options.accessLog
      ? new AccessLog({ onDrop: () => metrics.enmesh.accessLogDropped.inc(), ...options.accessLog })
      : undefined;
    if (accessLog !== undefined) {
      started.push(accessLog);
      await loadTraceReader();
    }
    let closing: Promise<void> | undefined;
    return {
      metrics,
      metricsServer,
      tracing,
      accessLog,
      load: new LoadStore(),
      close() {
        closing ??= Promise.allSettled(started.map((s) => s.close())).then(() => undefined);
        return closing;
      },
    };
  } catch (err) {
    await Promise.allSettled(started.map((s) => s.close()));
    throw err;
  }
}

export { createMeshMetrics, metricsHandler, startMetricsServer, workloadOf, INTERNAL_SERVER, createControlPlaneMetrics } from './metrics.ts';
export type { MeshMetrics, MetricsServer, PeerStats, WorkloadLabels, EnmeshMetrics, ControlPlaneMetrics } from './metrics.ts';
export type { MeshTracing, TracingOptions, CallSpan, AttemptSpan, ServerSpan, CallInfo, AttemptInfo, ServerInfo } from './tracing.ts';
export { AccessLog, createAccessLog } from './access-log.ts';
export type { AccessLogEntry, AccessLogOptions } from './access-log.ts';
export { LoadStore, LocalityLoad } from './load-stats.ts';
export { observeXdsClient } from './xds-client-metrics.ts';
export { feedControlPlaneMetrics } from './control-plane-feed.ts';
export type { ControlPlaneFeed, ControlPlaneFeedSources, FedClient } from './control-plane-feed.ts';
export { xdsTypeLabel } from './xds-type-label.ts';
