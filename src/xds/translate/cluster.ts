/**
 * A service → its clusters: one over all endpoints and one per subset, all EDS
 * over ADS, all carrying the service's balancing and resilience settings.
 */
import type { LoadBalancerKind, RetryBudgetModel, ServiceModel } from '../../model/types.ts';
import { enmeshMetadata } from '../metadata.ts';
import { clusterName } from '../resource-names.ts';
import type { Degradations } from './degradations.ts';
import type { ClientProfile, Message } from './types.ts';
import { durationOf } from './units.ts';

const CONNECT_TIMEOUT = Object.freeze({ seconds: 5 });

const LB_POLICY: Readonly<Record<LoadBalancerKind, string>> = {
  'round-robin': 'ROUND_ROBIN',
  random: 'RANDOM',
  'least-request': 'LEAST_REQUEST',
  'ring-hash': 'RING_HASH',
  // No standard policy: least-request is its nearest relative; metadata says which it really is.
  'peak-ewma': 'LEAST_REQUEST',
};

/** gRPC clients NACK every lb_policy but these. */
const GRPC_LB_POLICIES: ReadonlySet<string> = new Set(['ROUND_ROBIN', 'RING_HASH']);

export interface ClusterTranslateOptions {
  /**
   * Name the control plane itself as the LRS server (`lrs_server: { self: {} }`),
   * so clients that honour it (grpc-js-xds, Envoy) report load there. Default true:
   * the control plane always serves LRS on its xDS port.
   */
  readonly loadReporting?: boolean;
  /** The clusters' transport socket (mTLS for gRPC clients, tls-contexts.ts); absent: plaintext. */
  readonly transportSocket?: Message;
}

/**
 * Retry budgets are per route in the model but per cluster in xDS: the
 * service's clusters carry the budget of its first route with retries.
 */
export function serviceRetryBudget(service: ServiceModel): RetryBudgetModel | undefined {
  return service.routes.find((r) => r.retries !== undefined)?.retries?.budget;
}

export function translateClusters(
  service: ServiceModel,
  profile: ClientProfile,
  degradations: Degradations,
  options: ClusterTranslateOptions = {},
): { name: string; message: Message }[] {
  const grpcClient = profile.kind === 'grpc-xds';
  let lbPolicy = LB_POLICY[service.loadBalancer];
  if (grpcClient && !GRPC_LB_POLICIES.has(lbPolicy)) {
    degradations.add(`service ${service.name}: loadBalancer ${service.loadBalancer} served as ROUND_ROBIN to grpc-xds clients`);
    lbPolicy = 'ROUND_ROBIN';
  }
  const budget = serviceRetryBudget(service);
  if (grpcClient) reportIgnored(service, budget, degradations);

  const shared: Message = {
    type: 'EDS',
    connect_timeout: CONNECT_TIMEOUT,
    lb_policy: lbPolicy,
  };
  if (lbPolicy === 'RING_HASH') shared.ring_hash_lb_config = { hash_function: 'XX_HASH' };
  const breakers = circuitBreakers(service, budget);
  if (breakers !== undefined) shared.circuit_breakers = breakers;
  if (service.outlierDetection !== undefined) shared.outlier_detection = outlierDetection(service.outlierDetection);
  const panic = service.outlierDetection?.panicThresholdPercent;
  // Envoy's panic threshold (default 50 %, as the model's) covers ejected endpoints too.
  if (panic !== undefined) shared.common_lb_config = { healthy_panic_threshold: { value: panic } };
  if (options.loadReporting !== false) shared.lrs_server = { self: {} };
  if (options.transportSocket !== undefined) shared.transport_socket = options.transportSocket;

  const sharedMetadata: Record<string, unknown> = {
    lb: service.loadBalancer === 'peak-ewma' ? 'peak-ewma' : undefined,
    // The local_ratelimit filter cannot say who enforces a limit, nor key buckets by source service or route.
    rateLimit: service.rateLimit && { ...service.rateLimit },
    // No xDS counterpart: Envoy's circuit_breakers are concurrency caps, not error-rate breakers.
    circuitBreaker: service.circuitBreaker && { ...service.circuitBreaker },
    // Envoy's adaptive_concurrency filter has no dry run, tolerance or event-loop signal.
    adaptiveConcurrency: service.adaptiveConcurrency && { ...service.adaptiveConcurrency },
    // Faults for the service's own inbound requests: Envoy's fault filter is per route, client side.
    inboundFault: service.inboundFault && JSON.parse(JSON.stringify(service.inboundFault)),
    // Envoy's min_retry_concurrency is not a rate; keep the model's number exact.
    retryBudgetMinPerSecond: budget?.minPerSecond,
    // hashOn normally travels in each route's hash_policy; without a forwarding route it needs a home.
    hashOn: service.hashOn !== undefined && !service.routes.some((r) => r.backends !== undefined) ? { ...service.hashOn } : undefined,
  };

  const out: { name: string; message: Message }[] = [];
  const add = (subset: string | undefined, labels: Readonly<Record<string, string>> | undefined): void => {
    const name = clusterName(service.name, service.port, subset);
    const message: Message = {
      name,
      ...shared,
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name },
    };
    const metadata = enmeshMetadata({ ...sharedMetadata, labels: labels && { ...labels } });
    if (metadata !== undefined) message.metadata = metadata;
    out.push({ name, message });
  };
  add(undefined, undefined);
  for (const [subset, labels] of service.subsets) add(subset, labels);
  return out;
}

function circuitBreakers(service: ServiceModel, budget: RetryBudgetModel | undefined): Message | undefined {
  const pool = service.connectionPool;
  if (pool === undefined && budget === undefined) return undefined;
  const t: Message = { priority: 'DEFAULT' };
  if (pool?.maxConnections !== undefined) t.max_connections = { value: pool.maxConnections };
  if (pool?.maxPendingRequests !== undefined) t.max_pending_requests = { value: pool.maxPendingRequests };
  if (pool?.maxRequests !== undefined) t.max_requests = { value: pool.maxRequests };
  if (budget !== undefined) {
    t.retry_budget = { budget_percent: { value: budget.percent }, min_retry_concurrency: { value: budget.minPerSecond } };
  }
  return { thresholds: [t] };
}

function outlierDetection(o: NonNullable<ServiceModel['outlierDetection']>): Message {
  const out: Message = {
    consecutive_5xx: { value: o.consecutive5xx },
    interval: durationOf(o.intervalMs),
    base_ejection_time: durationOf(o.baseEjectionTimeMs),
    max_ejection_percent: { value: o.maxEjectionPercent },
  };
  if (o.maxEjectionTimeMs !== undefined) out.max_ejection_time = durationOf(o.maxEjectionTimeMs);
  const sr = o.successRate;
  if (sr === undefined) {
    // Success-rate ejection is on by default in xDS; this model asked only for consecutive failures.
    out.enforcing_success_rate = { value: 0 };
  } else {
    // Every field explicit: gRPC clients take an unset enforcement percentage as "never eject".
    out.enforcing_success_rate = { value: 100 };
    out.success_rate_minimum_hosts = { value: sr.minimumHosts };
    out.success_rate_request_volume = { value: sr.requestVolume };
    // xDS counts the factor in thousandths (1900 = 1.9).
    out.success_rate_stdev_factor = { value: Math.round(sr.stdevFactor * 1000) };
  }
  if (o.consecutiveGatewayErrors !== undefined) {
    out.consecutive_gateway_failure = { value: o.consecutiveGatewayErrors };
    // Envoy does not enforce gateway failures unless told to.
    out.enforcing_consecutive_gateway_failure = { value: 100 };
  }
  if (o.consecutiveLocalOriginFailures !== undefined) {
    // Local-origin failures are only counted apart when the split is on.
    out.split_external_local_origin_errors = true;
    out.consecutive_local_origin_failure = { value: o.consecutiveLocalOriginFailures };
  }
  return out;
}

function reportIgnored(service: ServiceModel, budget: RetryBudgetModel | undefined, degradations: Degradations): void {
  const ignored: string[] = [];
  if (service.rateLimit !== undefined) ignored.push('rateLimit');
  if (service.circuitBreaker !== undefined) ignored.push('circuitBreaker');
  if (service.adaptiveConcurrency !== undefined) ignored.push('adaptiveConcurrency');
  const outlier = service.outlierDetection;
  if (outlier !== undefined && outlier.successRate === undefined) {
    ignored.push('outlierDetection (gRPC ejects on success rate and failure percentage only; add successRate)');
  } else if (outlier !== undefined) {
    ignored.push('outlierDetection consecutive-failure ejection and panicThreshold (gRPC applies only successRate)');
  }
  const pool = service.connectionPool;
  if (pool?.maxPendingRequests !== undefined || pool?.maxConnections !== undefined) ignored.push('connectionPool limits other than maxRequests');
  if (budget !== undefined) ignored.push('retry budget');
  const hash = service.hashOn;
  if (service.loadBalancer === 'ring-hash' && hash !== undefined && (hash.cookie !== undefined || hash.sourceIp === true)) {
    ignored.push('hashOn cookie/sourceIp (gRPC hashes on headers only)');
  }
  if (ignored.length > 0) degradations.add(`service ${service.name}: ${ignored.join(', ')} not applied by grpc-xds clients`);
}
