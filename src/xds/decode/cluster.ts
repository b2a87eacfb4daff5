/** `Cluster` → {@link DecodedCluster}: an EDS cluster over ADS and its balancing and resilience settings. */
import {
  DEFAULT_RETRY_BUDGET,
  type AdaptiveConcurrencyModel,
  type CircuitBreakerModel,
  type FaultPolicyModel,
  type ConnectionPoolModel,
  type HashOn,
  type LoadBalancerKind,
  type OutlierDetectionModel,
  type RateLimitDescriptorModel,
  type RateLimitModel,
  type RetryBudgetModel,
} from '../../model/types.ts';
import { readEnmeshMetadata, type JsonObject } from '../metadata.ts';
import { parseClusterName } from '../resource-names.ts';
import {
  durationMs,
  invalid,
  METADATA_PATH,
  metaArray,
  metaLabels,
  metaNumber,
  metaObject,
  metaString,
  percent,
  wrapped,
  type Obj,
  type Where,
} from './fields.ts';
import type { DecodedCluster } from './types.ts';

const LB_POLICIES: Readonly<Record<string, LoadBalancerKind>> = {
  ROUND_ROBIN: 'round-robin',
  RANDOM: 'random',
  LEAST_REQUEST: 'least-request',
  RING_HASH: 'ring-hash',
};

export function decodeCluster(msg: Obj, where: Where): DecodedCluster {
  const parsed = parseClusterName(where.name);
  if (parsed === undefined) invalid(where, 'name', 'not an enmesh cluster name (outbound|<port>|<subset>|<service>)');

  if (msg.cluster_discovery_type === 'cluster_type') invalid(where, 'cluster_type', 'custom cluster types are not supported (use type EDS)');
  const type = msg.type ?? 'STATIC';
  if (type !== 'EDS') invalid(where, 'type', `unsupported value ${String(type)} (enmesh clusters are EDS)`);
  const eds = msg.eds_cluster_config as Obj | undefined;
  if (eds?.eds_config?.ads === undefined && eds?.eds_config?.self === undefined) {
    invalid(where, 'eds_cluster_config.eds_config', 'must be ads or self');
  }
  durationMs(msg.connect_timeout, where, 'connect_timeout');

  const meta = readEnmeshMetadata(msg.metadata);
  const lbPolicy = String(msg.lb_policy ?? 'ROUND_ROBIN');
  let loadBalancer = LB_POLICIES[lbPolicy];
  if (loadBalancer === undefined) invalid(where, 'lb_policy', `unsupported value ${lbPolicy}`);
  const metaLb = metaString(meta, 'lb', where, METADATA_PATH);
  if (metaLb === 'peak-ewma' && loadBalancer === 'least-request') loadBalancer = 'peak-ewma';

  const out: { -readonly [K in keyof DecodedCluster]: DecodedCluster[K] } = {
    kind: 'cluster',
    name: where.name,
    service: parsed.service,
    port: parsed.port,
    edsServiceName: typeof eds?.service_name === 'string' && eds.service_name !== '' ? eds.service_name : where.name,
    loadBalancer,
  };
  if (parsed.subset !== undefined) out.subset = parsed.subset;

  const threshold = ((msg.circuit_breakers?.thresholds ?? []) as Obj[]).find((t) => (t.priority ?? 'DEFAULT') === 'DEFAULT');
  if (threshold !== undefined) {
    const pool: { -readonly [K in keyof ConnectionPoolModel]: ConnectionPoolModel[K] } = {};
    const maxRequests = wrapped(threshold.max_requests);
    const maxPending = wrapped(threshold.max_pending_requests);
    const maxConnections = wrapped(threshold.max_connections);
    if (maxRequests !== undefined) pool.maxRequests = maxRequests;
    if (maxPending !== undefined) pool.maxPendingRequests = maxPending;
    if (maxConnections !== undefined) pool.maxConnections = maxConnections;
    if (Object.keys(pool).length > 0) out.connectionPool = pool;
    const budget = retryBudget(threshold.retry_budget, meta, where);
    if (budget !== undefined) out.retryBudget = budget;
  }
  if (msg.outlier_detection !== undefined) {
    const od = outlierDetection(msg.outlier_detection, where);
    const panic = msg.common_lb_config?.healthy_panic_threshold as Obj | undefined;
    // Envoy's threshold (a double) is read only with outlier detection: the model has no other home for it.
    if (panic !== undefined) {
      od.panicThresholdPercent = percent(Number(panic.value ?? 0), where, 'common_lb_config.healthy_panic_threshold');
    }
    out.outlierDetection = od;
  }

  const rateLimit = rateLimitOf(meta, where);
  if (rateLimit !== undefined) out.rateLimit = rateLimit;
  const circuitBreaker = circuitBreakerOf(meta, where);
  if (circuitBreaker !== undefined) out.circuitBreaker = circuitBreaker;
  const adaptive = adaptiveConcurrencyOf(meta, where);
  if (adaptive !== undefined) out.adaptiveConcurrency = adaptive;
  const inboundFault = inboundFaultOf(meta, where);
  if (inboundFault !== undefined) out.inboundFault = inboundFault;
  const labels = metaLabels(meta, 'labels', where, METADATA_PATH);
  if (labels !== undefined) out.labels = labels;
  const hashOn = hashOnOf(meta, where);
  if (hashOn !== undefined) out.hashOn = hashOn;
  return out;
}

function retryBudget(b: Obj | undefined, meta: JsonObject | undefined, where: Where): RetryBudgetModel | undefined {
  if (b === undefined) return undefined;
  const at = 'circuit_breakers.thresholds.retry_budget';
  // Envoy's defaults are 20% and a concurrency of 3; the model's minimum is a rate, carried in metadata.
  const pct = b.budget_percent === undefined ? DEFAULT_RETRY_BUDGET.percent : Number(b.budget_percent.value ?? 0);
  return {
    percent: percent(pct, where, `${at}.budget_percent`),
    minPerSecond: metaNumber(meta, 'retryBudgetMinPerSecond', where, METADATA_PATH) ?? wrapped(b.min_retry_concurrency) ?? 3,
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function outlierDetection(o: Obj, where: Where): Mutable<OutlierDetectionModel> {
  const maxEjectionPercent = wrapped(o.max_ejection_percent) ?? 10;
  if (maxEjectionPercent > 100) invalid(where, 'outlier_detection.max_ejection_percent', `${maxEjectionPercent} is over 100`);
  // Absent fields take Envoy's defaults.
  const out: Mutable<OutlierDetectionModel> = {
    consecutive5xx: wrapped(o.consecutive_5xx) ?? 5,
    intervalMs: durationMs(o.interval, where, 'outlier_detection.interval') ?? 10_000,
    baseEjectionTimeMs: durationMs(o.base_ejection_time, where, 'outlier_detection.base_ejection_time') ?? 30_000,
    maxEjectionPercent,
  };
  const gateway = wrapped(o.consecutive_gateway_failure);
  if (gateway !== undefined) out.consecutiveGatewayErrors = gateway;
  const local = wrapped(o.consecutive_local_origin_failure);
  if (local !== undefined) out.consecutiveLocalOriginFailures = local;
  const maxEjectionTimeMs = durationMs(o.max_ejection_time, where, 'outlier_detection.max_ejection_time');
  if (maxEjectionTimeMs !== undefined) out.maxEjectionTimeMs = maxEjectionTimeMs;
  // xDS enforces success-rate ejection unless told 0; Envoy's defaults fill what is unset.
  if ((wrapped(o.enforcing_success_rate) ?? 100) > 0) {
    out.successRate = {
      minimumHosts: wrapped(o.success_rate_minimum_hosts) ?? 5,
      requestVolume: wrapped(o.success_rate_request_volume) ?? 100,
      stdevFactor: (wrapped(o.success_rate_stdev_factor) ?? 1900) / 1000,
    };
  }
  return out;
}

function rateLimitOf(meta: JsonObject | undefined, where: Where): RateLimitModel | undefined {
  const m = metaObject(meta, 'rateLimit', where, METADATA_PATH);
  if (m === undefined) return undefined;
  const path = `${METADATA_PATH}.rateLimit`;
  const requestsPerSecond = metaNumber(m, 'requestsPerSecond', where, path);
  if (requestsPerSecond === undefined || requestsPerSecond <= 0) invalid(where, `${path}.requestsPerSecond`, 'must be a positive number');
  const scope = metaString(m, 'scope', where, path) ?? 'local';
  if (scope !== 'local' && scope !== 'global') invalid(where, `${path}.scope`, `unsupported value ${scope}`);
  const out: Mutable<RateLimitModel> = { requestsPerSecond, burst: metaNumber(m, 'burst', where, path) ?? 0, scope };
  const side = metaString(m, 'side', where, path);
  if (side !== undefined) {
    if (side !== 'client' && side !== 'server') invalid(where, `${path}.side`, `unsupported value ${side}`);
    out.side = side;
  }
  const descriptors = metaArray(m, 'descriptors', where, path);
  if (descriptors !== undefined) out.descriptors = descriptors.map((d, i) => descriptorOf(d, where, `${path}.descriptors[${i}]`));
  return out;
}

const DESCRIPTOR_KEYS: ReadonlySet<string> = new Set(['source-service', 'header', 'path', 'route']);

function descriptorOf(d: unknown, where: Where, path: string): RateLimitDescriptorModel {
  if (d === null || typeof d !== 'object' || Array.isArray(d)) invalid(where, path, 'expected an object');
  const m = d as JsonObject;
  const by = metaString(m, 'by', where, path);
  if (by === undefined || !DESCRIPTOR_KEYS.has(by)) invalid(where, `${path}.by`, `unsupported value ${String(by)}`);
  const out: Mutable<RateLimitDescriptorModel> = {
    by: by as RateLimitDescriptorModel['by'],
    requestsPerSecond: positive(m, 'requestsPerSecond', where, path),
    burst: metaNumber(m, 'burst', where, path) ?? 0,
  };
  const header = metaString(m, 'header', where, path);
  if (by === 'header' && header === undefined) invalid(where, `${path}.header`, 'required when by is header');
  if (header !== undefined) out.header = header;
  const value = metaString(m, 'value', where, path);
  if (value !== undefined) out.value = value;
  return out;
}

function circuitBreakerOf(meta: JsonObject | undefined, where: Where): CircuitBreakerModel | undefined {
  const m = metaObject(meta, 'circuitBreaker', where, METADATA_PATH);
  if (m === undefined) return undefined;
  const path = `${METADATA_PATH}.circuitBreaker`;
  return {
    errorThresholdPercent: percent(required(m, 'errorThresholdPercent', where, path), where, `${path}.errorThresholdPercent`),
    volumeThreshold: positive(m, 'volumeThreshold', where, path),
    windowMs: positive(m, 'windowMs', where, path),
    resetTimeoutMs: positive(m, 'resetTimeoutMs', where, path),
    halfOpenRequests: positive(m, 'halfOpenRequests', where, path),
  };
}

function inboundFaultOf(meta: JsonObject | undefined, where: Where): FaultPolicyModel | undefined {
  const m = metaObject(meta, 'inboundFault', where, METADATA_PATH);
  if (m === undefined) return undefined;
  const path = `${METADATA_PATH}.inboundFault`;
  const out: { delay?: FaultPolicyModel['delay']; abort?: FaultPolicyModel['abort']; header?: string; maxActive?: number } = {};
  const d = m.delay as JsonObject | undefined;
  if (d !== undefined) out.delay = { percent: percent(required(d, 'percent', where, `${path}.delay`), where, `${path}.delay.percent`), durationMs: positive(d, 'durationMs', where, `${path}.delay`) };
  const a = m.abort as JsonObject | undefined;
  if (a !== undefined) {
    const status = required(a, 'status', where, `${path}.abort`);
    if (!Number.isInteger(status) || status < 100 || status > 599) invalid(where, `${path}.abort.status`, `expected an HTTP status, got ${status}`);
    out.abort = { percent: percent(required(a, 'percent', where, `${path}.abort`), where, `${path}.abort.percent`), status };
  }
  if (out.delay === undefined && out.abort === undefined) invalid(where, path, 'needs delay, abort or both');
  if (typeof m.header === 'string') out.header = m.header;
  if (m.maxActive !== undefined) out.maxActive = positive(m, 'maxActive', where, path);
  return out;
}

function adaptiveConcurrencyOf(meta: JsonObject | undefined, where: Where): AdaptiveConcurrencyModel | undefined {
  const m = metaObject(meta, 'adaptiveConcurrency', where, METADATA_PATH);
  if (m === undefined) return undefined;
  const path = `${METADATA_PATH}.adaptiveConcurrency`;
  const minLimit = positive(m, 'minLimit', where, path);
  const maxLimit = positive(m, 'maxLimit', where, path);
  const initialLimit = positive(m, 'initialLimit', where, path);
  if (maxLimit < minLimit) invalid(where, `${path}.maxLimit`, 'is below minLimit');
  if (initialLimit < minLimit || initialLimit > maxLimit) invalid(where, `${path}.initialLimit`, 'is outside minLimit..maxLimit');
  return {
    dryRun: m.dryRun === true,
    initialLimit,
    minLimit,
    maxLimit,
    intervalMs: positive(m, 'intervalMs', where, path),
    tolerance: positive(m, 'tolerance', where, path),
    maxEventLoopDelayMs: required(m, 'maxEventLoopDelayMs', where, path),
  };
}

/** A number that must be present and >= 0. */
function required(m: JsonObject, key: string, where: Where, path: string): number {
  const v = metaNumber(m, key, where, path);
  if (v === undefined || v < 0) invalid(where, `${path}.${key}`, 'must be a number >= 0');
  return v;
}

function positive(m: JsonObject, key: string, where: Where, path: string): number {
  const v = metaNumber(m, key, where, path);
  if (v === undefined || v <= 0) invalid(where, `${path}.${key}`, 'must be a positive number');
  return v;
}

function hashOnOf(meta: JsonObject | undefined, where: Where): HashOn | undefined {
  const m = metaObject(meta, 'hashOn', where, METADATA_PATH);
  if (m === undefined) return undefined;
  const path = `${METADATA_PATH}.hashOn`;
  const out: { header?: string; cookie?: string; sourceIp?: boolean } = {};
  const header = metaString(m, 'header', where, path);
  const cookie = metaString(m, 'cookie', where, path);
  if (header !== undefined) out.header = header;
  if (cookie !== undefined) out.cookie = cookie;
  if (m.sourceIp === true) out.sourceIp = true;
  return out;
}
