import type { Balancer, EndpointState, PickContext } from '../types.ts';
import { weightOf } from './pool.ts';
import { WeightedSampler } from './weighted-sampler.ts';

/** A load figure for one endpoint; lower is better. Must not allocate. */
export type LoadOf = (ep: EndpointState) => number;

/**
 * Power of two choices: draw two distinct eligible endpoints by weight and
 * keep the one with the lower load per unit of weight. On a tie (typically an
 * idle set) the first draw wins, so idle traffic still follows the weights;
 * under load an endpoint of weight 2 is allowed twice the load of one of
 * weight 1 (Envoy's active/weight). Two draws avoid the herding of "always
 * the least loaded" while needing no scan of the set.
 */
export class PowerOfTwoChoices implements Balancer {
  readonly endpoints: readonly EndpointState[];
  readonly #sampler: WeightedSampler;
  readonly #load: LoadOf;

  constructor(endpoints: readonly EndpointState[], random: () => number, load: LoadOf) {
    this.endpoints = endpoints;
    this.#sampler = new WeightedSampler(endpoints, random);
    this.#load = load;
  }

  pick(ctx: PickContext): EndpointState | undefined {
    const sampler = this.#sampler;
    const a = sampler.draw(ctx.avoid, undefined);
    if (a === undefined) return undefined;
    const b = sampler.draw(ctx.avoid, a);
    if (b === undefined || b === a) return a;
    // load(b)/w(b) < load(a)/w(a), without dividing.
    return this.#load(b) * weightOf(a) < this.#load(a) * weightOf(b) ? b : a;
  }
}
