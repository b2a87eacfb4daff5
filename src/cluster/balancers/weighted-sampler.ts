import type { EndpointState } from '../types.ts';
import { inPool, poolMode, preferred, weightOf } from './pool.ts';

/** Rejection-sampling attempts before falling back to a scan of the whole set. */
const FAST_TRIES = 4;

/**
 * Weighted random choice over a fixed endpoint set, honouring availability
 * and `avoid` (see pool.ts) without allocating. The fast path draws by weight
 * and accepts a preferred endpoint; only when several draws in a row miss (a
 * mostly unavailable set) does it scan. Rejection keeps the odds exactly
 * proportional to weight among the eligible endpoints.
 */
export class WeightedSampler {
  readonly endpoints: readonly EndpointState[];
  readonly #random: () => number;
  /** Running sums of the weights; undefined when all weights are equal (draw by index). */
  readonly #cumulative: Float64Array | undefined;
  readonly #total: number;

  constructor(endpoints: readonly EndpointState[], random: () => number) {
    this.endpoints = endpoints;
    this.#random = random;
    let equal = true;
    let total = 0;
    const cumulative = new Float64Array(endpoints.length);
    for (let i = 0; i < endpoints.length; i++) {
      const w = weightOf(endpoints[i]);
      if (w !== weightOf(endpoints[0])) equal = false;
      total += w;
      cumulative[i] = total;
    }
    this.#cumulative = equal ? undefined : cumulative;
    this.#total = total;
  }

  /** A weight-proportional endpoint, eligibility ignored. The set must not be empty. */
  any(): EndpointState {
    const eps = this.endpoints;
    const cumulative = this.#cumulative;
    if (cumulative === undefined) {
      const i = Math.floor(this.#random() * eps.length);
      return eps[i < eps.length ? i : eps.length - 1];
    }
    const target = this.#random() * this.#total;
    let lo = 0;
    let hi = eps.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (target < cumulative[mid]) hi = mid;
      else lo = mid + 1;
    }
    return eps[lo];
  }

  /**
   * A weight-proportional endpoint from the pool, other than `not` when the
   * pool holds another (the second choice of power-of-two-choices).
   * Undefined only for an empty set.
   */
  draw(avoid: EndpointState | undefined, not: EndpointState | undefined): EndpointState | undefined {
    const eps = this.endpoints;
    if (eps.length === 0) return undefined;
    if (eps.length === 1) return eps[0];
    for (let t = 0; t < FAST_TRIES; t++) {
      const ep = this.any();
      if (ep !== not && preferred(ep, avoid)) return ep;
    }
    const mode = poolMode(eps, avoid);
    let total = 0;
    for (let i = 0; i < eps.length; i++) {
      const ep = eps[i];
      if (ep !== not && inPool(ep, mode, avoid)) total += weightOf(ep);
    }
    // Only `not` is left: the caller gets the same endpoint twice.
    if (total === 0) return not;
    let target = this.#random() * total;
    let last: EndpointState | undefined;
    for (let i = 0; i < eps.length; i++) {
      const ep = eps[i];
      if (ep === not || !inPool(ep, mode, avoid)) continue;
      target -= weightOf(ep);
      if (target < 0) return ep;
      last = ep;
    }
    return last;
  }
}
