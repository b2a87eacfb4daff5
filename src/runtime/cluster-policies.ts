/**
 * The resilience state of one destination service (cluster): concurrency
 * limit, circuit breaker, outlier detector and client-side rate limiter.
 * It lives across config reloads while the service's settings are unchanged,
 * so a reload does not close breakers or forget ejections.
 */
import type { ServiceModel } from '../model/types.ts';
import type { EndpointState } from '../cluster/types.ts';
import { ConcurrencyLimit } from '../resilience/concurrency-limit.ts';
import { CircuitBreaker } from '../resilience/circuit-breaker.ts';
import { OutlierDetector } from '../resilience/outlier-detector.ts';
import { LocalRateLimiter } from '../resilience/rate-limiter.ts';
import type { RateLimitRequest } from '../resilience/rate-limit-descriptors.ts';

/** A rate limiter as the call sees it: 0 = pass, else ms until a token (maybe after a Redis round trip). */
export interface RateLimitCheck {
  check(req: RateLimitRequest): number | Promise<number>;
  snapshot?(): unknown;
  close?(): unknown;
}

/** Builds the shared (Redis) limiter for `scope: global`; undefined: limit locally. */
export type GlobalLimiterFactory = (service: ServiceModel) => RateLimitCheck | undefined;

export class ClusterPolicies {
  readonly service: string;
  readonly concurrency: ConcurrencyLimit | undefined;
  readonly breaker: CircuitBreaker | undefined;
  readonly outlier: OutlierDetector | undefined;
  readonly limiter: RateLimitCheck | undefined;
  /** Settings this state was built from: a change rebuilds it. */
  readonly key: string;

  constructor(svc: ServiceModel, endpoints: readonly EndpointState[], globalLimiter: GlobalLimiterFactory | undefined) {
    this.service = svc.name;
    this.key = policyKey(svc);
    const pool = svc.connectionPool;
    this.concurrency = pool?.maxRequests !== undefined || pool?.maxConnections !== undefined ? new ConcurrencyLimit(svc.name, pool) : undefined;
    this.breaker = svc.circuitBreaker !== undefined ? new CircuitBreaker(svc.name, svc.circuitBreaker) : undefined;
    this.outlier = svc.outlierDetection !== undefined ? new OutlierDetector(svc.name, svc.outlierDetection, endpoints) : undefined;
    const rl = svc.rateLimit;
    if (rl !== undefined && rl.side !== 'server') {
      this.limiter = (rl.scope === 'global' ? globalLimiter?.(svc) : undefined) ?? new LocalRateLimiter(svc.name, rl);
    } else {
      this.limiter = undefined;
    }
  }

  /** Same settings, new endpoint set (a reload): outlier detection follows the endpoints. */
  updateEndpoints(svc: ServiceModel, endpoints: readonly EndpointState[]): void {
    if (this.outlier !== undefined && svc.outlierDetection !== undefined) this.outlier.update(svc.outlierDetection, endpoints);
  }

  /** The state of each policy, for the admin view (open breakers, ejected endpoints, tokens, queue). */
  snapshot(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (this.breaker !== undefined) out.breaker = this.breaker.snapshot();
    if (this.outlier !== undefined) out.outlierDetection = this.outlier.snapshot();
    if (this.concurrency !== undefined) out.concurrency = this.concurrency.snapshot();
    if (this.limiter?.snapshot !== undefined) out.rateLimit = this.limiter.snapshot();
    return out;
  }

  /** Counters already exported as metrics, so each sync adds only what is new. */
  readonly exported = { opened: 0, halfOpened: 0, closed: 0, ejections: 0, fallbacks: 0 };

  get active(): boolean {
    return this.concurrency !== undefined || this.breaker !== undefined || this.outlier !== undefined || this.limiter !== undefined;
  }

  close(): void {
    this.breaker?.close();
    this.outlier?.close();
    void this.limiter?.close?.();
  }
}

/** The settings a ClusterPolicies is built from, as a comparable string. */
export function policyKey(svc: ServiceModel): string {
  return JSON.stringify([svc.connectionPool, svc.circuitBreaker, svc.outlierDetection, svc.rateLimit]);
}
