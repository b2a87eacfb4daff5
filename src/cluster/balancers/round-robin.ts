import type { Balancer, EndpointState, PickContext } from '../types.ts';
import type { BalancerOptions } from './options.ts';
import { inPool, poolMode, preferred, weightOf } from './pool.ts';

/**
 * Equal weights: a cursor that steps past endpoints it may not pick. It
 * starts at a random offset so that many clients started together do not all
 * send their first request to the same endpoint.
 */
class CursorRoundRobin implements Balancer {
  readonly endpoints: readonly EndpointState[];
  #cursor: number;

  constructor(endpoints: readonly EndpointState[], random: () => number) {
    this.endpoints = endpoints;
    this.#cursor = endpoints.length > 0 ? Math.floor(random() * endpoints.length) % endpoints.length : 0;
  }

  pick(ctx: PickContext): EndpointState | undefined {
    const eps = this.endpoints;
    const n = eps.length;
    const avoid = ctx.avoid;
    let i = this.#cursor;
    for (let k = 0; k < n; k++, i = i + 1 === n ? 0 : i + 1) {
      if (preferred(eps[i], avoid)) return this.#take(i);
    }
    const mode = poolMode(eps, avoid);
    for (let k = 0; k < n; k++, i = i + 1 === n ? 0 : i + 1) {
      if (inPool(eps[i], mode, avoid)) return this.#take(i);
    }
    return undefined;
  }

  #take(i: number): EndpointState {
    this.#cursor = i + 1 === this.endpoints.length ? 0 : i + 1;
    return this.endpoints[i];
  }
}

/**
 * Unequal weights: smooth weighted round robin (as nginx). Each pick adds
 * every eligible endpoint's weight to its score, takes the highest score and
 * subtracts the round's total from it. Over any run of sum(weights) picks each
 * endpoint gets exactly its weight, interleaved rather than in bursts
 * (5:1:1 gives a a b a c a a). Deterministic; O(endpoints) per pick.
 */
class SmoothWeightedRoundRobin implements Balancer {
  readonly endpoints: readonly EndpointState[];
  readonly #weights: Float64Array;
  readonly #scores: Float64Array;

  constructor(endpoints: readonly EndpointState[]) {
    this.endpoints = endpoints;
    this.#weights = Float64Array.from(endpoints, weightOf);
    this.#scores = new Float64Array(endpoints.length);
  }

  pick(ctx: PickContext): EndpointState | undefined {
    const eps = this.endpoints;
    const weights = this.#weights;
    const scores = this.#scores;
    const avoid = ctx.avoid;
    let best = -1;
    let total = 0;
    for (let i = 0; i < eps.length; i++) {
      if (!preferred(eps[i], avoid)) continue;
      scores[i] += weights[i];
      total += weights[i];
      if (best < 0 || scores[i] > scores[best]) best = i;
    }
    if (best < 0) {
      const mode = poolMode(eps, avoid);
      for (let i = 0; i < eps.length; i++) {
        if (!inPool(eps[i], mode, avoid)) continue;
        scores[i] += weights[i];
        total += weights[i];
        if (best < 0 || scores[i] > scores[best]) best = i;
      }
      if (best < 0) return undefined;
    }
    scores[best] -= total;
    return eps[best];
  }
}

export function createRoundRobin(endpoints: readonly EndpointState[], opts: BalancerOptions = {}): Balancer {
  const first = endpoints.length > 0 ? weightOf(endpoints[0]) : 1;
  const equal = endpoints.every((ep) => weightOf(ep) === first);
  return equal
    ? new CursorRoundRobin(endpoints, opts.random ?? Math.random)
    : new SmoothWeightedRoundRobin(endpoints);
}
