/**
 * The data plane's metrics: Istio's standard request metrics plus `enmesh_*`
 * metrics, in a prom-client Registry of their own (never prom-client's global
 * one, which belongs to the application).
 *
 * Per-request use:
 *   const peer = metrics.outboundToEndpoint('reviews', endpoint, 'http', 'none'); // once per endpoint and config
 *   peer.record(status, durationMs, requestBytes, responseBytes, flags, grpcStatus); // per request
 */
import { Registry } from './prom.ts';
import type { EndpointModel, Labels } from '../model/types.ts';
import { RequestMetrics } from './istio-metrics.ts';
import type { PeerLabels, PeerStats, WorkloadLabels } from './istio-metrics.ts';
import { createEnmeshMetrics } from './mesh-metrics.ts';
import type { EnmeshMetrics } from './mesh-metrics.ts';

export { ISTIO_BUCKETS, ISTIO_LABELS, PeerStats, RequestMetrics } from './istio-metrics.ts';
export type { PeerLabels, WorkloadLabels } from './istio-metrics.ts';
export type { EnmeshMetrics } from './mesh-metrics.ts';
export { createControlPlaneMetrics } from './control-plane-metrics.ts';
export type { ControlPlaneMetrics } from './control-plane-metrics.ts';
export { INTERNAL_SERVER, METRICS_PATHS, metricsHandler, startMetricsServer } from './metrics-server.ts';
export type { MetricsRequestHandler, MetricsServer, MetricsServerOptions } from './metrics-server.ts';

type Protocol = PeerLabels['protocol'];
type Security = NonNullable<PeerLabels['security']>;

export interface MeshMetricsOptions {
  /** This process's workload: the source of outbound requests, the destination of inbound ones. */
  readonly self: WorkloadLabels & { readonly service?: string };
  /** Default: a new Registry. */
  readonly registry?: Registry;
  /** Cap on distinct Istio label sets. Default 2000. */
  readonly maxLabelSets?: number;
  /** Trust domain, to derive destination principals (`spiffe://<td>/service/<name>`) when mTLS is on. */
  readonly trustDomain?: string;
}

export interface MeshMetrics {
  readonly registry: Registry;
  readonly requests: RequestMetrics;
  readonly enmesh: EnmeshMetrics;
  /** Stats of outbound requests (reporter `source`) to a destination. */
  outbound(destination: WorkloadLabels & { readonly service: string }, protocol: Protocol, security?: Security): PeerStats;
  /**
   * Stats of outbound requests to one endpoint, its labels giving workload
   * and version. Cached per endpoint object (config models are immutable), so
   * calling it per request costs one WeakMap lookup. `principal`: the SPIFFE
   * ID the server presented over mTLS (`destination_principal`); without it,
   * `mutual_tls` derives it from the service name.
   */
  outboundToEndpoint(service: string, endpoint: EndpointModel, protocol: Protocol, security?: Security, principal?: string): PeerStats;
  /** Stats of inbound requests (reporter `destination`) from a source. */
  inbound(source: WorkloadLabels, protocol: Protocol, security?: Security): PeerStats;
}

/**
 * A workload's labels from its endpoint labels, as Istio derives them from pod
 * labels: `app` / `service.istio.io/canonical-name`, `version` /
 * `service.istio.io/canonical-revision`; a `workload` label names the
 * workload, else `<service>-<version>` (the usual Deployment name).
 */
export function workloadOf(service: string, labels: Labels, principal?: string): WorkloadLabels {
  const version = labels.version;
  const out: { -readonly [K in keyof WorkloadLabels]: WorkloadLabels[K] } = {
    workload: labels.workload ?? (version !== undefined ? `${service}-${version}` : service),
    app: labels.app ?? service,
    canonicalService: labels['service.istio.io/canonical-name'] ?? labels.app ?? service,
    canonicalRevision: labels['service.istio.io/canonical-revision'] ?? version ?? 'latest',
  };
  if (version !== undefined) out.version = version;
  if (principal !== undefined) out.principal = principal;
  return out;
}

export function createMeshMetrics(options: MeshMetricsOptions): MeshMetrics {
  const registry = options.registry ?? new Registry();
  const enmesh = createEnmeshMetrics(registry);
  const requests = new RequestMetrics({
    registry,
    ...(options.maxLabelSets === undefined ? {} : { maxLabelSets: options.maxLabelSets }),
    onOverflow: () => enmesh.labelSetsDropped.inc(),
  });
  const self = options.self;
  const selfDestination = { ...self, service: self.service ?? self.canonicalService ?? self.app ?? self.workload ?? 'unknown' };
  const byEndpoint = new WeakMap<EndpointModel, { key: string; stats: PeerStats }>();
  const td = options.trustDomain;

  const outbound = (destination: WorkloadLabels & { readonly service: string }, protocol: Protocol, security: Security = 'unknown'): PeerStats =>
    requests.peer({ reporter: 'source', source: self, destination, protocol, security });

  return {
    registry,
    requests,
    enmesh,
    outbound,
    outboundToEndpoint(service, endpoint, protocol, security = 'unknown', presented) {
      const key = `${service}|${protocol}|${security}|${presented ?? ''}`;
      const hit = byEndpoint.get(endpoint);
      if (hit !== undefined && hit.key === key) return hit.stats;
      const principal = presented ?? (security === 'mutual_tls' && td !== undefined ? `spiffe://${td}/service/${service}` : undefined);
      const stats = outbound({ ...workloadOf(service, endpoint.labels, principal), service }, protocol, security);
      byEndpoint.set(endpoint, { key, stats });
      return stats;
    },
    inbound(source, protocol, security = 'unknown') {
      return requests.peer({ reporter: 'destination', source, destination: selfDestination, protocol, security });
    },
  };
}
