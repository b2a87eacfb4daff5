/**
 * The decision a canary step takes from the canary's load figures: wait for
 * more requests, roll back because a bound is crossed, or call it healthy.
 * Pure, so the bounds and the wording of the reasons are tested on their own.
 */

/** What the load reports say about one backend since its step began. */
export interface StepFigures {
  /** Requests issued to the backend. */
  readonly requests: number;
  /** Failed share of the finished requests, 0..1; null when none finished. */
  readonly errorRate: number | null;
  /** Null when no reporter sends latency buckets (grpc-js-xds, Envoy). */
  readonly p99Ms: number | null;
}

export interface CanaryBounds {
  /** Largest error rate tolerated, 0..1. */
  readonly maxErrorRate: number;
  /** Largest p99 latency tolerated; undefined: latency is not judged. */
  readonly maxP99Ms?: number;
  /** Requests a step needs before it is judged at all. */
  readonly minRequests: number;
}

export type Verdict =
  | { readonly kind: 'wait'; readonly note: string }
  | { readonly kind: 'breach'; readonly reason: string }
  | { readonly kind: 'healthy' };

export const NO_FIGURES: StepFigures = Object.freeze({ requests: 0, errorRate: null, p99Ms: null });

/** `0.051` → `5.1%`, `0.01` → `1%`. */
export function percent(share: number): string {
  return `${Number((share * 100).toFixed(share < 0.001 && share > 0 ? 3 : 1))}%`;
}

export function judge(canary: StepFigures, bounds: CanaryBounds, weight: number): Verdict {
  // Too few requests say nothing: one failure in five calls is not a 20 % error rate.
  if (canary.requests < bounds.minRequests || canary.errorRate === null) {
    return { kind: 'wait', note: `${canary.requests} of ${bounds.minRequests} requests needed` };
  }
  if (canary.errorRate > bounds.maxErrorRate) {
    return { kind: 'breach', reason: `error rate ${percent(canary.errorRate)} > ${percent(bounds.maxErrorRate)} at step ${weight}%` };
  }
  if (bounds.maxP99Ms !== undefined && canary.p99Ms !== null && canary.p99Ms > bounds.maxP99Ms) {
    return { kind: 'breach', reason: `p99 latency ${Math.round(canary.p99Ms)}ms > ${bounds.maxP99Ms}ms at step ${weight}%` };
  }
  return { kind: 'healthy' };
}
