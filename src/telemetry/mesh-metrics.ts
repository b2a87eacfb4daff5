/**
 * `enmesh_*` metrics: the mesh's own decisions (retries, hedges, breakers,
 * ejections, rate limits, faults, load shedding, authorization) and its link to the control
 * plane. Names and labels are stable: dashboards and alerts depend on them.
 *
 * These are prom-client metrics, incremented where the decision is taken.
 * They fire on decisions, not on every request, so prom-client's per-call
 * label hashing is affordable here (unlike the Istio request metrics).
 * Label values come from config (service, route, policy names), never from
 * request data.
 */
import { Counter, Gauge } from './prom.ts';
import type { Registry } from 'prom-client';

export interface EnmeshMetrics {
  /** `enmesh_retries_total{destination_service, route}`: retries started (attempts after the first). */
  readonly retries: Counter<'destination_service' | 'route'>;
  /** `enmesh_retry_budget_exhausted_total{destination_service, route}`: retries refused by the retry budget. */
  readonly retryBudgetExhausted: Counter<'destination_service' | 'route'>;
  /** `enmesh_hedges_total{destination_service, route}`: hedged attempts started. */
  readonly hedges: Counter<'destination_service' | 'route'>;
  /** `enmesh_circuit_breaker_state_changes_total{destination_service, state}`: transitions into `state` (open, half_open, closed). */
  readonly breakerStateChanges: Counter<'destination_service' | 'state'>;
  /** `enmesh_circuit_breakers_open{destination_service}`: 1 while the service's breaker is open (one breaker per service), else 0. */
  readonly breakersOpen: Gauge<'destination_service'>;
  /** `enmesh_outlier_ejections_total{destination_service}`: endpoints ejected by outlier detection. */
  readonly ejections: Counter<'destination_service'>;
  /** `enmesh_outlier_ejected_endpoints{destination_service}`: endpoints ejected now. */
  readonly ejectedEndpoints: Gauge<'destination_service'>;
  /** `enmesh_rate_limited_total{destination_service, scope}`: requests refused by a rate limit (scope local|global). */
  readonly rateLimited: Counter<'destination_service' | 'scope'>;
  /** `enmesh_rate_limit_fallbacks_total{destination_service}`: global-limit decisions taken locally because Redis failed or timed out. */
  readonly rateLimitFallbacks: Counter<'destination_service'>;
  /** `enmesh_faults_injected_total{destination_service, route, kind}`: faults injected (kind delay|abort). */
  readonly faultsInjected: Counter<'destination_service' | 'route' | 'kind'>;
  /** `enmesh_adaptive_concurrency_shed_total{destination_service, dry_run}`: inbound requests shed by adaptive concurrency (dry_run="true": that would have been). */
  readonly adaptiveShed: Counter<'destination_service' | 'dry_run'>;
  /** `enmesh_authz_denials_total{destination_service, policy, dry_run}`: requests denied (or, dry_run="true", that would have been). */
  readonly authzDenials: Counter<'destination_service' | 'policy' | 'dry_run'>;
  /** `enmesh_cert_expiry_seconds{principal}`: seconds until this process's certificate expires. */
  readonly certExpirySeconds: Gauge<'principal'>;
  /** `enmesh_mtls_refusals_total{reason}`: connections refused by mTLS (plaintext in strict mode, peer certificate refused, own certificate expired). */
  readonly mtlsRefusals: Counter<'reason'>;
  /** `enmesh_xds_config_info{version}`: 1 for the config version in force (one series at a time). */
  readonly xdsConfigInfo: Gauge<'version'>;
  /** `enmesh_xds_acks_total{type}`: xDS responses accepted, by resource type (listener, route, cluster, endpoint). */
  readonly xdsAcks: Counter<'type'>;
  /** `enmesh_xds_nacks_total{type}`: xDS responses rejected. */
  readonly xdsNacks: Counter<'type'>;
  /** `enmesh_xds_config_version_info{type, version}`: 1 for the version of each resource type in force. */
  readonly xdsTypeVersion: Gauge<'type' | 'version'>;
  /** `enmesh_control_plane_connected{server}`: 1 while the xDS stream to `server` is up. */
  readonly controlPlaneConnected: Gauge<'server'>;
  /** `enmesh_xds_connection_state{server, state}`: 1 for the state the stream to `server` is in (connecting, connected, disconnected), 0 for the others. */
  readonly xdsConnectionState: Gauge<'server' | 'state'>;
  /** `enmesh_xds_reconnects_total{server}`: xDS stream attempts after the first, by the server tried. */
  readonly xdsReconnects: Counter<'server'>;
  /** `enmesh_metrics_label_sets_dropped_total`: Istio label sets refused by the cardinality cap. */
  readonly labelSetsDropped: Counter;
  /** `enmesh_access_log_dropped_total`: access log lines dropped because the destination could not keep up. */
  readonly accessLogDropped: Counter;
  /** Sets {@link xdsConfigInfo} to `version` and removes the previous series. */
  setXdsConfigVersion(version: string): void;
  /** Sets {@link xdsTypeVersion} of `type` to `version` and removes that type's previous series. */
  setXdsTypeVersion(type: string, version: string): void;
}

export function createEnmeshMetrics(registry: Registry): EnmeshMetrics {
  const registers = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> =>
    new Counter<L>({ name, help, labelNames, registers });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> => new Gauge<L>({ name, help, labelNames, registers });

  const xdsConfigInfo = gauge('enmesh_xds_config_info', 'The xDS config version in force (value 1).', ['version']);
  let shownVersion: string | undefined;
  const xdsTypeVersion = gauge('enmesh_xds_config_version_info', 'The version of each xDS resource type in force (value 1).', ['type', 'version']);
  const shownTypeVersions = new Map<string, string>();
  return {
    retries: counter('enmesh_retries_total', 'Retries started (attempts after the first).', ['destination_service', 'route']),
    retryBudgetExhausted: counter('enmesh_retry_budget_exhausted_total', 'Retries refused by the retry budget.', ['destination_service', 'route']),
    hedges: counter('enmesh_hedges_total', 'Hedged attempts started.', ['destination_service', 'route']),
    breakerStateChanges: counter('enmesh_circuit_breaker_state_changes_total', 'Circuit breaker transitions, by the state entered.', ['destination_service', 'state']),
    breakersOpen: gauge('enmesh_circuit_breakers_open', '1 while the circuit breaker of the service is open, else 0.', ['destination_service']),
    ejections: counter('enmesh_outlier_ejections_total', 'Endpoints ejected by outlier detection.', ['destination_service']),
    ejectedEndpoints: gauge('enmesh_outlier_ejected_endpoints', 'Endpoints currently ejected by outlier detection.', ['destination_service']),
    rateLimited: counter('enmesh_rate_limited_total', 'Requests refused by a rate limit.', ['destination_service', 'scope']),
    rateLimitFallbacks: counter('enmesh_rate_limit_fallbacks_total', 'Global rate-limit decisions taken locally because Redis failed or timed out.', ['destination_service']),
    faultsInjected: counter('enmesh_faults_injected_total', 'Faults injected, by kind (delay, abort).', ['destination_service', 'route', 'kind']),
    adaptiveShed: counter('enmesh_adaptive_concurrency_shed_total', 'Requests shed by adaptive concurrency (dry_run="true": would have been).', ['destination_service', 'dry_run']),
    authzDenials: counter('enmesh_authz_denials_total', 'Requests denied by authorization policy (dry_run="true": would have been).', ['destination_service', 'policy', 'dry_run']),
    certExpirySeconds: gauge('enmesh_cert_expiry_seconds', 'Seconds until the workload certificate expires.', ['principal']),
    mtlsRefusals: counter('enmesh_mtls_refusals_total', 'Connections refused by mTLS, by reason.', ['reason']),
    xdsConfigInfo,
    xdsAcks: counter('enmesh_xds_acks_total', 'xDS responses accepted, by resource type.', ['type']),
    xdsNacks: counter('enmesh_xds_nacks_total', 'xDS responses rejected, by resource type.', ['type']),
    xdsTypeVersion,
    controlPlaneConnected: gauge('enmesh_control_plane_connected', '1 while the xDS stream to the server is up.', ['server']),
    xdsConnectionState: gauge('enmesh_xds_connection_state', 'State of the xDS stream to each server (1 for the current state).', ['server', 'state']),
    xdsReconnects: counter('enmesh_xds_reconnects_total', 'xDS stream attempts after the first, by the server tried.', ['server']),
    labelSetsDropped: counter('enmesh_metrics_label_sets_dropped_total', 'Istio metric label sets refused by the cardinality cap.', []),
    accessLogDropped: counter('enmesh_access_log_dropped_total', 'Access log lines dropped because the destination could not keep up.', []),
    setXdsConfigVersion(version: string): void {
      if (version === shownVersion) return;
      if (shownVersion !== undefined) xdsConfigInfo.remove({ version: shownVersion });
      shownVersion = version;
      xdsConfigInfo.set({ version }, 1);
    },
    setXdsTypeVersion(type: string, version: string): void {
      const shown = shownTypeVersions.get(type);
      if (version === shown) return;
      if (shown !== undefined) xdsTypeVersion.remove({ type, version: shown });
      shownTypeVersions.set(type, version);
      xdsTypeVersion.set({ type, version }, 1);
    },
  };
}
