/**
 * The forwarding half of a route: RouteModel backends and per-request
 * policies → `envoy.config.route.v3.RouteAction`.
 */
import { EnmeshError } from '../../errors.ts';
import {
  IDEMPOTENT_METHODS,
  type BackendRef,
  type HashOn,
  type RetryBudgetModel,
  type RetryCondition,
  type RetryPolicyModel,
  type RouteModel,
} from '../../model/types.ts';
import { clusterName } from '../resource-names.ts';
import { methodMatcher } from './route-match.ts';
import type { RouteContext } from './route.ts';
import type { Message } from './types.ts';
import { durationOf, fractionOf } from './units.ts';

/** Retry conditions gRPC clients understand; they ignore the HTTP ones. */
const GRPC_RETRY_CONDITIONS: ReadonlySet<RetryCondition> = new Set([
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);

/**
 * @param ignored collects, for gRPC clients, the features they do not apply.
 * @param metadata route metadata entries, added to.
 */
export function translateRouteAction(
  route: RouteModel,
  backends: readonly BackendRef[],
  ctx: RouteContext,
  where: string,
  metadata: Record<string, unknown>,
  ignored: string[],
): Message {
  const grpcClient = ctx.profile.kind === 'grpc-xds';
  const action: Message = {};

  if (backends.length === 1 && backends[0].weight === 1) {
    action.cluster = backendCluster(backends[0].service, backends[0].subset, ctx, where);
  } else {
    const weights = integerWeights(backends.map((b) => b.weight));
    if (weights.scaled) metadata.weights = backends.map((b) => b.weight);
    // total_weight stays unset: gRPC clients require it unset or equal to the sum.
    action.weighted_clusters = {
      clusters: backends.map((b, i) => ({
        name: backendCluster(b.service, b.subset, ctx, where),
        weight: { value: weights.values[i] },
      })),
    };
  }

  if (route.rewritePrefix !== undefined) action.prefix_rewrite = route.rewritePrefix;

  // Always explicit: an unset timeout means 15s to Envoy, while 0 means none.
  action.timeout = durationOf(route.timeoutMs);
  if (ctx.service.protocol === 'grpc' && route.timeoutMs > 0) {
    // gRPC clients read the deadline from here, not from `timeout`.
    const d = durationOf(route.timeoutMs);
    action.max_stream_duration = { max_stream_duration: d, grpc_timeout_header_max: d };
  }

  if (route.retries !== undefined) {
    const retry = retryPolicy(route.retries, grpcClient, metadata, ignored);
    if (retry !== undefined) action.retry_policy = retry;
    if (ctx.clusterBudget === undefined || !sameBudget(route.retries.budget, ctx.clusterBudget)) {
      metadata.retryBudget = { percent: route.retries.budget.percent, minPerSecond: route.retries.budget.minPerSecond };
    }
  }

  if (route.hedge !== undefined) {
    action.hedge_policy = { initial_requests: { value: 1 }, hedge_on_per_try_timeout: true };
    const { delayMs, maxAttempts, percentile } = route.hedge;
    metadata.hedge = { delayMs, maxAttempts, percentile };
    if (grpcClient) ignored.push('hedge');
  }

  if (route.mirror !== undefined) {
    action.request_mirror_policies = [
      {
        cluster: backendCluster(route.mirror.service, route.mirror.subset, ctx, where),
        runtime_fraction: { default_value: fractionOf(route.mirror.percent) },
      },
    ];
    if (grpcClient) ignored.push('mirror');
  }

  if (ctx.service.hashOn !== undefined) action.hash_policy = hashPolicy(ctx.service.hashOn);
  return action;
}

function retryPolicy(retries: RetryPolicyModel, grpcClient: boolean, metadata: Record<string, unknown>, ignored: string[]): Message | undefined {
  // gRPC clients NACK num_retries 0; no retry policy means the same.
  if (grpcClient && retries.attempts === 0) return undefined;
  const policy: Message = { retry_on: retries.on.join(','), num_retries: { value: retries.attempts } };
  if (retries.perTryTimeoutMs > 0) policy.per_try_timeout = durationOf(retries.perTryTimeoutMs);
  if (retries.statusCodes.length > 0) policy.retriable_status_codes = [...retries.statusCodes];
  const { baseMs, maxMs } = retries.backoff;
  // Envoy requires base > 0 and max >= base; anything else is kept in metadata.
  if (baseMs > 0 && maxMs >= baseMs) {
    policy.retry_back_off = { base_interval: durationOf(baseMs), max_interval: durationOf(maxMs) };
  } else {
    metadata.retryBackoff = { baseMs, maxMs };
  }
  if (!sameList(retries.methods, IDEMPOTENT_METHODS)) policy.retriable_request_headers = [methodMatcher(retries.methods)];
  if (grpcClient) {
    const httpOnly = retries.on.filter((c) => !GRPC_RETRY_CONDITIONS.has(c));
    if (httpOnly.length > 0) ignored.push(`retry conditions (${httpOnly.join(', ')})`);
    if (retries.perTryTimeoutMs > 0) ignored.push('per-try timeout');
  }
  return policy;
}

function hashPolicy(hashOn: HashOn): Message[] {
  const out: Message[] = [];
  if (hashOn.header !== undefined) out.push({ header: { header_name: hashOn.header } });
  if (hashOn.cookie !== undefined) out.push({ cookie: { name: hashOn.cookie } });
  if (hashOn.sourceIp === true) out.push({ connection_properties: { source_ip: true } });
  return out;
}

function backendCluster(service: string, subset: string | undefined, ctx: RouteContext, where: string): string {
  const target = ctx.model.services.get(service);
  if (target === undefined) {
    throw new EnmeshError('ENMESH_ERR_CONFIG_INVALID', `${where}: backend service "${service}" is not declared under services`);
  }
  return clusterName(service, target.port, subset);
}

/**
 * xDS weights are integers: fractional weights are scaled by the smallest
 * power of ten that makes them whole (at most 10^6, then rounded).
 */
export function integerWeights(weights: readonly number[]): { values: number[]; scaled: boolean } {
  if (weights.every((w) => Number.isInteger(w))) return { values: [...weights], scaled: false };
  let scale = 10;
  while (scale < 1e6 && !weights.every((w) => Math.abs(w * scale - Math.round(w * scale)) < 1e-9)) scale *= 10;
  return { values: weights.map((w) => Math.round(w * scale)), scaled: true };
}

export function sameBudget(a: RetryBudgetModel, b: RetryBudgetModel): boolean {
  return a.percent === b.percent && a.minPerSecond === b.minPerSecond;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
